"""Long training in phases: the cuts fixed by rule, and the change over each phase decided over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from localregions.reporting.phases import PHASE_COLUMNS, PHASE_MARGINS, phase_boundaries, phase_changes, phase_margin
from localregions.reporting.statistics import detectable_effect
from localregions.vocabulary import DATASET_NAMES

LONG_EPOCHS = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2000]


# ---------------------------------------------------------------------------------------------- phase_boundaries


def test_phase_boundaries_of_the_long_training_checkpoints():
    # First epoch after 0: 1. The paper's window: the first checkpoint at or past 20 is 24. The geometric
    # middle of 24 and 2000 is sqrt(48000) = 219.1; of the checkpoints between, 192 is log(219.1/192) = 0.132
    # away and 256 is log(256/219.1) = 0.156 away, so 192. Last: 2000.
    assert phase_boundaries(LONG_EPOCHS) == [1, 24, 192, 2000]
    assert phase_boundaries(reversed(LONG_EPOCHS)) == [1, 24, 192, 2000]


def test_phase_boundaries_of_the_papers_twenty_epochs():
    # First after 0: 2; the window ends at 20, which is also the last: one phase.
    assert phase_boundaries(range(0, 21, 2)) == [2, 20]


def test_phase_boundaries_of_other_trajectories():
    # Shorter than the paper's window: the window is the last epoch.
    assert phase_boundaries([0, 5, 10, 15]) == [5, 15]
    # Past 20 without a checkpoint between the window and the end: no middle cut.
    assert phase_boundaries([0, 2, 20, 40]) == [2, 20, 40]
    # The middle of 20 and 80 is 40: nearer (in log) than 30 or 60.
    assert phase_boundaries([0, 10, 20, 30, 40, 60, 80]) == [10, 20, 40, 80]
    # 32 and 50 are exactly as near (in log) to the middle 40 of 20 and 80: the earlier is taken.
    assert phase_boundaries([0, 10, 20, 32, 50, 80]) == [10, 20, 32, 80]
    assert phase_boundaries([80, 50, 32, 20, 10, 0]) == [10, 20, 32, 80]
    with pytest.raises(ValueError, match="two epochs"):
        phase_boundaries([0, 3])


@given(st.sets(st.integers(0, 5000), min_size=2, max_size=30))
def test_phase_boundaries_are_checkpoints_from_the_first_to_the_last(epochs):
    positive = sorted(e for e in epochs if e > 0)
    if len(positive) < 2:
        with pytest.raises(ValueError):
            phase_boundaries(epochs)
        return
    cuts = phase_boundaries(epochs)
    assert set(cuts) <= set(positive) and cuts == sorted(set(cuts))
    assert cuts[0] == positive[0] and cuts[-1] == positive[-1]
    assert 2 <= len(cuts) <= 4
    window = next((e for e in positive if e >= 20), positive[-1])
    assert window in cuts


# ---------------------------------------------------------------------------------------------- phase_changes


def per_seed_table(curves, epochs, seeds, settings=((2, 0.02),)):
    """summary.csv rows: ``curves(setting index, column, dataset, seed)`` gives a curve's values at ``epochs``."""
    records = []
    for index, (depth, lr) in enumerate(settings):
        for dataset in DATASET_NAMES:
            for seed in range(seeds):
                values = {column: np.asarray(curves(index, column, dataset, seed), dtype=float)
                          for column in PHASE_COLUMNS}
                for e, epoch in enumerate(epochs):
                    records.append({"depth": depth, "lr": lr, "seed": seed, "epoch": epoch, "dataset": dataset,
                                    "radius": 0.4, "norm": "l2", "n_points": 100, "mean_bound": 2.0,
                                    "mean_log2_bound": 1.0, "median_log2_bound": 1.0}
                                   | {column: values[column][e] for column in PHASE_COLUMNS})
    return pd.DataFrame(records)


def test_a_planted_descent_ascent_descent_reads_falls_rises_falls():
    generator = np.random.default_rng(1)
    log_epochs = np.log1p(LONG_EPOCHS)
    # Through 5 bits at epoch 1, 3 at 24, 6 at 192, 4 at 2000 (straight in log epoch between), plus seed noise.
    turns = np.log1p([1, 24, 192, 2000]), [5.0, 3.0, 6.0, 4.0]

    def curves(index, column, dataset, seed):
        noise = generator.normal(0.0, 0.05, size=len(LONG_EPOCHS))
        if column == "log2_mean_bound":
            return np.interp(log_epochs, *turns) + noise + generator.normal(0.0, 0.1)
        return 10.0 + noise  # flat curves: only noise

    table = phase_changes(per_seed_table(curves, LONG_EPOCHS, seeds=8), radius=0.4)
    assert list(dict.fromkeys(table["phase"])) == ["1-24", "24-192", "192-2000"]
    assert set(table["n_seeds"]) == {8}
    bound = table[table["column"] == "log2_mean_bound"]
    assert set(bound["unit"]) == {"bits"}
    for dataset in DATASET_NAMES:
        mine = bound[bound["dataset"] == dataset].set_index("phase")
        assert list(mine["direction"]) == ["falls", "rises", "falls"]
        assert mine["effect"].tolist() == pytest.approx([-2.0, 3.0, -2.0], abs=0.15)
        assert (mine["ci_low"] < mine["effect"]).all() and (mine["effect"] < mine["ci_high"]).all()
    # The other curves hold still within 0.05 of 10: flat, shown by the two one-sided tests against their margins.
    others = table[table["column"] != "log2_mean_bound"]
    assert (others["direction"] == "flat").mean() >= 0.9
    assert (others["p_equivalence_holm"] <= 0.05).mean() >= 0.9


def test_the_phases_of_each_setting_are_decided_on_that_setting_alone():
    def curves(index, column, dataset, seed):
        rise = 1.0 if index == 0 else 0.0
        return np.array([0.0, 0.0, rise]) + 0.01 * np.sin(seed + np.arange(3) + 3 * DATASET_NAMES.index(dataset))

    table = phase_changes(per_seed_table(curves, [0, 2, 20], seeds=5, settings=((2, 0.02), (3, 0.001))), radius=0.4)
    assert set(table.loc[table["depth"] == 2, "direction"]) == {"rises"}
    assert table.loc[table["depth"] == 3, "effect"].abs().max() < 0.05


def test_pure_seed_noise_is_not_established_and_never_flat():
    """Holm keeps the chance that pure noise moves any of a family's 4 sets x 3 phases at most 5% (4.6% here,
    by simulation); without it, 12 tests at 5% flag about 43% of the families. Noise of sd 1 against margins of
    0.1 shows no change to be absent either: every cell that does not move reads "not established", with the
    change the seeds could have detected.

    100 settings of pure noise are 100 draws, each with 4 curves (the PHASE_COLUMNS): 400 families. A correct
    test leaves more than 32 of them with a rise or fall (8%) with chance below 0.5%; the uncorrected tests would
    leave about 170.
    """
    generator = np.random.default_rng(20240601)
    epochs = [0, 1, 24, 192, 2000]

    def curves(index, column, dataset, seed):
        return generator.normal(0.0, 1.0, size=len(epochs))

    settings = tuple((2, 0.001 * (k + 1)) for k in range(100))
    table = phase_changes(per_seed_table(curves, epochs, seeds=6, settings=settings), radius=0.4)
    assert len(table) == 100 * len(PHASE_COLUMNS) * 4 * 3
    # Against margins of 0.1 (bits, neurons) noise of sd 1 never shows a change absent; where it does (2% of the
    # 100 points: 2), each such cell has at least its 90% interval inside the margin (TOST at Holm's last step, 5%).
    small_margin = table["column"].isin(["log2_mean_bound", "mean_log2_bound"])
    assert set(table.loc[small_margin, "direction"]) <= {"rises", "falls", "not established"}
    flat = table[table["direction"] == "flat"]
    half = (flat["ci_high"] - flat["effect"]) * stats.t.ppf(0.95, 5) / stats.t.ppf(0.975, 5)
    assert (flat["p_equivalence_holm"] <= 0.05).all() and (flat["effect"].abs() + half < flat["margin"]).all()
    moved = table.groupby(["lr", "column"])["direction"].apply(lambda d: d.isin(["rises", "falls"]).any())
    assert len(moved) == 100 * len(PHASE_COLUMNS)
    assert moved.mean() <= 0.08
    # The draws are noisy enough that the uncorrected tests would fail: their p-values, from the intervals.
    se = (table["ci_high"] - table["effect"]) / stats.t.ppf(0.975, 5)
    raw = table.assign(raw=2 * stats.t.sf(np.abs(table["effect"] / se), 5) <= 0.05)
    assert raw.groupby(["lr", "column"])["raw"].any().mean() > 0.3
    # "not established" says how large a change could hide: at Holm's strictest step over the family's 12 tests.
    quiet = table[table["direction"] == "not established"]
    assert quiet["detectable"].median() > 2.0  # noise of sd 1 per seed and epoch: sd sqrt 2 per change
    sd = se * np.sqrt(6)
    assert quiet["detectable"].to_numpy() == pytest.approx(
        [detectable_effect(s, 6, 0.05 / 24) for s in sd[quiet.index]], rel=1e-6)


def test_flat_only_where_the_two_one_sided_tests_show_the_change_within_the_margin():
    """Three settings of one phase (2-20) on the bound (margin 0.1 bits): still within 0.01 (flat); moving by 0.02 on
    average but with seeds 0.3 apart (inside the margin, not shown: not established); rising by 0.15 with seeds
    0.01 apart (outside the margin: rises)."""
    z = np.linspace(-1.0, 1.0, 8)
    z = (z - z.mean()) / z.std(ddof=1)
    changes = {0: 0.01 * z, 1: 0.02 + 0.3 * z, 2: 0.15 + 0.01 * z}

    def curves(index, column, dataset, seed):
        return [1.0, 1.0, 1.0 + changes[index][seed]]

    settings = ((2, 0.02), (2, 0.01), (2, 0.005))
    table = phase_changes(per_seed_table(curves, [0, 2, 20], seeds=8, settings=settings), radius=0.4)
    bound = table[table["column"] == "log2_mean_bound"].set_index("lr")
    assert set(bound.loc[0.02, "direction"]) == {"flat"}
    assert set(bound.loc[0.01, "direction"]) == {"not established"}
    assert set(bound.loc[0.005, "direction"]) == {"rises"}
    assert (bound["margin"] == 0.1).all()


def test_the_margins_are_stated_per_curve():
    assert PHASE_MARGINS["log2_mean_bound"] == ("absolute", 0.1)
    assert phase_margin("log2_mean_bound", 5.0, 1000) == 0.1
    assert phase_margin("single_region_points", 700.0, 1000) == 20.0
    assert phase_margin("mean_boundary_distance", 2.0, 1000) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="column must be one of"):
        phase_margin("accuracy", 1.0, 1000)


def _threshold_table(p_two_sided, sign=1.0, seeds=6):
    """One phase (2-20); three sets change by about 10 (p near 0), the fourth with a t statistic whose
    two-sided p is ``p_two_sided``."""
    z = np.linspace(-1.0, 1.0, seeds)
    z = (z - z.mean()) / z.std(ddof=1)
    t = stats.t.isf(p_two_sided / 2, seeds - 1)

    def curves(index, column, dataset, seed):
        change = (10.0 + 0.1 * z[seed]) if dataset != "random2" else sign * (t / np.sqrt(seeds) + z[seed])
        return [0.0, 0.0, change]

    return phase_changes(per_seed_table(curves, [0, 2, 20], seeds=seeds), radius=0.4)


def test_the_significance_threshold_is_a_two_sided_5_percent_after_holm():
    for p, direction in ((0.049, "rises"), (0.051, "not established")):
        table = _threshold_table(p)
        tested = table[(table["dataset"] == "random2") & (table["column"] == "log2_mean_bound")].iloc[0]
        # The three sure changes have p near 0, so Holm multiplies the largest p by 1: it stays p.
        assert tested["p_holm"] == pytest.approx(p, rel=1e-6)
        assert tested["direction"] == direction, p
        assert (tested["ci_low"] > 0) == (direction == "rises")
    falling = _threshold_table(0.049, sign=-1.0)
    assert set(falling.loc[falling["dataset"] == "random2", "direction"]) == {"falls"}


def test_holm_counts_every_set_and_phase_of_a_curve():
    # Four sets with the same two-sided p of 0.02: each alone would pass, Holm over the four makes it 0.08.
    z = np.linspace(-1.0, 1.0, 6)
    z = (z - z.mean()) / z.std(ddof=1)
    t = stats.t.isf(0.01, 5)

    def curves(index, column, dataset, seed):
        return [0.0, 0.0, t / np.sqrt(6) + z[seed]]

    table = phase_changes(per_seed_table(curves, [0, 2, 20], seeds=6), radius=0.4)
    assert table["p_holm"].tolist() == pytest.approx([0.08] * len(table), rel=1e-6)
    assert set(table["direction"]) == {"not established"}
