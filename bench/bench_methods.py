"""Speed and tightness of the bound methods (alg1, ibp, crown, lp) and of the local complexity; printed, not timed tests.

Two settings:

* paper size -- 36 inputs (6x6 pixels in [0, 1]), 3 hidden layers of 32, a few untrained nets
  (weights and biases N(0, 0.1^2) as in the project's model config, or PyTorch's default),
  r = 0.4 (L2, the paper's): mean C of every method (``lp`` on a subset
  of the centres, it solves two programs per neuron), and the local complexity (a lower
  estimate);
* scale -- 784 inputs, 3 hidden layers of 256, 10,000 centres uniform in [0, 1]^784, float64 on
  the CPU threads given: wall and CPU time of ``alg1``, ``ibp`` and ``crown``, the matrix-product
  GFLOP/s ``crown`` reached (flops it actually performed, after compaction) beside torch's own
  float64 square matmul measured in the same run, mean C, and the local complexity.  CPU time
  (``time.process_time``, all threads) says what the run cost when other jobs share the cores;
  on a busy machine more threads can cost far more CPU (the threads spin while they wait).

The load average (other people's jobs share the cores) is printed at the start and the end.

    python bench/bench_methods.py            # everything (a few minutes on 2 quiet cores)
    python bench/bench_methods.py --quick    # smoke run, about a minute
    python bench/bench_methods.py --skip-paper --norms l2 linf --radii 0.01 0.1
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from torch import nn

from localregions.bounds import local_region_bound
from localregions.complexity import local_complexity
from localregions.relaxations import preactivation_bounds


def make_net(d: int, widths: list[int], seed: int, init: str = "torch", outputs: int = 10) -> nn.Sequential:
    """``init="torch"``: PyTorch's default; ``"paper"``: weights and biases ~ N(0, 0.1^2), the project's model config."""
    torch.manual_seed(seed)
    modules: list[nn.Module] = []
    fan_in = d
    for w in widths:
        modules += [nn.Linear(fan_in, w), nn.ReLU()]
        fan_in = w
    modules.append(nn.Linear(fan_in, outputs))
    net = nn.Sequential(*modules)
    if init == "paper":
        with torch.no_grad():
            for p in net.parameters():
                p.normal_(0.0, 0.1)
    return net


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def matmul_gflops(n: int = 1024, repeats: int = 3) -> tuple[float, float]:
    """torch's float64 square matmul: best GFLOP/s of ``repeats`` runs, by wall time and per CPU-second."""
    a = torch.randn(n, n, dtype=torch.float64)
    out = torch.empty(n, n, dtype=torch.float64)
    torch.matmul(a, a, out=out)
    best = best_cpu = float("inf")
    for _ in range(repeats):
        cpu = time.process_time()
        start = time.perf_counter()
        torch.matmul(a, a, out=out)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return 2 * n**3 / best / 1e9, 2 * n**3 / max(best_cpu, 1e-9) / 1e9


def paper_size(args) -> None:
    d, widths = 36, [32, 32, 32]
    n, n_lp = args.paper_centres, args.lp_centres
    print(f"== paper size: {d} inputs, hidden {widths}, {args.paper_init} init, {n} centres in [0, 1]^{d} "
          f"(lp on the first {n_lp}), r = {args.paper_radius}, L2 ==")
    print(f"{'net':>4s} {'alg1':>8s} {'ibp':>8s} {'crown':>8s} {'lp':>8s} {'crown@lp':>9s} {'alg1@lp':>8s} {'LC':>6s}   (mean C; LC = local complexity, a lower estimate)")
    for seed in range(args.paper_nets):
        net = make_net(d, widths, seed, init=args.paper_init, outputs=2)
        centres = torch.rand(n, d, generator=torch.Generator().manual_seed(100 + seed))
        means = {}
        for method in ("alg1", "ibp", "crown"):
            means[method] = local_region_bound(net, centres, args.paper_radius, "l2", method=method).unstable.double()
        start = time.perf_counter()
        lp = local_region_bound(net, centres[:n_lp], args.paper_radius, "l2", method="lp").unstable.double()
        lp_s = time.perf_counter() - start
        lc = local_complexity(net, centres, args.paper_radius, n_directions=d).lower_estimate.double()
        print(
            f"{seed:4d} {means['alg1'].mean():8.2f} {means['ibp'].mean():8.2f} {means['crown'].mean():8.2f} "
            f"{lp.mean():8.2f} {means['crown'][:n_lp].mean():9.2f} {means['alg1'][:n_lp].mean():8.2f} {lc.mean():6.2f}"
            f"   (lp: {lp_s / n_lp:.2f} s/centre)"
        )


def scale(args) -> None:
    d, widths = 784, [256, 256, 256]
    n = args.scale_centres
    centres = torch.rand(n, d, generator=torch.Generator().manual_seed(2))
    net = make_net(d, widths, seed=0)
    print(f"\n== scale: {d} inputs, hidden {widths}, {n} centres, float64, {torch.get_num_threads()} threads ==")
    for norm in args.norms:
        for radius in args.radii:
            line = [f"r={radius:<6g} {norm:4s}"]
            times = {}
            for method in ("alg1", "ibp", "crown"):
                stats: dict = {}
                cpu = time.process_time()
                start = time.perf_counter()
                if method == "crown":
                    b = preactivation_bounds(net, centres, radius, norm, method="crown", chunk_size=args.chunk_size, stats=stats)
                    C = sum(((lo <= 0) & (up >= 0)).sum(1) for lo, up in zip(b.lower, b.upper))
                else:
                    C = local_region_bound(net, centres, radius, norm, method=method).unstable
                times[method] = time.perf_counter() - start
                cpu = time.process_time() - cpu
                extra = ""
                if method == "crown":
                    gf = stats["flops"] / times[method] / 1e9
                    extra = (f", {stats['flops'] / n / 1e6:.0f} MFLOP/centre, {gf:.1f} GFLOP/s wall "
                             f"({stats['flops'] / cpu / 1e9:.1f} per CPU-second), chunk {stats['chunk_size']}")
                line.append(f"{method:5s} {times[method]:7.2f} s wall, {cpu:7.2f} s CPU (mean C {C.double().mean():6.1f}, "
                            f"C=0 at {(C == 0).double().mean():5.1%}{extra})")
            cpu = time.process_time()
            start = time.perf_counter()
            lc = local_complexity(net, centres, radius, norm=norm, n_directions=25).lower_estimate.double()
            lc_s = time.perf_counter() - start
            line.append(f"LC (25 directions) {lc_s:.2f} s wall, {time.process_time() - cpu:.2f} s CPU, mean {lc.mean():.2f}")
            print("\n    ".join(line))
            wall_gf, cpu_gf = matmul_gflops()
            print(f"    torch float64 square matmul now: {wall_gf:.1f} GFLOP/s wall ({cpu_gf:.1f} per CPU-second), n=1024; {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--paper-nets", type=int, default=5)
    parser.add_argument("--paper-centres", type=int, default=1000)
    parser.add_argument("--paper-radius", type=float, default=0.4)
    parser.add_argument("--paper-init", choices=["paper", "torch"], default="paper",
                        help="paper: N(0, 0.1^2) weights and biases (the project's model config); torch: PyTorch's default")
    parser.add_argument("--lp-centres", type=int, default=10)
    parser.add_argument("--scale-centres", type=int, default=10_000)
    parser.add_argument("--radii", type=float, nargs="+", default=[0.1])
    parser.add_argument("--norms", nargs="+", default=["l2"], choices=["l2", "linf"])
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.paper_nets = min(args.paper_nets, 2)
        args.paper_centres = min(args.paper_centres, 200)
        args.lp_centres = min(args.lp_centres, 2)
        args.scale_centres = min(args.scale_centres, 500)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads {torch.get_num_threads()}; {load()}")
    if not args.skip_paper:
        paper_size(args)
    if not args.skip_scale:
        scale(args)
    print(f"\nend: {load()}")


if __name__ == "__main__":
    main()
