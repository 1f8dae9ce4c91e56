#!/usr/bin/env python3
"""The peer of `kiln fit`'s CPU throughput: a PyTorch training loop in Python on the same Kiln
shards, read with h5py through a DataLoader (loader_peer.Batches: one contiguous batch per
item, shuffled), the same transform plan in PyTorch ops (transform_peer.torch_transform,
checked equal to numpy's), the same model and optimizer (AdamW, BCE with logits, gradient
clipping at 1). Prints one JSON object with the steady-state rows/s; with --kiln-json FILE
(Kiln's steady-state {"rows_per_s", "data_wait_s"}, from scripts/bench) a last line compares with the fastest of the runs (one per --workers value: on few cores the
DataLoader's worker processes compete with the training step, so 0 workers can win).

  train_peer.py DATASET_DIR --plan transform.json --model mlp|logistic --batch B --steps S
                [--hidden 512,256,128] [--workers 0,1] [--kiln-json FILE]
"""
import argparse
import json
import os
import sys
import time

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loader_peer  # noqa: E402
import transform_peer  # noqa: E402


def model_of(kind, width, hidden):
    if kind == "logistic":
        return torch.nn.Linear(width, 1)
    layers, at = [], width
    for h in hidden:
        layers += [torch.nn.Linear(at, h), torch.nn.ReLU()]
        at = h
    return torch.nn.Sequential(*layers, torch.nn.Linear(at, 1))


def train(args, plan, workers):
    """One timed run; its JSON object (also printed)."""
    torch.manual_seed(0)
    apply, numeric_names, _ = transform_peer.torch_transform(plan, torch, "cpu")
    with open(os.path.join(args.directory, "dataset.json")) as f:
        label = next(c["name"] for c in json.load(f)["columns"] if c["role"] == "label")
    model = model_of(args.model, len(plan["features"]), [int(h) for h in args.hidden.split(",")])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    data = loader_peer.Batches(args.directory, args.batch)
    loader = DataLoader(data, batch_size=None, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0)
    step, rows, start = 0, 0, None
    while step < args.steps + args.warmup:
        for batch in loader:
            if step == args.warmup:
                start, rows = time.perf_counter(), 0
            numeric = torch.stack([batch[n] for n in numeric_names])
            x, _ = apply(numeric, None)  # no categorical columns
            loss = loss_fn(model(x).squeeze(1), batch[label])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            loss.item()
            step += 1
            rows += x.shape[0]
            if step == args.steps + args.warmup:
                break
    seconds = time.perf_counter() - start
    out = {"peer": f"PyTorch loop, h5py+DataLoader(workers={workers})", "model": args.model,
           "batch": args.batch, "steps": args.steps, "rows": rows, "seconds": seconds,
           "rows_per_s": rows / seconds, "threads": torch.get_num_threads()}
    print(json.dumps(out), flush=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--plan", required=True)
    parser.add_argument("--model", choices=["mlp", "logistic"], required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--hidden", default="512,256,128")
    parser.add_argument("--workers", default="0,1", help="DataLoader workers; a list runs each")
    parser.add_argument("--warmup", type=int, default=10, help="steps not timed")
    parser.add_argument("--kiln-json", help="Kiln's steady-state rate, to compare with")
    args = parser.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    assert not plan["categorical"], "this peer trains on numeric features only"
    results = [train(args, plan, int(w)) for w in args.workers.split(",")]
    out = max(results, key=lambda r: r["rows_per_s"])
    if args.kiln_json:
        with open(args.kiln_json) as f:
            kiln = json.load(f)
        print(f"{args.model} batch {args.batch}: kiln {kiln['rows_per_s'] / 1e3:.0f}K rows/s "
              f"(waited {kiln['data_wait_s']:.2f} s for data) | PyTorch+h5py "
              f"{out['peer'].split('(')[1][:-1]} {out['rows_per_s'] / 1e3:.0f}K rows/s | kiln "
              f"{kiln['rows_per_s'] / out['rows_per_s']:.2f}x")


if __name__ == "__main__":
    main()
