"""The arguments every bound method takes, checked once: network, centres, radius, norm, memory budget.

Algorithm 1 (:mod:`localregions.bounds`), the interval methods (:mod:`localregions.relaxations`), the
literal reference (:mod:`localregions.reference`) and the local complexity all validate through
:func:`prepare_inputs`, so a bad argument gets the same one-line error from each.  It lives below them
all, so that none of them imports another for it.
"""

from __future__ import annotations

import torch

from .layers import hidden_affine_layers
from .validation import check_norm, check_points, check_radius

__all__ = ["DEFAULT_MEMORY_BUDGET_BYTES", "prepare_inputs"]

#: Default memory budget of the automatic chunking (bytes of work buffers per call).
DEFAULT_MEMORY_BUDGET_BYTES = 512 * 2**20


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
