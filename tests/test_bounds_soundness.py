"""Soundness of every bound method by sampling: what the flags and intervals promise holds at thousands of points per ball.

For random nets, centres and radii (hypothesis), points are drawn from each ball -- uniformly
inside, on its surface (L2) or faces and corners (Linf), at the nearest point of every neuron's
(locally linear) zero set pushed just past it and stopped just short of it, and at the ends of a
projected-gradient search for each neuron's largest and smallest pre-activation -- and the SAME
checks are run for every method (``alg1``, ``ibp``, ``crown``, ``lp``) on L2 and L-infinity balls:

* ``S = 0``: the pre-activation keeps its sign at every sampled point;
* ``lower <= A' <= upper`` at every sampled point (for ``alg1`` the interval is Lemma 1's
  ``[A - u, A + u]`` from :func:`algorithm1_trace`);
* ``P = 0``: the neuron's output is the affine function ``X_j + J_j . (x' - x)`` (``J`` the
  gradient at the centre; 0 when the neuron is inactive);
* ``|X'_j - X_j| <= U_j``;
* the number of distinct activation patterns seen is at most ``2**C``;
* ``alg1`` only: wherever ``usum = 0`` the pre-activation is ``A_j + Lpre_j . (x' - x)``.

The same harness runs on torch networks with convolutions (strides, padding), BatchNorm in eval
mode, input normalisation and average pooling (``network_cases.torch_networks``): the methods
get the torch module, and every check evaluates the module itself (pre-activations at the ReLU
modules' inputs, gradients by autograd), so a folding error (a convolution's matrix off by one
pixel, a BatchNorm folded with the wrong statistics) fails the checks as an unsound bound would.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localregions.bounds import algorithm1_trace, local_region_bound

from network_cases import UnfoldedNetwork, torch_networks

TOL = 1e-9  # relative to the magnitudes entering each computed value
INTERVAL_METHODS = ("ibp", "crown", "lp")


@st.composite
def cases(draw, max_depth=4, max_width=16, max_inputs=10, max_centres=3):
    depth = draw(st.integers(1, max_depth))
    d = draw(st.integers(1, max_inputs))
    widths = [draw(st.integers(1, max_width)) for _ in range(depth)]
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
    n = draw(st.integers(1, max_centres))
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    if draw(st.booleans()):
        x[0] = 0.0
    radius = 10.0 ** draw(st.floats(-3.0, 1.0))
    return layers, x, radius, draw(st.integers(0, 2**31 - 1))


# ----------------------------------------------------------------------------- the network


def forward_all(layers, points):
    """Pre-activations, outputs and rounding scales (sum |W||X| + |b|) of every hidden layer."""
    if isinstance(layers, UnfoldedNetwork):
        return layers.forward_all(points)
    pre, post, scale = [], [], []
    X = points
    for W, b in layers:
        A = X @ W.t() + b
        pre.append(A)
        scale.append(X.abs() @ W.abs().t() + b.abs())
        X = torch.clamp_min(A, 0)
        post.append(X)
    return pre, post, scale


def centre_gradients(layers, centre):
    """Gradient ``J`` (width_k, d) of every pre-activation at the centre, for its activation pattern."""
    if isinstance(layers, UnfoldedNetwork):
        return layers.centre_gradients(centre)
    J = None
    X = centre
    grads = []
    for W, b in layers:
        J = W.clone() if J is None else W @ J
        grads.append(J)
        A = X @ W.t() + b
        J = J * (A > 0).to(J.dtype).unsqueeze(1)
        X = A.clamp_min(0)
    return grads


# ----------------------------------------------------------------------------- the sampler


def project(offsets, radius, norm):
    if norm == "l2":
        length = torch.linalg.vector_norm(offsets, dim=1, keepdim=True)
        return offsets * torch.clamp(radius / length.clamp_min(1e-300), max=1.0)
    return offsets.clamp(-radius, radius)


def extreme_search(layers, centre, radius, norm, gen, steps=30):
    """Projected gradient ascent and descent on every neuron's pre-activation over the ball.

    Returns the offsets of the final iterates (two per neuron, from random starts).
    """
    widths = layers.widths if isinstance(layers, UnfoldedNetwork) else [W.shape[0] for W, _ in layers]
    total = sum(widths)
    if total == 0:
        return torch.zeros(0, centre.shape[0], dtype=torch.float64)
    d = centre.shape[0]
    target = torch.arange(total).repeat(2)
    sign = torch.cat([torch.ones(total), -torch.ones(total)]).to(torch.float64)
    start = torch.randn(2 * total, d, generator=gen, dtype=torch.float64)
    offsets = project(start * (radius / math.sqrt(d)), radius, norm)
    for t in range(steps):
        offsets = offsets.detach().requires_grad_(True)
        pre, _, _ = forward_all(layers, centre + offsets)
        flat = torch.cat(pre, dim=1)
        objective = (sign * flat[torch.arange(2 * total), target]).sum()
        (grad,) = torch.autograd.grad(objective, offsets)
        eta = radius * (0.5 * (1 - t / steps) + 0.02)
        with torch.no_grad():
            if norm == "l2":
                step = grad / torch.linalg.vector_norm(grad, dim=1, keepdim=True).clamp_min(1e-300)
            else:
                step = torch.sign(grad)
            offsets = project(offsets + eta * step, radius, norm)
    return offsets.detach()


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


def sample_ball(centre, radius, norm, gen, hyper_dirs, hyper_dists, extra=(), n_inside=2000, n_surface=1000):
    """Points of the ball: uniform inside, on the boundary, hyperplane-nearest points, and ``extra`` offsets."""
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
    offsets = [inside, surface, *extra]
    if hyper_dirs.numel():
        # hyper_dirs: unit steps (in the ball's norm) towards each hyperplane; hyper_dists: distances.
        past = hyper_dists * (1 + 1e-7) + 1e-12
        short = hyper_dists * (1 - 1e-7)
        for t in (past, short, torch.full_like(past, radius)):
            ok = t <= radius
            offsets.append(hyper_dirs[ok] * t[ok].unsqueeze(1))
    offsets = torch.cat(offsets)
    return centre + offsets, offsets


def ball_samples(layers, centre, radius, norm, gen, extra_gradients=None):
    """``(points, offsets)`` for one ball, shared by every method checked on it."""
    grads = centre_gradients(layers, centre)
    pre0, _, _ = forward_all(layers, centre.unsqueeze(0))
    A_all = torch.cat([a[0] for a in pre0])
    G_all = torch.cat(grads)
    if extra_gradients is not None:  # e.g. Algorithm 1's propagated L
        A_all = torch.cat([A_all, A_all])
        G_all = torch.cat([G_all, extra_gradients])
    dirs, dists = hyperplane_steps(A_all, G_all, norm)
    extremes = extreme_search(layers, centre, radius, norm, gen)
    points, dx = sample_ball(centre, radius, norm, gen, dirs, dists, extra=(extremes,))
    ord_ = 2 if norm == "l2" else math.inf
    assert (torch.linalg.vector_norm(dx, ord=ord_, dim=1) <= radius * (1 + 1e-12)).all()
    return points, dx


# ----------------------------------------------------------------------------- the checks


def method_result(layers, x, radius, norm, method):
    """``(LocalBound, lower, upper, trace)``; for alg1 the intervals are Lemma 1's ``A -/+ (u + A_error)``."""
    if isinstance(layers, UnfoldedNetwork):
        layers = layers.model  # the library folds the torch network itself
    if method == "alg1":
        res, trace = algorithm1_trace(layers, x, radius, norm)
        lower = [A - u - e for A, u, e in zip(trace.A, trace.u, trace.A_error)]
        upper = [A + u + e for A, u, e in zip(trace.A, trace.u, trace.A_error)]
        return res, lower, upper, trace
    res = local_region_bound(layers, x, radius, norm, method=method)
    assert res.method == method
    return res, res.lower, res.upper, None


def check_ball(layers, centre, radius, points, dx, res, lower, upper, n, trace=None):
    """Every claim of ``res`` (and the intervals) for ball ``n`` at the sampled points; returns the patterns seen."""
    pre, post, scale = forward_all(layers, points)
    centre_pre, centre_post, _ = forward_all(layers, centre.unsqueeze(0))
    grads = centre_gradients(layers, centre)
    patterns = []
    for k in range(len(layers)):
        A0, X0 = centre_pre[k][0], centre_post[k][0]
        A1, X1 = pre[k], post[k]
        P, S, U = res.P[k][n], res.S[k][n], res.U[k][n]
        lo, up = lower[k][n], upper[k][n]
        J = grads[k]
        tol = TOL * (scale[k] + A0.abs() + U + lo.abs() + up.abs() + dx.abs() @ J.abs().t())
        # S = 0: the sign is kept (and the centre itself is strictly of that sign).
        stable = ~S
        kept = (A1 * torch.sign(A0)) > -tol
        assert kept[:, stable].all(), f"layer {k}: an S=0 neuron changed sign"
        # ... and the centre is strictly of that sign: an exact tie (a pre-activation that is 0 in
        # exact arithmetic, computed as 0 or +-1 ulp) is never declared stable.
        assert ((A0 != 0) | ~stable).all(), f"layer {k}: a neuron with a zero pre-activation is S=0"
        # The interval holds every sampled pre-activation.
        assert (A1 >= lo - tol).all(), f"layer {k}: a pre-activation fell below its lower bound"
        assert (A1 <= up + tol).all(), f"layer {k}: a pre-activation rose above its upper bound"
        # P = 0: the output is affine, with the centre's gradient (0 when inactive).
        L = torch.where((A0 > 0).unsqueeze(1), J, torch.zeros_like(J))
        linear_post = X0 + dx @ L.t()
        assert ((X1 - linear_post).abs() <= tol)[:, ~P].all(), f"layer {k}: a P=0 neuron is not affine"
        # U bounds the deviation of the output.
        assert ((X1 - X0).abs() <= U + tol).all(), f"layer {k}: |X' - X| exceeded U"
        if trace is not None:
            torch.testing.assert_close(trace.A[k][n], A0, rtol=1e-12, atol=1e-12)
            Lpre, usum = trace.Lpre[k][n], trace.usum[k][n]
            tol_l = tol + TOL * (dx.abs() @ Lpre.abs().t())
            linear_pre = A0 + dx @ Lpre.t()
            exact = usum == 0
            assert ((A1 - linear_pre).abs() <= tol_l)[:, exact].all(), f"layer {k}: usum=0 pre-activation not linear"
        patterns.append(A1 > 0)
    C = int(res.unstable[n])
    distinct = torch.unique(torch.cat(patterns, dim=1), dim=0).shape[0]
    assert C >= 60 or distinct <= 2**C, f"{distinct} patterns seen but C = {C}"
    return distinct


def run_methods(case, norm, methods):
    """Run every method on the case and check each on the same sampled points of each ball."""
    layers, x, radius, seed = case
    results = {m: method_result(layers, x, radius, norm, m) for m in methods}
    gen = torch.Generator().manual_seed(seed)
    alg1_trace = results["alg1"][3] if "alg1" in results else None
    seen = {m: [] for m in methods}
    for n in range(x.shape[0]):
        extra = torch.cat([lp[n] for lp in alg1_trace.Lpre]) if alg1_trace is not None else None
        points, dx = ball_samples(layers, x[n], radius, norm, gen, extra_gradients=extra)
        for m, (res, lower, upper, trace) in results.items():
            seen[m].append(check_ball(layers, x[n], radius, points, dx, res, lower, upper, n, trace))
    return results, seen


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LP_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(case=cases())
def test_sound_l2(case):
    run_methods(case, "l2", ("alg1", "ibp", "crown"))


@SETTINGS
@given(case=cases())
def test_sound_linf(case):
    run_methods(case, "linf", ("alg1", "ibp", "crown"))


@LP_SETTINGS
@given(case=cases(max_depth=3, max_width=7, max_inputs=5, max_centres=2))
def test_sound_lp_l2(case):
    run_methods(case, "l2", ("lp", "crown"))


@LP_SETTINGS
@given(case=cases(max_depth=3, max_width=7, max_inputs=5, max_centres=2))
def test_sound_lp_linf(case):
    run_methods(case, "linf", ("lp", "crown"))


NET_SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NET_LP_SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@NET_SETTINGS
@given(case=torch_networks())
def test_sound_on_conv_batchnorm_normalised_pooled_nets_l2(case):
    run_methods(case, "l2", ("alg1", "ibp", "crown"))


@NET_SETTINGS
@given(case=torch_networks())
def test_sound_on_conv_batchnorm_normalised_pooled_nets_linf(case):
    run_methods(case, "linf", ("alg1", "ibp", "crown"))


@NET_LP_SETTINGS
@given(case=torch_networks(max_centres=1, max_side=4, max_channels=2, max_width=3, allow_second_conv=False))
def test_lp_sound_on_conv_nets_l2(case):
    run_methods(case, "l2", ("lp",))


@NET_LP_SETTINGS
@given(case=torch_networks(max_centres=1, max_side=4, max_channels=2, max_width=3, allow_second_conv=False))
def test_lp_sound_on_conv_nets_linf(case):
    run_methods(case, "linf", ("lp",))


def test_sampling_is_tight_on_a_one_layer_net():
    """On one layer every method is exact: every S = 1 neuron really flips somewhere in the ball."""
    gen = torch.Generator().manual_seed(0)
    layers = [(torch.randn(12, 3, generator=gen, dtype=torch.float64), torch.randn(12, generator=gen, dtype=torch.float64))]
    x = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    for norm in ("l2", "linf"):
        for method in ("alg1", *INTERVAL_METHODS):
            res = local_region_bound(layers, x, 0.5, norm, method=method)
            for n in range(4):
                points, _ = ball_samples(layers, x[n], 0.5, norm, gen)
                pre, _, _ = forward_all(layers, points)
                flipped = (pre[0] > 0).any(0) & (pre[0] <= 0).any(0)
                assert torch.equal(flipped, res.S[0][n]), (norm, method)


def test_extreme_search_reaches_the_exact_range_of_a_linear_neuron():
    """The sampler's gradient search finds A -/+ r ||J||_dual for a neuron that is affine on the ball.

    (So the interval checks above sample a neuron's true extremes, not just random points.)
    """
    gen = torch.Generator().manual_seed(3)
    W1 = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    b1 = torch.full((4,), 10.0, dtype=torch.float64)  # every first-layer neuron stably active
    W2 = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    layers = [(W1, b1), (W2, torch.zeros(3, dtype=torch.float64))]
    centre = torch.zeros(5, dtype=torch.float64)
    for norm, dual in (("l2", 2), ("linf", 1)):
        offsets = extreme_search(layers, centre, 0.3, norm, gen)
        pre, _, _ = forward_all(layers, centre + offsets)
        J = W2 @ W1
        A = W2 @ b1.clamp_min(0)
        exact = 0.3 * torch.linalg.vector_norm(J, ord=dual, dim=1)
        torch.testing.assert_close(pre[1].max(0).values, A + exact, rtol=1e-6, atol=1e-9)
        torch.testing.assert_close(pre[1].min(0).values, A - exact, rtol=1e-6, atol=1e-9)
