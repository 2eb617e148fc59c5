"""The interval methods in float64 hold for the exact values: checked against exact rational arithmetic.

Nets with small integer weights and integer (or zero) centres make exact ties common: a
pre-activation that is exactly 0 at the centre, or whose maximum over the ball is exactly 0.
Every value here is evaluated with :class:`fractions.Fraction` from the float64 weights, centres
and radius, so a bound that is off by one ulp in the wrong direction fails.  The widening's cost in
tightness is checked on random nets: it changes no decision there.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localregions.bounds import algorithm1_trace, local_region_bound
from localregions.relaxations import _outward, crown, ibp, preactivation_bounds
from localregions.relaxations.lp import TriangleProgram

from test_bounds_soundness import cases

NORMS = ("l2", "linf")
INTERVAL_METHODS = ("ibp", "crown", "lp")


# ----------------------------------------------------------------------------- exact arithmetic


def exact_net(layers):
    """The float64 weights and biases as Fractions (exact)."""
    return [([[Fraction(w) for w in row] for row in W.tolist()], [Fraction(v) for v in b.tolist()]) for W, b in layers]


def exact_preactivations(net, point):
    """Every hidden layer's pre-activations at ``point`` (a list of Fractions), exactly."""
    pre, a = [], point
    for W, b in net:
        z = [sum((w * v for w, v in zip(row, a)), Fraction(0)) + bj for row, bj in zip(W, b)]
        pre.append(z)
        a = [max(v, Fraction(0)) for v in z]
    return pre


def ball_points(centre, radius, norm, seed, vertices=8):
    """Exact points of the ball: the centre, ``centre +/- r e_i``, and (L-infinity) random vertices."""
    c = [Fraction(v) for v in centre.tolist()]
    r = Fraction(radius)
    points = [c]
    for i in range(len(c)):
        for s in (1, -1):
            p = list(c)
            p[i] += s * r
            points.append(p)
    if norm == "linf":
        rng = np.random.default_rng(seed)
        for signs in rng.choice([-1, 1], size=(vertices, len(c))):
            points.append([v + int(s) * r for v, s in zip(c, signs)])
    return points


@st.composite
def integer_cases(draw, max_depth=4, max_width=8, max_inputs=5, max_centres=2):
    """Integer weights and biases in [-2, 2], integer centres in [-1, 1] (or 0), any radius."""
    depth = draw(st.integers(1, max_depth))
    d = draw(st.integers(1, max_inputs))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    layers, fan_in = [], d
    for _ in range(depth):
        w = draw(st.integers(1, max_width))
        W = torch.randint(-2, 3, (w, fan_in), generator=gen).double()
        b = torch.randint(-2, 3, (w,), generator=gen).double() * draw(st.sampled_from([0.0, 1.0]))
        layers.append((W, b))
        fan_in = w
    n = draw(st.integers(1, max_centres))
    x = torch.randint(-1, 2, (n, d), generator=gen).double()
    if draw(st.booleans()):
        x[0] = 0.0
    radius = draw(st.one_of(st.floats(1e-3, 3.0), st.sampled_from([0.08659643233600653, 0.1, 1 / 3, 0.5, 1.0, 0.3])))
    return layers, x, radius, draw(st.integers(0, 2**31 - 1))


def check_against_exact(layers, x, radius, norm, seed, method):
    """Every exact pre-activation at exact points of each ball lies in the method's interval; ties are unstable."""
    net = exact_net(layers)
    res = local_region_bound(layers, x, radius, norm, method=method)
    if method == "alg1":
        _, trace = algorithm1_trace(layers, x, radius, norm)
        lower = [A - u - e for A, u, e in zip(trace.A, trace.u, trace.A_error)]
        upper = [A + u + e for A, u, e in zip(trace.A, trace.u, trace.A_error)]
        centre, error = trace.A, trace.A_error
    else:
        bounds = preactivation_bounds(layers, x, radius, norm, method=method)
        lower, upper, centre, error = bounds.lower, bounds.upper, bounds.centre, bounds.centre_error
        for lo, up, rlo, rup in zip(lower, upper, res.lower, res.upper):
            assert torch.equal(lo, rlo) and torch.equal(up, rup)
    for n in range(x.shape[0]):
        points = ball_points(x[n], radius, norm, seed)
        values = [exact_preactivations(net, p) for p in points]
        at_centre = values[0]
        for k in range(len(layers)):
            for j in range(layers[k][0].shape[0]):
                exact = at_centre[k][j]
                where = (method, norm, n, k, j)
                # The centre's value and its error bound.
                assert abs(Fraction(float(centre[k][n, j])) - exact) <= Fraction(float(error[k][n, j])), where
                # The interval holds the exact value at every point.
                lo, up = Fraction(float(lower[k][n, j])), Fraction(float(upper[k][n, j]))
                assert all(lo <= v[k][j] <= up for v in values), where
                # A stable neuron keeps the exact centre's sign strictly, at every point; an exact tie is unstable.
                if not bool(res.S[k][n, j]):
                    assert exact != 0, where
                    assert all((v[k][j] > 0) == (exact > 0) and v[k][j] != 0 for v in values), where
                # U bounds the exact outputs' deviation.
                U = Fraction(float(res.U[k][n, j]))
                assert all(abs(max(v[k][j], 0) - max(exact, 0)) <= U for v in values), where


EXACT = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@EXACT
@given(case=integer_cases(), norm=st.sampled_from(NORMS), method=st.sampled_from(("alg1", "ibp", "crown")))
def test_decisions_and_intervals_hold_for_the_exact_values(case, norm, method):
    layers, x, radius, seed = case
    check_against_exact(layers, x, radius, norm, seed, method)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=integer_cases(max_depth=3, max_width=5, max_inputs=4, max_centres=1), norm=st.sampled_from(NORMS))
def test_lp_decisions_and_intervals_hold_for_the_exact_values(case, norm):
    layers, x, radius, seed = case
    check_against_exact(layers, x, radius, norm, seed, "lp")


# ----------------------------------------------------------------------------- the same formulas, exactly


def _exceeds_norm(lhs, r, vector, norm):
    """``lhs >= r ||vector||_dual`` decided exactly (the L2 norm by squares)."""
    if norm == "linf":
        return lhs >= r * sum(abs(v) for v in vector)
    return lhs >= 0 and lhs * lhs >= r * r * sum(v * v for v in vector)


def exact_crown_ends(layers, net, centre, r, norm, lower, upper, k, n):
    """Check CROWN's widened ends of layer ``k`` against its formula evaluated exactly on the same float inputs.

    The inputs are the earlier layers' (widened, float) intervals, from which the float lines of
    :func:`crown._relaxation` are taken; the backward pass, the sign choices and the last step
    are done in exact arithmetic.  Returns nothing; asserts ``lower <= exact lower formula`` and
    ``upper >= exact upper formula`` for every neuron of layer ``k``.
    """
    lines = []
    for i in range(k):
        alpha_l, d_alpha, beta = crown._relaxation(lower[i][n:n + 1], upper[i][n:n + 1])
        lines.append([(Fraction(float(al)), Fraction(float(al + da)), Fraction(float(be)))
                      for al, da, be in zip(alpha_l[0], d_alpha[0], beta[0])])
    A0 = exact_preactivations(net, centre)[0]
    Wk, bk = net[k]
    for j in range(len(Wk)):
        for sign in (1, -1):
            lam, const = list(Wk[j]), bk[j]
            for i in range(k - 1, -1, -1):
                mu = []
                for coefficient, (al, au, be) in zip(lam, lines[i]):
                    upper_line = (coefficient > 0) == (sign > 0)
                    mu.append(coefficient * (au if upper_line else al))
                    if upper_line:
                        const += coefficient * be
                if i == 0:
                    break
                W, b = net[i]
                const += sum((m * bp for m, bp in zip(mu, b)), Fraction(0))
                lam = [sum((m * W[p][q] for p, m in enumerate(mu)), Fraction(0)) for q in range(len(W[0]))]
            W0 = net[0][0]
            vector = [sum((m * W0[p][q] for p, m in enumerate(mu)), Fraction(0)) for q in range(len(W0[0]))]
            value = const + sum((m * a for m, a in zip(mu, A0)), Fraction(0))
            if sign > 0:  # upper >= value + r ||vector||
                assert _exceeds_norm(Fraction(float(upper[k][n, j])) - value, Fraction(r), vector, norm), (k, j, "upper")
            else:  # lower <= value - r ||vector||
                assert _exceeds_norm(value - Fraction(float(lower[k][n, j])), Fraction(r), vector, norm), (k, j, "lower")


def exact_ibp_ends(net, centre, r, norm, lower, upper, k, n):
    """IBP's widened ends against ``W+ lo + W- hi + b`` (and the first layer's ``A* -/+ r ||W||``), exactly."""
    W, b = net[k]
    if k == 0:
        A = exact_preactivations(net, centre)[0]
        for j, row in enumerate(W):
            assert _exceeds_norm(Fraction(float(upper[0][n, j])) - A[j], Fraction(r), row, norm), (0, j)
            assert _exceeds_norm(A[j] - Fraction(float(lower[0][n, j])), Fraction(r), row, norm), (0, j)
        return
    lo = [max(Fraction(float(v)), Fraction(0)) for v in lower[k - 1][n].tolist()]
    hi = [max(Fraction(float(v)), Fraction(0)) for v in upper[k - 1][n].tolist()]
    for j, row in enumerate(W):
        top = sum((w * (h if w > 0 else l) for w, l, h in zip(row, lo, hi)), Fraction(0)) + b[j]
        bottom = sum((w * (l if w > 0 else h) for w, l, h in zip(row, lo, hi)), Fraction(0)) + b[j]
        assert Fraction(float(upper[k][n, j])) >= top and Fraction(float(lower[k][n, j])) <= bottom, (k, j)


FORMULA = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FORMULA
@given(case=st.one_of(integer_cases(max_width=6), cases(max_depth=4, max_width=6, max_inputs=5)),
       norm=st.sampled_from(NORMS), method=st.sampled_from(("ibp", "crown")))
def test_widened_ends_are_beyond_the_exact_formula(case, norm, method):
    """Each end is beyond the value its own formula takes in exact arithmetic on the same float inputs.

    This is what the rounding bound ``E`` proves (:mod:`localregions.relaxations._outward`), checked
    directly: without the widening about half of the ends fall on the wrong side by an ulp or more.
    """
    layers, x, radius, _ = case
    b = preactivation_bounds(layers, x, radius, norm, method=method)
    net = exact_net(layers)
    for n in range(x.shape[0]):
        centre = [Fraction(v) for v in x[n].tolist()]
        for k in range(len(layers)):
            if method == "ibp" or k == 0:
                exact_ibp_ends(net, centre, radius, norm, b.lower, b.upper, k, n)
            else:
                exact_crown_ends(layers, net, centre, radius, norm, b.lower, b.upper, k, n)


# ----------------------------------------------------------------------------- the case hypothesis found


def _tie_net():
    """A 5-1-13-15 net whose last neuron is exactly 0 at the centre 0 and at most 0 on the ball.

    Found by hypothesis (tests/test_complexity.py): CROWN computed its upper bound as -2.2e-16 and
    declared it stably inactive, while the local complexity saw it switch.
    """
    W1 = torch.tensor([[2., -1., 1., -2., -1.]], dtype=torch.float64)
    W2 = torch.tensor([[2.], [2.], [1.], [1.], [-2.], [0.], [-2.], [0.], [2.], [0.], [0.], [0.], [0.]], dtype=torch.float64)
    b2 = torch.tensor([0., -1., 1., 2., 2., -2., -1., 1., -2., 0., -2., 0., 2.], dtype=torch.float64)
    W3 = torch.tensor([
        [1, -2, 2, -2, -1, -2, 2, 0, 1, 1, 0, 0, 0], [0, 2, 2, 0, 1, 2, -2, 0, 2, -2, 0, 2, -1],
        [-1, 2, 0, 2, -1, 1, -1, 1, 0, 2, -2, 2, -2], [-2, -2, 0, 2, -2, -2, -1, 1, 2, 2, 2, 1, -2],
        [2, 1, 0, 1, -1, 0, 1, -1, 2, 0, 0, 2, -2], [-2, 2, 2, -2, 1, 2, -2, -2, 2, -1, 2, -1, -2],
        [2, 0, 1, 0, -2, 2, -2, -1, 1, -1, 0, -2, 1], [1, 0, 2, 1, 1, -1, -2, -1, 2, 2, 2, -1, -1],
        [0, 0, 2, 0, 1, -2, 2, 0, -2, 2, 2, 1, 1], [1, 2, -1, 1, -2, 1, 2, -1, 0, 1, 1, 2, -1],
        [2, -2, 1, 2, 2, -1, 1, -2, -1, 2, -2, 0, 1], [1, 0, -2, 1, 2, 2, 0, 1, -2, -2, 0, -2, -1],
        [-1, 1, 0, -2, -2, 0, 1, -2, 1, -2, 2, -1, 2], [-2, -2, -1, 2, 0, 2, 1, 0, 1, 1, -2, 1, -2],
        [0, 2, 1, -2, 2, -2, 2, 0, -2, 0, 1, 1, -1]], dtype=torch.float64)
    b3 = torch.tensor([-2., -1., 0., 2., -1., 1., -1., 2., 2., -2., -1., 1., 0., -1., 1.], dtype=torch.float64)
    return [(W1, torch.zeros(1, dtype=torch.float64)), (W2, b2), (W3, b3)]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("method", ("alg1", *INTERVAL_METHODS))
def test_the_tie_hypothesis_found_is_unstable(method, norm):
    layers = _tie_net()
    x = torch.zeros(1, 5, dtype=torch.float64)
    radius = 0.08659643233600653
    assert exact_preactivations(exact_net(layers), [Fraction(0)] * 5)[2][14] == 0
    res = local_region_bound(layers, x, radius, norm, method=method)
    assert bool(res.S[2][0, 14]), (method, norm)
    if method != "alg1":
        assert float(res.lower[2][0, 14]) < 0 <= float(res.upper[2][0, 14])
    check_against_exact(layers, x, radius, norm, 0, method)


# ----------------------------------------------------------------------------- the pieces


@settings(max_examples=300, deadline=None)
@given(lower=st.floats(-1e6, -1e-300), upper=st.floats(1e-300, 1e6))
def test_crown_upper_line_is_above_relu_exactly(lower, upper):
    """With the computed slope, ``alpha_U z + beta_U >= relu(z)`` at both ends of ``[l, u]`` in exact arithmetic."""
    lo = torch.tensor([[lower]], dtype=torch.float64)
    up = torch.tensor([[upper]], dtype=torch.float64)
    alpha_l, d_alpha, beta_u = crown._relaxation(lo, up)
    a, b = Fraction(float(alpha_l + d_alpha)), Fraction(float(beta_u))
    assert a * Fraction(lower) + b >= 0
    assert a * Fraction(upper) + b >= Fraction(upper)
    assert float(alpha_l) in (0.0, 1.0) and 0.0 <= float(alpha_l + d_alpha) <= 1.0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=integer_cases(max_depth=3, max_width=5, max_inputs=4, max_centres=1), norm=st.sampled_from(NORMS),
       seed=st.integers(0, 2**31 - 1))
def test_lp_rows_and_certificate_hold_exactly_at_true_points(case, norm, seed):
    """Every row of the float program holds exactly at the net's own points, and the certificate is below ``c . v`` there."""
    layers, x, radius, _ = case
    if len(layers) < 2:
        return
    hidden = layers[:-1]
    bounds = preactivation_bounds(hidden, x, radius, norm, method="ibp")
    program = TriangleProgram([(W.numpy(), b.numpy()) for W, b in hidden], x[0].numpy(), radius, norm,
                              [lo[0].numpy() for lo in bounds.lower], [up[0].numpy() for up in bounds.upper])
    net = exact_net(hidden)
    A_ub = [[Fraction(v) for v in row] for row in program.A_ub.tolist()]
    A_eq = [[Fraction(v) for v in row] for row in program.A_eq.tolist()]
    rng = np.random.default_rng(seed)
    c = rng.integers(-3, 4, size=program.n_vars).astype(np.float64)
    certificate = Fraction(program.bound(c))
    for p in ball_points(x[0], radius, norm, seed):
        v = p + [max(z, Fraction(0)) for layer in exact_preactivations(net, p) for z in layer]
        for row, rhs in zip(A_ub, program.b_ub.tolist()):
            assert sum(a * t for a, t in zip(row, v)) <= Fraction(rhs)
        for row, rhs in zip(A_eq, program.b_eq.tolist()):
            assert sum(a * t for a, t in zip(row, v)) == Fraction(rhs)
        assert certificate <= sum(Fraction(ci) * t for ci, t in zip(c.tolist(), v))


def _float_outward(q: Fraction, direction: float) -> float:
    """The float nearest to ``q`` on the side ``direction`` (-inf: at most ``q``, +inf: at least ``q``)."""
    f = float(q)
    if (Fraction(f) > q and direction < 0) or (Fraction(f) < q and direction > 0):
        f = float(np.nextafter(f, direction))
    return f


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 4), m=st.integers(1, 4), scale=st.floats(1e-3, 1e3),
       radius=st.floats(1e-3, 2.0))
def test_lp_rows_hold_exactly_on_intervals_tight_to_the_ulp(seed, d, m, scale, radius):
    """The rows of the program are valid as floats even where the intervals are the exact range rounded to the next float.

    (The methods' own intervals are wider by their rounding bound, which would hide an invalid
    row.)  Checked at the points where each neuron reaches its extremes (vertices of the
    L-infinity ball) and at the centre, in exact arithmetic.
    """
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((m, d))
    b = rng.standard_normal(m) * scale
    x0 = rng.standard_normal(d)
    Wf, bf, xf, r = [[Fraction(w) for w in row] for row in W.tolist()], [Fraction(v) for v in b], [Fraction(v) for v in x0], Fraction(radius)
    centre = [sum((w * v for w, v in zip(row, xf)), Fraction(0)) + bj for row, bj in zip(Wf, bf)]
    spread = [r * sum(abs(w) for w in row) for row in Wf]
    lower = np.array([_float_outward(c - s, -np.inf) for c, s in zip(centre, spread)])
    upper = np.array([_float_outward(c + s, np.inf) for c, s in zip(centre, spread)])
    program = TriangleProgram([(W, b)], x0, radius, "linf", [lower], [upper])
    points = [xf] + [[v + sign * r * (1 if w > 0 else -1) for v, w in zip(xf, row)] for row in Wf for sign in (1, -1)]
    A_ub = [[Fraction(v) for v in row] for row in program.A_ub.tolist()]
    A_eq = [[Fraction(v) for v in row] for row in program.A_eq.tolist()]
    for p in points:
        v = p + [max(z, Fraction(0)) for z in exact_preactivations([(Wf, bf)], p)[0]]
        for row, rhs in zip(A_ub, program.b_ub.tolist()):
            assert sum(a * t for a, t in zip(row, v)) <= Fraction(rhs)
        for row, rhs in zip(A_eq, program.b_eq.tolist()):
            assert sum(a * t for a, t in zip(row, v)) == Fraction(rhs)


# ----------------------------------------------------------------------------- what the widening costs


def _paper_size_net(seed, d=36, widths=(32, 32, 32)):
    gen = torch.Generator().manual_seed(seed)
    layers, fan = [], d
    for w in widths:
        layers.append((0.1 * torch.randn(w, fan, generator=gen, dtype=torch.float64),
                       0.1 * torch.randn(w, generator=gen, dtype=torch.float64)))
        fan = w
    return layers, torch.rand(200, d, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("norm,radius", [("l2", 0.4), ("l2", 2.0), ("linf", 0.1)])
def test_widening_changes_no_decision_on_random_paper_size_nets(monkeypatch, norm, radius):
    """The widened intervals contain the unwidened ones, within 1e-12 of the magnitudes, and flag the same neurons.

    (The unwidened ones: the same code with :func:`_outward.widen` made the identity.)  Every
    decision here is far from a tie, so none may change; an error bound grown a millionfold
    would fail the distance check.
    """
    for seed in range(2):
        layers, x = _paper_size_net(seed)
        widened = {m: preactivation_bounds(layers, x, radius, norm, method=m) for m in ("ibp", "crown")}
        with monkeypatch.context() as patch:
            for module in (_outward, ibp, crown):
                patch.setattr(module, "widen", lambda lo, up, err: (lo, up))
            plain = {m: preactivation_bounds(layers, x, radius, norm, method=m) for m in ("ibp", "crown")}
        for m in widened:
            for k, (lo, up, plo, pup) in enumerate(zip(widened[m].lower, widened[m].upper, plain[m].lower, plain[m].upper)):
                scale = 1.0 + plo.abs() + pup.abs()
                assert (lo <= plo).all() and (up >= pup).all(), (m, k)
                assert ((plo - lo) <= 1e-12 * scale).all() and ((up - pup) <= 1e-12 * scale).all(), (m, k)
                assert torch.equal((lo > 0) | (up < 0), (plo > 0) | (pup < 0)), (m, k)
                assert bool(((lo < 0) & (up > 0)).any()), (m, k)  # the regime has unstable neurons


def test_first_layer_widening_is_a_few_ulps():
    W = torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    layers = [(W, torch.tensor([0.5], dtype=torch.float64))]
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    b = preactivation_bounds(layers, x, 0.25, "linf", method="ibp")
    # exact: 1.5 -/+ 0.25 * 4 = [0.5, 2.5]; E_1 = gamma_12 (|x| |W| + |b| + r ||W||_1) ~ 1.3e-15 * 6.5
    assert 0.5 - 2e-14 < float(b.lower[0]) < 0.5 and 2.5 < float(b.upper[0]) < 2.5 + 2e-14
    assert math.isclose(float(b.centre[0]), 1.5) and 0 < float(b.centre_error[0]) < 1e-14
