#!/usr/bin/env bash
# Prepare, on this machine, what training/device_train.sh needs on a lent GPU machine, which
# reaches neither PyPI nor ../shared/data: Keras 3 wheels for its Python 3.12 (keras, namex,
# optree; its image has h5py, rich, absl-py, ml-dtypes, jax) and the restoration data pack,
# all under training/device/ (git-ignored; the device tool carries at most 64 MiB).
#     bash training/device_prepare.sh           # the v3 self-check pack (2 FVC scanners held out)
#     bash training/device_prepare.sh --tiny    # a tiny pack (pack-tiny) to test the device script
#     HOLDOUT="" bash training/device_prepare.sh   # every scanner (the shipped model's data)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
HOLDOUT=${HOLDOUT-fvc2002-db3b fvc2004-db2b}
mkdir -p training/device/wheels
if ! ls training/device/wheels/keras-*.whl >/dev/null 2>&1; then
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    -d training/device/wheels "keras>=3.6,<4" namex optree
fi
if [ "${1:-}" = "--tiny" ]; then
  "$PY" training/device_pack.py --tiny --out training/device/pack-tiny --holdout-dbs $HOLDOUT
else
  "$PY" training/device_pack.py --out training/device/pack --holdout-dbs $HOLDOUT
fi
du -sh training/device
