"""Exact and sampled local region counts against closed forms, rasters and the 2**C bound."""

from __future__ import annotations

import itertools

import clarabel
import numpy as np
import pytest
import scipy.sparse
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from torch import nn

from localregions import signtree
from localregions.bounds import local_region_bound
from localregions.counting import (
    RegionBudgetExceeded,
    RegionCount,
    _enumerate,
    exact_region_count,
    sampled_region_count,
)
from localregions.regions import activation_patterns


def random_lines(seed: int, count: int, spread: float = 1.0):
    """``count`` random lines of the plane (one hidden layer on 2-D inputs), a.s. in general position."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(count, 2, generator=generator, dtype=torch.float64)
    bias = spread * torch.randn(count, generator=generator, dtype=torch.float64)
    return weight, bias


def regions_of_lines_in_ball(weight, bias, center, radius, norm):
    """Regions cut by lines in general position from an open disc (l2) or square (linf).

    Euler's formula for the arrangement restricted to a convex set: 1 + (lines crossing it) +
    (crossing points inside it).
    """
    weight, bias, center = weight.numpy(), bias.numpy(), center.numpy()
    dual_order, primal_order = (2, 2) if norm == "l2" else (1, np.inf)
    crossing = np.abs(weight @ center + bias) < radius * np.linalg.norm(weight, ord=dual_order, axis=1)
    inside = 0
    for i, j in itertools.combinations(range(len(bias)), 2):
        point = np.linalg.solve(weight[[i, j]], -bias[[i, j]])
        inside += np.linalg.norm(point - center, ord=primal_order) < radius
    return 1 + int(crossing.sum()) + inside


def raster_count(layers, center, radius, norm, steps=801):
    """Distinct activation patterns on a ``steps`` x ``steps`` grid over the 2-D ball."""
    axis = torch.linspace(-radius, radius, steps, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    if norm == "l2":
        grid = grid[grid.norm(dim=1) < radius]
    else:
        grid = grid[grid.abs().max(dim=1).values < radius]
    patterns = activation_patterns(layers, center + grid).to(torch.int64)
    # Small nets here (< 63 neurons): one integer per pattern makes unique cheap.
    codes = patterns @ (2 ** torch.arange(patterns.shape[1], dtype=torch.int64))
    return torch.unique(codes).numel()


def random_net(seed: int, widths, inputs: int, scale: float = 1.0):
    generator = torch.Generator().manual_seed(seed)
    layers, fan_in = [], inputs
    for width in widths:
        weight = scale * torch.randn(width, fan_in, generator=generator, dtype=torch.float64)
        layers.append((weight, scale * torch.randn(width, generator=generator, dtype=torch.float64)))
        fan_in = width
    return layers


# ----------------------------------------------------------------------------- closed forms


@settings(deadline=None, max_examples=30)
@given(
    seed=st.integers(0, 2**31 - 1),
    count=st.integers(1, 9),
    norm=st.sampled_from(["l2", "linf"]),
    radius=st.sampled_from([0.3, 1.0, 2.5]),
)
def test_lines_meeting_a_ball_match_the_closed_form(seed, count, norm, radius):
    weight, bias = random_lines(seed, count)
    center = torch.tensor([0.2, -0.1], dtype=torch.float64)
    result = exact_region_count([(weight, bias)], center, radius, norm=norm)
    assert result.complete
    assert int(result) == regions_of_lines_in_ball(weight, bias, center, radius, norm)


@pytest.mark.parametrize("seed", range(4))
def test_hyperplanes_in_higher_dimension_match_the_flats_meeting_the_ball(seed):
    # For hyperplanes in general position, the regions inside an open convex set are in
    # bijection with the subsets (empty one included) whose common flat meets it.
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(8, 4, generator=generator, dtype=torch.float64)
    bias = 0.5 * torch.randn(8, generator=generator, dtype=torch.float64)
    radius = 1.0
    expected = 0
    for size in range(0, 5):
        for subset in itertools.combinations(range(8), size):
            rows = weight[list(subset)].numpy()
            # Nearest point of the flat rows . x + bias = 0 to the centre (the origin).
            nearest = -rows.T @ np.linalg.solve(rows @ rows.T, bias[list(subset)].numpy()) if size else np.zeros(4)
            expected += np.linalg.norm(nearest) < radius
    assert int(exact_region_count([(weight, bias)], torch.zeros(4), radius)) == expected


def bent_net(bias: float, sign: float = 1.0):
    """ReLU(x), ReLU(y), then sign * (ReLU(x) + ReLU(y)) + bias: one bent line per quadrant."""
    first = (torch.eye(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    second = (sign * torch.ones(1, 2, dtype=torch.float64), torch.tensor([bias], dtype=torch.float64))
    return [first, second]


@pytest.mark.parametrize(
    ("bias", "sign", "expected"),
    [
        # x + y = 1/2, y = 1/2 and x = 1/2 split three quadrants; in the third quadrant the
        # neuron's row vanishes and its sign is the bias's.
        (-0.5, 1.0, 7),
        (0.5, -1.0, 7),
        # Pre-activation identically zero on the third quadrant: inactive there, no split; it is
        # positive on the other three.
        (0.0, 1.0, 4),
    ],
)
def test_hand_built_deep_net(bias, sign, expected):
    layers = bent_net(bias, sign)
    center = torch.zeros(2, dtype=torch.float64)
    assert int(exact_region_count(layers, center, 1.0)) == expected
    assert raster_count(layers, center, 1.0, "l2") == expected


def margin_of_pattern(layers, pattern, center, radius, norm):
    """Largest relative inradius of one full activation pattern's cell inside the ball.

    The oracle for the sign tree: one program per pattern, none of the tree's pruning.
    """
    dual_order = 2 if norm == "l2" else 1
    # Affine map of the current layer's pre-activations in x, under this pattern.
    maps, offsets = np.eye(len(center)), np.zeros(len(center))
    rows, row_offsets, start = [], [], 0
    for weight, bias in layers:
        maps, offsets = weight.numpy() @ maps, weight.numpy() @ offsets + bias.numpy()
        active = pattern[start : start + len(bias)]
        start += len(bias)
        for row, offset, on in zip(maps, offsets, active):
            scale = np.linalg.norm(row, ord=dual_order)
            if scale == 0:
                if (offset > 0) != on:
                    return -np.inf
                continue
            sign = 1.0 if on else -1.0
            # In z = (x - center) / radius, as signed distances relative to the radius.
            rows.append(sign * row / scale)
            row_offsets.append(sign * (row @ center.numpy() + offset) / (radius * scale))
        maps, offsets = maps * active[:, None], offsets * active
    width = len(center)
    if not rows:
        return 1.0
    rows, row_offsets = np.array(rows), np.array(row_offsets)
    count = len(rows)
    if norm == "linf":
        constraint = np.block([[-rows, np.ones((count, 1))], [np.eye(width), np.ones((width, 1))], [-np.eye(width), np.ones((width, 1))]])
        result = linprog(
            np.r_[np.zeros(width), -1.0], A_ub=constraint, b_ub=np.r_[row_offsets, np.ones(2 * width)],
            bounds=(None, None), method="highs",
        )
        return result.x[-1]
    constraint = np.block(
        [[-rows, np.ones((count, 1))], [np.zeros((1, width)), np.ones((1, 1))], [-np.eye(width), np.zeros((width, 1))]]
    )
    solver_settings = clarabel.DefaultSettings()
    solver_settings.verbose = False
    solution = clarabel.DefaultSolver(
        scipy.sparse.csc_matrix((width + 1, width + 1)), np.r_[np.zeros(width), -1.0], scipy.sparse.csc_matrix(constraint),
        np.r_[row_offsets, 1.0, np.zeros(width)], [clarabel.NonnegativeConeT(count), clarabel.SecondOrderConeT(width + 1)],
        solver_settings,
    ).solve()
    return solution.x[-1]


def counted_patterns(layers, center, radius, norm, prune="alg1"):
    """The set of patterns the sign tree counts, as tuples of bools."""
    tree = _enumerate(layers, center, radius, norm, 100_000, 1e-6, prune, collect=True)
    assert not tree.stopped
    found = {tuple(row) for block in tree.patterns for row in block.tolist()}
    assert len(found) == tree.count  # no pattern is counted twice
    return found


@settings(deadline=None, max_examples=10)
@given(
    seed=st.integers(0, 2**31 - 1),
    inputs=st.integers(2, 5),
    widths=st.sampled_from([[4, 3], [3, 3, 2], [2, 2, 2, 2], [7], [5, 5], [4, 3, 3], [10]]),
    norm=st.sampled_from(["l2", "linf"]),
    radius=st.sampled_from([0.5, 1.0, 2.0]),
)
def test_sign_tree_finds_exactly_the_patterns_of_one_program_each(seed, inputs, widths, norm, radius):
    # The independent brute force: every one of the 2**neurons (<= 1024) sign vectors, its cell
    # with every neuron's constraint (stable or not, crossing the ball or not), one cone or linear
    # program each -- no Algorithm 1 flag, no tree, no shortcut.  The tree must report the same
    # set of patterns, with and without pruning by Algorithm 1.
    layers = random_net(seed, widths, inputs)
    center = 0.3 * torch.randn(inputs, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    expected = {
        pattern
        for pattern in itertools.product([False, True], repeat=sum(widths))
        if margin_of_pattern(layers, np.array(pattern, dtype=bool), center, radius, norm) > 1e-6
    }
    assert counted_patterns(layers, center, radius, norm) == expected
    assert counted_patterns(layers, center, radius, norm, prune=None) == expected


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize(("seed", "widths", "inputs"), [(1, [6, 6, 6], 4), (0, [8, 8], 5)])
def test_shortcuts_never_change_the_count(seed, widths, inputs, norm, monkeypatch):
    # Deep nets with hundreds of regions.  Without the shortcuts (one random known point, no
    # relaxation, no active-set stage) every open side goes to the cone or linear program; the
    # count must not move, and the shortcuts must save most of the programs.
    layers = random_net(seed, widths, inputs)
    center = 0.2 * torch.randn(inputs, generator=torch.Generator().manual_seed(99), dtype=torch.float64)
    with_shortcuts = _enumerate(layers, center, 1.0, norm, 10_000, 1e-6, "alg1")
    for stage in ("point", "relaxation", "active_set_point", "active_set_bound"):
        assert with_shortcuts.stats[stage] > 0, stage  # every stage is exercised here
    monkeypatch.setattr(signtree, "_WITNESS_POOL_SIZE", 1)
    monkeypatch.setattr(signtree, "_USE_RELAXATION", False)
    monkeypatch.setattr(signtree, "_ACTIVE_SET_ITERATIONS", 0)
    plain = exact_region_count(layers, center, 1.0, norm=norm)
    assert with_shortcuts.count == plain.count > 50
    assert 2 * with_shortcuts.solver_calls < plain.solver_calls


@settings(deadline=None, max_examples=30)
@given(
    net=st.deferred(lambda: small_nets()),
    radius=st.sampled_from([0.1, 0.5, 1.5]),
    norm=st.sampled_from(["l2", "linf"]),
)
def test_pruning_never_changes_the_count(net, radius, norm):
    # prune=None never looks at a bound: every neuron whose hyperplane crosses the ball is
    # branched on.  An unsound stable flag (Algorithm 1's, or CROWN's) would make the pruned
    # count smaller.
    layers, center = net
    unpruned = exact_region_count(layers, center, radius, norm=norm, prune=None)
    assert unpruned.complete
    for method in ("alg1", "crown"):
        pruned = exact_region_count(layers, center, radius, norm=norm, prune=method)
        assert pruned.complete and int(pruned) == int(unpruned), method


@settings(deadline=None, max_examples=20)
@given(
    net=st.deferred(lambda: small_nets()),
    radius=st.sampled_from([0.1, 0.5, 1.5]),
    norm=st.sampled_from(["l2", "linf"]),
)
def test_stable_flags_hold_on_every_region(net, radius, norm):
    # Algorithm 1 checked region by region: in every pattern found without pruning, each neuron
    # it flags stable (S = 0) has the centre's sign.
    layers, center = net
    stable = torch.cat([~flags[0] for flags in local_region_bound(layers, center[None], radius, norm=norm).S])
    centre = activation_patterns(layers, center[None])[0]
    for pattern in counted_patterns(layers, center, radius, norm, prune=None):
        assert torch.equal(torch.tensor(pattern)[stable], centre[stable])


# ----------------------------------------------------------------------------- rasters


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize(("seed", "widths"), [(0, [4, 4]), (1, [5, 3]), (2, [3, 3, 3]), (3, [6, 4])])
def test_deep_nets_in_the_plane_match_a_fine_raster(seed, widths, norm):
    # Chosen (fixed seeds) so that every region is many raster cells wide: the raster finds
    # them all and must agree exactly.
    layers = random_net(seed, widths, 2)
    center = torch.tensor([0.1, 0.3], dtype=torch.float64)
    exact = exact_region_count(layers, center, 1.0, norm=norm)
    assert exact.complete
    assert int(exact) == raster_count(layers, center, 1.0, norm)


@settings(deadline=None, max_examples=15)
@given(
    seed=st.integers(0, 2**31 - 1),
    widths=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    norm=st.sampled_from(["l2", "linf"]),
)
def test_a_raster_never_finds_more_regions_than_the_exact_count(seed, widths, norm):
    layers = random_net(seed, widths, 2)
    center = torch.tensor([0.1, 0.3], dtype=torch.float64)
    assert raster_count(layers, center, 1.0, norm, steps=301) <= int(exact_region_count(layers, center, 1.0, norm=norm))


# ----------------------------------------------------------------------------- the bracket


@st.composite
def small_nets(draw, kinds=("gauss", "sparse", "integer")):
    inputs = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    kind = draw(st.sampled_from(kinds))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    layers, fan_in = [], inputs
    for width in widths:
        if kind == "integer":
            # Ties, parallel and coincident hyperplanes, rows that vanish on whole cells.
            weight = torch.randint(-2, 3, (width, fan_in), generator=generator).double()
            bias = torch.randint(-2, 3, (width,), generator=generator).double()
        else:
            weight = torch.randn(width, fan_in, generator=generator, dtype=torch.float64)
            bias = torch.randn(width, generator=generator, dtype=torch.float64)
            if kind == "sparse":
                weight = weight * (torch.rand(width, fan_in, generator=generator, dtype=torch.float64) < 0.4)
        layers.append((weight, bias))
        fan_in = width
    center = torch.randn(inputs, generator=generator, dtype=torch.float64)
    return layers, center


# Integer weights are left out of the sampled side: where a pre-activation cancels to exactly
# zero over a whole cell, float64 rounding at random points gives it either sign, so the sampler
# can see patterns that no region has (test_cancelling_neuron_is_one_region below).
@settings(deadline=None, max_examples=40)
@given(
    net=small_nets(kinds=("gauss", "sparse")),
    radius=st.sampled_from([0.1, 0.5, 1.5]),
    norm=st.sampled_from(["l2", "linf"]),
)
def test_sampled_le_exact_le_two_to_the_c(net, radius, norm):
    # The exact count is taken without pruning by Algorithm 1, so that the upper end checks the
    # bound rather than restating how the count was pruned (with pruning, exact <= 2**C would
    # hold by construction, sound bound or not).
    layers, center = net
    exact = int(exact_region_count(layers, center, radius, norm=norm, prune=None))
    sampled = int(sampled_region_count(layers, center[None], radius, n_samples=400, seed=0, norm=norm)[0])
    unstable = int(local_region_bound(layers, center[None], radius, norm=norm).unstable[0])
    assert 1 <= sampled <= exact <= 2**unstable


@settings(deadline=None, max_examples=25)
@given(
    net=small_nets(kinds=("integer",)),
    radius=st.sampled_from([0.25, 0.5, 1.5]),
    norm=st.sampled_from(["l2", "linf"]),
)
def test_exact_count_within_the_bound_on_degenerate_nets(net, radius, norm):
    # Unpruned (see above), and equal to the pruned count on ties and cancelling rows too.
    layers, center = net
    exact = exact_region_count(layers, center, radius, norm=norm, prune=None)
    unstable = int(local_region_bound(layers, center[None], radius, norm=norm).unstable[0])
    assert exact.complete and 1 <= int(exact) <= 2**unstable
    assert int(exact_region_count(layers, center, radius, norm=norm)) == int(exact)


def test_cancelling_neuron_is_one_region():
    # On this ball the last layer's third neuron computes (2x + 4) - (2x + 3) - 1 = 0 exactly:
    # one region, although rounding makes sampled patterns disagree on that neuron.
    layers = [
        (torch.tensor([[2.0]]), torch.tensor([2.0])),
        (torch.tensor([[1.0], [-2.0], [1.0]]), torch.tensor([2.0, 0.0, 1.0])),
        (
            torch.tensor([[0.0, 1.0, -1.0], [-1.0, -1.0, 2.0], [1.0, -1.0, -1.0], [1.0, 2.0, 1.0]]),
            torch.tensor([-1.0, 2.0, -1.0, 2.0]),
        ),
    ]
    assert int(exact_region_count(layers, torch.tensor([-0.8567]), 0.1)) == 1


@settings(deadline=None, max_examples=15)
@given(net=small_nets(), radius=st.sampled_from([0.2, 0.7]))
def test_counts_grow_with_the_ball(net, radius):
    # A region meeting a ball with positive volume meets every ball containing it the same way.
    layers, center = net
    smaller = int(exact_region_count(layers, center, radius))
    assert smaller <= int(exact_region_count(layers, center, 2 * radius))
    assert smaller <= int(exact_region_count(layers, center, radius, norm="linf"))


def test_a_ball_inside_one_region_costs_no_solve():
    # The paper's setting: grey levels 0-255 and r = 0.4 leave every neuron of a small random
    # network stable, so the bound alone settles the count.
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(36, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.1, generator=generator)
    center = 255.0 * torch.rand(36, generator=generator, dtype=torch.float64)
    assert int(local_region_bound(model, center[None], 0.4).unstable[0]) == 0
    result = exact_region_count(model, center, 0.4)
    assert (int(result), result.solver_calls) == (1, 0)


def test_no_hidden_layer_is_one_region():
    assert int(exact_region_count(nn.Sequential(nn.Linear(3, 1)), torch.zeros(3), 1.0)) == 1
    assert sampled_region_count(nn.Sequential(nn.Linear(3, 1)), torch.zeros(2, 3), 1.0, 10, 0).tolist() == [1, 1]


# ----------------------------------------------------------------------------- budget


def test_budget_exceeded_gives_a_lower_bound_and_int_raises():
    weight, bias = random_lines(0, 12, spread=0.2)
    center = torch.zeros(2, dtype=torch.float64)
    full = exact_region_count([(weight, bias)], center, 2.0)
    assert full.complete and int(full) > 10
    partial = exact_region_count([(weight, bias)], center, 2.0, max_regions=5)
    assert isinstance(partial, RegionCount)
    assert not partial.complete and partial.count == 6 <= int(full)
    with pytest.raises(RegionBudgetExceeded, match="max_regions=5"):
        int(partial)
    exactly = exact_region_count([(weight, bias)], center, 2.0, max_regions=int(full))
    assert exactly.complete and int(exactly) == int(full)


# ----------------------------------------------------------------------------- sampled counts


def test_sampled_count_is_deterministic_and_batch_independent():
    layers = random_net(0, [6, 6], 3)
    centers = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    first = sampled_region_count(layers, centers, 1.0, n_samples=300, seed=7)
    assert first.dtype == torch.int64 and first.shape == (5,)
    assert torch.equal(first, sampled_region_count(layers, centers, 1.0, n_samples=300, seed=7))
    assert torch.equal(first[:2], sampled_region_count(layers, centers[:2], 1.0, n_samples=300, seed=7))
    assert not torch.equal(
        sampled_region_count(layers, centers, 1.0, n_samples=5, seed=7),
        sampled_region_count(layers, centers, 1.0, n_samples=5, seed=8),
    )


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_sampled_count_finds_every_large_region(norm):
    weight, bias = random_lines(3, 4)
    center = torch.zeros(2, dtype=torch.float64)
    expected = regions_of_lines_in_ball(weight, bias, center, 1.0, norm)
    sampled = sampled_region_count([(weight, bias)], center[None], 1.0, n_samples=20000, seed=0, norm=norm)
    assert sampled.tolist() == [expected]


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_boundary_samples_reach_regions_touching_only_the_rim(norm):
    # A line cutting a thin cap off the ball: interior samples alone rarely land in the cap.
    layers = [(torch.tensor([[1.0, 0.0]], dtype=torch.float64), torch.tensor([-0.999], dtype=torch.float64))]
    counts = sampled_region_count(layers, torch.zeros(1, 2, dtype=torch.float64), 1.0, n_samples=200, seed=0, norm=norm)
    assert counts.tolist() == [2]


# ----------------------------------------------------------------------------- bad inputs


LINES = [random_lines(0, 3)]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"radius": 0.0}, "radius"),
        ({"radius": float("nan")}, "radius"),
        ({"norm": "l3"}, "norm"),
        ({"max_regions": 0}, "max_regions"),
        ({"max_regions": 2.5}, "max_regions"),
        ({"tolerance": 0.0}, "tolerance"),
        ({"tolerance": 1.0}, "tolerance"),
        ({"prune": "crown?"}, "prune"),
        ({"center": torch.zeros(3)}, "center"),
        ({"center": torch.zeros(1, 2)}, "center"),
        ({"center": torch.tensor([0.0, float("inf")])}, "center"),
        ({"center": "origin"}, "center"),
        ({"layers": [(torch.zeros(2, 3), torch.zeros(2))]}, "center"),
        ({"layers": [(torch.full((2, 2), float("nan")), torch.zeros(2))]}, "layers"),
        ({"layers": "net"}, "layers"),
    ],
)
def test_exact_count_rejects_bad_arguments(kwargs, name):
    arguments = {"layers": LINES, "center": torch.zeros(2), "radius": 1.0} | kwargs
    with pytest.raises(ValueError, match=name):
        exact_region_count(**arguments)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"radius": -1.0}, "radius"),
        ({"norm": "L1"}, "norm"),
        ({"n_samples": 0}, "n_samples"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"centers": torch.zeros(2)}, "centers"),
        ({"centers": torch.zeros(4, 3)}, "centers"),
    ],
)
def test_sampled_count_rejects_bad_arguments(kwargs, name):
    arguments = {"layers": LINES, "centers": torch.zeros(4, 2), "radius": 1.0, "n_samples": 10, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=name):
        sampled_region_count(**arguments)
