"""Time exact local region counts at the paper's sizes, and the sampled lower bound beside them.

Random-init networks (weights and biases N(0, 0.1^2)) with 36 inputs and 2 or 3 hidden layers of
32, balls around uniform random images on the raw 0-255 grey-level scale (the paper's setting,
r = 0.4) and on a 0-1 scale (r = 0.4, where balls hold tens of thousands of regions, so the count
runs under a region budget, and r = 0.1).  Prints one markdown row per setting: time per exact
count (median, p90, max), how many counts completed, the counts against the bound 2^C and the
sampled lower bound, solver calls, and regions enumerated per second; then the throughput of
the batched sampled count.

    .venv/bin/python bench/bench_counting.py            # about 3 minutes on one free core
    .venv/bin/python bench/bench_counting.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from localregions.bounds import local_region_bound
from localregions.counting import exact_region_count, sampled_region_count
from localregions.models import build_mlp

INPUTS, WIDTH, INIT_STD = 36, 32, 0.1


def settings(args):
    """(label, pixel scale, radius, points, region budget) per row."""
    return [
        ("0-255, r=0.4", 255.0, 0.4, args.points, args.max_regions),
        ("0-1, r=0.1", 1.0, 0.1, args.points, args.max_regions),
        ("0-1, r=0.4", 1.0, 0.4, args.points_dense, args.dense_budget),
    ]


def run_setting(depth, scale, radius, points, budget, seed, samples):
    model = build_mlp(INPUTS, depth, WIDTH, INIT_STD, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    centers = scale * torch.rand(points, INPUTS, generator=generator, dtype=torch.float64)
    unstable = local_region_bound(model, centers, radius).unstable
    sampled = sampled_region_count(model, centers, radius, n_samples=samples, seed=seed)
    seconds, counts, complete, calls = [], [], [], []
    for center in centers:
        start = time.perf_counter()
        result = exact_region_count(model, center, radius, max_regions=budget)
        seconds.append(time.perf_counter() - start)
        counts.append(result.count)
        complete.append(result.complete)
        calls.append(result.solver_calls)
    return {
        "seconds": np.array(seconds),
        "counts": np.array(counts),
        "complete": np.array(complete),
        "calls": np.array(calls),
        "unstable": unstable.numpy(),
        "sampled": sampled.numpy(),
    }


def row(label, depth, budget, stats):
    seconds = stats["seconds"]
    count_text = f"{int(np.median(stats['counts']))}" + ("" if stats["complete"].all() else f" (>{budget} cut)")
    return (
        f"| {label} | {depth} | {stats['complete'].sum()}/{seconds.size} "
        f"| {np.median(seconds):.3f} | {np.quantile(seconds, 0.9):.3f} | {seconds.max():.3f} "
        f"| {count_text} | {int(np.median(stats['sampled']))} | {int(np.median(stats['unstable']))} "
        f"| {int(np.median(stats['calls']))} | {stats['counts'].sum() / seconds.sum():.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=20, help="centres per complete-count setting")
    parser.add_argument("--points-dense", type=int, default=5, help="centres for 0-1 scale, r=0.4")
    parser.add_argument("--max-regions", type=int, default=100_000, help="budget where counts complete")
    parser.add_argument("--dense-budget", type=int, default=2_000, help="budget for 0-1 scale, r=0.4")
    parser.add_argument("--samples", type=int, default=2_000, help="points per ball for the sampled count")
    parser.add_argument("--sampled-centres", type=int, default=1_000, help="centres for the sampled-count line")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the cores are shared)")
    parser.add_argument("--quick", action="store_true", help="3 points per setting, small budgets")
    args = parser.parse_args()
    if args.quick:
        args.points, args.points_dense, args.dense_budget, args.sampled_centres = 3, 2, 200, 50
    torch.set_num_threads(args.threads)

    print(f"# exact_region_count, {INPUTS} inputs, width {WIDTH}, init N(0, {INIT_STD}^2), l2 balls")
    print(f"# {platform.processor() or platform.machine()}, torch threads {args.threads}, seed {args.seed}")
    print(
        "| setting | depth | complete | median s | p90 s | max s | median count | median sampled "
        "| median C | median solver calls | regions/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, scale, radius, points, budget in settings(args):
        for depth in (2, 3):
            stats = run_setting(depth, scale, radius, points, budget, args.seed, args.samples)
            print(row(label, depth, budget, stats), flush=True)
    print(f"# medians over centres; python {platform.python_version()}, numpy {np.__version__}")
    sampled_throughput(args)


def sampled_throughput(args) -> None:
    """The batched lower bound on its own: many centres at once."""
    model = build_mlp(INPUTS, 3, WIDTH, INIT_STD, seed=args.seed)
    centers = torch.rand(args.sampled_centres, INPUTS, generator=torch.Generator().manual_seed(args.seed), dtype=torch.float64)
    start = time.perf_counter()
    sampled_region_count(model, centers, 0.4, n_samples=args.samples, seed=args.seed)
    seconds = time.perf_counter() - start
    print(
        f"# sampled_region_count, depth 3, {args.sampled_centres} centres x {args.samples} samples: "
        f"{seconds:.2f} s ({args.sampled_centres / seconds:.0f} centres/s)"
    )


if __name__ == "__main__":
    main()
