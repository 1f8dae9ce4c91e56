#!/usr/bin/env python3
"""Peers of Kiln's feature-transform benchmark, on the data and plan that
`transform_bench make` wrote (the raw copy of its columns, columns.bin): the same transform written in numpy (CPU), and in PyTorch as
eager ops and under torch.compile (GPU). Prints one JSON object per contender with the
same byte accounting as transform_bench (each input column read once, outputs written).

  transform_peer.py DIR --mode numpy [--reps 3]
  transform_peer.py DIR --mode torch [--device cuda] [--reps 20] [--no-compile] [--check]

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

f32 = np.float32


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
                 f"{kiln['copy_tb_per_s']:.2f} TB/s (no-math plan {kiln['identity_tb_per_s']:.2f}, "
                 f"no math and no lookups {kiln.get('layout_tb_per_s', float('nan')):.2f})"]
        if "other_tilings" in kiln:
            parts[0] = f"{kiln['tiling']} tiles: " + parts[0]
            parts += [f"{o['tiling']} tiles {o['tb_per_s']:.2f} TB/s = {o['fraction_of_copy']:.0%} "
                      f"of copy (same bits: {'yes' if o['same_bits'] else 'NO'})"
                      for o in kiln["other_tilings"]]
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


def torch_transform(plan, torch, device):
    """The plan as PyTorch ops over whole matrices (the strongest way to write it, and what
    torch.compile fuses best): numeric inputs stacked as [columns, rows] float32, codes as
    [columns, rows] int32; each step is one op over all output columns at once, with
    per-column parameters (a column without the step gets the identity: center 0, scale 1,
    bounds +-Inf). Returns apply(numeric, codes) -> (X [rows, D] float32, C [rows, K] int64),
    and the names of the columns stacked into `numeric` and `codes`, in order."""
    features, categorical = plan["features"], plan["categorical"]
    numeric_inputs = sorted({f["column"] for f in features} |
                            {c["column"] for c in categorical if c["steps"][-1]["op"] == "bucketize"})
    code_inputs = sorted({c["column"] for c in categorical if c["steps"][-1]["op"] != "bucketize"})
    at = {name: i for i, name in enumerate(numeric_inputs)}
    code_at = {name: i for i, name in enumerate(code_inputs)}

    def parameters(rows):
        """Per-output-column step parameters, [len(rows), 1] tensors."""
        n = len(rows)
        p = {"log1p": np.zeros(n, bool), "impute": np.zeros(n, bool), "value": np.zeros(n, f32),
             "center": np.zeros(n, f32), "inv_scale": np.ones(n, f32),
             "low": np.full(n, -np.inf, f32), "high": np.full(n, np.inf, f32),
             "smooth": np.zeros(n, bool), "bound": np.ones(n, f32), "indicator": np.zeros(n, bool)}
        for j, steps in enumerate(rows):
            for s in steps:
                op = s["op"]
                if op == "indicator":
                    p["indicator"][j] = True
                elif op == "log1p":
                    p["log1p"][j] = True
                elif op == "impute":
                    p["impute"][j], p["value"][j] = True, s["value"]
                elif op == "standardize":
                    p["center"][j] = s["center"]
                    p["inv_scale"][j] = f32(1.0 / float(f32(s["scale"])))
                elif op == "clip":
                    p["low"][j], p["high"][j] = s["low"], s["high"]
                elif op == "smooth_clip":
                    p["smooth"][j], p["bound"][j] = True, s["bound"]
        return {k: torch.from_numpy(v).to(device).unsqueeze(1) for k, v in p.items()}

    def numeric(x, p, any_log1p):
        v = x
        if any_log1p:
            v = torch.where(p["log1p"], torch.sign(v) * torch.log1p(v.abs().double()).float(), v)
        v = torch.where(p["impute"] & torch.isnan(v), p["value"], v)
        v = (v - p["center"]) * p["inv_scale"]
        v = torch.where(torch.isnan(v), v, torch.minimum(torch.maximum(v, p["low"]), p["high"]))
        t = v / p["bound"]
        # through float64: torch 2.11's float32 sqrt on the CPU is not correctly rounded (1 ulp
        # off for about one value in eight); the square root of a float32 in float64, rounded
        # to float32, is
        root = torch.sqrt((1 + t * t).double()).float()
        smooth = torch.where(t.abs() > 1e18, torch.copysign(p["bound"], v), v / root)
        v = torch.where(p["smooth"], smooth, v)
        return torch.where(p["indicator"], torch.isnan(x).float(), v)

    index = torch.tensor([at[f["column"]] for f in features], device=device)
    fp = parameters([f["steps"] for f in features])
    f_log1p = any(s["op"] == "log1p" for f in features for s in f["steps"])

    # Categorical outputs, grouped by kind; `order` puts the groups back in plan order.
    groups = {"vocabulary": [], "hash": [], "bucketize": []}
    for k, c in enumerate(categorical):
        groups[c["steps"][-1]["op"]].append(k)
    order = torch.tensor(np.argsort(groups["vocabulary"] + groups["hash"] + groups["bucketize"],
                                    kind="stable"), device=device)
    vocab = [categorical[k] for k in groups["vocabulary"]]
    tables, offsets, sizes = [], [], []
    for c in vocab:
        codes = np.asarray(c["steps"][-1]["codes"], dtype=np.int64)
        table = np.ones(int(codes.max()) + 1 if len(codes) else 1, dtype=np.int64)
        table[codes] = 2 + np.arange(len(codes))
        offsets.append(sum(len(t) for t in tables))
        sizes.append(len(table))
        tables.append(table)
    column = lambda v: torch.tensor(v, device=device, dtype=torch.int64).unsqueeze(1)
    v_index = torch.tensor([code_at[c["column"]] for c in vocab], device=device, dtype=torch.int64)
    v_table = torch.from_numpy(np.concatenate(tables) if tables else np.ones(1, np.int64)).to(device)
    v_offset, v_size = column(offsets), column(sizes)
    hashed = [categorical[k] for k in groups["hash"]]
    h_index = torch.tensor([code_at[c["column"]] for c in hashed], device=device, dtype=torch.int64)
    h_seed = column([c["steps"][-1]["seed"] for c in hashed])
    h_buckets = column([c["steps"][-1]["buckets"] for c in hashed])
    bucketed = [categorical[k] for k in groups["bucketize"]]
    b_index = torch.tensor([at[c["column"]] for c in bucketed], device=device, dtype=torch.int64)
    bp = parameters([c["steps"][:-1] for c in bucketed])
    b_edges = [torch.from_numpy(np.asarray(c["steps"][-1]["edges"], f32)).to(device) for c in bucketed]

    def categorical_outputs(numeric_matrix, codes):
        parts = []
        if vocab:
            code = codes[v_index].long()
            looked = v_table[v_offset + torch.minimum(code.clamp(min=0), v_size - 1)]
            parts.append(torch.where(code < 0, 0, torch.where(code >= v_size, 1, looked)))
        if hashed:
            code = codes[h_index].long()
            m = 0xFFFFFFFF
            h = ((code * 0x9E3779B1) & m) ^ h_seed
            h = h ^ (h >> 16)
            h = (h * 0x85EBCA6B) & m
            h = h ^ (h >> 13)
            h = (h * 0xC2B2AE35) & m
            h = h ^ (h >> 16)
            parts.append(torch.where(code < 0, 0, 1 + h % h_buckets))
        if bucketed:
            v = numeric(numeric_matrix[b_index], bp, True)
            for j, edges in enumerate(b_edges):
                out = 1 + torch.bucketize(v[j], edges, right=True)
                parts.append(torch.where(torch.isnan(v[j]), 0, out).unsqueeze(0))
        return torch.cat(parts)[order]

    def apply(numeric_matrix, codes):
        x = numeric(numeric_matrix[index], fp, f_log1p).t().contiguous()
        if not categorical:
            return x, torch.empty((x.shape[0], 0), dtype=torch.int64, device=device)
        return x, categorical_outputs(numeric_matrix, codes).t().contiguous()

    return apply, numeric_inputs, code_inputs


def stacked(torch, columns, names, dtype, device):
    rows = len(next(iter(columns.values())))
    if not names:
        return torch.empty((0, rows), dtype=dtype, device=device)
    return torch.from_numpy(np.stack([columns[n] for n in names])).to(device)


def run_torch(plan, columns, device, reps, compile_too):
    import torch
    rows = len(next(iter(columns.values())))
    apply, numeric_names, code_names = torch_transform(plan, torch, device)
    # The peer gets its inputs already stacked into two matrices (not timed): its best case.
    numeric = stacked(torch, columns, numeric_names, torch.float32, device)
    codes = stacked(torch, columns, code_names, torch.int32, device)

    def timed(fn):
        fn(numeric, codes)  # compilation
        warm_until = time.perf_counter() + 0.5  # and half a second of warm-up, as transform_bench
        while time.perf_counter() < warm_until:
            fn(numeric, codes)
        times = []
        for _ in range(reps):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn(numeric, codes)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    report("torch eager", plan, rows, timed(apply), device=name)
    if compile_too:
        compiled = torch.compile(apply, dynamic=False)
        report("torch.compile", plan, rows, timed(compiled), device=name)


def check_torch(plan, columns, device):
    """The PyTorch peer's output against transform_numpy's (the documented semantics): is the
    peer computing the same transform? Exits non-zero when it is not."""
    import torch
    apply, numeric_names, code_names = torch_transform(plan, torch, device)
    x, k = apply(stacked(torch, columns, numeric_names, torch.float32, device),
                 stacked(torch, columns, code_names, torch.int32, device))
    x, k = x.cpu().numpy(), k.cpu().numpy()
    x[np.isnan(x)] = f32(np.nan)
    want_x, want_k = transform_numpy.apply(plan, columns)
    same_x = x.shape == want_x.shape and np.array_equal(x.view(np.uint32), want_x.view(np.uint32))
    same_k = np.array_equal(k, want_k)
    print(json.dumps({"peer_check": device, "floats_identical": bool(same_x),
                      "indices_identical": bool(same_k)}), flush=True)
    if not (same_x and same_k):
        sys.exit("transform_peer: the PyTorch peer does not compute the plan's transform")


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
    parser.add_argument("--check", action="store_true",
                        help="first check the PyTorch peer's output against numpy's")
    parser.add_argument("--kiln", help="transform_bench's JSON output, to compare with")
    args = parser.parse_args()
    with open(os.path.join(args.dir, "transform.json")) as f:
        plan = json.load(f)
    columns = read_raw_columns(args.dir)
    if args.mode == "numpy":
        run_numpy(plan, columns, args.reps or 3)
    else:
        if args.check:
            check_torch(plan, columns, args.device)
        run_torch(plan, columns, args.device, args.reps or 20, not args.no_compile)
    if args.kiln:
        with open(args.kiln) as f:
            compare(json.loads(f.read().strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
