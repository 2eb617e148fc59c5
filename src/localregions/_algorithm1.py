"""The batched engine of Algorithm 1: the Gram and direct paths, chunks, compacted products.

The public entry points are in :mod:`localregions.bounds` (which states what the flags guarantee);
the proven rounding bounds every decision clears are in :mod:`localregions._rounding`.

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
  relative accuracy quadratically in ``|w|^T |G| |w| / w^T G w`` (see
:mod:`localregions._rounding`).  Centres whose
  ``L`` is zero are dropped from the product and rows are compacted exactly as on the
  direct path.

``path="auto"`` (what :func:`~localregions.bounds.local_region_bound` uses) takes the Gram path for an L2 ball with
at least two hidden layers when ``h_1 < d`` (when ``h_1 >= d`` it would save nothing), and the
direct path otherwise; :func:`~localregions.bounds.algorithm1_work` and
:func:`~localregions.bounds.algorithm1_trace` can force either.

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
"""

from __future__ import annotations

import torch

from ._rounding import SAFE_PRODUCT, decide, gram_factor, min_positive, output_error, round_up, rounding_plan
from .ball_inputs import DEFAULT_MEMORY_BUDGET_BYTES, prepare_inputs
from .bound_result import TRACE_FIELDS, Algorithm1Trace, EngineWork, LocalBound
from .validation import NORMS, check_positive_int

__all__ = ["run_algorithm1", "auto_chunk_size", "check_path"]

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
    ``gram`` is the first layer's :class:`GramFactor` on the Gram path, ``None`` on the direct
    path; ``plan`` the :class:`RoundingPlan`.  With ``detailed`` the last item is a dict of the
    :class:`Algorithm1Trace` fields.
    """
    n, d = x.shape
    device = x.device
    zero = torch.zeros((), dtype=torch.float64, device=device)
    Ps, Ss, Us = [], [], []
    extras = {key: [] for key in TRACE_FIELDS} if detailed else None
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
            smallest = min_positive(x_abs) * (plan.gA[k] * min(plan.wmin[k], 1.0))
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
                min_positive(X) * (plan.gA[k] * min(plan.wmin[k], 1.0)),
                min_positive(operands) * (min(plan.wmin[k], 1.0) * min(plan.rc[k], plan.cS[k], plan.cB, 1.0)))
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
        underflow = not plan.no_underflow or float(smallest) < SAFE_PRODUCT
        if underflow:
            A_error = A_error.add_(plan.absA[k])
            rounding = rounding.add_(plan.absU[k])
        A_error = round_up(A_error)
        u = round_up(base + rounding)
        if k:
            usum_nonzero = usum != 0
            if underflow:
                usum_nonzero = ((P_prev & (U_prev > 0)).to(torch.float64) @ abs_Wt) > 0
        P, S, U = decide(A, u, A_error, usum_nonzero)
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
        X_error = output_error(A, A_error)
        X = torch.clamp_min(A, 0)
    return Ps, Ss, Us, extras


def run_algorithm1(
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
    gram = gram_factor(hidden) if path == "gram" and hidden and n else None
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
            for key in TRACE_FIELDS
        }

    if n and hidden:
        ws = _Workspace(chunk_size, max(widths), row_length, device) if len(hidden) > 1 else None
        prepared = [(W, b, W.t().contiguous(), W.abs().t().contiguous(), b.abs()) for W, b in hidden]
        plan = rounding_plan(hidden, d, r, order, gram)
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
