"""How tight is the bound: exact local region counts and sampled lower bounds.

Two counters bracket the number of linear regions of a ReLU network inside the ball
``B = {x : ||x - center|| <= radius}``, from below and exactly, to set against the upper bound
``2**C`` of :func:`localregions.bounds.local_region_bound`:

* :func:`sampled_region_count` counts the distinct activation patterns among random points of
  each ball: a lower bound (a region the samples miss is not counted), cheap and batched;
* :func:`exact_region_count` enumerates the activation patterns whose cells meet the ball with
  positive volume: a sign tree whose branches are decided by checked points and dual bounds,
  batched, with a cone or linear program only where those leave a branch open.

What is counted
---------------
A *region* is an activation pattern (pre-activation ``> 0`` per hidden neuron, as in
:func:`localregions.regions.activation_patterns`) whose cell meets the ball with positive volume.
Adjacent cells on which the network happens to compute the same affine map count separately, as
in the paper.

Exact enumeration
-----------------
Coordinates are normalised to the unit ball, ``x = center + radius * z``.  On a cell, hidden
neuron ``j`` of layer ``k`` has pre-activation ``m_j . z + e_j``, where ``(m_j, e_j)`` depend on the
signs already fixed in layers ``< k``.  Its row is scaled by the dual norm of ``m_j`` (l2 for the
l2 ball, l1 for the linf ball), so ``a . z + c`` with ``||a||_dual = 1`` is the signed distance
from ``z`` to the neuron's hyperplane in the ball's own norm.  The cell of a sign vector ``s``,
intersected with the ball, then has *margin*

    tau* = max tau  s.t.  s_i (a_i . z + c_i) >= tau  for every fixed neuron i,
                          ||z|| <= 1 - tau,

the radius (relative to ``radius``) of the largest ball of the same norm inside it: a
second-order cone program for l2 (solved with Clarabel) and a linear program for linf (solved
with HiGHS through :func:`scipy.optimize.linprog`).  It is always feasible and bounded, and the
intersection has positive volume exactly when ``tau* > 0``.  Floating-point solvers cannot decide
``tau* > 0`` for arbitrarily thin cells, so a cell counts when ``tau* > tolerance``: the count is
exactly the number of regions containing a ball of radius ``tolerance * radius`` inside ``B``,
and it is consistent down the tree (a sub-cell's margin never exceeds its parent's).

The signs are fixed one neuron at a time, layer by layer (the tree itself lives in
:mod:`localregions.signtree`).  A neuron needs no branch when it is proved stable (sign of the
centre; only with ``prune`` set to a bound method), when its row vanishes on the cell (constant sign:
active only if ``e_j > 0``), or when its hyperplane misses the ball (``|c| >= 1``, sign of
``e_j``); such constraints are implied by the ball and are left out of the programs.  Neurons are
branched far hyperplanes first (they split few cells, so they are decided while the tree is
narrow).  Many nodes are decided at once, as stacked arrays, and a side of a branch is decided by
the cheapest of: a known point of the cell lying on it with margin ``> tolerance`` (non-empty);
the closed-form one-constraint Lagrangian relaxation, on the cell's rows and on an aggregate
row of the cell (empty); an active-set solve of the cell's point nearest the centre, whose point
and duals are *checked* (a margin ``> tolerance``: non-empty; a weak-duality bound
``<= tolerance``: empty); and only then the cone or linear program above.  Every counted region
therefore carries a checked interior point, and every cut rests on a checked dual bound or, failing
that, on the solver's optimum, exactly as the count is defined.  On entering a layer, the
neurons whose hyperplane visibly misses a node's cell (the relaxation says so, a known point
lies on the other side) are fixed without a branch, their rows added to the cell as a branch would
have added them.

Rounding
--------
The maps of the cells are formed in float64 from the weights.  A neuron whose pre-activation
cancels to exactly zero on a whole cell (possible with integer-valued weights) is where rounding
can matter: when its row comes out exactly zero, as it does when the cancelling terms are equal
products, it does not branch and counts as inactive, as exact arithmetic says, whereas
:func:`sampled_region_count` sees it through rounding and may report a pattern no region has;
when rounding leaves a tiny row, both counters follow the rounded network.  With weights in
general position none of this arises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .bounds import local_region_bound
from .layers import hidden_affine_layers
from .regions import activation_patterns
from .signtree import BatchedSignTree
from .validation import check_norm, check_points, check_positive_int, check_radius, check_seed

__all__ = ["RegionCount", "RegionBudgetExceeded", "exact_region_count", "sampled_region_count"]

# Elements of the (chunk * n_samples, neurons) pattern batch held at once by the sampler.
_SAMPLER_BATCH_ELEMENTS = 1 << 24


class RegionBudgetExceeded(RuntimeError):
    """Raised when a region budget is passed: by ``int(RegionCount)`` when the enumeration stopped at
    its ``max_regions``, and by :func:`localregions.slices.slice_partition` past its own."""


@dataclass(frozen=True)
class RegionCount:
    """Result of :func:`exact_region_count`.

    Attributes
    ----------
    count : int
        Regions found.  The exact count when ``complete``; otherwise a lower bound, more than
        ``max_regions`` (the enumeration stops after the batch of cells in which the budget was
        passed, so it may have found a few more).
    complete : bool
        Whether the enumeration finished within ``max_regions``.
    solver_calls : int
        Cone or linear programs solved (Clarabel for l2, HiGHS for linf).  Branches decided by a
        known point, the closed-form relaxation or the checked active-set solve cost none; on
        the experiment's networks almost every branch is decided that way.
    max_regions : int
        The budget the count ran under.
    """

    count: int
    complete: bool
    solver_calls: int
    max_regions: int

    def __int__(self) -> int:
        if not self.complete:
            raise RegionBudgetExceeded(
                f"the ball holds more than max_regions={self.max_regions} regions; the enumeration "
                f"stopped with a lower bound of {self.count}. Raise max_regions for the exact count."
            )
        return self.count


# Bound methods of local_region_bound whose stable flags may prune the tree, or None.
PRUNE_CHOICES = ("alg1", "ibp", "crown", "lp", None)


def exact_region_count(
    layers,
    center,
    radius: float,
    norm: str = "l2",
    max_regions: int = 10_000,
    *,
    tolerance: float = 1e-6,
    prune: str | None = None,
) -> RegionCount:
    """Count the linear regions meeting the ball around ``center`` with positive volume.

    Parameters
    ----------
    layers : nn.Module, NetworkLayers or sequence of (weight, bias)
        The network: a torch module (see :mod:`localregions.layers`) or its hidden layers.
    center : tensor or array-like, shape (d,)
        Centre of the ball.
    radius : float
        Radius of the ball, > 0.
    norm : {"l2", "linf"}
        The ball's norm.
    max_regions : int, default 10000
        Budget: the enumeration stops at the first region past it and reports
        ``complete=False``.
    tolerance : float, default 1e-6
        A region counts when it contains a ball of radius ``tolerance * radius`` inside the ball
        (see the module docstring); ``0 < tolerance < 1``.
    prune : {None, "alg1", "ibp", "crown", "lp"}, default None
        ``None`` (the default): no bound is used, and every neuron whose hyperplane crosses the
        ball (on the cell's own affine map) is branched on, so the count is independent of every
        bound it is compared with (``exact <= 2**C`` is then a real check of the bound, not true
        by construction). A bound method of :func:`localregions.bounds.local_region_bound`:
        neurons it proves stable over the ball take the centre's sign without a branch. The count
        is the same either way (the tests check it, which is a check of the bound's soundness);
        on the bench's networks ``None`` is even 10-25% faster, because the per-cell test already
        settles what the bound would prune and the bound call costs about a millisecond.

    Returns
    -------
    RegionCount
        ``int()`` of it is the count, or raises :class:`RegionBudgetExceeded` when incomplete.

    Raises
    ------
    ValueError
        Naming the bad argument.
    RuntimeError
        If a solver fails on a margin problem (never a silently wrong count).
    """
    tree = _enumerate(layers, center, radius, norm, max_regions, tolerance, prune)
    return RegionCount(
        count=tree.count,
        complete=not tree.stopped,
        solver_calls=tree.solver_calls,
        max_regions=max_regions,
    )


def _enumerate(layers, center, radius, norm, max_regions, tolerance, prune, collect: bool = False):
    """Check the arguments and run the sign tree; returns the finished :class:`BatchedSignTree`.

    Without hidden layers a stand-in with ``count=1`` is returned (the network is affine).
    ``collect=True`` keeps the counted patterns (``tree.patterns``, a list of boolean arrays).
    """
    hidden = hidden_affine_layers(layers)
    norm = check_norm(norm)
    radius = check_radius(radius)
    max_regions = check_positive_int(max_regions, "max_regions")
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
        raise ValueError(f"tolerance must be a number in (0, 1), got {tolerance!r}")
    if prune not in PRUNE_CHOICES:
        raise ValueError(f"prune must be one of {PRUNE_CHOICES}, got {prune!r}")
    try:
        center_tensor = torch.as_tensor(center.detach() if isinstance(center, torch.Tensor) else center)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"center must be a 1-D point of shape (d,), got {type(center).__name__}") from exc
    if center_tensor.ndim != 1:
        raise ValueError(f"center must be a 1-D point of shape (d,), got shape {tuple(center_tensor.shape)}")
    if not hidden:
        check_points(center_tensor[None], "center", None)
        # No hidden ReLU: the network is affine everywhere.
        return _Affine()
    centers = check_points(center_tensor[None], "center", hidden[0][0].shape[1], device=hidden[0][0].device)

    widths = [weight.shape[0] for weight, _ in hidden]
    if prune is not None:
        bound = local_region_bound(hidden, centers, radius, norm=norm, method=prune)
        stable = [(~flags[0]).cpu().numpy() for flags in bound.S]
    else:
        stable = [np.zeros(width, dtype=bool) for width in widths]
    centre_pattern = activation_patterns(hidden, centers)[0].cpu().numpy()
    tree = BatchedSignTree(
        weights=[weight.detach().cpu().double().numpy() for weight, _ in hidden],
        biases=[bias.detach().cpu().double().numpy() for _, bias in hidden],
        center=centers[0].cpu().double().numpy(),
        radius=radius,
        norm=norm,
        centre_active=np.split(centre_pattern, np.cumsum(widths)[:-1]),
        stable=stable,
        tolerance=float(tolerance),
        max_regions=max_regions,
        collect=collect,
    )
    tree.run()
    return tree


class _Affine:
    """What :func:`_enumerate` returns for a network without hidden layers: one region."""

    count, stopped, solver_calls = 1, False, 0
    patterns: list = []


def _ball_samples(rng: np.random.Generator, n_samples: int, width: int, norm: str) -> np.ndarray:
    """Points of the unit ball: the first half uniform inside, the rest uniform on the boundary."""
    n_surface = n_samples // 2
    n_inside = n_samples - n_surface
    if norm == "l2":
        directions = rng.standard_normal((n_samples, width))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        scales = np.ones((n_samples, 1))
        scales[:n_inside, 0] = rng.uniform(size=n_inside) ** (1.0 / width)
        return directions * scales
    points = rng.uniform(-1.0, 1.0, size=(n_samples, width))
    # Uniform on the cube's surface: a uniformly chosen face (coordinate and sign), uniform on it.
    faces = rng.integers(0, 2 * width, size=n_surface)
    points[n_inside + np.arange(n_surface), faces % width] = np.where(faces < width, 1.0, -1.0)
    return points


def _pack_patterns(patterns: torch.Tensor) -> torch.Tensor:
    """Pack boolean rows into int64 words (62 bits each, so no word reaches the sign bit)."""
    bits_per_word = 62
    count, neurons = patterns.shape
    padded = torch.zeros(count, -(-neurons // bits_per_word) * bits_per_word, dtype=torch.int64, device=patterns.device)
    padded[:, :neurons] = patterns.to(torch.int64)
    place_values = torch.pow(2, torch.arange(bits_per_word, device=patterns.device, dtype=torch.int64))
    return (padded.view(count, -1, bits_per_word) * place_values).sum(dim=2)


def sampled_region_count(
    layers,
    centers,
    radius: float,
    n_samples: int,
    seed: int,
    norm: str = "l2",
) -> torch.Tensor:
    """Count the distinct activation patterns among random points of each ball: a lower bound.

    Each ball gets ``n_samples`` points, half uniform inside and half uniform on its boundary
    (for linf: in the cube and on its faces), so regions touching the ball only near its rim are
    found too.  Every sampled pattern is (almost surely) that of a region meeting the ball with
    positive volume, hence ``sampled <= exact``.

    Parameters
    ----------
    layers : nn.Module, NetworkLayers or sequence of (weight, bias)
        The network: a torch module (see :mod:`localregions.layers`) or its hidden layers.
    centers : tensor or array-like, shape (N, d)
        Centres of the balls.
    radius : float
        Radius of every ball, > 0.
    n_samples : int
        Points per ball, >= 1.
    seed : int
        Non-negative seed.  Centre ``i`` draws from a stream seeded by ``(seed, i)``, so the result
        is reproducible and does not depend on how the batch is chunked.
    norm : {"l2", "linf"}
        The balls' norm.

    Returns
    -------
    torch.Tensor
        ``(N,)`` int64 counts, on the CPU.

    Raises
    ------
    ValueError
        Naming the bad argument.
    """
    hidden = hidden_affine_layers(layers)
    norm = check_norm(norm)
    radius = check_radius(radius)
    n_samples = check_positive_int(n_samples, "n_samples")
    seed = check_seed(seed)
    input_width = hidden[0][0].shape[1] if hidden else None
    device = hidden[0][0].device if hidden else None
    points = check_points(centers, "centers", input_width, device=device)
    if not hidden:
        return torch.ones(points.shape[0], dtype=torch.int64)

    neurons = sum(weight.shape[0] for weight, _ in hidden)
    per_centre = n_samples * (points.shape[1] + neurons)
    chunk = max(1, _SAMPLER_BATCH_ELEMENTS // per_centre)
    counts = torch.zeros(points.shape[0], dtype=torch.int64)
    for start in range(0, points.shape[0], chunk):
        stop = min(start + chunk, points.shape[0])
        offsets = np.stack(
            [_ball_samples(np.random.default_rng([int(seed), index]), n_samples, points.shape[1], norm)
             for index in range(start, stop)]
        )
        samples = points[start:stop, None, :] + radius * torch.from_numpy(offsets).to(points.device)
        patterns = activation_patterns(hidden, samples.reshape(-1, points.shape[1]))
        owner = torch.arange(stop - start, device=points.device).repeat_interleave(n_samples)
        keys = torch.cat([owner[:, None], _pack_patterns(patterns)], dim=1)
        distinct_owners = torch.unique(keys, dim=0)[:, 0]
        counts[start:stop] = torch.bincount(distinct_owners, minlength=stop - start).cpu()
    return counts
