#!/usr/bin/env bash
# The 1,000-edit report with the models in models/ (LiveEdit through the ledger, its two ablations, the baselines).
# usage: report.sh TAG   (LiveEdit's outputs in runs/bench-run-1000-TAG and runs/le-1000-TAG; the stream in
# runs/stream-1000-s6c, the baselines in runs/baselines-1000-<first 8 hex of the base's weights SHA-256>, made once per base)
# TAG names the run folders.
set -e
cd "$(git rev-parse --show-toplevel)"
eval "$(infra/services env)"
C="${LIVEEDIT:-./liveedit}"
T=${1:?usage: report.sh TAG}
BL=runs/baselines-1000-$(sha256sum models/tinyvlm/weights.bin | cut -c1-8)
date -u
[ -d runs/stream-1000-s6c ] || $C bench make --cases 1000 --seed 0 --out runs/stream-1000-s6c
[ -f $BL/grace/metrics.json ] || /usr/bin/time -f "baselines wall %e s" $C bench baselines --stream runs/stream-1000-s6c --methods ft-l,lora,grace --checkpoints 1,10,100,1000 --max-eval 300 --out $BL
/usr/bin/time -f "bench run wall %e s" $C bench run --stream runs/stream-1000-s6c --checkpoints 1,10,100,1000 --chunks 1,10,100,1000 --max-eval 300 --out runs/bench-run-1000-$T
for v in no-hard-filter no-soft-routing; do
  /usr/bin/time -f "$v wall %e s" $C eval editor --cases 1000 --seed 0 --checkpoints 1,10,100,1000 --chunks "" --latency "" --max-eval 300 --threads 1 --$v --out runs/le-1000-$T/$v
done
$C bench report --inputs "LiveEdit (ledger)=runs/bench-run-1000-$T/metrics.json,without hard filter=runs/le-1000-$T/no-hard-filter/editor-eval.json,without soft routing=runs/le-1000-$T/no-soft-routing/editor-eval.json,FT-L=$BL/ft-l/metrics.json,LoRA=$BL/lora/metrics.json,GRACE=$BL/grace/metrics.json" --out src/LiveEdit.Bench/Reports/synthworld-1000
date -u
