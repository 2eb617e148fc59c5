"""Soundness of the bound engine by sampling: what the flags promise holds at thousands of points per ball.

For random nets, centres and radii (hypothesis), points are drawn from each ball -- uniformly
inside, on its surface (L2) or faces and corners (Linf), and at the nearest point of every
neuron's hyperplane pushed just past it -- and checked against the claims of Algorithm 1:

* ``S = 0``: the pre-activation keeps its sign;
* ``P = 0``: the neuron's output is the affine function ``X_j + L_j . (x' - x)``;
* ``usum = 0`` (nothing unstable feeds it): the pre-activation is ``A_j + Lpre_j . (x' - x)``;
* ``|X'_j - X_j| <= U_j``;
* the number of distinct activation patterns seen is at most ``2**C``.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localregions.bounds import _local_region_bound_impl

TOL = 1e-9  # relative to the magnitudes entering each computed value


@st.composite
def cases(draw):
    depth = draw(st.integers(1, 4))
    d = draw(st.integers(1, 10))
    widths = [draw(st.integers(1, 16)) for _ in range(depth)]
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    kind = draw(st.sampled_from(["gauss", "integer", "sparse"]))
    zero_bias = draw(st.booleans())
    layers = []
    fan_in = d
    for w in widths:
        if kind == "integer":
            W = torch.randint(-2, 3, (w, fan_in), generator=gen).double()
            b = torch.randint(-2, 3, (w,), generator=gen).double()
        else:
            W = torch.randn(w, fan_in, generator=gen, dtype=torch.float64) / math.sqrt(fan_in)
            if kind == "sparse":
                W = W * (torch.rand(w, fan_in, generator=gen, dtype=torch.float64) < 0.3)
            b = 0.3 * torch.randn(w, generator=gen, dtype=torch.float64)
        if zero_bias:
            b.zero_()
        if draw(st.booleans()):
            W[torch.randint(0, w, (1,), generator=gen)] = 0.0
        layers.append((W, b))
        fan_in = w
    n = draw(st.integers(1, 3))
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    if draw(st.booleans()):
        x[0] = 0.0
    radius = 10.0 ** draw(st.floats(-3.0, 1.0))
    return layers, x, radius, draw(st.integers(0, 2**31 - 1))


def forward_all(layers, points):
    """Pre-activations, outputs and rounding scales (sum |W||X| + |b|) of every hidden layer."""
    pre, post, scale = [], [], []
    X = points
    for W, b in layers:
        A = X @ W.t() + b
        pre.append(A)
        scale.append(X.abs() @ W.abs().t() + b.abs())
        X = torch.clamp_min(A, 0)
        post.append(X)
    return pre, post, scale


def sample_ball(centre, radius, norm, gen, hyper_dirs, hyper_dists, n_inside=2000, n_surface=1000):
    """Points of the ball: uniform inside, on the boundary, and hyperplane-nearest points pushed past."""
    d = centre.shape[0]
    if norm == "l2":
        g = torch.randn(n_inside + n_surface, d, generator=gen, dtype=torch.float64)
        g = g / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(1e-300)
        radii = torch.rand(n_inside, 1, generator=gen, dtype=torch.float64) ** (1.0 / d)
        inside = g[:n_inside] * radii * radius
        surface = g[n_inside:] * radius
    else:
        inside = (2 * torch.rand(n_inside, d, generator=gen, dtype=torch.float64) - 1) * radius
        faces = (2 * torch.rand(n_surface, d, generator=gen, dtype=torch.float64) - 1) * radius
        coord = torch.randint(0, d, (n_surface,), generator=gen)
        signs = torch.randint(0, 2, (n_surface,), generator=gen).double() * 2 - 1
        faces[torch.arange(n_surface), coord] = signs * radius
        corners = (torch.randint(0, 2, (n_surface // 4, d), generator=gen).double() * 2 - 1) * radius
        surface = torch.cat([faces, corners])
    offsets = [inside, surface]
    if hyper_dirs.numel():
        # hyper_dirs: unit steps (in the ball's norm) towards each hyperplane; hyper_dists: distances.
        past = hyper_dists * (1 + 1e-7) + 1e-12
        for t in (past, torch.full_like(past, radius)):
            ok = t <= radius
            offsets.append(hyper_dirs[ok] * t[ok].unsqueeze(1))
        # also points just short of it
        short = hyper_dists * (1 - 1e-7)
        ok = short <= radius
        offsets.append(hyper_dirs[ok] * short[ok].unsqueeze(1))
    offsets = torch.cat(offsets)
    return centre + offsets, offsets


def hyperplane_steps(A, G, norm):
    """For pre-activations ``A + G . dx`` (G: (m, d)), unit steps towards the zero set and distances."""
    keep = torch.linalg.vector_norm(G, ord=2, dim=1) > 0
    A, G = A[keep], G[keep]
    sign = torch.where(A > 0, -1.0, 1.0).unsqueeze(1).to(torch.float64)
    if norm == "l2":
        gn = torch.linalg.vector_norm(G, dim=1)
        return sign * G / gn.unsqueeze(1), A.abs() / gn
    gn = torch.linalg.vector_norm(G, ord=1, dim=1)
    return sign * torch.sign(G), A.abs() / gn


def check_ball(layers, centre, radius, norm, res, extra, n, gen):
    d = centre.shape[0]
    # Hyperplanes of every neuron's propagated linear part (exact where usum = 0; layer 1 included).
    A_all = torch.cat([a[n] for a in extra["A"]])
    G_all = torch.cat([lp[n] for lp in extra["Lpre"]])
    dirs, dists = hyperplane_steps(A_all, G_all, norm)
    points, dx = sample_ball(centre, radius, norm, gen, dirs, dists)
    assert (torch.linalg.vector_norm(dx, ord=2 if norm == "l2" else math.inf, dim=1) <= radius * (1 + 1e-12)).all()
    pre, post, scale = forward_all(layers, points)
    centre_pre, centre_post, _ = forward_all(layers, centre.unsqueeze(0))
    patterns = []
    for k in range(len(layers)):
        A0, X0 = centre_pre[k][0], centre_post[k][0]
        A1, X1 = pre[k], post[k]
        P, S, U = res.P[k][n], res.S[k][n], res.U[k][n]
        Lpre, usum = extra["Lpre"][k][n], extra["usum"][k][n]
        torch.testing.assert_close(extra["A"][k][n], A0, rtol=1e-12, atol=1e-12)
        tol = TOL * (scale[k] + A0.abs() + U + (dx.abs() @ Lpre.abs().t()))
        # S = 0: the sign is kept.
        stable = ~S
        kept = (A1 * torch.sign(A0)) > -tol
        assert kept[:, stable].all(), f"layer {k}: an S=0 neuron changed sign"
        assert (A0[stable] != 0).all()
        # usum = 0: the pre-activation is exactly the propagated linear function.
        linear_pre = A0 + dx @ Lpre.t()
        exact = usum == 0
        assert ((A1 - linear_pre).abs() <= tol)[:, exact].all(), f"layer {k}: usum=0 pre-activation not linear"
        # P = 0: the output is affine (L = Lpre when stably active, 0 when stably inactive).
        L = torch.where((A0 > 0).unsqueeze(1), Lpre, torch.zeros_like(Lpre))
        linear_post = X0 + dx @ L.t()
        assert ((X1 - linear_post).abs() <= tol)[:, ~P].all(), f"layer {k}: a P=0 neuron is not affine"
        # U bounds the deviation of the output.
        assert ((X1 - X0).abs() <= U + tol).all(), f"layer {k}: |X' - X| exceeded U"
        patterns.append(A1 > 0)
    C = int(res.unstable[n])
    distinct = torch.unique(torch.cat(patterns, dim=1), dim=0).shape[0]
    assert C >= 60 or distinct <= 2**C, f"{distinct} patterns seen but C = {C}"
    return distinct


def _run(case, norm):
    layers, x, radius, seed = case
    res, extra = _local_region_bound_impl(layers, x, radius, norm, detailed=True)
    gen = torch.Generator().manual_seed(seed)
    return [check_ball(layers, x[n], radius, norm, res, extra, n, gen) for n in range(x.shape[0])], res


SETTINGS = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(case=cases())
def test_sound_l2(case):
    _run(case, "l2")


@SETTINGS
@given(case=cases())
def test_sound_linf(case):
    _run(case, "linf")


def test_sampling_is_tight_on_a_one_layer_net():
    """On one layer the bound is exact: every S = 1 neuron really flips somewhere in the ball."""
    gen = torch.Generator().manual_seed(0)
    layers = [(torch.randn(12, 3, generator=gen, dtype=torch.float64), torch.randn(12, generator=gen, dtype=torch.float64))]
    x = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    for norm in ("l2", "linf"):
        res, extra = _local_region_bound_impl(layers, x, 0.5, norm, detailed=True)
        for n in range(4):
            dirs, dists = hyperplane_steps(extra["A"][0][n], extra["Lpre"][0][n], norm)
            points, _ = sample_ball(x[n], 0.5, norm, gen, dirs, dists)
            pre, _, _ = forward_all(layers, points)
            flipped = (pre[0] > 0).any(0) & (pre[0] <= 0).any(0)
            assert torch.equal(flipped, res.S[0][n])
