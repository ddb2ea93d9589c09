#!/bin/bash
# The cross-fitted pad-socofing candidate (ADR 0267, training/README.md): in each outer fold k, K=5
# networks of the recipe, network j validated on inner part j. Outer fold by outer fold, so that
# bench/pad_socofing_crossfit_cv.py can judge each finished fold early. Resumable: run it again.
#   MINUTES=100 nohup bash training/run_crossfit_cv.sh >> /work/xfit/run.log 2>&1 &
# Each network: about 7.5 minutes on this 2-core CPU; 25 in all.
set -u
cd "$(dirname "$0")/.."
K=5
W=${XFIT_WORK:-/work/xfit}
END=$(( $(date +%s) + ${MINUTES:-100} * 60 ))
mkdir -p "$W/cache"
for k in 0 1 2 3 4; do
  for j in $(seq 0 $((K - 1))); do
    [ -f "training/checkpoints/pad-socofing-cv-xfit-j$j/fold$k.json" ] && continue  # recorded already
    left=$(( (END - $(date +%s)) / 60 ))
    if [ "$left" -lt 2 ]; then echo "time is up before outer fold $k, network $j"; exit 0; fi
    mkdir -p "$W/j$j" && ln -sfn "$W/cache" "$W/j$j/cache"
    nice -n 5 .venv/bin/python training/train_pad_cv.py --work "$W/j$j" --epochs 14 --convs-per-block 2 \
      --alter-map 1.0 --inner-folds $K --inner-fold "$j" --only "$k" \
      --record "training/checkpoints/pad-socofing-cv-xfit-j$j" --results "bench/results/pad_socofing_cv_xfit_j$j.json" \
      --max-minutes "$left" --resume >> "$W/j$j/cv.log" 2>&1 || { echo "network $j of outer fold $k failed"; exit 1; }
  done
done
echo "all $((5 * K)) networks finished"
