"""The batched sign tree against the counter it replaced (tests/legacy_counter.py, frozen).

Both count the same thing (patterns whose cells hold a ball of radius ``tolerance * radius`` inside
the ball) by different means: the legacy walk decides every open branch with one cone or linear
program, the new one mostly with checked active-set points and dual bounds.  On random balls whose
counts range from 1 to a few hundred (and past a budget, where both must stop at ``max_regions +
1``) the counts must agree exactly.  A shortcut that wrongly cuts a branch loses regions; one that
wrongly keeps a branch adds regions; both show up here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import legacy_counter
from localregions.counting import _enumerate, exact_region_count

BUDGET = 400


def random_case(seed: int):
    """A random net and ball: depth 1-3, widths 2-8, inputs 2-8, l2 or linf, and a radius drawn so
    that counts spread from 1 to a few hundred."""
    rng = np.random.default_rng(seed)
    inputs = int(rng.integers(2, 9))
    depth = int(rng.integers(1, 4))
    widths = [int(w) for w in rng.integers(3, 9, size=depth)]
    kind = rng.choice(["gauss", "sparse", "scaled"])
    generator = torch.Generator().manual_seed(seed)
    layers, fan_in = [], inputs
    for width in widths:
        weight = torch.randn(width, fan_in, generator=generator, dtype=torch.float64)
        bias = torch.randn(width, generator=generator, dtype=torch.float64)
        if kind == "sparse":
            weight = weight * (torch.rand(width, fan_in, generator=generator, dtype=torch.float64) < 0.5)
        elif kind == "scaled":
            # The experiment's regime: small weights, many neurons far from the ball.
            weight, bias = 0.3 * weight, 0.3 * bias
        layers.append((weight, bias))
        fan_in = width
    center = torch.randn(inputs, generator=generator, dtype=torch.float64)
    norm = str(rng.choice(["l2", "linf"]))
    radius = float(np.exp(rng.uniform(np.log(0.1), np.log(4.0))))
    return layers, center, radius, norm


def assert_same_as_legacy(seed: int) -> int:
    layers, center, radius, norm = random_case(seed)
    new = exact_region_count(layers, center, radius, norm=norm, max_regions=BUDGET)
    old = legacy_counter.exact_region_count(layers, center, radius, norm=norm, max_regions=BUDGET)
    assert (new.count, new.complete) == (old.count, old.complete), (seed, norm, radius, new, old)
    return new.count


def test_random_balls_match_the_legacy_counter():
    counts = [assert_same_as_legacy(seed) for seed in range(220)]
    # The draw must actually spread: single regions, hundreds, and budget stops.
    assert min(counts) == 1
    assert sum(c > 100 for c in counts) >= 10
    assert any(c == BUDGET + 1 for c in counts)


@pytest.mark.slow
@pytest.mark.parametrize("block", range(4))
def test_many_more_random_balls_match_the_legacy_counter(block):
    for seed in range(1000 + 300 * block, 1300 + 300 * block):
        assert_same_as_legacy(seed)


def test_counted_patterns_are_distinct_real_regions():
    # Beyond the count: every pattern the tree reports is reported once, and the centre's own
    # pattern is among them (its cell holds the centre).
    from localregions.regions import activation_patterns

    for seed in range(12):
        layers, center, radius, norm = random_case(seed)
        tree = _enumerate(layers, center, radius, norm, BUDGET, 1e-6, "alg1", collect=True)
        if tree.count > BUDGET:
            continue
        patterns = np.concatenate(tree.patterns) if tree.patterns else np.zeros((0, 0), bool)
        assert patterns.shape[0] == tree.count
        assert np.unique(patterns, axis=0).shape[0] == tree.count
        # The centre's own pattern is always among them.
        centre = activation_patterns(layers, center[None])[0].numpy()
        assert (patterns == centre).all(axis=1).any()


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_the_experiment_scale_matches_the_legacy_counter(norm):
    # A smaller copy of the bench's networks (weights N(0, 0.1^2), 0-1 inputs): hundreds of
    # regions, deep rows, most sides settled by the active-set stage.
    generator = torch.Generator().manual_seed(3)
    layers, fan_in = [], 12
    for width in (12, 12):
        layers.append((0.1 * torch.randn(width, fan_in, generator=generator, dtype=torch.float64),
                       0.1 * torch.randn(width, generator=generator, dtype=torch.float64)))
        fan_in = width
    for index in range(3):
        center = torch.rand(12, generator=generator, dtype=torch.float64)
        radius = 0.25 if norm == "l2" else 0.1
        new = exact_region_count(layers, center, radius, norm=norm, max_regions=5000)
        old = legacy_counter.exact_region_count(layers, center, radius, norm=norm, max_regions=5000)
        assert (new.count, new.complete) == (old.count, old.complete)
