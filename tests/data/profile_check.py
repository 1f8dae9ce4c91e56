#!/usr/bin/env python3
"""Checks a Kiln profile against numpy on the dataset's own values (read with h5py, an
independent reader): counts exactly, mean and variance to 1e-9 (relative), bin counts
exactly on the profile's edges, every quantile within the rank error the profile states
(quantiles and edges read as float32, as the format says),
and the counts of the categorical codes it lists exactly (the most frequent ones; with
--against, those of the reference it was counted through: a current profile).

  profile_check.py DATASET_DIR PROFILE_JSON [--against]
                                                 exit 0 when every check holds; else 1,
                                                 printing each failure
"""
import json
import sys

import h5py
import numpy as np


def columns(dataset):
    meta = json.load(open(f"{dataset}/dataset.json"))
    values = {}
    for shard in meta["shards"]:
        with h5py.File(f"{dataset}/{shard['path']}", "r") as f:
            for c in meta["columns"]:
                values.setdefault(c["name"], []).append(np.asarray(f["columns"][c["name"]]))
    return {k: np.concatenate(v) for k, v in values.items()}


def main():
    dataset, profile_path = sys.argv[1], sys.argv[2]
    against = sys.argv[3:] == ["--against"]
    profile = json.load(open(profile_path))
    data = columns(dataset)
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    for c in profile["columns"]:
        name = c["name"]
        v = data[name].astype(np.int64 if c["role"] == "categorical" else np.float32)
        check(profile["rows"] == len(v), f"{name}: rows")
        if c["role"] == "categorical":
            codes = v[v >= 0]
            check(c["missing"] == int(np.sum(v < 0)), f"{name}: missing")
            check(c["count"] == len(codes), f"{name}: count")
            uniq, counts = np.unique(codes, return_counts=True)
            check(c["distinct"] == len(uniq), f"{name}: distinct")
            counted = dict(zip(uniq.tolist(), counts.tolist()))
            listed = [tuple(p) for p in c["codes"]]
            check(all(counted.get(code, 0) == n for code, n in listed), f"{name}: code counts")
            check(c["other"] == len(codes) - sum(n for _, n in listed), f"{name}: other")
            if not against:
                order = sorted(counted.items(), key=lambda p: (-p[1], p[0]))
                check(sorted(listed) == sorted(order[: len(listed)]), f"{name}: top codes")
            continue
        x = v.astype(np.float64)
        finite = x[np.isfinite(x)]
        check(c["missing"] == int(np.sum(np.isnan(x))), f"{name}: missing")
        check(c["pos_inf"] == int(np.sum(x == np.inf)), f"{name}: pos_inf")
        check(c["neg_inf"] == int(np.sum(x == -np.inf)), f"{name}: neg_inf")
        check(c["count"] == len(finite), f"{name}: count")
        if len(finite) == 0:
            continue
        mean, var = finite.mean(), finite.var(ddof=1) if len(finite) > 1 else 0.0
        check(abs(c["mean"] - mean) <= 1e-9 * max(1.0, abs(mean)), f"{name}: mean {c['mean']} vs {mean}")
        check(abs(c["variance"] - var) <= 1e-9 * max(1.0, var), f"{name}: variance {c['variance']} vs {var}")
        edges = np.asarray(c["edges"], dtype=np.float32).astype(np.float64)
        quantiles = np.asarray(c["quantiles"], dtype=np.float32).astype(np.float64)
        bins = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1)
        check(bins.tolist() == c["counts"], f"{name}: bin counts {c['counts']} vs {bins.tolist()}")
        s = np.sort(finite)
        n = len(s)
        bound = c["rank_error"] * n + 1
        q = np.linspace(0, 1, len(quantiles))
        at_or_below = np.searchsorted(s, quantiles, side="right")
        below = np.searchsorted(s, quantiles, side="left")
        bad = np.where((at_or_below < q * n - bound) | (below > q * n + bound))[0]
        check(len(bad) == 0, f"{name}: quantiles outside the rank error at q = {q[bad[:5]].tolist()}")
        check(quantiles[0] == s[0] and quantiles[-1] == s[-1], f"{name}: min/max")
    for f in failures:
        print(f)
    print(f"profile_check: {len(profile['columns'])} columns, {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
