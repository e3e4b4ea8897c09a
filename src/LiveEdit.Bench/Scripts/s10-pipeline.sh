#!/usr/bin/env bash
# the base with 20,000 vision-pretraining steps, then the committed editor's recipe on it
# (first training, then two keys-only look-pair passes, seeds 1 and 2). Writes runs/s10/.
set -e
cd "$(git rev-parse --show-toplevel)"
C="${LIVEEDIT:-./liveedit}"
R=runs/s10
B=$R/base/model
mkdir -p $R
T="/usr/bin/time -f"
date -u
if [ ! -f $B/training-report.json ]; then
  $T "base wall %e s, max rss %M KB" $C train vlm --seed 1 --steps 8000 --threads 1 --perception-share 0.3 --vision-steps 20000 \
    --out $B --state $R/base/state > $R/base.log 2>&1
fi
date -u
python3 -c "
import json,sys
r=json.load(open('$B/training-report.json'))['scores']
print(r)
sys.exit(0 if r['ImageExactMatch']>=0.95 and r['ParaphraseExactMatch']>=0.93 and r['TextExactMatch']>=0.95 else 1)
" || { echo "base misses the targets"; exit 1; }
$T "editor wall %e s, max rss %M KB" $C train editor --base $B --out $R/E1 --seed 1 --steps 20000 --threads 1 --cases 32000 \
  --lr 3e-3 --lora-scale 1 --extra-negatives 128 --recall-loss --checkpoint-every 1000 --state $R/E1-state > $R/E1.log 2>&1
date -u
prev=$R/E1
for s in 1 2; do
  $T "keys-only wall %e s, max rss %M KB" $C train editor --base $B --init $prev --keys-only --seed $s --cases 32000 --steps 6000 \
    --threads 1 --lr 1e-3 --recall-loss --look-pairs 128 --look-siblings --extra-negatives 0 --out $R/K$s --state $R/K$s-state \
    --checkpoint-every 500 > $R/K$s.log 2>&1
  date -u
  prev=$R/K$s
done
echo pipeline done
