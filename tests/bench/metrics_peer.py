#!/usr/bin/env python3
"""scikit-learn peer of metrics_bench: roc_auc_score + average_precision_score on the same
scores (the raw file metrics_bench make wrote). Prints one JSON object; with --kiln FILE a
last line compares.

  metrics_peer.py FILE [--reps 2] [--kiln kiln.json]
"""
import argparse
import json
import os
import time

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--kiln")
    args = parser.parse_args()
    n = os.path.getsize(args.file) // 12
    raw = np.fromfile(args.file, dtype=np.uint8)
    scores = raw[:8 * n].view("<f8")
    labels = raw[8 * n:].view("<f4")
    best = float("inf")
    for _ in range(args.reps):
        start = time.perf_counter()
        auroc = roc_auc_score(labels, scores)
        ap = average_precision_score(labels, scores)
        best = min(best, time.perf_counter() - start)
    out = {"peer": "scikit-learn", "rows": n, "seconds": best, "rows_per_s": n / best,
           "auroc": auroc, "average_precision": ap}
    print(json.dumps(out))
    if args.kiln:
        with open(args.kiln) as f:
            kiln = json.loads(f.read().strip().splitlines()[-1])
        print(f"kiln {kiln['seconds']:.3f} s | scikit-learn {best:.3f} s | kiln {best / kiln['seconds']:.1f}x"
              f" | same values: auroc diff {abs(kiln['auroc'] - auroc):.1e}, ap diff "
              f"{abs(kiln['average_precision'] - ap):.1e}")


if __name__ == "__main__":
    main()
