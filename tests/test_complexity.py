"""Local complexity (Humayun et al. 2024): a lower estimate below every sound bound, a brute-force match, reproducibility."""

from __future__ import annotations

import doctest
import itertools
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import localregions.complexity as complexity_module
from localregions.bounds import local_region_bound
from localregions.complexity import cross_polytope_frames, local_complexity

from test_bounds_soundness import cases

NORMS = ("l2", "linf")
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute_force(layers, centre, radius, frame, norm):
    """Per layer, the set of neurons whose sign (-1, 0, +1) is not the same at every vertex; plain Python floats."""
    directions = [[float(v) for v in q] for q in frame]
    if norm == "linf":
        directions = [[v / max(abs(t) for t in q) for v in q] for q in directions]
    vertices = []
    for q, s in itertools.product(directions, (1.0, -1.0)):
        vertices.append([float(c) + s * radius * v for c, v in zip(centre, q)])
    signs_per_layer = [[set() for _ in range(W.shape[0])] for W, _ in layers]
    for vertex in vertices:
        a = vertex
        for k, (W, b) in enumerate(layers):
            z = [sum(float(W[j, i]) * a[i] for i in range(len(a))) + float(b[j]) for j in range(W.shape[0])]
            for j, value in enumerate(z):
                signs_per_layer[k][j].add((value > 0) - (value < 0))
            a = [max(value, 0.0) for value in z]
    return [[len(s) > 1 for s in layer] for layer in signs_per_layer]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(max_depth=3, max_width=5, max_inputs=4, max_centres=2), norm=st.sampled_from(NORMS),
       seed=st.integers(0, 2**20), p=st.integers(1, 4))
def test_matches_a_brute_force_count_on_tiny_nets(case, norm, seed, p):
    layers, x, radius, _ = case
    d = x.shape[1]
    p = min(p, d)
    lc = local_complexity(layers, x, radius, n_directions=p, seed=seed, norm=norm)
    frames = cross_polytope_frames(d, p, seed, range(x.shape[0]))
    for n in range(x.shape[0]):
        expected = brute_force(layers, x[n].tolist(), radius, frames[n], norm)
        for k in range(len(layers)):
            assert lc.changed[k][n].tolist() == expected[k], (n, k)
        assert int(lc.lower_estimate[n]) == sum(map(sum, expected))


@FAST
@given(case=cases(), norm=st.sampled_from(NORMS), seed=st.integers(0, 2**20), method=st.sampled_from(("alg1", "ibp", "crown")))
def test_never_exceeds_the_bound_of_a_sound_method(case, norm, seed, method):
    """Counted neurons take two signs inside the ball, so every sound method flags them S = 1."""
    layers, x, radius, _ = case
    lc = local_complexity(layers, x, radius, n_directions=x.shape[1], seed=seed, norm=norm)
    res = local_region_bound(layers, x, radius, norm, method=method)
    for changed, S in zip(lc.changed, res.S):
        assert not (changed & ~S).any()
    assert (lc.lower_estimate <= res.unstable).all()
    assert torch.equal(lc.per_layer.sum(dim=1), lc.lower_estimate)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(max_depth=3, max_width=6, max_inputs=4, max_centres=2), norm=st.sampled_from(NORMS))
def test_never_exceeds_the_lp_bound(case, norm):
    layers, x, radius, _ = case
    lc = local_complexity(layers, x, radius, n_directions=x.shape[1], norm=norm)
    res = local_region_bound(layers, x, radius, norm, method="lp")
    assert (lc.lower_estimate <= res.unstable).all()


def test_one_layer_full_frame_counts_every_hyperplane_through_the_polytope():
    """On one layer with a full frame, a neuron is counted iff its hyperplane separates two vertices."""
    gen = torch.Generator().manual_seed(1)
    W = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(30, generator=gen, dtype=torch.float64)
    x = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    lc = local_complexity([(W, b)], x, 0.8, n_directions=3, seed=4)
    frames = cross_polytope_frames(3, 3, 4, range(5))
    for n in range(5):
        V = torch.cat([x[n] + 0.8 * frames[n], x[n] - 0.8 * frames[n]])
        Z = V @ W.t() + b
        assert torch.equal(lc.changed[0][n], (Z > 0).any(0) & (Z < 0).any(0))
    # and a hyperplane that misses the ball is never counted: |A| > r ||W||
    A = x @ W.t() + b
    far = A.abs() > 0.8 * torch.linalg.vector_norm(W, dim=1)
    assert not (lc.changed[0] & far).any()


def test_a_vertex_exactly_on_a_hyperplane_counts_as_a_different_sign():
    """As in the authors' code (``torch.sign``), 0 is a sign of its own; and such a neuron is unstable for every method."""
    layers = [(torch.tensor([[1.0], [1.0]], dtype=torch.float64), torch.tensor([-0.5, 3.0], dtype=torch.float64))]
    x = torch.zeros(1, 1, dtype=torch.float64)  # vertices -0.5 and 0.5: the first neuron is -1 and exactly 0
    assert cross_polytope_frames(1, 1, 0, [0]).abs().item() == 1.0
    lc = local_complexity(layers, x, 0.5, n_directions=1)
    assert lc.changed[0].tolist() == [[True, False]]
    for method in ("alg1", "ibp", "crown", "lp"):
        assert local_region_bound(layers, x, 0.5, method=method).S[0].tolist() == [[True, False]]


def test_frames_are_orthonormal_and_reproducible_per_centre():
    F = cross_polytope_frames(7, 4, seed=3, indices=range(6))
    eye = torch.eye(4, dtype=torch.float64)
    for f in F:
        torch.testing.assert_close(f @ f.T, eye, rtol=0, atol=1e-12)
    again = cross_polytope_frames(7, 4, seed=3, indices=[5, 2])
    assert torch.equal(again[0], F[5]) and torch.equal(again[1], F[2])
    other = cross_polytope_frames(7, 4, seed=4, indices=[5])
    assert not torch.allclose(other[0], F[5])
    assert not torch.allclose(F[0], F[1])


@pytest.mark.parametrize("norm", NORMS)
def test_chunking_and_order_do_not_change_results(norm):
    gen = torch.Generator().manual_seed(2)
    layers = [(torch.randn(9, 6, generator=gen, dtype=torch.float64), torch.randn(9, generator=gen, dtype=torch.float64)),
              (torch.randn(5, 9, generator=gen, dtype=torch.float64), torch.randn(5, generator=gen, dtype=torch.float64))]
    x = torch.randn(11, 6, generator=gen, dtype=torch.float64)
    whole = local_complexity(layers, x, 1.0, n_directions=4, seed=9, norm=norm)
    chunked = local_complexity(layers, x, 1.0, n_directions=4, seed=9, norm=norm, chunk_size=3)
    assert torch.equal(whole.lower_estimate, chunked.lower_estimate)
    assert all(torch.equal(a, b) for a, b in zip(whole.changed, chunked.changed))
    # a prefix of the batch gets the same frames
    prefix = local_complexity(layers, x[:4], 1.0, n_directions=4, seed=9, norm=norm)
    assert torch.equal(prefix.lower_estimate, whole.lower_estimate[:4])


def test_linf_vertices_lie_on_the_cube_surface():
    F = cross_polytope_frames(5, 3, seed=0, indices=[0])[0]
    F = F / torch.linalg.vector_norm(F, ord=math.inf, dim=1, keepdim=True)
    assert torch.allclose(F.abs().max(dim=1).values, torch.ones(3, dtype=torch.float64))


def test_default_is_the_full_cross_polytope():
    small = [(torch.randn(3, 6, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))]
    assert local_complexity(small, torch.zeros(1, 6), 0.1).n_directions == 6
    assert local_complexity(small, torch.zeros(1, 6), 0.1, n_directions=2).n_directions == 2


def test_validation_names_the_argument():
    layers = [(torch.eye(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))]
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="n_directions"):
        local_complexity(layers, x, 0.1, n_directions=4)
    with pytest.raises(ValueError, match="n_directions"):
        local_complexity(layers, x, 0.1, n_directions=0)
    with pytest.raises(ValueError, match="seed"):
        local_complexity(layers, x, 0.1, seed=-1)
    with pytest.raises(ValueError, match="radius"):
        local_complexity(layers, x, 0.0)
    with pytest.raises(ValueError, match="norm"):
        local_complexity(layers, x, 0.1, norm="L2")
    with pytest.raises(ValueError, match="centers"):
        local_complexity(layers, torch.zeros(2, 4), 0.1)
    with pytest.raises(ValueError, match="chunk_size"):
        local_complexity(layers, x, 0.1, chunk_size=0)


def test_doctests():
    assert doctest.testmod(complexity_module).failed == 0
