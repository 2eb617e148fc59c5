"""Per-neuron convex programs over the triangle relaxation, with certified (weak-duality) bounds.

For neuron ``j`` of hidden layer ``k >= 1`` and one centre, the program is::

    max / min   W_k[j] . a_{k-1} + b_k[j]
    over        x in the ball,  a_0 .. a_{k-1}
    subject to  for every earlier layer i and neuron p, with z = W_i[p] . a_{i-1} + b_i[p]
                (a_{-1} = x) and [l, u] the interval already certified for it:
                  u <= 0 (stably inactive):  a = 0,            l <= z <= u
                  l >= 0 (stably active):    a = z,            l <= z <= u
                  l < 0 < u (unstable):      a >= 0, a >= z,   a <= u/(u-l) (z - l)

that is, each earlier ReLU is replaced by the convex hull of its graph over its interval (the
"triangle" or Planet relaxation, Ehlers 2017), the tightest convex relaxation of one neuron.
The ball is ``||x - x0||_inf <= r`` (a linear program, solved with HiGHS through
:func:`scipy.optimize.linprog`) or ``||x - x0||_2 <= r`` (a second-order cone program, solved with
Clarabel).  Layer by layer, the certified intervals of one layer define the programs of the next;
the first layer is exact (``A -/+ r ||W||_dual``).

What guarantees the result
--------------------------
The solver's primal value is never used as a bound.  From the solver's dual variables ``y``
(for the linear rows; inequality multipliers clipped to ``>= 0``) the bound is re-evaluated in
float64 by weak duality over the *domain* ``D`` = the ball for ``x`` times the box
``[relu(l), relu(u)]`` for each ``a`` (which every feasible point satisfies)::

    min_{v feasible} c . v  >=  -y . h + min_{v in D} (c + G^T y) . v

and the inner minimum has a closed form: ``rho . x0 - r ||rho_x||_dual`` for the ball part and
``sum min(rho_a lo, rho_a hi)`` for the box.  This holds for *any* multipliers, so an
inaccurate or failed solve can only loosen the bound, never make it unsound (a failed solve
falls back to ``y = 0``, i.e. the bound over ``D`` alone; the better of the two certificates is
kept in any case).  With accurate duals the certificate
equals the optimum up to the solver's tolerance (about 1e-8 relative for Clarabel's defaults,
1e-7 for HiGHS).

Rounding.  The bounds hold for the exact values of the float64 net, centres and radius, as for
the other methods (:mod:`._outward`):

* *the rows are valid as floats*: every true point ``(x', a(x'))`` of the ball satisfies them in
  exact arithmetic.  The right-hand sides ``u - b`` and ``b - l`` of the stable rows are rounded
  up (``nextafter``).  The upper line's row ``a - fl(s W) a_prev <= s (b - l)``, with the computed
  slope ``s = fl(u / fl(u - l))``, gets its right-hand side raised by ``16 u s (|b| + |l| + |W|
  bound)`` plus ``eta`` terms (``|a_prev| <= bound`` on the domain: the previous box's upper end,
  or ``|x0| + r`` for the inputs), which covers the rounding of ``s (b - l)``, of the
  coefficients ``fl(s W)``, and of the slope itself: the chord's exact slope ``s*`` is within
  ``2.01 u s`` of ``s``, so ``a <= s* (z - l) <= s (z - l) + 2.01 u s (|W| bound + |b| + |l|)``
  at every true point (``z - l <= |W| bound + |b| + |l|``); the other rows are exact;
* *the certificate's evaluation*: with ``mag = |c| + |A_ub|^T y + |A_eq|^T |y_eq|`` (one more
  product per certificate) the computed ``rho`` is within ``gamma mag`` of the exact one, the
  closed form is Lipschitz in ``rho`` with weights ``|x0| + r`` (inputs) and ``hi`` (the box),
  and its own evaluation is a handful of dot products, so the computed value is within
  ``E = gamma_N (|y| . |b_ub| + |y_eq| . |b_eq| + mag_x . (|x0| + r) + mag_a . hi)`` plus
  underflow terms of the exact certificate (``N = 2 (rows + d + m) + 16``); the certificate
  returned is ``value - E``, one float lower, and each bound ``b +/- certificate`` one float
  further out.

Cost: two programs per neuron per centre, each with ``d + sum of earlier widths`` variables.
Meant for small nets and few centres (the tests, the ordering checks), not for MNIST scale.
"""

from __future__ import annotations

import numpy as np
import torch

from .._rounding import gamma
from ._outward import ETA, MARGIN, norm_underflow
from .ibp import ibp_intervals

__all__ = ["lp_intervals", "TriangleProgram"]


class TriangleProgram:
    """The feasible set shared by every neuron of one layer, for one centre.

    Variables ``v = [x (d), a_0 (m_0), ..., a_{k-1} (m_{k-1})]``.  Rows ``A_ub v <= b_ub``
    and ``A_eq v = b_eq``; a box ``lo <= v <= hi`` for the ``a`` (and for ``x`` when the ball
    is L-infinity); for an L2 ball the cone ``||x - x0||_2 <= r``.
    """

    def __init__(self, hidden, x0: np.ndarray, r: float, norm: str, lowers, uppers):
        self.x0 = x0
        self.r = r
        self.norm = norm
        d = x0.shape[0]
        self.d = d
        widths = [W.shape[0] for W, _ in hidden]
        offsets = [d]
        for w in widths[:-1]:
            offsets.append(offsets[-1] + w)
        self.offsets = offsets  # offsets[i]: start of a_i
        self.n_vars = d + sum(widths)
        lo = np.full(self.n_vars, -np.inf)
        hi = np.full(self.n_vars, np.inf)
        if norm == "linf":
            lo[:d] = x0 - r
            hi[:d] = x0 + r
        ub_rows, ub_rhs, eq_rows, eq_rhs = [], [], [], []
        bound = np.abs(x0) + r  # |x'| <= bound on the ball, coordinate by coordinate (either norm)
        for i, (W, b) in enumerate(hidden):
            l_i, u_i = lowers[i], uppers[i]
            m = W.shape[0]
            start_in = 0 if i == 0 else offsets[i - 1]
            start_a = offsets[i]
            Z = np.zeros((m, self.n_vars))  # z = Z v + b
            Z[:, start_in:start_in + W.shape[1]] = W
            E = np.zeros((m, self.n_vars))
            E[np.arange(m), start_a + np.arange(m)] = 1.0
            dead = u_i <= 0
            active = l_i >= 0
            unstable = ~dead & ~active
            lo[start_a:start_a + m] = np.maximum(l_i, 0.0)
            hi[start_a:start_a + m] = np.maximum(u_i, 0.0)
            stable = dead | active
            # Stable: l <= z <= u, and a = z (active) or a = 0 (the box [0, 0]); the right-hand
            # sides rounded up, so that they hold for the exact values.
            ub_rows += [Z[stable], -Z[stable]]
            ub_rhs += [np.nextafter(u_i[stable] - b[stable], np.inf), np.nextafter(b[stable] - l_i[stable], np.inf)]
            eq_rows.append(E[active] - Z[active])
            eq_rhs.append(b[active])
            # Unstable: z - a <= 0 and a - s (z - l) <= 0 (a >= 0 is in the box), the right-hand
            # side raised over the rounding of the slope, of fl(s W) and of s (b - l).
            lu, uu, bu = l_i[unstable], u_i[unstable], b[unstable]
            s = uu / (uu - lu)
            reach = np.abs(bu) + np.abs(lu) + np.abs(W[unstable]) @ bound  # at least |z - l| on the domain
            slack = 2.0**-49 * s * reach + ETA * (reach + bound.sum() + 8)
            ub_rows += [Z[unstable] - E[unstable], E[unstable] - s[:, None] * Z[unstable]]
            ub_rhs += [-bu, np.nextafter(s * (bu - lu) + slack, np.inf)]
            bound = np.maximum(u_i, 0.0)
        self.A_ub = np.concatenate(ub_rows) if ub_rows else np.zeros((0, self.n_vars))
        self.b_ub = np.concatenate(ub_rhs) if ub_rhs else np.zeros(0)
        self.A_eq = np.concatenate(eq_rows) if eq_rows else np.zeros((0, self.n_vars))
        self.b_eq = np.concatenate(eq_rhs) if eq_rhs else np.zeros(0)
        self.lo, self.hi = lo, hi
        self.abs_A_ub, self.abs_A_eq = np.abs(self.A_ub), np.abs(self.A_eq)
        # The certificate's rounding (module docstring): the Lipschitz weights of the closed form
        # and the constants of E.
        m = self.n_vars - d
        self._weight_x = np.abs(x0) + r
        self._g = gamma(2 * (self.A_ub.shape[0] + self.A_eq.shape[0] + d + m) + 16) * MARGIN
        self._abs = (ETA * (self.A_ub.shape[0] + self.A_eq.shape[0] + d + m + 8)
                     * (1 + self._weight_x.sum() + np.maximum(hi[d:], 0).sum())
                     + r * norm_underflow(d, 2.0 if norm == "l2" else 1.0)) * MARGIN
        self.failures = 0
        self._clarabel = None

    # ------------------------------------------------------------------ the certificate

    def certified_min(self, c: np.ndarray, y_ub: np.ndarray, y_eq: np.ndarray) -> float:
        """A lower bound on ``min c . v`` over the feasible set, valid for any ``y_ub >= 0`` and ``y_eq``.

        Weak duality over the domain (ball x box), for the exact values: the computed value less
        its proven rounding bound, one float lower (see the module docstring).
        """
        y_ub = np.maximum(np.nan_to_num(y_ub, nan=0.0, posinf=0.0, neginf=0.0), 0.0)
        y_eq = np.nan_to_num(y_eq, nan=0.0, posinf=0.0, neginf=0.0)
        rho = c + self.A_ub.T @ y_ub + self.A_eq.T @ y_eq
        mag = np.abs(c) + self.abs_A_ub.T @ y_ub + self.abs_A_eq.T @ np.abs(y_eq)
        value = -(y_ub @ self.b_ub) - (y_eq @ self.b_eq)
        d = self.d
        rho_x, rho_a = rho[:d], rho[d:]
        dual = 2 if self.norm == "l2" else 1
        value += rho_x @ self.x0 - self.r * np.linalg.norm(rho_x, ord=dual)
        value += np.minimum(rho_a * self.lo[d:], rho_a * self.hi[d:]).sum()
        error = self._g * (y_ub @ np.abs(self.b_ub) + np.abs(y_eq) @ np.abs(self.b_eq)
                           + mag[:d] @ self._weight_x + mag[d:] @ self.hi[d:]) + self._abs
        return float(np.nextafter(value - error, -np.inf))

    # ------------------------------------------------------------------ the solvers

    def multipliers(self, c: np.ndarray):
        """Dual multipliers ``(y_ub >= 0, y_eq)`` for ``min c . v`` from the solver (zeros if it fails)."""
        if self.norm == "linf":
            return self._highs(c)
        return self._socp(c)

    def _highs(self, c):
        from scipy.optimize import linprog

        bounds = list(zip(self.lo, self.hi))
        res = linprog(
            c,
            A_ub=self.A_ub if self.A_ub.shape[0] else None,
            b_ub=self.b_ub if self.A_ub.shape[0] else None,
            A_eq=self.A_eq if self.A_eq.shape[0] else None,
            b_eq=self.b_eq if self.A_eq.shape[0] else None,
            bounds=bounds,
            method="highs",
        )
        if res.status != 0:
            self.failures += 1
            return np.zeros(self.A_ub.shape[0]), np.zeros(self.A_eq.shape[0])
        # scipy reports d(objective)/d(rhs): <= 0 for <= rows of a minimisation.
        y_ub = -res.ineqlin.marginals if self.A_ub.shape[0] else np.zeros(0)
        y_eq = -res.eqlin.marginals if self.A_eq.shape[0] else np.zeros(0)
        return y_ub, y_eq

    def _socp_data(self):
        if self._clarabel is None:
            import clarabel
            from scipy import sparse

            d, n_vars = self.d, self.n_vars
            a_idx = np.arange(d, n_vars)
            box_up = np.zeros((a_idx.size, n_vars))
            box_up[np.arange(a_idx.size), a_idx] = 1.0
            # rows: equalities (zero cone), <= rows and the a-box (nonnegative cone), then the ball
            # (s = (r, x - x0) in the second-order cone: A = [0; -I], b = [r; -x0]).
            soc = np.zeros((d + 1, n_vars))
            soc[1:, :d] = -np.eye(d)
            A = np.vstack([self.A_eq, self.A_ub, box_up, -box_up, soc])
            b = np.concatenate([self.b_eq, self.b_ub, self.hi[d:], -self.lo[d:], [self.r], -self.x0])
            n_eq, n_ub, n_box = self.A_eq.shape[0], self.A_ub.shape[0], 2 * a_idx.size
            cones = []
            if n_eq:
                cones.append(clarabel.ZeroConeT(n_eq))
            if n_ub + n_box:
                cones.append(clarabel.NonnegativeConeT(n_ub + n_box))
            cones.append(clarabel.SecondOrderConeT(d + 1))
            settings = clarabel.DefaultSettings()
            settings.verbose = False
            self._clarabel = (clarabel, sparse.csc_matrix(A), b, cones, settings, n_eq, n_ub,
                              sparse.csc_matrix((n_vars, n_vars)))
        return self._clarabel

    def _socp(self, c):
        clarabel, A, b, cones, settings, n_eq, n_ub, P = self._socp_data()
        solver = clarabel.DefaultSolver(P, c, A, b, cones, settings)
        solution = solver.solve()
        z = np.asarray(solution.z, dtype=np.float64)
        if "Solved" not in str(solution.status) or not np.isfinite(z).all():
            # Any multipliers certify a bound; without usable ones fall back to y = 0.
            self.failures += 1
            return np.zeros(n_ub), np.zeros(n_eq)
        # Clarabel: min c.v s.t. A v + s = b, s in K; for z in K*, c.v >= c.v + z.(A v - b).
        return z[n_eq:n_eq + n_ub], z[:n_eq]

    def bound(self, c: np.ndarray) -> float:
        """Certified lower bound on ``min c . v``: the better of the solver's certificate and ``y = 0``'s.

        ``y = 0`` gives the bound over the domain alone (what interval arithmetic would give with
        these intervals), so an inaccurate solve never ends up looser than that.
        """
        y_ub, y_eq = self.multipliers(c)
        with_duals = self.certified_min(c, y_ub, y_eq)
        alone = self.certified_min(c, np.zeros(self.A_ub.shape[0]), np.zeros(self.A_eq.shape[0]))
        return max(with_duals, alone)


def lp_intervals(hidden, x: torch.Tensor, r: float, norm: str, order: float, stats=None):
    """The triangle-relaxation programs for every centre of ``x`` (n, d) and neuron; ``(A, A_error, lower, upper)``.

    Centres are processed one at a time (a Python loop over programs); ``stats`` (a dict)
    accumulates ``programs`` (solves) and ``failures`` (solves that fell back to ``y = 0``).
    """
    n = x.shape[0]
    device = x.device
    # The centres' pre-activations and the exact first layer, as IBP computes them; IBP's boxes of the
    # later layers are replaced below, centre by centre, by the programs' bounds.
    centre, errors, lowers, uppers = ibp_intervals(hidden, x, r, order)
    if len(hidden) < 2 or n == 0:
        return centre, errors, lowers, uppers
    hidden_np = [(W.cpu().numpy(), b.cpu().numpy()) for W, b in hidden]
    x_np = x.cpu().numpy()
    for c_idx in range(n):
        lo_np = [lowers[0][c_idx].cpu().numpy()]
        up_np = [uppers[0][c_idx].cpu().numpy()]
        for k in range(1, len(hidden)):
            program = TriangleProgram(hidden_np[:k], x_np[c_idx], r, norm, lo_np, up_np)
            Wk, bk = hidden_np[k]
            start = program.offsets[k - 1]
            l_k = np.empty(Wk.shape[0])
            u_k = np.empty(Wk.shape[0])
            for j in range(Wk.shape[0]):
                c = np.zeros(program.n_vars)
                c[start:start + Wk.shape[1]] = Wk[j]
                l_k[j] = bk[j] + program.bound(c)
                u_k[j] = bk[j] - program.bound(-c)
            # One rounding each: one float outward puts them beyond the exact sums.
            l_k = np.nextafter(l_k, -np.inf)
            u_k = np.nextafter(u_k, np.inf)
            if stats is not None:
                stats["programs"] = stats.get("programs", 0) + 2 * Wk.shape[0]
                stats["failures"] = stats.get("failures", 0) + program.failures
            lo_np.append(l_k)
            up_np.append(u_k)
            lowers[k][c_idx] = torch.as_tensor(l_k, dtype=torch.float64, device=device)
            uppers[k][c_idx] = torch.as_tensor(u_k, dtype=torch.float64, device=device)
    return centre, errors, lowers, uppers
