#!/usr/bin/env python3
"""Held-out real tables for tests/bench/quality.py: ten binary tables from Debian's R packages
that Kiln's defaults were never developed on (../shared/datasets holds the six they were),
written in the same layout: NAME.train.csv (75%) and NAME.test.csv (25%), a seeded shuffle,
label column `label` (0/1), empty fields missing, text columns categorical.

  apt-get install --no-install-recommends r-cran-modeldata r-cran-kernlab r-cran-mlbench
  heldout_tables.py --out DIR

Then `quality.py --datasets DIR ...` measures the defaults on tables they were not fitted to.
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
import pandas as pd

# name: (R package, R object, data() topic, label column, positive class, columns to drop)
TABLES = {
    "lending_club": ("modeldata", "lending_club", "lending_club", "Class", "bad", []),
    "credit_data": ("modeldata", "credit_data", "credit_data", "Status", "bad", []),
    "mlc_churn": ("modeldata", "mlc_churn", "mlc_churn", "churn", "yes", []),
    "grants": ("modeldata", "grants_other", "grants", "class", "successful", []),
    "pd_speech": ("modeldata", "pd_speech", "pd_speech", "class", "PD", []),
    "ad_data": ("modeldata", "ad_data", "ad_data", "Class", "Impaired", []),
    "spam": ("kernlab", "spam", "spam", "type", "spam", []),
    "breast_cancer": ("mlbench", "BreastCancer", "BreastCancer", "Class", "malignant", ["Id"]),
    "sonar": ("mlbench", "Sonar", "Sonar", "Class", "M", []),
    "house_votes": ("mlbench", "HouseVotes84", "HouseVotes84", "Class", "republican", []),
}


def export(raw):
    """Every table as R writes it: factors as their labels, NA as an empty field."""
    lines = ["suppressMessages({library(modeldata); library(kernlab); library(mlbench)})"]
    for name, (package, obj, topic, *_rest) in TABLES.items():
        path = os.path.join(raw, name + ".csv")
        lines.append(f'e <- new.env(); data(list = "{topic}", package = "{package}", envir = e); '
                     f'write.csv(get("{obj}", envir = e), "{path}", row.names = FALSE, na = "")')
    subprocess.run(["Rscript", "-e", "\n".join(lines)], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as raw:
        export(raw)
        for name, (_package, _obj, _topic, target, positive, drop) in TABLES.items():
            frame = pd.read_csv(os.path.join(raw, name + ".csv"), keep_default_na=False, na_values=[""])
            label = (frame.pop(target).astype(str) == positive).astype(int)
            frame = pd.concat([frame.drop(columns=drop), label.rename("label")], axis=1)
            order = np.random.default_rng(args.seed).permutation(len(frame))
            cut = int(round(0.75 * len(frame)))
            frame.iloc[order[:cut]].to_csv(os.path.join(args.out, name + ".train.csv"), index=False)
            frame.iloc[order[cut:]].to_csv(os.path.join(args.out, name + ".test.csv"), index=False)
            print(f"{name}: {len(frame)} rows, {frame.shape[1] - 1} columns, {label.mean():.3f} positive")


if __name__ == "__main__":
    main()
