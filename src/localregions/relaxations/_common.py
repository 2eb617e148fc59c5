"""Pieces shared by the interval methods: the decision rule, the flags derived from intervals, chunking."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._rounding import output_error
from ._outward import round_up_by

__all__ = ["METHODS", "check_method", "PreactivationBounds", "flags_from_intervals", "stable_from_intervals"]

#: Accepted ``method`` values of :func:`localregions.local_region_bound`, cheapest first.
METHODS = ("alg1", "ibp", "crown", "lp")


def check_method(method) -> str:
    """Return ``method`` if it is one of :data:`METHODS`, else raise ``ValueError`` naming ``method``.

    >>> check_method("crown")
    'crown'
    >>> check_method("CROWN")
    Traceback (most recent call last):
    ...
    ValueError: method must be one of ['alg1', 'ibp', 'crown', 'lp'], got 'CROWN'
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    return method


@dataclass(frozen=True)
class PreactivationBounds:
    """Per-neuron pre-activation intervals over a ball, for ``N`` centres and ``K`` hidden layers.

    Attributes
    ----------
    method : str
        ``"ibp"``, ``"crown"`` or ``"lp"``.
    centre : list of K float64 tensors, each (N, width_k)
        The pre-activations ``A`` at the centre, as computed in float64.
    lower, upper : list of K float64 tensors, each (N, width_k)
        ``lower <= A'_j <= upper`` for every point ``x'`` of the ball, for the exact
        pre-activations of the float64 net, centres and radius: each end is widened by a proven
        bound on its rounding (:mod:`._outward`).
    centre_error : list of K float64 tensors, each (N, width_k)
        ``|A - exact A| <= centre_error`` (Algorithm 1's ``A_error``).
    """

    method: str
    centre: list
    lower: list
    upper: list
    centre_error: list

    @property
    def num_layers(self) -> int:
        return len(self.lower)


def stable_from_intervals(lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """``S`` from an interval: a neuron is stable (S = 0) only if ``lower > 0`` or ``upper < 0``, strictly.

    This mirrors Algorithm 1's strict inequalities (``u < A`` for an active centre,
    ``u + A < 0`` for an inactive one): a pre-activation that may reach 0 inside the ball counts
    as unstable.  On the widened intervals of the methods this holds for the exact values, so an
    exact tie is unstable.
    """
    return ~((lower > 0) | (upper < 0))


def flags_from_intervals(hidden, centre, lower, upper, centre_error):
    """``(P, S, U)`` per layer, with Algorithm 1's meanings, derived from sound intervals.

    * ``S = 0`` iff ``lower > 0`` or ``upper < 0`` (the neuron keeps its sign on the whole ball);
    * ``P = 0`` iff the neuron is *affine on the whole ball*: stably inactive (``upper < 0``), or
      stably active (``lower > 0``) with every input that has a non-zero weight itself ``P = 0``
      (the input layer counts as ``P = 0``; so in the first layer ``P = S``);
    * ``U = max(relu(upper) - X, X - relu(lower)) + X_error`` (rounded up) with ``X = relu(A)``
      and ``X_error >= |X - exact X|`` from ``centre_error``, so ``|X'_j - X_j| <= U_j`` on the
      ball for the exact outputs (both lie in ``[relu(lower), relu(upper)]``); ``U = 0`` for a
      stably inactive neuron.
    """
    Ps, Ss, Us = [], [], []
    P_prev = None
    for k, ((W, _), A, lo, up, err) in enumerate(zip(hidden, centre, lower, upper, centre_error)):
        S = stable_from_intervals(lo, up)
        dead = up < 0
        if k == 0:
            P = S.clone()
        else:
            feeds = (W != 0).to(torch.float64).t()
            nonaffine_input = (P_prev.to(torch.float64) @ feeds) > 0
            P = S | (~dead & nonaffine_input)
        X = A.clamp_min(0)
        U = round_up_by(torch.maximum(up.clamp_min(0) - X, X - lo.clamp_min(0)).clamp_min_(0).add_(output_error(A, err)))
        U = torch.where(dead, torch.zeros((), dtype=U.dtype, device=U.device), U)
        Ps.append(P)
        Ss.append(S)
        Us.append(U)
        P_prev = P
    return Ps, Ss, Us


def chunk_ranges(n: int, chunk_size: int):
    for start in range(0, n, chunk_size):
        yield start, min(n, start + chunk_size)
