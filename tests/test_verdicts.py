"""The claims tables of an experiment and of a study's variants (localregions.reporting.verdicts)."""

import pandas as pd

from localregions.reporting.claims import CLAIMS
from localregions.reporting.verdicts import TRAJECTORIES, UNDECIDED, variant_claims_table, variant_flips, variant_runs


def _runs(statuses):
    """runs.csv rows: ``statuses`` maps (depth, lr) to the status of each seed."""
    return pd.DataFrame([dict(depth=d, lr=lr, seed=seed, status=status)
                         for (d, lr), per_seed in statuses.items() for seed, status in enumerate(per_seed)])


def _claims(settings, verdict="holds"):
    return pd.DataFrame([dict(trajectory=t, depth=d, lr=lr, claim=c.number, verdict=verdict)
                         for t in TRAJECTORIES for d, lr in settings for c in CLAIMS])


def test_each_verdict_carries_the_run_counts_of_its_setting():
    runs = _runs({(2, 0.02): ["ok"] * 8 + ["diverged", "collapsed"], (2, 0.001): ["ok"] * 10})
    table = variant_claims_table([("wide", "model.width=64", _claims([(2, 0.02), (2, 0.001)]), runs)])
    assert list(table.columns[:2]) == ["variant", "overrides"] and set(table["variant"]) == {"wide"}
    counts = table.drop_duplicates(["depth", "lr"]).set_index("lr")[["runs_ok", "runs_diverged", "runs_collapsed"]]
    assert counts.loc[0.02].tolist() == [8, 1, 1] and counts.loc[0.001].tolist() == [10, 0, 0]
    assert (table["verdict"] == "holds").all() and len(table) == 2 * 2 * len(CLAIMS)


def test_a_setting_without_a_verdict_is_undecided_and_its_failed_runs_are_counted():
    """momentum 0.9 at lr 0.02 collapsed 9 of 10 runs: claims.csv has no row for it, the study must still show it."""
    runs = _runs({(2, 0.02): ["collapsed"] * 9 + ["ok"], (2, 0.001): ["ok"] * 10})
    table = variant_claims_table([("momentum", "optim.momentum=0.9", _claims([(2, 0.001)]), runs)])
    lost = table[table["lr"] == 0.02]
    assert len(lost) == len(TRAJECTORIES) * len(CLAIMS)
    assert set(lost["verdict"]) == {UNDECIDED}
    assert lost[["runs_ok", "runs_diverged", "runs_collapsed"]].drop_duplicates().values.tolist() == [[1, 0, 9]]
    # In the order of claims.csv: trajectory, depth, lr from large to small, claim.
    paper = table[table["trajectory"] == TRAJECTORIES[0]]
    assert paper["lr"].tolist() == [0.02] * len(CLAIMS) + [0.001] * len(CLAIMS)
    assert paper["claim"].tolist() == [c.number for c in CLAIMS] * 2


def _study(verdicts):
    """variant_claims.csv rows: ``verdicts`` maps (variant, lr, claim) to the verdict, depth 2, paper trajectory."""
    return pd.DataFrame([dict(variant=v, overrides="" if v == "default" else f"{v}=1", trajectory=TRAJECTORIES[0],
                              depth=2, lr=lr, claim=c, verdict=verdict, runs_ok=10 - failed, runs_diverged=failed,
                              runs_collapsed=0)
                         for (v, lr, c), (verdict, failed) in verdicts.items()])


def test_flips_are_the_variants_verdicts_that_differ_from_the_studys_own():
    study = _study({("default", 0.02, 1): ("holds", 0), ("wide", 0.02, 1): ("does not hold", 0),
                    ("wide", 0.02, 2): ("holds", 0), ("lost", 0.02, 1): (UNDECIDED, 9), ("lost", 0.02, 2): (UNDECIDED, 9)})
    baseline = pd.DataFrame([dict(trajectory=t, depth=2, lr=0.02, claim=c, verdict=v) for t in TRAJECTORIES
                             for c, v in ((1, "holds"), (2, "holds" if t == TRAJECTORIES[0] else "partly"))])
    flips = variant_flips(study, baseline)
    # wide's claim 2 agrees on the paper's trajectory (the other trajectory's 'partly' is not its baseline);
    # an undecided setting is never a flip, and the study's own rows are no variant.
    assert flips[["variant", "claim", "before", "verdict"]].values.tolist() == [["wide", 1, "holds", "does not hold"]]
    assert variant_flips(study, None).empty
    runs = variant_runs(study)
    assert runs.values.tolist() == [["wide", "wide=1", 10, 0, 2], ["lost", "lost=1", 1, 9, 0]]
