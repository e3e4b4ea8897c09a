#!/usr/bin/env bash
# hard-filter margin sweep (our extension) on an editor, lifelong@1000, editor-training split.
# usage: runs/margin-sweep.sh BASE EDITOR TAG SPLIT margins...
set -e
cd "$(git rev-parse --show-toplevel)"
C="${LIVEEDIT:-./liveedit}"
B=$1; E=$2; T=$3; S=$4; shift 4
for m in "$@"; do
  /usr/bin/time -f "margin $m wall %e s" $C eval editor --base $B --editor $E --cases 1000 --seed 0 --checkpoints 1000 --chunks "" --latency "" --max-eval ${MAXEVAL:-300} --threads 1 --no-exact-match --split $S --filter-margin $m --out runs/margin-$T-$S/$m > runs/margin-$T-$S-$m.log 2>&1
  python3 -c "
import json
m=json.load(open('runs/margin-$T-$S/$m/editor-eval.json'))['metrics'][0]
print('$m', {k:round(m[k],2) for k in ['Rel','TGen','MGen','TLoc','MLoc','FilterPrecision','RecallMGen','MeanSurvivors','MGenWhenFired']})"
done
