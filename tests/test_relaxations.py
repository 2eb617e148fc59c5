"""The interval methods (ibp, crown, lp): orderings that are theorems, exactness, the LP certificate, the contract.

Soundness by sampling (every method, both norms) lives in ``test_bounds_soundness.py``.
"""

from __future__ import annotations

import dataclasses
import doctest
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import localregions
from localregions.bounds import algorithm1_trace, local_region_bound
from localregions.relaxations import METHODS, preactivation_bounds
from localregions.relaxations import _common, crown, ibp, lp
from localregions.relaxations.crown import CrownPlan, crown_intervals
from localregions.relaxations.lp import TriangleProgram

from network_cases import torch_networks
from test_bounds_soundness import cases, forward_all, sample_ball

NORMS = ("l2", "linf")
# How much looser than the exact optimum an LP certificate may be: Clarabel's and HiGHS's
# default tolerances are 1e-8 / 1e-7 relative; through a few layers of weights of order one that
# stays far below this, relative to the magnitudes of the bounds (plus an absolute floor).
LP_RTOL = 1e-5
LP_ATOL = 1e-6


def _slack(*tensors):
    return LP_ATOL + LP_RTOL * sum(t.abs() for t in tensors)


small_cases = cases(max_depth=3, max_width=6, max_inputs=5, max_centres=2)
SMALL = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- orderings


@SMALL
@given(case=small_cases, norm=st.sampled_from(NORMS))
def test_lp_lies_within_crown_ibp_and_algorithm1(case, norm):
    """Per neuron, the LP interval is inside CROWN's, IBP's and Algorithm 1's ``[A - u, A + u]``.

    A theorem in exact arithmetic (see ``preactivation_bounds``); here up to the certificate's
    slack (LP_RTOL, LP_ATOL).
    """
    layers, x, radius, _ = case
    lp_b = preactivation_bounds(layers, x, radius, norm, method="lp")
    _, trace = algorithm1_trace(layers, x, radius, norm)
    others = {
        "crown": preactivation_bounds(layers, x, radius, norm, method="crown"),
        "ibp": preactivation_bounds(layers, x, radius, norm, method="ibp"),
    }
    for k in range(len(layers)):
        intervals = {name: (b.lower[k], b.upper[k]) for name, b in others.items()}
        intervals["alg1"] = (trace.A[k] - trace.u[k], trace.A[k] + trace.u[k])
        for name, (lo, up) in intervals.items():
            slack = _slack(lo, up)
            assert (lp_b.lower[k] >= lo - slack).all(), (name, k)
            assert (lp_b.upper[k] <= up + slack).all(), (name, k)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=torch_networks(max_centres=1, max_side=4, max_channels=2, max_width=3, allow_second_conv=False),
       norm=st.sampled_from(NORMS))
def test_lp_lies_within_the_others_on_conv_nets(case, norm):
    """The ordering theorem on torch nets with convolutions, BatchNorm, normalisation and pooling."""
    net, x, radius, _ = case
    lp_b = preactivation_bounds(net.model, x, radius, norm, method="lp")
    _, trace = algorithm1_trace(net.model, x, radius, norm)
    for method in ("crown", "ibp"):
        other = preactivation_bounds(net.model, x, radius, norm, method=method)
        for k in range(len(net)):
            slack = _slack(other.lower[k], other.upper[k])
            assert (lp_b.lower[k] >= other.lower[k] - slack).all() and (lp_b.upper[k] <= other.upper[k] + slack).all()
    for k in range(len(net)):
        lo, up = trace.A[k] - trace.u[k], trace.A[k] + trace.u[k]
        slack = _slack(lo, up)
        assert (lp_b.lower[k] >= lo - slack).all() and (lp_b.upper[k] <= up + slack).all(), k


def _regime_net(seed, d=5, widths=(6, 6, 4)):
    gen = torch.Generator().manual_seed(seed)
    layers, fan = [], d
    for w in widths:
        layers.append((torch.randn(w, fan, generator=gen, dtype=torch.float64) / math.sqrt(fan),
                       0.3 * torch.randn(w, generator=gen, dtype=torch.float64)))
        fan = w
    return layers, torch.randn(3, d, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("norm,radius", [("l2", 0.5), ("linf", 0.25)])
def test_lp_ordering_where_many_neurons_are_unstable(seed, norm, radius):
    """The same theorem on fixed nets in the regime that matters (a third or more of the neurons unstable)."""
    layers, x = _regime_net(seed)
    lp_b = preactivation_bounds(layers, x, radius, norm, method="lp")
    crown_b = preactivation_bounds(layers, x, radius, norm, method="crown")
    ibp_b = preactivation_bounds(layers, x, radius, norm, method="ibp")
    _, trace = algorithm1_trace(layers, x, radius, norm)
    unstable = sum(int(((lo < 0) & (up > 0)).sum()) for lo, up in zip(crown_b.lower, crown_b.upper))
    assert unstable >= 0.2 * 3 * 16  # the regime is the intended one
    for k in range(len(layers)):
        for lo, up in ((crown_b.lower[k], crown_b.upper[k]), (ibp_b.lower[k], ibp_b.upper[k]),
                       (trace.A[k] - trace.u[k], trace.A[k] + trace.u[k])):
            slack = _slack(lo, up)
            assert (lp_b.lower[k] >= lo - slack).all() and (lp_b.upper[k] <= up + slack).all(), k


@FAST
@given(case=cases(), norm=st.sampled_from(NORMS), method=st.sampled_from(("alg1", "ibp", "crown", "lp")))
def test_first_layer_is_exact_for_every_method(case, norm, method):
    """Layer 1's interval is exactly ``A -/+ r ||W_j||_dual`` (Algorithm 1: ``u = r ||W_j||``)."""
    layers, x, radius, _ = case
    if method == "lp":
        layers = layers[:2]
    W, b = layers[0]
    A = x @ W.t() + b
    rad = radius * torch.linalg.vector_norm(W, ord=2 if norm == "l2" else 1, dim=1)
    if method == "alg1":
        _, trace = algorithm1_trace(layers, x, radius, norm)
        lo, up = trace.A[0] - trace.u[0], trace.A[0] + trace.u[0]
    else:
        res = preactivation_bounds(layers, x, radius, norm, method=method)
        lo, up = res.lower[0], res.upper[0]
    torch.testing.assert_close(lo, A - rad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(up, A + rad, rtol=1e-12, atol=1e-12)


@FAST
@given(case=cases(max_depth=2), norm=st.sampled_from(NORMS))
def test_crown_and_lp_are_exact_behind_a_stable_first_layer(case, norm):
    """When every first-layer neuron is stable the second layer is affine on the ball: CROWN and LP give its exact range.

    (IBP need not: it loses the correlation between first-layer neurons.)
    """
    layers, x, radius, _ = case
    if len(layers) < 2:
        return
    first = preactivation_bounds(layers[:1], x, radius, norm, method="crown")
    stable = ((first.lower[0] > 0) | (first.upper[0] < 0)).all(dim=1)
    W1, b1 = layers[0]
    W2, b2 = layers[1]
    dual = 2 if norm == "l2" else 1
    crown_b = preactivation_bounds(layers, x, radius, norm, method="crown")
    lp_b = preactivation_bounds(layers, x[stable], radius, norm, method="lp") if stable.any() else None
    for n in torch.nonzero(stable).flatten().tolist():
        active = ((x[n] @ W1.t() + b1) > 0).to(torch.float64)
        J = W2 @ (active.unsqueeze(1) * W1)
        A = W2 @ (x[n] @ W1.t() + b1).clamp_min(0) + b2
        rad = radius * torch.linalg.vector_norm(J, ord=dual, dim=1)
        # CROWN's L2 Gram form adds its proven rounding margin under the square root: at most
        # r sqrt(kappa ||W2_j||^2 ||W1||_F^2), about 1e-7 of r ||W2_j|| ||W1||_F (0 on the direct path).
        d = x.shape[1]
        kappa = 2.0 * (d + 2 * W1.shape[0] + 4) * 2.0**-53 if norm == "l2" and W1.shape[0] < d else 0.0
        margin = radius * torch.sqrt(kappa * (W2 * W2).sum(1) * (W1 * W1).sum())
        exactness = 1e-9 * (A.abs() + rad) + 1e-12 + margin
        assert ((crown_b.lower[1][n] - (A - rad)).abs() <= exactness).all()
        assert ((crown_b.upper[1][n] - (A + rad)).abs() <= exactness).all()
        row = int(torch.nonzero(torch.nonzero(stable).flatten() == n))
        assert (lp_b.lower[1][row] <= A - rad + _slack(A, rad)).all()
        assert (lp_b.lower[1][row] >= A - rad - _slack(A, rad)).all()
        assert (lp_b.upper[1][row] >= A + rad - _slack(A, rad)).all()
        assert (lp_b.upper[1][row] <= A + rad + _slack(A, rad)).all()


def test_crown_is_not_always_inside_ibp():
    """Why no ordering is asserted between CROWN and IBP: a neuron whose CROWN interval is wider.

    One input ``x`` in ``[-1, 1]``, ``z1 = x + 0.5`` in ``[-0.5, 1.5]`` (unstable, ``u > -l`` so the
    adaptive lower line is ``a >= z1``), then ``z2 = -a``.  IBP: ``a`` in ``[0, 1.5]``, so
    ``z2 <= 0``.  CROWN bounds ``-a`` from above with the lower line: ``-a <= -z1 = -x - 0.5``,
    whose maximum over the ball is ``0.5``.
    """
    layers = [(torch.tensor([[1.0]], dtype=torch.float64), torch.tensor([0.5], dtype=torch.float64)),
              (torch.tensor([[-1.0]], dtype=torch.float64), torch.zeros(1, dtype=torch.float64))]
    x = torch.zeros(1, 1, dtype=torch.float64)
    c = preactivation_bounds(layers, x, 1.0, "l2", method="crown")
    i = preactivation_bounds(layers, x, 1.0, "l2", method="ibp")
    # [-1.5, 0] exactly, widened outward by its rounding bound (a few ulps of the magnitudes).
    assert 0.0 <= float(i.upper[1]) < 1e-14 and -1.5 - 1e-14 < float(i.lower[1]) <= -1.5
    assert float(c.upper[1]) == pytest.approx(0.5) and float(c.lower[1]) == pytest.approx(-1.5)
    # The LP (the triangle) is inside both, as the theorem says: [-1.5, 0].
    p = preactivation_bounds(layers, x, 1.0, "l2", method="lp")
    assert float(p.upper[1]) == pytest.approx(0.0, abs=1e-7) and float(p.lower[1]) == pytest.approx(-1.5, abs=1e-7)


# ----------------------------------------------------------------------------- CROWN internals


@FAST
@given(case=cases(), radius=st.floats(1e-3, 3.0))
def test_crown_gram_form_agrees_with_the_direct_product(case, radius):
    """The L2 Gram form ``sqrt(l G l^T) + margin`` equals ``||l W_0||_2`` up to its proven margin."""
    layers, x, _, _ = case
    from localregions.bounds import prepare_inputs

    hidden, xx, r, _ = prepare_inputs(layers, x, radius, "l2")
    d = xx.shape[1]
    gram = CrownPlan(hidden, 2.0, d)
    gram.gram = True
    W0 = hidden[0][0]
    gram.G = W0 @ W0.t()
    gram.w0sq = (W0 * W0).sum(dim=1)
    gram.kappa = 2.0 * (d + 2 * W0.shape[0] + 4) * 2.0**-53
    direct = CrownPlan(hidden, 2.0, d)
    direct.gram = False
    _, _, lo_g, up_g = crown_intervals(gram, xx, r)
    _, _, lo_d, up_d = crown_intervals(direct, xx, r)
    # Compared where both see identical inputs (layer 1 is exact and the same in both, so layer 2
    # differs only by the norm's rounding and margin); deeper, the adaptive lower slope is
    # discontinuous at u = -l and a one-ulp difference may legitimately flip it.
    # The margin under the square root can add up to r sqrt(kappa) ||lam|| ||W_0||_F (about 1e-7 of it),
    # visible where the exact norm is 0.
    margin = r * math.sqrt(gram.kappa) * W0.norm().item() * (hidden[1][0].norm().item() if len(hidden) > 1 else 0.0)
    for lg, ld, ug, ud in zip(lo_g[:2], lo_d[:2], up_g[:2], up_d[:2]):
        torch.testing.assert_close(lg, ld, rtol=1e-6, atol=1e-7 * (1 + ld.abs().max().item()) + margin)
        torch.testing.assert_close(ug, ud, rtol=1e-6, atol=1e-7 * (1 + ud.abs().max().item()) + margin)
        slack = 1e-9 * (1 + ld.abs() + ud.abs())
        assert (lg <= ld + slack).all() and (ug >= ud - slack).all()  # the margin widens, never narrows


@pytest.mark.parametrize("seed", range(20))
def test_gram_norm_is_never_below_the_exact_norm(seed):
    """The Gram form's margin covers its rounding, even under heavy cancellation (checked in exact rationals).

    Rows of ``W_0`` come in nearly equal pairs and each ``lam`` row is (1, -1) on a pair, so
    ``lam W_0`` is tiny while ``lam G lam^T`` is a difference of large numbers.
    """
    from fractions import Fraction

    from localregions.relaxations.crown import _Final, _Kept, _final, _last_step

    gen = torch.Generator().manual_seed(seed)
    m0, d = 6, 9
    base = torch.randn(m0 // 2, d, generator=gen, dtype=torch.float64)
    noise = 10.0 ** torch.empty(1).uniform_(-12, -4, generator=gen).item()
    W0 = torch.cat([base, base + noise * torch.randn(m0 // 2, d, generator=gen, dtype=torch.float64)])
    hidden = [(W0, torch.zeros(m0, dtype=torch.float64))]
    plan = CrownPlan(hidden, 2.0, d)
    assert plan.gram
    lam = torch.zeros(1, m0 // 2 + 2, m0, dtype=torch.float64)
    for p in range(m0 // 2):
        lam[0, p, p], lam[0, p, p + m0 // 2] = 1.0, -1.0
    lam[0, -2] = torch.randn(m0, generator=gen, dtype=torch.float64)
    lam[0, -1, 0] = 1.0
    idx = torch.arange(m0).unsqueeze(0)
    ones = torch.ones(1, m0, dtype=torch.float64)
    kept = _Kept(idx, ones, ones, torch.zeros_like(ones), torch.zeros_like(ones), 0)
    final = _final(plan, kept, torch.zeros(1, m0, dtype=torch.float64))
    _, norm = _last_step(plan, final, lam.clone(), None)
    for j in range(lam.shape[1]):
        exact = sum(
            sum(Fraction(float(lam[0, j, p])) * Fraction(float(W0[p, i])) for p in range(m0)) ** 2 for i in range(d)
        )
        assert Fraction(float(norm[0, j])) ** 2 >= exact, (j, float(norm[0, j]), float(exact) ** 0.5)


@FAST
@given(case=cases(max_centres=3), norm=st.sampled_from(NORMS), method=st.sampled_from(("ibp", "crown")))
def test_chunking_does_not_change_the_bounds(case, norm, method):
    layers, x, radius, _ = case
    whole = preactivation_bounds(layers, x, radius, norm, method=method)
    one = preactivation_bounds(layers, x, radius, norm, method=method, chunk_size=1)
    for a, b in zip(whole.lower + whole.upper, one.lower + one.upper):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12 * (1 + b.abs().max().item()))


def test_parallel_chunks_give_identical_results():
    """With several threads CROWN runs chunks side by side (one thread each): same bits, threads restored."""
    layers, x = _regime_net(7, d=6, widths=(8, 8, 5))
    x = torch.cat([x] * 5)
    sequential = preactivation_bounds(layers, x, 0.4, "l2", method="crown", chunk_size=2)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        stats = {}
        parallel = preactivation_bounds(layers, x, 0.4, "l2", method="crown", chunk_size=2, stats=stats)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    assert all(torch.equal(a, b) for a, b in zip(sequential.lower + sequential.upper, parallel.lower + parallel.upper))
    assert stats["flops"] > 0


def test_relaxation_lines_are_valid_and_adaptive():
    lower = torch.tensor([[-1.0, -2.0, 0.5, -3.0, -1.0]], dtype=torch.float64)
    upper = torch.tensor([[2.0, 1.0, 1.0, -0.5, 1.0]], dtype=torch.float64)
    alpha_l, d_alpha, beta_u = crown._relaxation(lower, upper)
    alpha_u = alpha_l + d_alpha
    assert alpha_l.tolist() == [[1.0, 0.0, 1.0, 0.0, 0.0]]  # u > -l -> 1; u = -l (tie) -> 0
    z = torch.linspace(0, 1, 101, dtype=torch.float64).unsqueeze(1) * (upper - lower) + lower
    relu = z.clamp_min(0)
    assert (alpha_l * z <= relu + 1e-15).all()
    assert (alpha_u * z + beta_u >= relu - 1e-15).all()
    torch.testing.assert_close((alpha_u * upper + beta_u)[0, [0, 1, 4]], upper[0, [0, 1, 4]])  # the chord


# ----------------------------------------------------------------------------- the LP certificate


@SMALL
@given(case=small_cases, norm=st.sampled_from(NORMS), scale=st.floats(0.0, 3.0), seed=st.integers(0, 2**31 - 1))
def test_lp_certificate_holds_for_any_multipliers(case, norm, scale, seed):
    """Weak duality: for ANY ``y >= 0`` the certificate is below ``c . v`` at every feasible point.

    The feasible points used are the network's own values ``(x', a(x'))`` at points of the ball.
    This checks the certificate's formula independently of any solver.
    """
    layers, x, radius, _ = case
    if len(layers) < 2:
        return
    bounds = preactivation_bounds(layers, x[:1], radius, norm, method="ibp")
    hidden = [(W.numpy(), b.numpy()) for W, b in layers[:-1]]
    lows = [lo[0].numpy() for lo in bounds.lower[:-1]]
    ups = [up[0].numpy() for up in bounds.upper[:-1]]
    program = TriangleProgram(hidden, x[0].numpy(), radius, norm, lows, ups)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    points, _ = sample_ball(x[0], radius, norm, gen, torch.zeros(0, x.shape[1]), torch.zeros(0), n_inside=300, n_surface=100)
    _, post, _ = forward_all(layers[:-1], points)
    V = torch.cat([points] + post, dim=1).numpy()
    c = rng.standard_normal(program.n_vars)
    y_ub = scale * rng.exponential(size=program.A_ub.shape[0])
    y_eq = scale * rng.standard_normal(program.A_eq.shape[0])
    certificate = program.certified_min(c, y_ub, y_eq)
    values = V @ c
    assert certificate <= values.min() + 1e-9 * (1 + np.abs(values).max())
    # and with the solver's multipliers the certificate is at least as good as with none
    best = program.bound(c)
    assert best >= program.certified_min(c, np.zeros_like(y_ub), np.zeros_like(y_eq)) - 1e-9 * (1 + abs(best))
    assert best <= values.min() + 1e-9 * (1 + np.abs(values).max())


def test_lp_falls_back_to_a_sound_bound_when_the_solver_fails(monkeypatch):
    gen = torch.Generator().manual_seed(5)
    layers = [(torch.randn(4, 3, generator=gen, dtype=torch.float64), torch.randn(4, generator=gen, dtype=torch.float64)),
              (torch.randn(2, 4, generator=gen, dtype=torch.float64), torch.randn(2, generator=gen, dtype=torch.float64))]
    x = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    for norm in NORMS:
        good = preactivation_bounds(layers, x, 0.7, norm, method="lp")
        monkeypatch.setattr(TriangleProgram, "multipliers",
                            lambda self, c: (np.zeros(self.A_ub.shape[0]), np.zeros(self.A_eq.shape[0])))
        stats = {}
        fallback = preactivation_bounds(layers, x, 0.7, norm, method="lp", stats=stats)
        monkeypatch.undo()
        ibp_b = preactivation_bounds(layers, x, 0.7, norm, method="ibp")
        # y = 0 is the bound over the domain (the box of the a's): IBP's own second layer.
        torch.testing.assert_close(fallback.lower[1], ibp_b.lower[1], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(fallback.upper[1], ibp_b.upper[1], rtol=1e-12, atol=1e-12)
        assert (good.lower[1] >= fallback.lower[1] - 1e-9).all() and (good.upper[1] <= fallback.upper[1] + 1e-9).all()


# ----------------------------------------------------------------------------- the contract


@FAST
@given(case=cases(), norm=st.sampled_from(NORMS))
def test_alg1_through_method_is_identical_to_the_default(case, norm):
    layers, x, radius, _ = case
    default = local_region_bound(layers, x, radius, norm)
    explicit = local_region_bound(layers, x, radius, norm, method="alg1")
    for field in dataclasses.fields(default):
        a, b = getattr(default, field.name), getattr(explicit, field.name)
        if isinstance(a, list):
            assert len(a) == len(b) and all(torch.equal(p, q) for p, q in zip(a, b)), field.name
        elif isinstance(a, torch.Tensor):
            assert torch.equal(a, b), field.name
        else:
            assert a == b, field.name
    assert default.method == "alg1" and default.lower is None and default.upper is None


@pytest.mark.parametrize("method", ["ALG1", "crown-ibp", "", None, 1])
def test_unknown_method_raises_naming_method(method):
    net = [(torch.eye(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))]
    with pytest.raises(ValueError, match="method"):
        local_region_bound(net, torch.zeros(1, 2), 0.1, method=method)
    with pytest.raises(ValueError, match="method"):
        preactivation_bounds(net, torch.zeros(1, 2), 0.1, method=method)


def test_preactivation_bounds_refuses_alg1_naming_method():
    net = [(torch.eye(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))]
    with pytest.raises(ValueError, match="method"):
        preactivation_bounds(net, torch.zeros(1, 2), 0.1, method="alg1")


@pytest.mark.parametrize("method", ["ibp", "crown", "lp"])
def test_result_shapes_and_validation(method):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.rand(3, 3)
    res = local_region_bound(net, x, 0.2, "l2", method=method)
    assert res.method == method
    assert res.unstable.shape == (3,) and res.unstable.dtype == torch.int64
    assert res.unstable_per_layer.shape == (3, 2)
    assert torch.equal(res.unstable_per_layer.sum(1), res.unstable)
    assert torch.equal(res.log2_bound, res.unstable.double())
    assert [t.shape for t in res.lower] == [(3, 5), (3, 4)] and all(t.dtype == torch.float64 for t in res.upper)
    for S, lo, up in zip(res.S, res.lower, res.upper):
        assert torch.equal(S, ~((lo > 0) | (up < 0)))
        assert (lo <= up).all()
    with pytest.raises(ValueError, match="radius"):
        local_region_bound(net, x, -1.0, method=method)
    with pytest.raises(ValueError, match="norm"):
        local_region_bound(net, x, 0.1, "L2", method=method)
    with pytest.raises(ValueError, match="centers"):
        local_region_bound(net, torch.rand(3, 4), 0.1, method=method)
    with pytest.raises(ValueError, match="chunk_size"):
        local_region_bound(net, x, 0.1, method=method, chunk_size=0)
    empty = local_region_bound(net, x[:0], 0.1, method=method)
    assert empty.unstable.shape == (0,)


def test_ties_follow_the_strict_inequalities():
    """A pre-activation that reaches exactly 0 on the ball's boundary is unstable (like Algorithm 1)."""
    net = [(torch.tensor([[1.0]], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)),
           (torch.tensor([[1.0]], dtype=torch.float64), torch.tensor([-1.0], dtype=torch.float64))]
    x = torch.zeros(1, 1, dtype=torch.float64)
    for method in METHODS:
        res = local_region_bound(net, x, 1.0, "l2", method=method)
        # layer 1: z = x + 1 in [0, 2] touches 0 -> unstable; layer 2: z = relu(x + 1) - 1 in [-1, 1].
        assert res.S[0].tolist() == [[True]], method
        assert res.S[1].tolist() == [[True]], method


def test_doctests_of_the_modules():
    for module in (localregions.relaxations, _common, ibp, crown, lp, localregions.bounds):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__


def test_library_layer_does_not_import_pandas_or_hydra():
    import subprocess
    import sys

    code = ("import sys, torch; import localregions.relaxations, localregions.complexity; "
            "from localregions.relaxations import lp; "
            "bad = [m for m in ('pandas', 'hydra', 'omegaconf') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
