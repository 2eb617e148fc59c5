"""Speed of the batched bound engine (Algorithm 1), printed as figures; not a timed test.

Two settings:

* paper size -- 36 inputs, 3 hidden layers of 32, 4,000 centres: centres per second of the
  engine and of the literal reference (timed on a subset and extrapolated), and their ratio;
* scale -- 784 inputs, 3 hidden layers of 256, 10,000 centres, float64 on the CPU threads
  given (default 2), the Gram path and the direct path side by side (``--paths``): wall
  time, centres per second, the GFLOP/s of the L propagation (matmul flops actually
  performed, and the dense-equivalent of an uncompacted masked direct matmul) and their
  fraction of torch's own float64 square matmul on the same machine, and the peak RSS of
  each run (the kernel's high-water mark, reset before the run).

The nets are PyTorch's default initialisation (seeded) and the centres uniform in [0, 1]^d,
like pixel intensities.  ``--quick`` runs a small smoke version.

    python bench/bench_bounds.py            # the full run (a few minutes on 2 busy cores)
    python bench/bench_bounds.py --quick    # a smoke run, well under a minute
    python bench/bench_bounds.py --skip-paper --no-worst-case --radii 0.01 --memory-budget-mib 64
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import torch
from torch import nn

from localregions.bounds import DEFAULT_MEMORY_BUDGET_BYTES, algorithm1_work
from localregions.reference import reference_local_region_bound


def make_net(d: int, widths: list[int], seed: int, positive_bias: float = 0.0) -> nn.Sequential:
    torch.manual_seed(seed)
    modules: list[nn.Module] = []
    fan_in = d
    for w in widths:
        linear = nn.Linear(fan_in, w)
        if positive_bias:
            with torch.no_grad():
                linear.bias.add_(positive_bias)
        modules += [linear, nn.ReLU()]
        fan_in = w
    modules.append(nn.Linear(fan_in, 10))
    return nn.Sequential(*modules)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux ``clear_refs`` 5); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def matmul_gflops(n: int, repeats: int = 5) -> float:
    a = torch.randn(n, n, dtype=torch.float64)
    b = torch.randn(n, n, dtype=torch.float64)
    out = torch.empty(n, n, dtype=torch.float64)
    torch.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def time_engine(net, centres, radius, norm, repeats, **kwargs):
    """Best wall time of ``repeats`` runs, with the :class:`EngineWork` and the result of the last.

    Also the peak RSS of the runs above the RSS before them (MiB; None where it cannot be reset).
    """
    best = float("inf")
    before = _status_mib("VmRSS")
    can_reset = reset_peak_rss() and before is not None
    for _ in range(repeats):
        start = time.perf_counter()
        result, work = algorithm1_work(net, centres, radius, norm, **kwargs)
        best = min(best, time.perf_counter() - start)
    peak = _status_mib("VmHWM") - before if can_reset else None
    return best, work, result, peak


def paper_size(args) -> None:
    d, widths, n = 36, [32, 32, 32], args.paper_centres
    net = make_net(d, widths, seed=0)
    centres = torch.rand(n, d, generator=torch.Generator().manual_seed(1))
    print(f"== paper size: {d} inputs, hidden {widths}, {n} centres, radius {args.paper_radius}, L2 ==")
    engine_s, work, result, _ = time_engine(net, centres, args.paper_radius, "l2", repeats=5)
    subset = centres[: args.reference_centres]
    start = time.perf_counter()
    reference = reference_local_region_bound(net, subset, args.paper_radius, "l2")
    reference_s = time.perf_counter() - start
    assert torch.equal(reference.unstable, result.unstable[: subset.shape[0]]), "engine and reference disagree"
    engine_rate = n / engine_s
    reference_rate = subset.shape[0] / reference_s
    print(f"engine    : {engine_s * 1e3:9.1f} ms for {n} centres  -> {engine_rate:12,.0f} centres/s  ({work.path} path)")
    print(
        f"reference : {reference_s * 1e3:9.1f} ms for {subset.shape[0]} centres -> {reference_rate:12,.1f} centres/s"
        f"  (extrapolated to {n}: {n / reference_rate:.1f} s)"
    )
    print(f"speed-up  : {engine_rate / reference_rate:,.0f}x   (goal >= 300x)")
    print(f"mean C = {result.unstable.double().mean():.2f}, C = 0 at {(result.unstable == 0).double().mean():.1%} of centres")


def scale(args) -> None:
    d, widths, n = 784, [256, 256, 256], args.scale_centres
    if args.quick:
        n = min(n, 600)
    centres = torch.rand(n, d, generator=torch.Generator().manual_seed(2))
    dense_per_centre = sum(2 * widths[k] * widths[k - 1] * d for k in range(1, len(widths)))
    rss_before = peak_rss_mib()
    reference_gflops = matmul_gflops(1024)
    print(
        f"\n== scale: {d} inputs, hidden {widths}, {n} centres, float64, {torch.get_num_threads()} threads, "
        f"chunk_size={args.chunk_size or 'auto'}, memory budget {args.memory_budget_mib} MiB, "
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} =="
    )
    print(f"torch float64 square matmul (n=1024) before the runs: {reference_gflops:.1f} GFLOP/s")
    print(
        "GFLOP/s: performed = flops actually multiplied / wall; dense-eq = the plain masked direct product "
        f"({dense_per_centre / 1e6:.1f} MFLOP/centre) / wall; % = performed / square matmul"
    )
    settings = [("default init", 0.0)] + ([] if args.no_worst_case else [("worst case: every neuron active", 1.0)])
    for label, bias in settings:
        net = make_net(d, widths, seed=0, positive_bias=bias)
        radii = args.radii if bias == 0.0 else [args.radii[0]]
        for radius in radii:
            for norm in args.norms:
                results = {}
                for path in args.paths:
                    if path == "gram" and norm != "l2":
                        continue
                    wall, work, result, peak = time_engine(
                        net,
                        centres,
                        radius,
                        norm,
                        repeats=1,
                        path=path,
                        chunk_size=args.chunk_size,
                        memory_budget_bytes=args.memory_budget_mib * 2**20,
                    )
                    results[path] = result
                    performed = work.flops / wall / 1e9
                    dense = dense_per_centre * n / wall / 1e9
                    peak_text = f"{peak:5.0f}" if peak is not None else "  n/a"
                    print(
                        f"{label:33s} r={radius:<6g} {norm:4s} {work.path:6s}: {wall:6.2f} s wall, "
                        f"{n / wall:8,.0f} centres/s, chunk {work.chunk_size:4d}, rows of {work.row_length}, "
                        f"{work.flops / n / 1e6:5.1f} MFLOP/centre performed -> {performed:5.1f} GFLOP/s "
                        f"({performed / reference_gflops:4.0%}), {dense:6.1f} dense-eq, "
                        f"peak +{peak_text} MiB, mean C {result.unstable.double().mean():7.2f}, "
                        f"C=0 at {(result.unstable == 0).double().mean():5.1%}"
                    )
                if len(results) == 2:
                    gram, direct = results["gram"], results["direct"]
                    differ = sum(int((g != q).sum()) for g, q in zip(gram.S + gram.P, direct.S + direct.P))
                    print(f"{'':33s}   gram vs direct: {differ} of {2 * n * sum(widths)} flags differ")
    print(
        f"peak RSS of the whole process: {rss_before:.0f} MiB before the scale runs, {peak_rss_mib():.0f} MiB after "
        f"(the centres alone take {centres.numel() * 12 / 2**20:.0f} MiB as float32 + their float64 copy)"
    )
    print(f"torch float64 square matmul on this machine after the runs: n=1024 {matmul_gflops(1024):.1f} GFLOP/s, "
          f"n=2048 {matmul_gflops(2048, repeats=2):.1f} GFLOP/s; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--paper-centres", type=int, default=4000)
    parser.add_argument("--paper-radius", type=float, default=0.4)
    parser.add_argument("--reference-centres", type=int, default=100)
    parser.add_argument("--scale-centres", type=int, default=10_000)
    parser.add_argument("--radii", type=float, nargs="+", default=[1e-3, 1e-2, 0.1])
    parser.add_argument("--norms", nargs="+", default=["l2"], choices=["l2", "linf"])
    parser.add_argument(
        "--paths", nargs="+", default=["gram", "direct"], choices=["gram", "direct", "auto"],
        help="engine paths to run side by side (gram is skipped for linf)",
    )
    parser.add_argument("--chunk-size", type=int, default=None, help="override the automatic chunk size")
    parser.add_argument("--skip-paper", action="store_true", help="only the scale runs")
    parser.add_argument("--no-worst-case", action="store_true", help="skip the every-neuron-active net")
    parser.add_argument("--memory-budget-mib", type=int, default=DEFAULT_MEMORY_BUDGET_BYTES // 2**20)
    args = parser.parse_args()
    if args.quick:
        args.paper_centres = min(args.paper_centres, 500)
        args.reference_centres = min(args.reference_centres, 10)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads {torch.get_num_threads()}")
    print(f"peak RSS after start-up: {peak_rss_mib():.0f} MiB")
    if not args.skip_paper:
        paper_size(args)
    scale(args)


if __name__ == "__main__":
    main()
