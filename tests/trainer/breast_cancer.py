#!/usr/bin/env python3
"""scikit-learn's breast-cancer data (the CSV that ships inside the scikit-learn package) as
three CSV files with a header row, for `kiln data import`: train (60%), valid (20%) and
test (20%), stratified, seeded. Column names are scikit-learn's feature names with spaces
replaced by underscores; the label is `malignant` (1 for malignant, 0 for benign).

  breast_cancer.py OUT_DIR
"""
import csv
import os
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    data = load_breast_cancer()
    x, y = data.data, (data.target == 0).astype(int)  # scikit-learn's target 0 is malignant
    names = [n.replace(" ", "_") for n in data.feature_names]
    ids = np.arange(len(y))
    x_train, x_rest, y_train, y_rest, id_train, id_rest = train_test_split(
        x, y, ids, test_size=0.4, stratify=y, random_state=7)
    x_valid, x_test, y_valid, y_test, id_valid, id_test = train_test_split(
        x_rest, y_rest, id_rest, test_size=0.5, stratify=y_rest, random_state=7)
    for split, xs, ys in (("train", x_train, y_train), ("valid", x_valid, y_valid),
                          ("test", x_test, y_test)):
        with open(os.path.join(out, split + ".csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(names + ["malignant"])
            for row, label in zip(xs, ys):
                w.writerow([repr(float(v)) for v in row] + [int(label)])
    print(f"train {len(y_train)}, valid {len(y_valid)}, test {len(y_test)} rows in {out}")


if __name__ == "__main__":
    main()
