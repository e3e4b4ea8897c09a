#!/usr/bin/env bash
# lifelong@1000 pooled over several streams (eval editor --seeds) for a grid of filter calibrations.
# usage: [BASE=folder] [RUNS=runs/s9] pooled-grid.sh EDITOR PREFIX SEEDS "λ m [band];λ m [band];..."
#        (band 2 unless given, K 8, bank 1024; writes $RUNS/PREFIX-lλ-mm, or PREFIX-lλ-mm-bB for another band;
#        BASE defaults to models/tinyvlm)
# e.g.   pooled-grid.sh runs/s9/C val-C 0,1,2,3 "0 0.5;0.5 -0.92"   (validation; the test used 11,12,13,14,15)
set -e
cd "$(git rev-parse --show-toplevel)"
C="${LIVEEDIT:-./liveedit}"
E=$1; P=$2; S=$3; IFS=';' read -ra cfgs <<< "$4"
R="${RUNS:-runs/s9}"
mkdir -p $R
for cfg in "${cfgs[@]}"; do
  set -- $cfg; l=$1; m=$2; b=${3:-2}; o=$R/$P-l$l-m$m; [ "$b" = "2" ] || o=$o-b$b
  if [ "$l" = "0" ]; then extra=""; else extra="--filter-bank 1024 --hubness-top 8 --hubness-weight $l"; fi
  $C eval editor --base ${BASE:-models/tinyvlm} --editor $E --cases 1000 --seeds $S --checkpoints 1000 --chunks "" --latency "" --max-eval 500 --threads 1 \
    --no-exact-match --split EditorEval --filter-band $b --filter-margin $m $extra --out $o > $o.log 2>&1
  python3 -c "
import json
m=json.load(open('$o/editor-eval.json'))['metrics'][0]
T={'Rel':95,'TGen':90,'MGen':88,'TLoc':100,'MLoc':96}
met=sum(m[k]>=v for k,v in T.items())
print('$o', ' / '.join(f'{m[k]:.2f}' for k in T), f'met {met} mean {sum(m[k] for k in T)/5:.2f} P {m[\"FilterPrecision\"]:.1f} R other {m[\"RecallMGen\"]:.1f}')"
done
