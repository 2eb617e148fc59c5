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

Exactness
---------
The guarantees are exact in real arithmetic (Proposition 1).  Computed in float64, **they hold
for the exact pre-activations of the given float64 net, centres and radius**: next to every
quantity the decision uses, the engine computes a proven a-priori bound on its rounding error,
and a neuron is declared stable only where the margin clears it, so the paper's strict
inequalities hold for the exact values.  An exact tie comes out unstable, and so does every
decision within rounding of one; only those can differ from the literal pseudocode
(:mod:`localregions.reference`).  Assumed: IEEE round-to-nearest float64 with gradual
underflow, and no overflow.  The bounds and their proof: :mod:`localregions._rounding`.

The engine
----------
For an L2 ball the decisions need only the norms of the rows of ``L``, so the engine
propagates a square-root factor of their Gram matrix when the first hidden layer is narrower
than the input (the Gram path; the literal direct path otherwise, and always for L-infinity);
centres run in chunks sized from ``memory_budget_bytes``, and rows that carry no ``L`` are
dropped from the products: :mod:`localregions._algorithm1`.

Entry points: :func:`local_region_bound` (the result), :func:`algorithm1_trace` (the result and
every intermediate quantity, :class:`Algorithm1Trace`) and :func:`algorithm1_work` (the result
and the engine's work counters, :class:`EngineWork`).  The interval methods (``method=``) are in
:mod:`localregions.relaxations`.
"""

from __future__ import annotations

from ._algorithm1 import auto_chunk_size, check_path, run_algorithm1
from .ball_inputs import DEFAULT_MEMORY_BUDGET_BYTES, prepare_inputs
from .bound_result import Algorithm1Trace, EngineWork, LocalBound
from .relaxations import check_method, relaxation_bound

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
        How the norms of the rows of ``L`` are computed (see :mod:`localregions._algorithm1`).
        ``"auto"`` makes the same choice as :func:`local_region_bound`, so the returned
        :class:`LocalBound` is the one :func:`local_region_bound` returns.

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
    >>> import torch
    >>> W1, b1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([10.0, 0.0])
    >>> res, trace = algorithm1_trace([(W1, b1)], torch.zeros(1, 2), 1.0)
    >>> trace.A[0].tolist(), res.S[0].tolist()
    ([[10.0, 0.0]], [[False, True]])
    >>> torch.allclose(trace.u[0], torch.ones(1, 2, dtype=torch.float64), rtol=1e-14, atol=0)  # r ||W_j|| = 1
    True
    """
    result, trace, _ = run_algorithm1(
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
        Force the Gram path or the direct path (see :mod:`localregions._algorithm1`); ``"auto"`` is
        :func:`local_region_bound`'s choice.

    Returns
    -------
    (LocalBound, EngineWork)
        The result (identical to :func:`local_region_bound`'s for ``path="auto"``) and the
        counters.

    Examples
    --------
    >>> import torch
    >>> net = [(torch.ones(3, 8), torch.zeros(3)), (torch.ones(2, 3), torch.ones(2))]
    >>> _, work = algorithm1_work(net, torch.ones(5, 8), 0.1)
    >>> work.path, work.row_length, work.chunk_size, work.flops == 2 * 5 * 2 * 3 * 3
    ('gram', 3, 5, True)
    """
    result, _, work = run_algorithm1(
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
    at most ``2**C`` activation patterns (linear regions) meet the ball.  These hold in float64
    too, for the exact network, with every method: for ``"alg1"`` every decision clears a proven
    bound on the rounding of ``A`` and ``u`` (see the module docstring, "Exactness"); the
    interval methods widen every interval by a proven bound on its rounding
    (:mod:`localregions.relaxations`).  Exact ties and decisions within rounding of one are
    unstable.

    Raises
    ------
    ValueError
        Naming the argument: ``radius`` <= 0, NaN or inf; ``centers`` of the wrong width or with
        NaN/inf; ``layers`` with NaN/inf weights or a module other than Linear/ReLU; an unknown
        ``norm`` or ``method``; a non-positive ``chunk_size`` or ``memory_budget_bytes``.

    Examples
    --------
    >>> import torch
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
    if check_method(method) != "alg1":
        return relaxation_bound(layers, centers, radius, norm, method=method, chunk_size=chunk_size,
                                memory_budget_bytes=memory_budget_bytes)
    return run_algorithm1(layers, centers, radius, norm, chunk_size=chunk_size,
                          memory_budget_bytes=memory_budget_bytes)[0]
