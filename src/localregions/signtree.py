"""Batched sign-tree enumeration behind :func:`localregions.counting.exact_region_count` (private).

The tree and what is counted are those of :mod:`localregions.counting` (read its module docstring
first): coordinates ``x = center + radius * z``, one row ``a . z + c >= tau`` per branched neuron,
scaled to unit dual norm, and a pattern counts when its cell contains a ball of radius
``tolerance`` (relative) inside the unit ball, i.e. when its margin ``tau*`` exceeds the
tolerance.  Subtrees whose margin is at most the tolerance are cut, which is exact because a
sub-cell's margin never exceeds its parent's.

What differs from a plain depth-first walk is how a branch is decided, and that many branches are
decided at once.

This module walks the tree; the batches of nodes and the row store are in
:mod:`localregions._tree_nodes`, the tests and programs that decide a side (stages 2-4 below) in
:mod:`localregions._cell_solvers`.

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

import numpy as np

from ._cell_solvers import PAD_OFFSET, active_set_solve, ball_margin, dual_norm, relaxed_bounds, solve_lp, solve_socp
from ._tree_nodes import Block, RowStore, merge_blocks

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
# Stage 2 on or off (the tests turn the shortcuts off to check that they never change a count).
_USE_RELAXATION = True
# The two sides of a branch, in the order they are stacked.
_SIDES = np.array([1.0, -1.0])
# Witness pools by (size, seed, width, norm, tolerance): the same points for every count.
_POOLS: dict = {}


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
        self.store = RowStore(self.width)

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
            pool = pool[ball_margin(pool, self.norm) > self.tolerance]
            pool.setflags(write=False)
            if len(_POOLS) > 16:
                _POOLS.clear()
            _POOLS[key] = pool
        return _POOLS[key]

    # ------------------------------------------------------------------ driving

    def run(self) -> None:
        pool = self._pool()
        root = Block(
            row_ids=np.zeros((1, 0), np.int64), signs=np.zeros((1, 0)), duals=np.zeros((1, 0)),
            todo=np.zeros((1, 0), np.int64), todo_neurons=np.zeros((1, 0), np.int64),
            todo_count=np.zeros(1, np.int64), pattern=np.zeros((1, self.neurons), bool), layer=np.zeros(1, np.int64),
            points=pool[None], point_margins=ball_margin(pool, self.norm)[None],
            cap_rows=np.zeros((1, self.width)), cap_offsets=np.full(1, PAD_OFFSET),
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
            block = merge_blocks(taken)
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

    def _finish(self, block: Block, work: list) -> None:
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

    def _enter_layer(self, block: Block, index: int) -> Block:
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
        scale = dual_norm(maps, self.norm)
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

    def _settle_uncut(self, block: Block, valid: np.ndarray) -> None:
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
    def _compact(block: Block) -> None:
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

    def _step(self, block: Block) -> Block:
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
                relaxed = relaxed_bounds(extended, extended_offsets, extended[:, width],
                                          extended_offsets[:, width], self.norm) <= tol
                self.stats["relaxation"] += int(relaxed.sum())
                if relaxed.any():
                    open_, extended, extended_offsets = open_[~relaxed], extended[~relaxed], extended_offsets[~relaxed]
            rows, offsets = extended[:, : width + 1], extended_offsets[:, : width + 1]
        if open_.size:
            found, cut, points, margins, new_duals = active_set_solve(
                rows, offsets, duals[open_], tol, self.norm, _ACTIVE_SET_ITERATIONS
            )
            duals[open_] = new_duals
            if found.any():
                # The cell lies where y . (rows z + offsets) >= 0 for any y >= 0; with the duals of
                # its point nearest the centre this is the supporting half-space there.  (For l2
                # that point is rows^T y itself; for linf it also carries the cube's faces.)
                y = np.clip(new_duals[found], 0.0, None)
                pull = points[found] if self.norm == "l2" else np.matmul(y[:, None, :], rows[found])[:, 0]
                scale = dual_norm(pull, self.norm)
                usable = scale > 0
                safe = np.where(usable, scale, 1.0)
                cap_rows[open_[found]] = np.where(usable[:, None], pull / safe[:, None], 0.0)
                cap_offsets[open_[found]] = np.where(usable, (y * offsets[found]).sum(axis=1) / safe, PAD_OFFSET)
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
        children = Block(
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

    def _keep_points(self, children: Block, witness: np.ndarray, witness_margin: np.ndarray) -> None:
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
        real = offsets < PAD_OFFSET
        rows, offsets = rows[real], offsets[real]
        self.solver_calls += 1
        point = solve_socp(rows, offsets) if self.norm == "l2" else solve_lp(rows, offsets)
        margin = min(float((rows @ point + offsets).min(initial=np.inf)), float(ball_margin(point, self.norm)))
        self.stats["solver_point" if margin > self.tolerance else "solver_empty"] += 1
        return point, margin
