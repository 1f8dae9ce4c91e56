#!/usr/bin/env python3
"""Fine-tuning (`kiln fit --init`) against training anew, on real tables' train files only
(their test files are never read), for choosing `optim.lr: auto` when fine-tuning.

  finetune.py --kiln BIN --datasets DIR --out DIR [--only a,b] [--seeds 0,1,2]
              [--lrs 1e-3,3e-4,1e-4]

For each table and seed the train file's rows are shuffled and cut: 20% held out, 40% "old"
and 40% "new", each of old and new cut 80/20 into train and valid (imported with --like the
old train split, so that codes agree). A is `kiln fit` on old. Scored on the held-out rows
(AUROC, scikit-learn): A itself; a new model on new; A fine-tuned on new at each learning
rate; a new model on old and new together. Prints one JSON line per table and seed, then
the means.
"""
import argparse
import collections
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--datasets", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="wa_churn,stackoverflow,cells,attrition")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--lrs", default="1e-3,3e-4,1e-4")
    a = ap.parse_args()
    lrs = a.lrs.split(",")
    rows = []
    for table in a.only.split(","):
        for seed in map(int, a.seeds.split(",")):
            out = os.path.join(a.out, f"{table}_{seed}")
            r = one(a.kiln, os.path.join(a.datasets, f"{table}.train.csv"), seed, out, lrs)
            r.update(table=table, seed=seed)
            print(json.dumps(r), flush=True)
            rows.append(r)
    keys = ["A", "new"] + [f"init lr {lr}" for lr in lrs] + ["old+new"]
    by = collections.defaultdict(list)
    for r in rows:
        by[r["table"]].append(r)
    print("| table | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for table, rs in list(by.items()) + [("mean", rows)]:
        print(f"| {table} | " + " | ".join(f"{np.mean([r[k] for r in rs]):.4f}" for k in keys) +
              " |")


def one(kiln, csv, seed, out, lrs):
    df = pd.read_csv(csv)
    order = np.random.default_rng(seed).permutation(len(df))
    n = len(df)
    held, old, new = np.split(order, [n // 5, n // 5 + 2 * n // 5])
    os.makedirs(out, exist_ok=True)
    frames = {"hold": df.iloc[held]}
    for name, part in [("old", old), ("new", new)]:
        cut = int(len(part) * 0.8)
        frames[f"{name}_train"], frames[f"{name}_valid"] = df.iloc[part[:cut]], df.iloc[part[cut:]]
    for split in ["train", "valid"]:
        frames[f"all_{split}"] = pd.concat([frames[f"old_{split}"], frames[f"new_{split}"]])

    def run(*args):
        done = subprocess.run([kiln, *args], capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"kiln {' '.join(args)}: exit {done.returncode}\n{done.stderr[-3000:]}")

    for name, frame in frames.items():
        frame.to_csv(f"{out}/{name}.csv", index=False)
    run("data", "import", "--csv", f"{out}/old_train.csv", "--out", f"{out}/d/old_train",
        "--label", "label")
    for name in frames:
        if name != "old_train":
            run("data", "import", "--csv", f"{out}/{name}.csv", "--out", f"{out}/d/{name}",
                "--like", f"{out}/d/old_train")

    def fit(name, split, *more):
        run("fit", f"data.train={out}/d/{split}_train", f"data.valid={out}/d/{split}_valid",
            f"run.dir={out}/runs", f"run.name={name}", f"run.seed={seed}", *more)
        return f"{out}/runs/default/{name}"

    def auroc(model):
        run("predict", "--model", model, "--data", f"{out}/d/hold", "--out", f"{out}/p.csv")
        p = pd.read_csv(f"{out}/p.csv")
        return roc_auc_score(p["label"], p["score"])

    first = fit("A", "old")
    r = {"A": auroc(first), "new": auroc(fit("new", "new"))}
    for lr in lrs:
        r[f"init lr {lr}"] = auroc(fit(f"init_{lr}", "new", "--init", first, f"optim.lr={lr}"))
    r["old+new"] = auroc(fit("all", "all"))
    return r


if __name__ == "__main__":
    main()
