#!/usr/bin/env bash
# a keys-only editor with the committed refinement and margin, lifelong@1000 on both splits.
set -e
cd "$(git rev-parse --show-toplevel)"
C="${LIVEEDIT:-./liveedit}"
E=$1
while [ ! -f $E/editor.json ]; do sleep 10; done
$C train refinement --editor $E --steps 20 --lr 0.01 --stop 0.001 > /dev/null
$C train filter-margin --editor $E --margin ${MARGIN:-0.25} > /dev/null
for S in EditorEval EditorTrain; do
  $C eval editor --editor $E --cases 1000 --seed 0 --checkpoints 1000 --chunks "" --latency "" --max-eval 500 --threads 1 --no-exact-match --split $S --out $E-eval-$S > $E-eval-$S.log 2>&1
  python3 -c "
import json
m=json.load(open('$E-eval-$S/editor-eval.json'))['metrics'][0]
print('$E $S', {k:round(m[k],2) for k in ['Rel','TGen','MGen','TLoc','MLoc','FilterPrecision','RecallMGen','MeanSurvivors','MGenWhenFired','MLocLostOtherEntity','MLocWithOtherEntity']})"
done
