"""What a bound returns: :class:`LocalBound` (every method), and Algorithm 1's :class:`Algorithm1Trace` and :class:`EngineWork`.

The flags and what they guarantee are described in :mod:`localregions.bounds`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["LocalBound", "Algorithm1Trace", "EngineWork", "TRACE_FIELDS"]


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
        The flags of Algorithm 1 (see :mod:`localregions.bounds` for what each guarantees).
    U : list of K float64 tensors, each (N, width_k)
        The deviation bounds ``|X'_j - X_j| <= U_j`` over the ball.
    lower, upper : list of K float64 tensors, each (N, width_k), or None
        Per-neuron pre-activation bounds over the ball, ``lower <= A'_j <= upper``, for the
        interval methods (``"ibp"``, ``"crown"``, ``"lp"``): for the exact pre-activations,
        each interval widened by a proven bound on its rounding.  ``None`` for ``"alg1"``: Algorithm 1
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
        X - relu(lower))`` plus the bound on ``|X - exact X|``, rounded up.
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
TRACE_FIELDS = ("A", "Lpre", "usum", "u", "rounding", "A_error")


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
        :mod:`localregions._rounding`).  Positive on both paths and in every
        layer; about 1e-15 of ``u`` on the direct path and a few 1e-11 of ``r N`` on the Gram path.
    A_error : list of (N, width_k) float64
        A proven bound on ``|A - exact A|``: the rounding of this layer's ``W X + b`` and the
        propagated error of ``X`` (the centre's outputs of the layer before).  The decision is
        stable only where ``u + A_error < |A|`` (rounded up; stably inactive if ``A < 0``, active
        if ``A > 0``).

    Examples
    --------
    >>> from localregions.bounds import algorithm1_trace
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
        The path taken (``"auto"`` resolved; see :mod:`localregions._algorithm1`).
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
