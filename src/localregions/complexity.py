"""Local complexity (Humayun, Balestriero & Baraniuk, 2024): neurons whose sign changes on a random cross-polytope.

Definition
----------
Humayun, Balestriero and Baraniuk, "Deep Networks Always Grok and Here is Why", ICML 2024
(PMLR 235; arXiv:2402.15555), measure the density of linear regions around a point ``x`` by
a sampled neighbourhood: take ``P`` random orthonormal directions ``q_1 .. q_P`` and the
cross-polytope with vertices ``x +/- r q_p``; the local complexity is the number of neurons
whose pre-activation sign is not the same at all ``2P`` vertices (the number of neuron
hyperplanes taken to cross the neighbourhood).  Their code (``local_complexity.py`` and
``samplers.py`` of the authors' ``grok-adversarial`` repository) draws one orthonormal frame,
scales each direction to length ``r``, evaluates the network at the ``2P`` vertices (the centre
itself is an option they leave off by default), and compares ``torch.sign`` of every layer's
pre-activation across the vertices, so a vertex exactly on a hyperplane (sign 0) counts as a
different sign; their MNIST setting is ``P = 25`` (50 vertices).  This module follows that
definition for the hidden ReLU layers of the network, with two deliberate differences:

* the frame is drawn *per centre*, from a stream seeded by ``(seed, index of the centre)``, so a
  result does not depend on how the batch is chunked or ordered (the authors' code uses one
  frame for the whole batch);
* the output layer is not counted (it cuts no linear regions), like everywhere in this package.

What it is: a lower estimate
----------------------------
Every neuron counted has two vertices at which its pre-activation has different signs, so it
is not strictly of one sign on the cross-polytope, which lies in the L2 ball ``B_r(x)`` (each
vertex is at distance ``r``, and the ball is convex) and so in the L-infinity ball of the same
radius.  A sound bound (Algorithm 1, IBP, CROWN, LP) must therefore flag every counted neuron
``S = 1``: :attr:`LocalComplexity.lower_estimate` ``<= C`` for every sound method, on either
ball.  It is a *lower* estimate of the number of neurons that change sign inside the ball:
a hyperplane can cross the ball without separating any two vertices, and in deeper layers a
bent boundary can cross the polytope between vertices.  (For ``norm="linf"`` each direction is
rescaled to unit L-infinity norm, so the vertices lie on the cube's surface; an extension,
not the authors'.)

The only float caveat is a vertex whose pre-activation is within rounding of 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .ball_inputs import prepare_inputs
from .validation import check_positive_int, check_seed

__all__ = ["LocalComplexity", "local_complexity", "cross_polytope_frames", "AUTHORS_MNIST_DIRECTIONS"]

#: The authors' MNIST setting (``hull_n = 50`` vertices): pass it as ``n_directions`` for 784 inputs,
#: where a full frame (the default) would cost a 784 x 784 QR and 1,568 vertices per centre.
AUTHORS_MNIST_DIRECTIONS = 25


@dataclass(frozen=True)
class LocalComplexity:
    """Result of :func:`local_complexity` for ``N`` centres and ``K`` hidden layers.

    Attributes
    ----------
    lower_estimate : (N,) int64
        Number of hidden neurons whose pre-activation sign differs between vertices of the
        cross-polytope: a lower estimate of the number of neurons that change sign in the ball
        (never more than the ``C`` of a sound bound).
    per_layer : (N, K) int64
        ``lower_estimate`` split by hidden layer.
    changed : list of K bool tensors, each (N, width_k)
        Which neurons were counted.
    n_directions : int
        ``P``, the number of orthonormal directions (``2P`` vertices).
    """

    lower_estimate: torch.Tensor
    per_layer: torch.Tensor
    changed: list
    n_directions: int


def _stream_seed(seed: int, index: int) -> int:
    state = np.random.SeedSequence([seed, index]).generate_state(2, dtype=np.uint32)
    return int(state[0]) | (int(state[1] & 0x7FFFFFFF) << 32)


def cross_polytope_frames(d: int, n_directions: int, seed: int, indices, *, dtype=torch.float64, device=None):
    """Random orthonormal frames, one per index: (len(indices), n_directions, d).

    Frame ``i`` depends only on ``(seed, indices[i])``: a Gaussian ``(d, P)`` matrix drawn from a
    generator seeded by both, orthonormalised by QR with the signs fixed (``R`` with a positive
    diagonal), which makes it Haar-distributed on the Stiefel manifold.

    >>> F = cross_polytope_frames(5, 3, seed=0, indices=[0, 7])
    >>> F.shape
    torch.Size([2, 3, 5])
    >>> torch.allclose(F[0] @ F[0].T, torch.eye(3, dtype=torch.float64))
    True
    >>> torch.equal(F[1], cross_polytope_frames(5, 3, seed=0, indices=[7])[0])
    True
    """
    gauss = torch.empty((len(indices), d, n_directions), dtype=torch.float64)
    for row, index in enumerate(indices):
        gen = torch.Generator().manual_seed(_stream_seed(seed, int(index)))
        gauss[row] = torch.randn(d, n_directions, generator=gen, dtype=torch.float64)
    Q, R = torch.linalg.qr(gauss)
    signs = torch.sign(torch.diagonal(R, dim1=1, dim2=2))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    Q = Q * signs.unsqueeze(1)
    return Q.transpose(1, 2).to(dtype=dtype, device=device)


def _fill_changed(hidden, x, r, norm, n_directions, seed, chunk_size, changed, device):
    n, d = x.shape
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        frames = cross_polytope_frames(d, n_directions, seed, range(start, stop), device=device)
        if norm == "linf":
            frames = frames / torch.linalg.vector_norm(frames, ord=float("inf"), dim=2, keepdim=True)
        V = None
        for k, (W, b) in enumerate(hidden):
            if k == 0:
                # The vertices x +/- r q: A(x) +/- r (q W^T), without forming the (c, 2P, d) vertices.
                centre = (x[start:stop] @ W.t() + b).unsqueeze(1)
                step = (frames @ W.t()).mul_(r)  # (c, P, width)
                Z = torch.cat([centre + step, centre - step], dim=1)  # (c, 2P, width)
            else:
                Z = V @ W.t() + b  # (c, 2P, width)
            sign = torch.sign(Z)
            changed[k][start:stop] = (sign != sign[:, :1]).any(dim=1)
            V = Z.clamp_min(0)


def local_complexity(
    layers,
    centers,
    radius,
    *,
    n_directions: int | None = None,
    seed: int = 0,
    norm: str = "l2",
    chunk_size: int | None = None,
    memory_budget_bytes: int = 256 * 2**20,
) -> LocalComplexity:
    """Count the neurons whose sign changes among the vertices of a random cross-polytope around each centre.

    Parameters
    ----------
    layers : nn.Module, NetworkLayers or list of (weight, bias)
        A torch network (see :mod:`localregions.layers`) or its hidden layers (the output layer is not counted).
    centers : (N, d) tensor
        Centres; computation is float64 on their device.
    radius : float > 0
        ``r``: the vertices are ``x +/- r q_p``.
    n_directions : int, optional
        ``P`` orthonormal directions, ``1 <= P <= d``; default ``d`` (the full cross-polytope).
        The authors used ``P = 25`` on MNIST (:data:`AUTHORS_MNIST_DIRECTIONS`); cost grows as
        ``d P^2`` (the QR) plus ``2P`` forward passes per centre.
    seed : int >= 0
        Frame ``n`` is drawn from a stream seeded by ``(seed, n)``: results are reproducible and
        do not depend on ``chunk_size``.
    norm : {"l2", "linf"}
        ``"l2"`` (the authors'): unit directions, vertices on the L2 sphere of radius ``r``.
        ``"linf"``: each direction rescaled to unit L-infinity norm, vertices on the cube's
        surface.
    chunk_size : int, optional
        Centres per chunk; by default chosen from ``memory_budget_bytes``.
    memory_budget_bytes : int, default 256 MiB

    Returns
    -------
    LocalComplexity
        ``lower_estimate`` (N,), ``per_layer`` (N, K), ``changed`` per layer, ``n_directions``.

    Notes
    -----
    A lower estimate: every counted neuron takes two different signs inside the ball (the
    cross-polytope lies in it), so it is unstable for every sound bound; ``lower_estimate <=
    local_region_bound(..., method=m).unstable`` for every method ``m``.  See the module
    docstring for the definition and the reference.

    Raises
    ------
    ValueError
        Naming the argument, as :func:`localregions.local_region_bound`; also ``n_directions``
        outside ``[1, d]`` and a negative ``seed``.

    Examples
    --------
    One neuron ``x_1 + x_2 - 0.5`` and a cross-polytope of radius 1 around the origin in the
    plane (every frame's four vertices lie on the unit circle, on both sides of the line):

    >>> import torch
    >>> layers = [(torch.tensor([[1.0, 1.0], [0.0, 1.0]]), torch.tensor([-0.5, 5.0]))]
    >>> lc = local_complexity(layers, torch.zeros(3, 2), 1.0, n_directions=2)
    >>> lc.lower_estimate, lc.changed[0][0]
    (tensor([1, 1, 1]), tensor([ True, False]))
    """
    hidden, x, r, norm = prepare_inputs(layers, centers, radius, norm)
    seed = check_seed(seed)
    memory_budget_bytes = check_positive_int(memory_budget_bytes, "memory_budget_bytes")
    device = x.device
    n, d = x.shape
    if n_directions is None:
        n_directions = d
    n_directions = check_positive_int(n_directions, "n_directions")
    if n_directions > d:
        raise ValueError(f"n_directions must be at most the input width {d}, got {n_directions}")
    widths = [W.shape[0] for W, _ in hidden]
    changed = [torch.zeros((n, w), dtype=torch.bool, device=device) for w in widths]
    if chunk_size is None:
        w_max = max(widths + [d])
        per = 8 * (2 * n_directions * (d + 2 * w_max) + 2 * d * n_directions)
        chunk_size = int(max(1, min(max(n, 1), memory_budget_bytes // per)))
    else:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
    # Many small products: torch's intra-op threads cost far more than they give here (10x the CPU
    # time with 2 threads on a shared 2-core machine, measured), so the call runs single-threaded.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _fill_changed(hidden, x, r, norm, n_directions, seed, chunk_size, changed, device)
    finally:
        torch.set_num_threads(threads)
    per_layer = (
        torch.stack([c.sum(dim=1) for c in changed], dim=1).to(torch.int64)
        if changed
        else torch.zeros((n, 0), dtype=torch.int64, device=device)
    )
    return LocalComplexity(
        lower_estimate=per_layer.sum(dim=1), per_layer=per_layer, changed=changed, n_directions=n_directions
    )
