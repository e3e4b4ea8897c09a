#!/usr/bin/env bash
# the extended calibration grid for runs/s10/TAGr (after s10-grid.sh TAG).
# usage: s10-ext.sh TAG [part: a|b|all]   (a: band 2 and band 3; b: bands 4 and 0; lets two cores share it)
set -e
cd "$(git rev-parse --show-toplevel)"
T=$1; P=${2:-all}; R=runs/s10
m0=$(grep -o "m0 -\?[0-9.]*" $R/grid-$T.log | head -1 | cut -d' ' -f2)
[ -n "$m0" ] || { echo "no m0 in $R/grid-$T.log yet (run s10-grid.sh $T first)" >&2; exit 1; }
r() { python3 -c "print(round($m0+$1,2))"; }
a="0 1.25;0 1.75;0.5 $(r 0.75);0.5 $(r 1.25)"
for b in 3; do a="$a;0 0.25 $b;0 0.75 $b;0.5 $m0 $b;0.5 $(r 0.5) $b"; done
bb=""
for b in 4 0; do bb="$bb;0 0.25 $b;0 0.75 $b;0.5 $m0 $b;0.5 $(r 0.5) $b"; done
bb=${bb#;}
if [ "$P" != "b" ]; then BASE=$R/base/model RUNS=$R src/LiveEdit.Bench/Scripts/pooled-grid.sh $R/${T}r val-$T 0,1,2,3 "$a"; fi
if [ "$P" != "a" ]; then BASE=$R/base/model RUNS=$R src/LiveEdit.Bench/Scripts/pooled-grid.sh $R/${T}r val-$T 0,1,2,3 "$bb"; fi
