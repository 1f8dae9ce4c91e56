#!/usr/bin/env python3
"""Kiln's drift verdicts side by side with Evidently's DataDriftPreset (method "auto" on
both sides) on the same reference and current data: synth's drift scenarios (fraud and
credit; none, covariate, prior and concept drift; train against oot) and the real tables
of ../shared/datasets (train against test). Prints a JSON summary (agreement per pair and
overall, every disagreement with both sides' method and score) and exits 1 when fewer than
95% of the columns agree.

  evidently_agreement.py KILN WORKDIR [DATASETS_DIR]

Needs evidently (and pandas < 3, which its 0.7 releases need) in this Python. Both sides get
the feature columns (the label apart); Evidently gets them as pandas columns read from
Kiln's shards with h5py: numeric as float64, categorical codes as strings (missing: None).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from profile_check import columns  # noqa: E402  (h5py's reading of a Kiln dataset)

from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402


def kiln(binary, *args):
    result = subprocess.run([binary, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kiln {' '.join(args)}: {result.stderr[-2000:]}")
    return result.stdout


def frame(dataset, schema):
    data = columns(dataset)
    out = {}
    for c in schema:
        v = data[c["name"]]
        if c["role"] == "numeric":
            out[c["name"]] = v.astype(np.float64)
        else:
            out[c["name"]] = pd.Series([str(x) if x >= 0 else None for x in v.tolist()], dtype=object)
    return pd.DataFrame(out)


def evidently_verdicts(reference, current, schema):
    """Evidently's verdict per column of two pandas frames (frame())."""
    numeric = [c["name"] for c in schema if c["role"] == "numeric"]
    categorical = [c["name"] for c in schema if c["role"] == "categorical"]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    report = Report([DataDriftPreset()])
    snapshot = report.run(Dataset.from_pandas(current, data_definition=definition),
                          Dataset.from_pandas(reference, data_definition=definition))
    out = {}
    for m in snapshot.dict()["metrics"]:
        config = m["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        method, threshold, value = config["method"], config["threshold"], m["value"]
        tested = "p_value" in method or "test" in method.lower()
        drifted = value < threshold if tested else value >= threshold
        out[config["column"]] = {"method": method, "score": value, "drifted": bool(drifted)}
    return out


def compare(binary, name, reference, current, work):
    report = json.loads(kiln(binary, "drift", "--reference", reference, "--data", current,
                             "--out", os.path.join(work, "drift", name), "--json"))
    meta = json.load(open(os.path.join(reference, "dataset.json")))
    schema = [c for c in meta["columns"] if c["role"] in ("numeric", "categorical")]
    theirs = evidently_verdicts(frame(reference, schema), frame(current, schema), schema)
    rows = []
    for c in report["columns"]:
        if c["role"] == "label":
            continue
        e = theirs.get(c["name"])
        rows.append({"column": c["name"], "kiln": {"method": c["method"], "score": c["score"],
                                                   "drifted": c["drifted"]},
                     "evidently": e, "agree": e is not None and e["drifted"] == c["drifted"]})
    return rows


def main():
    binary, work = sys.argv[1], os.path.abspath(sys.argv[2])
    datasets = sys.argv[3] if len(sys.argv) > 3 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets")
    os.makedirs(work, exist_ok=True)
    pairs = []
    for preset in ("fraud", "credit"):
        for kind in ("none", "covariate", "prior", "concept"):
            out = os.path.join(work, f"synth_{preset}_{kind}")
            if not os.path.exists(os.path.join(out, "oot", "dataset.json")):
                kiln(binary, "data", "synth", "--out", out, "--rows", "60000", "--seed", "5",
                     "--preset", preset, "--drift", kind)
            pairs.append((f"synth {preset} {kind}", f"{out}/train", f"{out}/oot"))
    if os.path.isdir(datasets):
        for table in sorted(f[:-len(".train.csv")] for f in os.listdir(datasets)
                            if f.endswith(".train.csv")):
            out = os.path.join(work, table)
            if not os.path.exists(os.path.join(out, "test", "dataset.json")):
                kiln(binary, "data", "import", "--csv", f"{datasets}/{table}.train.csv", "--out",
                     f"{out}/train", "--label", "label", "--positive", "1")
                kiln(binary, "data", "import", "--csv", f"{datasets}/{table}.test.csv", "--out",
                     f"{out}/test", "--label", "label", "--positive", "1", "--like", f"{out}/train")
            pairs.append((table, f"{out}/train", f"{out}/test"))
    summary = {"pairs": [], "columns": 0, "agree": 0, "disagreements": []}
    for name, reference, current in pairs:
        rows = compare(binary, name.replace(" ", "_"), reference, current, work)
        agree = sum(r["agree"] for r in rows)
        summary["pairs"].append({"pair": name, "columns": len(rows), "agree": agree,
                                 "kiln_drifted": sum(r["kiln"]["drifted"] for r in rows),
                                 "evidently_drifted": sum(bool(r["evidently"] and r["evidently"]["drifted"])
                                                          for r in rows)})
        summary["columns"] += len(rows)
        summary["agree"] += agree
        summary["disagreements"] += [dict(r, pair=name) for r in rows if not r["agree"]]
    summary["agreement"] = summary["agree"] / max(summary["columns"], 1)
    print(json.dumps(summary, indent=1))
    sys.exit(0 if summary["agreement"] >= 0.95 else 1)


if __name__ == "__main__":
    main()
