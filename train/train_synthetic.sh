#!/usr/bin/env bash
# Reproduce the SYNTHETIC detectors the benchmarks use, one command each (CPU; on a shared machine wrap it in flock):
#   train/train_synthetic.sh base     [ITERATIONS [flags]]  -> build/trained/synthetic-base/   (10 base classes, from scratch)
#   train/train_synthetic.sh scratch  [ITERATIONS [flags]]  -> build/trained/synthetic-brand-scratch/ (brand, from scratch)
#   train/train_synthetic.sh finetune [ITERATIONS [flags]]  -> build/trained/synthetic-brand/   (brand, from the base)
# R18 Faster R-CNN with the scratch recipe (creativelens.train.recipe), batch 4, 320 px. Extra flags go to
# `creativelens train` (--resume, --grid KEY=v1,v2, --freeze trunk, --set KEY=VALUE ...).
set -euo pipefail
MODE=${1:?usage: train/train_synthetic.sh base|scratch|finetune [ITERATIONS [flags]]}
shift
ITERATIONS=${1:-800}
shift || true
PY=${PY:-.venv/bin}
BASE_DATA=${BASE_DATA:-build/datasets/synthetic-base}
BRAND_DATA=${BRAND_DATA:-build/datasets/synthetic-brand}
BASE=${BASE:-build/trained/synthetic-base}
R18=(--set MODEL.RESNETS.DEPTH=18 --set MODEL.RESNETS.RES2_OUT_CHANNELS=64)
case "$MODE" in
  base) DATA=$BASE_DATA; OUT=${OUT:-$BASE}
        START=(--config faster_rcnn_R_50_FPN_1x --from-scratch "${R18[@]}")
        [ -f "$DATA/coco/train.json" ] || "$PY/creativelens" train dataset --marks base --out "$DATA" --seed 0 ;;
  scratch) DATA=$BRAND_DATA; OUT=${OUT:-build/trained/synthetic-brand-scratch}
        START=(--config faster_rcnn_R_50_FPN_1x --from-scratch "${R18[@]}") ;;
  finetune) DATA=$BRAND_DATA; OUT=${OUT:-build/trained/synthetic-brand}
        [ -f "$BASE/model_final.pth" ] || { echo "no base at $BASE: run train/train_synthetic.sh base first" >&2; exit 2; }
        START=(--config "$BASE/config.yaml" --weights "$BASE/model_final.pth") ;;
  *) echo "usage: train/train_synthetic.sh base|scratch|finetune [ITERATIONS [flags]]" >&2; exit 2 ;;
esac
[ -f "$BRAND_DATA/coco/train.json" ] || "$PY/creativelens" train dataset --out "$BRAND_DATA" --seed 0
exec "$PY/creativelens" train "${START[@]}" \
  --train-json "$DATA/coco/train.json" --train-images "$DATA/images/train" \
  --val-json "$DATA/azure/val.json" --val-images "$DATA/images/val" \
  --out "$OUT" --iterations "$ITERATIONS" --ims-per-batch 4 "$@"
