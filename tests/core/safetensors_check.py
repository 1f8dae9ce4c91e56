#!/usr/bin/env python3
"""The independent side of Kiln's safetensors tests: Python's `safetensors` package.

  safetensors_check.py load FILE   loads FILE with safetensors.numpy and prints JSON:
                                   {"metadata": {...}, "tensors": {name: {dtype, shape, sha256}}}
  safetensors_check.py save FILE   writes tensors of several dtypes (and metadata) with
                                   safetensors.numpy, then prints the same JSON for them
"""
import hashlib
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

DTYPES = {np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("float16"): "F16",
          np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("int16"): "I16",
          np.dtype("int8"): "I8", np.dtype("uint8"): "U8", np.dtype("bool"): "BOOL"}


def describe(tensors, metadata):
    return {"metadata": metadata or {},
            "tensors": {name: {"dtype": DTYPES[a.dtype], "shape": list(a.shape),
                               "sha256": hashlib.sha256(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()}
                        for name, a in tensors.items()}}


def main():
    command, path = sys.argv[1], sys.argv[2]
    if command == "load":
        tensors = load_file(path)
        with safe_open(path, framework="numpy") as f:
            metadata = f.metadata()
        print(json.dumps(describe(tensors, metadata)))
    elif command == "save":
        rng = np.random.default_rng(3)
        tensors = {
            "layer.0.weight": rng.normal(size=(64, 17)).astype(np.float32),
            "layer.0.bias": rng.normal(size=(17,)).astype(np.float32),
            "embedding": rng.normal(size=(5, 3)).astype(np.float16),
            "step": np.array([12345678901], dtype=np.int64),
            "counts": rng.integers(-1000, 1000, size=(2, 3, 4)).astype(np.int32),
            "mask": rng.random(9) < 0.5,
            "bytes": rng.integers(0, 256, size=7).astype(np.uint8),
            "double": rng.normal(size=(3,)),
            "empty": np.zeros((0, 4), dtype=np.float32),
        }
        metadata = {"format": "pt", "kiln": "test"}
        save_file(tensors, path, metadata=metadata)
        print(json.dumps(describe(tensors, metadata)))


if __name__ == "__main__":
    main()
