"""``localregions bound``: C per layer, C, log2 of the bound and the boundary distance for every point."""

from __future__ import annotations

import time

HELP = "bound the linear regions meeting a ball around every point (Algorithm 1, IBP, CROWN or LP)"


def add_arguments(parser) -> None:
    from .inputs import add_network_arguments

    add_network_arguments(parser)
    parser.add_argument("--method", choices=["alg1", "ibp", "crown", "lp"], default="alg1",
                        help="alg1: the paper's Algorithm 1 (default); ibp, crown, lp: tighter sound bounds")
    parser.add_argument("--memory-budget-mb", type=int, default=512, help="work memory per call (default 512)")


def run(args) -> int:
    from ..bounds import local_region_bound
    from ..regions import boundary_distance
    from ..validation import check_positive_int, check_radius
    from .inputs import progress, read_network, read_points
    from .table import rows_writer

    radius = check_radius(args.radius, "--radius")
    batch_size = check_positive_int(args.batch_size, "--batch-size")
    budget = check_positive_int(args.memory_budget_mb, "--memory-budget-mb") * 2**20
    network = read_network(args)
    points = read_points(args.points, network, args.device)
    layers = [f"C_{k + 1}" for k in range(len(network.hidden))]
    columns = ["point", *layers, "C", "log2_bound", "boundary_distance", "seconds"]
    with rows_writer(args.output, columns) as writer, progress(points.shape[0], args) as bar:
        for start in range(0, points.shape[0], batch_size):
            batch = points[start:start + batch_size]
            began = time.perf_counter()
            result = local_region_bound(network, batch, radius, args.norm, method=args.method,
                                        memory_budget_bytes=budget)
            seconds = (time.perf_counter() - began) / batch.shape[0]
            distance = boundary_distance(network, batch, args.norm, memory_budget_bytes=budget)
            per_layer = result.unstable_per_layer.tolist()
            for i in range(batch.shape[0]):
                row = {"point": start + i, "C": int(result.unstable[i]), "log2_bound": float(result.log2_bound[i]),
                       "boundary_distance": repr(float(distance[i])), "seconds": f"{seconds:.6g}"}
                row.update(zip(layers, per_layer[i]))
                writer.writerow(row)
            bar.update(batch.shape[0])
    return 0
