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

Exactness and rounding
----------------------
The guarantees above are exact in real arithmetic (Proposition 1).  Here everything is computed
in float64, so the only caveat is rounding: a decision whose margin ``|A_j| - u`` is within a
few ulps of the magnitudes that produced it (a near *tie*) may go either way, and ``U`` carries
a relative error of order 1e-16 times those magnitudes.  Exact ties (margin exactly zero, as
with integer weights) follow the strict inequalities of the pseudocode, which is the sound side.

Batched design
--------------
The per-centre ``L`` matrices are kept as an ``(n, width, d)`` tensor; the layer step is a
batched matmul of the weights (masked per centre by the rows that carry ``L``, i.e. the
``P = 0`` stably active neurons) against it.  Centres whose ``L`` has become zero are dropped
from the product, and when a chunk's centres carry few active rows, the rows are compacted
per centre before the matmul (zero rows add exactly nothing).  The batch is processed in
chunks whose size is chosen from ``memory_budget_bytes`` (or given as ``chunk_size``); the
work buffers are allocated once per call and reused by every chunk.
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
]

#: Default memory budget of the automatic chunking (bytes of work buffers per call).
DEFAULT_MEMORY_BUDGET_BYTES = 512 * 2**20

# Compact the rows of a chunk before the matmul when the widest centre uses at most this
# fraction of the rows (below it the saved flops outweigh the cost of the gather) and each
# centre's product is big enough (out * rows * d multiply-adds) for a batched matmul to run well.
_COMPACT_FRACTION = 0.85
_COMPACT_MIN_MACS = 2**18


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
    """

    unstable: torch.Tensor
    unstable_per_layer: torch.Tensor
    log2_bound: torch.Tensor
    P: list
    S: list
    U: list

    @classmethod
    def from_flags(cls, P: list, S: list, U: list, n: int, device) -> "LocalBound":
        """Assemble the result from the per-layer flags; ``C`` counts the ``S = 1`` neurons."""
        per_layer = (
            torch.stack([s.sum(dim=1) for s in S], dim=1).to(torch.int64)
            if S
            else torch.zeros((n, 0), dtype=torch.int64, device=device)
        )
        unstable = per_layer.sum(dim=1)
        return cls(unstable=unstable, unstable_per_layer=per_layer, log2_bound=unstable.to(torch.float64),
                   P=P, S=S, U=U)

    @property
    def num_layers(self) -> int:
        """Number of hidden ReLU layers ``K``."""
        return len(self.P)


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


def _per_centre_bytes(hidden, d: int, detailed: bool) -> int:
    widths = [w.shape[0] for w, _ in hidden]
    w_max = max(widths)
    # two ping-pong L buffers + one gather buffer, masked weights (+ their gather), small vectors
    per = 3 * w_max * d + 2 * w_max * w_max + 24 * w_max
    if detailed:
        per += sum(widths) * d + 4 * sum(widths)
    return 8 * per


def auto_chunk_size(hidden, d: int, n: int, memory_budget_bytes: int, detailed: bool = False) -> int:
    """Centres per chunk so that the work buffers stay within ``memory_budget_bytes``."""
    if not hidden or n == 0:
        return max(n, 1)
    per = max(8, _per_centre_bytes(hidden, d, detailed))
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


def _run_chunk(prepared, x, r, order, ws, detailed, stats):
    """Algorithm 1 for one chunk of centres ``x`` (n, d); returns per-layer lists.

    ``prepared`` holds per hidden layer ``(W, b, W.t(), |W|.t())`` (transposes contiguous).
    """
    n, d = x.shape
    device = x.device
    Ps, Ss, Us = [], [], []
    extras = {"A": [], "Lpre": [], "usum": [], "u": []} if detailed else None
    X = x
    P_prev = U_prev = mask_prev = None
    source = live_pos = None
    buffers = (ws.ping, ws.pong) if ws is not None else (None, None)
    flip = 0
    for k, (W, b, Wt, abs_Wt) in enumerate(prepared):
        w_out = W.shape[0]
        A = X @ Wt + b
        if k == 0:
            # Input layer: P = 0 and L = identity, so L_j = W_j (shared by all centres), Usum = 0.
            usum = torch.zeros_like(A)
            Lnorm = torch.linalg.vector_norm(W, ord=order, dim=1).expand(n, w_out)
            Lpre_full = W.unsqueeze(0).expand(n, w_out, d) if detailed else None
            new_source, new_pos = W, None
        else:
            usum = torch.where(P_prev, U_prev, torch.zeros((), dtype=U_prev.dtype, device=device)) @ abs_Wt
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
                Lpre_full[live] = Lpre
            new_source = Lpre
        u = r * Lnorm + usum
        P, S, U = _decide(A, u, usum)
        Ps.append(P)
        Ss.append(S)
        Us.append(U)
        if detailed:
            extras["A"].append(A)
            extras["Lpre"].append(Lpre_full)
            extras["usum"].append(usum)
            extras["u"].append(u)
        # Rows that pass their L on: P = 0 and stably active (P = 0 with A > 0).
        mask_prev = ~P & (A > 0)
        P_prev, U_prev = P, U
        source, live_pos = new_source, new_pos
        X = torch.clamp_min(A, 0)
    return Ps, Ss, Us, extras


def _local_region_bound_impl(
    layers,
    centers,
    radius,
    norm="l2",
    *,
    chunk_size=None,
    memory_budget_bytes=DEFAULT_MEMORY_BUDGET_BYTES,
    detailed=False,
    stats=None,
):
    """The engine behind :func:`local_region_bound`.

    With ``detailed=True`` also returns a dict of per-layer lists (each (N, width_k) unless
    noted) for tests and diagnostics: ``A`` (pre-activations at the centre), ``Lpre``
    ((N, width_k, d), the propagated ``L`` of each neuron before its decision; the neuron's
    pre-activation equals ``A + Lpre . (x' - x)`` on the ball whenever ``usum == 0``),
    ``usum`` and ``u``.  ``stats`` (a dict) accumulates ``flops`` (matmul flops performed for
    the L propagation), ``dense_flops`` (what an uncompacted masked matmul would take) and
    ``chunk_size``.
    """
    hidden, x, r, norm = prepare_inputs(layers, centers, radius, norm)
    if chunk_size is not None:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
    memory_budget_bytes = check_positive_int(memory_budget_bytes, "memory_budget_bytes")
    order = NORMS[norm]
    n, d = x.shape
    device = x.device
    widths = [w.shape[0] for w, _ in hidden]
    if stats is not None:
        stats.setdefault("flops", 0)
        stats.setdefault("dense_flops", 0)

    if chunk_size is None:
        chunk_size = auto_chunk_size(hidden, d, n, memory_budget_bytes, detailed)
    chunk_size = max(1, min(chunk_size, max(n, 1)))
    if stats is not None:
        stats["chunk_size"] = chunk_size

    Ps = [torch.empty((n, w), dtype=torch.bool, device=device) for w in widths]
    Ss = [torch.empty((n, w), dtype=torch.bool, device=device) for w in widths]
    Us = [torch.empty((n, w), dtype=torch.float64, device=device) for w in widths]
    extras = None
    if detailed:
        extras = {
            "A": [torch.empty((n, w), dtype=torch.float64, device=device) for w in widths],
            "Lpre": [torch.empty((n, w, d), dtype=torch.float64, device=device) for w in widths],
            "usum": [torch.empty((n, w), dtype=torch.float64, device=device) for w in widths],
            "u": [torch.empty((n, w), dtype=torch.float64, device=device) for w in widths],
        }

    if n and hidden:
        ws = _Workspace(chunk_size, max(widths), d, device) if len(hidden) > 1 else None
        prepared = [(W, b, W.t().contiguous(), W.abs().t().contiguous()) for W, b in hidden]
        for start in range(0, n, chunk_size):
            stop = min(n, start + chunk_size)
            cP, cS, cU, cx = _run_chunk(prepared, x[start:stop], r, order, ws, detailed, stats)
            for k in range(len(hidden)):
                Ps[k][start:stop] = cP[k]
                Ss[k][start:stop] = cS[k]
                Us[k][start:stop] = cU[k]
                if detailed:
                    for key in extras:
                        extras[key][k][start:stop] = cx[key][k]

    result = LocalBound.from_flags(Ps, Ss, Us, n, device)
    return (result, extras) if detailed else result


def local_region_bound(
    layers,
    centers,
    radius,
    norm: str = "l2",
    *,
    chunk_size: int | None = None,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
) -> LocalBound:
    """Run Algorithm 1 for every centre of a batch; bound the linear regions in each ball.

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

    Returns
    -------
    LocalBound
        ``unstable`` (``C``), ``unstable_per_layer``, ``log2_bound`` (= ``C``) and per layer the
        flags ``P``, ``S`` and deviations ``U``.

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
        ``norm``; a non-positive ``chunk_size`` or ``memory_budget_bytes``.
    """
    return _local_region_bound_impl(
        layers,
        centers,
        radius,
        norm,
        chunk_size=chunk_size,
        memory_budget_bytes=memory_budget_bytes,
    )
