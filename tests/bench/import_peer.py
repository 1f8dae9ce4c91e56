#!/usr/bin/env python3
"""The CSV import benchmark's data and its peer.

  import_peer.py make FILE [--rows 1000000]
      writes a CSV of 20 float columns (N(0,1), as float32 prints them), 2 text columns (4
      and 500 values) and a 0/1 label, seeded
  import_peer.py run FILE OUT.h5
      what a Python pipeline does to the same end: pandas.read_csv, the text columns
      factorized to int32 codes, every column written to OUT.h5 with h5py (float32, chunks of
      65,536 rows, as Kiln's shards); prints {"who": "peer", "seconds": ..., "peak_rss_mb": ...}
  import_peer.py kiln FILE OUT_DIR --kiln BIN
      times `kiln data import --csv FILE --out OUT_DIR --label label` the same way
"""
import argparse
import json
import resource
import subprocess
import time

import numpy as np


def make(path, rows):
    import pandas as pd
    r = np.random.default_rng(0)
    table = pd.DataFrame(r.normal(size=(rows, 20)).astype("float32"),
                         columns=[f"f{i}" for i in range(20)])
    table["c1"] = r.choice(["alpha", "beta", "gamma", "delta"], rows)
    table["c2"] = r.integers(0, 500, rows).astype(str)
    table["c2"] = "x" + table["c2"]
    table["label"] = r.integers(0, 2, rows)
    table.to_csv(path, index=False)


def run(path, out):
    import h5py
    import pandas as pd
    start = time.perf_counter()
    table = pd.read_csv(path)
    with h5py.File(out, "w") as f:
        for name in table.columns:
            column = table[name]
            if not pd.api.types.is_numeric_dtype(column):
                values = pd.factorize(column)[0].astype("int32")
            else:
                values = column.to_numpy(dtype="float32")
            f.create_dataset(name, data=values, chunks=(min(65536, len(values)),))
    seconds = time.perf_counter() - start
    print(json.dumps({"who": "peer", "seconds": seconds,
                      "peak_rss_mb": peak_rss_mb(resource.RUSAGE_SELF)}))


def peak_rss_mb(who):
    return resource.getrusage(who).ru_maxrss / 1024


def kiln(binary, path, out):
    start = time.perf_counter()
    subprocess.run([binary, "data", "import", "--csv", path, "--out", out, "--label", "label"],
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    print(json.dumps({"who": "kiln", "seconds": seconds,
                      "peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN)}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["make", "run", "kiln"])
    parser.add_argument("file")
    parser.add_argument("out", nargs="?")
    parser.add_argument("--rows", type=int, default=1000000)
    parser.add_argument("--kiln")
    a = parser.parse_args()
    if a.mode == "make":
        make(a.file, a.rows)
    elif a.mode == "run":
        run(a.file, a.out)
    else:
        kiln(a.kiln, a.file, a.out)


if __name__ == "__main__":
    main()
