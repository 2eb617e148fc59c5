"""The bootstrap over points within seeds: how much another draw of the points moves each claim's mean effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from localregions.experiment.tables import summarise_points
from localregions.reporting.claims import TEST_KEYS, check_claims, claim_tests
from localregions.reporting.point_bootstrap import POINT_COLUMNS, point_spread, point_spread_table, resampled_curves
from localregions.reporting.verdicts import claims_table
from localregions.vocabulary import DATASET_NAMES

EPOCHS = (0, 2, 4, 6, 8)
N_POINTS = 200
SEEDS = 6


def per_point_table(distance, log2_bound=None, *, seeds=SEEDS, epochs=EPOCHS, settings=((2, 0.02),)):
    """A ``bounds`` table: ``distance(setting, dataset, seed, epoch_index)`` and ``log2_bound(...)`` give one array of
    N_POINTS values each; ``unstable`` is ``log2_bound`` rounded."""
    log2_bound = log2_bound or (lambda *key: np.zeros(N_POINTS))
    frames = []
    for index, (depth, lr) in enumerate(settings):
        for dataset in DATASET_NAMES:
            for seed in range(seeds):
                for e, epoch in enumerate(epochs):
                    bound = np.asarray(log2_bound(index, dataset, seed, e), dtype=float)
                    frames.append(pd.DataFrame({
                        "depth": depth, "lr": lr, "seed": seed, "epoch": epoch, "dataset": dataset,
                        "point": np.arange(N_POINTS), "radius": 0.4, "norm": "l2", "unstable": np.round(bound),
                        "log2_bound": np.round(bound), "boundary_distance": distance(index, dataset, seed, e)}))
    return pd.concat(frames, ignore_index=True)


def _runs(points):
    return points[["depth", "lr", "seed"]].drop_duplicates().assign(status="ok")


def test_identical_points_have_no_point_spread_and_reproduce_the_summaries():
    rng = np.random.default_rng(0)
    levels = {key: rng.normal(2.0, 0.3) for key in [(d, s, e) for d in DATASET_NAMES for s in range(SEEDS)
                                                      for e in range(len(EPOCHS))]}
    bounds = {key: rng.integers(0, 4) for key in levels}
    points = per_point_table(lambda i, d, s, e: np.full(N_POINTS, levels[(d, s, e)]),
                             lambda i, d, s, e: np.full(N_POINTS, bounds[(d, s, e)]))
    curves = resampled_curves(points, radius=0.4, epochs=list(EPOCHS), replicates=5)
    seeds, epochs, arrays = curves[(2, 0.02)]
    summary = summarise_points(points).set_index(["dataset", "seed", "epoch"])
    for column in ("log2_mean_bound", "single_region_points", "mean_boundary_distance"):
        for dataset in DATASET_NAMES:
            expected = summary.loc[dataset][column].unstack("epoch").loc[seeds, epochs].to_numpy()
            assert arrays[column][dataset].shape == (5, SEEDS, len(EPOCHS))
            for replicate in arrays[column][dataset]:
                assert replicate == pytest.approx(expected, abs=1e-9)
    spread = point_spread(points, radius=0.4, replicates=5)
    assert spread["point_sd"].to_numpy() == pytest.approx(0.0, abs=1e-9)


def test_resampled_summaries_average_to_the_summary_and_spread_like_a_mean_of_n_points():
    """The mean bound (linear in the resample's weights) averages to the table's; the mean distance's sd over
    resamples is the points' sd over sqrt(N)."""
    rng = np.random.default_rng(1)
    distances = rng.gamma(2.0, 1.0, size=N_POINTS)
    log2 = rng.integers(0, 6, size=N_POINTS).astype(float)
    points = per_point_table(lambda i, d, s, e: distances + 0.01 * s, lambda i, d, s, e: log2)
    seeds, epochs, arrays = resampled_curves(points, radius=0.4, replicates=400, seed=3)[(2, 0.02)]
    mean_bound = np.exp2(arrays["log2_mean_bound"]["train"]).mean(axis=0)
    assert mean_bound == pytest.approx(np.full_like(mean_bound, np.exp2(log2).mean()), rel=0.02)
    distance_sd = arrays["mean_boundary_distance"]["train"].std(axis=0, ddof=1)
    assert distance_sd == pytest.approx(np.full_like(distance_sd, distances.std() / np.sqrt(N_POINTS)), rel=0.12)
    # The same draw for every seed and epoch: resample k moves every seed's mean distance by the same amount.
    shifts = arrays["mean_boundary_distance"]["train"] - arrays["mean_boundary_distance"]["train"].mean(axis=0)
    assert shifts[:, 0, 0] == pytest.approx(shifts[:, 3, 2], abs=1e-9)
    # Fixed seed: the same numbers; another seed: others.
    again = resampled_curves(points, radius=0.4, replicates=400, seed=3)[(2, 0.02)][2]
    assert np.array_equal(again["log2_mean_bound"]["test"], arrays["log2_mean_bound"]["test"])
    other = resampled_curves(points, radius=0.4, replicates=400, seed=4)[(2, 0.02)][2]
    assert not np.array_equal(other["log2_mean_bound"]["test"], arrays["log2_mean_bound"]["test"])


@pytest.fixture(scope="module")
def resting_on_the_points():
    """The training points' boundary distance rises by b_i from the first to the last epoch, the same in every seed
    (seed noise 0.001): mean(b) = 0.03 over 200 points whose b has sd 0.5. The seeds agree, the points do not."""
    rng = np.random.default_rng(2)
    b = rng.normal(0.0, 0.5, size=N_POINTS)
    b = b - b.mean() + 0.03
    base = rng.gamma(2.0, 1.0, size=N_POINTS)
    noise = {s: rng.normal(0, 0.001) for s in range(SEEDS)}

    def distance(index, dataset, seed, e):
        rise = b if dataset == "train" and e == len(EPOCHS) - 1 else 0.0
        return base + rise + noise[seed] * e

    return per_point_table(distance), b


def test_point_spread_of_a_claim_resting_on_a_few_points(resting_on_the_points):
    points, b = resting_on_the_points
    spread = point_spread(points, radius=0.4, replicates=300, seed=0)
    assert list(spread.columns) == TEST_KEYS + ["point_sd", "replicates"]
    moves = spread[spread["claim"] == 6].iloc[0]
    assert moves["point_sd"] == pytest.approx(b.std() / np.sqrt(N_POINTS), rel=0.12)
    summary = summarise_points(points)
    seeds_only = check_claims(summary, radius=0.4).query("claim == 6").iloc[0]
    with_points = check_claims(summary, radius=0.4, point_spread=spread).query("claim == 6").iloc[0]
    # Over seeds alone the rise is certain; over seeds and points another draw could well have reversed it.
    assert seeds_only["verdict"] == "holds"
    assert with_points["verdict"] == "inconclusive" and with_points["uncertainty"] == "seeds and points"
    assert with_points["part1_detectable"] > 0.05 > seeds_only["part1_detectable"]
    # Every test of the claims has its spread, and the tests table carries it.
    tests = claim_tests(summary, radius=0.4, point_spread=spread)
    assert len(spread) == len(tests) and tests["point_sd"].notna().all()


def test_point_spread_table_covers_both_trajectories_and_feeds_claims_table(resting_on_the_points):
    points, _ = resting_on_the_points
    runs = _runs(points)
    spread = point_spread_table(points, runs, radius=0.4, replicates=20)
    assert set(spread["trajectory"]) == {"paper", "with epoch 0"}
    table = claims_table(summarise_points(points), runs, radius=0.4, point_spread=spread)
    assert set(table["uncertainty"]) == {"seeds and points"}
    assert set(table["trajectory"]) == {"paper", "with epoch 0"}
    # A run that did not train is left out of both.
    runs.loc[runs["seed"] == 0, "status"] = "collapsed"
    fewer = point_spread_table(points, runs, radius=0.4, replicates=20)
    assert len(fewer) == len(spread)
    assert not fewer["point_sd"].equals(spread["point_sd"])


def test_bad_point_tables_are_refused(resting_on_the_points):
    points, _ = resting_on_the_points
    with pytest.raises(TypeError, match="points must be a pandas.DataFrame"):
        point_spread(points.to_dict(), radius=0.4)
    with pytest.raises(ValueError, match=r"points is missing columns \['log2_bound'\]"):
        point_spread(points.drop(columns=["log2_bound"]), radius=0.4)
    with pytest.raises(ValueError, match="radius 0.8 is not in points"):
        point_spread(points, radius=0.8)
    with pytest.raises(ValueError, match="replicates must be an integer >= 2"):
        point_spread(points, radius=0.4, replicates=1)
    with pytest.raises(ValueError, match=r"epochs \[3\] are not in points"):
        point_spread(points, radius=0.4, epochs=[2, 3, 4])
    lacking = points.drop(points[(points["dataset"] == "test") & (points["seed"] == 1) & (points["epoch"] == 4)
                                 & (points["point"] == 7)].index)
    with pytest.raises(ValueError, match="points lack 1"):
        point_spread(lacking, radius=0.4)
    with pytest.raises(ValueError, match=r"no rows for datasets \['random2'\]"):
        point_spread(points[points["dataset"] != "random2"], radius=0.4)
    assert set(POINT_COLUMNS) <= set(points.columns)
