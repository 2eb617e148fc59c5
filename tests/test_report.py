"""The report: every decision rule reaches every verdict, and the Markdown is complete and deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from localregions.report import (
    FAILS,
    HOLDS,
    PARTLY,
    UNDECIDED,
    build_report,
    check_claims,
    combine_verdicts,
    radius_sweep_table,
    tightness_table,
    verdict_decrease_then_increase,
    verdict_increase_then_decrease,
    verdict_single_region_growth,
    verdict_train_above_random,
)

EPOCHS = list(range(0, 21, 2))
SETS = ("train", "test", "random1", "random2")


def curve(values, epochs=None):
    return pd.Series(values, index=epochs if epochs is not None else EPOCHS[: len(values)], dtype=float)


U_SHAPE = curve([4.0, 3.0, 2.5, 2.6, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0])
CAP_SHAPE = -U_SHAPE + 10


# --- observation 1 and 4: a turn at an early extreme ----------------------------------------------


def test_decrease_then_increase_reaches_every_verdict():
    held = verdict_decrease_then_increase(U_SHAPE, tolerance=0.05)
    assert held.verdict == HOLDS
    assert held.numbers["turn_epoch"] == 4 and held.numbers["fall"] == pytest.approx(1.5)
    assert held.numbers["rise"] == pytest.approx(3.5)
    assert verdict_decrease_then_increase(curve(np.linspace(5, 2, 11)), 0.05).verdict == PARTLY
    assert verdict_decrease_then_increase(curve(np.linspace(2, 5, 11)), 0.05).verdict == PARTLY
    late_minimum = curve([5.0, 4.8, 4.6, 4.4, 4.2, 4.0, 3.8, 3.6, 3.4, 3.0, 3.5])
    assert verdict_decrease_then_increase(late_minimum, 0.05).verdict == PARTLY
    noise = curve(3.0 + 0.01 * np.sin(np.arange(11)))
    assert verdict_decrease_then_increase(noise, 0.05).verdict == FAILS
    assert verdict_decrease_then_increase(curve([3.0, 2.0]), 0.05).verdict == UNDECIDED


def test_increase_then_decrease_is_the_mirror_image():
    held = verdict_increase_then_decrease(CAP_SHAPE, tolerance=0.05)
    assert held.verdict == HOLDS and held.numbers["turn"] == pytest.approx(7.5)
    assert held.numbers["rise"] == pytest.approx(1.5) and held.numbers["fall"] == pytest.approx(3.5)
    assert verdict_increase_then_decrease(U_SHAPE, 0.05).verdict == PARTLY
    assert verdict_increase_then_decrease(curve([1.0] * 11), 0.05).verdict == FAILS
    with pytest.raises(ValueError, match="tolerance"):
        verdict_increase_then_decrease(U_SHAPE, -1.0)


def test_curves_are_read_in_epoch_order_and_without_gaps():
    shuffled = U_SHAPE.sample(frac=1.0, random_state=0)
    assert verdict_decrease_then_increase(shuffled, 0.05) == verdict_decrease_then_increase(U_SHAPE, 0.05)
    with_gap = U_SHAPE.copy()
    with_gap[8] = np.nan
    assert verdict_decrease_then_increase(with_gap, 0.05).verdict == HOLDS


# --- observation 2: training above random ---------------------------------------------------------


def test_train_above_random_reaches_every_verdict():
    train = curve([5.0] * 11)
    low, high = curve([3.0] * 11), curve([6.0] * 11)
    held = verdict_train_above_random(train, {"random1": low, "random2": low}, 0.05)
    assert held.verdict == HOLDS
    assert held.numbers == {"share_above_random1": 1.0, "mean_gap_random1": 2.0,
                            "share_above_random2": 1.0, "mean_gap_random2": 2.0}
    assert verdict_train_above_random(train, {"random1": low, "random2": high}, 0.05).verdict == PARTLY
    assert verdict_train_above_random(train, {"random1": high, "random2": high}, 0.05).verdict == FAILS
    within_tolerance = curve([4.99] * 11)
    assert verdict_train_above_random(train, {"random1": within_tolerance}, 0.05).verdict == FAILS
    assert verdict_train_above_random(train, {"random1": curve([1.0], epochs=[99])}, 0.05).verdict == UNDECIDED


# --- observation 3: single-region points grow, steadier on training -------------------------------


def test_single_region_growth_reaches_every_verdict():
    steady = curve(np.linspace(100, 600, 11))
    wiggly = curve([100, 200, 150, 300, 250, 400, 350, 500, 450, 600, 600])
    flat = curve([300.0] * 11)
    held = verdict_single_region_growth({"train": steady, "test": wiggly, "random1": steady, "random2": steady}, 5.0)
    assert held.verdict == HOLDS
    assert held.numbers["net_train"] == 500 and held.numbers["backtrack_train"] == 0
    assert held.numbers["backtrack_test"] == 200
    # A dip before convergence does not stop a set from growing.
    dip = curve([100, 200, 300, 400, 500, 450, 500, 550, 600, 600, 600])
    assert verdict_single_region_growth({"train": dip, "test": wiggly}, 5.0).verdict == HOLDS
    less_steady = verdict_single_region_growth({"train": wiggly, "test": steady}, 5.0)
    assert less_steady.verdict == PARTLY
    some_grow = verdict_single_region_growth({"train": steady, "test": steady, "random1": flat}, 5.0)
    assert some_grow.verdict == PARTLY
    assert verdict_single_region_growth({"train": flat, "test": flat[::-1] - 10}, 5.0).verdict == FAILS
    assert verdict_single_region_growth({"train": steady}, 5.0).verdict == UNDECIDED


def test_combine_verdicts():
    assert combine_verdicts([HOLDS] * 4) == HOLDS
    assert combine_verdicts([FAILS] * 4) == FAILS
    assert combine_verdicts([HOLDS, FAILS]) == PARTLY
    assert combine_verdicts([PARTLY, PARTLY]) == PARTLY
    assert combine_verdicts([HOLDS, UNDECIDED]) == PARTLY
    assert combine_verdicts([FAILS, UNDECIDED]) == FAILS
    assert combine_verdicts([UNDECIDED]) == UNDECIDED


# --- whole tables ---------------------------------------------------------------------------------


def by_setting_frame(regions, singles, distance, depths=(2, 3), lrs=(0.02, 0.001), radii=(0.4,)):
    """summary_by_setting with the given seed-mean curves: each argument maps (dataset, epoch) to a value."""
    rows = []
    for depth in depths:
        for lr in lrs:
            for radius in radii:
                for dataset in SETS:
                    for epoch in EPOCHS:
                        log2 = regions(dataset, epoch)
                        values = dict(mean_bound=2.0**log2, log2_mean_bound=log2, mean_log2_bound=log2 / 2,
                                      median_log2_bound=0.0, single_region_points=singles(dataset, epoch),
                                      mean_boundary_distance=distance(dataset, epoch))
                        row = dict(depth=depth, lr=lr, epoch=epoch, dataset=dataset, radius=radius, norm="l2", n_seeds=3)
                        for metric, value in values.items():
                            row |= {f"{metric}_mean": value, f"{metric}_std": 0.0,
                                    f"{metric}_ci_low": value, f"{metric}_ci_high": value}
                        rows.append(row)
    return pd.DataFrame(rows)


def paper_like():
    """Curves built so that all four observations hold."""
    return by_setting_frame(
        regions=lambda d, e: {"train": 4.0, "test": 3.5, "random1": 2.0, "random2": 1.0}[d] + (e - 4) ** 2 / 32,
        singles=lambda d, e: 100 + 40 * e if d != "test" else 100 + 40 * e + (60 if e % 4 else -60),
        distance=lambda d, e: 1.0 - (e - 6) ** 2 / 400,
    )


def contrary():
    """Curves built so that none of the observations holds."""
    return by_setting_frame(
        regions=lambda d, e: {"train": 1.0, "test": 1.5, "random1": 3.0, "random2": 4.0}[d],
        singles=lambda d, e: 500 - 10 * e,
        distance=lambda d, e: 0.5,
    )


def summary_frame(depths=(2, 3), lrs=(0.02, 0.001), n_points=1000):
    keys = [dict(depth=d, lr=lr, seed=s, epoch=e, dataset=ds, radius=0.4, norm="l2", n_points=n_points)
            for d in depths for lr in lrs for s in range(3) for e in EPOCHS for ds in SETS]
    return pd.DataFrame(keys)


def runs_frame(diverged=False):
    rows = []
    for depth in (2, 3):
        for lr in (0.02, 0.001):
            for seed in range(3):
                broken = diverged and depth == 3 and lr == 0.02 and seed == 1
                rows.append(dict(model=f"mlp{depth}", depth=depth, lr=lr, seed=seed,
                                 status="diverged" if broken else "ok", last_epoch=6 if broken else 20,
                                 diverged_at_epoch=7 if broken else pd.NA, final_train_loss=0.05,
                                 final_train_accuracy=0.99, final_test_accuracy=0.985 - 0.001 * seed))
    frame = pd.DataFrame(rows)
    frame["diverged_at_epoch"] = frame["diverged_at_epoch"].astype("Int64")
    return frame


def tightness_frame():
    rows = []
    for scale in ("raw", "unit"):
        for point, (unstable, exact, complete, sampled) in enumerate(
            [(0, 1, True, 1), (2, 4, True, 4), (3, 5, True, 4), (4, 10, True, 10), (12, None, False, 900)]
        ):
            rows.append(dict(depth=2, lr=0.02, seed=0, epoch=20, dataset="train", point=point, radius=0.4, norm="l2",
                             scale=scale, unstable=unstable, log2_bound=unstable, exact_count=exact,
                             exact_complete=complete, max_regions=500, sampled_count=sampled))
    return pd.DataFrame(rows)


def test_check_claims_on_paper_like_and_contrary_tables():
    held = check_claims(paper_like(), radius=0.4, points_per_set=1000)
    assert len(held) == 4 * 4
    assert {(c.claim, c.verdict) for c in held} == {(claim, HOLDS) for claim in (1, 2, 3, 4)}
    assert [(c.depth, c.lr) for c in held[::4]] == [(2, 0.02), (2, 0.001), (3, 0.02), (3, 0.001)]
    failed = check_claims(contrary(), radius=0.4, points_per_set=1000)
    assert {c.verdict for c in failed} == {FAILS}


def test_check_claims_uses_only_the_primary_radius():
    both = pd.concat([paper_like(), contrary().assign(radius=0.8)], ignore_index=True)
    assert {c.verdict for c in check_claims(both, radius=0.4)} == {HOLDS}
    with pytest.raises(ValueError, match="primary_radius"):
        check_claims(both, radius=0.3)


def report(**changes):
    arguments = dict(
        settings_yaml="name: figure3\nbounds:\n  radius: 0.4\n",
        name="figure3",
        summary=summary_frame(),
        by_setting=paper_like(),
        runs=runs_frame(),
        tightness=tightness_frame(),
        primary_radius=0.4,
        figure_paths={"Figure 3, 2 hidden layers": "../../figures/figure3/figure3_depth2.png"},
    )
    return build_report(**(arguments | changes))


def test_report_holds_settings_runs_figures_rules_and_verdicts():
    text = report()
    assert text.startswith("# Reproduction report: figure3\n")
    assert "```yaml\nname: figure3\nbounds:\n  radius: 0.4\n```" in text
    assert "No run diverged." in text
    assert "| mlp2 | 2 | 0.02 | 0 | ok | 20 | 0.05 | 99.0% | 98.5% |" in text
    assert "- [Figure 3, 2 hidden layers](../../figures/figure3/figure3_depth2.png)" in text
    assert "### Decision rules" in text and "τ = 0.05 bits" in text
    assert "| 2 | 0.02 | holds | holds | holds | holds |" in text
    assert "The tightness step was not run" not in text


def test_report_names_diverged_runs():
    text = report(runs=runs_frame(diverged=True))
    assert "12 runs, 11 finished, 1 diverged." in text
    assert "mlp3 lr 0.02 seed 1 (at epoch 7)" in text
    assert "No run diverged." not in text


def test_report_is_deterministic_and_says_when_tightness_was_not_run():
    assert report() == report()
    text = report(tightness=None)
    assert "The tightness step was not run" in text
    assert "`tightness.csv`" in text and "median 2^C/exact" not in text


def test_tightness_table_measures_the_gap_between_bound_and_exact_count():
    table = tightness_table(tightness_frame()).set_index("scale")
    raw = table.loc["raw"]
    assert (raw["balls"], raw["complete"], raw["budget_hits"], raw["violations"]) == (5, 4, 1, 0)
    assert raw["exact_share"] == pytest.approx(0.5)
    assert raw["median_ratio"] == pytest.approx((1.0 + 1.6) / 2)
    assert raw["worst_ratio"] == pytest.approx(1.6)
    assert raw["sampled_agree_share"] == pytest.approx(0.75)
    assert raw["median_unstable"] == pytest.approx(3.0)
    assert raw["budget"] == 500
    text = report()
    assert "| raw | 5 | 4 | 1 | 50% | 1.3 | 1.6 | 0 | 75% |" in text
    assert "The bound was never below an exact count." in text
    assert "| > 500 |" in text
    without_budget = tightness_table(tightness_frame().drop(columns="max_regions"))
    assert without_budget["budget"].isna().all()


def sweep_frame():
    rows = []
    for seed in range(2):
        for epoch in (0, 10, 20):
            for dataset in SETS:
                for radius in (0.1, 0.4):
                    rows.append(dict(depth=2, lr=0.02, seed=seed, epoch=epoch, dataset=dataset, radius=radius,
                                     norm="l2", n_points=10, mean_log2_bound=radius * 10 + seed + epoch / 10,
                                     single_region_share=0.5 * seed))
    return pd.DataFrame(rows)


def test_radius_sweep_section_shows_seed_means_at_the_first_and_last_epoch():
    table = radius_sweep_table(sweep_frame())
    assert sorted(table["epoch"].unique()) == [0, 20]
    assert list(table["dataset"].unique()) == list(SETS)
    text = report(radius_sweep=sweep_frame())
    assert "| depth | lr | set | epoch | r = 0.1 | r = 0.4 |" in text
    assert "| 2 | 0.02 | training | 0 | 1.5 / 25% | 4.5 / 25% |" in text
    assert "| 2 | 0.02 | training | 20 | 3.5 / 25% | 6.5 / 25% |" in text
    assert "The radius sweep was not run" in report()
