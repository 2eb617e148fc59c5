"""The hypotheses of the paper's motivation decided over seeds (reporting/motivation_claims.py), on effects of known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from localregions.experiment.motivation_tables import EFFECT_COLUMNS, curve_evaluations, effect_row, kind_summary
from localregions.reporting.motivation_claims import CLAIM_COLUMNS, HYPOTHESES, decide_hypothesis, hypothesis
from localregions.reporting.motivation_report import beside_table, verdict_summary
from localregions.reporting.statistics import detectable_effect


def effects(parts: dict[str, list[float]], *, depth=2, lr=0.02, network_ok=None, usable=None, beside=None) -> pd.DataFrame:
    """An effects table: one deciding row per seed and part (``parts``: part -> per-seed effects)."""
    rows = []
    for part, values in parts.items():
        for seed, value in enumerate(values):
            ok = True if network_ok is None else network_ok[seed]
            use = ok if usable is None else usable.get(part, [True] * len(values))[seed] and ok
            rows.append({"depth": depth, "lr": lr, "seed": seed, **effect_row(part, "alg1", True, [value], [0.0]),
                         "network_ok": ok, "usable": use, "note": "" if use else "left out here"})
            for measure, shift in (beside or {}).items():
                rows.append({"depth": depth, "lr": lr, "seed": seed,
                             **effect_row(part, measure, False, [value + shift], [0.0]), "network_ok": ok,
                             "usable": use, "note": ""})
    return pd.DataFrame(rows, columns=["depth", "lr", "seed", *EFFECT_COLUMNS])


RISING = [0.9, 1.1, 1.0, 1.2, 0.8, 1.05, 0.95, 1.15, 0.85, 1.0]
NOISE = [0.3, -0.2, 0.1, -0.4, 0.2, -0.1, 0.0, 0.25, -0.3, 0.1]


def test_every_part_clearly_positive_holds_and_the_numbers_are_the_t_tests():
    table = decide_hypothesis(effects({"a": RISING, "b": [v + 1 for v in RISING]}), "H1")
    assert list(table.columns) == CLAIM_COLUMNS
    assert list(table["verdict"]) == ["holds", "holds"] and list(table["finding"]) == ["supported", "supported"]
    row = table.iloc[0]
    assert row["m"] == 2 and row["level"] == pytest.approx(0.0125) and row["n_seeds"] == 10
    mean, sem = np.mean(RISING), stats.sem(RISING)
    low, high = stats.t.interval(0.95, 9, loc=mean, scale=sem)
    assert (row["effect"], row["ci_low"], row["ci_high"]) == pytest.approx((mean, low, high))
    assert row["p"] == pytest.approx(stats.ttest_1samp(RISING, 0.0, alternative="greater").pvalue)
    assert row["detectable"] == pytest.approx(detectable_effect(np.std(RISING, ddof=1), 10, 0.0125))
    assert row["positive_seeds"] == 10 and row["supported_parts"] == "a; b" and row["contradicted_parts"] == ""


def test_parts_decide_partly_contradicted_and_inconclusive():
    partly = decide_hypothesis(effects({"up": RISING, "flat": NOISE}), "H2")
    assert set(partly["verdict"]) == {"partly"} and list(partly["finding"]) == ["supported", "inconclusive"]
    assert partly["supported_parts"].iloc[0] == "up"
    down = decide_hypothesis(effects({"up": [-v for v in RISING], "flat": NOISE}), "H2")
    assert set(down["verdict"]) == {"contradicted"} and list(down["finding"]) == ["contradicted", "inconclusive"]
    assert down["contradicted_parts"].iloc[0] == "up"
    assert set(decide_hypothesis(effects({"flat": NOISE}), "H3")["verdict"]) == {"inconclusive"}


def test_the_level_is_split_over_the_parts():
    """p between 0.025/2 and 0.025: supported alone (m = 1), not beside a second part (m = 2)."""
    values = np.array([1.0, -0.5, 0.8, 0.3, -0.2, 0.9, 0.2, 0.7, -0.1, 0.6])
    p = stats.ttest_1samp(values, 0.0, alternative="greater").pvalue
    assert 0.0125 < p < 0.025
    alone = decide_hypothesis(effects({"a": list(values)}), "H3")
    assert alone["finding"].iloc[0] == "supported" and alone["verdict"].iloc[0] == "holds"
    paired = decide_hypothesis(effects({"a": list(values), "b": RISING}), "H2")
    assert list(paired["finding"]) == ["inconclusive", "supported"] and paired["verdict"].iloc[0] == "partly"
    # The 95% interval of the inconclusive part clears zero: what the amendment's point 5 warns of.
    assert paired["ci_low"].iloc[0] > 0


def test_fewer_than_five_usable_networks_leave_the_setting_undecided():
    ok = [True] * 4 + [False] * 6
    table = decide_hypothesis(effects({"a": RISING}, network_ok=ok), "H1")
    assert table["verdict"].iloc[0] == "undecided" and table["n_seeds"].iloc[0] == 4
    assert table["n"].iloc[0] == 4 and np.isfinite(table["effect"].iloc[0])  # the numbers are still shown
    assert "6 of 10 seeds left out" in table["note"].iloc[0]
    five = decide_hypothesis(effects({"a": RISING}, network_ok=[True] * 5 + [False] * 5), "H1")
    assert five["verdict"].iloc[0] == "holds"


def test_a_part_with_too_few_usable_seeds_is_inconclusive_but_the_setting_is_decided():
    usable = {"few": [True] * 3 + [False] * 7}
    table = decide_hypothesis(effects({"few": RISING, "many": RISING}, usable=usable), "H1")
    few = table[table["part"] == "few"].iloc[0]
    assert few["finding"] == "inconclusive" and few["n"] == 3 and few["effect"] > 0.5
    assert "fewer than 5 seeds usable" in few["note"] and few["verdict"] == "partly"


def test_rows_beside_the_decision_do_not_count_and_settings_come_in_order():
    table = pd.concat([effects({"a": NOISE}, depth=3, lr=0.001, beside={"crown": 5.0}),
                       effects({"a": RISING}, depth=2, lr=0.001), effects({"a": RISING}, depth=2, lr=0.02)])
    decided = decide_hypothesis(table, "adversarial")
    assert list(zip(decided["depth"], decided["lr"])) == [(2, 0.02), (2, 0.001), (3, 0.001)]
    assert list(decided["verdict"]) == ["holds", "holds", "inconclusive"]
    beside = beside_table(table)
    assert list(beside["measure"]) == ["crown"] and beside["effect"].iloc[0] == pytest.approx(np.mean(NOISE) + 5.0)


def test_bad_effects_tables_are_refused_by_name():
    with pytest.raises(ValueError, match="effects is missing columns"):
        decide_hypothesis(pd.DataFrame({"depth": [2]}), "H1")
    only_beside = effects({"a": RISING}).assign(decides=False)
    with pytest.raises(ValueError, match="no deciding rows"):
        decide_hypothesis(only_beside, "H1")
    with pytest.raises(ValueError, match="no hypothesis is 'H4'"):
        hypothesis("H4")
    assert [h.study for h in HYPOTHESES] == ["adversarial", "backdoor", "search"]


def test_an_inconclusive_part_is_written_as_not_shown_with_its_detectable_effect():
    table = decide_hypothesis(effects({"flat": NOISE}), "H3")
    text = verdict_summary(table)
    assert "inconclusive in 1" in text and "Not shown where inconclusive" in text
    assert f"detect {table['detectable'].iloc[0]:.2g}" in text
    assert "no effect" not in text.lower() and "absent" not in text.lower()


def test_effect_rows_pair_values_leave_non_finite_pairs_out_and_count_too_few():
    row = effect_row("l2 eps 50", "alg1", True, [3.0, 2.0, 5.0], [1.0, 2.0, 1.0], minimum=2)
    assert (row["n"], row["treated"], row["control"], row["effect"], row["usable"]) == (3, 10 / 3, 4 / 3, 2.0, True)
    few = effect_row("l2 eps 50", "alg1", True, [3.0], [1.0], minimum=10)
    assert not few["usable"] and few["note"] == "1 pairs (fewer than 10)"
    gone = effect_row("p", "alg1", True, [1.0], [0.0], network_ok=False)
    assert not gone["usable"] and gone["note"] == "network left out"
    distances = effect_row("p", "decision_distance", False, [np.inf, 4.0, 2.0], [1.0, np.nan, 1.0])
    assert distances["n"] == 1 and distances["effect"] == 1.0
    with pytest.raises(ValueError, match="must be paired"):
        effect_row("p", "alg1", True, [1.0, 2.0], [1.0])


def test_kind_summary_and_curve_marks():
    points = pd.DataFrame({"kind": ["a", "a", "b"], "alg1": [1, 3, 0], "crown": [1, 2, 0],
                           "local_complexity": [0, 1, 0], "boundary_distance": [1.0, np.inf, 2.0],
                           "decision_distance": [5.0, 7.0, 9.0], "nearest_reference": [0.0, 2.0, 4.0]})
    summary = kind_summary(points).set_index("kind")
    assert summary.loc["a", "alg1_mean"] == 2 and summary.loc["a", "alg1_max"] == 3 and summary.loc["a", "n"] == 2
    assert summary.loc["a", "boundary_distance_median"] == np.inf and summary.loc["a", "decision_distance_median"] == 6
    assert summary.loc["b", "nearest_train_mean"] == 4
    assert curve_evaluations(2000) == [1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 200, 300, 500, 700, 1000, 2000]
    assert curve_evaluations(1) == [1]
