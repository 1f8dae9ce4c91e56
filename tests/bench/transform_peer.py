#!/usr/bin/env python3
"""Peers of Kiln's feature-transform benchmark, on the data and plan that
`transform_bench make` wrote (the raw copy of its columns, columns.bin): the same transform written in numpy (CPU), and in PyTorch as
eager ops and under torch.compile (GPU). Prints one JSON object per contender with the
same byte accounting as transform_bench (each input column read once, outputs written).

  transform_peer.py DIR --mode numpy [--reps 3]
  transform_peer.py DIR --mode torch [--device cuda] [--reps 20] [--no-compile]

With --kiln FILE (transform_bench's JSON output) a last line compares Kiln with each peer.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kernels"))
import transform_numpy  # noqa: E402


def byte_count(plan, rows):
    inputs = {f["column"] for f in plan["features"]} | {c["column"] for c in plan["categorical"]}
    return rows * (4 * len(inputs) + 4 * len(plan["features"]) + 8 * len(plan["categorical"]))


RESULTS = []


def report(name, plan, rows, seconds, **extra):
    total = byte_count(plan, rows)
    out = {"peer": name, "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
           "bytes": total, "gb_per_s": total / seconds / 1e9, "tb_per_s": total / seconds / 1e12}
    out.update(extra)
    RESULTS.append(out)
    print(json.dumps(out), flush=True)


def compare(kiln):
    """One line: Kiln against every peer of this run."""
    if "copy_tb_per_s" in kiln:
        parts = [f"kiln {kiln['tb_per_s']:.2f} TB/s = {kiln['fraction_of_copy']:.0%} of D2D copy "
                 f"{kiln['copy_tb_per_s']:.2f} TB/s"]
        parts += [f"{r['peer']} {r['tb_per_s']:.2f} TB/s (kiln {kiln['tb_per_s'] / r['tb_per_s']:.1f}x)"
                  for r in RESULTS]
    else:
        parts = [f"kiln {kiln['rows_per_s'] / 1e6:.1f}M rows/s {kiln['gb_per_s']:.2f} GB/s "
                 f"({kiln['threads']} threads)"]
        parts += [f"{r['peer']} {r['rows_per_s'] / 1e6:.2f}M rows/s (kiln {kiln['rows_per_s'] / r['rows_per_s']:.1f}x)"
                  for r in RESULTS]
    print(" | ".join(parts))


def run_numpy(plan, columns, reps):
    rows = len(next(iter(columns.values())))
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        transform_numpy.apply(plan, columns)
        best = min(best, time.perf_counter() - start)
    report("numpy", plan, rows, best)


def torch_transform(plan, torch):
    """The plan as a function of a dict of column tensors, in PyTorch ops."""
    def numeric(x, steps):
        v = x
        for s in steps:
            op = s["op"]
            if op == "indicator":
                return torch.isnan(x).to(torch.float32)
            if op == "log1p":
                v = torch.sign(v) * torch.log1p(v.abs().double()).float()
            elif op == "impute":
                v = torch.where(torch.isnan(v), torch.full_like(v, s["value"]), v)
            elif op == "standardize":
                v = (v - s["center"]) * float(np.float32(1.0 / float(np.float32(s["scale"]))))
            elif op == "clip":
                v = torch.where(torch.isnan(v), v, v.clamp(s["low"], s["high"]))
        return v

    tables = {}
    for c in plan["categorical"]:
        last = c["steps"][-1]
        if last["op"] == "vocabulary":
            codes = np.asarray(last["codes"], dtype=np.int64)
            table = np.ones(int(codes.max()) + 1 if len(codes) else 1, dtype=np.int64)
            table[codes] = 2 + np.arange(len(codes))
            tables[c["name"]] = table
        if last["op"] == "bucketize":
            tables[c["name"]] = np.asarray(last["edges"], dtype=np.float32)

    def categorical(x, c, device_tables):
        last = c["steps"][-1]
        if last["op"] == "bucketize":
            v = numeric(x, c["steps"][:-1])
            out = 1 + torch.bucketize(v, device_tables[c["name"]], right=True)
            return torch.where(torch.isnan(v), torch.zeros_like(out), out)
        codes = x.long()
        if last["op"] == "hash":
            m = 0xFFFFFFFF
            h = ((codes * 0x9E3779B1) & m) ^ last["seed"]
            h = h ^ (h >> 16)
            h = (h * 0x85EBCA6B) & m
            h = h ^ (h >> 13)
            h = (h * 0xC2B2AE35) & m
            h = h ^ (h >> 16)
            return torch.where(codes < 0, torch.zeros_like(h), 1 + h % last["buckets"])
        table = device_tables[c["name"]]
        inside = (codes >= 0) & (codes < table.numel())
        out = torch.where(inside, table[codes.clamp(0, table.numel() - 1)], torch.ones_like(codes))
        return torch.where(codes < 0, torch.zeros_like(out), out)

    def apply(columns, device_tables):
        x = torch.stack([numeric(columns[f["column"]], f["steps"]) for f in plan["features"]], dim=1)
        k = torch.stack([categorical(columns[c["column"]], c, device_tables)
                         for c in plan["categorical"]], dim=1)
        return x, k

    return apply, tables


def run_torch(plan, columns, device, reps, compile_too):
    import torch
    rows = len(next(iter(columns.values())))
    cols = {k: torch.from_numpy(v).to(device) for k, v in columns.items()}
    apply, tables = torch_transform(plan, torch)
    device_tables = {k: torch.from_numpy(v).to(device) for k, v in tables.items()}

    def timed(fn):
        fn(cols, device_tables)  # warm-up (and compilation)
        fn(cols, device_tables)
        times = []
        for _ in range(reps):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn(cols, device_tables)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    report("torch eager", plan, rows, timed(apply), device=name)
    if compile_too:
        compiled = torch.compile(apply, dynamic=False)
        report("torch.compile", plan, rows, timed(compiled), device=name)


def read_raw_columns(directory):
    """The columns transform_bench make also wrote raw (columns.json + columns.bin), so that
    the peer needs neither h5py nor the HDF5 files."""
    with open(os.path.join(directory, "columns.json")) as f:
        layout = json.load(f)
    raw = np.fromfile(os.path.join(directory, "columns.bin"), dtype=np.uint8)
    columns, at = {}, 0
    for c in layout["columns"]:
        dtype = np.dtype(c["dtype"])
        size = layout["rows"] * dtype.itemsize
        columns[c["name"]] = raw[at:at + size].view(dtype)
        at += size
    return columns


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--mode", choices=["numpy", "torch"], required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--reps", type=int, default=0)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--kiln", help="transform_bench's JSON output, to compare with")
    args = parser.parse_args()
    with open(os.path.join(args.dir, "transform.json")) as f:
        plan = json.load(f)
    columns = read_raw_columns(args.dir)
    if args.mode == "numpy":
        run_numpy(plan, columns, args.reps or 3)
    else:
        run_torch(plan, columns, args.device, args.reps or 20, not args.no_compile)
    if args.kiln:
        with open(args.kiln) as f:
            compare(json.loads(f.read().strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
