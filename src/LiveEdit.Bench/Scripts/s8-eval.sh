#!/usr/bin/env bash
# refinement, training-split margin rule (0 / 0.25 / 0.5, 300 cases), then the validation stream
# (evaluation split, --seed 3, 500 cases) with the chosen margin.
# usage: s8-eval.sh TAG   (waits for runs/s8/TAG/editor.json)
set -e
cd "$(git rev-parse --show-toplevel)"
C="${LIVEEDIT:-./liveedit}"
E=runs/s8/$1
while [ ! -f $E/editor.json ]; do sleep 20; done
$C train refinement --editor $E --steps 20 --lr 0.01 --stop 0.001 > $E-refine.log 2>&1
best=0; base=""
for m in 0 0.25 0.5; do
  $C eval editor --editor $E --cases 1000 --seed 0 --checkpoints 1000 --chunks "" --latency "" --max-eval 300 --threads 1 --no-exact-match --split EditorTrain --filter-margin $m --out $E-margin/$m > $E-margin-$m.log 2>&1
  mloc=$(python3 -c "import json;print(json.load(open('$E-margin/$m/editor-eval.json'))['metrics'][0]['MLoc'])")
  echo "margin $m train M-Loc $mloc"
  if [ -z "$base" ]; then base=$mloc; fi
  if python3 -c "import sys;sys.exit(0 if $mloc >= $base - 1e-9 else 1)"; then best=$m; else break; fi
done
echo "chosen margin $best"
$C train filter-margin --editor $E --margin $best > /dev/null
for s in 3; do
  $C eval editor --editor $E --cases 1000 --seed $s --checkpoints 1000 --chunks "" --latency "" --max-eval 500 --threads 1 --no-exact-match --split EditorEval --out $E-eval-s$s > $E-eval-s$s.log 2>&1
  python3 -c "
import json
m=json.load(open('$E-eval-s$s/editor-eval.json'))['metrics'][0]
print('$E seed $s', {k:round(m[k],2) for k in ['Rel','TGen','MGen','TLoc','MLoc','FilterPrecision','RecallMGen','MeanSurvivors','MGenWhenFired','MLocLostOtherEntity','MLocWithOtherEntity']})"
done
