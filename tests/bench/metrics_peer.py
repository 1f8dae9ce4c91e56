#!/usr/bin/env python3
"""scikit-learn peer of metrics_bench: roc_auc_score + average_precision_score on the same
scores (the raw file metrics_bench make wrote). Prints one JSON object; with --kiln FILE a
last line compares.

  metrics_peer.py FILE [--reps 2] [--kiln kiln.json]
  metrics_peer.py FILE --torch [--reps 20] [--kiln kiln.json]
      the GPU peers: torchmetrics' binary_auroc and binary_average_precision (each
      timed, where torchmetrics is installed), and their algorithm with one shared sort
      (argsort, cumulative sums at distinct thresholds, trapezoid / step sum) in PyTorch
      on CUDA
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


def median_cuda_seconds(torch, reps, work):
    """Median wall time of `work` on the GPU, synchronized, after a warm-up; its last result."""
    result = work()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        result = work()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], result


def run_torch(scores, labels, reps):
    """One JSON line per GPU peer: torchmetrics itself (each metric, and both), where it is
    installed, then the one-sort algorithm."""
    import torch
    preds = torch.from_numpy(scores.copy()).cuda()
    target = torch.from_numpy(labels.astype(np.float64)).cuda()
    device = torch.cuda.get_device_name(0)
    peers = []
    try:
        from torchmetrics.functional.classification import (binary_auroc,
                                                            binary_average_precision)
        int_target = target.long()
        t_auroc, auroc = median_cuda_seconds(torch, reps, lambda: binary_auroc(preds, int_target))
        t_ap, ap = median_cuda_seconds(torch, reps,
                                       lambda: binary_average_precision(preds, int_target))
        peers.append({"peer": "torchmetrics binary_auroc + binary_average_precision",
                      "seconds": t_auroc + t_ap, "auroc_seconds": t_auroc, "ap_seconds": t_ap,
                      "auroc": float(auroc), "average_precision": float(ap)})
    except ImportError:
        pass
    seconds, (auroc, ap) = median_cuda_seconds(torch, reps, lambda: torch_metrics(preds, target, torch))
    peers.append({"peer": "torchmetrics' algorithm, one sort (PyTorch)", "seconds": seconds,
                  "auroc": float(auroc), "average_precision": float(ap)})
    for p in peers:
        p.update(rows=len(scores), device=device)
        print(json.dumps(p))
    return peers


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
        peers = run_torch(scores, labels, max(args.reps, 5))
        if args.kiln:
            kiln = read_kiln(args.kiln)
            parts = [f"kiln {kiln['seconds'] * 1e3:.2f} ms"]
            parts += [f"{'torch 1-sort' if 'one sort' in p['peer'] else 'torchmetrics'} "
                      f"{p['seconds'] * 1e3:.2f} ms (kiln {p['seconds'] / kiln['seconds']:.1f}x, "
                      f"auroc diff {abs(kiln['auroc'] - p['auroc']):.0e})" for p in peers]
            parts.append(f"bootstrap 1000x1M {kiln.get('bootstrap_1000x1M_seconds', float('nan')):.2f} s")
            print(" | ".join(parts))
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
