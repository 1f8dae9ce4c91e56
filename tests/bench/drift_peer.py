#!/usr/bin/env python3
"""The drift benchmark's peer: Evidently's DataDriftPreset on a Kiln reference and current
dataset (read with h5py into pandas first, not timed: Evidently needs the raw reference in
memory). Prints one JSON object: seconds of Report.run, rows, columns, drifted columns.

  drift_peer.py REFERENCE_DIR CURRENT_DIR
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "eval"))
from evidently_agreement import evidently_verdicts, frame  # noqa: E402


def main():
    reference, current = sys.argv[1], sys.argv[2]
    meta = json.load(open(os.path.join(reference, "dataset.json")))
    schema = [c for c in meta["columns"] if c["role"] in ("numeric", "categorical")]
    reference_frame, current_frame = frame(reference, schema), frame(current, schema)
    start = time.perf_counter()
    verdicts = evidently_verdicts(reference_frame, current_frame, schema)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "columns": len(verdicts),
                      "drifted": sum(v["drifted"] for v in verdicts.values())}))


if __name__ == "__main__":
    main()
