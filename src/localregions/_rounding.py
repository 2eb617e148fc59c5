"""Proven bounds on the rounding of Algorithm 1 in float64, and the sound decision they allow.

Used by the engine (:mod:`localregions._algorithm1`); what the flags guarantee is in
:mod:`localregions.bounds`.

Exactness and rounding
----------------------
The guarantees of :mod:`localregions.bounds` are exact in real arithmetic (Proposition 1).  Here everything is computed
in float64, and **they hold for the exact pre-activations of the given float64 net, centres and
radius**: next to every quantity the decision uses, the engine computes a proven a-priori
bound on its rounding error, and a neuron is declared stable only where the margin clears
those bounds.  Write ``*`` for exact values, ``u = 2**-53`` and ``gamma_n = n u / (1 - n u)``
(Higham, *Accuracy and Stability of Numerical Algorithms*, 3.1 and 3.5: ``|fl(A B) - A B| <=
gamma_n |A| |B|`` for any summation order, blocked or fused, so for every matmul here).  For
layer ``k`` with ``n`` inputs and the computed centre outputs ``X`` of the layer before:

* ``A_error >= |A - A*|`` (:class:`~localregions.bounds.Algorithm1Trace`): ``gamma_{n+1} (|W| X + |b|) + |W| E``,
  the rounding of ``W X + b`` plus the propagated error of ``X``, where ``E >= |X - X*|`` is the
  layer before's ``A_error`` where its ``A > 0`` and ``max(A + A_error, 0)`` where ``A <= 0``
  (``max`` is 1-Lipschitz; the input is exact).
* ``u >= u* = r ||L*|| + Usum*`` (the trace's ``u``), where ``L*`` is the exact ``L`` propagated
  through the rows the engine passes on and ``Usum*`` the exact sum of the computed ``U``: the
  computed ``r ||L|| + usum`` plus ``rounding = r c_k N_k + 2 gamma_n usum + 4 u (r ||L|| +
  usum)`` (``c_k``, ``N_k`` below; ``usum`` is a sum of non-negative terms, so its error is
  relative).
* ``v = u + A_error`` rounded up.  **Stably inactive iff ``A < -v``, stably active iff ``A >
  v``**, else ``S = 1``.  Both are exact comparisons of floats and imply ``A* + u* < 0``,
  resp. ``A* - u* > 0``: the paper's strict inequalities on the exact values.  An exact tie
  (``|A*| = u*``, e.g. ``A* = 0`` with ``L* = 0``, which float64 computes as 0 or a few ulps of
  either sign) comes out unstable, and so does every decision within ``A_error + rounding`` of
  one; only those can differ from the literal pseudocode (:mod:`localregions.reference`) -- on
  random nets none does (0 of 92,160 decisions at the paper's size in the tests; 0 of
  15,360,000 flags per setting at 784 x 3 x 256 against the engine before these bounds).
* ``P = 0`` iff stable and (inactive or ``usum = 0``); ``usum = 0`` is decided exactly.
* ``U = min(u, max(A + v, 0))`` rounded up: ``0`` where stably inactive, ``u`` where ``A >= 0``,
  and in every case ``>= min(u*, max(A* + u*, 0)) >= |X' - X*|``, whichever side of 0 the exact
  ``A*`` is on.  So ``U`` is a valid deviation bound also where the sign of ``A*`` is in doubt;
  it exceeds the exact paper value by at most ``2 (A_error + rounding)`` and a few ulps.
* Lemma 1, rigorous: every pre-activation over the ball lies in ``[A - v, A + v]``.

The constants carry margins (factors ``1 + 4 gamma_{n+4}``, ``1 + 1e-6``) that cover the
rounding of computing the bounds themselves, and ``u``, ``A_error`` and ``v`` are rounded up
(a computed sum that is 0 is exact and stays 0, so a constant neuron keeps ``U = 0``).
Higham's bounds assume no underflow: where a product could underflow -- checked at run time
from the smallest non-zero operand of each layer's products, and a priori for the propagated
``L`` (its entries are multiples of ``2**-G``, ``G`` from the weights' smallest non-zero
entries, so a non-zero one is at least ``2**-G``) -- absolute terms (multiples of ``2**-1074``,
``sqrt(m) 2**-537`` for a norm of ``m`` squares) are added and ``usum != 0`` is read off the
pattern of non-zeros.  Assumed: IEEE round-to-nearest float64 with gradual underflow (torch's
default; ``torch.set_flush_denormal(True)`` voids the underflow part) and no overflow (an
``inf`` or ``NaN`` bound makes a neuron unstable, but overflow is not otherwise accounted
for).  At 784 x 3 x 256 (default initialisation, r = 0.01) the median ``A_error`` is 1e-12,
5e-12 and 2e-11 in the three layers, and ``rounding`` 2e-13 to 2e-12 of ``u`` on the direct
path (up to 5e-9 of ``u`` on the Gram path: a few 1e-11 of ``r N``); the margins of the
decisions are far larger (none of 15,360,000 flags changed).

The row norms.  With ``N_0 = ||rows of W_1||`` (computed, in the ball's dual norm) and ``N_k =
|W_m| N_{k-1}`` (the masked magnitudes, part of the one product with ``|W|`` per layer that
also gives ``usum`` and ``A_error``),

    | computed ||L_j|| - exact ||L_j|| |  <=  c_k N_kj,
    c_k = [delta + ((1 + g)^(k-1) - 1) (1 + delta) + q (1 + g)^(k-1) (1 + delta)] * (1 + s_k),

(``c_0 = gamma_{2d+4} (1 + 1e-6)`` for the first layer's norms), where ``g = gamma_n`` for the
products (``n`` the widest inner dimension), ``q = gamma_{2m+4}`` for a norm of ``m`` entries
(``m = d`` direct, the rank on the Gram path; a sum of squares or of absolute values has no
cancellation; this covers one computed with scaling too), ``s_k`` covers the rounding of the
computed ``N_k`` themselves (sums of non-negative terms: ``(1 + gamma_{d+2}) (1 + 2 (k-1) g)
(1 + 1e-6) - 1``) and ``delta`` bounds the Gram factorization (``delta = 0`` on the direct
path, whose first ``L`` is ``W_1`` itself): ``| ||v F|| - ||v W_1|| | <= delta sum_i |v_i|
||W_1i||`` for every ``v``.  ``delta`` is measured *a posteriori* once per call, not taken from
the a-priori QR bound (whose constant is unspecified): with ``eta >= ||Q^T Q - I||_2`` and
``Delta = F Q^T - W_1`` (both computed, plus the proven error of computing them), ``delta =
max_i (eta ||F_i|| + ||Delta_i||) / ||W_1i||``.  (The proof: ``v W_1 = (v F) Q^T - v Delta`` and
``||Q^T y|| / ||y|| in [sqrt(1 - eta), sqrt(1 + eta)]``; the propagated error obeys ``e_k <=
|W_m| e_{k-1} + g |W_m| ||L_{k-1}||``.)  At d = 784, h = 256 this is ``c_k`` about 4.5e-11 on the
Gram path, dominated by the proven error of measuring ``eta`` (the true errors are about
1e-16), and about 2e-13 on the direct path.  The Gram path therefore calls a few more decisions
unstable near a tie than the direct path would: the conservative side, never seen in the tests
away from ties.  If ``delta`` cannot be established (a row of ``W_1`` too small to square in
float64, or a failed factorization) ``path="auto"`` falls back to the direct path.  Why not the
Gram matrix itself: ``w^T G w`` is computed with an error up to ``gamma_n |w|^T |G| |w|``, which
under cancellation can dwarf ``||L_j||^2`` itself and would force either a much larger inflation
or a fallback per row; the factored form's error is linear in the same condition number, like
the direct path's.

Cost: the three magnitudes per layer (``usum``, ``A_error``, ``N_k``) are one stacked product
with ``|W|`` (``usum`` was one already, and ``N_k`` on the Gram path; the first layer's
``A_error`` is one product ``|x| |W_1|^T``), plus a run-time underflow check (one reduction per
layer) and a few elementwise passes: a few per cent at 784 x 3 x 256, about 1 microsecond per
centre at the paper's size (see ``docs/performance_bounds.md``).

"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["GramFactor", "RoundingPlan", "SAFE_PRODUCT", "UNIT_ROUNDOFF", "decide", "gamma", "gram_factor",
           "min_positive", "output_error", "round_up", "rounding_plan"]

UNIT_ROUNDOFF = 2.0**-53


def round_up(t: torch.Tensor) -> torch.Tensor:
    """``t`` (in place) raised to at least the next float, where ``t`` is the computed result of one addition.

    Then ``t >= `` the exact sum.  Round to nearest puts the exact sum within one ulp of the
    computed ``t``, and ``t (1 + 2**-52)`` rounds to the next float or beyond when ``t`` is a
    normal number; a sum in the subnormal range (or 0) is exact and is left as it is.  A
    negative ``t`` moves down instead: use it only where a negative result is then clamped to 0
    (a computed sum has the exact sum's sign).
    """
    return t.mul_(1.0 + 2.0**-52)


def output_error(A: torch.Tensor, A_error: torch.Tensor) -> torch.Tensor:
    """A bound on ``|max(A, 0) - max(exact A, 0)|`` from ``A_error >= |A - exact A|`` (a new tensor).

    ``max`` is 1-Lipschitz, so ``A_error`` bounds it; where ``A <= 0`` the output is 0 and the
    exact one at most ``max(A + A_error, 0)`` (rounded up).
    """
    return round_up(A.clamp_max(0.0).add_(A_error)).clamp_min_(0.0)


def min_positive(t: torch.Tensor) -> torch.Tensor:
    """The smallest positive entry of ``t`` (0-d; ``inf`` if none)."""
    return torch.where(t > 0, t, math.inf).amin() if t.numel() else torch.full((), math.inf, dtype=t.dtype, device=t.device)


def decide(A: torch.Tensor, u: torch.Tensor, A_error: torch.Tensor, usum_nonzero: torch.Tensor):
    """The branch of Algorithm 1, elementwise and sound in float64: returns ``(P, S, U)``.

    ``u`` is an upper bound on the exact ``r ||L|| + Usum``, ``A_error`` one on ``|A - exact A|``
    and ``usum_nonzero`` tells exactly whether ``Usum != 0``.  With ``v >= u + A_error`` (rounded
    up), a neuron is stable only if ``v < |A|``, strictly: stably inactive if ``A < -v``, stably
    active if ``v < A``.  Both comparisons are exact on floats, so exact ties and everything
    within ``A_error`` of one come out unstable.  ``U`` bounds ``|X' - X|`` in every case:
    ``min(u, max(A + v, 0))`` (rounded up) bounds ``min(u*, max(A* + u*, 0))``, which is
    ``u* + A*`` for an inactive centre, ``u*`` for an active one and 0 when stably inactive
    (``*``: exact values), whichever side of 0 the exact ``A*`` is on.
    """
    v = round_up(u + A_error)
    dead = v < -A  # so A < -v <= 0: stably inactive
    active = v < A  # so A > v >= 0: stably active
    S = ~(dead | active)
    P = S | (active & usum_nonzero)
    U = torch.minimum(u, round_up(A + v).clamp_min_(0.0))  # 0 where dead (A + v < 0), u where active
    return P, S, U


def gamma(n: int) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)`` for float64 (``u = 2**-53``)."""
    nu = n * UNIT_ROUNDOFF
    return nu / (1.0 - nu)


@dataclass(frozen=True)
class GramFactor:
    """The first layer's Gram factor: ``F F^T = W_1 W_1^T`` up to the measured ``delta``.

    ``F`` (h_1, k) is ``R^T`` of the Householder QR ``W_1^T = Q R`` (``k = min(d, h_1)``), so
    ``||v F|| = ||v W_1||`` for every row vector ``v`` in exact arithmetic.  ``Qt`` (k, d) is
    ``Q^T``: ``L F``-coordinates times ``Qt`` give input coordinates (used by the trace only).
    ``coefficients[k]`` is ``c_k`` of the module docstring: the computed row norm of layer ``k``
    (0-based, ``k >= 1``) is within ``c_k * N_k`` of the exact one.
    """

    F: torch.Tensor
    Qt: torch.Tensor
    delta: float
    coefficients: tuple


def gram_factor(hidden):
    """Factor the first layer (QR of ``W_1^T``) and bound its error a posteriori; ``None`` if the bound fails."""
    W1 = hidden[0][0]
    h1, d = W1.shape
    Q, R = torch.linalg.qr(W1.t())  # W_1^T = Q R: Q (d, k), R (k, h_1)
    F = R.t().contiguous()  # (h_1, k), lower triangular: W_1 = F Q^T
    k = F.shape[1]
    nonzero = (W1 != 0).any(dim=1)
    F[~nonzero] = 0.0  # a zero row of W_1 has a zero row of F (Householder keeps it exactly; be sure)
    W1n = torch.linalg.vector_norm(W1, dim=1)
    Fn = torch.linalg.vector_norm(F, dim=1)
    # eta >= ||Q^T Q - I||_2: the computed Frobenius norm, plus the error of computing Q^T Q
    # (each entry within gamma_d ||q_i|| ||q_l|| <= 2 gamma_d of exact: k^2 entries).
    E = Q.t() @ Q
    E.diagonal().sub_(1.0)
    eta = float(torch.linalg.vector_norm(E)) * (1 + gamma(k * k + 2)) + 2 * gamma(d) * k
    # ||Delta_i|| with Delta = F Q^T - W_1, plus the error of computing it
    # (gamma_{k+1} (|F_i| |Q^T| + |W_1i|) elementwise, ||Q||_F <= sqrt(2k)).
    residual = torch.linalg.vector_norm(F @ Q.t() - W1, dim=1) * (1 + gamma(d + 2))
    measured = gamma(k + 2) * (Fn * math.sqrt(2 * k) + W1n)
    numerator = eta * Fn * (1 + gamma(k + 2)) + residual + measured
    rows = nonzero & (W1n > 0)
    if bool((nonzero & ~rows).any()):
        return None  # a row too small to square in float64: the bound does not apply
    delta = float((numerator[rows] / W1n[rows]).max()) * (1 + 1e-6) if bool(rows.any()) else 0.0
    if not math.isfinite(delta) or delta > 1e-6 or eta > 1e-6:
        return None
    coefficients = _norm_coefficients(hidden, d, k, delta)
    return GramFactor(F=F, Qt=Q.t().contiguous(), delta=delta, coefficients=tuple(coefficients))


def _norm_coefficients(hidden, d: int, row_length: int, delta: float) -> tuple:
    """``c_k`` per hidden layer (0-based): ``|computed ||L_j|| - exact ||L_j||| <= c_k N_kj`` (+ ``a_k``).

    ``row_length`` is the length of the propagated rows (``d`` direct, the rank on the Gram path),
    ``delta`` the Gram factor's measured error (0 on the direct path).  Layer 0 computes the norms
    of the rows of ``W_1`` (``d`` entries) and ``N_0`` is that computed norm.  See the module
    docstring, "Exactness and rounding".
    """
    g = gamma(max([W.shape[1] for W, _ in hidden[1:]], default=1))
    q = gamma(2 * row_length + 4)  # a norm of row_length entries, even one computed with scaling
    coefficients = [gamma(2 * d + 4) * (1 + 1e-6)]
    for layer in range(1, len(hidden)):
        grow = (1 + g) ** layer
        c = delta + ((grow - 1) + q * grow) * (1 + delta)
        c *= (1 + gamma(d + 2)) * (1 + 2 * layer * g) * (1 + 1e-6)
        coefficients.append(c)
    return tuple(coefficients)


#: A product is safe from underflow when both factors' product is at least this (2**-1022 is the
#: smallest normal float64; the margin covers the rounding of the check itself).
SAFE_PRODUCT = 2.0**-1000


@dataclass(frozen=True)
class RoundingPlan:
    """Per-layer constants of the a-priori rounding bounds (see "Exactness and rounding").

    For layer ``k`` with ``n`` inputs: ``gA = gamma_{n+1} (1 + 4 gamma_{n+4})`` and ``fE = 1 + 4
    gamma_{n+4}`` weight the centre's outputs and their errors in ``A_error``; ``rc = r c_k (1 +
    2e-6)`` (``c_k`` the norm coefficients), ``cS = 2 gamma_n (1 + 1e-6)`` and ``cB = 4 u (1 +
    1e-6)`` weight ``N``, ``usum`` and ``r ||L|| + usum`` in ``rounding``.  ``absA`` and ``absU``
    are absolute terms (multiples of ``eta = 2**-1074`` and ``r a_k``) that cover underflow; they
    are added only where a product may underflow: ``no_underflow`` is the a-priori part of that
    check (the propagated ``L``, its norms and ``r ||L||``; the run-time part checks the
    smallest non-zero operands of every other product).  ``wmin`` is the smallest non-zero
    ``|W_ij|``.
    """

    gA: tuple
    fE: tuple
    absA: tuple
    rc: tuple
    cS: tuple
    absU: tuple
    wmin: tuple
    cB: float
    no_underflow: bool


def _ldexp_up(units: float) -> float:
    """``units * eta`` (``eta = 2**-1074``) rounded up (by one more ``eta``)."""
    return math.ldexp(units * (1 + 1e-6) + 2.0, -1074)


def _grid_exponent(t: torch.Tensor) -> int:
    """``G`` such that every entry of ``t`` is an integer multiple of ``2**-G`` (0 for an all-zero ``t``).

    A float64 ``v != 0`` is a multiple of ``2**(e - 52)``, ``e = floor(log2 |v|)``.
    """
    nonzero = t.abs()[t != 0]
    if not nonzero.numel():
        return 0
    return 53 - math.frexp(float(nonzero.min()))[1]


def rounding_plan(hidden, d: int, r: float, order: float, gram) -> RoundingPlan:
    """The constants of the rounding bounds for this net, radius, norm and path."""
    row_length = gram.F.shape[1] if gram is not None else d
    c = gram.coefficients if gram is not None else _norm_coefficients(hidden, d, row_length, 0.0)
    g = gamma(max([W.shape[1] for W, _ in hidden[1:]], default=1))

    def alpha(m):  # absolute underflow error of a computed norm of m entries, in units of eta
        return math.sqrt(m) * 2.0**537 if order == 2.0 else float(m)

    # A priori: every entry of the propagated rows (computed or exact) is a multiple of 2**-G
    # (products of multiples of 2**-a and 2**-b are multiples of 2**-(a+b), sums and roundings
    # keep the grid), so a non-zero one is at least 2**-G; then neither its products nor its
    # square nor r times its norm underflow when G is small enough.
    G1 = _grid_exponent(hidden[0][0])
    safe = G1 <= 500 and math.log2(r) - G1 >= -1000  # the first layer's norms and r ||W_j||
    G = G1 if gram is None else _grid_exponent(gram.F)
    gA, fE, absA, rc, cS, absU, wmin = [], [], [], [], [], [], []
    eps = 0.0  # absolute (underflow) error of each propagated row of L, in units of eta
    for k, (W, b) in enumerate(hidden):
        n = W.shape[1]
        absW = W.abs()
        rho = float(absW.sum(dim=1).max()) * (1 + 1e-6) if W.numel() else 0.0  # max row sum of |W|
        nonzero = absW[absW > 0]
        wmin.append(float(nonzero.min()) if nonzero.numel() else math.inf)
        gA.append(gamma(n + 1) * (1 + 4 * gamma(n + 4)))
        fE.append(1 + 4 * gamma(n + 4))
        absA.append(_ldexp_up(2 * rho + 2 * n + 4))
        bmin = min_positive(b.abs())
        safe &= float(bmin) * gA[-1] >= SAFE_PRODUCT
        m = d if k == 0 else row_length
        if k:
            eps = (1 + g) * rho * eps * (1 + 1e-6) + 2 * n * m
            safe &= (G == 0 or math.ldexp(wmin[-1], -G) >= SAFE_PRODUCT)
            G += _grid_exponent(W)
            safe &= G <= 500 and math.log2(r) - G >= -1000
        a_k = _ldexp_up(2 * (eps + alpha(m)))
        rc.append(r * c[k] * (1 + 2e-6))
        # r ||L|| >= r 2**-G (G of the rows of this layer), times cB in rounding; layer 1's N are
        # its norms (>= 2**-G1), times rc.
        safe &= math.log2(r * 4 * UNIT_ROUNDOFF) - (G1 if k == 0 else G) >= -1000
        if k == 0:
            safe &= math.log2(rc[0]) - G1 >= -1000 if rc[0] > 0 else True
        cS.append(2 * gamma(n) * (1 + 1e-6) if k else 0.0)
        absU.append(r * a_k * (1 + 1e-6) + _ldexp_up(3 * n + 16))
    return RoundingPlan(gA=tuple(gA), fE=tuple(fE), absA=tuple(absA), rc=tuple(rc), cS=tuple(cS),
                         absU=tuple(absU), wmin=tuple(wmin), cB=4 * UNIT_ROUNDOFF * (1 + 1e-6),
                         no_underflow=bool(safe))
