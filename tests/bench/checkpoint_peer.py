#!/usr/bin/env python3
"""The peer of checkpoint_bench: the same MLP (64-3072-2400-1024-1, an 8-wide embedding of
1000 codes) with its AdamW state, saved the usual PyTorch way (torch.save of the model and
optimizer state dicts, then fsync) and read back (torch.load, weights_only). Prints one JSON
object; with --kiln FILE (checkpoint_bench's output) a last line compares.

  checkpoint_peer.py DIR [--reps 3] [--kiln kiln.json]
"""
import argparse
import json
import os
import time

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--kiln")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    model = torch.nn.ModuleDict({
        "embedding": torch.nn.Embedding(1000, 8),
        "body": torch.nn.Sequential(torch.nn.Linear(72, 3072), torch.nn.ReLU(), torch.nn.Linear(3072, 2400),
                                    torch.nn.ReLU(), torch.nn.Linear(2400, 1024), torch.nn.ReLU()),
        "head": torch.nn.Linear(1024, 1)})
    optimizer = torch.optim.AdamW(model.parameters())
    x = torch.cat([torch.randn(8, 64), model["embedding"](torch.zeros(8, dtype=torch.long))], 1)
    model["head"](model["body"](x)).sum().backward()
    optimizer.step()
    path = os.path.join(args.dir, "checkpoint.pt")
    write = read = float("inf")
    for _ in range(args.reps):
        start = time.perf_counter()
        with open(path, "wb") as f:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, f)
            f.flush()
            os.fsync(f.fileno())
        write = min(write, time.perf_counter() - start)
        start = time.perf_counter()
        torch.load(path, weights_only=True)
        read = min(read, time.perf_counter() - start)
    out = {"peer": "torch.save + fsync / torch.load", "parameters": sum(p.numel() for p in model.parameters()),
           "bytes": os.path.getsize(path), "write_seconds": write, "load_seconds": read}
    print(json.dumps(out))
    if args.kiln:
        with open(args.kiln) as f:
            kiln = json.loads(f.read().strip().splitlines()[-1])
        print(f"checkpoint {kiln['parameters'] / 1e6:.1f}M params: kiln write {kiln['write_seconds']:.3f} s, "
              f"verify {kiln['verify_seconds']:.3f} s (SHA-256 of every file) | torch.save {write:.3f} s, "
              f"torch.load {read:.3f} s")


if __name__ == "__main__":
    main()
