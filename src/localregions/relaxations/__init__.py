"""Tighter bounds on every neuron's pre-activation over a ball: IBP, CROWN and the triangle LP/SOCP.

Algorithm 1 of Zhu, Lin & Tang (2020) bounds how far each pre-activation can move inside the
ball ``B_r(x)`` by a triangle inequality over every neuron that may switch.  The neural-network
verification literature bounds the same quantity much more tightly.  This subpackage provides
three such bounds, all batched over centres in float64, all returning per-neuron intervals
``lower <= A'_j <= upper`` valid for every point ``x'`` of the ball:

``"ibp"``
    interval bound propagation (:mod:`.ibp`), the cheapest;
``"crown"``
    backward linear relaxation, CROWN / DeepPoly (:mod:`.crown`);
``"lp"``
    per-neuron linear (L-infinity) or second-order cone (L2) programs over the triangle
    relaxation, with weak-duality certificates (:mod:`.lp`), the tightest, for small nets.

:func:`localregions.local_region_bound` with ``method=`` one of these turns the intervals into
Algorithm 1's flags: a neuron is *stable* (``S = 0``) only if ``lower > 0`` or ``upper < 0``
(strictly, like Algorithm 1), ``C`` counts the others, and at most ``2**C`` linear regions meet
the ball.  Which ordering between the methods is a theorem: see :func:`preactivation_bounds`.

The first layer is exact for every method: ``A_j -/+ r ||W_j||_dual`` (up to its widening below).

Float64 and the exact network
-----------------------------
The intervals, and so the decisions, hold for the **exact** pre-activations of the given float64
net, centres and radius, as Algorithm 1's do (:mod:`localregions._rounding`): each method
computes, beside every interval, a proven a-priori bound on its rounding error -- one more row in
one product with ``|W|`` per layer, the magnitudes of the same computation -- and widens the
interval outward by it (:mod:`._outward`; CROWN's backward pass and its float relaxation lines:
:mod:`.crown`; LP's rows and weak-duality certificates: :mod:`.lp`).  So a neuron is stable only
where the paper's strict inequalities hold for the exact values: an exact tie (a pre-activation
that reaches 0 on the ball, e.g. one that is exactly 0 at the centre) comes out unstable, and so
does a neuron within the rounding bound of one (a few 1e-13 of the magnitudes entering the bound;
1e-12 to 7e-11 absolute at 784 x 3 x 256, at most 1.5e-9 of the interval's ends; it changed none
of 12.8 million decisions on trained paper-size nets and random 784 x 3 x 256 ones, see
``docs/performance_methods.md``).
The centre's ``A`` is returned as computed, with ``centre_error >= |A - exact A|``, and ``U``
bounds the deviation from the exact centre output.  Assumed, as for Algorithm 1: IEEE
round-to-nearest float64 with gradual underflow (``torch.set_flush_denormal(True)`` voids the
underflow terms), matrix products that sum their terms in any order (Higham's bounds hold for
blocked, pairwise and fused summation), and no overflow (an ``inf`` or ``NaN`` bound makes a
neuron unstable, but overflow is not otherwise accounted for).
"""

from __future__ import annotations

import torch

from ..ball_inputs import DEFAULT_MEMORY_BUDGET_BYTES, prepare_inputs
from ..bound_result import LocalBound
from ..validation import NORMS, check_positive_int
from ._common import METHODS, PreactivationBounds, check_method, chunk_ranges, flags_from_intervals
from ._outward import IntervalPlan
from .crown import CrownPlan, crown_intervals, crown_per_centre_bytes
from .ibp import ibp_intervals

__all__ = ["METHODS", "check_method", "PreactivationBounds", "preactivation_bounds", "relaxation_bound"]

_INTERVAL_METHODS = ("ibp", "crown", "lp")
#: Work memory per chunk that CROWN's automatic chunk size aims at (the blocks stay in cache).
_CROWN_CACHE_BYTES = 32 * 2**20


def _intervals(hidden, x, r, norm, method, chunk_size, memory_budget_bytes, stats):
    n, d = x.shape
    device = x.device
    order = NORMS[norm]
    widths = [W.shape[0] for W, _ in hidden]
    out = [[torch.empty((n, w), dtype=torch.float64, device=device) for w in widths] for _ in range(4)]
    if n == 0 or not hidden:
        return out
    if method == "lp":
        from .lp import lp_intervals

        return lp_intervals(hidden, x, r, norm, order, stats)
    if method == "crown":
        plan = CrownPlan(hidden, order, d)
        per = crown_per_centre_bytes(hidden, d, order)
    else:
        plan = IntervalPlan.build(hidden, d, order)
        per = 8 * (10 * sum(widths) + 2 * d)
    if chunk_size is None:
        chunk_size = int(max(1, min(n, memory_budget_bytes // max(per, 8))))
        if method == "crown":
            # Small chunks keep CROWN's per-centre blocks in cache: measured on 784-256-256-256,
            # 8 centres a chunk ran 1.5x faster than 64 and 2x faster than 140 (one thread).
            chunk_size = min(chunk_size, max(1, _CROWN_CACHE_BYTES // per))
    if stats is not None:
        stats.setdefault("flops", 0)
        stats["chunk_size"] = chunk_size
    spans = list(chunk_ranges(n, chunk_size))
    if method == "crown":
        results = _crown_chunks(plan, x, r, spans, stats)
    else:
        results = (ibp_intervals(hidden, x[start:stop], r, order, plan) for start, stop in spans)
    for (start, stop), chunk in zip(spans, results):
        for whole, part in zip(out, chunk):
            for k in range(len(hidden)):
                whole[k][start:stop] = part[k]
    return out


def _crown_chunks(plan, x, r, spans, stats):
    """CROWN chunk by chunk; on the CPU with several threads, chunks run in parallel, one thread each.

    CROWN's products are many small batched GEMMs, which torch's intra-op threads slow down (by
    4x on 2 cores, measured); so for the duration of the call torch runs single-threaded and
    ``torch.get_num_threads()`` chunks are processed side by side instead.  Each chunk's result
    does not depend on the thread that computed it.
    """
    threads = torch.get_num_threads()
    if x.device.type != "cpu" or threads <= 1 or len(spans) <= 1:
        for start, stop in spans:
            yield crown_intervals(plan, x[start:stop], r, stats)
        return
    from concurrent.futures import ThreadPoolExecutor

    def run(span):
        local = {"flops": 0} if stats is not None else None
        out = crown_intervals(plan, x[span[0]:span[1]], r, local)
        return out, local

    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for out, local in pool.map(run, spans):
                if stats is not None:
                    stats["flops"] += local["flops"]
                yield out
    finally:
        torch.set_num_threads(threads)


def _validated(layers, centers, radius, norm, method, chunk_size, memory_budget_bytes):
    method = check_method(method)
    if method not in _INTERVAL_METHODS:
        raise ValueError(f"method must be one of {list(_INTERVAL_METHODS)} here, got {method!r}")
    hidden, x, r, norm = prepare_inputs(layers, centers, radius, norm)
    if chunk_size is not None:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
    memory_budget_bytes = check_positive_int(memory_budget_bytes, "memory_budget_bytes")
    return hidden, x, r, norm, method, chunk_size, memory_budget_bytes


def preactivation_bounds(
    layers,
    centers,
    radius,
    norm: str = "l2",
    *,
    method: str = "crown",
    chunk_size: int | None = None,
    memory_budget_bytes: int | None = None,
    stats: dict | None = None,
) -> PreactivationBounds:
    """Bound every hidden neuron's pre-activation over the ball around each centre.

    Parameters
    ----------
    layers : nn.Module, NetworkLayers or list of (weight, bias)
        A torch network (see :mod:`localregions.layers`: convolutions, pooling, BatchNorm, ...) or its layers.
    centers : (N, d) tensor
        Ball centres; computation is float64 on their device.
    radius : float > 0
        Ball radius ``r``.
    norm : {"l2", "linf"}
        The ball's norm.
    method : {"ibp", "crown", "lp"}, default "crown"
        See the package docstring.  ``"lp"`` solves two programs per neuron and centre (small
        nets only).
    chunk_size : int, optional
        Centres per chunk (``ibp``, ``crown``); by default chosen from ``memory_budget_bytes``.
    memory_budget_bytes : int, optional
        Budget of the work buffers per chunk (default 512 MiB).
    stats : dict, optional
        Filled with ``flops`` (the matrix-product flops of ``crown``), ``chunk_size``, and for
        ``lp`` ``programs`` (solves) and ``failures`` (solves whose duals were unusable; their
        bound falls back to the domain bound, still sound).

    Returns
    -------
    PreactivationBounds
        ``centre`` (``A``), ``lower``, ``upper``, ``centre_error`` (``>= |A - exact A|``): lists
        per hidden layer of (N, width) float64.

    Notes
    -----
    Guarantee: ``lower[k][n, j] <= A'_kj <= upper[k][n, j]`` for every ``x'`` with
    ``||x' - x_n|| <= r``, for the exact pre-activations of the float64 net, centres and radius
    (every interval is widened by a proven bound on its rounding: see the package docstring;
    ``lp``'s bounds are weak-duality certificates, never the solvers' primal values).

    Orderings that are theorems in exact arithmetic, per neuron; in float64 they hold up to the
    widening, a few 1e-13 of the magnitudes (each method widens by its own bound, and an earlier
    layer's widening loosens the later relaxations a little):

    * layer 1: all methods give ``A -/+ r ||W||_dual``, widened by the same bound;
    * ``lp`` within ``crown``, and ``lp`` within ``ibp``: by induction over layers, the ``lp``
      intervals of the earlier layers are inside the others', the triangle set over a smaller
      interval is inside the one over a larger interval, and the triangle set is inside both
      CROWN's two-line relaxation and IBP's box (up to the solver tolerance, since the
      certificate may be looser than the optimum by that much);
    * ``lp`` within Algorithm 1's ``[A - u, A + u]`` (Lemma 1 of the paper), by the same
      induction.

    ``crown`` within ``ibp`` is *not* a theorem: with the adaptive lower slope ``alpha = 1`` a
    neuron's CROWN interval can be wider than IBP's (Zhang et al. 2020, CROWN-IBP, discuss
    such cases); neither is any ordering between ``ibp`` or ``crown`` and Algorithm 1.

    Examples
    --------
    Two first-layer neurons that both copy ``x_1``, and a second-layer neuron taking their
    difference, which is identically 0:

    >>> import torch
    >>> W1 = torch.tensor([[1.0, 0.0], [1.0, 0.0]]); W2 = torch.tensor([[1.0, -1.0]])
    >>> layers = [(W1, torch.zeros(2)), (W2, torch.zeros(1))]
    >>> centre = torch.tensor([[1.0, 1.0]])
    >>> b = preactivation_bounds(layers, centre, 0.5, "linf", method="ibp")
    >>> b.lower[0], b.upper[0]
    (tensor([[0.5000, 0.5000]], dtype=torch.float64), tensor([[1.5000, 1.5000]], dtype=torch.float64))
    >>> b.lower[1], b.upper[1]     # IBP forgets that the two move together
    (tensor([[-1.0000]], dtype=torch.float64), tensor([[1.0000]], dtype=torch.float64))
    >>> c = preactivation_bounds(layers, centre, 0.5, "linf", method="crown")
    >>> c.lower[1], c.upper[1]     # CROWN keeps it: [0, 0], widened by its rounding bound
    (tensor([[-1.3323e-14]], dtype=torch.float64), tensor([[1.3323e-14]], dtype=torch.float64))

    The widening is what makes the exact tie (the neuron is 0 on the whole ball) unstable:
    ``lower > 0`` and ``upper < 0`` both fail, whatever the rounding of the backward pass.
    """
    if memory_budget_bytes is None:
        memory_budget_bytes = DEFAULT_MEMORY_BUDGET_BYTES
    hidden, x, r, norm, method, chunk_size, memory_budget_bytes = _validated(
        layers, centers, radius, norm, method, chunk_size, memory_budget_bytes
    )
    centre, error, lower, upper = _intervals(hidden, x, r, norm, method, chunk_size, memory_budget_bytes, stats)
    return PreactivationBounds(method=method, centre=centre, lower=lower, upper=upper, centre_error=error)


def relaxation_bound(layers, centers, radius, norm="l2", *, method, chunk_size=None,
                     memory_budget_bytes=None, stats=None):
    """:class:`~localregions.bounds.LocalBound` from the intervals of ``method`` (``ibp``, ``crown``, ``lp``).

    The engine behind ``local_region_bound(..., method=...)`` for the non-Algorithm-1 methods.
    ``S``, ``P`` and ``U`` are derived from the intervals with Algorithm 1's meanings (see
    :func:`._common.flags_from_intervals`); ``lower``/``upper`` are the intervals.
    """
    if memory_budget_bytes is None:
        memory_budget_bytes = DEFAULT_MEMORY_BUDGET_BYTES
    hidden, x, r, norm, method, chunk_size, memory_budget_bytes = _validated(
        layers, centers, radius, norm, method, chunk_size, memory_budget_bytes
    )
    centre, error, lower, upper = _intervals(hidden, x, r, norm, method, chunk_size, memory_budget_bytes, stats)
    P, S, U = flags_from_intervals(hidden, centre, lower, upper, error)
    return LocalBound.from_flags(P, S, U, x.shape[0], x.device, lower=lower, upper=upper, method=method)
