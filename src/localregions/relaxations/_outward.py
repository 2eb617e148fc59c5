"""Proven bounds on the rounding of the interval methods, and the outward widening that makes them hold in float64.

What is guaranteed
------------------
Every interval that ``ibp``, ``crown`` and ``lp`` return holds for the **exact** pre-activations of
the given float64 net, centres and radius: ``lower <= z_kj(x') <= upper`` for every real ``x'``
with ``||x' - x|| <= r``, ``z`` evaluated in real arithmetic from the float64 weights, biases and
centre.  Each method computes its interval as before; beside it, an a-priori bound ``E`` on the
distance between each computed end and the end that *the same formula* gives in exact arithmetic
from the same float inputs (the previous layers' widened intervals, the float relaxation lines);
the ends are then moved outward, ``lower - E`` and ``upper + E``, and one float further
(``nextafter``, which covers the rounding of that subtraction: under round-to-nearest the float
next to ``fl(y)`` away from ``y`` is beyond ``y``).  The exact formula's end is a valid bound (the
method's theorem, given valid inputs), so the widened end is one too, and by induction over the
layers every interval is.  Stability is decided on the widened ends with the strict inequalities,
``lower > 0`` or ``upper < 0``: a neuron whose exact range reaches 0 -- an exact tie, e.g. a
pre-activation that is exactly 0 at the centre -- comes out unstable, and so does every neuron
within ``E`` of one.  ``E`` is ``gamma_N`` (2e-13 to 3e-13 at 784 x 3 x 256) of the magnitudes
entering the bound: 1e-12 to 7e-11 absolute there, far below the margins of real decisions (the
closest end to 0 was 8,000 times its widening; no flag changed on trained and random nets, see
``docs/performance_methods.md``).

The centre's pre-activations ``A`` are returned as computed, with ``centre_error >= |A - exact A|``
(Algorithm 1's ``A_error``: :mod:`localregions._rounding`), so that ``U`` bounds the deviation from
the exact centre output.

The model (Higham, *Accuracy and Stability of Numerical Algorithms*, 2.2, 3.1 and 3.5)
-------------------------------------------------------------------------------------
With gradual underflow every float64 operation satisfies ``fl(a op b) = (a op b)(1 + delta) +
eps`` with ``|delta| <= u = 2**-53``, ``|eps| <= eta / 2`` (``eta = 2**-1074``) and ``eps = 0`` for
``+`` and ``-`` (a sum that underflows is exact).  So a dot product of length ``n`` plus a term,
summed in any order (blocked, pairwise, with FMAs, as torch's matmuls are), has error at most
``gamma_{n+1} (|a| . |b| + |c|) + n eta``, ``gamma_n = n u / (1 - n u)``; a chain of such steps,
each applied to the previous computed result, compounds as ``(1 + gamma_a)(1 + gamma_b) - 1 <=
gamma_{a+b}``; and a sum of non-negative terms has a relative error ``gamma_n`` only.  A computed
norm of ``m`` entries is within ``gamma_{2m+4}`` (relative, with or without scaling) plus, for the
2-norm, ``sqrt(m) 2**-537`` (squares that underflow) of the exact norm of the same entries.  The
constants below carry a factor ``1 + 1e-6`` that covers the rounding of computing the bounds
themselves (the magnitudes are sums of non-negative terms, computed with relative errors of at
most ``gamma`` of the chain's length, far below ``1e-6`` for any net that fits in memory).

First layer (every method): ``A -/+ r ||W_j||_dual``
    ``|A - A*| <= gamma_{d+1} M + d eta`` with ``M = |x| |W|^T + |b|`` (one product, as Algorithm 1
    computes), the norm within ``gamma_{2d+4}``, then ``r ||W||`` and ``A -/+ r ||W||`` one rounding
    each: ``E_1 = gamma_{2d+8} (M + r ||W_j||) + (d + 4) eta + r sqrt(d) 2**-537`` (the last term
    for an L2 ball only).

IBP, layer ``k``: ``mid = (hi + lo) / 2``, ``rad = (hi - lo) / 2`` from ``hi, lo = relu`` of the widened interval
    The exact formula is ``W mid* + b -/+ |W| rad*`` with ``mid*``, ``rad*`` the exact half-sum and
    half-difference (``mid* + rad* = hi``).  ``mid`` and ``rad`` are within ``u`` relative (and
    ``eta/2`` absolute) of them, each product adds ``gamma_n`` of its magnitudes, the last sum one
    rounding: ``E = gamma_{2n+8} (|W| max(hi, X) + |b|) + |W| X_error + (2n + rho + 8) eta`` with
    ``rho`` the largest row sum of ``|W|``.  The same ``E`` bounds ``|A - A*|`` for the centre
    ``A = W X + b`` (``gamma_{n+1} (|W| X + |b|) + |W| X_error``, Algorithm 1's ``A_error``), so one
    stacked product with ``|W|`` per layer (``[rad; operand]``, where ``rad`` needed one already)
    gives both.

CROWN, layer ``k``: see :mod:`.crown`, "Rounding"
    The relaxation lines are made valid as floats (the upper line's intercept is rounded up, so
    that ``alpha z + beta >= relu(z)`` holds exactly at both ends of ``[l, u]`` with the computed
    slope), and the backward pass is bounded by the magnitudes of the same computation: with
    ``D = max(alpha_L, alpha_U) <= 1`` per neuron (0 where dropped) and ``beta`` the upper
    intercept, ``V_1 = M + r ||W_1j||``, ``T_i = D_i V_i + beta_i``, ``V_k = |W_k| T_{k-1} + |b_k|``
    (a vector per centre and layer: one more stacked row in the product with ``|W|``),
    ``E_k = gamma_{N_k} V_k + eta (w + 8) sum_{i<k} (||V_i||_1 + ||T_i||_1 + 2) + last``.

LP: see :mod:`.lp`, "What guarantees the result".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._rounding import gamma

__all__ = ["ETA", "MARGIN", "IntervalPlan", "first_layer", "norm_underflow", "round_up_by", "widen"]

#: The smallest positive (subnormal) float64: the absolute error unit of a product that underflows.
ETA = 2.0**-1074
#: The factor that covers the rounding of computing the bounds themselves (see the module docstring).
MARGIN = 1.0 + 1e-6


def widen(lower: torch.Tensor, upper: torch.Tensor, error: torch.Tensor):
    """``(lower - error, upper + error)``, each then moved one float outward: below / above the exact values.

    ``error`` must bound the distance of ``lower`` and ``upper`` from the exact values they
    approximate; the ``nextafter`` covers the rounding of the subtraction and addition themselves.
    A NaN stays NaN (and is never stable: both comparisons are false).
    """
    inf = torch.full((), math.inf, dtype=lower.dtype, device=lower.device)
    return torch.nextafter(lower - error, -inf), torch.nextafter(upper + error, inf)


def round_up_by(t: torch.Tensor) -> torch.Tensor:
    """``t >= 0`` (in place) raised past the rounding of up to two operations that computed it: ``t (1 + 2**-50)``.

    If ``t = fl(fl(a) + b)`` with ``a`` one rounding of a non-negative exact value, the exact value
    is at most ``t (1 + 2.01 u)``; the product rounds to at least ``t (1 + 6.9 u)`` for a normal
    ``t`` (a subnormal result of a sum is exact).
    """
    return t.mul_(1.0 + 2.0**-50)


def norm_underflow(m: int, order: float) -> float:
    """Absolute error of a computed norm of ``m`` entries from underflow: ``sqrt(m) 2**-537`` for L2, 0 for L1."""
    return math.sqrt(m) * 2.0**-537 if order == 2.0 else 0.0


@dataclass(frozen=True)
class IntervalPlan:
    """Per-call constants of the rounding bounds (layer ``k`` has ``n = n_in[k]`` inputs; see the module docstring).

    ``abs_Wt[k]`` is ``|W_k|^T`` (contiguous) and ``abs_b[k]`` is ``|b_k|``.  ``gA[k] = gamma_{n+1}``
    and ``fE[k] = 1 + 4 gamma_{n+4}`` weight the centre's outputs and their errors in
    ``centre_error`` (Algorithm 1's), ``absA[k]`` its underflow term; ``g_ibp[k]``, ``abs_ibp[k]``
    are IBP's ``E`` (layer 0: the first layer's, without the radius's underflow term);
    ``g_crown[k] = gamma_{N_k}`` with ``N_k = 2d + 16 + sum_{i<k} 2 (w_i + 8)``, the longest
    chain of roundings in CROWN's bound of layer ``k``.  Every factor includes :data:`MARGIN`.
    """

    abs_Wt: tuple
    abs_b: tuple
    gA: tuple
    fE: tuple
    absA: tuple
    g_ibp: tuple
    abs_ibp: tuple
    g_crown: tuple
    d: int
    order: float

    @classmethod
    def build(cls, hidden, d: int, order: float) -> "IntervalPlan":
        abs_Wt, abs_b, gA, fE, absA, g_ibp, abs_ibp, g_crown = ([] for _ in range(8))
        chain = 2 * d + 16
        for k, (W, b) in enumerate(hidden):
            n = W.shape[1]
            aW = W.abs()
            rho = float(aW.sum(dim=1).max()) * MARGIN if W.numel() else 0.0
            abs_Wt.append(aW.t().contiguous())
            abs_b.append(b.abs())
            gA.append(gamma(n + 1) * MARGIN)
            fE.append(1.0 + 4.0 * gamma(n + 4))
            absA.append((2 * n + rho + 4) * ETA * MARGIN)
            if k == 0:
                g_ibp.append(gamma(2 * d + 8) * MARGIN)
                abs_ibp.append((d + 4) * ETA * MARGIN)
            else:
                g_ibp.append(gamma(2 * n + 8) * MARGIN)
                abs_ibp.append((2 * n + rho + 8) * ETA * MARGIN)
            g_crown.append(gamma(chain) * MARGIN)
            chain += 2 * (W.shape[0] + 8)
        if g_crown and g_crown[-1] > 1e-7:
            raise ValueError(f"layers too wide for the rounding bounds of the interval methods (gamma {g_crown[-1]:.1e})")
        return cls(tuple(abs_Wt), tuple(abs_b), tuple(gA), tuple(fE), tuple(absA), tuple(g_ibp),
                   tuple(abs_ibp), tuple(g_crown), d, order)

    def centre_operand(self, k: int, X: torch.Tensor, X_error: torch.Tensor, scale: float | None = None):
        """``scale X + fE X_error`` (``scale`` defaults to ``gA[k]``): its product with ``|W_k|^T`` plus ``scale |b_k|`` bounds ``|A - A*|``."""
        return X.mul(self.gA[k] if scale is None else scale).add_(X_error, alpha=self.fE[k])


@dataclass
class FirstLayer:
    """The first hidden layer for a chunk: ``A``, its error bound, the widened interval and its magnitude ``M + r ||W_j||``."""

    A: torch.Tensor
    A_error: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor
    magnitude: torch.Tensor


def first_layer(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor, r: float, plan: IntervalPlan) -> FirstLayer:
    """The exact range of the first hidden layer over the ball, ``A_j -/+ r ||W_j||_dual``, widened by its rounding.

    ``plan.order`` is the dual norm's order (2 for an L2 ball, 1 for an L-infinity ball).  Every
    method starts from it; it is what Algorithm 1 computes for the first layer too (``u = r
    ||W_j||``, ``Usum = 0``), with the same operations, then moved outward by ``E_1`` (module
    docstring).
    """
    A = x @ W.t().contiguous() + b
    rad = r * torch.linalg.vector_norm(W, ord=plan.order, dim=1)
    M = torch.addmm(plan.abs_b[0], x.abs(), plan.abs_Wt[0])  # |x| |W|^T + |b|
    A_error = M.mul(plan.gA[0]).add_(plan.absA[0])
    magnitude = M.add_(rad)
    error = magnitude.mul(plan.g_ibp[0]).add_(plan.abs_ibp[0] + r * norm_underflow(plan.d, plan.order) * MARGIN)
    lower, upper = widen(A - rad, A + rad, error)
    return FirstLayer(A, A_error, lower, upper, magnitude)
