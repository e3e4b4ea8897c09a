#!/usr/bin/env bash
# put the new base (runs/s10/base/model) and a chosen editor into models/, with
# its calibration. usage: s10-swap.sh EDITOR_FOLDER LAMBDA MARGIN BAND
set -e
cd "$(git rev-parse --show-toplevel)"
C="${LIVEEDIT:-./liveedit}"
E=${1:?editor folder}; L=${2:?lambda}; M=${3:?margin}; BAND=${4:?band}
for f in checkpoint.json config.json tokenizer.json training-report.json weights.bin; do cp runs/s10/base/model/$f models/tinyvlm/$f; done
rm -f models/liveedit-editor/editor.json models/liveedit-editor/editor.weights models/liveedit-editor/filter-bank.bin models/liveedit-editor/eval-report.json
cp $E/editor.json $E/editor.weights models/liveedit-editor/
$C train refinement --editor models/liveedit-editor --steps 20 --lr 0.01 --stop 0.001
$C train filter-margin --editor models/liveedit-editor --margin $M --band $BAND
$C train hubness --editor models/liveedit-editor --weight $L --top 8
sha256sum models/tinyvlm/* models/liveedit-editor/*
