"""``localregions count``: the exact number of regions meeting each ball, or a sampled lower bound."""

from __future__ import annotations

import time

HELP = "count the linear regions meeting a ball around every point (exact, or a sampled lower bound)"


def add_arguments(parser) -> None:
    from .inputs import add_network_arguments

    add_network_arguments(parser)
    parser.add_argument("--method", choices=["exact", "sampled"], default="exact",
                        help="exact: sign-tree enumeration with a convex solver (small nets); sampled: a lower bound")
    parser.add_argument("--max-regions", type=int, default=10_000,
                        help="exact: stop a ball's count here and mark it incomplete (default 10000)")
    parser.add_argument("--samples", type=int, default=4000, help="sampled: points per ball (default 4000)")
    parser.add_argument("--seed", type=int, default=0, help="sampled: seed of the samples (default 0)")


def run(args) -> int:
    from ..counting import exact_region_count, sampled_region_count
    from ..validation import check_positive_int, check_radius, check_seed
    from .inputs import progress, read_network, read_points
    from .table import rows_writer

    radius = check_radius(args.radius, "--radius")
    network = read_network(args)
    points = read_points(args.points, network, args.device)
    if args.method == "exact":
        max_regions = check_positive_int(args.max_regions, "--max-regions")
        columns = ["point", "regions", "complete", "solver_calls", "seconds"]
        with rows_writer(args.output, columns) as writer, progress(points.shape[0], args) as bar:
            for i in range(points.shape[0]):
                began = time.perf_counter()
                count = exact_region_count(network, points[i].cpu(), radius, args.norm, max_regions)
                writer.writerow({"point": i, "regions": count.count, "complete": count.complete,
                                 "solver_calls": count.solver_calls, "seconds": f"{time.perf_counter() - began:.6g}"})
                bar.update(1)
        return 0
    samples = check_positive_int(args.samples, "--samples")
    seed = check_seed(args.seed, "--seed")
    columns = ["point", "regions_at_least", "samples", "seconds"]
    with rows_writer(args.output, columns) as writer, progress(points.shape[0], args) as bar:
        # One call over every point: point i's samples come from (seed, i), as in the library.
        began = time.perf_counter()
        counts = sampled_region_count(network, points, radius, samples, seed=seed, norm=args.norm)
        seconds = (time.perf_counter() - began) / max(points.shape[0], 1)
        for i, value in enumerate(counts.tolist()):
            writer.writerow({"point": i, "regions_at_least": value, "samples": samples, "seconds": f"{seconds:.6g}"})
        bar.update(points.shape[0])
    return 0
