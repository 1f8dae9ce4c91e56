#!/usr/bin/env python3
"""The peer of Kiln's loader: h5py + a PyTorch DataLoader reading the same Kiln shards.

Each item of the Dataset is one batch: a contiguous slice of `batch` rows of every column
of one shard (large reads and a chunk cache sized for the shards, as a careful h5py user
writes it); the DataLoader shuffles the items. Prints one JSON object like tests/bench/loader_bench.cpp's.

  loader_peer.py DATASET_DIR --batch B [--workers W] [--epochs E]
"""
import argparse
import json
import os
import resource
import time

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

MEM = {"numeric": np.float32, "label": np.float32, "weight": np.float32,
       "categorical": np.int32, "id": np.int64, "time": np.int64}


class Batches(Dataset):
    def __init__(self, directory, batch):
        with open(os.path.join(directory, "dataset.json")) as f:
            manifest = json.load(f)
        self.columns = [(c["name"], MEM[c["role"]]) for c in manifest["columns"]]
        self.paths = [os.path.join(directory, s["path"]) for s in manifest["shards"]]
        self.items = [(i, start, min(batch, s["rows"] - start))
                      for i, s in enumerate(manifest["shards"])
                      for start in range(0, s["rows"], batch)]
        self.files = {}

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        shard, start, rows = self.items[index]
        datasets = self.files.get(shard)
        if datasets is None:
            # Open each shard and column once per worker, and keep them open: the chunk cache
            # lives with the open dataset, and it is sized to hold a shard's chunks, so each
            # chunk is decompressed once rather than for every batch that touches it.
            f = h5py.File(self.paths[shard], "r", rdcc_nbytes=8 << 20, rdcc_nslots=10007)
            datasets = self.files[shard] = {name: f["columns"][name] for name, _ in self.columns}
        return {name: torch.from_numpy(datasets[name][start:start + rows].astype(dtype, copy=False))
                for name, dtype in self.columns}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = Batches(args.directory, args.batch)
    loader = DataLoader(data, batch_size=None, shuffle=True, num_workers=args.workers,
                        persistent_workers=args.workers > 0)
    row_bytes = sum(np.dtype(t).itemsize for _, t in data.columns)
    rows, checksum = 0, 0.0
    start = time.perf_counter()
    for _ in range(args.epochs):
        for batch in loader:
            first = batch[data.columns[0][0]]
            rows += first.shape[0]
            checksum += float(first[-1])
    seconds = time.perf_counter() - start
    print(json.dumps({
        "impl": f"h5py+DataLoader(workers={args.workers})", "rows": rows, "seconds": seconds,
        "rows_per_s": rows / seconds, "gb_per_s": rows * row_bytes / seconds / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "checksum": checksum}))


if __name__ == "__main__":
    main()
