#!/usr/bin/env python3
"""Where the GPU's time goes in a `kiln fit` trace (train.profile_steps, reports/trace.json).

The trace is PyTorch's profiler's Chrome trace: every kernel, copy and memset with its
stream and GPU timestamps. The training stream is the one that runs `record_step` (one
per step, inside the graph); a step is the time from one `record_step` kernel's end to
the next one's. Per step it reports the wall time, the time some kernel or copy ran on the
training stream (busy), the rest (idle: the GPU waited for the host, for an event, or
between launches), the transform kernel's time (on whichever stream: it runs on one of its
own, beside the step before), and where the idle time sat: after which kernel, before
which one, summed over the steps. Also the time other streams ran kernels or copies during
the step (work that shares the GPU with it: the transform, window copies, transposes).

  trace_summary.py TRACE [--label TEXT] [--top N]

Prints a JSON line (for logs) and a short table. Exits 1 when the trace has no steps (no
`record_step` kernels: a CPU run, or no CUDA activity recorded).
"""
import argparse
import collections
import json
import statistics
import sys

GPU_CATEGORIES = {"kernel", "gpu_memcpy", "gpu_memset"}


def short(name, width=48):
    """A kernel's name without template arguments and parameters, cut to `width`."""
    depth, out = 0, []
    for ch in name.replace("(anonymous namespace)::", ""):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    text = "".join(out).replace("void ", "").strip() or name
    return text if len(text) <= width else text[: width - 1] + "…"


def gpu_events(trace):
    """(stream, start, end, name) of every GPU activity, in µs, sorted by start."""
    out = []
    for e in trace.get("traceEvents", []):
        if e.get("ph") != "X" or e.get("cat") not in GPU_CATEGORIES:
            continue
        args = e.get("args", {})
        stream = args.get("stream", e.get("tid"))
        start = float(e["ts"])
        out.append((stream, start, start + float(e.get("dur", 0)), e.get("name", "?")))
    out.sort(key=lambda x: x[1])
    return out


def union_length(intervals, lo, hi):
    """Length of the union of `intervals` (sorted by start) clipped to [lo, hi]."""
    total, cursor = 0.0, lo
    for start, end in intervals:
        start, end = max(start, cursor), min(end, hi)
        if end > start:
            total += end - start
            cursor = end
    return total


def summarize(events, top):
    by_stream = collections.defaultdict(list)
    for stream, start, end, name in events:
        by_stream[stream].append((start, end, name))
    train = next((s for s, evs in by_stream.items() if any("record_step" in n for _, _, n in evs)),
                 None)
    if train is None:
        return None
    mine = by_stream[train]
    marks = [end for _, end, name in mine if "record_step" in name]
    others = sorted((start, end) for s, evs in by_stream.items() if s != train
                    for start, end, _ in evs)
    mine_spans = [(start, end) for start, end, _ in mine]
    # The transform runs on a stream of its own (beside the step before), or on the
    # training stream.
    transforms = sorted((start, end) for _, start, end, name in events
                        if "fused_transform" in name)
    walls, busy, transform, shared = [], [], [], []
    gaps = collections.Counter()
    for lo, hi in zip(marks, marks[1:]):
        inside = [(s, e, n) for s, e, n in mine if lo <= s < hi]
        walls.append(hi - lo)
        busy.append(union_length(mine_spans, lo, hi))
        transform.append(union_length(transforms, lo, hi))
        shared.append(union_length(others, lo, hi))
        previous_end, previous = lo, "record_step"
        for s, e, n in inside:
            if s > previous_end:
                gaps[(short(previous), short(n))] += s - previous_end
            if e > previous_end:
                previous_end, previous = e, n
    steps = len(walls)
    if steps == 0:
        return None
    mean = statistics.mean
    return {
        "steps": steps,
        "training_stream": train,
        "wall_us": mean(walls),
        "wall_median_us": statistics.median(walls),
        "busy_us": mean(busy),
        "idle_us": mean(walls) - mean(busy),
        "transform_us": mean(transform),
        "other_streams_us": mean(shared),
        "launches_per_step": sum(1 for s, _, _ in mine if marks[0] <= s < marks[-1]) / steps,
        "idle_by_place_us": [{"after": a, "before": b, "us_per_step": t / steps}
                             for (a, b), t in gaps.most_common(top)],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace")
    parser.add_argument("--label", default="")
    parser.add_argument("--top", type=int, default=6)
    args = parser.parse_args()
    with open(args.trace) as f:
        trace = json.load(f)
    summary = summarize(gpu_events(trace), args.top)
    if summary is None:
        print(f"{args.trace}: no training steps on a GPU in this trace (no record_step kernels)",
              file=sys.stderr)
        return 1
    summary["label"] = args.label
    print(json.dumps(summary))
    print(f"{args.label}: {summary['steps']} steps, per step: wall {summary['wall_us']:.1f} µs "
          f"(median {summary['wall_median_us']:.1f}), training stream busy "
          f"{summary['busy_us']:.1f}, idle {summary['idle_us']:.1f}, transform "
          f"{summary['transform_us']:.1f}, other streams {summary['other_streams_us']:.1f}, "
          f"{summary['launches_per_step']:.1f} launches")
    print("  idle time per step, by place:")
    for g in summary["idle_by_place_us"]:
        print(f"    {g['us_per_step']:7.2f} µs  after {g['after']}  before {g['before']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
