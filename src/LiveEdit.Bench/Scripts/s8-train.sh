#!/usr/bin/env bash
# Eighth session: two pre-declared keys-only candidates, 6,000 steps from the committed editor.
# usage: s8-train.sh TAG [extra train editor switches]   (writes runs/s8/TAG)
cd "$(git rev-parse --show-toplevel)"
C="${LIVEEDIT:-./liveedit}"
mkdir -p runs/s8
tag=$1; shift
/usr/bin/time -f "wall %e s, max rss %M KB" $C train editor --init ${INIT:-models/liveedit-editor} --keys-only --seed 1 --cases 32000 --steps 6000 --threads 1 --lr 1e-3 --recall-loss --look-pairs 128 --look-siblings "$@" --out runs/s8/$tag --state runs/s8/$tag-state --checkpoint-every 500 > runs/s8/$tag.log 2>&1
