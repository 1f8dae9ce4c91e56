#!/usr/bin/env python3
"""One line per kernel from Nsight Compute's CSV (`ncu --csv --page details`) on stdin, for
scripts/gpu-check's table: duration, DRAM throughput and bytes, L2 hit rate, occupancy and
the warps' top stall. Lines that are not CSV (the program's own output, ==PROF== notes)
are skipped.

  ncu --csv --page details ... PROGRAM | ncu_summary.py
"""
import csv
import re
import sys

WANTED = [("Duration", "time"), ("DRAM Throughput", "DRAM"), ("dram__bytes_read.sum", "read"),
          ("dram__bytes_write.sum", "written"), ("Compute (SM) Throughput", "SM"),
          ("smsp__inst_executed.sum", "warp instructions"),
          ("Warp Cycles Per Issued Instruction", "cycles/issue"), ("L2 Hit Rate", "L2 hit"),
          ("Achieved Occupancy", "occupancy"), ("Registers Per Thread", "registers")]


def main():
    rows = [r for r in csv.reader(l for l in sys.stdin if l.startswith('"'))]
    if not rows:
        print("table: ncu printed no metrics")
        return 1
    header, kernels = rows[0], {}
    at = {name: i for i, name in enumerate(header)}
    for r in rows[1:]:
        # Metric rows stop after the value; rule rows add the rule's columns.
        if len(r) <= at["Metric Value"] or r[at["Metric Name"]] == "Metric Name":
            continue
        name = re.sub(r"\(anonymous namespace\)::", "", r[at["Kernel Name"]]).split("(")[0]
        key = (r[at["ID"]], name.split()[-1].split("::")[-1])
        kernels.setdefault(key, {})[r[at["Metric Name"]]] = (r[at["Metric Value"]],
                                                             r[at["Metric Unit"]])
    for (_, name), metrics in kernels.items():
        parts = [f"{label} {metrics[m][0]} {metrics[m][1]}".strip()
                 for m, label in WANTED if m in metrics]
        print(f"table: ncu {name}: " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
