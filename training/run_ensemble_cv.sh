#!/bin/bash
# The two members of the pad-socofing ensemble candidate (training/README.md), one after the other;
# --resume: run it again to continue. Log: /work/padcv_map/cv.log, /work/padcv_map_s1/cv.log.
set -u
mkdir -p /work/padcv_map /work/padcv_map_s1
cd "$(dirname "$0")/.."
nice -n 5 .venv/bin/python training/train_pad_cv.py --work /work/padcv_map \
  --epochs 14 --convs-per-block 2 --alter-map 1.0 --record training/checkpoints/pad-socofing-cv-map-fix \
  --results bench/results/pad_socofing_cv_map_fix.json --max-minutes 110 --resume >> /work/padcv_map/cv.log 2>&1
nice -n 5 .venv/bin/python training/train_pad_cv.py --work /work/padcv_map_s1 --model-seed 1 \
  --epochs 14 --convs-per-block 2 --alter-map 1.0 --record training/checkpoints/pad-socofing-cv-map-s1-rerun \
  --results bench/results/pad_socofing_cv_map_s1_rerun.json --max-minutes 110 --resume >> /work/padcv_map_s1/cv.log 2>&1
