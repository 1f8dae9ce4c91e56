#!/usr/bin/env python3
"""Golden values for eval/'s metrics from scikit-learn (and numpy where scikit-learn has no
function), on inputs both sides generate from the same seeded SplitMix64 stream (see
make_case; tests/eval/metrics_test.cpp has the same generator), so no data is checked in.

  metrics_golden.py > tests/eval/metrics_golden.json
"""
import json
import math

import numpy as np
from sklearn.metrics import (average_precision_score, brier_score_loss, f1_score, log_loss,
                             mean_absolute_error, mean_squared_error, precision_recall_curve,
                             precision_score, r2_score, recall_score, roc_auc_score, roc_curve)

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def uniform(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        return (z >> 11) * 2.0 ** -53


# name: n, seed, prevalence, signal, levels (0: continuous), weighted, kind
CASES = {
    "heavy_ties": dict(n=20000, seed=1, prevalence=0.3, signal=0.3, levels=10, weighted=False, kind="prob"),
    "ties_weighted": dict(n=20000, seed=2, prevalence=0.2, signal=0.4, levels=20, weighted=True, kind="prob"),
    "continuous_weighted": dict(n=50000, seed=3, prevalence=0.1, signal=0.5, levels=0, weighted=True, kind="prob"),
    "one_positive_in_1e5": dict(n=100000, seed=4, prevalence=0.0, signal=0.5, levels=1000, weighted=False, kind="prob"),
    "constant_scores": dict(n=1000, seed=5, prevalence=0.2, signal=0.0, levels=0, weighted=False, kind="constant"),
    "logits": dict(n=5000, seed=6, prevalence=0.4, signal=0.6, levels=0, weighted=False, kind="logit"),
}


def make_case(n, seed, prevalence, signal, levels, weighted, kind):
    rng = SplitMix64(seed)
    scores, labels, weights = [], [], []
    for i in range(n):
        a, b, c = rng.uniform(), rng.uniform(), rng.uniform()
        label = 1.0 if (a < prevalence or (prevalence == 0.0 and i == n // 3)) else 0.0
        raw = b + signal * label
        if kind == "constant":
            score = 0.5
        elif kind == "logit":
            score = (raw - 0.5) * 8.0
        elif levels > 0:
            score = math.floor(raw * levels) / levels / (1.0 + signal)
        else:
            score = raw / (1.0 + signal)
        scores.append(score)
        labels.append(label)
        weights.append(0.25 + 2.0 * c if weighted else 1.0)
    return np.array(scores), np.array(labels), np.array(weights)


def ece(scores, labels, weights, bins=10):
    idx = np.minimum((scores * bins).astype(np.int64), bins - 1)
    total = weights.sum()
    out = 0.0
    for b in range(bins):
        m = idx == b
        w = weights[m].sum()
        if w > 0:
            out += w / total * abs(np.average(labels[m], weights=weights[m]) -
                                   np.average(scores[m], weights=weights[m]))
    return out


def binary_golden(params):
    s, y, w = make_case(**params)
    fpr, tpr, thr = roc_curve(y, s, sample_weight=w)
    ks_index = int(np.argmax(np.abs(tpr - fpr)))
    p, r, t = precision_recall_curve(y, s, sample_weight=w)
    with np.errstate(all="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)[:-1]
    best = int(np.argmax(f1[::-1]))  # the highest threshold among equal F1 (Kiln's tie rule)
    best = len(f1) - 1 - best
    predicted = (s >= 0.5).astype(float)
    out = {
        "params": params,
        "auroc": roc_auc_score(y, s, sample_weight=w),
        "average_precision": average_precision_score(y, s, sample_weight=w),
        "ks": float(np.abs(tpr - fpr)[ks_index]),
        "precision_at_0.5": precision_score(y, predicted, sample_weight=w, zero_division=0),
        "recall_at_0.5": recall_score(y, predicted, sample_weight=w, zero_division=0),
        "f1_at_0.5": f1_score(y, predicted, sample_weight=w, zero_division=0),
        "best_f1": float(f1[best]),
        "best_f1_threshold": float(t[best]),
        "probabilities": bool(s.min() >= 0 and s.max() <= 1),
    }
    if out["probabilities"]:
        out["log_loss"] = log_loss(y, s, sample_weight=w, labels=[0, 1])
        out["brier"] = brier_score_loss(y, s, sample_weight=w)
        out["ece"] = ece(s, y, w)
    return out


def regression_golden(seed, n, weighted):
    rng = SplitMix64(seed)
    y, p, w = [], [], []
    for _ in range(n):
        a, b, c = rng.uniform(), rng.uniform(), rng.uniform()
        target = 10.0 * a - 3.0
        y.append(target)
        p.append(target + (b - 0.5) * 2.0)
        w.append(0.25 + 2.0 * c if weighted else 1.0)
    y, p, w = np.array(y), np.array(p), np.array(w)
    return {"params": {"seed": seed, "n": n, "weighted": weighted},
            "rmse": math.sqrt(mean_squared_error(y, p, sample_weight=w)),
            "mae": mean_absolute_error(y, p, sample_weight=w),
            "r2": r2_score(y, p, sample_weight=w)}


def delong_golden(seed, n, tie_levels, signal_b):
    """Two scorings of the same rows; DeLong's test written from the paper's definitions:
    psi over every (positive, negative) pair, placement values, their sample covariances."""
    rng = SplitMix64(seed)
    y, a, b = [], [], []
    for _ in range(n):
        u, v, w = rng.uniform(), rng.uniform(), rng.uniform()
        label = 1.0 if u < 0.3 else 0.0
        y.append(label)
        a.append(math.floor((v + 0.4 * label) * tie_levels) / tie_levels)
        b.append(math.floor((w + signal_b * label) * tie_levels) / tie_levels)
    y, a, b = np.array(y), np.array(a), np.array(b)

    def placements(s):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(axis=1), psi.mean(axis=0), psi.mean()

    v10a, v01a, auc_a = placements(a)
    v10b, v01b, auc_b = placements(b)
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    m, k = len(v10a), len(v01a)
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / k
    z = (auc_a - auc_b) / math.sqrt(var)
    from scipy.stats import norm
    return {"params": {"seed": seed, "n": n, "tie_levels": tie_levels, "signal_b": signal_b},
            "auroc_a": auc_a, "auroc_b": auc_b, "z": z, "p_value": 2 * norm.sf(abs(z)),
            "sklearn_auroc_a": roc_auc_score(y, a)}


def main():
    golden = {"binary": {name: binary_golden(p) for name, p in CASES.items()},
              "delong": {"ties": delong_golden(11, 3000, 20, 0.25),
                         "close": delong_golden(12, 4000, 100000, 0.38)},
              "regression": {"plain": regression_golden(7, 10000, False),
                             "weighted": regression_golden(8, 10000, True)}}
    print(json.dumps(golden, indent=1))


if __name__ == "__main__":
    main()
