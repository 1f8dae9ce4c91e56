#!/usr/bin/env python3
"""Independent reference for Kiln's HDF5 reading and writing, using h5py and numpy.

  h5py_crosscheck.py read-kiln DATASET_DIR
      Reads a Kiln dataset (dataset.json + shards) with h5py and prints, as JSON, the
      SHA-256 of each column's values over all shards in order, as little-endian bytes of
      the column's in-memory type (float32, int32 codes, int64 ids/times).

  h5py_crosscheck.py write-matrix OUT_DIR
      Writes h5py-style matrix files (X: rows x features, y: labels) in several storages
      (chunked, gzip + shuffle, Fletcher32, contiguous; float32 and float64) and
      OUT_DIR/expected.json with, per file, the SHA-256 of each feature column and of the
      label as float32, plus the feature names.
"""
import hashlib
import json
import os
import sys

import h5py
import numpy as np

MEM_TYPES = {"numeric": "<f4", "label": "<f4", "weight": "<f4", "categorical": "<i4",
             "id": "<i8", "time": "<i8"}


def digest(array, dtype):
    return hashlib.sha256(np.ascontiguousarray(array, dtype=dtype).tobytes()).hexdigest()


def read_kiln(directory):
    with open(os.path.join(directory, "dataset.json")) as f:
        manifest = json.load(f)
    out = {}
    for column in manifest["columns"]:
        parts = []
        for shard in manifest["shards"]:
            with h5py.File(os.path.join(directory, shard["path"]), "r") as h:
                assert h.attrs["kiln_format"] in ("kiln.shard", b"kiln.shard")
                assert int(h.attrs["kiln_format_version"]) == 1
                dataset = h["columns"][column["name"]]
                assert dataset.attrs["role"] in (column["role"], column["role"].encode())
                parts.append(dataset[...])
        out[column["name"]] = digest(np.concatenate(parts), MEM_TYPES[column["role"]])
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


def write_matrix(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(20261126)
    rows, width = 5003, 7
    x = rng.lognormal(0.0, 2.0, size=(rows, width)) * rng.choice([-1.0, 1.0], size=(rows, width))
    x[rng.random((rows, width)) < 0.05] = np.nan
    y = (rng.random(rows) < 0.1).astype(np.float64)
    variants = {
        "chunked_f32.h5": dict(dtype=np.float32, chunks=(512, width)),
        "gzip_shuffle_f32.h5": dict(dtype=np.float32, chunks=(1000, 3), compression="gzip",
                                    compression_opts=5, shuffle=True),
        "fletcher_gzip_f64.h5": dict(dtype=np.float64, chunks=(700, width), compression="gzip",
                                     fletcher32=True),
        "contiguous_f64.h5": dict(dtype=np.float64),
    }
    expected = {}
    for name, options in variants.items():
        dtype = options.pop("dtype")
        values = x.astype(dtype)
        with h5py.File(os.path.join(out_dir, name), "w") as f:
            f.create_dataset("X", data=values, **options)
            f.create_dataset("y", data=y.astype(dtype))
            if name == "chunked_f32.h5":
                f["X"].attrs["feature_names"] = [f"feat_{i}" for i in range(width)]
        names = [f"feat_{i}" for i in range(width)] if name == "chunked_f32.h5" else \
            [f"f{i}" for i in range(width)]
        # Kiln reads every feature as float32: float64 values are rounded once, as numpy does.
        expected[name] = {
            "rows": rows,
            "names": names,
            "columns": [digest(values[:, i].astype(np.float32), "<f4") for i in range(width)],
            "label": digest(y.astype(dtype).astype(np.float32), "<f4"),
        }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("read-kiln", "write-matrix"):
        sys.exit(__doc__)
    (read_kiln if sys.argv[1] == "read-kiln" else write_matrix)(sys.argv[2])
