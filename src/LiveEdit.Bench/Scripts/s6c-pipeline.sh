#!/usr/bin/env bash
# editor on the 30 % perception base in its own frames (runs/base-s6c/model).
set -e
cd "$(git rev-parse --show-toplevel)"
C="${LIVEEDIT:-./liveedit}"
B=runs/base-s6c/model
while [ ! -f $B/training-report.json ]; do sleep 20; done
date -u
python3 -c "
import json,sys
r=json.load(open('$B/training-report.json'))['scores']
print(r)
sys.exit(0 if r['ImageExactMatch']>=0.95 and r['ParaphraseExactMatch']>=0.93 and r['TextExactMatch']>=0.95 else 1)
" || { echo "base misses the targets"; exit 1; }
( set -e
  $C bench make --cases 1000 --seed 0 --out runs/stream-1000-s6c > runs/s6c-side.log 2>&1
  /usr/bin/time -f "baselines wall %e s" $C bench baselines --base $B --stream runs/stream-1000-s6c --methods ft-l,lora,grace --checkpoints 1,10,100,1000 --max-eval 300 --out runs/baselines-1000-s6c >> runs/s6c-side.log 2>&1
  date -u >> runs/s6c-side.log
  $C eval identity --base $B --split EditorEval --train-renders 160 --test-renders 10 --out runs/identity-s6c-eval > runs/identity-s6c-eval.log 2>&1; date -u >> runs/identity-s6c-eval.log ) &
/usr/bin/time -f "editor wall %e s, max rss %M KB" $C train editor --base $B --out runs/editor-s6c --seed 1 --steps 20000 --threads 1 --cases 32000 --lr 3e-3 --lora-scale 1 --extra-negatives 128 --recall-loss --checkpoint-every 1000 --state runs/editor-s6c-state > runs/editor-s6c.log 2>&1
date -u
$C train refinement --editor runs/editor-s6c --steps 20 --lr 0.01 --stop 0.001
/usr/bin/time -f "eval wall %e s" $C eval editor --base $B --editor runs/editor-s6c --cases 10000 --checkpoints 1,10,100,1000,10000 --chunks 1,10,100,1000 --max-eval 500 --latency 0,1000,10000 --threads 1 --out runs/editor-s6c-eval > runs/editor-s6c-eval.log 2>&1
date -u
echo pipeline done
