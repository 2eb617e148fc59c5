"""Interval bound propagation (IBP) of every pre-activation over a ball, batched over centres.

The first hidden layer is bounded exactly, ``A_j -/+ r ||W_j||_dual`` (``||.||_2`` for an L2
ball, ``||.||_1`` for an L-infinity ball).  Each later layer takes the box
``[relu(lower), relu(upper)]`` of the previous layer's outputs and bounds
``W a + b`` over it by interval arithmetic in midpoint-radius form::

    mid = (relu(upper) + relu(lower)) / 2,   rad = (relu(upper) - relu(lower)) / 2
    lower' = W mid + b - |W| rad,            upper' = W mid + b + |W| rad

Sound in real arithmetic (every point of the ball maps into each box); it forgets how the
neurons of a layer move together, so it is the loosest of the methods after the first layer.
Cost: two small matrix products per layer and centre, less than Algorithm 1's ``A`` and
``Usum`` alone plus its ``L`` propagation.
"""

from __future__ import annotations

import torch

from ._common import first_layer_intervals

__all__ = ["ibp_intervals"]


def ibp_intervals(hidden, x: torch.Tensor, r: float, order: float):
    """IBP for one chunk of centres ``x`` (n, d); returns per-layer lists ``(A, lower, upper)``.

    ``hidden`` is the list of ``(W, b)`` float64 pairs, ``order`` the dual-norm order.
    """
    centre, lowers, uppers = [], [], []
    X = None
    for k, (W, b) in enumerate(hidden):
        if k == 0:
            A, lo, up = first_layer_intervals(W, b, x, r, order)
        else:
            Wt = W.t()
            A = X @ Wt + b
            hi_a = uppers[-1].clamp_min(0)
            lo_a = lowers[-1].clamp_min(0)
            mid = (hi_a + lo_a) * 0.5
            rad = (hi_a - lo_a) * 0.5
            zc = mid @ Wt + b
            zr = rad @ W.abs().t()
            lo, up = zc - zr, zc + zr
        centre.append(A)
        lowers.append(lo)
        uppers.append(up)
        X = A.clamp_min(0)
    return centre, lowers, uppers
