"""Geometry of the linear regions themselves: activation patterns and distance to a region's boundary.

A ReLU network is affine on each *linear region*, the set of inputs sharing one activation
pattern (which hidden neurons have pre-activation > 0).  On the region of a point ``x`` every
pre-activation is an affine function of the input whose gradient is a row of
``J_k = W_k diag(pattern_{k-1}) W_{k-1} ... diag(pattern_1) W_1``.  The region is the convex
polyhedron cut out by those affine functions' signs, so the distance from ``x`` to its
boundary is the smallest distance to one of their zero sets:

    dist(x) = min over hidden neurons j with grad_j != 0 of |pre_j(x)| / ||grad_j||_*

with ``||.||_*`` the dual norm (L2 for an L2 distance, L1 for an Linf distance).
"""

from __future__ import annotations

import torch

from .ball_inputs import DEFAULT_MEMORY_BUDGET_BYTES
from .layers import hidden_affine_layers
from .validation import NORMS, check_norm, check_points, check_positive_int

__all__ = ["activation_patterns", "boundary_distance"]


def _prepare(layers, points, name="points"):
    device = points.device if isinstance(points, torch.Tensor) else None
    hidden = hidden_affine_layers(layers, device=device)
    if device is None:
        device = hidden[0][0].device if hidden else torch.device("cpu")
    input_width = hidden[0][0].shape[1] if hidden else None
    points = check_points(points, name, input_width, device=device)
    return hidden, points


def activation_patterns(layers, points) -> torch.Tensor:
    """Activation pattern of every point: ``(N, total_hidden_neurons)`` bool, pre-activation > 0.

    Columns run over the hidden layers in order, neurons in order within a layer.  Computed in
    float64 on the points' device.
    """
    hidden, x = _prepare(layers, points)
    columns = []
    X = x
    for W, b in hidden:
        A = X @ W.t() + b
        columns.append(A > 0)
        X = torch.clamp_min(A, 0)
    if not columns:
        return torch.zeros((x.shape[0], 0), dtype=torch.bool, device=x.device)
    return torch.cat(columns, dim=1)


def boundary_distance(
    layers,
    points,
    norm: str = "l2",
    chunk_size: int | None = None,
    *,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
) -> torch.Tensor:
    """Exact distance from each point to the boundary of its own linear region.

    Parameters
    ----------
    layers : nn.Module, NetworkLayers or list of (weight, bias)
        A torch network (see :mod:`localregions.layers`: convolutions, pooling, BatchNorm, ...) or its layers.
    points : (N, d) tensor
    norm : {"l2", "linf"}
        The norm in which distance is measured; the gradients are measured in its dual
        (L2 for "l2", L1 for "linf").
    chunk_size : int, optional
        Points per chunk (each needs an ``(width, d)`` Jacobian per layer); by default chosen to
        fit ``memory_budget_bytes``.

    Returns
    -------
    (N,) float64
        ``min_j |pre_j| / ||grad_j||_*`` over all hidden neurons whose gradient on the region is
        not exactly zero; ``inf`` where no neuron varies (the region is the whole space); ``0``
        for a point lying exactly on a boundary (a varying neuron with pre-activation 0).
    """
    norm = check_norm(norm)
    hidden, x = _prepare(layers, points)
    order = NORMS[norm]
    n, d = x.shape
    out = torch.full((n,), float("inf"), dtype=torch.float64, device=x.device)
    if n == 0 or not hidden:
        return out
    if chunk_size is None:
        w_max = max(w.shape[0] for w, _ in hidden)
        per = max(8, 8 * (2 * w_max * d + w_max * w_max + 8 * w_max))
        chunk_size = max(1, min(n, check_positive_int(memory_budget_bytes, "memory_budget_bytes") // per))
    else:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
    for start in range(0, n, chunk_size):
        xc = x[start : start + chunk_size]
        X = xc
        J = None  # (m, w, d) Jacobian of the current layer's pre-activations; None = shared W_1
        best = out[start : start + chunk_size]
        for k, (W, b) in enumerate(hidden):
            A = X @ W.t() + b
            if k == 0:
                grad_norm = torch.linalg.vector_norm(W, ord=order, dim=1).expand_as(A)
                J = W
            else:
                J = torch.matmul(W * pattern.unsqueeze(1).to(W.dtype), J)
                grad_norm = torch.linalg.vector_norm(J, ord=order, dim=2)
            varying = grad_norm > 0
            ratio = torch.where(varying, A.abs() / torch.where(varying, grad_norm, 1.0), float("inf"))
            if ratio.shape[1]:
                best = torch.minimum(best, ratio.min(dim=1).values)
            pattern = A > 0
            X = torch.clamp_min(A, 0)
        out[start : start + chunk_size] = best
    return out
