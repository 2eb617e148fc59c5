"""``localregions slice``: the exact linear regions on a plane through one point, drawn to a PNG, with their numbers.

::

    localregions slice MODEL POINTS --radius R -o slice.png [--index I] [--plane gradient|points|random]
                       [--through J [K]] [--seed S] [--window W] [--csv counts.csv]

The plane goes through point ``I`` of POINTS; the other points of the file, nearest first (or
those ``--through`` names), are the neighbours it goes through (``gradient``: the output's gradient
and the first; ``points``: the first two; ``random``: two random directions drawn with ``--seed``).
One line on stdout gives the regions meeting the ball's disc; ``--csv`` writes the panel's numbers.
"""

from __future__ import annotations

HELP = "draw the exact linear regions on a plane through a point, with the ball's disc and the decision boundary"

#: The columns of ``--csv`` (after point and plane): what reporting.slice_figures.panel_counts returns.
COUNT_COLUMNS = ["disc_regions", "boundary_in_disc", "zoom_half_width", "zoom_regions", "view_half_width",
                 "view_regions"]


def add_arguments(parser) -> None:
    from ..reporting.slice_figures import PLANES
    from .inputs import add_model_arguments

    add_model_arguments(parser, points_help=".npy, .pt or .csv: the point (row --index) and other data points")
    parser.add_argument("-o", "--output", required=True, help="PNG to write")
    parser.add_argument("--index", type=int, default=0, help="which row of POINTS is the ball's centre (default 0)")
    parser.add_argument("--plane", choices=PLANES, default="gradient",
                        help="gradient: the output's gradient and the nearest other point (default); points: the two "
                             "nearest other points; random: two random directions")
    parser.add_argument("--through", type=int, nargs="+", default=None, metavar="J",
                        help="rows of POINTS the plane goes through instead of the nearest (one or two)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random directions (default 0)")
    parser.add_argument("--window", type=float, default=None,
                        help="half-width of the wide view, input units (default: the neighbours and the decision "
                             "boundary fit)")
    parser.add_argument("--max-regions", type=int, default=100_000,
                        help="stop past this many regions in a view (default 100000)")
    parser.add_argument("--csv", default=None, help="also write the numbers of the slice to this CSV ('-': stdout)")


def _neighbours(points, index: int, through) -> list:
    """The other points the plane may go through: ``through`` (rows of POINTS) or all others, nearest first."""
    import torch

    center = points[index]
    if through is not None:
        if not 1 <= len(through) <= 2:
            raise ValueError(f"--through takes one or two rows, got {len(through)}")
        for row in through:
            if not 0 <= row < points.shape[0] or row == index:
                raise ValueError(f"--through {row} is not another row of POINTS (0..{points.shape[0] - 1}, not {index})")
        return [points[row] for row in through]
    distances = torch.linalg.vector_norm(points - center, dim=1)
    order = [int(i) for i in torch.argsort(distances, stable=True) if distances[i] > 0]
    return [points[i] for i in order[:2]]


def run(args) -> int:
    import sys

    from ..counting import RegionBudgetExceeded
    from ..reporting.slice_figures import panel_counts, render_slice
    from ..validation import check_positive_int, check_radius, check_seed
    from .inputs import read_network, read_points
    from .table import rows_writer

    radius = check_radius(args.radius, "--radius")
    seed = check_seed(args.seed, "--seed")
    max_regions = check_positive_int(args.max_regions, "--max-regions")
    window = None if args.window is None else check_radius(args.window, "--window")
    network = read_network(args)
    points = read_points(args.points, network, "cpu")
    if not 0 <= args.index < points.shape[0]:
        raise ValueError(f"--index {args.index} is not a row of POINTS (it has {points.shape[0]})")
    neighbours = _neighbours(points, args.index, args.through)
    try:
        _, panel = render_slice(network, points[args.index], radius, args.output, neighbours=neighbours,
                                plane=args.plane, seed=seed, window=window, max_regions=max_regions)
    except RegionBudgetExceeded as exc:
        raise ValueError(f"{exc} (--window, --max-regions)") from None
    counts = panel_counts(panel, radius)
    print(f"the ball's disc (radius {radius:g}) meets {counts['disc_regions']} regions on the {args.plane} plane "
          f"through point {args.index}; {counts['view_regions']} regions in view; wrote {args.output}",
          file=sys.stdout if args.csv != "-" else sys.stderr)
    if args.csv is not None:
        with rows_writer(args.csv, ["point", "plane", "radius", *COUNT_COLUMNS]) as writer:
            writer.writerow({"point": args.index, "plane": args.plane, "radius": radius, **counts})
    return 0
