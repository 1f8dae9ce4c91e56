#!/usr/bin/env python3
"""Checks, with scikit-learn as the independent judge, that `kiln data synth` data carries
non-linear signal: a gradient-boosted model must beat logistic regression on the valid
split. Prints JSON with both AUROCs.

  synth_signal.py SYNTH_DIR [--rows N]

Logistic regression gets the usual preparation (signed log1p, median imputation,
standardization) on the numeric columns; the boosted model gets every column raw.
"""
import argparse
import json
import os

import h5py
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def load(directory, limit):
    manifest = json.load(open(os.path.join(directory, "dataset.json")))
    roles = {c["name"]: c["role"] for c in manifest["columns"]}
    columns = {name: [] for name in roles}
    for shard in manifest["shards"]:
        with h5py.File(os.path.join(directory, shard["path"]), "r") as f:
            for name in columns:
                columns[name].append(f["columns"][name][...])
    columns = {name: np.concatenate(parts)[:limit] for name, parts in columns.items()}
    numeric = [n for n in roles if roles[n] == "numeric"]
    categorical = [n for n in roles if roles[n] == "categorical"]
    label = next(n for n in roles if roles[n] == "label")
    return (np.column_stack([columns[n] for n in numeric]).astype(np.float64),
            np.column_stack([columns[n] for n in categorical]).astype(np.float64),
            columns[label])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--rows", type=int, default=400000)
    args = parser.parse_args()
    num_tr, cat_tr, y_tr = load(os.path.join(args.directory, "train"), args.rows)
    num_va, cat_va, y_va = load(os.path.join(args.directory, "valid"), args.rows)

    def prepare(x, median, mean=None, std=None):
        z = np.sign(x) * np.log1p(np.abs(x))
        z = np.where(np.isnan(z), median, z)
        return z if mean is None else (z - mean) / std

    logged = np.sign(num_tr) * np.log1p(np.abs(num_tr))
    median = np.nanmedian(logged, axis=0)
    z_tr = prepare(num_tr, median)
    mean, std = z_tr.mean(axis=0), z_tr.std(axis=0) + 1e-9
    logistic = LogisticRegression(max_iter=2000).fit((z_tr - mean) / std, y_tr)
    auc_logistic = roc_auc_score(y_va, logistic.predict_proba(prepare(num_va, median, mean, std))[:, 1])

    boosted = HistGradientBoostingClassifier(max_iter=300, random_state=0).fit(
        np.hstack([num_tr, cat_tr]), y_tr)
    auc_boosted = roc_auc_score(y_va, boosted.predict_proba(np.hstack([num_va, cat_va]))[:, 1])
    print(json.dumps({"train_rows": int(len(y_tr)), "valid_rows": int(len(y_va)),
                      "positive_rate": float(y_tr.mean()), "logistic_auroc": auc_logistic,
                      "boosted_auroc": auc_boosted}))


if __name__ == "__main__":
    main()
