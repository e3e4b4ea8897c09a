#!/usr/bin/env bash
# refinement on a copy of runs/s10/TAG, the median hubness offset on the --seed 3 stream, then the
# protocol's validation grid (pooled streams 0-3) on the new base. usage: s10-grid.sh TAG [which: all|l0|l05]
set -e
cd "$(git rev-parse --show-toplevel)"
C="${LIVEEDIT:-./liveedit}"
T=$1; W=${2:-all}; R=runs/s10; B=$R/base/model
while [ ! -f $R/$T/editor.weights ]; do sleep 15; done
if [ ! -f $R/${T}r/editor.weights ]; then
  cp -r $R/$T $R/${T}r.tmp && $C train refinement --editor $R/${T}r.tmp --steps 20 --lr 0.01 --stop 0.001 && mv $R/${T}r.tmp $R/${T}r
fi
if [ "$W" != "l05" ]; then BASE=$B RUNS=$R src/LiveEdit.Bench/Scripts/pooled-grid.sh $R/${T}r val-$T 0,1,2,3 "0 0.25;0 0.5;0 0.75"; fi
if [ "$W" != "l0" ]; then
  $C eval editor --base $B --editor $R/${T}r --seed 3 --cases 1000 --checkpoints 1000 --chunks "" --latency "" --max-eval 500 \
    --threads 1 --no-exact-match --split EditorEval --filter-band 2 --filter-margin 0 --filter-bank 1024 --hubness-top 8 \
    --hubness-weight 0.5 --out $R/o-$T > $R/o-$T.log 2>&1
  med=$(tr -d '\n' < $R/o-$T.log | grep -o 'median *-\?[0-9.]*' | head -1 | grep -o -- '-\?[0-9.]*$')
  m0=$(python3 -c "print(round(0.5+0.5*$med,2))")
  echo "$T median o_e $med, m0 $m0"
  g=$(python3 -c "print(';'.join(f'0.5 {round($m0+d,2)}' for d in (-0.25,0,0.25)))")
  BASE=$B RUNS=$R src/LiveEdit.Bench/Scripts/pooled-grid.sh $R/${T}r val-$T 0,1,2,3 "$g"
fi
