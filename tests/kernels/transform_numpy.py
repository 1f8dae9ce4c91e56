#!/usr/bin/env python3
"""An independent numpy implementation of Kiln's feature transforms (docs/TRANSFORMS.md):
applies a fitted plan (transform.json) to a dataset's columns. Used as the golden reference
for `kiln data transform` and as the numpy peer of the CPU benchmark.

  transform_numpy.py check --data DATASET_DIR --plan transform.json --kiln OUT.h5
      Reads the dataset with h5py, applies the plan with numpy, and compares with the file
      `kiln data transform` wrote: floats bit for bit, indices exactly. Prints a JSON
      summary; exits 1 on any difference.
"""
import argparse
import json
import os
import sys

import numpy as np

f32 = np.float32


def read_dataset(directory, names=None):
    """Columns of a Kiln dataset (dataset.json + shards) as numpy arrays, all shards in order."""
    import h5py  # here, so that the benchmark peer runs where h5py is not installed
    with open(os.path.join(directory, "dataset.json")) as f:
        manifest = json.load(f)
    columns = {}
    for column in manifest["columns"]:
        name = column["name"]
        if names is not None and name not in names:
            continue
        parts = []
        for shard in manifest["shards"]:
            with h5py.File(os.path.join(directory, shard["path"]), "r") as h:
                parts.append(h["columns"][name][...])
        columns[name] = np.concatenate(parts)
    return columns


def signed_log1p(x):
    # log1p in float64, rounded once to float32 (Kiln computes it the same way)
    with np.errstate(all="ignore"):
        return (np.sign(x) * np.log1p(np.abs(x.astype(np.float64)))).astype(f32)


def numeric_steps(x, steps):
    v = x
    for step in steps:
        op = step["op"]
        if op == "indicator":
            return np.isnan(x).astype(f32)
        if op == "log1p":
            v = np.where(v == 0, v, signed_log1p(v))  # keeps -0 and NaN
        elif op == "impute":
            v = np.where(np.isnan(v), f32(step["value"]), v)
        elif op == "standardize":
            inv = f32(1.0 / float(f32(step["scale"])))
            with np.errstate(all="ignore"):
                v = (v - f32(step["center"])) * inv
        elif op == "clip":
            v = np.where(np.isnan(v), v, np.minimum(np.maximum(v, f32(step["low"])), f32(step["high"])))
        elif op == "smooth_clip":
            v = smooth_clip(v, f32(step["bound"]))
    return v.astype(f32)


def smooth_clip(x, bound):
    # x / sqrt(1 + (x / bound)^2), each operation rounded to float32; +-bound where the square
    # would overflow (|x / bound| > 1e18), +-Inf included
    with np.errstate(all="ignore"):
        t = (x / bound).astype(f32)
        v = (x / np.sqrt(f32(1) + t * t)).astype(f32)
    return np.where(np.abs(t) > f32(1e18), np.copysign(bound, x), v).astype(f32)


def fmix32(h):
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def categorical_steps(x, steps):
    last = steps[-1]
    if last["op"] == "bucketize":
        v = numeric_steps(x, steps[:-1])
        edges = np.asarray(last["edges"], dtype=f32)
        out = 1 + np.searchsorted(edges, v, side="right").astype(np.int64)
        out[np.isnan(v)] = 0
        return out
    codes = x.astype(np.int64)
    if last["op"] == "hash":
        with np.errstate(over="ignore"):
            h = fmix32((x.astype(np.uint32) * np.uint32(0x9E3779B1)) ^ np.uint32(last["seed"]))
        out = 1 + (h % np.uint32(last["buckets"])).astype(np.int64)
        out[codes < 0] = 0
        return out
    vocabulary = np.asarray(last["codes"], dtype=np.int64)
    table = np.ones(int(vocabulary.max()) + 1 if len(vocabulary) else 0, dtype=np.int64)
    table[vocabulary] = 2 + np.arange(len(vocabulary))
    out = np.ones(len(codes), dtype=np.int64)
    inside = (codes >= 0) & (codes < len(table))
    out[inside] = table[codes[inside]]
    out[codes < 0] = 0
    return out


def apply(plan, columns):
    """(X float32 [rows, features], C int64 [rows, categorical]) for a plan and its columns."""
    rows = len(next(iter(columns.values())))
    features = np.empty((rows, len(plan["features"])), dtype=f32)
    for j, f in enumerate(plan["features"]):
        features[:, j] = numeric_steps(columns[f["column"]], f["steps"])
    features[np.isnan(features)] = f32(np.nan)  # every NaN output is the quiet NaN 0x7FC00000
    categorical = np.empty((rows, len(plan["categorical"])), dtype=np.int64)
    for j, c in enumerate(plan["categorical"]):
        categorical[:, j] = categorical_steps(columns[c["column"]], c["steps"])
    return features, categorical


def check(args):
    import h5py
    with open(args.plan) as f:
        plan = json.load(f)
    features, categorical = apply(plan, read_dataset(args.data))
    with h5py.File(args.kiln, "r") as h:
        kiln_x = h["X"][...]
        kiln_c = h["categorical"][...] if "categorical" in h else np.empty((len(kiln_x), 0), np.int64)
        names = [n.decode() if isinstance(n, bytes) else n for n in h["X"].attrs["feature_names"]]
    same_x = kiln_x.shape == features.shape and np.array_equal(
        kiln_x.view(np.uint32), features.view(np.uint32))
    same_c = kiln_c.shape == categorical.shape and np.array_equal(kiln_c, categorical)
    differing = int((kiln_x.view(np.uint32) != features.view(np.uint32)).sum()) if kiln_x.shape == features.shape else -1
    print(json.dumps({"rows": len(features), "features": features.shape[1],
                      "categorical": categorical.shape[1], "feature_names_match":
                      names == [f["name"] for f in plan["features"]],
                      "floats_identical": bool(same_x), "differing_floats": differing,
                      "indices_identical": bool(same_c)}))
    return 0 if same_x and same_c and names == [f["name"] for f in plan["features"]] else 1


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check")
    c.add_argument("--data", required=True)
    c.add_argument("--plan", required=True)
    c.add_argument("--kiln", required=True)
    args = parser.parse_args()
    sys.exit(check(args))


if __name__ == "__main__":
    main()
