#!/usr/bin/env bash
# Eighth session: the 1,000-edit report with the look-pair editor (models/ already replaced); the baselines of the seventh session are reused (same base, same stream).
set -e
cd "$(git rev-parse --show-toplevel)"
eval "$(infra/services env)"
C="${LIVEEDIT:-./liveedit}"
date -u
[ -d runs/stream-1000-s6c ] || $C bench make --cases 1000 --seed 0 --out runs/stream-1000-s6c
[ -f runs/baselines-1000-s6c/grace/metrics.json ] || /usr/bin/time -f "baselines wall %e s" $C bench baselines --stream runs/stream-1000-s6c --methods ft-l,lora,grace --checkpoints 1,10,100,1000 --max-eval 300 --out runs/baselines-1000-s6c
/usr/bin/time -f "bench run wall %e s" $C bench run --stream runs/stream-1000-s6c --checkpoints 1,10,100,1000 --chunks 1,10,100,1000 --max-eval 300 --out runs/bench-run-1000-s8
for v in no-hard-filter no-soft-routing; do
  /usr/bin/time -f "$v wall %e s" $C eval editor --cases 1000 --seed 0 --checkpoints 1,10,100,1000 --chunks "" --latency "" --max-eval 300 --threads 1 --$v --out runs/le-1000-s8/$v
done
$C bench report --inputs "LiveEdit (ledger)=runs/bench-run-1000-s8/metrics.json,without hard filter=runs/le-1000-s8/no-hard-filter/editor-eval.json,without soft routing=runs/le-1000-s8/no-soft-routing/editor-eval.json,FT-L=runs/baselines-1000-s6c/ft-l/metrics.json,LoRA=runs/baselines-1000-s6c/lora/metrics.json,GRACE=runs/baselines-1000-s6c/grace/metrics.json" --out src/LiveEdit.Bench/Reports/synthworld-1000
date -u
