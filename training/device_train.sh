#!/usr/bin/env bash
# Train on a lent GPU machine (the `device` tool): restoration U-Net within about 10 minutes, with
# checkpoints, the run record and the log under $OUT. Prepare here first (wheels + data pack):
#     bash training/device_prepare.sh
# then, from the device tool, with carry ["training/device"] and timeout_s 600:
#     bash training/device_train.sh
# Test it here on the CPU with a tiny pack (KERAS_BACKEND=jax needs jax in $PYTHON's environment):
#     bash training/device_prepare.sh --tiny && PYTHON=/path/to/python bash training/device_train.sh --cpu --tiny
# Environment: OUT (default /tmp/device_out), MINUTES (fit budget, default 7), KERAS_BACKEND (default
# jax), PYTHON (default python3), PACK (default training/device/pack, or pack-tiny with --tiny),
# TRAIN_ARGS (more options for device_train.py, e.g. "--recipe mixed --identity 0.1 --base 24").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/device_out}
MINUTES=${MINUTES:-7}
PACK=${PACK:-training/device/pack}
EXTRA=()
for a in "$@"; do
  case "$a" in
    --cpu) export JAX_PLATFORMS=cpu CUDA_VISIBLE_DEVICES="" ;;
    --tiny) PACK=${PACK/%pack/pack-tiny}; MINUTES=0.2
            EXTRA+=(--rounds 1 --workers 2 --steps-per-epoch 3 --batch-size 8 --checkpoint-minutes 0.05) ;;
    *) echo "unknown option $a (use --cpu, --tiny)" >&2; exit 2 ;;
  esac
done
export KERAS_BACKEND=${KERAS_BACKEND:-jax}
mkdir -p "$OUT"
LOG="$OUT/device_train.log"
{
  echo "device_train.sh $(date -u +%FT%TZ) backend=$KERAS_BACKEND pack=$PACK minutes=$MINUTES"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
  if ! "$PY" -c "import keras" 2>/dev/null; then
    echo "installing Keras from the carried wheels (training/device/wheels)"
    "$PY" -m pip install -q --no-index --find-links training/device/wheels keras
  fi
  "$PY" -c "import keras; print('keras', keras.__version__, keras.backend.backend())"
  if [ ! -f "$PACK/sources.json" ]; then
    echo "no data pack at $PACK: run 'bash training/device_prepare.sh' here and carry training/device" >&2
    exit 2
  fi
  # the fit stops itself after MINUTES; the outer timeout only guards against a hang
  # shellcheck disable=SC2086
  timeout $(( ${MINUTES%.*} * 60 + 240 )) "$PY" training/device_train.py --pack "$PACK" --out "$OUT" \
    --minutes "$MINUTES" "${EXTRA[@]}" ${TRAIN_ARGS:-}
} 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
