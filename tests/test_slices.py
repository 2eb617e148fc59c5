"""Exact 2-D slices: the polygons tile the window, carry the patterns of the points inside them, and
inside the disc of the ball they are exactly the regions the exact counter finds on that plane."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from torch import nn

from localregions import RegionBudgetExceeded, exact_region_count
from localregions.polygons import clip_lines, pad, split_by_lines
from localregions.regions import activation_patterns
from localregions.slices import (
    SlicePlane,
    disc_regions,
    gradient_plane,
    network_on_plane,
    output_gradient,
    plane_through_points,
    random_plane,
    slice_partition,
    slice_plane,
)


def random_network(seed: int, inputs: int, widths: list[int], outputs: int = 1) -> nn.Sequential:
    generator = torch.Generator().manual_seed(seed)
    modules, fan_in = [], inputs
    for width in [*widths, outputs]:
        linear = nn.Linear(fan_in, width).double()
        with torch.no_grad():
            linear.weight.copy_(torch.randn(width, fan_in, generator=generator, dtype=torch.float64) / math.sqrt(fan_in))
            linear.bias.copy_(0.5 * torch.randn(width, generator=generator, dtype=torch.float64))
        modules += [linear, nn.ReLU()]
        fan_in = width
    return nn.Sequential(*modules[:-1])


def restricted(network: nn.Sequential, plane: SlicePlane) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The hidden layers on the plane, built here from the definition (not with network_on_plane)."""
    linears = [m for m in network if isinstance(m, nn.Linear)][:-1]
    basis, center = torch.from_numpy(plane.basis), torch.from_numpy(plane.center)
    first = linears[0]
    layers = [(first.weight.detach() @ basis, first.bias.detach() + first.weight.detach() @ center)]
    return layers + [(m.weight.detach(), m.bias.detach()) for m in linears[1:]]


def inside_margin(polygon: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Signed distance of each point inside the convex counter-clockwise polygon (negative: outside)."""
    edges = np.roll(polygon, -1, axis=0) - polygon
    normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1) / np.linalg.norm(edges, axis=1, keepdims=True)
    return ((points[:, None, :] - polygon[None]) * normals[None]).sum(axis=2).min(axis=1)


networks = st.tuples(
    st.integers(0, 2**31 - 1),                          # seed
    st.integers(2, 7),                                  # inputs
    st.lists(st.integers(1, 7), min_size=1, max_size=3),  # hidden widths
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=networks, half=st.floats(0.2, 4.0))
def test_polygons_tile_the_window_and_hold_exactly_the_points_of_their_pattern(net, half):
    seed, inputs, widths = net
    network = random_network(seed, inputs, widths)
    plane = random_plane(torch.randn(inputs, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), seed)
    partition = slice_partition(network, plane, (-half, half, -0.5 * half, 1.5 * half))
    areas = partition.areas()
    assert (areas > 0).all()
    assert areas.sum() == pytest.approx(2 * half * 2 * half, rel=1e-9)
    for polygon in partition.polygons():  # convex, counter-clockwise
        edges = np.roll(polygon, -1, axis=0) - polygon
        turns = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
        assert (turns >= -1e-9 * half**2).all()
    assert len(np.unique(partition.patterns, axis=0)) == len(partition)

    samples = np.random.default_rng(seed).uniform([-half, -0.5 * half], [half, 1.5 * half], size=(3000, 2))
    sample_patterns = activation_patterns(network, torch.from_numpy(plane.to_input(samples))).numpy()
    owner = {pattern.tobytes(): index for index, pattern in enumerate(partition.patterns)}
    for point, pattern in zip(samples, sample_patterns):
        index = owner.get(pattern.tobytes())
        assert index is not None, "a sample's pattern is no polygon's"
        assert inside_margin(partition.polygon(index), point[None])[0] > -1e-9 * half


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=networks, radius=st.floats(0.05, 3.0))
def test_regions_in_the_disc_are_the_exact_count_on_the_plane(net, radius):
    seed, inputs, widths = net
    network = random_network(seed, inputs, widths)
    center = torch.randn(inputs, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    plane = random_plane(center, seed)
    partition = slice_partition(network, plane, 1.25 * radius)
    distances = partition.distances_to_center()
    # A polygon grazing the rim is where the two counters' tolerances may legitimately differ.
    assume(not np.any(np.abs(distances - radius) < 1e-5 * radius))
    exact = exact_region_count(restricted(network, plane), torch.zeros(2), radius, max_regions=100_000, tolerance=1e-9)
    assert exact.complete
    assert len(disc_regions(partition, radius)) == exact.count


def certified_inner_radius(polygon: np.ndarray, radius: float) -> float:
    """A lower bound on the radius of the largest disc inside polygon and the disc of ``radius``.

    An LP (Chebyshev centre) with the disc replaced by the 64-gon inscribed in it, which lies inside it.
    """
    edges = np.roll(polygon, -1, axis=0) - polygon
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1) / np.linalg.norm(edges, axis=1, keepdims=True)  # outward
    angles = 2 * np.pi * np.arange(64) / 64
    disc_normals = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    apothem = math.cos(math.pi / 64)
    # normals . c + rho <= normals . v (polygon);  disc_normals . c + apothem * rho <= apothem * radius.
    a_ub = np.vstack([np.hstack([normals, np.ones((len(normals), 1))]),
                      np.hstack([disc_normals, np.full((64, 1), apothem)])])
    b_ub = np.concatenate([(normals * polygon).sum(axis=1), np.full(64, apothem * radius)])
    result = linprog([0, 0, -1], A_ub=a_ub, b_ub=b_ub, bounds=[(None, None), (None, None), (0, None)], method="highs")
    return max(0.0, -result.fun) if result.status == 0 else 0.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), widths=st.lists(st.integers(1, 4), min_size=1, max_size=2))
def test_regions_in_the_disc_are_the_patterns_of_a_fine_grid_where_cells_are_large(seed, widths):
    network = random_network(seed, 5, widths)
    plane = random_plane(torch.zeros(5, dtype=torch.float64), seed)
    radius, steps = 1.5, 601
    partition = slice_partition(network, plane, radius)
    slice_patterns = {partition.patterns[i].tobytes() for i in disc_regions(partition, radius)}
    axis = np.linspace(-radius, radius, steps)
    spacing = axis[1] - axis[0]
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    grid = grid[np.linalg.norm(grid, axis=1) < radius]
    grid_patterns = {row.tobytes() for row in activation_patterns(network, torch.from_numpy(plane.to_input(grid))).numpy()}
    large = {partition.patterns[i].tobytes() for i in disc_regions(partition, radius)
             if certified_inner_radius(partition.polygon(i), radius) > spacing}
    assert grid_patterns <= slice_patterns
    assert large <= grid_patterns
    if large == slice_patterns:  # every cell large: the grid finds them all, and nothing else
        assert grid_patterns == slice_patterns
        assert len(disc_regions(partition, radius)) == len(grid_patterns)


def test_on_many_hidden_random_nets_the_disc_count_is_the_exact_count_and_the_fine_grid_s():
    """Issue 25's "done when": on random nets the slice's count in the disc equals the exact counter's on that plane
    and the number of patterns a fine grid of the disc finds, wherever every cell is large enough for the grid."""
    radius, steps = 1.5, 401
    axis = np.linspace(-radius, radius, steps)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    grid = grid[np.linalg.norm(grid, axis=1) < radius]
    checked, counts = 0, []
    for seed in range(60):
        widths = [[3], [5], [4, 3], [3, 3, 2]][seed % 4]
        network = random_network(1000 + seed, 6, widths)
        plane = random_plane(torch.randn(6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), seed)
        partition = slice_partition(network, plane, radius)
        inside = disc_regions(partition, radius)
        exact = exact_region_count(restricted(network, plane), torch.zeros(2), radius, max_regions=100_000)
        assert exact.complete and len(inside) == exact.count, seed
        if all(certified_inner_radius(partition.polygon(i), radius) > axis[1] - axis[0] for i in inside):
            patterns = activation_patterns(network, torch.from_numpy(plane.to_input(grid))).numpy()
            codes = patterns.astype(np.int64) @ (1 << np.arange(patterns.shape[1], dtype=np.int64))  # one int per pattern
            assert len(np.unique(codes)) == len(inside), seed
            checked += 1
        counts.append(len(inside))
    # The comparison with the grid is not vacuous: most nets have only large cells, and many regions in the disc.
    assert checked >= 45 and max(counts) >= 8 and np.median(counts) >= 3, (checked, counts)


def relu_inputs(module: nn.Module, inputs: torch.Tensor) -> np.ndarray:
    """The activation pattern of every ReLU of a torch module, by forward hooks (no folding involved)."""
    seen = []
    hooks = [m.register_forward_hook(lambda _, args, __: seen.append(args[0].flatten(1) > 0))
             for m in module.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        module(inputs)
    for hook in hooks:
        hook.remove()
    return torch.cat(seen, dim=1).numpy()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), radius=st.floats(0.1, 1.0))
def test_a_conv_net_s_slice_has_the_module_s_patterns_and_the_exact_count_in_the_disc(seed, radius):
    torch.manual_seed(seed)
    cnn = nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)).double().eval()
    center = torch.randn(16, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    plane = random_plane(center, seed)
    partition = slice_partition(cnn, plane, 1.5 * radius)
    samples = np.random.default_rng(seed).uniform(-1.5 * radius, 1.5 * radius, size=(2000, 2))
    owner = {pattern.tobytes(): index for index, pattern in enumerate(partition.patterns)}
    for point, pattern in zip(samples, relu_inputs(cnn, torch.from_numpy(plane.to_input(samples)))):
        index = owner.get(pattern.tobytes())
        assert index is not None, "a sample's pattern (from the conv modules) is no polygon's"
        assert inside_margin(partition.polygon(index), point[None])[0] > -1e-9 * radius
    assume(not np.any(np.abs(partition.distances_to_center() - radius) < 1e-5 * radius))
    exact = exact_region_count(network_on_plane(cnn, plane), torch.zeros(2), radius, max_regions=100_000)
    assert exact.complete and len(disc_regions(partition, radius)) == exact.count
    # Two logits: the decision boundary is where the module's own two outputs tie.
    if len(partition.boundary):
        with torch.no_grad():
            logits = cnn(torch.from_numpy(plane.to_input(partition.boundary.reshape(-1, 2)))).numpy()
        assert np.abs(logits[:, 0] - logits[:, 1]).max() < 1e-9


def test_lines_through_a_vertex_and_through_the_window_corners_make_no_sliver():
    # Three lines through the origin (s = 0, t = 0, s = t) and one through two corners of the window.
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0], [1.0, 1.0]], dtype=torch.float64)
    bias = torch.zeros(4, dtype=torch.float64)
    plane = slice_plane([0.0, 0.0], [1.0, 0.0], [0.0, 1.0])
    partition = slice_partition([(weight, bias)], plane, 1.0)
    assert len(partition) == 8
    assert partition.areas() == pytest.approx(np.full(8, 0.5))
    assert len(disc_regions(partition, 0.5)) == 8


def test_a_line_along_an_edge_or_missing_the_window_cuts_nothing():
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    bias = torch.tensor([1.0, -3.0], dtype=torch.float64)  # s = -1 is the window's edge, t = 3 is outside
    partition = slice_partition([(weight, bias)], slice_plane([0.0, 0.0], [1.0, 0.0], [0.0, 1.0]), 1.0)
    assert len(partition) == 1
    assert partition.patterns.tolist() == [[True, False]]


@pytest.mark.parametrize(("constant", "active"), [(0.7, True), (-0.7, False), (0.0, False)])
def test_a_neuron_constant_on_the_plane_takes_its_sign_and_cuts_nothing(constant, active):
    # Neuron 0 depends only on the third input, which the plane (first two axes) does not move.
    weight = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    bias = torch.tensor([constant, 0.0], dtype=torch.float64)
    partition = slice_partition([(weight, bias)], slice_plane([0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]), 1.0)
    assert len(partition) == 2
    assert set(partition.patterns[:, 0].tolist()) == {active}


def test_a_zero_or_parallel_direction_is_refused_by_name():
    with pytest.raises(ValueError, match="first direction is zero"):
        slice_plane([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="second direction is zero"):
        slice_plane([0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="parallel"):
        slice_plane([0.0, 0.0, 0.0], [1.0, 2.0, 0.0], [-2.0, -4.0, 0.0])
    with pytest.raises(ValueError, match="parallel"):
        plane_through_points([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [3.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="second has 2 entries"):
        slice_plane([0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        slice_plane([0.0, float("nan")], [1.0, 0.0], [0.0, 1.0])


def test_bad_windows_budgets_and_discs_are_refused():
    network = random_network(0, 3, [4])
    plane = random_plane(np.zeros(3), 0)
    with pytest.raises(ValueError, match="window"):
        slice_partition(network, plane, (1.0, -1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="window"):
        slice_partition(network, plane, -1.0)
    with pytest.raises(ValueError, match="plane lies in 3 dimensions"):
        slice_partition(random_network(0, 4, [4]), plane, 1.0)
    with pytest.raises(RegionBudgetExceeded, match="max_regions=2"):
        slice_partition(random_network(0, 3, [30]), plane, 10.0, max_regions=2)
    with pytest.raises(ValueError, match="outside the window"):
        disc_regions(slice_partition(network, plane, 1.0), 1.5)


def test_the_plane_records_its_directions_and_points():
    center = np.array([1.0, -2.0, 0.5, 3.0])
    first, second = np.array([4.0, 5.0, 6.0, 7.0]), np.array([-1.0, 0.0, 2.0, 1.0])
    plane = plane_through_points(center, first, second)
    assert plane.basis.T @ plane.basis == pytest.approx(np.eye(2))
    # The two points lie on the plane, at the coordinates it records, at their true distance from center.
    assert plane.to_input(plane.directions.T) == pytest.approx(np.stack([first, second]))
    assert plane.distances(np.stack([first, second])) == pytest.approx([0.0, 0.0], abs=1e-12)
    assert np.linalg.norm(plane.directions[:, 0]) == pytest.approx(np.linalg.norm(first - center))
    assert plane.coordinates(plane.to_input([[0.3, -0.2]])) == pytest.approx(np.array([[0.3, -0.2]]))
    a, b = random_plane(center, 7), random_plane(center, 7)
    assert np.array_equal(a.basis, b.basis) and not np.allclose(a.basis, random_plane(center, 8).basis)


@pytest.mark.parametrize("outputs", [1, 3])
def test_the_output_gradient_is_autograd_s_and_spans_the_gradient_plane(outputs):
    network = random_network(3, 6, [8, 8], outputs)
    center = torch.randn(6, generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True)
    logits = network(center)
    if outputs == 1:
        target = logits[0]
    else:
        top, runner_up = torch.topk(logits, 2).indices
        target = logits[top] - logits[runner_up]
    (expected,) = torch.autograd.grad(target, center)
    gradient = output_gradient(network, center.detach())
    assert gradient == pytest.approx(expected.numpy(), rel=1e-10, abs=1e-12)
    plane = gradient_plane(network, center.detach(), seed=0)
    assert plane.basis[:, 0] == pytest.approx(gradient / np.linalg.norm(gradient))


def test_network_on_plane_is_the_network_restricted_to_the_plane():
    network = random_network(5, 6, [7, 5])
    plane = random_plane(np.ones(6), 2)
    coordinates = np.random.default_rng(0).uniform(-2, 2, size=(500, 2))
    on_plane = activation_patterns(network_on_plane(network, plane), torch.from_numpy(coordinates))
    assert torch.equal(on_plane, activation_patterns(network, torch.from_numpy(plane.to_input(coordinates))))


def logits_at(network: nn.Sequential, plane: SlicePlane, coordinates: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return network(torch.from_numpy(plane.to_input(coordinates))).numpy()


@pytest.mark.parametrize("outputs", [1, 2, 3])
def test_the_decision_boundary_is_where_the_network_s_decision_changes(outputs):
    network = random_network(11, 4, [6, 6], outputs)
    plane = random_plane(np.zeros(4), 11)
    partition = slice_partition(network, plane, 3.0)
    assert len(partition.boundary) > 0
    ends = partition.boundary.reshape(-1, 2)
    logits = logits_at(network, plane, ends)
    if outputs == 1:
        assert (np.abs(logits[:, 0]) < 1e-9).all()
    else:  # the two largest logits tie, on the segment
        top_two = np.sort(logits, axis=1)[:, -2:]
        assert (top_two[:, 1] - top_two[:, 0] < 1e-9).all()
    for segment, region in zip(partition.boundary, partition.boundary_regions):
        assert (inside_margin(partition.polygon(region), segment) > -1e-9).all()
    # A polygon holds a segment exactly when the network decides differently at its corners
    # (checked slightly inside, by the network itself).
    decided = set(partition.boundary_regions.tolist())
    for index, polygon in enumerate(partition.polygons()):
        corners = polygon + 1e-6 * (polygon.mean(axis=0) - polygon)
        values = logits_at(network, plane, corners)
        decisions = values[:, 0] > 0 if outputs == 1 else values.argmax(axis=1)
        assert (len(set(decisions.tolist())) > 1) == (index in decided)


def test_hidden_layers_alone_give_no_decision_boundary_unless_an_output_is_passed():
    network = random_network(2, 3, [5])
    hidden = [(network[0].weight.detach(), network[0].bias.detach())]
    plane = random_plane(np.zeros(3), 0)
    assert len(slice_partition(hidden, plane, 3.0).boundary) == 0
    with_output = slice_partition(hidden, plane, 3.0, output=(network[2].weight.detach(), network[2].bias.detach()))
    assert np.array_equal(with_output.boundary, slice_partition(network, plane, 3.0).boundary)


def test_split_by_lines_keeps_vertices_on_the_line_on_both_sides():
    square, counts = pad([np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])])
    diagonal = square[..., 0] - square[..., 1]  # the line s = t through two corners
    cut, (positive, positive_counts), (negative, negative_counts) = split_by_lines(square, counts, diagonal, 1e-12)
    assert cut.tolist() == [True]
    assert positive[0, : positive_counts[0]].tolist() == [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]
    assert negative[0, : negative_counts[0]].tolist() == [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def test_clip_lines_drops_a_line_parallel_to_an_edge_outside_the_polygon():
    square, _ = pad([np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])])
    normals = np.array([[0.0, 1.0]])
    outside, _ = clip_lines(square, normals, np.array([-2.0]), 1e-12)  # t = 2, above the square
    inside, rows = clip_lines(square, normals, np.array([-0.25]), 1e-12)  # t = 0.25, across it
    assert len(outside) == 0
    assert rows.tolist() == [0] and sorted(inside[0].tolist()) == [[0.0, 0.25], [1.0, 0.25]]
