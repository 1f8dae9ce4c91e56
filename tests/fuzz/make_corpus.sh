#!/usr/bin/env bash
# Regenerates the fuzz seed corpus (checked in under tests/fuzz/corpus/): small valid shards
# of each storage Kiln reads. Needs a built kiln (cpu preset) and the venv's h5py. Inputs
# that fuzzing found and that are kept as regression seeds are not made here, and stay:
# matrix_4e12_columns.h5 (an h5py matrix declaring 4.4e12 columns: an out-of-memory before
# the width limit and the written-chunks check).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
kiln="$root/build/cpu/trainer/kiln"
out="$root/tests/fuzz/corpus"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
"$kiln" data synth --out "$tmp/plain" --rows 300 --shards 1 --chunk-rows 32 >/dev/null
"$kiln" data synth --out "$tmp/gzip" --rows 300 --shards 1 --chunk-rows 32 --gzip 4 --shuffle-filter >/dev/null
"$kiln" data synth --out "$tmp/fletcher" --rows 300 --shards 1 --chunk-rows 32 --fletcher32 --preset credit >/dev/null
cp "$tmp/plain/oot/part-00000.h5" "$out/kiln_plain.h5"
cp "$tmp/gzip/oot/part-00000.h5" "$out/kiln_gzip_shuffle.h5"
cp "$tmp/fletcher/oot/part-00000.h5" "$out/kiln_fletcher32.h5"
"$root/.venv/bin/python" - "$out/h5py_matrix.h5" <<'PY'
import sys, h5py, numpy as np
rng = np.random.default_rng(1)
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("X", data=rng.normal(size=(40, 3)).astype(np.float32), chunks=(8, 3),
                     compression="gzip", shuffle=True)
    f.create_dataset("y", data=(rng.random(40) < 0.5).astype(np.float32))
PY
ls -l "$out"
