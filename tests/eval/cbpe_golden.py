#!/usr/bin/env python3
"""Golden values of the isotonic calibration and the CBPE AUROC estimate
(eval/performance_estimate.h) from scikit-learn and numpy.

  cbpe_golden.py INPUT.json OUTPUT.json

INPUT: {"scores": [validation scores], "labels": [0/1], "weights": [...] or null,
        "current": [scores to estimate on]}
OUTPUT: {"calibrated": [the calibrated probability of each current score],
         "estimated_auroc": NannyML's estimate: the area under the expected ROC}
"""
import json
import sys

import numpy as np
from sklearn.isotonic import IsotonicRegression


def estimated_auroc(p):
    # NannyML's CBPE ROC AUC: thresholds at every calibrated probability, highest first;
    # expected true positives cumsum(p) and false positives cumsum(1 - p); ties grouped.
    p = np.sort(np.asarray(p, float))[::-1]
    values, starts = np.unique(-p, return_index=True)
    ends = np.append(starts[1:], len(p))
    tp = np.concatenate([[0.0], np.cumsum(p)[ends - 1]])
    fp = np.concatenate([[0.0], np.cumsum(1 - p)[ends - 1]])
    tpr, fpr = tp / tp[-1], fp / fp[-1]
    return float(np.trapezoid(tpr, fpr))


def main():
    data = json.load(open(sys.argv[1]))
    model = IsotonicRegression(out_of_bounds="clip")
    model.fit(np.asarray(data["scores"]), np.asarray(data["labels"], float),
              sample_weight=None if data["weights"] is None else np.asarray(data["weights"]))
    calibrated = model.predict(np.asarray(data["current"]))
    json.dump({"calibrated": calibrated.tolist(),
               "estimated_auroc": estimated_auroc(calibrated)}, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
