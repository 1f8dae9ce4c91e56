#!/usr/bin/env python3
"""Golden values of the drift statistics (eval/drift.h) from numpy and scipy.

  drift_golden.py INPUT.json OUTPUT.json

INPUT: {"bins": [[reference counts, current counts], ...],
        "samples": [[sorted a, sorted b], ...] (equal sizes),
        "ks": [[d, n, m], ...], "gamma": [[a, x], ...]}
OUTPUT: per bins pair {psi, js, chi2, chi2_p}; per samples pair {ks, wasserstein};
        per ks triple the p-value; per gamma pair Q(a, x).
"""
import json
import sys

import numpy as np
from scipy import special, stats
from scipy.spatial import distance

EMPTY = 1e-4  # Evidently's share of an empty bin in PSI


def psi(r, c):
    r = np.asarray(r, float) / np.sum(r)
    c = np.asarray(c, float) / np.sum(c)
    r = np.where(r == 0, EMPTY, r)
    c = np.where(c == 0, EMPTY, c)
    return float(np.sum((c - r) * np.log(c / r)))


def chi2(r, c):
    r, c = np.asarray(r, float), np.asarray(c, float)
    expected = np.where(r > 0, r / r.sum() * c.sum(), EMPTY * c.sum())
    # scipy wants the totals equal; Kiln's expected counts do not add up when a category is
    # new, so the statistic is computed as Pearson's sum and the p-value from chi2.sf.
    statistic = float(np.sum((c - expected) ** 2 / expected))
    if np.all(r > 0):
        s, p = stats.chisquare(c, expected)
        assert abs(s - statistic) <= 1e-9 * max(1, statistic)
    return statistic, float(stats.chi2.sf(statistic, len(r) - 1))


def main():
    inp = json.load(open(sys.argv[1]))
    out = {"bins": [], "samples": [], "ks": [], "gamma": []}
    for r, c in inp["bins"]:
        s, p = chi2(r, c)
        out["bins"].append({"psi": psi(r, c), "js": float(distance.jensenshannon(r, c)),
                            "chi2": s, "chi2_p": p})
    for a, b in inp["samples"]:
        out["samples"].append({"ks": float(stats.ks_2samp(a, b).statistic),
                               "wasserstein": float(stats.wasserstein_distance(a, b))})
    for d, n, m in inp["ks"]:
        out["ks"].append(float(stats.kstwobign.sf(np.sqrt(n * m / (n + m)) * d)))
    for a, x in inp["gamma"]:
        out["gamma"].append(float(special.gammaincc(a, x)))
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
