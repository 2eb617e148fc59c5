"""Algorithm 1 of Zhu, Lin & Tang (2020), run for a whole batch of ball centres at once.

For a ReLU network and a ball ``B_r(x) = {x' : ||x' - x|| <= r}`` around each centre ``x``,
Algorithm 1 walks the hidden layers and, for every neuron ``j`` of layer ``k``, computes two
flags ``P[k][:, j]``, ``S[k][:, j]`` and a deviation ``U[k][:, j] >= 0``.  The number of
neurons flagged ``S = 1`` is ``C``, and ``2**C`` bounds the number of linear regions that meet
the ball.

What the flags guarantee
------------------------
Write ``A_j`` for the pre-activation of neuron ``j`` at the centre, ``A'_j`` for it at a point
``x'`` of the ball, and ``X_j = max(A_j, 0)``, ``X'_j = max(A'_j, 0)`` for the outputs.  The
recursion keeps, layer by layer, the paper's three conditions (Section 4, Proposition 1):

* **P(k, r)** -- if ``P_j = 0`` the neuron is *linear on the whole ball*: there is a vector
  ``L_j`` and a constant with ``X'_j = L_j . x' + c_j`` for every ``x'`` in the ball
  (``L_j = 0`` when the neuron is stably inactive).  ``P_j = 1`` claims nothing.
* **S(k, r)** -- if ``S_j = 0`` the neuron is *stable*: ``A'_j * A_j > 0`` for every ``x'``
  in the ball, i.e. it never changes its on/off state.  ``S_j = 1`` marks a neuron that may
  switch; these are the ``C`` neurons counted in :attr:`LocalBound.unstable`.
* **U(k, r)** -- for every ``x'`` in the ball ``|X'_j - X_j| <= U_j``.

Because every neuron with ``S = 0`` keeps its state, activation patterns inside the ball can
differ only on the ``C`` neurons with ``S = 1``: at most ``2**C`` linear regions meet the ball.
That is why :attr:`LocalBound.log2_bound` equals ``C`` (and 2**C is never formed).

The step for neuron ``j`` of the next layer, with weights ``M`` (``M[i, j]`` = ``weight[j, i]``
of ``nn.Linear``), is exactly the paper's pseudocode::

    L    = sum over P_i = 0 of M_ij L_i         # the propagated linear part
    Usum = sum over P_i = 1 of |M_ij| U_i       # the propagated deviation
    u    = r * ||L|| + Usum                     # ||.|| = L2 (paper) or L1 for an Linf ball
    if A_j < 0:
        if u + A_j < 0:  U, P, S = 0, 0, 0      # stably inactive
        else:            U, P, S = u + A_j, 1, 1
    else:
        if u < A_j:      U, S = u, 0; P = 0 if Usum == 0 else 1   # stably active
        else:            U, P, S = u, 1, 1

with the input layer treated as ``P = 0``, ``L = identity``.  A neuron's ``L`` becomes zero
when it is stably inactive and the propagated ``L`` when it is stably active with
``Usum == 0``.  For an ``Linf`` ball the dual norm is used: ``r * ||L||_1``.  In float64 the
engine makes these comparisons with proven bounds on the rounding of ``A`` and ``u``, so that
the strict inequalities hold for the exact values (see "Exactness and rounding").

Two paths: direct and Gram
--------------------------
The decisions need only the *norms* of the rows of ``L``, and an L2 norm is invariant under
rotations.  All rows of every layer's ``L`` are combinations of the rows of the first layer's
weights ``W_1`` (h_1 x d), so they live in a space of dimension ``k = min(d, h_1)``.  The
engine has two ways to get the norms:

* **direct** -- propagate ``L`` itself, ``(width, d)`` per centre: ``h^2 d`` multiply-adds per
  layer and centre.  Always used for an ``Linf`` ball (its dual norm, L1, is not invariant
  under rotations).
* **Gram** (L2 only) -- propagate a square-root factor of the Gram matrix ``G = L L^T``.  The
  Householder QR ``W_1^T = Q R`` gives ``F = R^T`` (h_1 x k, lower triangular) with
  ``F F^T = W_1 W_1^T = G_1``, shared by all centres; the rows of ``F`` take the place of the
  rows of ``W_1`` and go through exactly the same masked products, ``F' = W_m F`` with
  ``W_m`` the next layer's weights with the columns of the non-passing neurons masked per
  centre.  Then ``F' F'^T = W_m G W_m^T = G'`` (the Gram matrix of the propagated ``L``)
  and the row norms are ``||F'_j|| = sqrt(G'_jj)``: ``h^2 k`` instead of ``h^2 d``
  multiply-adds (3.06x fewer at d = 784, h = 256).  The factored form was chosen over
  propagating ``G`` itself (``G' = W_m G W_m^T``) because it costs less where it matters,
  ``2 h^3`` against ``3 h^3`` per centre for three hidden layers when every row passes (the
  full ``G'`` costs two products, and the last layer still needs the one for its diagonal),
  and because a norm is a sum of squares -- no cancellation -- while ``sqrt(w^T G w)`` loses
  relative accuracy quadratically in ``|w|^T |G| |w| / w^T G w`` (see below).  Centres whose
  ``L`` is zero are dropped from the product and rows are compacted exactly as on the
  direct path.

``path="auto"`` (what :func:`local_region_bound` uses) takes the Gram path for an L2 ball with
at least two hidden layers when ``h_1 < d`` (when ``h_1 >= d`` it would save nothing), and the
direct path otherwise; :func:`algorithm1_work` and :func:`algorithm1_trace` can force either.

Exactness and rounding
----------------------
The guarantees above are exact in real arithmetic (Proposition 1).  Here everything is computed
in float64, and **they hold for the exact pre-activations of the given float64 net, centres and
radius**: next to every quantity the decision uses, the engine computes a proven a-priori
bound on its rounding error, and a neuron is declared stable only where the margin clears
those bounds.  Write ``*`` for exact values, ``u = 2**-53`` and ``gamma_n = n u / (1 - n u)``
(Higham, *Accuracy and Stability of Numerical Algorithms*, 3.1 and 3.5: ``|fl(A B) - A B| <=
gamma_n |A| |B|`` for any summation order, blocked or fused, so for every matmul here).  For
layer ``k`` with ``n`` inputs and the computed centre outputs ``X`` of the layer before:

* ``A_error >= |A - A*|`` (:class:`Algorithm1Trace`): ``gamma_{n+1} (|W| X + |b|) + |W| E``,
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

Batched design
--------------
The per-centre ``L`` matrices (or Gram factors) are kept as an ``(n, width, d)`` (or
``(n, width, k)``) tensor; the layer step is a
batched matmul of the weights (masked per centre by the rows that carry ``L``, i.e. the
``P = 0`` stably active neurons) against it.  Centres whose ``L`` has become zero are dropped
from the product, and when a chunk's centres carry few active rows, the rows are compacted
per centre before the matmul (zero rows add exactly nothing).  The batch is processed in
chunks whose size is chosen from ``memory_budget_bytes`` (or given as ``chunk_size``); the
work buffers are allocated once per call and reused by every chunk.

Entry points: :func:`local_region_bound` (the result), :func:`algorithm1_trace` (the result and
every intermediate quantity, :class:`Algorithm1Trace`) and :func:`algorithm1_work` (the result
and the engine's work counters, :class:`EngineWork`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .layers import hidden_affine_layers
from .validation import NORMS, check_norm, check_points, check_positive_int, check_radius

__all__ = [
    "LocalBound",
    "local_region_bound",
    "DEFAULT_MEMORY_BUDGET_BYTES",
    "auto_chunk_size",
    "prepare_inputs",
    "Algorithm1Trace",
    "EngineWork",
    "algorithm1_trace",
    "algorithm1_work",
    "check_path",
]

#: Default memory budget of the automatic chunking (bytes of work buffers per call).
DEFAULT_MEMORY_BUDGET_BYTES = 512 * 2**20

# Compact the rows of a chunk before the matmul when the widest centre uses at most this
# fraction of the rows (below it the saved flops outweigh the cost of the gather) and each
# centre's product is big enough (out * rows * d multiply-adds) for a batched matmul to run well.
_COMPACT_FRACTION = 0.85
_COMPACT_MIN_MACS = 2**18
# In a dense product, keep the centres whose L has become zero in the batch (instead of gathering
# the others) when at least this fraction of the chunk still carries an L.
_KEEP_FRACTION = 0.9

#: ``path`` values: the engine's choice, the Gram path (L2 only) or the literal direct path.
_PATHS = ("auto", "gram", "direct")
_UNIT_ROUNDOFF = 2.0**-53


@dataclass(frozen=True)
class LocalBound:
    """Result of :func:`local_region_bound` for a batch of ``N`` centres and ``K`` hidden layers.

    Attributes
    ----------
    unstable : (N,) int64
        ``C``, the number of neurons with ``S = 1``; ``2**C`` bounds the local number of
        linear regions.
    unstable_per_layer : (N, K) int64
        ``C`` split by hidden layer (rows sum to ``unstable``).
    log2_bound : (N,) float64
        ``log2`` of the bound, i.e. ``C`` as float64 (so ``2**C`` is never formed).
    P, S : list of K bool tensors, each (N, width_k)
        The flags of Algorithm 1 (see the module docstring for what each guarantees).
    U : list of K float64 tensors, each (N, width_k)
        The deviation bounds ``|X'_j - X_j| <= U_j`` over the ball.
    lower, upper : list of K float64 tensors, each (N, width_k), or None
        Per-neuron pre-activation bounds over the ball, ``lower <= A'_j <= upper``, for the
        interval methods (``"ibp"``, ``"crown"``, ``"lp"``).  ``None`` for ``"alg1"``: Algorithm 1
        does imply an interval for every neuron, ``[A - u, A + u]`` (Lemma 1 of the paper, with
        ``u = r ||L|| + Usum`` the value *before* the branch; ``U`` is the post-activation
        deviation and equals ``u`` only on some branches), but ``u`` is not kept by the engine:
        take ``A``, ``u`` and ``A_error`` from :func:`algorithm1_trace`; ``[A - u - A_error, A + u
        + A_error]`` holds for the exact pre-activations, rounding included.
    method : str, default "alg1"
        The method that produced the result (see :func:`local_region_bound`).  For the interval
        methods ``S``, ``P`` and ``U`` keep Algorithm 1's meanings and are derived from the
        intervals: ``S = 0`` iff ``lower > 0`` or ``upper < 0``; ``P = 0`` iff stably inactive, or
        stably active with every input of non-zero weight ``P = 0``; ``U = max(relu(upper) - X,
        X - relu(lower))``.
    """

    unstable: torch.Tensor
    unstable_per_layer: torch.Tensor
    log2_bound: torch.Tensor
    P: list
    S: list
    U: list
    lower: list | None = None
    upper: list | None = None
    method: str = "alg1"

    @classmethod
    def from_flags(cls, P: list, S: list, U: list, n: int, device, *, lower: list | None = None,
                   upper: list | None = None, method: str = "alg1") -> "LocalBound":
        """Assemble the result from the per-layer flags; ``C`` counts the ``S = 1`` neurons."""
        per_layer = (
            torch.stack([s.sum(dim=1) for s in S], dim=1).to(torch.int64)
            if S
            else torch.zeros((n, 0), dtype=torch.int64, device=device)
        )
        unstable = per_layer.sum(dim=1)
        return cls(unstable=unstable, unstable_per_layer=per_layer, log2_bound=unstable.to(torch.float64),
                   P=P, S=S, U=U, lower=lower, upper=upper, method=method)

    @property
    def num_layers(self) -> int:
        """Number of hidden ReLU layers ``K``."""
        return len(self.P)


#: Fields of :class:`Algorithm1Trace`, in order.
_TRACE_FIELDS = ("A", "Lpre", "usum", "u", "rounding", "A_error")


@dataclass(frozen=True)
class Algorithm1Trace:
    """Intermediate quantities of Algorithm 1 (:func:`algorithm1_trace`), for tests and diagnostics.

    Every attribute is a list with one tensor per hidden layer ``k`` (``N`` centres, ``d`` inputs).

    Attributes
    ----------
    A : list of (N, width_k) float64
        Pre-activations at the centre.
    Lpre : list of (N, width_k, d) float64
        The propagated ``L`` of each neuron *before* its decision (``sum over P_i = 0 of M_ij
        L_i``; zero where nothing passes), in input coordinates.  Wherever ``usum == 0`` the
        pre-activation is affine on the ball: ``A'_j = A_j + Lpre_j . (x' - x)``.  On the Gram
        path it is the propagated factor row mapped back (``L_F Q^T``): the direct ``L`` up to
        rounding.
    usum : list of (N, width_k) float64
        ``Usum = sum over P_i = 1 of |M_ij| U_i``, the propagated deviation.
    u : list of (N, width_k) float64
        A proven upper bound on ``r ||L|| + Usum`` in exact arithmetic (``||L||`` of the exact
        propagated ``L``, ``Usum`` the exact sum of the computed ``U``): the computed ``r ||L|| +
        usum`` plus ``rounding``, rounded up.  Lemma 1 of the paper, made rigorous: every
        pre-activation over the ball lies in ``[A - u - A_error, A + u + A_error]``.
    rounding : list of (N, width_k) float64
        What was added to the computed ``r ||L|| + usum`` to make ``u`` an upper bound: a proven
        bound on its rounding error (on the Gram path including the factor's, ``c_k r N``; see
        the module docstring, "Exactness and rounding").  Positive on both paths and in every
        layer; about 1e-15 of ``u`` on the direct path and a few 1e-11 of ``r N`` on the Gram path.
    A_error : list of (N, width_k) float64
        A proven bound on ``|A - exact A|``: the rounding of this layer's ``W X + b`` and the
        propagated error of ``X`` (the centre's outputs of the layer before).  The decision is
        stable only where ``u + A_error < |A|`` (rounded up; stably inactive if ``A < 0``, active
        if ``A > 0``).

    Examples
    --------
    >>> W, b = torch.tensor([[3.0, 4.0], [0.0, 1.0]]), torch.tensor([6.0, 0.0])
    >>> res, trace = algorithm1_trace([(W, b)], torch.zeros(1, 2), 1.0)
    >>> trace.A[0].tolist(), trace.usum[0].tolist(), res.S[0].tolist()
    ([[6.0, 0.0]], [[0.0, 0.0]], [[False, True]])
    >>> trace.u[0].tolist()     # r ||W_j|| = 5 and 1, raised by the proven bound on their rounding
    [[5.000000000000008, 1.0000000000000016]]
    >>> bool((trace.A_error[0] < 1e-14).all()), trace.Lpre[0].tolist()
    (True, [[[3.0, 4.0], [0.0, 1.0]]])
    """

    A: list
    Lpre: list
    usum: list
    u: list
    rounding: list
    A_error: list


@dataclass(frozen=True)
class EngineWork:
    """Work counters of one run of the engine (:func:`algorithm1_work`).

    Attributes
    ----------
    path : {"gram", "direct"}
        The path taken (``"auto"`` resolved; see the module docstring, "Two paths").
    chunk_size : int
        Centres per chunk.
    row_length : int
        Length of each propagated row of ``L``: ``d`` on the direct path, the rank bound
        ``min(d, width_1)`` of the first layer's Gram factor on the Gram path.
    flops : int
        Matmul flops performed to propagate ``L`` (layers 2 to K; ``2 * w_out * rows *
        row_length`` per centre and layer), after dropping centres whose ``L`` is zero and
        compacting rows.
    dense_flops : int
        What a plain masked product on the same path would take (``2 * N * w_out * w_in *
        row_length`` per layer).

    Examples
    --------
    >>> EngineWork(path="direct", chunk_size=4, row_length=2, flops=0, dense_flops=32).path
    'direct'
    """

    path: str
    chunk_size: int
    row_length: int
    flops: int
    dense_flops: int


# ----------------------------------------------------------------------------- validation


def prepare_inputs(layers, centers, radius, norm):
    """Validate the common arguments; return ``(hidden, centers, r, norm)`` in float64.

    Everything lands on the centres' device when ``centers`` is a tensor, else on the weights'.
    """
    norm = check_norm(norm)
    r = check_radius(radius)
    device = centers.device if isinstance(centers, torch.Tensor) else None
    hidden = hidden_affine_layers(layers, device=device)
    if device is None:
        device = hidden[0][0].device if hidden else torch.device("cpu")
    input_width = hidden[0][0].shape[1] if hidden else None
    centers = check_points(centers, "centers", input_width, device=device)
    return hidden, centers, r, norm


# ----------------------------------------------------------------------------- the engine


def _up(t: torch.Tensor) -> torch.Tensor:
    """``t`` (in place) raised to at least the next float, where ``t`` is the computed result of one addition.

    Then ``t >= `` the exact sum.  Round to nearest puts the exact sum within one ulp of the
    computed ``t``, and ``t (1 + 2**-52)`` rounds to the next float or beyond when ``t`` is a
    normal number; a sum in the subnormal range (or 0) is exact and is left as it is.  A
    negative ``t`` moves down instead: use it only where a negative result is then clamped to 0
    (a computed sum has the exact sum's sign).
    """
    return t.mul_(1.0 + 2.0**-52)


def _min_positive(t: torch.Tensor) -> torch.Tensor:
    """The smallest positive entry of ``t`` (0-d; ``inf`` if none)."""
    return torch.where(t > 0, t, math.inf).amin() if t.numel() else torch.full((), math.inf, dtype=t.dtype, device=t.device)


def _decide(A: torch.Tensor, u: torch.Tensor, A_error: torch.Tensor, usum_nonzero: torch.Tensor):
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
    v = _up(u + A_error)
    dead = v < -A  # so A < -v <= 0: stably inactive
    active = v < A  # so A > v >= 0: stably active
    S = ~(dead | active)
    P = S | (active & usum_nonzero)
    U = torch.minimum(u, _up(A + v).clamp_min_(0.0))  # 0 where dead (A + v < 0), u where active
    return P, S, U


def _gamma(n: int) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)`` for float64 (``u = 2**-53``)."""
    nu = n * _UNIT_ROUNDOFF
    return nu / (1.0 - nu)


def check_path(path) -> str:
    """Return ``path`` if it is ``"auto"``, ``"gram"`` or ``"direct"``, else raise ``ValueError``.

    >>> check_path("gram")
    'gram'
    >>> check_path("Gram")
    Traceback (most recent call last):
    ...
    ValueError: path must be one of ['auto', 'direct', 'gram'], got 'Gram'
    """
    if not isinstance(path, str) or path not in _PATHS:
        raise ValueError(f"path must be one of {sorted(_PATHS)}, got {path!r}")
    return path


def _choose_path(hidden, d: int, norm: str, path: str) -> str:
    """Resolve ``path="auto"``: the Gram path for an L2 ball when the first hidden layer is narrower than the input."""
    if path == "gram" and norm != "l2":
        raise ValueError(f"path='gram' needs norm='l2' (an {norm} ball needs the L1 norms of the rows of L), got norm={norm!r}")
    if path != "auto":
        return path
    if norm == "l2" and len(hidden) >= 2 and hidden[0][0].shape[0] < d:
        return "gram"
    return "direct"


@dataclass(frozen=True)
class _GramFactor:
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


def _gram_factor(hidden):
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
    eta = float(torch.linalg.vector_norm(E)) * (1 + _gamma(k * k + 2)) + 2 * _gamma(d) * k
    # ||Delta_i|| with Delta = F Q^T - W_1, plus the error of computing it
    # (gamma_{k+1} (|F_i| |Q^T| + |W_1i|) elementwise, ||Q||_F <= sqrt(2k)).
    residual = torch.linalg.vector_norm(F @ Q.t() - W1, dim=1) * (1 + _gamma(d + 2))
    measured = _gamma(k + 2) * (Fn * math.sqrt(2 * k) + W1n)
    numerator = eta * Fn * (1 + _gamma(k + 2)) + residual + measured
    rows = nonzero & (W1n > 0)
    if bool((nonzero & ~rows).any()):
        return None  # a row too small to square in float64: the bound does not apply
    delta = float((numerator[rows] / W1n[rows]).max()) * (1 + 1e-6) if bool(rows.any()) else 0.0
    if not math.isfinite(delta) or delta > 1e-6 or eta > 1e-6:
        return None
    coefficients = _norm_coefficients(hidden, d, k, delta)
    return _GramFactor(F=F, Qt=Q.t().contiguous(), delta=delta, coefficients=tuple(coefficients))


def _norm_coefficients(hidden, d: int, row_length: int, delta: float) -> tuple:
    """``c_k`` per hidden layer (0-based): ``|computed ||L_j|| - exact ||L_j||| <= c_k N_kj`` (+ ``a_k``).

    ``row_length`` is the length of the propagated rows (``d`` direct, the rank on the Gram path),
    ``delta`` the Gram factor's measured error (0 on the direct path).  Layer 0 computes the norms
    of the rows of ``W_1`` (``d`` entries) and ``N_0`` is that computed norm.  See the module
    docstring, "Exactness and rounding".
    """
    g = _gamma(max([W.shape[1] for W, _ in hidden[1:]], default=1))
    q = _gamma(2 * row_length + 4)  # a norm of row_length entries, even one computed with scaling
    coefficients = [_gamma(2 * d + 4) * (1 + 1e-6)]
    for layer in range(1, len(hidden)):
        grow = (1 + g) ** layer
        c = delta + ((grow - 1) + q * grow) * (1 + delta)
        c *= (1 + _gamma(d + 2)) * (1 + 2 * layer * g) * (1 + 1e-6)
        coefficients.append(c)
    return tuple(coefficients)


#: A product is safe from underflow when both factors' product is at least this (2**-1022 is the
#: smallest normal float64; the margin covers the rounding of the check itself).
_SAFE_PRODUCT = 2.0**-1000


@dataclass(frozen=True)
class _RoundingPlan:
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


def _rounding_plan(hidden, d: int, r: float, order: float, gram) -> _RoundingPlan:
    """The constants of the rounding bounds for this net, radius, norm and path."""
    row_length = gram.F.shape[1] if gram is not None else d
    c = gram.coefficients if gram is not None else _norm_coefficients(hidden, d, row_length, 0.0)
    g = _gamma(max([W.shape[1] for W, _ in hidden[1:]], default=1))

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
        gA.append(_gamma(n + 1) * (1 + 4 * _gamma(n + 4)))
        fE.append(1 + 4 * _gamma(n + 4))
        absA.append(_ldexp_up(2 * rho + 2 * n + 4))
        bmin = _min_positive(b.abs())
        safe &= float(bmin) * gA[-1] >= _SAFE_PRODUCT
        m = d if k == 0 else row_length
        if k:
            eps = (1 + g) * rho * eps * (1 + 1e-6) + 2 * n * m
            safe &= (G == 0 or math.ldexp(wmin[-1], -G) >= _SAFE_PRODUCT)
            G += _grid_exponent(W)
            safe &= G <= 500 and math.log2(r) - G >= -1000
        a_k = _ldexp_up(2 * (eps + alpha(m)))
        rc.append(r * c[k] * (1 + 2e-6))
        # r ||L|| >= r 2**-G (G of the rows of this layer), times cB in rounding; layer 1's N are
        # its norms (>= 2**-G1), times rc.
        safe &= math.log2(r * 4 * _UNIT_ROUNDOFF) - (G1 if k == 0 else G) >= -1000
        if k == 0:
            safe &= math.log2(rc[0]) - G1 >= -1000 if rc[0] > 0 else True
        cS.append(2 * _gamma(n) * (1 + 1e-6) if k else 0.0)
        absU.append(r * a_k * (1 + 1e-6) + _ldexp_up(3 * n + 16))
    return _RoundingPlan(gA=tuple(gA), fE=tuple(fE), absA=tuple(absA), rc=tuple(rc), cS=tuple(cS),
                         absU=tuple(absU), wmin=tuple(wmin), cB=4 * _UNIT_ROUNDOFF * (1 + 1e-6),
                         no_underflow=bool(safe))


def _per_centre_bytes(hidden, d: int, detailed: bool, row_length: int | None = None) -> int:
    """Bytes of work buffers per centre; ``row_length`` is the length of the propagated rows (d or the Gram rank)."""
    widths = [w.shape[0] for w, _ in hidden]
    w_max = max(widths)
    rl = d if row_length is None else row_length
    # two ping-pong L buffers + one gather buffer, masked weights (+ their gather), small vectors
    # (A, u, usum, U, flags, the magnitudes N, the rounding bounds and their stacked product)
    per = 3 * w_max * rl + 2 * w_max * w_max + 40 * w_max
    if detailed:
        per += sum(widths) * d + 5 * sum(widths)
        if rl != d:
            per += w_max * d  # the Gram path's L mapped back to input coordinates
    return 8 * per


def auto_chunk_size(
    hidden, d: int, n: int, memory_budget_bytes: int, detailed: bool = False, *, row_length: int | None = None
) -> int:
    """Centres per chunk so that the work buffers stay within ``memory_budget_bytes``.

    ``detailed``: the per-layer :class:`Algorithm1Trace` is kept too.  ``row_length``: the
    length of each propagated row of ``L`` -- ``d`` on the direct path (the default), the rank
    ``min(d, width_1)`` of the first layer's Gram factor on the Gram path.
    """
    if not hidden or n == 0:
        return max(n, 1)
    per = max(8, _per_centre_bytes(hidden, d, detailed, row_length))
    return int(max(1, min(n, memory_budget_bytes // per)))


class _Workspace:
    """Flat float64 buffers allocated once per call and reused by every chunk."""

    def __init__(self, chunk: int, w_max: int, d: int, device):
        def buffer(numel):
            return torch.empty(numel, dtype=torch.float64, device=device)

        self.ping = buffer(chunk * w_max * d)  # propagated L, ping-ponged between layers
        self.pong = buffer(chunk * w_max * d)
        self.gather = buffer(chunk * w_max * d)  # compacted rows of L
        self.weights = buffer(chunk * w_max * w_max)  # per-centre masked (or gathered) weights


def _propagate_L(W, Wt, mask, source, live_pos, out_buffer, ws, stats):
    """Compute the propagated ``L`` of one layer for the centres that still carry one.

    Parameters
    ----------
    W : (w_out, w_in) weights; ``Wt`` its contiguous transpose.
    mask : (n, w_in) bool -- rows of the previous layer that pass their ``L`` on
        (``P = 0`` and stably active).
    source : (w_in, d) shared ``L`` (the first hidden layer, whose ``L`` rows are the rows of
        ``W_1`` for every centre) or (n_live, w_in, d) per-centre ``L`` of the live centres.
    live_pos : None (every centre has a row in a shared source) or (n,) int64 position of each
        centre's row in ``source`` (-1 where its ``L`` is identically zero).

    Returns ``(new_live_idx, Lpre)``: indices (into the chunk) of the centres with a non-zero
    product and their ``(n_new, w_out, d)`` propagated ``L`` (a view of ``out_buffer``).
    """
    n, w_in = mask.shape
    w_out = W.shape[0]
    shared = source.ndim == 2
    d = source.shape[-1]
    counts = mask.sum(dim=1)
    carries = counts > 0
    if not shared:
        carries &= live_pos >= 0
    new_live = torch.nonzero(carries).flatten()
    n_new = int(new_live.numel())
    if stats is not None:
        stats["dense_flops"] += 2 * n * w_out * w_in * d
    if n_new == 0:
        return new_live, out_buffer[:0].view(0, w_out, d)
    every = n_new == n
    live_mask = mask if every else mask[new_live]
    a_max = int((counts if every else counts[new_live]).max())
    maskf = live_mask.to(torch.float64)
    dense_rows = a_max > _COMPACT_FRACTION * w_in or w_out * a_max * d < _COMPACT_MIN_MACS
    if dense_rows and not every and not shared and source.shape[0] == n and n_new >= _KEEP_FRACTION * n:
        # Nearly every centre still carries: multiplying the few that do not (their masked
        # weights are zero, so their L comes out exactly zero) is cheaper than gathering the rest.
        new_live = torch.arange(n, device=mask.device)
        n_new, every, live_mask = n, True, mask
        maskf = mask.to(torch.float64)
    # Every centre with a row in ``source`` still carries: no need to select centres.
    same_centres = shared or (n_new == source.shape[0])
    if stats is not None:
        stats["flops"] += 2 * n_new * w_out * (w_in if dense_rows else a_max) * d
    Lpre = out_buffer[: n_new * w_out * d].view(n_new, w_out, d)
    if dense_rows and same_centres:
        # No gather: mask the weights per centre and multiply everything.
        Wm = ws.weights[: n_new * w_out * w_in].view(n_new, w_out, w_in)
        torch.mul(W.unsqueeze(0), maskf.unsqueeze(1), out=Wm)
        if shared:
            torch.matmul(Wm.view(n_new * w_out, w_in), source, out=Lpre.view(n_new * w_out, d))
        else:
            torch.bmm(Wm, source, out=Lpre)
        return new_live, Lpre
    # Compact: for each centre keep its (at most a_max) passing rows, padded with masked rows.
    a = w_in if dense_rows else a_max
    order = torch.argsort(live_mask.to(torch.int8), dim=1, descending=True, stable=True)[:, :a]
    flat_order = order.reshape(-1)
    Wg = ws.weights[: n_new * a * w_out].view(n_new * a, w_out)
    torch.index_select(Wt, 0, flat_order, out=Wg)
    Wg.mul_(torch.gather(maskf, 1, order).reshape(-1, 1))  # zero the padding rows
    Lg = ws.gather[: n_new * a * d].view(n_new * a, d)
    if shared:
        torch.index_select(source, 0, flat_order, out=Lg)
    else:
        rows = (live_pos[new_live].unsqueeze(1) * w_in + order).reshape(-1)
        torch.index_select(source.reshape(-1, d), 0, rows, out=Lg)
    torch.bmm(Wg.view(n_new, a, w_out).transpose(1, 2), Lg.view(n_new, a, d), out=Lpre)
    return new_live, Lpre


def _run_chunk(prepared, x, r, order, ws, gram, plan, detailed, stats):
    """Algorithm 1 for one chunk of centres ``x`` (n, d); returns per-layer lists.

    ``prepared`` holds per hidden layer ``(W, b, W.t(), |W|.t(), |b|)`` (transposes contiguous).
    ``gram`` is the first layer's :class:`_GramFactor` on the Gram path, ``None`` on the direct
    path; ``plan`` the :class:`_RoundingPlan`.  With ``detailed`` the last item is a dict of the
    :class:`Algorithm1Trace` fields.
    """
    n, d = x.shape
    device = x.device
    zero = torch.zeros((), dtype=torch.float64, device=device)
    Ps, Ss, Us = [], [], []
    extras = {key: [] for key in _TRACE_FIELDS} if detailed else None
    X = x
    P_prev = U_prev = mask_prev = None
    X_error = None  # bound on |X - exact X| of the layer before (0 for the input)
    source = live_pos = None
    magnitude = None  # N_k = |M_k| N_{k-1}, N_0 = ||W_1 rows|| (see "Exactness and rounding")
    buffers = (ws.ping, ws.pong) if ws is not None else (None, None)
    flip = 0
    for k, (W, b, Wt, abs_Wt, abs_b) in enumerate(prepared):
        w_out = W.shape[0]
        A = X @ Wt + b
        if k == 0:
            # Input layer: P = 0 and L = identity, so L_j = W_j (shared by all centres), Usum = 0.
            usum = torch.zeros_like(A)
            usum_nonzero = torch.zeros_like(A, dtype=torch.bool)
            Lnorm = torch.linalg.vector_norm(W, ord=order, dim=1).expand(n, w_out)
            Lpre_full = W.unsqueeze(0).expand(n, w_out, d) if detailed else None
            # The Gram path propagates the rows of the factor F (F F^T = W_1 W_1^T) instead of W_1.
            new_source, new_pos = (W if gram is None else gram.F), None
            magnitude = Lnorm
            # |A - exact A| <= gamma_{d+1} (|x| |W|^T + |b|): the centre itself is exact.
            x_abs = x.abs()
            A_error = torch.addmm(abs_b, x_abs, abs_Wt, beta=plan.gA[k], alpha=plan.gA[k])
            smallest = _min_positive(x_abs) * (plan.gA[k] * min(plan.wmin[k], 1.0))
        else:
            # One product with |W| for the three propagated magnitudes: Usum (the P = 1 rows' U),
            # the centre's error bound (its outputs and their errors), the norms' magnitude N.
            operands = torch.cat([
                torch.where(P_prev, U_prev, zero),
                X.mul(plan.gA[k]).add_(X_error, alpha=plan.fE[k]),
                torch.where(mask_prev, magnitude, zero),
            ])
            products = operands @ abs_Wt
            usum, A_error, magnitude = products.split(n)
            # The smallest non-zero factor of this layer's products (see "underflow" below): X (in
            # X W^T and gA X), and the operands of the product with |W|, whose non-zero results are
            # at least the smallest non-zero operand times wmin and are then multiplied by rc, cS, cB.
            smallest = torch.minimum(
                _min_positive(X) * (plan.gA[k] * min(plan.wmin[k], 1.0)),
                _min_positive(operands) * (min(plan.wmin[k], 1.0) * min(plan.rc[k], plan.cS[k], plan.cB, 1.0)))
            A_error = A_error.add_(abs_b, alpha=plan.gA[k])
            out_buffer = buffers[flip]
            flip ^= 1
            live, Lpre = _propagate_L(W, Wt, mask_prev, source, live_pos, out_buffer, ws, stats)
            if live.numel() == n:  # every centre carries an L (the common case): no scatter
                Lnorm = torch.linalg.vector_norm(Lpre, ord=order, dim=2)
                new_pos = torch.arange(n, device=device)
            else:
                Lnorm = torch.zeros_like(A)
                new_pos = torch.full((n,), -1, dtype=torch.int64, device=device)
                if live.numel():
                    Lnorm[live] = torch.linalg.vector_norm(Lpre, ord=order, dim=2)
                    new_pos[live] = torch.arange(live.numel(), device=device)
            if detailed:
                Lpre_full = torch.zeros((n, w_out, d), dtype=torch.float64, device=device)
                if live.numel():
                    Lpre_full[live] = Lpre if gram is None else Lpre @ gram.Qt
            new_source = Lpre
        # u >= r * (exact ||L||) + (exact Usum): the computed value plus a proven bound on its error.
        base = r * Lnorm + usum
        rounding = magnitude * plan.rc[k]
        if k:
            rounding = rounding.add_(usum, alpha=plan.cS[k])
        rounding = rounding.add_(base, alpha=plan.cB)
        # Can a product of this layer underflow?  Only then are the absolute (eta) terms needed, and
        # usum != 0 decided from the pattern of non-zeros (a product |W_ij| U_i may round to 0).
        # The propagated L, its norms and r ||L|| are checked a priori (plan.no_underflow).
        underflow = not plan.no_underflow or float(smallest) < _SAFE_PRODUCT
        if underflow:
            A_error = A_error.add_(plan.absA[k])
            rounding = rounding.add_(plan.absU[k])
        A_error = _up(A_error)
        u = _up(base + rounding)
        if k:
            usum_nonzero = usum != 0
            if underflow:
                usum_nonzero = ((P_prev & (U_prev > 0)).to(torch.float64) @ abs_Wt) > 0
        P, S, U = _decide(A, u, A_error, usum_nonzero)
        Ps.append(P)
        Ss.append(S)
        Us.append(U)
        if detailed:
            extras["A"].append(A)
            extras["A_error"].append(A_error)
            extras["Lpre"].append(Lpre_full)
            extras["usum"].append(usum)
            extras["u"].append(u)
            extras["rounding"].append(rounding)
        # Rows that pass their L on: P = 0 and stably active (P = 0 with A > 0).
        mask_prev = ~P & (A > 0)
        P_prev, U_prev = P, U
        source, live_pos = new_source, new_pos
        # |max(A, 0) - max(exact A, 0)|: at most A_error, and at most max(A + A_error, 0) where A <= 0.
        X_error = _up(A.clamp_max(0.0).add_(A_error)).clamp_min_(0.0)
        X = torch.clamp_min(A, 0)
    return Ps, Ss, Us, extras


def _algorithm1(
    layers,
    centers,
    radius,
    norm="l2",
    *,
    path="auto",
    chunk_size=None,
    memory_budget_bytes=DEFAULT_MEMORY_BUDGET_BYTES,
    detailed=False,
):
    """The engine: returns ``(LocalBound, Algorithm1Trace or None, EngineWork)``.

    The trace is built only with ``detailed=True`` (it holds every layer's ``L``: memory!).
    """
    hidden, x, r, norm = prepare_inputs(layers, centers, radius, norm)
    path = check_path(path)
    if chunk_size is not None:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
    memory_budget_bytes = check_positive_int(memory_budget_bytes, "memory_budget_bytes")
    order = NORMS[norm]
    n, d = x.shape
    device = x.device
    widths = [w.shape[0] for w, _ in hidden]
    stats = {"flops": 0, "dense_flops": 0}

    path = _choose_path(hidden, d, norm, path)
    gram = _gram_factor(hidden) if path == "gram" and hidden and n else None
    if path == "gram" and hidden and n and gram is None:
        path = "direct"  # the factor's error bound could not be established: the literal path
    row_length = gram.F.shape[1] if gram is not None else d

    if chunk_size is None:
        chunk_size = auto_chunk_size(hidden, d, n, memory_budget_bytes, detailed, row_length=row_length)
    chunk_size = max(1, min(chunk_size, max(n, 1)))

    Ps = [torch.empty((n, w), dtype=torch.bool, device=device) for w in widths]
    Ss = [torch.empty((n, w), dtype=torch.bool, device=device) for w in widths]
    Us = [torch.empty((n, w), dtype=torch.float64, device=device) for w in widths]
    extras = None
    if detailed:
        extras = {
            key: [torch.empty((n, w, d) if key == "Lpre" else (n, w), dtype=torch.float64, device=device) for w in widths]
            for key in _TRACE_FIELDS
        }

    if n and hidden:
        ws = _Workspace(chunk_size, max(widths), row_length, device) if len(hidden) > 1 else None
        prepared = [(W, b, W.t().contiguous(), W.abs().t().contiguous(), b.abs()) for W, b in hidden]
        plan = _rounding_plan(hidden, d, r, order, gram)
        for start in range(0, n, chunk_size):
            stop = min(n, start + chunk_size)
            cP, cS, cU, cx = _run_chunk(prepared, x[start:stop], r, order, ws, gram, plan, detailed, stats)
            for k in range(len(hidden)):
                Ps[k][start:stop] = cP[k]
                Ss[k][start:stop] = cS[k]
                Us[k][start:stop] = cU[k]
                if detailed:
                    for key in extras:
                        extras[key][k][start:stop] = cx[key][k]

    result = LocalBound.from_flags(Ps, Ss, Us, n, device)
    trace = Algorithm1Trace(**extras) if detailed else None
    work = EngineWork(
        path=path,
        chunk_size=chunk_size,
        row_length=row_length,
        flops=stats["flops"],
        dense_flops=stats["dense_flops"],
    )
    return result, trace, work


def _local_region_bound_impl(
    layers,
    centers,
    radius,
    norm="l2",
    *,
    chunk_size=None,
    memory_budget_bytes=DEFAULT_MEMORY_BUDGET_BYTES,
    path="auto",
) -> LocalBound:
    """The engine behind :func:`local_region_bound`: the :class:`LocalBound` only."""
    return _algorithm1(
        layers, centers, radius, norm, path=path, chunk_size=chunk_size, memory_budget_bytes=memory_budget_bytes
    )[0]


def algorithm1_trace(
    layers,
    centers,
    radius,
    norm: str = "l2",
    *,
    chunk_size: int | None = None,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    path: str = "auto",
) -> tuple[LocalBound, Algorithm1Trace]:
    """Run Algorithm 1 like :func:`local_region_bound` and also return its intermediate quantities.

    Parameters
    ----------
    layers, centers, radius, norm, chunk_size, memory_budget_bytes
        As for :func:`local_region_bound`.  The budget also covers the trace, which holds an
        ``(N, width_k, d)`` tensor per layer: keep batches small.
    path : {"auto", "gram", "direct"}, default "auto"
        How the norms of the rows of ``L`` are computed (see the module docstring, "Two
        paths").  ``"auto"`` makes the same choice as :func:`local_region_bound`, so the
        returned :class:`LocalBound` is the one :func:`local_region_bound` returns.

    Returns
    -------
    (LocalBound, Algorithm1Trace)

    Raises
    ------
    ValueError
        As :func:`local_region_bound`; also for an unknown ``path``, or ``path="gram"`` with
        ``norm="linf"``.

    Examples
    --------
    >>> W1, b1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([10.0, 0.0])
    >>> res, trace = algorithm1_trace([(W1, b1)], torch.zeros(1, 2), 1.0)
    >>> trace.A[0].tolist(), res.S[0].tolist()
    ([[10.0, 0.0]], [[False, True]])
    >>> torch.allclose(trace.u[0], torch.ones(1, 2, dtype=torch.float64), rtol=1e-14, atol=0)  # r ||W_j|| = 1
    True
    """
    result, trace, _ = _algorithm1(
        layers,
        centers,
        radius,
        norm,
        path=path,
        chunk_size=chunk_size,
        memory_budget_bytes=memory_budget_bytes,
        detailed=True,
    )
    return result, trace


def algorithm1_work(
    layers,
    centers,
    radius,
    norm: str = "l2",
    *,
    path: str = "auto",
    chunk_size: int | None = None,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
) -> tuple[LocalBound, EngineWork]:
    """Run Algorithm 1 like :func:`local_region_bound` and report the work the engine did.

    Parameters
    ----------
    layers, centers, radius, norm, chunk_size, memory_budget_bytes
        As for :func:`local_region_bound`.
    path : {"auto", "gram", "direct"}, default "auto"
        Force the Gram path or the direct path (see the module docstring); ``"auto"`` is
        :func:`local_region_bound`'s choice.

    Returns
    -------
    (LocalBound, EngineWork)
        The result (identical to :func:`local_region_bound`'s for ``path="auto"``) and the
        counters.

    Examples
    --------
    >>> net = [(torch.ones(3, 8), torch.zeros(3)), (torch.ones(2, 3), torch.ones(2))]
    >>> _, work = algorithm1_work(net, torch.ones(5, 8), 0.1)
    >>> work.path, work.row_length, work.chunk_size, work.flops == 2 * 5 * 2 * 3 * 3
    ('gram', 3, 5, True)
    """
    result, _, work = _algorithm1(
        layers,
        centers,
        radius,
        norm,
        path=path,
        chunk_size=chunk_size,
        memory_budget_bytes=memory_budget_bytes,
    )
    return result, work


def local_region_bound(
    layers,
    centers,
    radius,
    norm: str = "l2",
    *,
    chunk_size: int | None = None,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    method: str = "alg1",
) -> LocalBound:
    """Run Algorithm 1 (or a tighter method) for every centre of a batch; bound the linear regions in each ball.

    Parameters
    ----------
    layers : nn.Sequential or list of (weight, bias)
        ``Linear``/``ReLU`` modules (a final ``Linear`` without ReLU is the output layer and is
        ignored: it cuts no regions), or the hidden ReLU layers as ``(weight, bias)`` pairs with
        ``weight`` shaped ``(out, in)``.  Widths may differ between layers.
    centers : (N, d) tensor
        Ball centres.  Computation is float64 whatever their dtype, on their device.
    radius : float > 0
        Ball radius ``r``.
    norm : {"l2", "linf"}
        The ball's norm.  ``"l2"`` is the paper's; ``"linf"`` runs the same recursion with the
        dual norm, ``r * ||L||_1``.
    chunk_size : int, optional
        Centres per chunk; by default chosen so the work buffers fit ``memory_budget_bytes``.
    memory_budget_bytes : int, default 512 MiB
        Budget for the automatic chunk size.
    method : {"alg1", "ibp", "crown", "lp"}, default "alg1"
        How each neuron is decided stable.  ``"alg1"`` is the paper's Algorithm 1 (results
        unchanged by this argument).  The others bound every pre-activation over the ball by an
        interval (:mod:`localregions.relaxations`) and flag a neuron stable only if
        ``lower > 0`` or ``upper < 0``: ``"ibp"`` interval bound propagation (costs less than
        Algorithm 1), ``"crown"`` backward linear relaxation (tighter, the costly one at scale),
        ``"lp"`` per-neuron LP (L-infinity) / SOCP (L2) programs over the triangle relaxation,
        certified by weak duality (tightest; small nets and few centres only).

    Returns
    -------
    LocalBound
        ``unstable`` (``C``), ``unstable_per_layer``, ``log2_bound`` (= ``C``) and per layer the
        flags ``P``, ``S`` and deviations ``U``; for the interval methods also ``lower`` and
        ``upper``; ``method``.

    Guarantees (exact in real arithmetic, Proposition 1 of the paper; see the module docstring):
    ``P_j = 0`` -- neuron ``j`` is affine in the input on the whole ball (``P(k, r)``);
    ``S_j = 0`` -- its pre-activation keeps the sign it has at the centre, strictly, on the whole
    ball (``S(k, r)``); ``|X'_j - X_j| <= U_j`` for every point of the ball (``U(k, r)``).  Hence
    at most ``2**C`` activation patterns (linear regions) meet the ball.  For ``"alg1"`` these
    hold in float64 too, for the exact network: every decision clears a proven bound on the
    rounding of ``A`` and ``u`` (exact ties and decisions within rounding of one are unstable;
    see the module docstring, "Exactness and rounding").

    Raises
    ------
    ValueError
        Naming the argument: ``radius`` <= 0, NaN or inf; ``centers`` of the wrong width or with
        NaN/inf; ``layers`` with NaN/inf weights or a module other than Linear/ReLU; an unknown
        ``norm`` or ``method``; a non-positive ``chunk_size`` or ``memory_budget_bytes``.

    Examples
    --------
    >>> W1 = torch.tensor([[1.0, 0.0], [1.0, 0.0]]); W2 = torch.tensor([[1.0, -1.0]])
    >>> layers = [(W1, torch.zeros(2)), (W2, torch.full((1,), 0.25))]
    >>> centre = torch.tensor([[1.0, 1.0]])
    >>> local_region_bound(layers, centre, 0.5).unstable_per_layer       # Algorithm 1
    tensor([[0, 0]])
    >>> local_region_bound(layers, centre, 0.5, "linf", method="ibp").unstable_per_layer
    tensor([[0, 1]])
    >>> local_region_bound(layers, centre, 0.5, "linf", method="crown").upper[1]
    tensor([[0.2500]], dtype=torch.float64)
    """
    from .relaxations import check_method

    if check_method(method) != "alg1":
        from .relaxations import relaxation_bound

        return relaxation_bound(layers, centers, radius, norm, method=method, chunk_size=chunk_size,
                                memory_budget_bytes=memory_budget_bytes)
    return _local_region_bound_impl(
        layers,
        centers,
        radius,
        norm,
        chunk_size=chunk_size,
        memory_budget_bytes=memory_budget_bytes,
    )
