"""Every local measure of the regions around a batch of points, one row per point: the tables of issue 24.

The columns, for the balls of one radius and norm around each point:

``alg1``, ``crown``
    C of Algorithm 1 and of CROWN (the ball meets at most 2^C regions; CROWN's is never larger).
``local_complexity``
    the neurons seen to change sign among the vertices of a random cross-polytope in the ball (a
    lower estimate of the neurons that do).
``boundary_distance``
    the distance from the point to the boundary of its own linear region.
``logit``
    the network's output at the point (one logit; for two, the second minus the first).
``decision_distance``
    ``|logit| / ||gradient of the logit||``: the distance to where the point's own affine map
    crosses zero, the first-order distance to the decision boundary (exact when the boundary
    lies in the point's region).
``nearest_reference``
    (with ``reference`` points given) the distance to the nearest of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..bounds import local_region_bound
from ..complexity import local_complexity
from ..regions import boundary_distance
from .models import network_copy

__all__ = ["MEASURE_COLUMNS", "local_measures", "logit_and_decision_distance", "nearest_distance"]

#: The measure columns of :func:`local_measures`, in order.
MEASURE_COLUMNS = ("alg1", "crown", "local_complexity", "boundary_distance", "logit", "decision_distance")


def logit_and_decision_distance(model: nn.Sequential, points: torch.Tensor, norm: str = "l2"):
    """The output logit (or logit difference) and ``|logit| / ||its gradient||_dual`` at each point, in float64.

    >>> net = nn.Sequential(nn.Linear(2, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[3.0, 4.0]])); _ = net[0].bias.zero_()
    >>> logit, distance = logit_and_decision_distance(net, torch.tensor([[1.0, 0.0]]))
    >>> logit.tolist(), distance.tolist()
    ([3.0], [0.6])
    """
    exact = network_copy(model, torch.float64)
    x = points.detach().to(torch.float64).clone().requires_grad_(True)
    out = exact(x)
    logit = out[:, 0] if out.shape[1] == 1 else out[:, 1] - out[:, 0]
    (gradient,) = torch.autograd.grad(logit.sum(), x)
    dual = 2.0 if norm == "l2" else 1.0
    size = torch.linalg.vector_norm(gradient, ord=dual, dim=1)
    logit = logit.detach()
    distance = torch.where(size > 0, logit.abs() / size.clamp_min(1e-300), torch.inf)
    return logit, distance


def nearest_distance(points: torch.Tensor, reference: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """L2 distance from each point to the nearest reference point, float64 (exact, in chunks).

    >>> nearest_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [1.0, 0.0]])).tolist()
    [1.0]
    """
    x = points.to(torch.float64)
    ref = reference.to(torch.float64)
    out = torch.empty(x.shape[0], dtype=torch.float64)
    for start in range(0, x.shape[0], chunk):
        out[start:start + chunk] = torch.cdist(x[start:start + chunk], ref, compute_mode="donot_use_mm_for_euclid_dist"
                                               ).min(dim=1).values
    return out


def local_measures(model: nn.Sequential, points: torch.Tensor, radius: float, *, norm: str = "l2",
                   complexity_directions: int | None = None, seed: int = 0,
                   reference: torch.Tensor | None = None) -> pd.DataFrame:
    """One row per point: ``point`` and the :data:`MEASURE_COLUMNS` (and ``nearest_reference``).

    ``seed`` seeds the cross-polytopes of the local complexity (frame ``n`` from ``(seed, n)``).
    An empty batch gives an empty table with the same columns.
    """
    columns = ["point", *MEASURE_COLUMNS] + (["nearest_reference"] if reference is not None else [])
    if points.shape[0] == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    x = points.detach().to(torch.float64).cpu()
    logit, decision = logit_and_decision_distance(model, x, norm)
    table = {
        "point": np.arange(x.shape[0]),
        "alg1": local_region_bound(model, x, radius, norm=norm).unstable.numpy(),
        "crown": local_region_bound(model, x, radius, norm=norm, method="crown").unstable.numpy(),
        "local_complexity": local_complexity(model, x, radius, n_directions=complexity_directions, seed=seed,
                                             norm=norm).lower_estimate.numpy(),
        "boundary_distance": boundary_distance(model, x, norm=norm).numpy(),
        "logit": logit.numpy(),
        "decision_distance": decision.numpy(),
    }
    if reference is not None:
        table["nearest_reference"] = nearest_distance(x, reference).numpy()
    return pd.DataFrame(table, columns=columns)
