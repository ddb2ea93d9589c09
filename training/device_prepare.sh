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
  # the device tool carries 64 MiB in all: the tracked working tree travels too, so the pack gets
  # what is left after it and the wheels (1.5 MB spare); carry training/device/pack and
  # training/device/wheels, not the whole folder (pack-tiny would count as well)
  tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
  wheels=$(du -sb training/device/wheels | cut -f1)
  max_mb=$("$PY" -c "print(round((64 * 2**20 - $tree - $wheels) / 1e6 - 1.5, 1))")
  echo "working tree $((tree / 1000000)) MB, wheels $((wheels / 1000000)) MB: pack at most $max_mb MB"
  rm -rf training/device/pack
  "$PY" training/device_pack.py --out training/device/pack --holdout-dbs $HOLDOUT --max-mb "$max_mb"
fi
du -sh training/device
