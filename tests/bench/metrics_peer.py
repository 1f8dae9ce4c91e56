#!/usr/bin/env python3
"""scikit-learn peer of metrics_bench: roc_auc_score + average_precision_score on the same
scores (the raw file metrics_bench make wrote). Prints one JSON object; with --kiln FILE a
last line compares.

  metrics_peer.py FILE [--reps 2] [--kiln kiln.json]
  metrics_peer.py FILE --torch [--reps 20] [--kiln kiln.json]
      the GPU peer: torchmetrics' binary_auroc / binary_average_precision algorithm
      (argsort, cumulative sums at distinct thresholds, trapezoid / step sum) in PyTorch
      on CUDA; torchmetrics itself is not installed on the GPU machines (no network)
"""
import argparse
import json
import os
import time

import numpy as np


def read_kiln(path):
    """metrics_bench's JSON result (its last line)."""
    with open(path) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def torch_metrics(preds, target, torch):
    """torchmetrics' _binary_clf_curve, then binary_auroc and binary_average_precision."""
    order = torch.argsort(preds, descending=True)
    preds, target = preds[order], target[order]
    distinct = torch.where(preds[1:] - preds[:-1])[0]
    ends = torch.cat([distinct, torch.tensor([target.numel() - 1], device=preds.device)])
    tps = torch.cumsum(target, 0)[ends]
    fps = 1 + ends - tps
    zero = torch.zeros(1, device=preds.device, dtype=tps.dtype)
    tpr = torch.cat([zero, tps]) / tps[-1]
    fpr = torch.cat([zero, fps]) / fps[-1]
    auroc = torch.trapz(tpr, fpr)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    ap = torch.sum((recall - torch.cat([zero, recall[:-1]])) * precision)
    return auroc, ap


def run_torch(scores, labels, reps):
    import torch
    preds = torch.from_numpy(scores.copy()).cuda()
    target = torch.from_numpy(labels.astype(np.float64)).cuda()
    torch_metrics(preds, target, torch)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        auroc, ap = torch_metrics(preds, target, torch)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], float(auroc), float(ap), torch.cuda.get_device_name(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--kiln")
    parser.add_argument("--torch", action="store_true")
    args = parser.parse_args()
    n = os.path.getsize(args.file) // 12
    raw = np.fromfile(args.file, dtype=np.uint8)
    scores = raw[:8 * n].view("<f8")
    labels = raw[8 * n:].view("<f4")
    if args.torch:
        best, auroc, ap, device = run_torch(scores, labels, max(args.reps, 5))
        out = {"peer": "torchmetrics algorithm (PyTorch, CUDA)", "rows": n, "seconds": best,
               "auroc": auroc, "average_precision": ap, "device": device}
        print(json.dumps(out))
        if args.kiln:
            kiln = read_kiln(args.kiln)
            print(f"kiln {kiln['seconds'] * 1e3:.2f} ms | torch {best * 1e3:.2f} ms | kiln "
                  f"{best / kiln['seconds']:.1f}x | auroc diff {abs(kiln['auroc'] - auroc):.1e} | "
                  f"bootstrap 1000x1M {kiln.get('bootstrap_1000x1M_seconds', float('nan')):.2f} s")
        return
    from sklearn.metrics import average_precision_score, roc_auc_score
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
        kiln = read_kiln(args.kiln)
        print(f"kiln {kiln['seconds']:.3f} s | scikit-learn {best:.3f} s | kiln {best / kiln['seconds']:.1f}x"
              f" | same values: auroc diff {abs(kiln['auroc'] - auroc):.1e}, ap diff "
              f"{abs(kiln['average_precision'] - ap):.1e}")


if __name__ == "__main__":
    main()
