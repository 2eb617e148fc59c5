"""The search for the balls with the most regions on the experiment's networks (issue 24, H3).

The domain is the *data box*: per input, between its minimum and maximum over the training
points (the box random set 1 is drawn from). The walkers start at training points drawn with
the run's seed, as the paper proposes ("starting from a random data point"); uniform random
sampling of the box and hill climbing run at the same budget beside the annealing.
"""

from __future__ import annotations

import time

import pandas as pd
import torch

from ..search import SearchDomain, search_regions
from ..validation import check_points, check_positive_int, check_seed

__all__ = ["data_box", "random_starts", "compare_searches", "SEARCH_ORDER"]

#: The methods compared, the paper's first.
SEARCH_ORDER = ("annealing", "hill_climb", "random")


def data_box(points) -> SearchDomain:
    """The box spanned by ``points``, per coordinate (min to max).

    >>> data_box(torch.tensor([[0.0, 2.0], [1.0, 3.0]])).upper.tolist()
    [1.0, 3.0]
    """
    x = check_points(points, "points", None).cpu()
    if x.shape[0] == 0:
        raise ValueError("points must hold at least one point")
    return SearchDomain.box(x.min(dim=0).values, x.max(dim=0).values)


def random_starts(points, count: int, seed: int) -> torch.Tensor:
    """``count`` distinct rows of ``points`` drawn with a generator seeded by ``seed`` (float64)."""
    x = check_points(points, "points", None).cpu()
    count = check_positive_int(count, "count")
    if count > x.shape[0]:
        raise ValueError(f"count={count} starts asked for but points holds {x.shape[0]}")
    generator = torch.Generator().manual_seed(check_seed(seed))
    return x[torch.randperm(x.shape[0], generator=generator)[:count]].clone()


def compare_searches(model, domain: SearchDomain, radius: float, *, starts: torch.Tensor, budget: int, seed: int,
                     measure: str = "alg1", norm: str = "l2", methods=SEARCH_ORDER, step_fraction: float = 0.05,
                     temperature=(2.0, 0.1), n_directions: int | None = None, adapt_step: bool = True):
    """Run each search method at the same budget; return its summary, its best-so-far curve and its best centre.

    The walkers (``starts.shape[0]`` of them) start at ``starts``; uniform sampling draws as many
    points per call. Steps are ``step_fraction`` of each coordinate's width.

    Returns
    -------
    summary : pandas.DataFrame
        method, measure, budget, evaluations, best_value, acceptance_rate, incomplete, seconds.
    curves : pandas.DataFrame
        method, evaluation (1-based), best (the best value after that many evaluations).
    centres : dict
        method -> (d,) float64 best centre.
    """
    rows, curves, centres = [], [], {}
    step = step_fraction * domain.extent
    for method in methods:
        started = time.perf_counter()
        result = search_regions(model, domain, radius, measure=measure, norm=norm, method=method, budget=budget,
                                chains=starts.shape[0], starts=None if method == "random" else starts, step=step,
                                temperature=temperature, seed=seed, n_directions=n_directions, adapt_step=adapt_step)
        seconds = time.perf_counter() - started
        rows.append({"method": method, "measure": measure, "budget": budget, "evaluations": result.evaluations,
                     "best_value": result.best_value, "acceptance_rate": result.acceptance_rate,
                     "incomplete": result.incomplete, "seconds": seconds})
        curves.append(pd.DataFrame({"method": method, "evaluation": range(1, result.evaluations + 1),
                                    "best": result.trace.numpy()}))
        centres[method] = result.best_center
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True), centres
