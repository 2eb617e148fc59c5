"""The statistics the claims and phases share, and the contrasts that turn one seed's curve into an effect."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from localregions.reporting import contrasts as K
from localregions.reporting import statistics as S

# ---------------------------------------------------------------------------------------------- t test


def test_t_test_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 1.0, size=10)
    result = S.t_test(x)
    reference = stats.ttest_1samp(x, 0.0, alternative="greater")
    below = stats.ttest_1samp(x, 0.0, alternative="less")
    interval = stats.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert result["p"] == pytest.approx(reference.pvalue, rel=1e-12)
    assert result["p_below"] == pytest.approx(below.pvalue, rel=1e-12)
    assert result["t"] == pytest.approx(reference.statistic, rel=1e-12)
    assert result["ci_low"] == pytest.approx(interval.low, rel=1e-12)
    assert result["ci_high"] == pytest.approx(interval.high, rel=1e-12)
    assert result["sd"] == pytest.approx(np.std(x, ddof=1))
    assert result["se"] == pytest.approx(np.std(x, ddof=1) / np.sqrt(10))
    assert result["positive_seeds"] == int((x > 0).sum())
    narrow = stats.ttest_1samp(x, 0.0).confidence_interval(0.975)
    assert S.t_test(x, confidence=0.975)["ci_low"] == pytest.approx(narrow.low, rel=1e-12)


def test_t_test_with_an_extra_variance_adds_it_to_the_standard_error():
    x = np.array([0.1, 0.3, 0.2, 0.4, 0.0])
    plain, extra = S.t_test(x), S.t_test(x, extra_variance=0.01)
    assert extra["se"] == pytest.approx(np.sqrt(plain["se"] ** 2 + 0.01))
    assert extra["t"] == pytest.approx(plain["effect"] / extra["se"])
    assert extra["p"] > plain["p"] and extra["ci_low"] < plain["ci_low"]
    with pytest.raises(ValueError, match="extra_variance"):
        S.t_test(x, extra_variance=-1.0)


def test_t_test_without_spread_is_decided_by_the_sign():
    assert S.t_test([0.5, 0.5, 0.5])["p"] == 0.0
    assert S.t_test([0.5, 0.5, 0.5])["p_below"] == 1.0
    assert S.t_test([0.0, 0.0, 0.0])["p"] == 0.5
    assert S.t_test([-0.5, -0.5])["p"] == 1.0


def test_t_test_needs_two_finite_values():
    with pytest.raises(ValueError, match="at least 2"):
        S.t_test([1.0])
    S.t_test([1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        S.t_test([1.0, np.nan])
    with pytest.raises(ValueError, match="confidence"):
        S.t_test([1.0, 2.0], confidence=1.0)


# ---------------------------------------------------------------------------------------------- power


@pytest.mark.parametrize(("n", "level"), [(10, 0.025), (10, 0.0125), (5, 0.025), (20, 0.025 / 8)])
def test_the_detectable_effect_is_found_with_80_percent_power(n, level):
    """Simulated t tests on normal seeds with the true mean at the detectable effect reject 80% of the time."""
    rng = np.random.default_rng(n)
    delta = S.detectable_effect(1.0, n, level)
    x = rng.normal(delta, 1.0, size=(40_000, n))
    t = x.mean(axis=1) / (x.std(axis=1, ddof=1) / np.sqrt(n))
    power = float((t >= stats.t.isf(level, n - 1)).mean())
    assert power == pytest.approx(0.8, abs=0.01)  # 40,000 draws: sd of the rate 0.002


def test_the_detectable_effect_scales_with_the_spread_and_the_issue_numbers():
    # "With 10 seeds the smallest effect found with 80% power is about 1.0 seed-sd at 2.5% and 1.4 sd under Holm over 8."
    assert S.detectable_effect(1.0, 10, 0.025) == pytest.approx(1.0, abs=0.01)
    assert S.detectable_effect(1.0, 10, 0.025 / 8) == pytest.approx(1.43, abs=0.01)
    assert S.detectable_effect(2.0, 10) == pytest.approx(2 * S.detectable_effect(1.0, 10))
    assert S.detectable_effect(0.0, 10) == 0.0
    assert S.detectable_effect(0.0, 10, extra_variance=0.04) == pytest.approx(0.2 * 3.162, rel=0.02)
    for bad in ({"n": 1}, {"n": 2.5}, {"level": 0.6}, {"power": 0.01}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            S.detectable_effect(1.0, **({"n": 10} | bad))


# ---------------------------------------------------------------------------------------------- equivalence


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=3, max_size=12), st.floats(0.01, 1.0))
def test_tost_is_the_90_percent_interval_inside_the_margin(values, margin):
    x = np.asarray(values)
    if x.std(ddof=1) < 1e-6:
        return
    p = S.equivalence_test(x, margin)
    result = S.t_test(x, confidence=0.90)
    inside = -margin < result["ci_low"] and result["ci_high"] < margin
    if abs(p - 0.05) > 1e-9:
        assert (p < 0.05) == inside


def test_tost_at_its_boundary_and_without_spread():
    x = np.array([0.0, 0.2, -0.2, 0.1, -0.1])
    se = x.std(ddof=1) / np.sqrt(5)
    # The mean is 0: both one-sided tests have t = margin / se; p = sf(margin / se).
    margin = float(stats.t.isf(0.05, 4)) * se
    assert S.equivalence_test(x, margin) == pytest.approx(0.05, rel=1e-9)
    assert S.equivalence_test([0.05, 0.05], 0.1) == 0.0
    assert S.equivalence_test([0.2, 0.2], 0.1) == 1.0
    with pytest.raises(ValueError, match="margin"):
        S.equivalence_test(x, 0.0)


# ---------------------------------------------------------------------------------------------- corrections


def test_passes_at_the_level_and_not_just_above():
    assert bool(S.passes(S.LEVEL))
    assert not bool(S.passes(np.nextafter(S.LEVEL, 1.0)))
    assert S.LEVEL == 0.025


def test_holm_values():
    assert S.holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    # The step-down never lets a larger p get a smaller adjusted value than a smaller p.
    assert S.holm([0.001, 0.03, 0.02]).tolist() == pytest.approx([0.003, 0.04, 0.04])
    assert S.holm([0.6, 0.9]).tolist() == [1.0, 1.0]  # capped at 1, and never below the one before
    assert S.holm([0.2]).tolist() == [0.2]
    with pytest.raises(ValueError, match="pvalues"):
        S.holm([0.2, 1.5])


def test_holm_at_the_boundary():
    # 0.0125 * 2 == 0.025 exactly: both pass at the boundary ...
    assert S.passes(S.holm([0.0125, 0.025])).tolist() == [True, True]
    # ... a hair above and the step-down stops at the first test.
    assert S.passes(S.holm([np.nextafter(0.0125, 1.0), 0.02])).tolist() == [False, False]
    # Two raw p-values below 2.5% that pass only without the correction.
    assert S.passes(S.holm([0.02, 0.02])).tolist() == [False, False]


# ---------------------------------------------------------------------------------------------- contrasts


def test_ends_minus_middle():
    fall, rise = K.ends_minus_middle(np.array([[3.0, 1.0, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0]]))
    assert fall.tolist() == [2.0, -1.0]
    assert rise.tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="n_epochs >= 3"):
        K.ends_minus_middle(np.ones((3, 2)))


def test_the_parabola_reads_a_parabola_exactly_and_a_line_as_one():
    u = np.linspace(-1, 1, 10)
    fall, rise = K.parabola_ends_minus_middle(np.array([2.0 + 0.5 * u + 3.0 * u**2, 1.0 - u]))
    # q(u) = 2 + 0.5 u + 3 u^2: q(-1) - q(0) = 2.5, q(1) - q(0) = 3.5; a falling line: +1 and -1.
    assert fall.tolist() == pytest.approx([2.5, 1.0])
    assert rise.tolist() == pytest.approx([3.5, -1.0])


def test_the_parabola_sees_a_u_with_unequal_arms_that_ends_vs_middle_misses():
    """A V over epochs 2-20 falling 1 to its turn at 12 and rising 0.25 after it: ends vs middle, noiseless, puts the
    last epoch below the middle (the middle holds most of the long fall); the parabola has both arms."""
    x = np.arange(2, 21, 2.0)
    v = np.where(x <= 12, (12 - x) / 10, 0.25 * (x - 12) / 8)[None, :]
    assert K.ends_minus_middle(v)[1][0] < 0
    fall, rise = K.parabola_ends_minus_middle(v)
    assert fall[0] > 0 and rise[0] > 0


@settings(max_examples=50, deadline=None)
@given(st.integers(3, 15), st.floats(-5, 5), st.floats(-5, 5))
def test_contrasts_of_a_flat_curve_are_zero_and_they_are_linear(n, level, scale):
    """Fixed weighted sums: zero on a flat curve, and linear, so a flat curve plus noise averages to zero."""
    rng = np.random.default_rng(n)
    a, b = rng.normal(size=(2, 4, n))
    for contrast in (K.ends_minus_middle, K.parabola_ends_minus_middle):
        for part in contrast(np.full((2, n), level)):
            assert part == pytest.approx([0.0, 0.0], abs=1e-9)
        combined = contrast(a + scale * b)
        for whole, x, y in zip(combined, contrast(a), contrast(b), strict=True):
            assert whole == pytest.approx(x + scale * y, abs=1e-9)


def test_contrasts_take_resamples_on_leading_axes():
    rng = np.random.default_rng(3)
    curves = rng.normal(size=(5, 10, 11))  # (replicates, seeds, epochs)
    for contrast in (K.ends_minus_middle, K.parabola_ends_minus_middle):
        stacked = contrast(curves)
        assert stacked[0].shape == (5, 10)
        assert stacked[1][2] == pytest.approx(contrast(curves[2])[1])
    assert K.roughness(curves)[4] == pytest.approx(K.roughness(curves[4]))
    assert K.backtrack(curves)[1] == pytest.approx(K.backtrack(curves[1]))
    assert K.line_rise(curves, range(11))[0] == pytest.approx(K.line_rise(curves[0], range(11)))


def test_roughness_is_the_residual_sd_around_the_parabola():
    rng = np.random.default_rng(4)
    u = np.linspace(-1, 1, 12)
    noise = rng.normal(0, 0.3, size=12)
    curve = 1.0 + u - 2 * u**2 + noise
    residual = curve - np.polyval(np.polyfit(u, curve, 2), u)
    assert K.roughness(curve[None])[0] == pytest.approx(np.sqrt((residual**2).sum() / 9))
    assert K.roughness(np.array([[1.0, 5.0, 2.0]]))[0] == 0.0  # three epochs: nothing left to measure
    # Noise of sd 0.3 reads about 0.3 (over many curves).
    many = rng.normal(0, 0.3, size=(2000, 12))
    assert K.roughness(many).mean() == pytest.approx(0.3, rel=0.05)


def test_line_rise_and_backtrack():
    assert K.line_rise(np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]]), [2, 4, 6]).tolist() == pytest.approx([2.0, 0.0])
    assert K.line_rise(np.array([[1.0, 0.0, 1.0]]), [0, 1, 2]).tolist() == pytest.approx([0.0])
    assert K.backtrack(np.array([[1.0, 3.0, 2.0, 5.0, 4.5], [1.0, 2.0, 2.0, 3.0, 4.0]])).tolist() == [1.5, 0.0]
