"""Region geometry: activation patterns and the exact distance to a point's region boundary."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from localregions.regions import activation_patterns, boundary_distance


def random_layers(gen, d, widths, zero_rows=False):
    layers = []
    fan_in = d
    for w in widths:
        W = torch.randn(w, fan_in, generator=gen, dtype=torch.float64) / math.sqrt(fan_in)
        b = 0.3 * torch.randn(w, generator=gen, dtype=torch.float64)
        if zero_rows:
            W[0] = 0.0
        layers.append((W, b))
        fan_in = w
    return layers


def unit_directions(n, d, norm, gen):
    g = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return g / torch.linalg.vector_norm(g, ord=2 if norm == "l2" else math.inf, dim=1, keepdim=True)


def first_changes(layers, x, directions, t_max, steps=400, bisections=60):
    """Per direction v, the smallest t in (0, t_max] with a pattern change along x + t v (inf if none seen).

    A grid of ``steps`` points brackets the first change, then bisection narrows it down.
    """
    base = activation_patterns(layers, x.unsqueeze(0))[0]
    m = directions.shape[0]
    ts = torch.linspace(0, t_max, steps + 1, dtype=torch.float64)[1:]
    grid = x + ts.view(1, -1, 1) * directions.unsqueeze(1)  # (m, steps, d)
    changed = (activation_patterns(layers, grid.reshape(-1, x.shape[0])) != base).any(1).view(m, steps)
    found = changed.any(1)
    first = torch.where(found, changed.to(torch.int8).argmax(1), torch.zeros_like(found, dtype=torch.int64))
    hi = ts[first].clone()
    lo = torch.where(first > 0, ts[(first - 1).clamp_min(0)], torch.zeros_like(hi))
    for _ in range(bisections):
        mid = 0.5 * (lo + hi)
        moved = (activation_patterns(layers, x + mid.unsqueeze(1) * directions) != base).any(1)
        hi = torch.where(moved, mid, hi)
        lo = torch.where(moved, lo, mid)
    return torch.where(found, hi, torch.full_like(hi, math.inf))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    d=st.integers(1, 6),
    widths=st.lists(st.integers(1, 8), min_size=1, max_size=3),
    norm=st.sampled_from(["l2", "linf"]),
)
def test_distance_against_brute_force(seed, d, widths, norm):
    gen = torch.Generator().manual_seed(seed)
    layers = random_layers(gen, d, widths)
    x = torch.randn(3, d, generator=gen, dtype=torch.float64)
    dist = boundary_distance(layers, x, norm)
    assert dist.dtype == torch.float64 and dist.shape == (3,)
    for n in range(3):
        dn = float(dist[n])
        if math.isinf(dn):
            continue
        # No pattern change strictly closer than the distance, along random directions ...
        dirs = unit_directions(32, d, norm, gen)
        t = first_changes(layers, x[n], dirs, 3 * dn + 1e-9)
        assert (t >= dn * (1 - 1e-9) - 1e-12).all(), (t.min(), dn)
        # ... nor at random points inside the ball of that radius ...
        inside = x[n] + dirs * (dn * (1 - 1e-7)) * torch.rand(32, 1, generator=gen, dtype=torch.float64)
        base = activation_patterns(layers, x[n : n + 1])
        assert (activation_patterns(layers, inside) == base).all()
        # ... and the nearest point of the closest neuron's hyperplane, pushed just past, changes it.
        assert _nearest_crossing_changes_pattern(layers, x[n], dn, norm)


def _nearest_crossing_changes_pattern(layers, x, dist, norm):
    """Step to the closest hyperplane (in the ball's norm) by dist + eps; the pattern must change."""
    X = x.unsqueeze(0)
    J = None
    best = (math.inf, None, None)
    for k, (W, b) in enumerate(layers):
        A = (X @ W.t() + b)[0]
        J = W if k == 0 else (W * pattern.to(W.dtype)) @ J
        for j in range(W.shape[0]):
            g = J[j]
            gn = float(torch.linalg.vector_norm(g, ord=2 if norm == "l2" else 1))
            if gn > 0 and abs(float(A[j])) / gn < best[0]:
                best = (abs(float(A[j])) / gn, float(A[j]), g)
        pattern = (A > 0)
        X = torch.clamp_min(X @ W.t() + b, 0)
    ratio, a, g = best
    assert math.isclose(ratio, dist, rel_tol=1e-9, abs_tol=1e-15)
    sign = -1.0 if a > 0 else 1.0
    step = g / torch.linalg.vector_norm(g) if norm == "l2" else torch.sign(g)
    t = dist * (1 + 1e-6) + 1e-12
    base = activation_patterns(layers, x.unsqueeze(0))
    past = activation_patterns(layers, (x + sign * t * step).unsqueeze(0))
    return bool((past != base).any())


@pytest.mark.parametrize("norm,order", [("l2", 2), ("linf", 1)])
def test_one_hidden_layer_closed_form(norm, order):
    gen = torch.Generator().manual_seed(1)
    W = torch.randn(9, 4, generator=gen, dtype=torch.float64)
    b = torch.randn(9, generator=gen, dtype=torch.float64)
    x = torch.randn(50, 4, generator=gen, dtype=torch.float64)
    expected = ((x @ W.t() + b).abs() / torch.linalg.vector_norm(W, ord=order, dim=1)).min(1).values
    net = nn.Sequential(nn.Linear(4, 9), nn.ReLU(), nn.Linear(9, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(W)
        net[0].bias.copy_(b)
    torch.testing.assert_close(boundary_distance(net, x, norm), expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(boundary_distance([(W, b)], x, norm, chunk_size=7), expected, rtol=1e-12, atol=0)


def test_linf_distance_is_smaller_than_l2():
    gen = torch.Generator().manual_seed(2)
    layers = random_layers(gen, 5, [8, 8])
    x = torch.randn(30, 5, generator=gen, dtype=torch.float64)
    l2 = boundary_distance(layers, x, "l2")
    linf = boundary_distance(layers, x, "linf")
    # ||v||_inf <= ||v||_2, so the Linf ball of radius ρ contains the L2 ball of radius ρ.
    assert (linf <= l2 * (1 + 1e-12)).all()
    assert (linf >= l2 / math.sqrt(5) * (1 - 1e-12)).all()


def test_inf_when_nothing_varies_and_zero_gradient_neurons_are_skipped():
    W = torch.zeros(3, 2, dtype=torch.float64)
    b = torch.tensor([1.0, -1.0, 0.0], dtype=torch.float64)
    x = torch.randn(4, 2)
    assert torch.isinf(boundary_distance([(W, b)], x)).all()
    # A zero row next to a varying neuron: only the varying one counts.
    W2 = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    b2 = torch.tensor([0.0, -1.0], dtype=torch.float64)
    x2 = torch.tensor([[3.0, 7.0]])
    assert boundary_distance([(W2, b2)], x2).tolist() == [2.0]
    # Every first-layer neuron off: deeper neurons are constant on the region -> inf.
    layers = [(torch.tensor([[1.0, 1.0]]), torch.tensor([-100.0])), (torch.tensor([[2.0]]), torch.tensor([0.5]))]
    d = boundary_distance(layers, torch.zeros(1, 2), "l2")
    assert torch.isclose(d, torch.tensor([100 / math.sqrt(2)], dtype=torch.float64)).all()
    layers = [(torch.zeros(1, 2), torch.tensor([-1.0])), (torch.tensor([[2.0]]), torch.tensor([0.5]))]
    assert torch.isinf(boundary_distance(layers, torch.zeros(1, 2))).all()


def test_point_on_a_boundary_gets_zero():
    W = torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=torch.float64)
    b = torch.tensor([0.0, 3.0], dtype=torch.float64)
    x = torch.tensor([[2.0, 2.0], [0.0, 0.0]])
    assert boundary_distance([(W, b)], x, "l2").tolist() == [0.0, 0.0]
    assert boundary_distance([(W, b)], x, "linf").tolist() == [0.0, 0.0]


def test_activation_patterns():
    W1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    b1 = torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64)
    W2 = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)
    b2 = torch.tensor([-1.0], dtype=torch.float64)
    x = torch.tensor([[2.0, -1.0], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float32)
    pats = activation_patterns([(W1, b1), (W2, b2)], x)
    assert pats.dtype == torch.bool and pats.shape == (3, 4)
    assert pats.tolist() == [
        [True, False, False, True],
        [False, False, False, False],
        [True, True, False, True],
    ]
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 1))
    assert activation_patterns(net, torch.randn(7, 3)).shape == (7, 9)
    assert activation_patterns(net, torch.randn(0, 3)).shape == (0, 9)


def test_chunking_and_bad_input():
    gen = torch.Generator().manual_seed(3)
    layers = random_layers(gen, 4, [6, 5, 7], zero_rows=True)
    x = torch.randn(40, 4, generator=gen, dtype=torch.float64)
    whole = boundary_distance(layers, x)
    torch.testing.assert_close(boundary_distance(layers, x, chunk_size=3), whole, rtol=1e-12, atol=0)
    torch.testing.assert_close(boundary_distance(layers, x, memory_budget_bytes=1), whole, rtol=1e-12, atol=0)
    assert boundary_distance(layers, torch.empty(0, 4)).shape == (0,)
    with pytest.raises(ValueError, match="norm"):
        boundary_distance(layers, x, "l1")
    with pytest.raises(ValueError, match="points"):
        boundary_distance(layers, torch.randn(3, 5))
    with pytest.raises(ValueError, match="chunk_size"):
        boundary_distance(layers, x, chunk_size=0)
