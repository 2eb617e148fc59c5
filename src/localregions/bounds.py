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
``Usum == 0``.  For an ``Linf`` ball the dual norm is used: ``r * ||L||_1``.

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
in float64.  On the **direct path** the only caveat is rounding: a decision whose margin
``|A_j| - u`` is within a few ulps of the magnitudes that produced it (a near *tie*) may go
either way, and ``U`` carries a relative error of order 1e-16 times those magnitudes.  Exact
ties (margin exactly zero, as with integer weights) follow the strict inequalities of the
pseudocode, which is the sound side.

The **Gram path** rounds differently (a rotated basis, another summation), so it must not
declare a neuron stable (``S = 0``, and with it ``P = 0``) where the direct computation or exact
arithmetic would not.  It therefore adds to ``u`` a proven bound on the error of its
``r ||L_j||`` (``rounding`` in :class:`Algorithm1Trace`): with ``N_1 = ||rows of W_1||`` and
``N_k = |W_m| N_{k-1}`` (the masked magnitudes, one cheap matrix-vector product per layer),

    | computed ||L_j|| - exact ||L_j|| |  <=  c_k N_kj,
    c_k = [delta + ((1 + g)^(k-1) - 1) (1 + delta) + q (1 + g)^(k-1) (1 + delta)] * (1 + s_k),

where ``g = gamma_n`` for the products (Higham, *Accuracy and Stability of Numerical
Algorithms*, 3.5: ``|fl(A B) - A B| <= gamma_n |A| |B|``, any summation order, so also for
the blocked, compacted matmuls; ``n`` the widest inner dimension), ``q = gamma_{2k+4}`` for a
norm (a sum of squares has no cancellation; this covers one computed with scaling too), ``s_k`` covers the rounding of the computed
``N_k`` themselves (sums of non-negative terms: ``(1 + gamma_{d+2}) (1 + 2 (k-1) g) (1 + 1e-6)
- 1``) and ``delta`` bounds the factorization:
``| ||v F|| - ||v W_1|| | <= delta sum_i |v_i| ||W_1i||`` for every ``v``.  ``delta`` is
measured *a posteriori* once per call, not taken from the a-priori QR bound (whose constant is
unspecified): with ``eta >= ||Q^T Q - I||_2`` and ``Delta = F Q^T - W_1`` (both computed, plus
the proven error of computing them), ``delta = max_i (eta ||F_i|| + ||Delta_i||) / ||W_1i||``.
(The proof: ``v W_1 = (v F) Q^T - v Delta`` and ``||Q^T y|| / ||y|| in [sqrt(1 - eta),
sqrt(1 + eta)]``; the propagated error obeys ``e_k <= |W_m| e_{k-1} + g |W_m| ||L_{k-1}||``.)
At d = 784, h = 256 this is ``c_k`` about 4.5e-11, dominated by the proven error of measuring
``eta``, i.e. ``u`` is raised by a few 1e-11 of ``r N`` (the true errors are about 1e-16).  A
neuron can then be declared stable on the Gram path only where it is stable in exact arithmetic
(up to the rounding of ``A`` and ``Usum``, which both paths share), and ``U`` stays an upper
bound.  The price is that a decision within that bound of a tie, which the direct path may call
stable, is called unstable: the conservative side, never seen in the tests away from ties.  If
``delta`` cannot be established (a row of ``W_1`` too small to square in float64, or a
failed factorization) ``path="auto"`` falls back to the direct path.  Why not the Gram matrix
itself: ``w^T G w`` is computed with an error up to ``gamma_n |w|^T |G| |w|``, which under
cancellation can dwarf ``||L_j||^2`` itself and would force either a much larger inflation or a
fallback per row; the factored form's error is linear in the same condition number, like the
direct path's.

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
        take ``A`` and ``u`` from :func:`algorithm1_trace`.
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
_TRACE_FIELDS = ("A", "Lpre", "usum", "u", "rounding")


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
        ``r ||L|| + usum``, plus ``rounding``: the value the decision compares with ``A``.
    rounding : list of (N, width_k) float64
        What the Gram path added to ``u``: a proven bound on the rounding error of its
        ``r ||L||`` (see the module docstring, "Exactness and rounding").  Zero on the direct
        path and in the first layer.

    Examples
    --------
    >>> W, b = torch.tensor([[3.0, 4.0], [0.0, 1.0]]), torch.tensor([6.0, 0.0])
    >>> res, trace = algorithm1_trace([(W, b)], torch.zeros(1, 2), 1.0)
    >>> trace.A[0].tolist(), trace.u[0].tolist(), trace.usum[0].tolist()
    ([[6.0, 0.0]], [[5.0, 1.0]], [[0.0, 0.0]])
    >>> trace.Lpre[0].tolist(), res.S[0].tolist()
    ([[[3.0, 4.0], [0.0, 1.0]]], [[False, True]])
    """

    A: list
    Lpre: list
    usum: list
    u: list
    rounding: list


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


def _decide(A: torch.Tensor, u: torch.Tensor, usum: torch.Tensor):
    """The branch of Algorithm 1, elementwise: returns ``(P, S, U)``."""
    negative = A < 0
    shifted = u + A
    dead = negative & (shifted < 0)  # stably inactive
    stable_active = ~negative & (u < A)
    S = ~(dead | stable_active)
    P = S | (stable_active & (usum != 0))
    U = torch.where(dead, torch.zeros((), dtype=u.dtype, device=u.device), torch.where(negative, shifted, u))
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
    # c_k for the row norms of layer k (0-based; k propagations): see "Exactness and rounding".
    g = _gamma(max([W.shape[1] for W, _ in hidden[1:]], default=1))
    q = _gamma(2 * k + 4)  # a norm of k entries, even one computed with scaling (as LAPACK's dnrm2)
    coefficients = [0.0]
    for layer in range(1, len(hidden)):
        grow = (1 + g) ** layer
        c = delta + ((grow - 1) + q * grow) * (1 + delta)
        c *= (1 + _gamma(d + 2)) * (1 + 2 * layer * g) * (1 + 1e-6)
        coefficients.append(c)
    return _GramFactor(F=F, Qt=Q.t().contiguous(), delta=delta, coefficients=tuple(coefficients))


def _per_centre_bytes(hidden, d: int, detailed: bool, row_length: int | None = None) -> int:
    """Bytes of work buffers per centre; ``row_length`` is the length of the propagated rows (d or the Gram rank)."""
    widths = [w.shape[0] for w, _ in hidden]
    w_max = max(widths)
    rl = d if row_length is None else row_length
    # two ping-pong L buffers + one gather buffer, masked weights (+ their gather), small vectors
    # (A, u, usum, U, flags, and on the Gram path the magnitudes N and the rounding bound)
    per = 3 * w_max * rl + 2 * w_max * w_max + 28 * w_max
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


def _run_chunk(prepared, x, r, order, ws, gram, detailed, stats):
    """Algorithm 1 for one chunk of centres ``x`` (n, d); returns per-layer lists.

    ``prepared`` holds per hidden layer ``(W, b, W.t(), |W|.t())`` (transposes contiguous).
    ``gram`` is the first layer's :class:`_GramFactor` on the Gram path, ``None`` on the direct
    path.  With ``detailed`` the last item is a dict of the :class:`Algorithm1Trace` fields.
    """
    n, d = x.shape
    device = x.device
    zero = torch.zeros((), dtype=torch.float64, device=device)
    Ps, Ss, Us = [], [], []
    extras = {key: [] for key in _TRACE_FIELDS} if detailed else None
    X = x
    P_prev = U_prev = mask_prev = None
    source = live_pos = None
    magnitude = None  # Gram path: N_k = |M_k| N_{k-1}, N_1 = ||W_1 rows|| (see "Exactness and rounding")
    buffers = (ws.ping, ws.pong) if ws is not None else (None, None)
    flip = 0
    for k, (W, b, Wt, abs_Wt) in enumerate(prepared):
        w_out = W.shape[0]
        A = X @ Wt + b
        rounding = None
        if k == 0:
            # Input layer: P = 0 and L = identity, so L_j = W_j (shared by all centres), Usum = 0.
            usum = torch.zeros_like(A)
            Lnorm = torch.linalg.vector_norm(W, ord=order, dim=1).expand(n, w_out)
            Lpre_full = W.unsqueeze(0).expand(n, w_out, d) if detailed else None
            # The Gram path propagates the rows of the factor F (F F^T = W_1 W_1^T) instead of W_1.
            new_source, new_pos = (W if gram is None else gram.F), None
            if gram is not None:
                magnitude = Lnorm
        else:
            usum = torch.where(P_prev, U_prev, zero) @ abs_Wt
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
            if gram is not None:
                magnitude = torch.where(mask_prev, magnitude, zero) @ abs_Wt
                rounding = (r * gram.coefficients[k]) * magnitude
            if detailed:
                Lpre_full = torch.zeros((n, w_out, d), dtype=torch.float64, device=device)
                if live.numel():
                    Lpre_full[live] = Lpre if gram is None else Lpre @ gram.Qt
            new_source = Lpre
        u = r * Lnorm + usum
        if rounding is not None:
            u = u + rounding  # the sound side: u bounds r * (exact ||L||) + usum
        P, S, U = _decide(A, u, usum)
        Ps.append(P)
        Ss.append(S)
        Us.append(U)
        if detailed:
            extras["A"].append(A)
            extras["Lpre"].append(Lpre_full)
            extras["usum"].append(usum)
            extras["u"].append(u)
            extras["rounding"].append(torch.zeros_like(A) if rounding is None else rounding)
        # Rows that pass their L on: P = 0 and stably active (P = 0 with A > 0).
        mask_prev = ~P & (A > 0)
        P_prev, U_prev = P, U
        source, live_pos = new_source, new_pos
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
        prepared = [(W, b, W.t().contiguous(), W.abs().t().contiguous()) for W, b in hidden]
        for start in range(0, n, chunk_size):
            stop = min(n, start + chunk_size)
            cP, cS, cU, cx = _run_chunk(prepared, x[start:stop], r, order, ws, gram, detailed, stats)
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
    >>> trace.A[0].tolist(), trace.u[0].tolist(), res.S[0].tolist()
    ([[10.0, 0.0]], [[1.0, 1.0]], [[False, True]])
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
    at most ``2**C`` activation patterns (linear regions) meet the ball.  In float64 the only
    caveat is rounding at near-ties (a margin ``|A_j| - u`` within a few ulps of zero).

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
