"""Batched sign-tree enumeration behind :func:`localregions.counting.exact_region_count` (private).

The tree and what is counted are those of :mod:`localregions.counting` (read its module docstring
first): coordinates ``x = center + radius * z``, one row ``a . z + c >= tau`` per branched neuron,
scaled to unit dual norm, and a pattern counts when its cell contains a ball of radius
``tolerance`` (relative) inside the unit ball, i.e. when its margin ``tau*`` exceeds the
tolerance.  Subtrees whose margin is at most the tolerance are cut, which is exact because a
sub-cell's margin never exceeds its parent's.

What differs from a plain depth-first walk is how a branch is decided, and that many branches are
decided at once.

Batches
-------
Nodes (sign prefixes) are held as stacked arrays: their cell's rows as indices and signs into a
shared row store (each hyperplane's unit-dual-norm row is stored once, when nodes enter its layer,
and dropped when no live node uses it), the neurons of the current layer still to branch on (far
hyperplanes first, as before), a few points known to lie in the cell with their checked margins,
an aggregate row of the cell, and a warm start for the active-set solve.  A work list of such
blocks is processed last in, first out (depth first, so memory stays bounded and ``max_regions``
is reached early); each step takes up to ``_CHUNK`` nodes, decides both sides of each node's next
neuron with vectorised tests, and pushes the non-empty sides back as children.  A node whose layer
is done either counts (last layer) or gets the next layer's neurons, recomputed from its pattern.

Deciding a side
---------------
In order, each stage handling what the previous left open:

1. **A known point** of the cell on that side with margin above the tolerance: non-empty.
2. **The one-constraint Lagrangian relaxation** (closed form, as before), over the cell's rows and
   its aggregate row ``(R^T y) . z + y . c >= 0`` (valid for the cell for any ``y >= 0``; with
   the duals of the cell's point nearest the centre it is the supporting half-space there, which
   cuts most of the ball away for cells far from the centre): empty.
3. **An active-set solve of the minimum-norm point.**  For ``b = 2 tolerance - c`` the cell
   shrunk by ``2 tolerance`` is ``{z : R z >= b}``, and its point nearest the ball's centre
   solves ``min ||z||_2^2 / 2  s.t.  R z >= b``, whose dual is the non-negative least-squares
   problem ``min_{y >= 0} y.G y / 2 - y.b`` with ``G = R R^T``.  A primal-dual active-set
   iteration (guess the free set ``{y_i - (G y - b)_i > 0}``, solve the equations on it, repeat),
   warm-started from the parent's duals, settles most sides in one or two iterations, batched
   over all open sides; it can cycle, so what it leaves open goes through the (monotone)
   Lawson-Hanson active-set method.  The answers are used only through two checks, so they
   never have to be trusted or even converged:

   * the point ``z = R^T y`` (``y >= 0``): if its margin ``min(min_i (R z + c)_i, 1 - ||z||)``
     exceeds the tolerance, the side is non-empty and ``z`` joins the child's known points;
   * the multipliers ``y >= 0``: if the weak-duality bound
     ``(y.c + ||R^T y||_dual) / (sum(y) + ||R^T y||_dual)`` on the margin is at most the
     tolerance, the side is empty (the bound holds for every ``y >= 0``; the least-squares duals
     make it tight because minimising it is the dual of the margin problem).

   For the linf ball the cube's faces join the rows of the least-squares problem, so that its
   point lies in the (shrunk) cube when the cell meets it; the checks are the linf ones (ball
   margin ``1 - ||z||_inf``, dual norm l1, on the cell's own multipliers).
4. **The cone or linear program** of the module docstring (Clarabel for l2, HiGHS for linf),
   exactly as before, for whatever is still open: a side counts when the solver's optimum has
   a checked margin above the tolerance.

Before any of this, on entering a layer (l2), a neuron whose far side (away from the node's
deepest known point) stage 2 shows empty is fixed to the point's side at once: its row joins the
cell as the branch would have added it, and the point still witnesses the cell.  That settles in
one pass what would otherwise cost a level of the tree per neuron.

So every counted region carries a checked interior point, and every cut rests on a checked dual
bound or on the solver's optimum; stages 1-3 only decide sides that the solver would have decided
the same way (up to the solver's own accuracy on margins within ~1e-8 of the tolerance, where a
checked point or bound is the more reliable verdict).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, fields

import clarabel
import numpy as np
import scipy.sparse
from scipy.optimize import linprog

# Random interior points of the ball given to the root as known points (fixed seed: solver
# counts are reproducible; the count itself does not depend on the points).
_WITNESS_POOL_SIZE = 256
_WITNESS_POOL_SEED = 0
# Known points kept per node after the root.
_POINTS_KEPT = 4
# Nodes decided per vectorised step.
_CHUNK = 512
# Active-set iterations before a side goes to the cone or linear program (0 disables stage 3).
# Most sides are decided in 1-3; unit-scale weights in few input dimensions need more.
_ACTIVE_SET_ITERATIONS = 20
# Lawson-Hanson iterations for the sides the active-set iteration left open (0 disables them).
_LAWSON_HANSON_ITERATIONS = 60
# Stage 2 on or off (the tests turn the shortcuts off to check that they never change a count).
_USE_RELAXATION = True
# Added to the diagonal of the free block so that dependent rows do not make it singular; the
# answer is only used through checks, so this never affects soundness.
_RIDGE = 1e-13
# The linf relaxation forms a (sides, rows, d + 1, d) array: in pieces of this many sides.
_LINF_RELAXATION_PIECE = 32
# Offset of padding rows: 0 . z + 1 >= tau holds for every tau <= 1, so they constrain nothing.
_PAD_OFFSET = 1.0


# (Norms written out: np.linalg.norm costs more than the arithmetic on these small arrays.)
def _dual_norm(rows: np.ndarray, norm: str) -> np.ndarray:
    """Norm, dual to the ball's, of each row: the factor turning a row into a distance."""
    return np.sqrt((rows * rows).sum(axis=-1)) if norm == "l2" else np.abs(rows).sum(axis=-1)


def _ball_margin(points: np.ndarray, norm: str) -> np.ndarray:
    if norm == "l2":
        return 1.0 - np.sqrt((points * points).sum(axis=-1))
    return 1.0 - np.abs(points).max(axis=-1, initial=0.0)


def _margins(points: np.ndarray, rows: np.ndarray, offsets: np.ndarray, norm: str) -> np.ndarray:
    """Checked margin of one point per cell: ``points (n, d)``, ``rows (n, m, d)``, ``offsets (n, m)``."""
    values = np.matmul(rows, points[:, :, None])[:, :, 0] + offsets
    return np.minimum(values.min(axis=1, initial=np.inf), _ball_margin(points, norm))


def _dual_bounds(rows: np.ndarray, offsets: np.ndarray, multipliers: np.ndarray, norm: str) -> np.ndarray:
    """Weak-duality bounds on the margins of cells ``rows . z + offsets >= tau``, ``||z|| <= 1 - tau``.

    For any ``y >= 0``, not all zero, the Lagrangian gives
    ``tau* <= (y . offsets + ||rows^T y||_dual) / (sum(y) + ||rows^T y||_dual)``; ``inf`` where
    ``y = 0``.  Vectorised over the leading axis.
    """
    pull = _dual_norm(np.matmul(multipliers[:, None, :], rows)[:, 0], norm)
    weight = multipliers.sum(axis=1) + pull
    bound = np.full(weight.shape, np.inf)
    np.divide((multipliers * offsets).sum(axis=1) + pull, weight, out=bound, where=weight > 0)
    return bound


def _relaxed_bounds(rows, offsets, direction, offset, norm: str) -> np.ndarray:
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


def _active_set_solve(rows, offsets, warm, tolerance: float, norm: str, iterations: int):
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
    target = np.where(offsets >= _PAD_OFFSET, -1.0, 2.0 * tolerance - offsets)
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
        margin = np.minimum((values[:, :width] + c).min(axis=1, initial=np.inf), _ball_margin(point, norm))
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
    margin = np.minimum((values[:, :width] + c).min(axis=1, initial=np.inf), _ball_margin(point, norm))
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


def _solve_socp(rows, offsets) -> np.ndarray:
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


def _solve_lp(rows, offsets) -> np.ndarray:
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


@dataclass
class _Block:
    """Stacked nodes of the sign tree; every field's first axis is the node.

    A node's cell rows are ``signs * store[row_ids]`` (rows of the tree's row store, unit dual
    norm, with their offsets), so a node carries indices, not matrices.  Padding: row id 0 (the
    store's always-true row ``0 . z + 1 >= tau``) with sign 1 and dual 0; points with margin
    ``-inf``.
    """

    row_ids: np.ndarray  # (n, m) the cell's rows in the store
    signs: np.ndarray  # (n, m) +-1
    duals: np.ndarray  # (n, m) warm start of the active-set solve
    todo: np.ndarray  # (n, p) store rows of the current layer's neurons still to branch on, in order
    todo_neurons: np.ndarray  # (n, p) their index among all hidden neurons
    todo_count: np.ndarray  # (n,)
    pattern: np.ndarray  # (n, neurons) bool, the pattern so far (and defaults of unbranched ones)
    layer: np.ndarray  # (n,)
    points: np.ndarray  # (n, k, d) known points of the cell
    point_margins: np.ndarray  # (n, k) their checked margins
    cap_rows: np.ndarray  # (n, d) an aggregate of the cell's rows: the cell lies in cap . z + offset >= 0
    cap_offsets: np.ndarray  # (n,)

    def __len__(self) -> int:
        return self.row_ids.shape[0]

    def take(self, index) -> "_Block":
        return _Block(**{name: getattr(self, name)[index] for name in _FIELDS})


_FIELDS = tuple(field.name for field in fields(_Block))
_SIDES = np.array([1.0, -1.0])
_PADDING = {"signs": 1.0, "point_margins": -np.inf}


def _merge(blocks: list[_Block]) -> _Block:
    """One block from several, each field padded along its second axis to the widest."""
    if len(blocks) == 1:
        return blocks[0]
    merged = {}
    for name in _FIELDS:
        parts = [getattr(block, name) for block in blocks]
        if parts[0].ndim >= 2:
            width = max(part.shape[1] for part in parts)
            padded = []
            for part in parts:
                if part.shape[1] < width:
                    extra = np.full((part.shape[0], width - part.shape[1]) + part.shape[2:],
                                    _PADDING.get(name, 0), dtype=part.dtype)
                    part = np.concatenate([part, extra], axis=1)
                padded.append(part)
            parts = padded
        merged[name] = np.concatenate(parts, axis=0)
    return _Block(**merged)


_POOLS: dict = {}


class _RowStore:
    """The rows (unit dual norm) and offsets of every hyperplane a live node may use.

    Rows are added when nodes enter a layer; :meth:`collect` drops the rows no node refers to
    any more and renumbers the rest, so that memory follows the work list, not the whole tree.
    """

    def __init__(self, width: int, capacity: int = 1 << 10):
        self.rows = np.zeros((capacity, width))
        self.offsets = np.zeros(capacity)
        self.offsets[0] = _PAD_OFFSET
        self.size = 1

    def add(self, rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        count = rows.shape[0]
        if self.size + count > self.rows.shape[0]:
            capacity = max(2 * self.rows.shape[0], self.size + count)
            self.rows = np.concatenate([self.rows, np.zeros((capacity - self.rows.shape[0], self.rows.shape[1]))])
            self.offsets = np.concatenate([self.offsets, np.zeros(capacity - self.offsets.shape[0])])
        ids = np.arange(self.size, self.size + count)
        self.rows[ids], self.offsets[ids] = rows, offsets
        self.size += count
        return ids

    def collect(self, blocks: list[_Block]) -> None:
        """Keep only the rows that ``blocks`` (all live nodes) refer to, renumbered in order."""
        live = np.unique(np.concatenate([np.zeros(1, np.int64)] + [b.row_ids.ravel() for b in blocks]
                                        + [b.todo.ravel() for b in blocks]))
        self.rows[: live.size] = self.rows[live]
        self.offsets[: live.size] = self.offsets[live]
        self.size = live.size
        for block in blocks:
            block.row_ids = np.searchsorted(live, block.row_ids)
            block.todo = np.searchsorted(live, block.todo)

    def cells(self, row_ids: np.ndarray, signs: np.ndarray):
        """Rows ``(n, m, d)`` and offsets ``(n, m)`` of the cells named by ``row_ids`` and ``signs``."""
        return self.rows[row_ids] * signs[:, :, None], self.offsets[row_ids] * signs


class BatchedSignTree:
    """Count the patterns whose cells hold a ball of radius ``tolerance`` inside the unit ball.

    One instance per count; see the module docstring.  ``stable[k]`` marks the neurons of layer
    ``k`` known to keep the centre's sign over the whole ball (all ``False``: no pruning).
    After :meth:`run`: ``count``, ``stopped`` (the budget was exceeded), ``solver_calls``,
    ``stats`` (sides decided per stage) and, with ``collect=True``, ``patterns``.
    """

    def __init__(self, weights, biases, center, radius, norm, centre_active, stable, tolerance, max_regions,
                 collect: bool = False):
        self.weights = weights
        self.biases = biases
        self.norm = norm
        self.centre_active = centre_active
        self.stable = stable
        self.tolerance = tolerance
        self.max_regions = max_regions
        self.collect = collect
        self.count = 0
        self.solver_calls = 0
        self.stopped = False
        self.stats = collections.Counter()
        self.patterns: list[np.ndarray] = []
        widths = [weight.shape[0] for weight in weights]
        self.first_neuron = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
        self.neurons = int(sum(widths))
        self.first_map = (radius * weights[0], weights[0] @ center + biases[0])
        self.width = center.shape[0]
        self.store = _RowStore(self.width)

    def _pool(self) -> np.ndarray:
        """Random points of the unit ball with margin above the tolerance (the same for every count)."""
        key = (_WITNESS_POOL_SIZE, _WITNESS_POOL_SEED, self.width, self.norm, self.tolerance)
        if key not in _POOLS:
            rng = np.random.default_rng(_WITNESS_POOL_SEED)
            if self.norm == "linf":
                pool = rng.uniform(-1.0, 1.0, size=(_WITNESS_POOL_SIZE, self.width))
            else:
                directions = rng.standard_normal((_WITNESS_POOL_SIZE, self.width))
                directions /= np.linalg.norm(directions, axis=1, keepdims=True)
                pool = directions * rng.uniform(size=(_WITNESS_POOL_SIZE, 1)) ** (1.0 / self.width)
            pool = pool[_ball_margin(pool, self.norm) > self.tolerance]
            pool.setflags(write=False)
            if len(_POOLS) > 16:
                _POOLS.clear()
            _POOLS[key] = pool
        return _POOLS[key]

    # ------------------------------------------------------------------ driving

    def run(self) -> None:
        pool = self._pool()
        root = _Block(
            row_ids=np.zeros((1, 0), np.int64), signs=np.zeros((1, 0)), duals=np.zeros((1, 0)),
            todo=np.zeros((1, 0), np.int64), todo_neurons=np.zeros((1, 0), np.int64),
            todo_count=np.zeros(1, np.int64), pattern=np.zeros((1, self.neurons), bool), layer=np.zeros(1, np.int64),
            points=pool[None], point_margins=_ball_margin(pool, self.norm)[None],
            cap_rows=np.zeros((1, self.width)), cap_offsets=np.full(1, _PAD_OFFSET),
        )
        work = [self._enter_layer(root, 0)]
        collected_at = self.store.size
        while work and not self.stopped:
            if self.store.size > max(4 * collected_at, 1 << 14):
                self.store.collect(work)
                collected_at = self.store.size
            taken, size = [], 0
            while work and size < _CHUNK:
                taken.append(work.pop())
                size += len(taken[-1])
            block = _merge(taken)
            if len(taken) > 1:
                self._compact(block)
            if len(block) > _CHUNK:
                work.append(block.take(slice(None, len(block) - _CHUNK)))
                block = block.take(slice(len(block) - _CHUNK, None))
            done = block.todo_count == 0
            if done.any():
                self._finish(block.take(done), work)
                if self.stopped:
                    break
                block = block.take(~done)
            if len(block):
                children = self._step(block)
                if len(children):
                    work.append(children)

    def _finish(self, block: _Block, work: list) -> None:
        """Nodes whose layer is decided: count them, or hand them the next layer's neurons."""
        last = block.layer == len(self.weights) - 1
        if last.any():
            leaves = int(last.sum())
            if self.collect:
                self.patterns.append(block.pattern[last])
            self.count += leaves
            if self.count > self.max_regions:
                self.count = self.max_regions + 1
                self.stopped = True
                return
        for layer in np.unique(block.layer[~last]):
            work.append(self._enter_layer(block.take(block.layer == layer), int(layer) + 1))

    def _enter_layer(self, block: _Block, index: int) -> _Block:
        """Maps of layer ``index`` on each node's cell, from its pattern; order the neurons to branch on."""
        maps, offsets = self.first_map
        maps = np.broadcast_to(maps, (len(block),) + maps.shape)
        offsets = np.broadcast_to(offsets, (len(block),) + offsets.shape)
        for layer in range(index):
            start = self.first_neuron[layer]
            active = block.pattern[:, start:start + self.weights[layer].shape[0]]
            # ReLU keeps the active rows of the cell's affine map and zeroes the rest.
            # (One small product per node: a single large one would let BLAS start threads, which
            # only contend on shared cores.)
            maps = np.matmul(self.weights[layer + 1], maps * active[:, :, None])
            offsets = np.matmul(self.weights[layer + 1], (offsets * active)[:, :, None])[:, :, 0] + self.biases[layer + 1]
        scale = _dual_norm(maps, self.norm)
        distance = np.full(scale.shape, np.inf)
        np.divide(offsets, scale, out=distance, where=scale > 0)
        stable = self.stable[index]
        branching = ~stable & (np.abs(distance) < 1.0)
        start = self.first_neuron[index]
        pattern = block.pattern.copy()
        pattern[:, start:start + maps.shape[1]] = np.where(stable, self.centre_active[index], offsets > 0)
        # Far hyperplanes first: they split few cells, so they are decided while the tree is
        # still narrow, and the near ones, which split almost every cell, come last.
        key = np.where(branching, -np.abs(distance), np.inf)
        order = np.argsort(key, axis=1, kind="stable")
        counts = branching.sum(axis=1)
        depth = int(counts.max(initial=0))
        order = order[:, :depth]
        valid = np.arange(depth)[None, :] < counts[:, None]
        nodes, slots = np.nonzero(valid)
        neurons = order[nodes, slots]
        ids = self.store.add(maps[nodes, neurons] / scale[nodes, neurons, None], distance[nodes, neurons])
        todo = np.zeros((len(block), depth), np.int64)
        todo[nodes, slots] = ids
        block = block.take(slice(None))
        block.todo = todo
        block.todo_neurons = np.where(valid, start + order, -1)
        block.todo_count = counts.astype(np.int64)
        block.pattern = pattern
        block.layer = np.full(len(block), index, dtype=np.int64)
        if self.norm == "l2" and _USE_RELAXATION and depth:
            self._settle_uncut(block, valid)
        return block

    def _settle_uncut(self, block: _Block, valid: np.ndarray) -> None:
        """Fix, on entering a layer, the neurons whose hyperplane visibly does not cut the cell.

        For each neuron to branch on, the side away from the node's deepest known point is tested
        with the one-constraint relaxation (the cell's rows and its aggregate row); where it is
        at most the tolerance, that side is empty for this cell and so for every sub-cell, and
        the neuron takes the point's side without a branch: its row joins the cell (exactly as
        the branch would have added it), and the point, on the right side of every such row
        with margin above the tolerance, still shows the cell non-empty.  This settles in one
        vectorised pass what would otherwise cost a level of the tree each; l2 only (the linf
        relaxation is too costly to run on every neuron).
        """
        tol = self.tolerance
        n, depth = valid.shape
        across = np.arange(n)
        best = block.point_margins.argmax(axis=1)
        point, point_margin = block.points[across, best], block.point_margins[across, best]
        todo_rows, todo_offsets = self.store.rows[block.todo], self.store.offsets[block.todo]
        values = np.matmul(todo_rows, point[:, :, None])[:, :, 0] + todo_offsets
        keep_sign = np.where(values > 0, 1.0, -1.0)
        candidate = valid & (np.abs(values) > tol) & (point_margin > tol)[:, None]
        if not candidate.any():
            return
        # The far side's rows: direction f = -keep_sign * row, offset f0 = -keep_sign * offset.
        direction = -keep_sign[:, :, None] * todo_rows
        offset = -keep_sign * todo_offsets
        rows, offsets = self.store.cells(block.row_ids, block.signs)
        rows = np.concatenate([rows, block.cap_rows[:, None, :]], axis=1)
        offsets = np.concatenate([offsets, block.cap_offsets[:, None]], axis=1)
        alignment = -np.matmul(rows, direction.transpose(0, 2, 1))  # (n, m, depth)
        h = offsets[:, :, None]
        plane = h * alignment + np.sqrt(np.clip(1.0 - h**2, 0.0, None) * np.clip(1.0 - alignment**2, 0.0, None))
        bound = offset + np.where(alignment <= h, 1.0, plane).min(axis=1, initial=1.0)
        settled = candidate & (bound <= tol)
        if not settled.any():
            return
        self.stats["settled_on_entry"] += int(settled.sum())
        # The settled rows join the cell (padding where a slot is not settled) ...
        block.row_ids = np.concatenate([block.row_ids, np.where(settled, block.todo, 0)], axis=1)
        block.signs = np.concatenate([block.signs, np.where(settled, keep_sign, 1.0)], axis=1)
        block.duals = np.concatenate([block.duals, np.zeros((n, depth))], axis=1)
        nodes, slots = np.nonzero(settled)
        block.pattern[nodes, block.todo_neurons[nodes, slots]] = keep_sign[nodes, slots] > 0
        # ... the known points keep only what the new rows leave them ...
        signed = np.where(settled[:, None, :], keep_sign[:, None, :] * (
            np.matmul(block.points, todo_rows.transpose(0, 2, 1)) + todo_offsets[:, None, :]), np.inf)
        margins = np.minimum(block.point_margins, signed.min(axis=2, initial=np.inf))
        block.point_margins = np.where(margins > tol, margins, -np.inf)
        # ... and the rest stay to branch on, in order.
        remaining = valid & ~settled
        order = np.argsort(~remaining, axis=1, kind="stable")
        block.todo = np.where(remaining[across[:, None], order], block.todo[across[:, None], order], 0)
        block.todo_neurons = np.where(remaining[across[:, None], order], block.todo_neurons[across[:, None], order], -1)
        block.todo_count = remaining.sum(axis=1)
        self._compact(block)

    # ------------------------------------------------------------------ one step

    @staticmethod
    def _compact(block: _Block) -> None:
        """Drop padding rows left by merging blocks of different depths (real rows first, in order)."""
        real = block.row_ids != 0
        width = int(real.sum(axis=1).max(initial=0))
        if width == block.row_ids.shape[1]:
            return
        order = np.argsort(~real, axis=1, kind="stable")[:, :width]
        across = np.arange(len(block))[:, None]
        block.row_ids = block.row_ids[across, order]
        block.signs = block.signs[across, order]
        block.duals = block.duals[across, order]

    def _step(self, block: _Block) -> _Block:
        """Decide both sides of every node's next neuron; return the non-empty sides as children."""
        n = len(block)
        tol = self.tolerance
        store = self.store
        next_row = block.todo[:, 0]
        direction = store.rows[next_row]
        distance = store.offsets[next_row]
        neuron = block.todo_neurons[:, 0]
        values = np.matmul(block.points, direction[:, :, None])[:, :, 0] + distance[:, None]
        # Sides stacked: [all nodes, side +] then [all nodes, side -].
        node = np.tile(np.arange(n), 2)
        sign = np.repeat(_SIDES, n)
        point_margins = np.minimum(block.point_margins[node], sign[:, None] * values[node])
        nonempty = point_margins.max(axis=1, initial=-np.inf) > tol
        self.stats["point"] += int(nonempty.sum())
        witness = np.zeros((2 * n, self.width))
        witness_margin = np.full(2 * n, -np.inf)
        duals = np.concatenate([block.duals[node], np.zeros((2 * n, 1))], axis=1)
        cap_rows, cap_offsets = block.cap_rows[node], block.cap_offsets[node]

        open_ = np.flatnonzero(~nonempty)
        if open_.size:
            parents = node[open_]
            width = block.row_ids.shape[1]
            # The cell's rows, the new one, and the cell's aggregate row (for stage 2 only).
            extended = np.empty((open_.size, width + 2, self.width))
            extended_offsets = np.empty((open_.size, width + 2))
            extended[:, :width], extended_offsets[:, :width] = store.cells(block.row_ids[parents], block.signs[parents])
            extended[:, width] = sign[open_, None] * direction[parents]
            extended_offsets[:, width] = sign[open_] * distance[parents]
            extended[:, width + 1], extended_offsets[:, width + 1] = cap_rows[open_], cap_offsets[open_]
            if _USE_RELAXATION:
                # (The new row relaxed against itself gives its offset + 1: no help, no harm.)
                relaxed = _relaxed_bounds(extended, extended_offsets, extended[:, width],
                                          extended_offsets[:, width], self.norm) <= tol
                self.stats["relaxation"] += int(relaxed.sum())
                if relaxed.any():
                    open_, extended, extended_offsets = open_[~relaxed], extended[~relaxed], extended_offsets[~relaxed]
            rows, offsets = extended[:, : width + 1], extended_offsets[:, : width + 1]
        if open_.size:
            found, cut, points, margins, new_duals = _active_set_solve(
                rows, offsets, duals[open_], tol, self.norm, _ACTIVE_SET_ITERATIONS
            )
            duals[open_] = new_duals
            if found.any():
                # The cell lies where y . (rows z + offsets) >= 0 for any y >= 0; with the duals of
                # its point nearest the centre this is the supporting half-space there.  (For l2
                # that point is rows^T y itself; for linf it also carries the cube's faces.)
                y = np.clip(new_duals[found], 0.0, None)
                pull = points[found] if self.norm == "l2" else np.matmul(y[:, None, :], rows[found])[:, 0]
                scale = _dual_norm(pull, self.norm)
                usable = scale > 0
                safe = np.where(usable, scale, 1.0)
                cap_rows[open_[found]] = np.where(usable[:, None], pull / safe[:, None], 0.0)
                cap_offsets[open_[found]] = np.where(usable, (y * offsets[found]).sum(axis=1) / safe, _PAD_OFFSET)
            self.stats["active_set_point"] += int(found.sum())
            self.stats["active_set_bound"] += int(cut.sum())
            nonempty[open_[found]] = True
            witness[open_[found]] = points[found]
            witness_margin[open_[found]] = margins[found]
            still = ~(found | cut)
            for side, side_rows, side_offsets in zip(open_[still], rows[still], offsets[still]):
                point, margin = self._solve(side_rows, side_offsets)
                if margin > tol:
                    nonempty[side] = True
                    witness[side] = point
                    witness_margin[side] = margin

        kept = np.flatnonzero(nonempty)
        parents = node[kept]
        children = _Block(
            row_ids=np.concatenate([block.row_ids[parents], next_row[parents, None]], axis=1),
            signs=np.concatenate([block.signs[parents], sign[kept, None]], axis=1),
            duals=duals[kept],
            todo=block.todo[parents, 1:],
            todo_neurons=block.todo_neurons[parents, 1:],
            todo_count=block.todo_count[parents] - 1,
            pattern=block.pattern[parents],
            layer=block.layer[parents],
            points=block.points[parents],
            point_margins=point_margins[kept],
            cap_rows=cap_rows[kept],
            cap_offsets=cap_offsets[kept],
        )
        children.pattern[np.arange(kept.size), neuron[parents]] = sign[kept] > 0
        self._keep_points(children, witness[kept], witness_margin[kept])
        return children

    def _keep_points(self, children: _Block, witness: np.ndarray, witness_margin: np.ndarray) -> None:
        """The new witness (if any) first, then the parent's points still inside, at most ``_POINTS_KEPT``.

        A witness's margin was checked on the same rows as the child's cell (the parent's and
        the new one), so it is carried over as it is.
        """
        points = np.concatenate([witness[:, None, :], children.points], axis=1)
        margins = np.concatenate([witness_margin[:, None], children.point_margins], axis=1)
        inside = margins > self.tolerance
        keep = min(_POINTS_KEPT, int(inside.sum(axis=1).max(initial=0)))
        if keep == margins.shape[1] and inside.all():
            children.points, children.point_margins = points, margins
            return
        order = np.argsort(~inside, axis=1, kind="stable")[:, :keep]
        across = np.arange(order.shape[0])[:, None]
        children.points = points[across, order]
        picked = margins[across, order]
        children.point_margins = np.where(picked > self.tolerance, picked, -np.inf)

    def _solve(self, rows: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, float]:
        """Stage 4: the cone or linear program; its optimum and the optimum's checked margin."""
        real = offsets < _PAD_OFFSET
        rows, offsets = rows[real], offsets[real]
        self.solver_calls += 1
        point = _solve_socp(rows, offsets) if self.norm == "l2" else _solve_lp(rows, offsets)
        margin = min(float((rows @ point + offsets).min(initial=np.inf)), float(_ball_margin(point, self.norm)))
        self.stats["solver_point" if margin > self.tolerance else "solver_empty"] += 1
        return point, margin
