#!/usr/bin/env python3
"""One line per kernel from Nsight Compute's CSV on stdin, for scripts/gpu-check's table.
Lines that are not CSV (the program's own output, ==PROF== notes) are skipped.

  ncu --csv --page details ... PROGRAM | ncu_summary.py
      duration, DRAM throughput and bytes, SM throughput, instructions, cycles per issued
      instruction, L2 hit rate, occupancy and registers
  ncu --csv --page raw --section WarpStateStats ... PROGRAM | ncu_summary.py --stalls
      the warps' five largest stall reasons, in cycles per issued instruction
  ncu --csv --page raw --metrics gpu__time_duration.sum ... PROGRAM | ncu_summary.py --kernels L
      every launch's GPU time added up by kernel (graph nodes one by one): the total, per
      training step (the launches of Kiln's record_step, one a step, counted as steps), and
      the kernels with the most time, their launches and mean time; then every kernel
      (not for the table); L labels the lines
"""
import csv
import re
import sys

WANTED = [("Duration", "time"), ("DRAM Throughput", "DRAM"), ("dram__bytes_read.sum", "read"),
          ("dram__bytes_write.sum", "written"), ("Compute (SM) Throughput", "SM"),
          ("smsp__inst_executed.sum", "warp instructions"),
          ("Warp Cycles Per Issued Instruction", "cycles/issue"), ("L2 Hit Rate", "L2 hit"),
          ("Achieved Occupancy", "occupancy"), ("Registers Per Thread", "registers")]
STALL = re.compile(r"smsp__average_warp_latency_issue_stalled_(\w+?)(?:_per_warp_active)?\.ratio$|"
                   r"smsp__average_warps_issue_stalled_(\w+?)_per_issue_active\.ratio$")


def kernel_name(full):
    name = re.sub(r"\((anonymous namespace|<unnamed>)\)::", "", full).split("(")[0]
    return name.split()[-1].split("::")[-1]


def details(header, rows):
    at = {name: i for i, name in enumerate(header)}
    kernels = {}
    for r in rows:
        # Metric rows stop after the value; rule rows add the rule's columns.
        if len(r) <= at["Metric Value"] or r[at["Metric Name"]] == "Metric Name":
            continue
        key = (r[at["ID"]], kernel_name(r[at["Kernel Name"]]))
        kernels.setdefault(key, {})[r[at["Metric Name"]]] = (r[at["Metric Value"]],
                                                             r[at["Metric Unit"]])
    for (_, name), metrics in kernels.items():
        parts = [f"{label} {metrics[m][0]} {metrics[m][1]}".strip()
                 for m, label in WANTED if m in metrics]
        print(f"table: ncu {name}: " + ", ".join(parts))


def stalls(header, rows):
    """The raw page: one column per metric, a row of units, then one row per kernel."""
    at = {name: i for i, name in enumerate(header)}
    found = False
    for r in rows:
        if len(r) != len(header) or not r[at["ID"]].strip().isdigit():
            continue  # the units row
        reasons = {}
        for name, i in at.items():
            m = STALL.match(name)
            if not m:
                continue
            reason = m.group(1) or m.group(2)
            if reason.endswith("not_issued"):
                continue
            try:
                reasons[reason] = float(r[i].replace(",", ""))
            except ValueError:
                pass
        if reasons:
            found = True
            top = sorted(reasons.items(), key=lambda kv: -kv[1])[:5]
            print(f"table: ncu {kernel_name(r[at['Kernel Name']])} stalls: " +
                  ", ".join(f"{k} {v:.2f}" for k, v in top))
    if not found:
        print("table: ncu stalls: no stall metrics in the CSV")


def kernels(header, rows, label):
    """The raw page with gpu__time_duration.sum: one row per launch after the units row."""
    at = {name: i for i, name in enumerate(header)}
    column = at.get("gpu__time_duration.sum")
    if column is None:
        print(f"table: ncu {label}: no gpu__time_duration.sum in the CSV")
        return
    scale = {"nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3}
    unit, times = 1e-3, {}
    for r in rows:
        if len(r) != len(header):
            continue
        if not r[at["ID"]].strip().isdigit():  # the units row
            unit = scale.get(r[column].strip(), unit)
            continue
        name = re.sub(r"\((anonymous namespace|<unnamed>)\)::|^void |\((bool|int|long)\)|at::native::|"
                      r"std::array<char \*, \d+>", "", r[at["Kernel Name"]]).split("(")[0][:90]
        times.setdefault(name, []).append(float(r[column].replace(",", "")) * unit)
    total = sum(sum(t) for t in times.values())
    launches = sum(len(t) for t in times.values())
    steps = sum(len(t) for name, t in times.items() if "record_step" in name)
    per_step = (f"; {steps} steps: {launches / steps:.1f} launches, {total / steps:.0f} us a step"
                if steps else "")
    print(f"table: ncu {label}: {launches} launches, {total:.0f} us{per_step}")
    ranked = sorted(times.items(), key=lambda kv: -sum(kv[1]))
    for rank, (name, t) in enumerate(ranked):
        line = f"ncu {label}: {len(t)} x {sum(t) / len(t):.1f} us = {sum(t):.0f} us  {name}"
        print(("table: " if rank < 12 else "") + line)


def main():
    rows = [r for r in csv.reader(l for l in sys.stdin if l.startswith('"'))]
    if not rows:
        print("table: ncu printed no metrics")
        return 1
    args = sys.argv[1:]
    if "--kernels" in args:
        kernels(rows[0], rows[1:], args[args.index("--kernels") + 1])
    else:
        (stalls if "--stalls" in args else details)(rows[0], rows[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
