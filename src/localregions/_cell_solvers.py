"""Deciding whether a cell of the sign tree holds a ball of radius ``tolerance``: the batched tests and programs.

A cell is ``{z : rows . z + offsets >= tau, ||z|| <= 1 - tau}`` in the unit ball's coordinates (see
:mod:`localregions.counting`), and its margin ``tau*`` is the largest such ``tau``.  These functions
are stages 2-4 of "Deciding a side" in :mod:`localregions.signtree`, which drives them: the
one-constraint Lagrangian relaxation (:func:`relaxed_bounds`), the active-set and Lawson-Hanson
solves of the minimum-norm point with their checked points and weak-duality bounds
(:func:`active_set_solve`), and the cone (Clarabel, l2) or linear (HiGHS, linf) program
(:func:`solve_socp`, :func:`solve_lp`).  Every answer is used only through a checked point or a
checked dual bound, never trusted as it is.
"""

from __future__ import annotations

import clarabel
import numpy as np
import scipy.sparse
from scipy.optimize import linprog

__all__ = ["PAD_OFFSET", "active_set_solve", "ball_margin", "dual_norm", "relaxed_bounds", "solve_lp", "solve_socp"]

# Lawson-Hanson iterations for the sides the active-set iteration left open (0 disables them).
_LAWSON_HANSON_ITERATIONS = 60
# Added to the diagonal of the free block so that dependent rows do not make it singular; the
# answer is only used through checks, so this never affects soundness.
_RIDGE = 1e-13
# The linf relaxation forms a (sides, rows, d + 1, d) array: in pieces of this many sides.
_LINF_RELAXATION_PIECE = 32
# Offset of padding rows: 0 . z + 1 >= tau holds for every tau <= 1, so they constrain nothing.
PAD_OFFSET = 1.0


# (Norms written out: np.linalg.norm costs more than the arithmetic on these small arrays.)
def dual_norm(rows: np.ndarray, norm: str) -> np.ndarray:
    """Norm, dual to the ball's, of each row: the factor turning a row into a distance."""
    return np.sqrt((rows * rows).sum(axis=-1)) if norm == "l2" else np.abs(rows).sum(axis=-1)


def ball_margin(points: np.ndarray, norm: str) -> np.ndarray:
    if norm == "l2":
        return 1.0 - np.sqrt((points * points).sum(axis=-1))
    return 1.0 - np.abs(points).max(axis=-1, initial=0.0)


def _margins(points: np.ndarray, rows: np.ndarray, offsets: np.ndarray, norm: str) -> np.ndarray:
    """Checked margin of one point per cell: ``points (n, d)``, ``rows (n, m, d)``, ``offsets (n, m)``."""
    values = np.matmul(rows, points[:, :, None])[:, :, 0] + offsets
    return np.minimum(values.min(axis=1, initial=np.inf), ball_margin(points, norm))


def _dual_bounds(rows: np.ndarray, offsets: np.ndarray, multipliers: np.ndarray, norm: str) -> np.ndarray:
    """Weak-duality bounds on the margins of cells ``rows . z + offsets >= tau``, ``||z|| <= 1 - tau``.

    For any ``y >= 0``, not all zero, the Lagrangian gives
    ``tau* <= (y . offsets + ||rows^T y||_dual) / (sum(y) + ||rows^T y||_dual)``; ``inf`` where
    ``y = 0``.  Vectorised over the leading axis.
    """
    pull = dual_norm(np.matmul(multipliers[:, None, :], rows)[:, 0], norm)
    weight = multipliers.sum(axis=1) + pull
    bound = np.full(weight.shape, np.inf)
    np.divide((multipliers * offsets).sum(axis=1) + pull, weight, out=bound, where=weight > 0)
    return bound


def relaxed_bounds(rows, offsets, direction, offset, norm: str) -> np.ndarray:
    """Upper bounds on ``max direction . z + offset`` over the unit ball cut by any single cell row.

    Lagrangian duality on the ball and one row ``g . z + h >= 0`` gives
    ``max f.z + f0 <= f0 + min_{l >= 0} ||f + l g||_dual + l h``; the minimum over ``l`` is in
    closed form for l2 and attained at a breakpoint ``l = -f_k / g_k`` for linf.  The smallest
    bound over the rows is returned per side; every ``l >= 0`` gives a valid bound, so inexact
    minimisation would only weaken it.  A side whose bound is at most the tolerance is empty: the
    inscribed ball's centre lies in the cell, so the margin cannot exceed the new row's value
    there.  Shapes: ``rows (n, m, d)``, ``offsets (n, m)``, ``direction (n, d)``, ``offset (n,)``;
    padding rows ``(0, 1)`` give ``offset + 1``, no help, never harm.
    """
    if rows.shape[1] == 0:
        return offset + 1.0
    if norm == "l2":
        # Row u.z <= h with u = -g, ||u|| = ||f|| = 1: the optimum is z = f when f satisfies it,
        # otherwise on the plane u.z = h.
        alignment = -np.matmul(rows, direction[:, :, None])[:, :, 0]
        plane = offsets * alignment + np.sqrt(
            np.clip(1.0 - offsets**2, 0.0, None) * np.clip(1.0 - alignment**2, 0.0, None)
        )
        best = np.where(alignment <= offsets, 1.0, plane)
        return offset + best.min(axis=1)
    bounds = np.empty(rows.shape[0])
    for start in range(0, rows.shape[0], _LINF_RELAXATION_PIECE):
        piece = slice(start, start + _LINF_RELAXATION_PIECE)
        g, h, f = rows[piece], offsets[piece], direction[piece]
        with np.errstate(divide="ignore", invalid="ignore"):
            breakpoints = np.where(g != 0, -f[:, None, :] / g, 0.0)
        multipliers = np.concatenate([np.zeros(g.shape[:2] + (1,)), np.clip(breakpoints, 0.0, None)], axis=2)
        combined = f[:, None, None, :] + multipliers[:, :, :, None] * g[:, :, None, :]
        values = np.abs(combined).sum(axis=3) + multipliers * h[:, :, None]
        bounds[piece] = offset[piece] + values.min(axis=(1, 2))
    return bounds


def active_set_solve(rows, offsets, warm, tolerance: float, norm: str, iterations: int):
    """Stage 3: decide sides through the least-squares dual of the minimum-norm point.

    Parameters are stacked per side: ``rows (n, m, d)``, ``offsets (n, m)``, ``warm (n, m)``.
    Returns ``(nonempty, empty, points, margins, duals)``: the sides shown non-empty (with their
    checked ``points``, ``(n, d)``, and margins), the sides shown empty, and the last iterate of
    the duals (a warm start for the children).  A side in neither set is left to the solver.

    Each iteration takes the free set ``F = {i : y_i - (G y - b)_i > 0}`` (``G y = R R^T y`` is
    formed as ``R (R^T y)``, never ``G`` itself), solves ``G_FF y_F = b_F`` on it with the free
    rows packed first (free sets hold a handful of rows), sets the rest of ``y`` to zero, and
    checks the point and the bound.  A side leaves the loop when decided, or when its free set
    stops moving (a fixed point: another iteration would repeat the last).
    """
    count, width, dims = rows.shape
    nonempty = np.zeros(count, dtype=bool)
    empty = np.zeros(count, dtype=bool)
    points = np.zeros((count, dims))
    margins = np.full(count, -np.inf)
    duals = warm.copy()
    if iterations == 0 or count == 0:
        return nonempty, empty, points, margins, duals
    target = np.where(offsets >= PAD_OFFSET, -1.0, 2.0 * tolerance - offsets)
    live = np.arange(count)
    r, c, b, y = rows, offsets, target, duals[live]
    if norm == "linf":
        r, b = _with_faces(rows, target, tolerance)
        y = np.concatenate([y, np.zeros((count, 2 * dims))], axis=1)
    previous_free = None
    # R (R^T y) - b: the gradient of the least-squares dual; after each solve it comes from the
    # same product that checks the new point.
    gradient = np.matmul(r, np.matmul(y[:, None, :], r)[:, 0, :, None])[:, :, 0] - b
    for _ in range(iterations):
        free = (y - gradient) > 0
        if previous_free is not None:
            # A free set that did not move gives the iterate already checked: a fixed point.
            moving = ~(free == previous_free).all(axis=1)
            if not moving.all():
                live, r, c, b, free = live[moving], r[moving], c[moving], b[moving], free[moving]
            if live.size == 0:
                break
        size = int(free.sum(axis=1).max(initial=0))
        order = np.argsort(~free, axis=1, kind="stable")[:, :size]
        across = np.arange(live.size)[:, None]
        slot_free = free[across, order]
        packed = r[across, order] * slot_free[:, :, None]
        system = np.matmul(packed, packed.transpose(0, 2, 1))
        # Identity on the padding slots, a ridge on the free ones.
        diagonal = system.reshape(live.size, -1)[:, :: size + 1]
        diagonal += np.where(slot_free, _RIDGE, 1.0)
        rhs = np.where(slot_free, b[across, order], 0.0)
        try:
            solved = np.linalg.solve(system, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            solved = np.stack([np.linalg.lstsq(a, v, rcond=None)[0] for a, v in zip(system, rhs)])
        solved[~np.isfinite(solved)] = 0.0
        y = np.zeros((live.size, r.shape[1]))
        y[across, order] = solved * slot_free
        duals[live] = y[:, :width]
        point = np.matmul(y[:, None, :], r)[:, 0]
        values = np.matmul(r, point[:, :, None])[:, :, 0]
        gradient = values - b
        # Only iterates with y >= 0 are checked (the others are not optima, and their point
        # R^T y is not the one the duals certify); the fixed point always is.
        checked = (y >= 0).all(axis=1)
        margin = np.minimum((values[:, :width] + c).min(axis=1, initial=np.inf), ball_margin(point, norm))
        margin[~checked] = -np.inf
        witnessed = margin > tolerance
        if norm == "l2":
            pull = np.sqrt((point * point).sum(axis=1))
            weight = y.sum(axis=1) + pull
            bound = np.full(live.size, np.inf)
            np.divide((y * c).sum(axis=1) + pull, weight, out=bound, where=weight > 0)
        else:
            bound = _dual_bounds(r[:, :width], c, y[:, :width], norm)
        certified = checked & ~witnessed & (bound <= tolerance)
        nonempty[live[witnessed]] = True
        points[live[witnessed]] = point[witnessed]
        margins[live[witnessed]] = margin[witnessed]
        empty[live[certified]] = True
        keep = ~(witnessed | certified)
        if not keep.any():
            break
        if not keep.all():
            live, r, c, b, y, free, gradient = (
                live[keep], r[keep], c[keep], b[keep], y[keep], free[keep], gradient[keep]
            )
        previous_free = free
    undecided = np.flatnonzero(~(nonempty | empty))
    if undecided.size and _LAWSON_HANSON_ITERATIONS:
        # The active-set iteration can cycle (its matrix is not an M-matrix); the monotone
        # Lawson-Hanson method cannot, and settles most of what is left.
        full_r, full_b = (rows, target) if norm == "l2" else _with_faces(rows, target, tolerance)
        found, cut, point, margin, y = _lawson_hanson(
            full_r[undecided], offsets[undecided], full_b[undecided], width, tolerance, norm, _LAWSON_HANSON_ITERATIONS
        )
        nonempty[undecided[found]] = True
        points[undecided[found]] = point[found]
        margins[undecided[found]] = margin[found]
        empty[undecided[cut]] = True
        duals[undecided] = y[:, :width]
    return nonempty, empty, points, margins, duals


def _with_faces(rows, target, tolerance):
    """For linf: the cube's faces as rows too (``+-z_k >= -(1 - 2 tolerance)``) and their targets.

    The minimum-norm point then lies in the shrunk cube whenever the shrunk cell meets it, and the
    faces' duals let the cell's duals certify emptiness in the linf bound.  Only the cell's part
    is ever checked.
    """
    count, _, dims = rows.shape
    faces = np.concatenate([np.eye(dims), -np.eye(dims)])
    return (np.concatenate([rows, np.broadcast_to(faces, (count,) + faces.shape)], axis=1),
            np.concatenate([target, np.full((count, 2 * dims), 2.0 * tolerance - 1.0)], axis=1))


def _check(y, r, c, width, tolerance, norm):
    """The point ``R^T y`` and duals ``y >= 0`` of each side, checked: ``(point, values, margin, witnessed, certified)``.

    ``values = R point`` (all rows, faces included); ``margin`` is the point's margin in the cell
    (its first ``width`` rows and the ball), ``witnessed`` where it beats the tolerance,
    ``certified`` where the weak-duality bound of the cell's duals is at most the tolerance.
    """
    point = np.matmul(y[:, None, :], r)[:, 0]
    values = np.matmul(r, point[:, :, None])[:, :, 0]
    margin = np.minimum((values[:, :width] + c).min(axis=1, initial=np.inf), ball_margin(point, norm))
    witnessed = margin > tolerance
    if norm == "l2":
        pull = np.linalg.norm(point, axis=1)
        weight = y.sum(axis=1) + pull
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = np.where(weight > 0, ((y * c).sum(axis=1) + pull) / weight, np.inf)
    else:
        bound = _dual_bounds(r[:, :width], c, y[:, :width], norm)
    return point, values, margin, witnessed, ~witnessed & (bound <= tolerance)


def _lawson_hanson(r, c, b, width, tolerance, norm, iterations):
    """Stage 3, second part: the Lawson-Hanson active-set method on ``min y.G y / 2 - y.b``, ``y >= 0``.

    Batched: every side does one solve per iteration, either after adding the most negative
    gradient to its passive set (when its last solve was non-negative) or after stepping back to
    the boundary and dropping the coordinates that reached zero.  ``y`` stays non-negative, every
    accepted iterate is checked as in :func:`_check`, and a side stops when decided or optimal.
    """
    count, rows = r.shape[:2]
    found = np.zeros(count, dtype=bool)
    cut = np.zeros(count, dtype=bool)
    points = np.zeros((count, r.shape[2]))
    margins = np.full(count, -np.inf)
    y = np.zeros((count, rows))
    passive = np.zeros((count, rows), dtype=bool)
    gradient = -b.copy()
    outer = np.ones(count, dtype=bool)  # the last solve was accepted: look for a coordinate to add
    live = np.arange(count)
    for _ in range(iterations):
        g, p, yl, o = gradient[live], passive[live], y[live], outer[live]
        candidates = np.where(p | ~o[:, None], np.inf, g)
        best = candidates.argmin(axis=1)
        adding = o & (candidates[np.arange(live.size), best] < -1e-12)
        # Optimal (nothing to add) and still undecided: the solver will have to decide it.
        optimal = o & ~adding
        if optimal.any():
            live, g, p, yl, o, best, adding = (live[~optimal], g[~optimal], p[~optimal], yl[~optimal],
                                               o[~optimal], best[~optimal], adding[~optimal])
            if live.size == 0:
                break
        p[np.flatnonzero(adding), best[adding]] = True
        size = int(p.sum(axis=1).max(initial=0))
        order = np.argsort(~p, axis=1, kind="stable")[:, :size]
        across = np.arange(live.size)[:, None]
        slot = p[across, order]
        packed = r[live][across, order] * slot[:, :, None]
        system = np.matmul(packed, packed.transpose(0, 2, 1))
        system += np.eye(size) * np.where(slot, _RIDGE, 1.0)[:, :, None]
        rhs = np.where(slot, b[live][across, order], 0.0)
        try:
            solved = np.linalg.solve(system, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            solved = np.stack([np.linalg.lstsq(a, v, rcond=None)[0] for a, v in zip(system, rhs)])
        solved[~np.isfinite(solved)] = 0.0
        trial = np.zeros((live.size, rows))
        trial[across, order] = solved * slot
        accept = ((trial > 0) | ~p).all(axis=1)
        # Step back towards the trial point until the first passive coordinate reaches zero.
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(p & (trial <= 0), yl / (yl - trial), np.inf)
        step = np.clip(ratios.min(axis=1), 0.0, 1.0)
        stepped = yl + step[:, None] * (trial - yl)
        new_y = np.where(accept[:, None], trial, np.clip(stepped, 0.0, None))
        p &= accept[:, None] | (new_y > 1e-14)
        y[live], passive[live], outer[live] = new_y, p, accept
        point, values, margin, witnessed, certified = _check(new_y, r[live], c[live], width, tolerance, norm)
        gradient[live] = values - b[live]
        found[live[witnessed]] = True
        points[live[witnessed]] = point[witnessed]
        margins[live[witnessed]] = margin[witnessed]
        cut[live[certified]] = True
        live = live[~(witnessed | certified)]
        if live.size == 0:
            break
    return found, cut, points, margins, y


def solve_socp(rows, offsets) -> np.ndarray:
    """Clarabel: the deepest point of ``rows . z + offsets >= tau``, ``||z||_2 <= 1 - tau``."""
    count, width = rows.shape
    # Variables (z, tau); Clarabel's form is  A x + s = b,  s in cones.  The rows of A are the
    # cell's constraints, then 1 - tau >= ||z|| as the cone (1 - tau, z).  Built column by
    # column in CSC form directly: scipy's dense-to-sparse conversion would cost as much as the
    # solve.
    z_columns = np.empty((width, count + 1))
    z_columns[:, :count] = -rows.T
    z_columns[:, count] = -1.0
    z_indices = np.empty((width, count + 1), dtype=np.int64)
    z_indices[:, :count] = np.arange(count)
    z_indices[:, count] = count + 1 + np.arange(width)
    data = np.concatenate([z_columns.ravel(), np.ones(count + 1)])
    indices = np.concatenate([z_indices.ravel(), np.arange(count + 1)])
    indptr = np.concatenate([np.arange(width + 1) * (count + 1), [width * (count + 1) + count + 1]])
    constraint_matrix = scipy.sparse.csc_matrix((data, indices, indptr), shape=(count + 1 + width, width + 1))
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
    return np.asarray(solution.x[:width])


def solve_lp(rows, offsets) -> np.ndarray:
    """HiGHS: the deepest point of ``rows . z + offsets >= tau``, ``||z||_inf <= 1 - tau``."""
    count, width = rows.shape
    identity = np.eye(width)
    ones = np.ones((width, 1))
    constraint_matrix = np.block([[-rows, np.ones((count, 1))], [identity, ones], [-identity, ones]])
    bound = np.concatenate([offsets, np.ones(2 * width)])
    objective = np.zeros(width + 1)
    objective[width] = -1.0
    result = linprog(objective, A_ub=constraint_matrix, b_ub=bound, bounds=(None, None), method="highs")
    if result.status != 0:
        raise RuntimeError(f"HiGHS could not solve a cell's margin problem: {result.message}")
    return np.asarray(result.x[:width])
