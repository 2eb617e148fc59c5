"""Algorithm 1 and CROWN on convolutional networks, against dense MLPs of the same parameter count; printed figures.

Networks (untrained, PyTorch's default initialisation, float64 analyses on the CPU threads given):

* ``conv784``  -- 1x28x28 -> Conv(8, k4, s2, p1) -> ReLU -> Conv(16, k4, s2, p1) -> ReLU -> Linear(10):
  hidden widths 1568 and 784, 10,050 parameters;
* ``conv3072`` -- 3x32x32, the same layers: hidden widths 2048 and 1024, 12,706 parameters;
* ``mlp784``, ``mlp3072`` -- d -> h -> h -> 10 with h chosen so the parameter count is closest
  to the conv net's (h = 12 and 4): the dense MLP "of the same size";
* ``lenet`` -- ``experiment.models.build_lenet`` (4704, 1600, 120, 84 neurons), for the cost of
  the CNN experiment (few centres: see the figures).

For each: the fold (time; the dense matrices' bytes -- a convolution becomes its matrix), then
per method and norm the wall time, time per centre, mean C, the engine's chunk size, and the
peak resident memory of the run above what the process held before it (each measurement runs
in its own process, so the peaks do not mix).  Centres are uniform in [0, 1]^d.

    python bench/bench_networks.py                          # 10,000 centres (hours on 2 CPU cores for conv3072)
    python bench/bench_networks.py --centres 200 --nets conv784 mlp784
    python bench/bench_networks.py --centres 20 --nets lenet --methods alg1 ibp crown

Figures measured on a shared 2-core machine are in docs/performance_networks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch
from torch import nn

NETS = ("conv784", "mlp784", "conv3072", "mlp3072", "lenet")


def _conv_net(channels: int, side: int) -> nn.Sequential:
    return nn.Sequential(nn.Unflatten(1, (channels, side, side)),
                         nn.Conv2d(channels, 8, 4, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 16, 4, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(16 * (side // 4) ** 2, 10))


def _mlp_like(d: int, parameters: int) -> nn.Sequential:
    def count(h):
        return d * h + h + h * h + h + 10 * h + 10

    h = min(range(1, 200), key=lambda w: abs(count(w) - parameters))
    return nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 10))


def build(name: str) -> nn.Module:
    torch.manual_seed(0)
    if name == "lenet":
        from localregions.experiment.models import build_lenet

        return build_lenet(0.1, seed=0, outputs=2, init="he_normal").eval()
    size = {"784": (1, 28), "3072": (3, 32)}[name.removeprefix("conv").removeprefix("mlp")]
    conv = _conv_net(*size)
    if name.startswith("conv"):
        return conv.eval()
    return _mlp_like(size[0] * size[1] ** 2, sum(p.numel() for p in conv.parameters())).eval()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_one(name: str, method: str, norm: str, centres: int, radius: float, budget_mb: int) -> dict:
    """One measurement in this process: fold, then the bound over ``centres`` centres."""
    from localregions.bounds import algorithm1_work, local_region_bound
    from localregions.layers import network_layers

    model = build(name)
    began = time.perf_counter()
    folded = network_layers(model)
    fold_s = time.perf_counter() - began
    fold_peak = _peak_bytes()
    d = folded.input_width
    x = torch.rand(centres, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    baseline = _rss_bytes()
    budget = budget_mb * 2**20
    began, cpu = time.perf_counter(), time.process_time()
    if method == "alg1":
        result, work = algorithm1_work(folded, x, radius, norm, memory_budget_bytes=budget)
        extra = {"chunk_size": work.chunk_size, "path": work.path, "gflop": work.flops / 1e9,
                 "dense_gflop": work.dense_flops / 1e9}
    else:
        result = local_region_bound(folded, x, radius, norm, method=method, memory_budget_bytes=budget)
        extra = {}
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    dense = sum(W.numel() + b.numel() for W, b in [*folded.hidden, folded.output]) * 8
    return {"net": name, "method": method, "norm": norm, "centres": centres, "d": d, "widths": folded.widths,
            "parameters": sum(p.numel() for p in model.parameters()), "fold_s": fold_s, "dense_mb": dense / 2**20,
            "fold_peak_mb": fold_peak / 2**20, "wall_s": wall, "cpu_s": cpu, "per_centre_ms": 1e3 * wall / centres,
            "mean_C": float(result.unstable.double().mean()),
            "run_peak_mb": max(0, _peak_bytes() - baseline) / 2**20, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=list(NETS[:4]), choices=NETS)
    parser.add_argument("--methods", nargs="+", default=["alg1", "crown"], choices=["alg1", "ibp", "crown"])
    parser.add_argument("--norms", nargs="+", default=["l2", "linf"], choices=["l2", "linf"])
    parser.add_argument("--centres", type=int, default=10_000)
    parser.add_argument("--radius", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory-budget-mb", type=int, default=512)
    parser.add_argument("--one", nargs=3, metavar=("NET", "METHOD", "NORM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.one:
        print(json.dumps(measure_one(*args.one, args.centres, args.radius, args.memory_budget_mb)))
        return
    print(f"# {args.centres} centres, r = {args.radius}, {args.threads} thread(s), budget {args.memory_budget_mb} MiB, "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    header = ("net", "d", "widths", "params", "fold_s", "dense_MB", "method", "norm", "wall_s", "cpu_s", "ms/centre",
              "mean_C", "alg1_path", "chunk", "run_peak_MB")
    print(" | ".join(header))
    for name in args.nets:
        for method in args.methods:
            for norm in args.norms:
                command = [sys.executable, __file__, "--one", name, method, norm, "--centres", str(args.centres),
                           "--radius", str(args.radius), "--threads", str(args.threads),
                           "--memory-budget-mb", str(args.memory_budget_mb)]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                r = json.loads(done.stdout.strip().splitlines()[-1])
                print(" | ".join(str(v) for v in (
                    r["net"], r["d"], r["widths"], r["parameters"], f"{r['fold_s']:.2f}", f"{r['dense_mb']:.1f}",
                    r["method"], r["norm"], f"{r['wall_s']:.2f}", f"{r['cpu_s']:.2f}", f"{r['per_centre_ms']:.3g}",
                    f"{r['mean_C']:.1f}", r.get("path", "-"), r.get("chunk_size", "-"), f"{r['run_peak_mb']:.0f}")), flush=True)
    print(f"# load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
