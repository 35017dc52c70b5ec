#!/usr/bin/env bash
# Reproduce the trained SYNTHETIC brand detector (build/trained/synthetic-brand/) with one command:
#   train/train_synthetic.sh [ITERATIONS [more `creativelens train` flags, e.g. --resume]]
# R18-GN Faster R-CNN from scratch, batch 2, 320 px, CPU (on a shared machine wrap it in flock).
set -euo pipefail
ITERATIONS=${1:-300}
shift || true
DATA=${DATA:-build/datasets/synthetic-brand}
OUT=${OUT:-build/trained/synthetic-brand}
PY=${PY:-.venv/bin}
[ -f "$DATA/coco/train.json" ] || "$PY/creativelens" train dataset --out "$DATA" --seed 0
exec "$PY/creativelens" train --config faster_rcnn_R_50_FPN_1x --from-scratch \
  --train-json "$DATA/coco/train.json" --train-images "$DATA/images/train" \
  --val-json "$DATA/azure/val.json" --val-images "$DATA/images/val" \
  --out "$OUT" --iterations "$ITERATIONS" --ims-per-batch 2 \
  --set MODEL.RESNETS.DEPTH=18 --set MODEL.RESNETS.RES2_OUT_CHANNELS=64 \
  --set MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE=128 \
  --set SOLVER.BASE_LR=0.005 --set SOLVER.CLIP_GRADIENTS.ENABLED=True \
  --set SOLVER.CLIP_GRADIENTS.CLIP_TYPE=norm --set SOLVER.CLIP_GRADIENTS.CLIP_VALUE=10.0 "$@"
