"""FROZEN copy of ``localregions.counting`` as of commit 0afcdfb (the sign-tree counter before issue 15).

Do not edit: ``tests/test_counting_equivalence.py`` checks the current counter against this one.
Only the imports were made absolute.  Original docstring follows.

How tight is the bound: exact local region counts and sampled lower bounds.

Two counters bracket the number of linear regions of a ReLU network inside the ball
``B = {x : ||x - center|| <= radius}``, from below and exactly, to set against the upper bound
``2**C`` of :func:`localregions.bounds.local_region_bound`:

* :func:`sampled_region_count` counts the distinct activation patterns among random points of
  each ball: a lower bound (a region the samples miss is not counted), cheap and batched;
* :func:`exact_region_count` enumerates the activation patterns whose cells meet the ball with
  positive volume, one convex feasibility problem per undecided branch.

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

The signs are fixed one neuron at a time, depth first, layer by layer.  A neuron needs no branch
when the bound engine proves it stable (sign of the centre), when its row vanishes on the cell
(constant sign: active only if ``e_j > 0``), or when its hyperplane misses the ball (``|c| >= 1``,
sign of ``e_j``); such constraints are implied by the ball and are left out of the programs.
Neurons are branched far hyperplanes first (they split few cells, so they are decided while
the tree is narrow).  For a branching neuron, a side is shown to hold a region, without a solve,
by a known interior point of the cell (random points of the ball, the last solver optimum)
lying on it with margin ``> tolerance``, or by stepping such a point across the hyperplane; it
is shown empty, without a solve, by a weak-duality bound ``<= tolerance``: a one-constraint
Lagrangian relaxation in closed form, or the dual multipliers of an earlier solve on the same
neuron and side, re-weighed on the current cell's rows (they carry over between cells more
often than not).  Only the remaining sides reach the solver, whose duals are kept in turn.
Every counted region therefore carries a checked interior point; an empty verdict rests on a
checked dual bound or, failing that, on the solver's optimum.

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

import collections
from dataclasses import dataclass

import clarabel
import numpy as np
import scipy.sparse
import torch
from scipy.optimize import linprog

from localregions.bounds import local_region_bound
from localregions.layers import hidden_affine_layers
from localregions.validation import check_norm, check_points, check_positive_int, check_radius, check_seed
from localregions.regions import activation_patterns

__all__ = ["RegionCount", "RegionBudgetExceeded", "exact_region_count", "sampled_region_count"]

# Random interior points of the ball tried as witnesses before any solve; a fixed seed keeps
# solver_calls reproducible (the count itself does not depend on the points).
_WITNESS_POOL_SIZE = 2048
_WITNESS_POOL_SEED = 0
# Known points of a cell tried by _step_across before a solve.
_STEP_ACROSS_POINTS = 4
# Dual multipliers below this fraction of the largest are dropped from a kept certificate, and
# each neuron and side keeps its latest certificates only.
_CERTIFICATE_CUTOFF = 1e-4
_CERTIFICATES_KEPT = 16
# Elements of the (chunk * n_samples, neurons) pattern batch held at once by the sampler.
_SAMPLER_BATCH_ELEMENTS = 1 << 24


class RegionBudgetExceeded(RuntimeError):
    """Raised by ``int(RegionCount)`` when the enumeration stopped at its ``max_regions`` budget."""


@dataclass(frozen=True)
class RegionCount:
    """Result of :func:`exact_region_count`.

    Attributes
    ----------
    count : int
        Regions found.  The exact count when ``complete``; otherwise a lower bound
        (``max_regions + 1``: the enumeration stops at the first region past the budget).
    complete : bool
        Whether the enumeration finished within ``max_regions``.
    solver_calls : int
        Cone or linear programs solved (branches decided by a witness point or by the closed-form
        relaxation cost none).
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


def _dual_norm(rows: np.ndarray, norm: str) -> np.ndarray:
    """Norm, dual to the ball's, of each row: the factor turning a row into a distance."""
    return np.linalg.norm(rows, ord=2 if norm == "l2" else 1, axis=-1)


def _ball_margin(points: np.ndarray, norm: str) -> np.ndarray:
    return 1.0 - np.linalg.norm(points, ord=2 if norm == "l2" else np.inf, axis=-1)


def _relaxed_margin_bound(
    rows: np.ndarray, offsets: np.ndarray, direction: np.ndarray, offset: float, norm: str
) -> float:
    """Upper bound on ``max s(a.z + c)`` over the unit ball cut by any single cell constraint.

    Lagrangian duality on the ball and one constraint ``g.z + h >= 0`` gives
    ``max f.z + f0 <= f0 + min_{l >= 0} ||f + l g||_dual + l h``; the minimum over ``l`` is in
    closed form for l2 and attained at a breakpoint ``l = -f_k / g_k`` for linf.  Taking the
    smallest bound over the constraints costs one vectorised pass and settles most empty branches
    without a solver call.  Every ``l >= 0`` gives a valid bound, so inexact minimisation would
    only weaken it, never make it wrong.
    """
    if rows.shape[0] == 0:
        return offset + 1.0
    if norm == "l2":
        # Constraint u.z <= h with u = -g, ||u|| = ||f|| = 1: the optimum is z = f when f
        # satisfies it, otherwise on the plane u.z = h.
        alignment = -(rows @ direction)
        plane = offsets * alignment + np.sqrt(
            np.clip(1.0 - offsets**2, 0.0, None) * np.clip(1.0 - alignment**2, 0.0, None)
        )
        best = np.where(alignment <= offsets, 1.0, plane)
        return offset + float(best.min())
    with np.errstate(divide="ignore", invalid="ignore"):
        breakpoints = np.where(rows != 0, -direction / rows, 0.0)
    multipliers = np.concatenate([np.zeros((rows.shape[0], 1)), np.clip(breakpoints, 0.0, None)], axis=1)
    combined = direction[None, None, :] + multipliers[:, :, None] * rows[:, None, :]
    values = np.abs(combined).sum(axis=2) + multipliers * offsets[:, None]
    return offset + float(values.min())


def _dual_margin_bound(rows: np.ndarray, offsets: np.ndarray, multipliers: np.ndarray, norm: str) -> float:
    """Weak-duality bound on the margin of the cell ``rows . z + offsets >= tau``, ``||z|| <= 1 - tau``.

    For any ``y >= 0``, not all zero, the Lagrangian gives
    ``tau* <= (y . offsets + ||rows^T y||_dual) / (sum(y) + ||rows^T y||_dual)``.  With the
    solver's dual ``y`` it certifies an empty branch, and weighing the rows of the same neurons
    and sides it often certifies the same branch in other cells.
    """
    pull = float(_dual_norm(multipliers @ rows, norm))
    weight = float(multipliers.sum()) + pull
    return (float(multipliers @ offsets) + pull) / weight if weight > 0 else np.inf


@dataclass
class _LayerRoot:
    """One layer's branching state under one cell of the earlier layers."""

    index: int
    maps: np.ndarray
    offsets: np.ndarray
    neurons: np.ndarray  # the branching neurons, in branching order
    directions: np.ndarray  # their rows scaled to unit dual norm
    distances: np.ndarray  # their offsets on the same scale
    first_neuron: int  # index of the layer's first neuron among all hidden neurons
    active: np.ndarray  # the layer's pattern on the current path


class _SignTreeEnumerator:
    """Depth-first walk over sign vectors; one instance per exact count.

    The cell of a node is kept as ``rows . z + offsets >= tau`` (one row per branched neuron,
    unit dual norm) plus points known to lie inside it with margin above the tolerance.
    """

    def __init__(self, weights, biases, center, radius, norm, centre_active, proved_stable, tolerance, max_regions):
        self.weights = weights
        self.biases = biases
        self.norm = norm
        self.centre_active = centre_active
        self.proved_stable = proved_stable
        self.tolerance = tolerance
        self.max_regions = max_regions
        self.count = 0
        self.solver_calls = 0
        self.stopped = False
        widths = [weight.shape[0] for weight in weights]
        self.first_neuron = np.concatenate([[0], np.cumsum(widths)[:-1]])
        # The current path's rows by name and back; certificates of empty branches by the name
        # of the branch's own row.
        self.row_of_key = np.full(2 * sum(widths), -1)
        self.key_of_row = np.full(sum(widths), -1)
        self.certificates: dict[int, collections.deque] = {}
        self.first_map = (radius * weights[0], weights[0] @ center + biases[0])
        pool = self._random_interior_points(center.shape[0])
        self.initial_pool = pool[_ball_margin(pool, norm) > tolerance]

    def _random_interior_points(self, width: int) -> np.ndarray:
        rng = np.random.default_rng(_WITNESS_POOL_SEED)
        if self.norm == "linf":
            return rng.uniform(-1.0, 1.0, size=(_WITNESS_POOL_SIZE, width))
        directions = rng.standard_normal((_WITNESS_POOL_SIZE, width))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        return directions * rng.uniform(size=(_WITNESS_POOL_SIZE, 1)) ** (1.0 / width)

    def run(self) -> None:
        width = self.initial_pool.shape[1]
        self._enter_layer(0, *self.first_map, np.empty((0, width)), np.empty(0), self.initial_pool)

    def _enter_layer(self, index, maps, offsets, rows, row_offsets, pool) -> None:
        """Fix what needs no branch in layer ``index``, order the rest, and branch on them."""
        scale = _dual_norm(maps, self.norm)
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = np.where(scale > 0, offsets / scale, np.inf)
        stable = self.proved_stable[index]
        branching = np.flatnonzero(~stable & (np.abs(distance) < 1.0))
        # Far hyperplanes first: they split few cells, so they are decided while the tree is
        # still narrow, and the near ones, which split almost every cell, come last.
        branching = branching[np.argsort(-np.abs(distance[branching]), kind="stable")]
        root = _LayerRoot(
            index=index,
            maps=maps,
            offsets=offsets,
            neurons=branching,
            directions=maps[branching] / scale[branching, None],
            distances=distance[branching],
            first_neuron=self.first_neuron[index],
            active=np.where(stable, self.centre_active[index], offsets > 0),
        )
        self._branch(root, 0, rows, row_offsets, pool)

    def _branch(self, root: _LayerRoot, position: int, rows, row_offsets, pool) -> None:
        if position == root.neurons.size:
            self._finish_layer(root, rows, row_offsets, pool)
            return
        for side in (1.0, -1.0):
            if self.stopped:
                return
            sub_cell = self._side(root, position, side, rows, row_offsets, pool)
            if sub_cell is None:
                continue
            root.active[root.neurons[position]] = side > 0
            key = self._row_key(root, position, side)
            self.row_of_key[key] = rows.shape[0]
            self.key_of_row[rows.shape[0]] = key
            self._branch(root, position + 1, *sub_cell)
            self.row_of_key[key] = -1

    def _finish_layer(self, root: _LayerRoot, rows, row_offsets, pool) -> None:
        if root.index + 1 == len(self.weights):
            self.count += 1
            self.stopped = self.count > self.max_regions
            return
        weight = self.weights[root.index + 1]
        # ReLU keeps the active rows of the cell's affine map and zeroes the rest.
        next_maps = weight @ (root.maps * root.active[:, None])
        next_offsets = weight @ (root.offsets * root.active) + self.biases[root.index + 1]
        self._enter_layer(root.index + 1, next_maps, next_offsets, rows, row_offsets, pool)

    def _side(self, root: _LayerRoot, position: int, side: float, rows, row_offsets, pool):
        """Decide whether the cell has a region on ``side`` of the neuron at ``position``.

        Returns ``None`` when that side's margin is at most the tolerance, else the sub-cell as
        ``(rows, offsets, known interior points)``.  Cheapest evidence first: a known point of
        the cell already on that side, the closed-form relaxation, a cousin's dual certificate,
        a step across the hyperplane, and only then the solver.
        """
        direction = side * root.directions[position]
        distance = side * root.distances[position]
        values = pool @ direction + distance
        new_rows = np.vstack([rows, direction])
        new_offsets = np.append(row_offsets, distance)
        on_side = values > self.tolerance
        if on_side.any():
            return new_rows, new_offsets, pool[on_side]
        if _relaxed_margin_bound(rows, row_offsets, direction, distance, self.norm) <= self.tolerance:
            return None
        if self._certified_empty(root, position, side, rows, row_offsets):
            return None
        witness = self._step_across(pool, values, direction, new_rows, new_offsets)
        if witness is None:
            witness, multipliers = self._max_margin_point(new_rows, new_offsets)
            if witness is None:
                self._keep_certificate(root, position, side, new_rows, new_offsets, multipliers)
                return None
        return new_rows, new_offsets, witness[None, :]

    @staticmethod
    def _row_key(root: _LayerRoot, position: int, side: float) -> int:
        """Name a cell row by neuron and side, the same under every cell of the earlier layers."""
        return 2 * (root.first_neuron + int(root.neurons[position])) + (side > 0)

    def _certified_empty(self, root: _LayerRoot, position, side, rows, row_offsets) -> bool:
        """Try the dual certificates of earlier empty verdicts on the same neuron and side.

        A certificate weighs rows named by neuron and side; wherever the current path has all
        of them, the weak-duality bound is re-evaluated on the current rows (which, past the first
        layer, may differ from the rows it was found with), so a reused certificate is as sound
        as a fresh one.
        """
        own_row = side * root.directions[position]
        own_offset = side * root.distances[position]
        for keys, multipliers in reversed(self.certificates.get(self._row_key(root, position, side), ())):
            used = self.row_of_key[keys]
            if (used < 0).any():
                continue
            bound = _dual_margin_bound(
                np.vstack([rows[used], own_row]), np.append(row_offsets[used], own_offset), multipliers, self.norm
            )
            if bound <= self.tolerance:
                return True
        return False

    def _keep_certificate(self, root: _LayerRoot, position, side, rows, row_offsets, multipliers) -> None:
        """Store the solver's dual for later cells, if it does certify emptiness."""
        if multipliers is None:
            return
        multipliers = np.clip(multipliers, 0.0, None)
        # Without the negligible weights a certificate names fewer rows and applies to more cells.
        sparse = np.where(multipliers < _CERTIFICATE_CUTOFF * multipliers.max(), 0.0, multipliers)
        for candidate in (sparse, multipliers):
            if _dual_margin_bound(rows, row_offsets, candidate, self.norm) <= self.tolerance:
                break
        else:
            return
        used = np.flatnonzero(candidate[:-1])
        store = self.certificates.setdefault(
            self._row_key(root, position, side), collections.deque(maxlen=_CERTIFICATES_KEPT)
        )
        store.append((self.key_of_row[used], np.append(candidate[used], candidate[-1])))

    def _step_across(self, pool, signed_values, direction, rows, offsets) -> np.ndarray | None:
        """Try to reach the new side from the cell's nearest known points; None if it fails.

        A known point at distance ``w`` on the wrong side is moved along the hyperplane's normal
        to distance ``w`` or ``w / 4`` on the right side.  Cheap, and when it works the checked
        margin is as good a certificate as a solver's point.
        """
        behind = np.flatnonzero(signed_values < 0)
        if behind.size == 0:
            return None
        nearest = behind[np.argsort(-signed_values[behind])[:_STEP_ACROSS_POINTS]]
        gaps = -signed_values[nearest]
        normal = direction if self.norm == "l2" else np.sign(direction)
        steps = np.concatenate([2.0 * gaps, 1.25 * gaps])
        candidates = np.concatenate([pool[nearest], pool[nearest]]) + steps[:, None] * normal
        margins = np.minimum((candidates @ rows.T + offsets).min(axis=1), _ball_margin(candidates, self.norm))
        best = int(np.argmax(margins))
        return candidates[best] if margins[best] > self.tolerance else None

    def _max_margin_point(self, rows: np.ndarray, offsets: np.ndarray):
        """Solve for the cell's deepest point.

        Returns ``(point, None)`` when the point's checked margin beats the tolerance, else
        ``(None, multipliers)`` with the solver's dual multipliers of the rows.
        """
        self.solver_calls += 1
        count, width = rows.shape
        solve = self._solve_socp if self.norm == "l2" else self._solve_lp
        point, multipliers = solve(rows, offsets, count, width)
        margin = min(float((rows @ point + offsets).min()), float(_ball_margin(point, self.norm)))
        return (point, None) if margin > self.tolerance else (None, multipliers)

    @staticmethod
    def _solve_socp(rows, offsets, count, width) -> tuple[np.ndarray, np.ndarray]:
        # Variables (z, tau); Clarabel's form is  A x + s = b,  s in cones.  The rows of A are
        # the cell's constraints, then 1 - tau >= ||z|| as the cone (1 - tau, z).  Built
        # column by column in CSC form directly: scipy's dense-to-sparse conversion would cost
        # as much as the solve.
        z_columns = np.empty((width, count + 1))
        z_columns[:, :count] = -rows.T
        z_columns[:, count] = -1.0
        z_indices = np.empty((width, count + 1), dtype=np.int64)
        z_indices[:, :count] = np.arange(count)
        z_indices[:, count] = count + 1 + np.arange(width)
        data = np.concatenate([z_columns.ravel(), np.ones(count + 1)])
        indices = np.concatenate([z_indices.ravel(), np.arange(count + 1)])
        indptr = np.concatenate([np.arange(width + 1) * (count + 1), [width * (count + 1) + count + 1]])
        constraint_matrix = scipy.sparse.csc_matrix(
            (data, indices, indptr), shape=(count + 1 + width, width + 1)
        )
        bound = np.zeros(count + 1 + width)
        bound[:count] = offsets
        bound[count] = 1.0
        objective = np.zeros(width + 1)
        objective[width] = -1.0
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        solver = clarabel.DefaultSolver(
            scipy.sparse.csc_matrix((width + 1, width + 1)),
            objective,
            constraint_matrix,
            bound,
            [clarabel.NonnegativeConeT(count), clarabel.SecondOrderConeT(width + 1)],
            settings,
        )
        solution = solver.solve()
        if str(solution.status) not in ("Solved", "AlmostSolved"):
            raise RuntimeError(f"Clarabel could not solve a cell's margin problem (status {solution.status})")
        return np.asarray(solution.x[:width]), np.asarray(solution.z[:count])

    @staticmethod
    def _solve_lp(rows, offsets, count, width) -> tuple[np.ndarray, np.ndarray]:
        identity = np.eye(width)
        ones = np.ones((width, 1))
        constraint_matrix = np.block(
            [[-rows, np.ones((count, 1))], [identity, ones], [-identity, ones]]
        )
        bound = np.concatenate([offsets, np.ones(2 * width)])
        objective = np.zeros(width + 1)
        objective[width] = -1.0
        result = linprog(objective, A_ub=constraint_matrix, b_ub=bound, bounds=(None, None), method="highs")
        if result.status != 0:
            raise RuntimeError(f"HiGHS could not solve a cell's margin problem: {result.message}")
        # HiGHS reports marginals of "<=" rows of a minimisation as <= 0.
        return np.asarray(result.x[:width]), -np.asarray(result.ineqlin.marginals[:count])


def exact_region_count(
    layers,
    center,
    radius: float,
    norm: str = "l2",
    max_regions: int = 10_000,
    *,
    tolerance: float = 1e-6,
) -> RegionCount:
    """Count the linear regions meeting the ball around ``center`` with positive volume.

    Parameters
    ----------
    layers : nn.Sequential or sequence of (weight, bias)
        The network, as for :func:`localregions.bounds.local_region_bound`.
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
    hidden = hidden_affine_layers(layers)
    norm = check_norm(norm)
    radius = check_radius(radius)
    max_regions = check_positive_int(max_regions, "max_regions")
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
        raise ValueError(f"tolerance must be a number in (0, 1), got {tolerance!r}")
    try:
        center_tensor = torch.as_tensor(center.detach() if isinstance(center, torch.Tensor) else center)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"center must be a 1-D point of shape (d,), got {type(center).__name__}") from exc
    if center_tensor.ndim != 1:
        raise ValueError(f"center must be a 1-D point of shape (d,), got shape {tuple(center_tensor.shape)}")
    if not hidden:
        check_points(center_tensor[None], "center", None)
        # No hidden ReLU: the network is affine everywhere.
        return RegionCount(count=1, complete=True, solver_calls=0, max_regions=max_regions)
    centers = check_points(center_tensor[None], "center", hidden[0][0].shape[1], device=hidden[0][0].device)

    bound = local_region_bound(hidden, centers, radius, norm=norm)
    centre_pattern = activation_patterns(hidden, centers)[0].cpu().numpy()
    widths = [weight.shape[0] for weight, _ in hidden]
    splits = np.cumsum(widths)[:-1]
    enumerator = _SignTreeEnumerator(
        weights=[weight.cpu().numpy() for weight, _ in hidden],
        biases=[bias.cpu().numpy() for _, bias in hidden],
        center=centers[0].cpu().numpy(),
        radius=radius,
        norm=norm,
        centre_active=np.split(centre_pattern, splits),
        proved_stable=[(~flags[0]).cpu().numpy() for flags in bound.S],
        tolerance=float(tolerance),
        max_regions=max_regions,
    )
    enumerator.run()
    return RegionCount(
        count=enumerator.count,
        complete=not enumerator.stopped,
        solver_calls=enumerator.solver_calls,
        max_regions=max_regions,
    )


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
    layers : nn.Sequential or sequence of (weight, bias)
        The network, as for :func:`localregions.bounds.local_region_bound`.
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
