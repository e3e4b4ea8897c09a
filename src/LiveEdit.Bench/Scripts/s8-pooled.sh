#!/usr/bin/env bash
# Eighth session, third protocol: lifelong@1000 (500 cases) on several streams of the evaluation split for one editor
# and filter calibration; the pooled figures come from s8-pool.py.
# usage: s8-pooled.sh EDITOR TAG MARGIN BAND SEEDS...   (writes runs/s8/pool/TAG/mMARGIN-bBAND/sSEED)
set -e
cd "$(git rev-parse --show-toplevel)"
C="${LIVEEDIT:-./liveedit}"
E=$1; T=$2; M=$3; B=$4; shift 4
for s in "$@"; do
  o=runs/s8/pool/$T/m$M-b$B/s$s
  mkdir -p "$(dirname $o)"
  [ -f $o/editor-eval.json ] || $C eval editor --editor $E --cases 1000 --seed $s --checkpoints 1000 --chunks "" --latency "" --max-eval 500 --threads 1 --no-exact-match --split EditorEval --filter-margin $M --filter-band $B --out $o > $o.log 2>&1
done
