#!/usr/bin/env bash
# keys-only look-pair fine-tunes, 6,000 steps from an editor (INIT, default the committed one).
# usage: [INIT=folder] [SEED=n] [RUNS=runs/s8] s8-train.sh TAG [extra train editor switches]   (writes $RUNS/TAG)
cd "$(git rev-parse --show-toplevel)"
C="${LIVEEDIT:-./liveedit}"
R="${RUNS:-runs/s8}"
mkdir -p $R
tag=$1; shift
/usr/bin/time -f "wall %e s, max rss %M KB" $C train editor --init ${INIT:-models/liveedit-editor} --keys-only --seed ${SEED:-1} --cases 32000 --steps 6000 --threads 1 --lr 1e-3 --recall-loss --look-pairs 128 --look-siblings "$@" --out $R/$tag --state $R/$tag-state --checkpoint-every 500 > $R/$tag.log 2>&1
