"""The decision rules of the paper's six observations, on synthetic per-seed tables of known truth.

Each scenario is drawn many times (every draw is its own (depth, lr) setting of one table, so one
call decides them all) and the tests assert *rates*: a rule built for an effect must find it in
nearly every draw, and pure seed noise must come out "does not hold" in at least 95% of draws for
every claim. The boundary tests pin every threshold (``<=`` against ``<``, the Holm correction,
"every test of a part" against "some") with constructed inputs whose p-values are known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from localregions.reporting import claims as C
from localregions.reporting.claims import FAILS, HOLDS, PARTLY, check_claims, claim_tests
from localregions.vocabulary import DATASET_NAMES, SUMMARY_KEYS, SUMMARY_METRICS

EPOCHS = tuple(range(0, 21, 2))
TRAJECTORY = EPOCHS[1:]
COLUMNS = ("log2_mean_bound", "single_region_points", "mean_boundary_distance")
#: Flat level of each curve, the same for every set (so that pure noise has no set above another).
LEVEL_OF = {"log2_mean_bound": 0.4, "single_region_points": 700.0, "mean_boundary_distance": 1.3}
#: (seed-to-seed sd, epoch-to-epoch sd within a seed), like the default run (0.08-0.19 bits between seeds).
NOISE_OF = {"log2_mean_bound": (0.15, 0.08), "single_region_points": (30.0, 12.0), "mean_boundary_distance": (0.15, 0.05)}
DRAWS = 50
NULL_DRAWS = 200


# ------------------------------------------------------------------------------------------------
# The generator
# ------------------------------------------------------------------------------------------------


def table_from_arrays(arrays, *, epochs=EPOCHS, depth=2, lr=0.02, seeds=None) -> pd.DataFrame:
    """A per-seed summary table from {column: {dataset: (n_seeds, n_epochs) array}}; unset curves are flat."""
    some = next(iter(next(iter(arrays.values())).values()))
    n_seeds = np.asarray(some).shape[0]
    seeds = list(range(n_seeds)) if seeds is None else list(seeds)
    records = []
    for dataset in DATASET_NAMES:
        values = {
            column: np.asarray(arrays.get(column, {}).get(dataset, np.full((n_seeds, len(epochs)), LEVEL_OF[column])))
            for column in COLUMNS
        }
        for s, seed in enumerate(seeds):
            for e, epoch in enumerate(epochs):
                log2 = float(values["log2_mean_bound"][s, e])
                records.append(
                    {
                        "depth": depth,
                        "lr": lr,
                        "seed": seed,
                        "epoch": epoch,
                        "dataset": dataset,
                        "radius": 0.4,
                        "norm": "l2",
                        "n_points": 1000,
                        "mean_bound": 2.0**log2,
                        "log2_mean_bound": log2,
                        "mean_log2_bound": log2 * 0.8,
                        "median_log2_bound": 0,
                        "single_region_points": float(values["single_region_points"][s, e]),
                        "mean_boundary_distance": float(values["mean_boundary_distance"][s, e]),
                    }
                )
    return pd.DataFrame.from_records(records)


def make_summary(shapes=None, *, draws=1, seeds=10, epochs=EPOCHS, levels=None, noise=None, rng=0):
    """Synthetic per-seed summary: ``draws`` independent settings (depth 2, lr 0.001 * (k + 1)).

    ``shapes[column][dataset]`` is a function of the epochs (an array) added to the flat level;
    ``levels[column][dataset]`` and ``noise[column][dataset] = (between, within)`` override the defaults.
    Value = level + shape(epoch) + seed offset (sd ``between``) + epoch noise (sd ``within``).
    """
    shapes = shapes or {}
    levels = levels or {}
    noise = noise or {}
    generator = np.random.default_rng(rng)
    x = np.asarray(epochs, dtype=float)
    frames = []
    for k in range(draws):
        arrays = {}
        for column in COLUMNS:
            arrays[column] = {}
            for dataset in DATASET_NAMES:
                level = levels.get(column, {}).get(dataset, LEVEL_OF[column])
                shape = shapes.get(column, {}).get(dataset)
                trend = np.zeros_like(x) if shape is None else np.asarray(shape(x), dtype=float)
                between, within = noise.get(column, {}).get(dataset, NOISE_OF[column])
                offsets = generator.normal(0.0, between, size=(seeds, 1))
                arrays[column][dataset] = level + trend + offsets + generator.normal(0.0, within, (seeds, len(x)))
        frames.append(table_from_arrays(arrays, epochs=epochs, lr=round(0.001 * (k + 1), 6)))
    return pd.concat(frames, ignore_index=True)


def every_set(shape):
    return {dataset: shape for dataset in DATASET_NAMES}


def fall_then_rise(size, turn=8.0):
    """``size`` at epoch 2, 0 at ``turn``, ``size`` at epoch 20, straight lines between."""
    return lambda e: np.where(e <= turn, size * (turn - e) / (turn - 2.0), size * (e - turn) / (20.0 - turn))


def falling(size):
    return lambda e: size * (20.0 - e) / 18.0


def rising(size):
    return lambda e: size * (e - 2.0) / 18.0


def step_at_epoch_2(size):
    """The step the default run shows: a jump of ``size`` between epoch 0 and 2, flat after."""
    return lambda e: np.where(e < 2, 0.0, size)


def rates(verdicts: pd.DataFrame, claim: int) -> dict[str, float]:
    mine = verdicts[verdicts["claim"] == claim]
    return {v: float((mine["verdict"] == v).mean()) for v in C.VERDICTS}


def finding_rate(verdicts: pd.DataFrame, claim: int, finding: str) -> float:
    mine = verdicts[verdicts["claim"] == claim]
    return float((mine["finding"] == finding).mean())


# ------------------------------------------------------------------------------------------------
# Known truth, many draws
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pure_noise():
    table = make_summary(draws=NULL_DRAWS, rng=1)
    return check_claims(table, radius=0.4), claim_tests(table, radius=0.4)


@pytest.mark.parametrize("claim", [1, 2, 3, 4, 5, 6])
def test_pure_noise_does_not_hold(pure_noise, claim):
    verdicts, _ = pure_noise
    assert rates(verdicts, claim)[FAILS] >= 0.95


@pytest.mark.parametrize("claim", [1, 2, 3, 4, 5, 6])
def test_pure_noise_passes_no_test_of_a_claim_beyond_the_family_level(pure_noise, claim):
    # Holm keeps "any of the claim's tests passes" at 2.5%; 8 uncorrected tests would pass ~18% of the time.
    _, tests = pure_noise
    mine = tests[tests["claim"] == claim]
    any_pass = mine.groupby(["depth", "lr"])["passes"].any()
    assert len(any_pass) == NULL_DRAWS
    assert any_pass.mean() <= 0.05


def test_a_passing_test_always_has_its_interval_above_zero(pure_noise):
    _, tests = pure_noise
    table = make_summary({"log2_mean_bound": every_set(fall_then_rise(0.15))}, draws=20, rng=2)
    tests = pd.concat([tests, claim_tests(table, radius=0.4)])
    passing = tests[tests["passes"]]
    assert len(passing) > 0
    assert (passing["ci_low"] >= 0).all()
    assert (passing["p"] <= C.LEVEL).all()
    assert (tests["p_holm"] >= tests["p"] - 1e-15).all()


def test_a_clear_fall_then_rise_holds():
    table = make_summary({"log2_mean_bound": every_set(fall_then_rise(0.4))}, draws=DRAWS, rng=3)
    verdicts = check_claims(table, radius=0.4)
    assert rates(verdicts, 1)[HOLDS] >= 0.95
    assert finding_rate(verdicts, 1, "falls, rises") >= 0.95
    # Nothing else was built into this table.
    for other in (2, 4, 5, 6):
        assert rates(verdicts, other)[FAILS] >= 0.9


def test_a_fall_then_rise_with_a_late_turn_still_holds():
    table = make_summary({"log2_mean_bound": every_set(fall_then_rise(0.4, turn=12.0))}, draws=DRAWS, rng=4)
    assert rates(check_claims(table, radius=0.4), 1)[HOLDS] >= 0.95


def test_a_fall_only_is_partly_and_names_the_fall():
    table = make_summary({"log2_mean_bound": every_set(falling(0.4))}, draws=DRAWS, rng=5)
    verdicts = check_claims(table, radius=0.4)
    mine = verdicts[verdicts["claim"] == 1]
    assert (mine["verdict"] == PARTLY).mean() >= 0.95
    assert (mine["holding_part"] == "falls").mean() >= 0.95
    assert finding_rate(verdicts, 1, "falls, does not rise") >= 0.95


def test_a_rise_only_is_partly_and_names_the_rise():
    table = make_summary({"log2_mean_bound": every_set(rising(0.4))}, draws=DRAWS, rng=6)
    verdicts = check_claims(table, radius=0.4)
    assert finding_rate(verdicts, 1, "does not fall, rises") >= 0.95


def test_a_fall_then_rise_missing_on_one_set_does_not_hold_and_names_the_others():
    shape = fall_then_rise(0.4)
    table = make_summary({"log2_mean_bound": {"train": shape, "test": shape, "random1": shape}}, draws=DRAWS, rng=7)
    verdicts = check_claims(table, radius=0.4)
    mine = verdicts[verdicts["claim"] == 1]
    assert (mine["verdict"] == FAILS).mean() >= 0.95
    assert (mine["remark"] == "falls: only training, testing, random 1 pass; "
            "rises: only training, testing, random 1 pass").mean() >= 0.9
    assert (mine["part1_weakest"] == "random 2").mean() >= 0.95


@pytest.fixture(scope="module")
def step():
    shapes = {
        "log2_mean_bound": every_set(step_at_epoch_2(-0.4)),
        "single_region_points": every_set(step_at_epoch_2(60.0)),
        "mean_boundary_distance": every_set(step_at_epoch_2(0.3)),
    }
    table = make_summary(shapes, draws=NULL_DRAWS, rng=8)
    return check_claims(table, radius=0.4), check_claims(table, radius=0.4, epochs=list(EPOCHS))


@pytest.mark.parametrize("claim", [1, 2, 3, 4, 5, 6])
def test_a_step_from_epoch_0_to_2_then_flat_does_not_hold_on_the_paper_trajectory(step, claim):
    trajectory, _ = step
    assert (trajectory["first_epoch"] == 2).all()
    assert rates(trajectory, claim)[FAILS] >= 0.95


def test_a_step_from_epoch_0_to_2_shows_up_with_epoch_0(step):
    _, with_zero = step
    assert (with_zero["first_epoch"] == 0).all()
    assert finding_rate(with_zero, 1, "falls, does not rise") >= 0.95
    assert finding_rate(with_zero, 2, "rises, does not fall") >= 0.95
    assert rates(with_zero, 6)[HOLDS] >= 0.95
    assert finding_rate(with_zero, 4, "grows on training and testing, not steadier on testing") >= 0.9


def test_clearer_on_training_and_testing_than_random_holds():
    shape = fall_then_rise(0.4)
    table = make_summary({"log2_mean_bound": {"train": shape, "test": shape}}, draws=DRAWS, rng=9)
    verdicts = check_claims(table, radius=0.4)
    assert rates(verdicts, 3)[HOLDS] >= 0.95
    assert rates(verdicts, 1)[FAILS] >= 0.95  # the random sets do not fall and rise


def test_clearer_on_training_only_is_partly():
    table = make_summary({"log2_mean_bound": {"train": fall_then_rise(0.4)}}, draws=DRAWS, rng=10)
    verdicts = check_claims(table, radius=0.4)
    mine = verdicts[verdicts["claim"] == 3]
    assert (mine["holding_part"] == "clearer on training").mean() >= 0.95


def test_the_same_fall_then_rise_everywhere_is_not_clearer_on_data():
    table = make_summary({"log2_mean_bound": every_set(fall_then_rise(0.4))}, draws=NULL_DRAWS, rng=11)
    assert rates(check_claims(table, radius=0.4), 3)[FAILS] >= 0.95


def test_a_rise_then_fall_of_the_boundary_distance_holds():
    hump = lambda e: -fall_then_rise(0.3)(e)  # noqa: E731
    table = make_summary({"mean_boundary_distance": every_set(hump)}, draws=DRAWS, rng=12)
    verdicts = check_claims(table, radius=0.4)
    assert rates(verdicts, 2)[HOLDS] >= 0.95
    assert rates(verdicts, 1)[FAILS] >= 0.95


def _growth(train_within, test_within, size=60.0, draws=DRAWS, rng=13):
    grow = rising(size)
    noise = {"single_region_points": {"train": (30.0, train_within), "test": (30.0, test_within)}}
    shapes = {"single_region_points": {"train": grow, "test": grow}}
    return check_claims(make_summary(shapes, noise=noise, draws=draws, rng=rng), radius=0.4)


def test_growth_steadier_on_testing_holds():
    verdicts = _growth(train_within=25.0, test_within=5.0)
    assert rates(verdicts, 4)[HOLDS] >= 0.95


def test_growth_steadier_on_training_is_partly_and_names_the_growth():
    verdicts = _growth(train_within=5.0, test_within=25.0, rng=14)
    mine = verdicts[verdicts["claim"] == 4]
    assert (mine["verdict"] == PARTLY).mean() >= 0.95
    assert (mine["holding_part"] == "grows on training and testing").mean() >= 0.95


def test_growth_equally_steady_is_partly_growth_only():
    verdicts = _growth(train_within=12.0, test_within=12.0, rng=15)
    assert finding_rate(verdicts, 4, "grows on training and testing, not steadier on testing") >= 0.95


def test_steadier_testing_without_growth_is_partly_and_names_the_steadiness():
    noise = {"single_region_points": {"train": (30.0, 25.0), "test": (30.0, 5.0)}}
    verdicts = check_claims(make_summary(noise=noise, draws=DRAWS, rng=16), radius=0.4)
    assert finding_rate(verdicts, 4, "does not grow on both, steadier on testing") >= 0.95


def test_training_above_both_random_sets_holds():
    levels = {"log2_mean_bound": {"train": 0.8, "test": 0.8, "random1": 0.3, "random2": 0.3}}
    verdicts = check_claims(make_summary(levels=levels, draws=DRAWS, rng=17), radius=0.4)
    assert rates(verdicts, 5)[HOLDS] >= 0.95


def test_training_above_one_random_set_is_partly_and_names_it():
    levels = {"log2_mean_bound": {"train": 0.8, "random1": 0.3, "random2": 0.8}}
    verdicts = check_claims(make_summary(levels=levels, draws=DRAWS, rng=18), radius=0.4)
    mine = verdicts[verdicts["claim"] == 5]
    assert (mine["holding_part"] == "above random 1").mean() >= 0.95


def test_training_below_random_does_not_hold():
    levels = {"log2_mean_bound": {"train": 0.3, "random1": 0.8, "random2": 0.8}}
    verdicts = check_claims(make_summary(levels=levels, draws=DRAWS, rng=19), radius=0.4)
    assert rates(verdicts, 5)[FAILS] == 1.0


def test_boundaries_moving_away_from_training_points_holds():
    table = make_summary({"mean_boundary_distance": {"train": rising(0.3)}}, draws=DRAWS, rng=20)
    assert rates(check_claims(table, radius=0.4), 6)[HOLDS] >= 0.95


def test_boundaries_moving_away_only_from_testing_points_does_not_hold():
    table = make_summary({"mean_boundary_distance": {"test": rising(0.3)}}, draws=NULL_DRAWS, rng=21)
    assert rates(check_claims(table, radius=0.4), 6)[FAILS] >= 0.95


def test_boundaries_moving_towards_training_points_does_not_hold():
    table = make_summary({"mean_boundary_distance": {"train": rising(-0.3)}}, draws=DRAWS, rng=22)
    assert rates(check_claims(table, radius=0.4), 6)[FAILS] == 1.0


# ------------------------------------------------------------------------------------------------
# Thresholds at their boundary
# ------------------------------------------------------------------------------------------------


def _with_t(t_value, n=10):
    """n per-seed values whose one-sample t statistic is ``t_value`` (sd 1)."""
    z = np.arange(n, dtype=float)
    z = (z - z.mean()) / z.std(ddof=1)
    return t_value / np.sqrt(n) + z


def _p_to_t(p, n=10):
    return float(stats.t.isf(p, n - 1))


def test_passes_at_the_level_and_not_just_above():
    assert bool(C.passes(C.LEVEL))
    assert not bool(C.passes(np.nextafter(C.LEVEL, 1.0)))
    assert C.LEVEL == 0.025


def test_holm_values():
    assert C.holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    # The step-down never lets a larger p get a smaller adjusted value than a smaller p.
    assert C.holm([0.001, 0.03, 0.02]).tolist() == pytest.approx([0.003, 0.04, 0.04])
    assert C.holm([0.6, 0.9]).tolist() == [1.0, 1.0]  # capped at 1, and never below the one before
    assert C.holm([0.2]).tolist() == [0.2]


def test_holm_at_the_boundary():
    # 0.0125 * 2 == 0.025 exactly: both pass at the boundary ...
    assert C.passes(C.holm([0.0125, 0.025])).tolist() == [True, True]
    # ... a hair above and the step-down stops at the first test.
    assert C.passes(C.holm([np.nextafter(0.0125, 1.0), 0.02])).tolist() == [False, False]
    # Two raw p-values below 2.5% that pass only without the correction.
    assert C.passes(C.holm([0.02, 0.02])).tolist() == [False, False]


def test_t_test_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 1.0, size=10)
    result = C.t_test(x)
    reference = stats.ttest_1samp(x, 0.0, alternative="greater")
    interval = stats.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert result["p"] == pytest.approx(reference.pvalue, rel=1e-12)
    assert result["t"] == pytest.approx(reference.statistic, rel=1e-12)
    assert result["ci_low"] == pytest.approx(interval.low, rel=1e-12)
    assert result["ci_high"] == pytest.approx(interval.high, rel=1e-12)
    assert result["sd"] == pytest.approx(np.std(x, ddof=1))
    assert result["positive_seeds"] == int((x > 0).sum())


def test_t_test_without_spread_is_decided_by_the_sign():
    assert C.t_test([0.5, 0.5, 0.5])["p"] == 0.0
    assert C.t_test([0.0, 0.0, 0.0])["p"] == 0.5
    assert C.t_test([-0.5, -0.5])["p"] == 1.0


def test_t_test_needs_two_finite_values():
    with pytest.raises(ValueError, match="at least 2"):
        C.t_test([1.0])
    C.t_test([1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        C.t_test([1.0, np.nan])


def _claim5_table(p):
    """Training above both random sets by per-seed gaps whose t test has one-sided p = ``p``."""
    gaps = _with_t(_p_to_t(p))[:, None] * np.ones((1, len(EPOCHS)))
    zeros = np.zeros_like(gaps)
    return table_from_arrays({"log2_mean_bound": {"train": gaps, "test": zeros, "random1": zeros, "random2": zeros}})


def test_holm_decides_claim_5_at_its_boundary():
    # Both gaps have p = 0.012: Holm 0.024 <= 0.025, holds.
    verdicts = check_claims(_claim5_table(0.012), radius=0.4)
    assert verdicts.loc[verdicts["claim"] == 5, "verdict"].item() == HOLDS
    # Both gaps have p = 0.013: each passes alone (< 0.025) but Holm makes it 0.026; does not hold.
    verdicts = check_claims(_claim5_table(0.013), radius=0.4)
    row = verdicts[verdicts["claim"] == 5].iloc[0]
    assert row["verdict"] == FAILS
    assert row["part1_p_holm"] == pytest.approx(0.026)


def _claim6_table(p):
    """The boundary distance of training points rises, first to last epoch, by per-seed amounts with p = ``p``."""
    gains = _with_t(_p_to_t(p))
    distance = np.zeros((10, len(EPOCHS)))
    distance[:, -1] = gains
    return table_from_arrays({"mean_boundary_distance": {"train": distance}})


@pytest.mark.parametrize(("p", "verdict"), [(0.0249, HOLDS), (0.0251, FAILS)])
def test_claim_6_at_the_level(p, verdict):
    verdicts = check_claims(_claim6_table(p), radius=0.4)
    row = verdicts[verdicts["claim"] == 6].iloc[0]
    assert row["verdict"] == verdict
    assert row["part1_p_holm"] == pytest.approx(p, rel=1e-6)
    assert (row["part1_ci_low"] > 0) == (verdict == HOLDS)


def test_an_effect_of_exactly_zero_does_not_pass_and_a_spreadless_one_does():
    flat = np.zeros((10, len(EPOCHS)))
    rise = np.tile(np.linspace(0.0, 0.3, len(EPOCHS)), (10, 1))
    assert check_claims(table_from_arrays({"mean_boundary_distance": {"train": flat}}), radius=0.4).loc[
        5, "verdict"
    ] == FAILS
    assert check_claims(table_from_arrays({"mean_boundary_distance": {"train": rise}}), radius=0.4).loc[
        5, "verdict"
    ] == HOLDS


def test_combine_parts():
    assert C.combine_parts([True, True]) == HOLDS
    assert C.combine_parts([True, False]) == PARTLY
    assert C.combine_parts([False, True]) == PARTLY
    assert C.combine_parts([False, False]) == FAILS
    assert C.combine_parts([True]) == HOLDS
    assert C.combine_parts([False]) == FAILS
    with pytest.raises(ValueError):
        C.combine_parts([])


def test_a_part_needs_every_one_of_its_tests():
    # Fall and rise without noise on three sets: each of their tests passes with p = 0; random 2 is flat.
    shape = np.tile(fall_then_rise(0.4)(np.asarray(EPOCHS, float)), (10, 1)) + _with_t(0.0)[:, None] * 0.01
    flat = np.tile(np.linspace(0.0, 0.0, len(EPOCHS)), (10, 1)) + _with_t(0.0)[:, None] * 0.01
    arrays = {"log2_mean_bound": {"train": shape, "test": shape, "random1": shape, "random2": flat}}
    tests = claim_tests(table_from_arrays(arrays), radius=0.4)
    mine = tests[tests["claim"] == 1]
    assert mine["passes"].tolist() == [True, True, True, True, True, True, False, False]
    verdict = check_claims(table_from_arrays(arrays), radius=0.4)
    assert verdict.loc[verdict["claim"] == 1, "verdict"].item() == FAILS
    arrays["log2_mean_bound"]["random2"] = shape
    verdict = check_claims(table_from_arrays(arrays), radius=0.4)
    assert verdict.loc[verdict["claim"] == 1, "verdict"].item() == HOLDS


def test_measurements():
    fall, rise = C.ends_minus_middle(np.array([[3.0, 1.0, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0]]))
    assert fall.tolist() == [2.0, -1.0]
    assert rise.tolist() == [1.0, 0.0]
    assert C.line_rise(np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]]), [2, 4, 6]).tolist() == pytest.approx([2.0, 0.0])
    assert C.line_rise(np.array([[1.0, 0.0, 1.0]]), [0, 1, 2]).tolist() == pytest.approx([0.0])
    assert C.backtrack(np.array([[1.0, 3.0, 2.0, 5.0, 4.5], [1.0, 2.0, 2.0, 3.0, 4.0]])).tolist() == [1.5, 0.0]
    with pytest.raises(ValueError, match="n_epochs >= 3"):
        C.ends_minus_middle(np.ones((3, 2)))


def test_the_steadiness_difference_is_training_minus_testing():
    steady = np.tile(np.linspace(0.0, 60.0, len(TRAJECTORY) + 1), (10, 1)) + _with_t(0.0)[:, None]
    shaky = steady.copy()
    shaky[:, 3::2] -= 20.0
    table = table_from_arrays({"single_region_points": {"train": shaky, "test": steady}})
    row = claim_tests(table, radius=0.4).query("claim == 4 and part == 'steadier on testing'").iloc[0]
    assert row["subject"] == "training − testing"
    assert row["effect"] > 0 and row["passes"]


# ------------------------------------------------------------------------------------------------
# The table, the records, the validation
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def four_settings():
    frames = []
    rng = np.random.default_rng(30)
    for depth in (3, 2):
        for lr in (0.001, 0.02):
            table = make_summary(draws=1, rng=int(rng.integers(1 << 30)))
            frames.append(table.assign(depth=depth, lr=lr))
    return pd.concat(frames, ignore_index=True)


def test_one_row_per_setting_and_claim_in_the_paper_order(four_settings):
    verdicts = check_claims(four_settings, radius=0.4)
    assert list(zip(verdicts["depth"], verdicts["lr"], verdicts["claim"], strict=True)) == [
        (d, lr, c) for d, lr in [(2, 0.02), (2, 0.001), (3, 0.02), (3, 0.001)] for c in range(1, 7)
    ]
    assert set(verdicts["verdict"]) <= set(C.VERDICTS)
    for column in ["finding", "holding_part", "part1", "part1_effect", "part1_ci_low", "part1_ci_high",
                   "part1_p_holm", "part2_weakest", "n_seeds", "epochs", "first_epoch", "last_epoch"]:
        assert column in verdicts.columns
    assert (verdicts["n_seeds"] == 10).all()
    assert (verdicts["epochs"] == ",".join(str(e) for e in TRAJECTORY)).all()
    assert (verdicts["n_epochs"] == 10).all()
    assert verdicts.loc[verdicts["claim"] == 6, "part2"].eq("").all()
    assert verdicts.loc[verdicts["verdict"] != PARTLY, "holding_part"].eq("").all()


def test_the_same_table_in_any_row_order_gives_the_same_answer(four_settings):
    first = check_claims(four_settings, radius=0.4)
    shuffled = four_settings.sample(frac=1.0, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(first, check_claims(shuffled, radius=0.4))
    pd.testing.assert_frame_equal(claim_tests(four_settings, radius=0.4), claim_tests(shuffled, radius=0.4))


def test_tests_table_has_every_test(four_settings):
    tests = claim_tests(four_settings, radius=0.4)
    counts = tests.groupby("claim").size() // 4
    assert counts.to_dict() == {1: 8, 2: 8, 3: 4, 4: 3, 5: 2, 6: 1}
    for claim_number, group in tests.groupby(["depth", "lr", "claim"]):
        assert group["p_holm"].to_numpy() == pytest.approx(C.holm(group["p"].to_numpy()))


def test_each_claim_is_one_record():
    numbers = [c.number for c in C.CLAIMS]
    assert numbers == [1, 2, 3, 4, 5, 6]
    for record in C.CLAIMS:
        assert record.quote and record.rule and record.statement and record.source
        assert record.column in SUMMARY_METRICS
        assert 1 <= len(record.parts) <= 2
        assert C.claim(record.number) is record
    with pytest.raises(ValueError, match="number"):
        C.claim(7)


def test_the_quotes_are_the_papers_words():
    import pathlib

    paper = pathlib.Path("/work/shared/seeds/001_e48daaa7271d7fa6.txt")
    if not paper.exists():
        pytest.skip("the paper's text is not on this machine")
    text = " ".join(paper.read_text(encoding="utf-8").split())
    for record in C.CLAIMS:
        assert " ".join(record.quote.split()) in text, record.number


def test_paper_epochs_leave_out_epoch_0():
    assert C.paper_epochs([0, 2, 4, 6]) == [2, 4, 6]
    assert C.paper_epochs([2, 4, 6]) == [2, 4, 6]


@pytest.fixture(scope="module")
def small():
    return make_summary(draws=1, rng=40)


def test_explicit_epochs(small):
    verdicts = check_claims(small, radius=0.4, epochs=[4, 0, 2])
    assert (verdicts["epochs"] == "0,2,4").all()
    with pytest.raises(ValueError, match="epochs must hold at least 3"):
        check_claims(small, radius=0.4, epochs=[0, 2])
    with pytest.raises(ValueError, match=r"epochs \[3\] are not in summary"):
        check_claims(small, radius=0.4, epochs=[2, 3, 4])
    with pytest.raises(ValueError, match="repeat"):
        check_claims(small, radius=0.4, epochs=[2, 2, 4])
    with pytest.raises(TypeError, match="epochs must be a sequence"):
        check_claims(small, radius=0.4, epochs=4)
    with pytest.raises(ValueError, match="integers"):
        check_claims(small, radius=0.4, epochs=[2, 4.5, 6])


def test_default_epochs_need_three_besides_epoch_0(small):
    check_claims(small[small["epoch"] <= 6], radius=0.4)  # 2, 4, 6: exactly three
    with pytest.raises(ValueError, match="at least 3 epochs.*after leaving out epoch 0"):
        check_claims(small[small["epoch"] <= 4], radius=0.4)


def test_seeds_exactly_two_is_enough_one_is_not(small):
    verdicts = check_claims(small[small["seed"] <= 1], radius=0.4)
    assert (verdicts["n_seeds"] == 2).all()
    with pytest.raises(ValueError, match="1 seed.*at least 2"):
        check_claims(small[small["seed"] == 0], radius=0.4)


def test_missing_columns(small):
    with pytest.raises(ValueError, match=r"summary is missing columns \['single_region_points'\]"):
        check_claims(small.drop(columns=["single_region_points"]), radius=0.4)
    for key in SUMMARY_KEYS:
        with pytest.raises(ValueError, match=f"missing columns.*{key}"):
            check_claims(small.drop(columns=[key]), radius=0.4)


def test_radius_and_norm(small):
    with pytest.raises(ValueError, match=r"radius 0.5 is not in summary"):
        check_claims(small, radius=0.5)
    with pytest.raises(TypeError, match="radius must be a number"):
        check_claims(small, radius="big")
    two_norms = pd.concat([small, small.assign(norm="linf")], ignore_index=True)
    with pytest.raises(ValueError, match=r"norms \['l2', 'linf'\].*pass norm="):
        check_claims(two_norms, radius=0.4)
    pd.testing.assert_frame_equal(check_claims(two_norms, radius=0.4, norm="l2"), check_claims(small, radius=0.4))
    with pytest.raises(ValueError, match="norm 'l1' is not in summary"):
        check_claims(small, radius=0.4, norm="l1")
    other_radius = pd.concat([small, small.assign(radius=0.8, log2_mean_bound=9.0)], ignore_index=True)
    pd.testing.assert_frame_equal(check_claims(other_radius, radius=0.4), check_claims(small, radius=0.4))


def test_incomplete_duplicated_or_non_finite_rows(small):
    lacking = small.drop(small[(small["seed"] == 3) & (small["epoch"] == 12) & (small["dataset"] == "test")].index)
    with pytest.raises(ValueError, match=r"lacks 1 \(seed, epoch\) rows of set 'test'.*\(3, 12\)"):
        check_claims(lacking, radius=0.4)
    # Epoch 0 is not used by default, so a seed without it is fine there ...
    check_claims(small.drop(small[(small["seed"] == 3) & (small["epoch"] == 0)].index), radius=0.4)
    with pytest.raises(ValueError, match="repeated keys"):
        check_claims(pd.concat([small, small.iloc[:1]]), radius=0.4)
    broken = small.copy()
    broken.loc[5, "mean_boundary_distance"] = np.inf
    with pytest.raises(ValueError, match="'mean_boundary_distance' has 1 missing or non-finite"):
        check_claims(broken, radius=0.4)


def test_sets(small):
    with pytest.raises(ValueError, match=r"no rows for datasets \['random2'\]"):
        check_claims(small[small["dataset"] != "random2"], radius=0.4)
    with pytest.raises(ValueError, match="unknown datasets"):
        check_claims(small.replace({"dataset": {"random2": "noise"}}), radius=0.4)


def test_not_a_table():
    with pytest.raises(TypeError, match="summary must be a pandas.DataFrame"):
        check_claims({"depth": [2]}, radius=0.4)
    with pytest.raises(ValueError, match="summary has no rows"):
        check_claims(make_summary(draws=1).iloc[:0], radius=0.4)


def test_no_paths_no_hydra_no_snakemake():
    import ast
    import pathlib

    for module in (C,):
        tree = ast.parse(pathlib.Path(module.__file__).read_text(encoding="utf-8"))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert imported <= {"__future__", "collections", "dataclasses", "numpy", "pandas", "scipy", "localregions"}


def test_a_fall_only_on_training_and_testing_is_not_a_clearer_fall_then_rise():
    # Claim 3 measures the size of a fall *then* rise, (fall + rise) / 2: a steady fall scores 0 however steep.
    shape = falling(0.6)
    table = make_summary({"log2_mean_bound": {"train": shape, "test": shape}}, draws=NULL_DRAWS, rng=23)
    assert rates(check_claims(table, radius=0.4), 3)[FAILS] >= 0.95


def test_growth_is_the_rise_of_the_least_squares_line():
    # Rises, then drops back at the last epoch ("sometimes slightly decreases before the convergence").
    x = np.asarray(TRAJECTORY, dtype=float)
    curve = np.where(x < 20, 10.0 * (x - 2.0), 100.0)
    curves = np.tile(curve, (10, 1)) + _with_t(0.0)[:, None]
    arrays = {"single_region_points": {"train": np.hstack([curves[:, :1], curves]), "test": np.hstack([curves[:, :1], curves])}}
    tests = claim_tests(table_from_arrays(arrays), radius=0.4)
    growth = tests.query("claim == 4 and subject == 'training'").iloc[0]
    assert growth["effect"] == pytest.approx(float(C.line_rise(curve[None, :], x)[0]))
    assert growth["effect"] != pytest.approx(curve[-1] - curve[0])


def test_seeds_are_paired_across_sets():
    # Large seed offsets shared by all sets; training is 0.05 bits above each random set in every seed.
    offsets = np.linspace(-1.0, 1.0, 10)[::-1, None] * np.ones((1, len(EPOCHS)))
    offsets = offsets[[3, 0, 7, 1, 9, 4, 2, 8, 5, 6]]
    arrays = {"log2_mean_bound": {"train": offsets + 0.05, "test": offsets, "random1": offsets, "random2": offsets}}
    table = table_from_arrays(arrays, seeds=[5, 1, 8, 0, 3, 9, 2, 7, 4, 6])
    shuffled = table.sample(frac=1.0, random_state=4).reset_index(drop=True)
    for frame in (table, shuffled):
        tests = claim_tests(frame, radius=0.4).query("claim == 5")
        assert tests["effect"].to_numpy() == pytest.approx([0.05, 0.05])
        assert tests["sd"].to_numpy() == pytest.approx([0.0, 0.0], abs=1e-12)
        assert tests["passes"].all()
