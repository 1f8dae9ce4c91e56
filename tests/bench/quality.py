#!/usr/bin/env python3
"""Model quality on real tables: Kiln's built-in defaults against scikit-learn's logistic
regression and HistGradientBoosting, LightGBM, XGBoost and RealMLP-TD (pytabkit), on the
same splits in the same run. Prints one JSON line per dataset and contender, then a table.

  quality.py --kiln BIN --datasets DIR --out DIR [--seeds 0,1,2] [--only a,b]
             [--contenders kiln,logistic,hgb,lightgbm,xgboost,realmlp] [--dev]
             [--synth fraud,credit --synth-rows 500000 --synth-contenders ...]
             [--kiln-args k=v ...]

Logistic regression and HistGradientBoosting get the preparation that made the datasets'
reference.json: median imputation and standardization of numeric columns, one-hot
categoricals. A dataset is NAME.train.csv and NAME.test.csv (label column `label`, 0/1; text columns are
categorical). For each seed the train file is cut 80/20 into train and valid with a seeded
shuffle: Kiln trains on train and early-stops on valid (`kiln data import`, then `kiln fit`
with nothing but the data paths and run.seed), and so does RealMLP-TD (its validation set);
logistic regression and the boosted trees fit the whole train file with their defaults.
Every contender scores the test file; AUROC and AP come from scikit-learn for all alike.
The last line gives, per real table, Kiln's mean AUROC minus the better of logistic regression
and HistGradientBoosting, and (`ci95`) that difference's 95% interval from a paired bootstrap
of the test rows: how much of a gap the test set's size alone could make.

--dev never reads the test files, for developing defaults without tuning on them: the train
file is cut into --folds folds (a seeded order), and seed s holds fold s mod --folds out as
its test set; the rest is what that seed cuts into train and valid.

--synth runs `kiln data synth --preset P --rows N` and uses its train/valid/test splits (valid
for early stopping; the trees fit train).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

ALL = ["kiln", "logistic", "hgb", "lightgbm", "xgboost", "realmlp"]


def run(cmd, log):
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} {cmd[1]} exited {done.returncode}; see {log}")


def split(frame, fraction, seed):
    """The rows of `frame` in a seeded order, cut at `fraction`."""
    order = np.random.default_rng(seed).permutation(len(frame))
    cut = int(round(fraction * len(frame)))
    return frame.iloc[order[:cut]].reset_index(drop=True), frame.iloc[order[cut:]].reset_index(drop=True)


def columns(frame):
    numeric = [c for c in frame.columns if c != "label" and pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in frame.columns if c != "label" and c not in numeric]
    return numeric, categorical


def as_model_input(frame, categorical):
    x = frame.drop(columns=["label"]).copy()
    for c in categorical:
        x[c] = x[c].astype("category")
    return x


def peer(name, train, valid, test, seed):
    """Scores of the test rows from one contender fitted on train (and valid where it takes
    one)."""
    numeric, categorical = columns(train)
    y = train["label"].to_numpy()
    if name in ("logistic", "hgb"):  # as ../shared/datasets/reference.json was made
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler
        # One-hot vectors stay sparse for the logistic regression (the synth presets' 14K
        # merchants would be a 40 GiB dense matrix); the trees get at most 64 per column (the
        # rest one "infrequent" column): none of the real tables has more categories.
        sparse = name == "logistic"
        prep = ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                  OneHotEncoder(handle_unknown="infrequent_if_exist" if not sparse
                                                else "ignore", sparse_output=sparse,
                                                max_categories=None if sparse else 64)),
             categorical)])
        estimator = (LogisticRegression(max_iter=1000) if name == "logistic"
                     else HistGradientBoostingClassifier(random_state=seed))
        model = make_pipeline(prep, estimator).fit(train.drop(columns=["label"]), y)
        return model.predict_proba(test.drop(columns=["label"]))[:, 1]
    x_train, x_test = as_model_input(train, categorical), as_model_input(test, categorical)
    for c in categorical:  # the test rows' categories in the train split's order
        x_test[c] = pd.Categorical(x_test[c], categories=x_train[c].cat.categories)
    if name == "lightgbm":
        import lightgbm
        model = lightgbm.LGBMClassifier(random_state=seed, verbose=-1).fit(x_train, y)
        return model.predict_proba(x_test)[:, 1]
    if name == "xgboost":
        import xgboost
        model = xgboost.XGBClassifier(enable_categorical=True, tree_method="hist", random_state=seed)
        return model.fit(x_train, y).predict_proba(x_test)[:, 1]
    if name == "realmlp":
        from pytabkit import RealMLP_TD_Classifier
        x_valid = as_model_input(valid, categorical)
        for c in categorical:
            x_valid[c] = pd.Categorical(x_valid[c], categories=x_train[c].cat.categories)
        # RealMLP takes no missing numbers: the train split's medians, as for the others.
        medians = x_train[numeric].median()
        for x in (x_train, x_valid, x_test):
            x[numeric] = x[numeric].fillna(medians)
        model = RealMLP_TD_Classifier(random_state=seed, device="cpu", verbosity=0)
        model.fit(x_train, y, x_valid, valid["label"].to_numpy())
        return model.predict_proba(x_test)[:, 1]
    raise ValueError(name)


def kiln(args, name, work, data, train, valid, test, seed, log):
    """Kiln's defaults: import the three splits into `data` (valid and test with train's
    codes; kept for later runs on the same splits), fit, predict; the test rows' scores and
    the fit's wall time."""
    os.makedirs(work, exist_ok=True)
    os.makedirs(data, exist_ok=True)
    paths = {}
    for split_name, frame in (("train", train), ("valid", valid), ("test", test)):
        if isinstance(frame, str):  # a Kiln dataset already (synth)
            paths[split_name] = frame
            continue
        out = os.path.join(data, split_name)
        paths[split_name] = out
        if os.path.exists(os.path.join(out, "dataset.json")):
            continue
        csv = os.path.join(data, split_name + ".csv")
        frame.to_csv(csv, index=False)
        cmd = [args.kiln, "data", "import", "--csv", csv, "--out", out, "--label", "label",
               "--positive", "1"]
        if split_name != "train":
            cmd += ["--like", paths["train"]]
        run(cmd, log)
    shutil.rmtree(os.path.join(work, "runs"), ignore_errors=True)  # a rerun starts afresh
    start = time.time()
    run([args.kiln, "fit", f"data.train={paths['train']}", f"data.valid={paths['valid']}",
         f"run.seed={seed}", f"run.dir={work}/runs", "run.experiment=quality", f"run.name={name}"]
        + args.kiln_args, log)
    seconds = time.time() - start
    scores = os.path.join(work, "scores.csv")
    run([args.kiln, "predict", "--model", f"{work}/runs/quality/{name}", "--data", paths["test"],
         "--out", scores], log)
    return pd.read_csv(scores)["score"].to_numpy(), seconds


def load_synth(args, preset):
    """A synth preset's splits as Kiln datasets and as frames (for the peers)."""
    import h5py
    directory = os.path.join(args.out, f"synth-{preset}-{args.synth_rows}")
    if not os.path.exists(os.path.join(directory, "test", "dataset.json")):
        subprocess.run([args.kiln, "data", "synth", "--preset", preset, "--rows",
                        str(args.synth_rows), "--seed", "1", "--out", directory], check=True,
                       stdout=subprocess.DEVNULL)
    frames = {}
    for split_name in ("train", "valid", "test"):
        d = os.path.join(directory, split_name)
        manifest = json.load(open(os.path.join(d, "dataset.json")))
        cols = {c["name"]: [] for c in manifest["columns"] if c["role"] in ("numeric", "categorical", "label")}
        roles = {c["name"]: c["role"] for c in manifest["columns"]}
        for shard in manifest["shards"]:
            with h5py.File(os.path.join(d, shard["path"]), "r") as f:
                for name in cols:
                    cols[name].append(f["columns"][name][...])
        frame = pd.DataFrame({n: np.concatenate(p) for n, p in cols.items()})
        label = next(n for n in cols if roles[n] == "label")
        frame = frame.rename(columns={label: "label"})
        for n in cols:
            if roles[n] == "categorical":
                frame[n] = frame[n].astype("int64").astype(str)  # codes as text: categorical
        frames[split_name] = (d, frame)
    return frames


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiln", required=True)
    parser.add_argument("--datasets", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--only", default="")
    parser.add_argument("--contenders", default=",".join(ALL))
    parser.add_argument("--dev", action="store_true")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cache", default="", help="where imported datasets are kept (default --out)")
    parser.add_argument("--synth", default="")
    parser.add_argument("--synth-rows", type=int, default=500000)
    parser.add_argument("--synth-contenders", default="",
                        help="the contenders on the synth presets (default: --contenders)")
    parser.add_argument("--kiln-args", nargs="*", default=[])
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    log = os.path.join(args.out, "quality.log")
    seeds = [int(s) for s in args.seeds.split(",")]
    contenders = args.contenders.split(",")
    names = sorted(f[:-len(".train.csv")] for f in os.listdir(args.datasets) if f.endswith(".train.csv"))
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    jobs = [(n, None) for n in names] + [(f"synth-{p}", p) for p in args.synth.split(",") if p]
    synth_contenders = args.synth_contenders.split(",") if args.synth_contenders else contenders
    results = {}
    test_scores = {}  # (dataset, contender, seed) -> (test set's key, labels, scores)
    for name, preset in jobs:
        if preset is None:
            whole = pd.read_csv(os.path.join(args.datasets, name + ".train.csv"))
            test = None if args.dev else pd.read_csv(os.path.join(args.datasets, name + ".test.csv"))
        else:
            frames = load_synth(args, preset)
        for contender in contenders if preset is None else [c for c in contenders if c in synth_contenders]:
            for seed in seeds:
                if preset is None:
                    if args.dev:
                        fold = np.arange(len(whole)) * args.folds // len(whole) == seed % args.folds
                        shuffled = split(whole, 1.0, 1000)[0]
                        test = shuffled[fold].reset_index(drop=True)
                        rest = shuffled[~fold].reset_index(drop=True)
                    else:
                        rest = whole
                    train, valid = split(rest, 0.8, seed)
                    kiln_splits = (train, valid, test)
                    peer_train = rest if contender not in ("realmlp",) else train
                    y_test = test["label"].to_numpy()
                else:
                    train, valid, test_frame = (frames[s][1] for s in ("train", "valid", "test"))
                    kiln_splits = tuple(frames[s][0] for s in ("train", "valid", "test"))
                    peer_train, test = train, test_frame
                    y_test = test_frame["label"].to_numpy()
                start = time.time()
                try:
                    if contender == "kiln":
                        work = os.path.join(args.out, name, f"seed{seed}")
                        data = os.path.join(args.cache or args.out, "data",
                                            f"dev{args.folds}" if args.dev else "test", name,
                                            f"seed{seed}")
                        scores, seconds = kiln(args, name, work, data, *kiln_splits, seed, log)
                    else:
                        scores = peer(contender, peer_train, valid, test, seed)
                        seconds = time.time() - start
                except Exception as e:  # a contender that fails is reported, not fatal
                    print(json.dumps({"dataset": name, "contender": contender, "seed": seed,
                                      "error": str(e)}), flush=True)
                    continue
                row = {"dataset": name, "contender": contender, "seed": seed,
                       "auroc": roc_auc_score(y_test, scores),
                       "ap": average_precision_score(y_test, scores), "seconds": seconds}
                print(json.dumps(row), flush=True)
                results.setdefault((name, contender), []).append(row)
                if preset is None:
                    test_key = seed % args.folds if args.dev else 0  # seeds that share a test set
                    test_scores[(name, contender, seed)] = (test_key, y_test, np.asarray(scores))
    # The tables: mean over seeds per dataset and contender (AUROC, AP, seconds); the AUROC
    # table's last row is the mean over the real tables, and the Kiln-vs-peers checks follow.
    real = [n for n, preset in jobs if preset is None]
    means = {}
    for metric, form in (("auroc", "{:.4f}"), ("ap", "{:.4f}"), ("seconds", "{:.1f}")):
        print()
        header = [f"{metric}: dataset"] + contenders
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for name, _ in jobs:
            cells = [name]
            for c in contenders:
                rows = results.get((name, c), [])
                value = float(np.mean([r[metric] for r in rows])) if rows else None
                if value is not None:
                    means[(name, c, metric)] = value
                cells.append("—" if value is None else form.format(value))
            print("| " + " | ".join(cells) + " |")
        if metric == "auroc" and real:
            cells = [f"mean of the {len(real)} real tables"]
            for c in contenders:
                values = [means.get((n, c, metric)) for n in real]
                cells.append("—" if None in values else form.format(float(np.mean(values))))
            print("| " + " | ".join(cells) + " |")
    if "kiln" in contenders and {"logistic", "hgb"} <= set(contenders):
        best = {n: max(("logistic", "hgb"), key=lambda c: means[(n, c, "auroc")])
                for n in real if all((n, c, "auroc") in means for c in ("kiln", "logistic", "hgb"))}
        gaps = {n: means[(n, "kiln", "auroc")] - means[(n, peer, "auroc")] for n, peer in best.items()}
        print(json.dumps({"kiln_minus_best_of_logistic_hgb": gaps,
                          "worst": min(gaps.values()) if gaps else None,
                          "mean": float(np.mean(list(gaps.values()))) if gaps else None,
                          "ci95": {n: paired_bootstrap(test_scores, n, "kiln", best[n], seeds)
                                   for n in gaps}}))


def paired_bootstrap(test_scores, name, a, b, seeds, draws=1000):
    """A 95% interval of (a's AUROC − b's), each the mean over the seeds, on `name`'s test
    rows: each draw resamples every test set's positives and negatives with replacement (one
    resample for the seeds that share a test set), and scores both contenders on it."""
    pairs = [(test_scores[(name, a, s)], test_scores[(name, b, s)]) for s in seeds
             if (name, a, s) in test_scores and (name, b, s) in test_scores]
    if not pairs:
        return None
    classes = {key: (np.flatnonzero(y == 1), np.flatnonzero(y == 0)) for (key, y, _), _ in pairs}
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(draws):
        rows = {key: np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
                for key, (pos, neg) in classes.items()}
        diffs.append(np.mean([roc_auc_score(y[rows[key]], sa[rows[key]]) -
                              roc_auc_score(y[rows[key]], sb[rows[key]])
                              for (key, y, sa), (_, _, sb) in pairs]))
    return [float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975))]


if __name__ == "__main__":
    sys.exit(main())
