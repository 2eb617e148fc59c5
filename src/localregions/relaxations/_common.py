"""Pieces shared by the interval methods: the decision rule, the flags derived from intervals, chunking."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["METHODS", "check_method", "PreactivationBounds", "flags_from_intervals", "first_layer_intervals"]

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
        The pre-activations ``A`` at the centre.
    lower, upper : list of K float64 tensors, each (N, width_k)
        ``lower <= A'_j <= upper`` for every point ``x'`` of the ball (see each method for what
        guarantees it, and the rounding caveat).
    """

    method: str
    centre: list
    lower: list
    upper: list

    @property
    def num_layers(self) -> int:
        return len(self.lower)


def first_layer_intervals(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor, r: float, order: float):
    """The exact range of the first hidden layer over the ball: ``A_j -/+ r ||W_j||_dual``.

    Returns ``(A, lower, upper)``, each (n, width).  ``order`` is the dual norm's order
    (2 for an L2 ball, 1 for an L-infinity ball).  This is what Algorithm 1 computes for the first
    layer too (``u = r ||W_j||``, ``Usum = 0``), with the same operations.
    """
    A = x @ W.t().contiguous() + b
    rad = r * torch.linalg.vector_norm(W, ord=order, dim=1)
    return A, A - rad, A + rad


def stable_from_intervals(lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """``S`` from an interval: a neuron is stable (S = 0) only if ``lower > 0`` or ``upper < 0``, strictly.

    This mirrors Algorithm 1's strict inequalities (``u < A`` for an active centre,
    ``u + A < 0`` for an inactive one): a pre-activation that may reach 0 inside the ball counts
    as unstable.
    """
    return ~((lower > 0) | (upper < 0))


def flags_from_intervals(hidden, centre, lower, upper):
    """``(P, S, U)`` per layer, with Algorithm 1's meanings, derived from sound intervals.

    * ``S = 0`` iff ``lower > 0`` or ``upper < 0`` (the neuron keeps its sign on the whole ball);
    * ``P = 0`` iff the neuron is *affine on the whole ball*: stably inactive (``upper < 0``), or
      stably active (``lower > 0``) with every input that has a non-zero weight itself ``P = 0``
      (the input layer counts as ``P = 0``; so in the first layer ``P = S``);
    * ``U = max(relu(upper) - X, X - relu(lower))`` with ``X = relu(A)``, so
      ``|X'_j - X_j| <= U_j`` on the ball (``U = 0`` for a stably inactive neuron).
    """
    Ps, Ss, Us = [], [], []
    P_prev = None
    for k, ((W, _), A, lo, up) in enumerate(zip(hidden, centre, lower, upper)):
        S = stable_from_intervals(lo, up)
        dead = up < 0
        if k == 0:
            P = S.clone()
        else:
            feeds = (W != 0).to(torch.float64).t()
            nonaffine_input = (P_prev.to(torch.float64) @ feeds) > 0
            P = S | (~dead & nonaffine_input)
        X = A.clamp_min(0)
        U = torch.maximum(up.clamp_min(0) - X, X - lo.clamp_min(0)).clamp_min(0)
        U = torch.where(dead, torch.zeros((), dtype=U.dtype, device=U.device), U)
        Ps.append(P)
        Ss.append(S)
        Us.append(U)
        P_prev = P
    return Ps, Ss, Us


def chunk_ranges(n: int, chunk_size: int):
    for start in range(0, n, chunk_size):
        yield start, min(n, start + chunk_size)
