"""Interval bound propagation (IBP) of every pre-activation over a ball, batched over centres.

The first hidden layer is bounded exactly, ``A_j -/+ r ||W_j||_dual`` (``||.||_2`` for an L2
ball, ``||.||_1`` for an L-infinity ball).  Each later layer takes the box
``[relu(lower), relu(upper)]`` of the previous layer's outputs and bounds
``W a + b`` over it by interval arithmetic in midpoint-radius form::

    mid = (relu(upper) + relu(lower)) / 2,   rad = (relu(upper) - relu(lower)) / 2
    lower' = W mid + b - |W| rad,            upper' = W mid + b + |W| rad

Sound in real arithmetic (every point of the ball maps into each box); it forgets how the
neurons of a layer move together, so it is the loosest of the methods after the first layer.

Rounding: every interval is widened by a proven bound on its rounding error, ``gamma_{2n+8}
(|W| max(relu(upper), X) + |b|) + |W| X_error`` plus underflow terms (:mod:`._outward`), so it
holds for the exact values of the float64 net, centres and radius; the same bound is the
centre's ``centre_error``.  Cost: three small matrix products per layer and centre (``W mid``,
the centre's ``W X``, and one stacked product with ``|W|`` for ``rad`` and the error bound), less
than Algorithm 1's.
"""

from __future__ import annotations

import torch

from .._rounding import output_error
from ._outward import IntervalPlan, first_layer, widen

__all__ = ["ibp_intervals"]


def ibp_intervals(hidden, x: torch.Tensor, r: float, order: float, plan: IntervalPlan | None = None):
    """IBP for one chunk of centres ``x`` (n, d); returns per-layer lists ``(A, A_error, lower, upper)``.

    ``hidden`` is the list of ``(W, b)`` float64 pairs, ``order`` the dual-norm order, ``plan``
    the rounding constants (built if not given).
    """
    if plan is None:
        plan = IntervalPlan.build(hidden, x.shape[1], order)
    n = x.shape[0]
    centre, errors, lowers, uppers = [], [], [], []
    X = X_error = None
    for k, (W, b) in enumerate(hidden):
        if k == 0:
            first = first_layer(W, b, x, r, plan)
            A, A_error, lo, up = first.A, first.A_error, first.lower, first.upper
        else:
            Wt = W.t()
            A = X @ Wt + b
            hi_a = uppers[-1].clamp_min(0)
            lo_a = lowers[-1].clamp_min(0)
            mid = (hi_a + lo_a) * 0.5
            rad = (hi_a - lo_a) * 0.5
            zc = mid @ Wt + b
            # One stacked product with |W|: the radius, and the rounding bound of both the
            # interval and the centre (see the module docstring of _outward).
            operand = plan.centre_operand(k, torch.maximum(hi_a, X), X_error, scale=plan.g_ibp[k])
            zr, A_error = (torch.cat([rad, operand]) @ plan.abs_Wt[k]).split(n)
            A_error = A_error.add_(plan.abs_b[k], alpha=plan.g_ibp[k]).add_(plan.abs_ibp[k])
            lo, up = widen(zc - zr, zc + zr, A_error)
        centre.append(A)
        errors.append(A_error)
        lowers.append(lo)
        uppers.append(up)
        X = A.clamp_min(0)
        X_error = output_error(A, A_error)
    return centre, errors, lowers, uppers
