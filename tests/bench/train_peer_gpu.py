#!/usr/bin/env python3
"""The peers of `kiln fit` on the GPU (scripts/gpu-check): the same MLP (WIDTH-512-256-128-1),
BCE-with-logits loss, AdamW (lr 1e-3, weight decay 1e-4) and gradient clipping at 1, written
in PyTorch with the data already on the GPU (random rows; the rate does not depend on the
values). Contenders: eager (fused AdamW), and the whole step (forward, backward, clipping,
capturable AdamW) captured in one CUDA graph and replayed after copying each batch into the
static input, each in fp32 and under bf16 autocast. Prints one JSON object per contender,
then, with Kiln's results (--kiln-step: Kiln's step with the data on the GPU, from
train_step_bench; --kiln-fit NAME=F, repeatable: `kiln fit` from HDF5 shards), a line per
result comparing it with the fastest graphed peer.

  train_peer_gpu.py --batch B [--steps S] [--width 64] --kiln-step F [--kiln-step-between F]
                    [--kiln-loader F] [--kiln-fit NAME=F ...]
"""
import argparse
import json
import time

import torch


def mlp(width):
    layers, at = [], width
    for h in (512, 256, 128):
        layers += [torch.nn.Linear(at, h), torch.nn.ReLU()]
        at = h
    return torch.nn.Sequential(*layers, torch.nn.Linear(at, 1)).cuda()


def contender(args, graphed, bf16):
    torch.manual_seed(0)
    batches = 16
    x_all = torch.randn(batches, args.batch, args.width, device="cuda")
    y_all = (torch.rand(batches, args.batch, device="cuda") < 0.1).float()
    model = mlp(args.width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4,
                                  capturable=graphed, fused=True)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step(x, y):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
            logits = model(x).squeeze(1)
        loss = loss_fn(logits.float(), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        optimizer.step()
        return loss

    if graphed:
        static_x, static_y = x_all[0].clone(), y_all[0].clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                optimizer.zero_grad(set_to_none=True)
                step(static_x, static_y)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            step(static_x, static_y)

        def one(i):
            static_x.copy_(x_all[i % batches])
            static_y.copy_(y_all[i % batches])
            graph.replay()
    else:
        def one(i):
            optimizer.zero_grad(set_to_none=True)
            step(x_all[i % batches], y_all[i % batches])

    for i in range(20):
        one(i)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(args.steps):
        one(i)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    out = {"peer": f"PyTorch {'CUDA graph, capturable' if graphed else 'eager, fused'} AdamW, "
                   f"{'bf16 autocast' if bf16 else 'fp32'}, data on the GPU",
           "graphed": graphed, "bf16": bf16, "batch": args.batch, "steps": args.steps,
           "seconds": seconds, "rows_per_s": args.steps * args.batch / seconds}
    print(json.dumps(out), flush=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--kiln-fit", action="append", default=[],
                        help="NAME=FILE: a `kiln fit` steady state {rows_per_s, ...}; repeatable")
    parser.add_argument("--kiln-step", help="train_step_bench's output")
    parser.add_argument("--kiln-step-between",
                        help="train_step_bench --between 1's output: a kernel between steps")
    parser.add_argument("--kiln-loader",
                        help="loader_bench run --gather's output: the fit's host side alone")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # Kiln (LibTorch's default) runs fp32 as fp32
    results = []
    for graphed in (False, True):
        for bf16 in (False, True):
            try:
                results.append(contender(args, graphed, bf16))
            except Exception as e:  # a contender that cannot run is reported, not fatal
                print(json.dumps({"peer": f"graphed={graphed} bf16={bf16}", "error": str(e)}))
    graphs = [r for r in results if r["graphed"]]
    if not graphs or not (args.kiln_fit and args.kiln_step):
        return
    best = max(graphs, key=lambda r: r["rows_per_s"])
    with open(args.kiln_step) as f:
        step = json.load(f)
    # What `kiln fit` moves to the GPU a row (the benchmark's data: WIDTH float32 features, a
    # float32 label and the loader's int32 order) against what the bus carries.
    row_bytes = (args.width + 2) * 4
    print(f"batch {args.batch}: bus: pinned host-to-device {host_to_device_gb_per_s():.1f} GB/s | "
          f"kiln's own step rate needs {step['rows_per_s'] * row_bytes / 1e9:.1f} GB/s "
          f"({row_bytes} bytes a row)")
    print(f"batch {args.batch}: kiln step, data on GPU {step['rows_per_s'] / 1e6:.1f}M rows/s "
          f"({step['mode']}) | best peer ({'bf16' if best['bf16'] else 'fp32'} graph) "
          f"{best['rows_per_s'] / 1e6:.1f}M | step/peer {step['rows_per_s'] / best['rows_per_s']:.2f}x")
    if args.kiln_loader:
        with open(args.kiln_loader) as f:
            loader = json.load(f)
        print(f"batch {args.batch}: loader alone, gather mode (the fit's host side, no GPU) "
              f"{loader['rows_per_s'] / 1e6:.1f}M rows/s | loader/own step "
              f"{loader['rows_per_s'] / step['rows_per_s']:.2f}")
    if args.kiln_step_between:
        with open(args.kiln_step_between) as f:
            between = json.load(f)
        cost = 1e6 * args.batch * (1 / between["rows_per_s"] - 1 / step["rows_per_s"])
        print(f"batch {args.batch}: kiln step with {between['between']} small kernel(s) between "
              f"steps {between['rows_per_s'] / 1e6:.1f}M rows/s: {cost:+.1f} us a step")
    for entry in args.kiln_fit:
        name, path = entry.split("=", 1)
        with open(path) as f:
            fit = json.load(f)
        print(f"batch {args.batch}: kiln fit from HDF5, {name}: {fit['rows_per_s'] / 1e6:.1f}M "
              f"rows/s (waited {fit['data_wait_s']:.2f} s for the loader, "
              f"{fit.get('copy_wait_s', 0):.2f} s for copies, {fit.get('gpu_wait_s', 0):.2f} s for "
              f"the GPU{gpu_times(fit)}) | fit/peer "
              f"{fit['rows_per_s'] / best['rows_per_s']:.2f}x | fit/own step "
              f"{fit['rows_per_s'] / step['rows_per_s']:.2f}")


def host_to_device_gb_per_s(size=256 << 20, reps=10):
    """The bus's rate for large copies from pinned host memory (the fit's window copies are
    strided copies of 1 MB rows from pinned memory)."""
    host = torch.empty(size, dtype=torch.uint8, pin_memory=True)
    device = torch.empty(size, dtype=torch.uint8, device="cuda")
    device.copy_(host, non_blocking=True)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        device.copy_(host, non_blocking=True)
    torch.cuda.synchronize()
    return reps * size / (time.perf_counter() - start) / 1e9


def gpu_times(fit):
    """Per step: wall time, and the GPU's time in the transform and in the step (sampled)."""
    if fit.get("gpu_step_ms") is None:
        return ""
    return (f"; per step {1e3 * fit['wall_ms_per_step']:.0f} us, GPU transform "
            f"{1e3 * fit['gpu_transform_ms']:.0f} us + step {1e3 * fit['gpu_step_ms']:.0f} us")


if __name__ == "__main__":
    main()
