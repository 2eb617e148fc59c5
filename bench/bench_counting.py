"""Time exact local region counts at the paper's sizes, before and after the batched sign tree.

Random-init networks (weights and biases N(0, 0.1^2)) with 36 inputs and 2 or 3 hidden layers of
32, l2 balls around uniform random images on the raw 0-255 grey-level scale (the paper's setting,
r = 0.4) and on a 0-1 scale (r = 0.1 and r = 0.25, complete counts of hundreds to tens of
thousands of regions; r = 0.4 under a region budget).  Every ball is counted by the current
counter and by the one it replaced (``tests/legacy_counter.py``, frozen), one after the other;
the counts must agree (the bench stops otherwise).  One markdown row per setting: time per count
(median, max), counts against the bound 2^C and the sampled lower bound, solver calls per region
and regions per CPU second before and after, and the speed-up; then the throughput of the
batched sampled count.

    .venv/bin/python bench/bench_counting.py              # about 10 minutes on one free core
    .venv/bin/python bench/bench_counting.py --quick      # a smoke run, well under a minute
    .venv/bin/python bench/bench_counting.py --no-legacy  # the current counter only
    .venv/bin/python bench/bench_counting.py --only "r=0.1" --prune none   # one setting, no bound

Times are process CPU seconds (``time.process_time``), which on shared cores move much less
than wall time; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from localregions.bounds import local_region_bound
from localregions.counting import exact_region_count, sampled_region_count

try:
    from localregions.experiment.models import build_mlp
except ImportError:  # the layout before the package was split
    from localregions.models import build_mlp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import legacy_counter  # noqa: E402  (the counter before issue 15, for the "before" columns)

INPUTS, WIDTH, INIT_STD = 36, 32, 0.1


def settings(args):
    """(label, pixel scale, radius, points, region budget) per row."""
    return [
        ("0-255, r=0.4", 255.0, 0.4, args.points, args.max_regions),
        ("0-1, r=0.1", 1.0, 0.1, args.points, args.max_regions),
        ("0-1, r=0.25", 1.0, 0.25, args.points_mid, args.mid_budget),
        ("0-1, r=0.4", 1.0, 0.4, args.points_dense, args.dense_budget),
    ]


def timed(count, *arguments, **keywords):
    start = time.process_time()
    result = count(*arguments, **keywords)
    return result, time.process_time() - start


def run_setting(depth, scale, radius, points, budget, seed, samples, legacy, prune="alg1"):
    model = build_mlp(INPUTS, depth, WIDTH, INIT_STD, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    centers = scale * torch.rand(points, INPUTS, generator=generator, dtype=torch.float64)
    unstable = local_region_bound(model, centers, radius).unstable
    sampled = sampled_region_count(model, centers, radius, n_samples=samples, seed=seed)
    rows = {key: [] for key in ("seconds", "counts", "complete", "calls", "old_seconds", "old_calls")}
    for center in centers:
        result, seconds = timed(exact_region_count, model, center, radius, max_regions=budget, prune=prune)
        rows["seconds"].append(seconds)
        rows["counts"].append(result.count)
        rows["complete"].append(result.complete)
        rows["calls"].append(result.solver_calls)
        if legacy:
            old, old_seconds = timed(legacy_counter.exact_region_count, model, center, radius, max_regions=budget)
            if (old.count, old.complete) != (result.count, result.complete):
                raise SystemExit(f"count mismatch at depth {depth}, r={radius}: new {result}, legacy {old}")
            rows["old_seconds"].append(old_seconds)
            rows["old_calls"].append(old.solver_calls)
    stats = {key: np.array(value) for key, value in rows.items()}
    stats["unstable"], stats["sampled"] = unstable.numpy(), sampled.numpy()
    return stats


def row(label, depth, budget, stats, legacy):
    seconds, counts = stats["seconds"], stats["counts"]
    regions = counts.sum()
    count_text = f"{int(np.median(counts))}" + ("" if stats["complete"].all() else f" (>{budget} cut)")
    new_rate = regions / seconds.sum()
    if legacy:
        old_rate = regions / stats["old_seconds"].sum()
        before = f"{stats['old_calls'].sum() / regions:.3f} | {old_rate:.0f} | "
        speedup = f"{stats['old_seconds'].sum() / seconds.sum():.1f}x"
    else:
        before, speedup = "– | – | ", "–"
    return (
        f"| {label} | {depth} | {stats['complete'].sum()}/{seconds.size} "
        f"| {np.median(seconds):.4f} | {seconds.max():.3f} "
        f"| {count_text} | {int(np.median(stats['sampled']))} | {int(np.median(stats['unstable']))} "
        f"| {before}{stats['calls'].sum() / regions:.4f} | {new_rate:.0f} | {speedup} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=20, help="centres for 0-255 r=0.4 and 0-1 r=0.1")
    parser.add_argument("--points-mid", type=int, default=5, help="centres for 0-1 scale, r=0.25")
    parser.add_argument("--points-dense", type=int, default=5, help="centres for 0-1 scale, r=0.4")
    parser.add_argument("--max-regions", type=int, default=100_000, help="budget where counts complete")
    parser.add_argument("--mid-budget", type=int, default=100_000, help="budget for 0-1 scale, r=0.25")
    parser.add_argument("--dense-budget", type=int, default=2_000, help="budget for 0-1 scale, r=0.4")
    parser.add_argument("--samples", type=int, default=2_000, help="points per ball for the sampled count")
    parser.add_argument("--sampled-centres", type=int, default=1_000, help="centres for the sampled-count line")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the cores are shared)")
    parser.add_argument("--no-legacy", action="store_true", help="skip the counter before issue 15")
    parser.add_argument("--prune", default="alg1", help="prune= of the current counter (alg1, crown, none)")
    parser.add_argument("--only", default=None, help="run only the settings whose label contains this")
    parser.add_argument("--quick", action="store_true", help="3 points per setting, small budgets")
    args = parser.parse_args()
    if args.quick:
        args.points, args.points_mid, args.points_dense = 3, 2, 2
        args.mid_budget, args.dense_budget, args.sampled_centres = 1_000, 200, 50
    torch.set_num_threads(args.threads)
    legacy = not args.no_legacy
    prune = None if args.prune.lower() == "none" else args.prune

    print(f"# exact_region_count, {INPUTS} inputs, width {WIDTH}, init N(0, {INIT_STD}^2), l2 balls")
    print(f"# {platform.processor() or platform.machine()}, torch threads {args.threads}, seed {args.seed}, "
          f"prune={prune}, load average {os.getloadavg()[0]:.2f} at start")
    print(
        "| setting | depth | complete | median s | max s | median count | median sampled | median C "
        "| solver calls/region before | regions/s before | solver calls/region after | regions/s after | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, scale, radius, points, budget in settings(args):
        if args.only and args.only not in label:
            continue
        for depth in (2, 3):
            stats = run_setting(depth, scale, radius, points, budget, args.seed, args.samples, legacy, prune)
            print(row(label, depth, budget, stats, legacy), flush=True)
    print(f"# CPU seconds per count, medians over centres; python {platform.python_version()}, "
          f"numpy {np.__version__}; load average {os.getloadavg()[0]:.2f} at the end")
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
