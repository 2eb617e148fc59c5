"""The result tables and their summaries, against numbers worked out by hand (derivations in the comments)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.stats  # noqa: F401  (summarise_over_seeds imports it: once here, not in every forked mutmut worker)
import torch
from torch import nn

from localregions.bounds import local_region_bound
from localregions.experiment.ball_summaries import tightness_summary
from localregions.experiment.tables import (
    log2_mean_exp2,
    point_table,
    radius_sweep_summary,
    summarise_over_seeds,
    summarise_points,
    summarise_runs,
    sweep_rows,
    tightness_rows,
)
from localregions.regions import boundary_distance
from localregions.vocabulary import SETTING_KEYS, SUMMARY_KEYS, SUMMARY_METRICS

# Student t quantiles (any table): t(0.975; 1) = 12.7062, t(0.975; 2) = 4.30265, t(0.95; 2) = 2.91999.
T975_1, T975_2, T95_2 = 12.706204736174694, 4.302652729749462, 2.9199855803537242


# ------------------------------------------------------------------------------------------------
# log2 of the mean of 2^C
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, expected",
    [
        ([0.0, 2.0], 1.3219280948873624),  # mean(1, 4) = 2.5; log2 2.5 = 1.32193
        ([-1.0, 1.0], 0.32192809488736235),  # mean(0.5, 2) = 1.25; log2 1.25 = 0.32193
        ([1000.0, 1001.0, 1002.0], 1001.2223924213364),  # 2^1000 (1 + 2 + 4) / 3: 1000 + log2(7/3)
        ([2000.0, 2000.0], 2000.0),  # 2^2000 overflows a float; its log2 does not
        ([0.0, 2000.0], 1999.0),  # (1 + 2^2000) / 2: 2^1999 to 600 digits; scaled by the largest, not the smallest
        ([5.0], 5.0),
    ],
)
def test_log2_mean_exp2_is_the_log2_of_the_mean_of_2_to_the_c(values, expected):
    assert log2_mean_exp2(values) == pytest.approx(expected, rel=1e-15)


# ------------------------------------------------------------------------------------------------
# summarise_points
# ------------------------------------------------------------------------------------------------


def points_frame(groups: dict[str, tuple[list[int], list[float]]]) -> pd.DataFrame:
    rows = []
    for dataset, (unstable, distances) in groups.items():
        for point, (c, d) in enumerate(zip(unstable, distances, strict=True)):
            rows.append({"depth": 2, "lr": 0.01, "seed": 0, "epoch": 5, "dataset": dataset, "point": point,
                         "radius": 0.1, "norm": "l2", "unstable": c, "log2_bound": float(c), "boundary_distance": d})
    return pd.DataFrame(rows)


def test_summarise_points_against_hand_computed_numbers(recwarn):
    frame = points_frame({
        "train": ([0, 2, 3], [0.5, math.inf, 1.5]),
        "test": ([2, 2], [0.25, 0.75]),
        "random1": ([1100, 1102], [math.inf, math.inf]),
        "random2": ([1023, 1024], [1.0, 3.0]),
        "edge": ([1024, 1024], [1.0, 1.0]),
    })
    summary = summarise_points(frame)
    assert list(summary.columns) == SUMMARY_KEYS + ["n_points"] + SUMMARY_METRICS
    assert summary["dataset"].tolist() == ["edge", "random1", "random2", "test", "train"]  # sorted keys
    rows = summary.set_index("dataset")

    train = rows.loc["train"]
    # C = 0, 2, 3: 2^C = 1, 4, 8, mean 13/3 = 4.3333, log2(13/3) = 2.11548; mean C = 5/3, median 2;
    # one ball inside a single region; distances 0.5 and 1.5 (the infinite one has no boundary): 1.0.
    assert train["n_points"] == 3
    assert train["mean_bound"] == pytest.approx(13 / 3, rel=1e-15)
    assert train["log2_mean_bound"] == pytest.approx(2.1154772174199357, rel=1e-15)
    assert train["mean_log2_bound"] == pytest.approx(5 / 3, rel=1e-15)
    assert train["median_log2_bound"] == 2.0
    assert train["single_region_points"] == 1
    assert train["mean_boundary_distance"] == pytest.approx(1.0, rel=1e-15)

    test = rows.loc["test"]
    # C = 2, 2: mean 2^C = 4, log2 2; no ball in a single region; distances 0.25, 0.75: 0.5.
    assert (test["mean_bound"], test["log2_mean_bound"], test["mean_log2_bound"]) == (4.0, 2.0, 2.0)
    assert test["single_region_points"] == 0 and test["mean_boundary_distance"] == 0.5

    random1 = rows.loc["random1"]
    # C = 1100, 1102: 2^1100 (1 + 4) / 2, log2 = 1100 + log2 2.5 = 1101.32193; 2^1101.3 is no float;
    # no ball has a boundary at all: NaN.
    assert random1["log2_mean_bound"] == pytest.approx(1101.3219280948874, rel=1e-15)
    assert random1["mean_bound"] == math.inf
    assert random1["mean_log2_bound"] == 1101.0 and random1["median_log2_bound"] == 1101.0
    assert math.isnan(random1["mean_boundary_distance"])

    random2 = rows.loc["random2"]
    # C = 1023, 1024: 2^1023 (1 + 2) / 2 = 1.5 * 2^1023 = 1.3483e308, still a float (max 1.798e308).
    assert random2["log2_mean_bound"] == pytest.approx(1023.5849625007212, rel=1e-15)
    assert random2["mean_bound"] == pytest.approx(1.348269851146737e308, rel=1e-12)

    edge = rows.loc["edge"]
    # C = 1024, 1024: log2 of the mean is 1024 exactly, and 2^1024 is just past the largest float.
    assert edge["log2_mean_bound"] == 1024.0 and edge["mean_bound"] == math.inf

    # A set whose balls have no boundary gives NaN quietly (no "mean of empty slice" in the logs).
    assert [str(w.message) for w in recwarn] == []


def test_summarise_points_of_no_points_is_an_empty_table_with_its_columns():
    summary = summarise_points(points_frame({}).reindex(columns=SUMMARY_KEYS + ["point", "unstable", "log2_bound",
                                                                             "boundary_distance"]))
    assert summary.empty and list(summary.columns) == SUMMARY_KEYS + ["n_points"] + SUMMARY_METRICS


def test_summarise_points_keeps_runs_epochs_radii_and_norms_apart():
    frame = pd.concat([
        points_frame({"train": ([0, 2], [1.0, 1.0])}),
        points_frame({"train": ([4], [1.0])}).assign(seed=1),
        points_frame({"train": ([6], [1.0])}).assign(epoch=10),
        points_frame({"train": ([8], [1.0])}).assign(radius=0.2),
        points_frame({"train": ([10], [1.0])}).assign(norm="linf"),
        points_frame({"train": ([12], [1.0])}).assign(lr=0.1),
        points_frame({"train": ([14], [1.0])}).assign(depth=3),
    ])
    summary = summarise_points(frame)
    assert len(summary) == 7
    assert sorted(summary["mean_log2_bound"]) == [1.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]


# ------------------------------------------------------------------------------------------------
# summarise_over_seeds
# ------------------------------------------------------------------------------------------------


def summary_frame() -> pd.DataFrame:
    """Per-seed summaries: epoch 5 has seeds 0, 1, 2; at epoch 10 seed 1 is missing; epoch 20 has seed 0 only."""
    rows = []
    # Epoch 20 first: the result is sorted by setting whatever the order of the input.
    for epoch, seeds_values in ((20, {0: 5.0}), (5, {0: 1.0, 1: 2.0, 2: 4.0}), (10, {0: 1.0, 2: 3.0})):
        for seed, value in seeds_values.items():
            row = {"depth": 2, "lr": 0.01, "seed": seed, "epoch": epoch, "dataset": "train", "radius": 0.1,
                   "norm": "l2", "n_points": 10}
            # Each metric a different multiple of the value, so a metric read from the wrong column shows.
            row.update({metric: (index + 1) * value for index, metric in enumerate(SUMMARY_METRICS)})
            rows.append(row)
    return pd.DataFrame(rows)


def test_summarise_over_seeds_against_hand_computed_numbers(recwarn):
    result = summarise_over_seeds(summary_frame())
    assert [str(w.message) for w in recwarn] == []  # one seed: NaN spread, quietly
    assert result["epoch"].tolist() == [5, 10, 20]
    assert result["n_seeds"].tolist() == [3, 2, 1]  # the missing seed is not counted
    assert list(result.columns[: len(SETTING_KEYS) + 1]) == SETTING_KEYS + ["n_seeds"]
    rows = result.set_index("epoch")

    # Epoch 5, values 1, 2, 4: mean 7/3; deviations -4/3, -1/3, 5/3, squares sum to 42/9, over
    # n - 1 = 2: 7/3, sd sqrt(7/3) = 1.527525; half-width t(0.975; 2) sd / sqrt 3 = 3.794583.
    five = rows.loc[5]
    assert five["mean_bound_mean"] == pytest.approx(7 / 3, rel=1e-15)
    assert five["mean_bound_std"] == pytest.approx(1.5275252316519468, rel=1e-15)
    assert five["mean_bound_ci_low"] == pytest.approx(7 / 3 - 3.79458303359676, rel=1e-12)
    assert five["mean_bound_ci_high"] == pytest.approx(7 / 3 + 3.79458303359676, rel=1e-12)
    assert 3.79458303359676 == pytest.approx(T975_2 * math.sqrt(7 / 3) / math.sqrt(3), rel=1e-12)

    # Epoch 10, values 1 and 3 (seed 1 missing): mean 2, sd sqrt 2, half-width t(0.975; 1) sqrt 2 / sqrt 2.
    ten = rows.loc[10]
    assert ten["mean_bound_mean"] == 2.0
    assert ten["mean_bound_std"] == pytest.approx(math.sqrt(2), rel=1e-15)
    assert ten["mean_bound_ci_low"] == pytest.approx(2 - T975_1, rel=1e-12)
    assert ten["mean_bound_ci_high"] == pytest.approx(2 + T975_1, rel=1e-12)

    # Every metric gets its own statistics: the k-th metric holds k times the values.
    for index, metric in enumerate(SUMMARY_METRICS):
        factor = index + 1
        assert five[f"{metric}_mean"] == pytest.approx(factor * 7 / 3, rel=1e-15)
        assert five[f"{metric}_std"] == pytest.approx(factor * 1.5275252316519468, rel=1e-15)
        assert ten[f"{metric}_ci_high"] == pytest.approx(factor * (2 + T975_1), rel=1e-12)

    # Epoch 20, one seed: its value, and no spread or interval.
    twenty = rows.loc[20]
    assert twenty["mean_bound_mean"] == 5.0
    assert all(math.isnan(twenty[f"mean_bound_{s}"]) for s in ("std", "ci_low", "ci_high"))


def test_summarise_over_seeds_uses_the_confidence_asked_for():
    result = summarise_over_seeds(summary_frame(), confidence=0.9).set_index("epoch")
    # t(0.95; 2) = 2.919986; times sd / sqrt 3 = 0.881917: 2.575185.
    assert result.loc[5, "mean_bound_ci_high"] == pytest.approx(7 / 3 + 2.5751852258368553, rel=1e-12)
    assert 2.5751852258368553 == pytest.approx(T95_2 * math.sqrt(7 / 9), rel=1e-12)


# ------------------------------------------------------------------------------------------------
# summarise_runs
# ------------------------------------------------------------------------------------------------


def metrics(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["epoch", "train_loss", "train_accuracy", "test_accuracy", "status"])


NAN = math.nan


def test_summarise_runs_with_a_diverged_and_a_collapsed_run():
    runs = summarise_runs({
        ("mlp3", 3, 0.1, 0): metrics((0, 0.7, 0.5, 0.5, "ok"), (1, NAN, NAN, NAN, "diverged")),
        ("mlp2", 2, 0.01, 2): metrics((0, 0.7, 0.5, 0.5, "ok"), (1, 0.69, 0.52, 0.5, "ok"),
                                      (2, 0.69, 0.505, 0.5, "collapsed")),
        ("mlp2", 2, 0.01, 0): metrics((0, 0.7, 0.5, 0.5, "ok"), (1, 0.3, 0.9, 0.85, "ok"), (2, 0.1, 0.95, 0.9, "ok")),
        ("mlp2", 2, 0.01, 1): metrics((0, 0.7, 0.5, 0.5, "ok"), (1, 0.4, 0.8, 0.75, "ok"),
                                      (2, NAN, NAN, NAN, "diverged")),
        ("mlp1", 1, 0.1, 0): metrics((0, NAN, NAN, NAN, "diverged")),
        ("mlp0", 1, 0.1, 0): metrics(),  # a metrics file without a single row
    })
    assert runs.columns.tolist() == ["model", "depth", "lr", "seed", "status", "last_epoch", "diverged_at_epoch",
                                     "final_train_loss", "final_train_accuracy", "final_test_accuracy"]
    # Sorted by (model, depth, lr, seed).
    assert list(zip(runs["model"], runs["seed"])) == [("mlp0", 0), ("mlp1", 0), ("mlp2", 0), ("mlp2", 1), ("mlp2", 2),
                                                       ("mlp3", 0)]
    rows = {(r.model, r.seed): r for r in runs.itertuples()}

    ok = rows["mlp2", 0]  # trained: its last epoch
    assert (ok.status, ok.last_epoch, ok.final_train_loss, ok.final_train_accuracy, ok.final_test_accuracy) == (
        "ok", 2, 0.1, 0.95, 0.9)
    assert pd.isna(ok.diverged_at_epoch)

    diverged = rows["mlp2", 1]  # diverged in epoch 2: the finals are epoch 1's
    assert (diverged.status, diverged.last_epoch, diverged.diverged_at_epoch) == ("diverged", 1, 2)
    assert (diverged.final_train_loss, diverged.final_train_accuracy, diverged.final_test_accuracy) == (0.4, 0.8, 0.75)

    collapsed = rows["mlp2", 2]  # collapsed: its last row says so
    assert (collapsed.status, collapsed.last_epoch, collapsed.final_train_accuracy) == ("collapsed", 2, 0.505)
    assert pd.isna(collapsed.diverged_at_epoch)

    early = rows["mlp3", 0]  # diverged in its first epoch: only the initial network
    assert (early.status, early.last_epoch, early.diverged_at_epoch, early.final_train_loss) == ("diverged", 0, 1, 0.7)

    nothing = rows["mlp1", 0]  # no completed epoch at all
    assert (nothing.status, nothing.last_epoch, nothing.diverged_at_epoch) == ("diverged", -1, 0)
    assert all(math.isnan(v) for v in (nothing.final_train_loss, nothing.final_train_accuracy, nothing.final_test_accuracy))

    empty = rows["mlp0", 0]  # no row at all: nothing trained
    assert (empty.status, empty.last_epoch) == ("diverged", -1) and pd.isna(empty.diverged_at_epoch)

    assert str(runs["diverged_at_epoch"].dtype) == "Int64"
    assert runs["depth"].tolist() == [1, 1, 2, 2, 2, 3] and runs["lr"].tolist() == [0.1, 0.1, 0.01, 0.01, 0.01, 0.1]


# ------------------------------------------------------------------------------------------------
# Rows of the tightness and radius-sweep tables
# ------------------------------------------------------------------------------------------------


def test_tightness_rows_hold_the_bound_and_both_counts():
    bound = SimpleNamespace(unstable=torch.tensor([0, 2, 5]), log2_bound=torch.tensor([0.0, 2.0, 5.0]))
    counts = [SimpleNamespace(count=1, complete=True), SimpleNamespace(count=3, complete=True),
              SimpleNamespace(count=17, complete=False)]
    key = {"scale": "raw", "depth": 2, "lr": 0.01, "seed": 0, "epoch": 5, "dataset": "test"}
    rows = tightness_rows(bound=bound, counts=counts, sampled=torch.tensor([1, 3, 12]), key=key, radius=0.1,
                          norm="l2", max_regions=100)
    common = {**key, "radius": 0.1, "norm": "l2", "max_regions": 100}
    assert rows == [
        {**common, "point": 0, "unstable": 0, "log2_bound": 0.0, "exact_count": 1, "exact_complete": True, "sampled_count": 1},
        {**common, "point": 1, "unstable": 2, "log2_bound": 2.0, "exact_count": 3, "exact_complete": True, "sampled_count": 3},
        # past the budget the count is a lower bound only: left empty
        {**common, "point": 2, "unstable": 5, "log2_bound": 5.0, "exact_count": None, "exact_complete": False,
         "sampled_count": 12},
    ]
    assert all(type(row["unstable"]) is int and type(row["sampled_count"]) is int for row in rows)


def test_sweep_rows_mean_c_and_single_region_share():
    row = sweep_rows(key={"depth": 2, "dataset": "train"}, unstable=torch.tensor([0, 0, 0, 6]), radius=0.5, norm="l2")
    # mean C = (0 + 0 + 0 + 6) / 4 = 1.5; three of four balls have C = 0.
    assert row == {"depth": 2, "dataset": "train", "radius": 0.5, "norm": "l2", "n_points": 4,
                   "mean_log2_bound": 1.5, "single_region_share": 0.75}


# ------------------------------------------------------------------------------------------------
# tightness_summary
# ------------------------------------------------------------------------------------------------


def tightness_frame() -> pd.DataFrame:
    rows = [
        # unit scale first in the file: the summary must still put raw first.
        ("unit", 0.1, 1, 3, "True", 3, 100),  # bound 2 < exact 3: a violation
        ("unit", 0.1, 0, 1, "True", 1, 100),
        ("raw", 0.1, 0, 1, "True", 1, 100),
        ("raw", 0.1, 1, 2, "True", 1, 100),
        ("raw", 0.1, 2, 3, "True", 2, 100),
        ("raw", 0.1, 3, "", "False", 5, 100),  # past the budget: as read back from the CSV
        ("raw", 0.2, 4, "", "False", 9, 50),
    ]
    return pd.DataFrame(rows, columns=["scale", "radius", "unstable", "exact_count", "exact_complete",
                                       "sampled_count", "max_regions"])


def test_tightness_summary_against_hand_computed_numbers():
    summary = tightness_summary(tightness_frame())
    assert list(zip(summary["scale"], summary["radius"])) == [("raw", 0.1), ("raw", 0.2), ("unit", 0.1)]
    raw, raw_far, unit = (summary.iloc[i] for i in range(3))

    # raw, r = 0.1: C = 0, 1, 2, 3, bounds 1, 2, 4, 8; exact counts 1, 2, 3 and one budget hit.
    # Among the complete: 2^C == exact twice (2/3); ratios 1, 1, 4/3: median 1, worst 4/3; no
    # violation; sampled 1, 1, 2 agrees once (1/3), ratios 1, 1/2, 2/3: median 2/3; median C over
    # all four balls 1.5; median exact 2; the budget 100.
    assert (raw["balls"], raw["complete"], raw["budget_hits"], raw["violations"]) == (4, 3, 1, 0)
    assert raw["exact_share"] == pytest.approx(2 / 3)
    assert raw["median_ratio"] == 1.0
    assert raw["worst_ratio"] == pytest.approx(4 / 3)
    assert raw["sampled_agree_share"] == pytest.approx(1 / 3)
    assert raw["median_sampled_ratio"] == pytest.approx(2 / 3)
    assert (raw["median_unstable"], raw["median_exact"], raw["budget"]) == (1.5, 2.0, 100.0)

    # raw, r = 0.2: one ball, past a budget of 50: nothing to compare.
    assert (raw_far["balls"], raw_far["complete"], raw_far["budget_hits"], raw_far["budget"]) == (1, 0, 1, 50.0)
    assert all(math.isnan(raw_far[c]) for c in ("exact_share", "median_ratio", "worst_ratio", "median_exact"))
    assert raw_far["median_unstable"] == 4.0

    # unit, r = 0.1: bounds 2, 1 against exact 3, 1: ratios 2/3, 1 (median 5/6), one violation,
    # one exact match; sampled equals exact both times; no budget hit, so no budget.
    assert (unit["balls"], unit["complete"], unit["budget_hits"], unit["violations"]) == (2, 2, 0, 1)
    assert unit["median_ratio"] == pytest.approx(5 / 6) and unit["worst_ratio"] == 1.0
    assert unit["exact_share"] == 0.5 and unit["sampled_agree_share"] == 1.0
    assert (unit["median_unstable"], unit["median_exact"]) == (0.5, 2.0)
    assert math.isnan(unit["budget"])


@pytest.mark.parametrize(
    "spell", [lambda v: v == "True", lambda v: int(v == "True"), lambda v: f" {v.lower()} "],
    ids=["bool", "0-1", "padded-lower-case"],
)
def test_tightness_summary_reads_booleans_as_written_or_as_read_back(spell):
    other = tightness_frame().assign(exact_complete=lambda f: f["exact_complete"].map(spell))
    pd.testing.assert_frame_equal(tightness_summary(other), tightness_summary(tightness_frame()))


def test_tightness_summary_without_budgets_has_no_budget():
    summary = tightness_summary(tightness_frame().drop(columns=["max_regions"]))
    assert summary["budget"].isna().all() and summary["budget_hits"].tolist() == [1, 1, 0]


def test_tightness_summary_names_missing_columns():
    with pytest.raises(ValueError, match=r"missing columns \['sampled_count'\]"):
        tightness_summary(tightness_frame().drop(columns=["sampled_count"]))


# ------------------------------------------------------------------------------------------------
# radius_sweep_summary
# ------------------------------------------------------------------------------------------------


def sweep_frame() -> pd.DataFrame:
    rows = []
    for depth, lr, epochs in ((2, 0.01, (0, 5, 10)), (2, 0.1, (0, 5, 10)), (3, 0.01, (1, 4))):
        for epoch in epochs:
            for dataset in ("random1", "train"):
                for seed in (0, 1):
                    rows.append({"depth": depth, "lr": lr, "seed": seed, "epoch": epoch, "dataset": dataset,
                                 "radius": 0.1, "norm": "l2", "n_points": 10,
                                 # seed means: epoch + 0.5 (+ 100 for random1) and 0.25
                                 "mean_log2_bound": epoch + seed + (100 if dataset == "random1" else 0),
                                 "single_region_share": 0.5 * seed})
    return pd.DataFrame(rows)


def test_radius_sweep_summary_keeps_the_seed_means_at_the_first_and_last_epoch_in_the_papers_order():
    result = radius_sweep_summary(sweep_frame())
    assert list(result.columns) == ["depth", "lr", "dataset", "epoch", "radius", "mean_log2_bound", "single_region_share"]
    # depths increasing, learning rates decreasing, the sets in the paper's order, then epochs.
    assert list(zip(result["depth"], result["lr"], result["dataset"], result["epoch"])) == [
        (2, 0.1, "train", 0), (2, 0.1, "train", 10), (2, 0.1, "random1", 0), (2, 0.1, "random1", 10),
        (2, 0.01, "train", 0), (2, 0.01, "train", 10), (2, 0.01, "random1", 0), (2, 0.01, "random1", 10),
        (3, 0.01, "train", 1), (3, 0.01, "train", 4), (3, 0.01, "random1", 1), (3, 0.01, "random1", 4),
    ]
    assert result["mean_log2_bound"].tolist() == [0.5, 10.5, 100.5, 110.5] * 2 + [1.5, 4.5, 101.5, 104.5]
    assert result["single_region_share"].tolist() == [0.25] * 12


def test_radius_sweep_summary_asks_which_norm_when_there_are_several():
    both = pd.concat([sweep_frame(), sweep_frame().assign(norm="linf", mean_log2_bound=-1.0)])
    with pytest.raises(ValueError, match="pass norm= to choose one"):
        radius_sweep_summary(both)
    pd.testing.assert_frame_equal(radius_sweep_summary(both, norm="l2"), radius_sweep_summary(sweep_frame()))
    with pytest.raises(ValueError, match=r"missing columns \['norm'\]"):
        radius_sweep_summary(sweep_frame().drop(columns=["norm"]))


# ------------------------------------------------------------------------------------------------
# point_table
# ------------------------------------------------------------------------------------------------


def kinked_line() -> nn.Sequential:
    """f(x) = relu(x) - 2 relu(x - 1) on the real line: kinks at 0 and 1."""
    net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -1.0]))
        net[2].weight.copy_(torch.tensor([[1.0, -2.0]]))
        net[2].bias.zero_()
    return net


def test_point_table_against_hand_computed_balls():
    sets = {"train": torch.tensor([[0.5], [3.0]], dtype=torch.float64),
            "random1": torch.tensor([[-4.0]], dtype=torch.float64)}
    table = point_table(kinked_line(), sets, [0.1, 0.6, 2.5])
    assert list(table.columns) == ["dataset", "point", "radius", "norm", "unstable", "unstable_l1", "log2_bound",
                                   "boundary_distance"]
    got = {(r.dataset, r.point, r.radius): (r.unstable, r.log2_bound, r.boundary_distance) for r in table.itertuples()}
    # x = 0.5 is 0.5 from both kinks: no neuron changes sign within 0.1, both within 0.6.
    # x = 3 is 2 from the kink at 1 and 3 from the one at 0: one neuron within 2.5.
    # x = -4 is 4 from the nearest kink.
    assert got == {
        ("train", 0, 0.1): (0, 0.0, 0.5), ("train", 0, 0.6): (2, 2.0, 0.5), ("train", 0, 2.5): (2, 2.0, 0.5),
        ("train", 1, 0.1): (0, 0.0, 2.0), ("train", 1, 0.6): (0, 0.0, 2.0), ("train", 1, 2.5): (1, 1.0, 2.0),
        ("random1", 0, 0.1): (0, 0.0, 4.0), ("random1", 0, 0.6): (0, 0.0, 4.0), ("random1", 0, 2.5): (0, 0.0, 4.0),
    }
    assert set(table["norm"]) == {"l2"}
    assert table["unstable_l1"].tolist() == table["unstable"].tolist()


def test_point_table_has_one_column_per_hidden_layer_and_uses_the_norm_asked_for():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    points = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    table = point_table(net, {"test": points, "train": points[:2]}, [0.5, 2.0], norm="linf")
    assert len(table) == 14 and set(table["norm"]) == {"linf"}
    assert table.index.tolist() == list(range(14))
    assert (table["unstable_l1"] + table["unstable_l2"]).tolist() == table["unstable"].tolist()
    assert "unstable_l3" not in table
    assert np.array_equal(table["log2_bound"].to_numpy(), table["unstable"].to_numpy(dtype=float))
    # The l-infinity ball and distance, not the l2 ones (which differ here).
    first = table[(table["dataset"] == "test") & (table["radius"] == 0.5)]
    linf = local_region_bound(net, points, 0.5, norm="linf").unstable
    assert first["unstable"].tolist() == linf.tolist()
    assert not torch.equal(linf, local_region_bound(net, points, 0.5, norm="l2").unstable)
    distance = boundary_distance(net, points, norm="linf")
    assert np.allclose(first["boundary_distance"].to_numpy(), distance.numpy(), rtol=1e-12, atol=0)
    assert not torch.allclose(distance, boundary_distance(net, points, norm="l2"))


def test_point_table_hands_its_norm_and_memory_settings_to_both_computations(monkeypatch):
    # Results do not depend on chunking; memory use does. Both computations must get the settings.
    from localregions.experiment import tables

    calls = []

    def spy(name, function):
        def wrapped(*args, **kwargs):
            calls.append((name, {k: kwargs.get(k) for k in ("norm", "chunk_size", "memory_budget_bytes")}))
            return function(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(tables, "boundary_distance", spy("distance", tables.boundary_distance))
    monkeypatch.setattr(tables, "local_region_bound", spy("bound", tables.local_region_bound))
    point_table(kinked_line(), {"train": torch.tensor([[0.5], [3.0]], dtype=torch.float64)}, [0.1, 0.6],
                norm="linf", chunk_size=1, memory_budget_bytes=4096)
    settings = {"norm": "linf", "chunk_size": 1, "memory_budget_bytes": 4096}
    assert calls == [("distance", settings), ("bound", settings), ("bound", settings)]


def test_a_cnn_is_folded_once_per_table_and_measured_as_the_library_measures_the_module(monkeypatch):
    """The pipeline's tables on a LeNet: the numbers of the library called on the module itself, from one fold."""
    import localregions.layers
    from localregions.complexity import local_complexity
    from localregions.experiment.methods import compare_methods
    from localregions.experiment.models import build_lenet

    net = build_lenet(0.1, seed=0, channels=(1, 2)).double().eval()
    generator = torch.Generator().manual_seed(0)
    sets = {"train": torch.rand(3, 784, generator=generator, dtype=torch.float64),
            "random1": torch.rand(2, 784, generator=generator, dtype=torch.float64)}
    expected = {(name, r): local_region_bound(net, points, r).unstable_per_layer.tolist()
                for name, points in sets.items() for r in (0.05, 0.2)}
    distances = {name: boundary_distance(net, points).numpy() for name, points in sets.items()}
    complexity = {name: local_complexity(net, points, 0.05, n_directions=4, seed=1).lower_estimate.tolist()
                  for name, points in sets.items()}
    folds = []
    fold = localregions.layers.fold_network
    monkeypatch.setattr(localregions.layers, "fold_network", lambda *a, **k: folds.append(1) or fold(*a, **k))
    table = point_table(net, sets, [0.05, 0.2])
    assert len(folds) == 1
    for (name, r), per_layer in expected.items():
        rows = table[(table["dataset"] == name) & (table["radius"] == r)]
        assert rows[[f"unstable_l{k}" for k in range(1, 5)]].to_numpy().tolist() == per_layer
        assert np.array_equal(rows["boundary_distance"].to_numpy(), distances[name])
    measured, _ = compare_methods(net, sets, 0.05, norm="l2", methods=["alg1", "crown"], lp_points=0, seed=1,
                                  complexity_directions=4)
    assert len(folds) == 2
    for name in sets:
        mine = measured[measured["dataset"] == name]
        assert mine[mine["method"] == "alg1"]["unstable"].tolist() == [sum(c) for c in expected[(name, 0.05)]]
        assert mine[mine["method"] == "local_complexity"]["unstable"].tolist() == complexity[name]
