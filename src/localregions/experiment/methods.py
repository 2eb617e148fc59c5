"""Algorithm 1 beside tighter sound bounds and a sampled measure, on the same balls: the methods table.

For one network and radius, every method of :func:`localregions.local_region_bound` gives C on
the first points of each set (``lp``, a convex program per neuron, on fewer), and the sampled
local complexity of Humayun, Balestriero and Baraniuk (2024) counts the neurons seen to change
sign among the vertices of a random cross-polytope in the ball: a lower estimate of the neurons
that do change sign, so of every sound method's C. Times go into a table of their own: they
differ from run to run, and the methods table must not.
"""

from __future__ import annotations

import time

import pandas as pd

from ..bounds import local_region_bound
from ..complexity import local_complexity
from ..layers import network_layers

__all__ = ["compare_methods", "LOCAL_COMPLEXITY"]

#: The method name of the sampled measure in the methods table.
LOCAL_COMPLEXITY = "local_complexity"


def compare_methods(model, sets: dict, radius: float, *, norm: str, methods: list[str], lp_points: int, seed: int,
                    complexity_directions: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """C of each method and the local complexity, per ball; and each method's time per 1,000 balls.

    Returns
    -------
    table : pandas.DataFrame
        dataset, point, radius, norm, method, unstable.
    timing : pandas.DataFrame
        dataset, radius, method, balls, seconds, seconds_per_1000.
    """
    model = network_layers(model)  # folded once for every method and set
    rows, timings = [], []
    for dataset, points in sets.items():
        for method in [*methods, LOCAL_COMPLEXITY]:
            balls = points[:lp_points] if method == "lp" else points
            if balls.shape[0] == 0:
                continue
            started = time.perf_counter()
            if method == LOCAL_COMPLEXITY:
                unstable = local_complexity(model, balls, radius, n_directions=complexity_directions, seed=seed,
                                            norm=norm).lower_estimate
            else:
                unstable = local_region_bound(model, balls, radius, norm=norm, method=method).unstable
            seconds = time.perf_counter() - started
            rows.append(pd.DataFrame({"dataset": dataset, "point": range(balls.shape[0]), "radius": float(radius),
                                      "norm": norm, "method": method, "unstable": unstable.cpu().numpy()}))
            timings.append({"dataset": dataset, "radius": float(radius), "method": method, "balls": int(balls.shape[0]),
                            "seconds": seconds, "seconds_per_1000": 1000.0 * seconds / balls.shape[0]})
    return pd.concat(rows, ignore_index=True), pd.DataFrame(timings)
