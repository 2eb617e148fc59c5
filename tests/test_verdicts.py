"""The claims tables of an experiment and of a study's variants (localregions.reporting.verdicts)."""

import numpy as np
import pandas as pd

from localregions.reporting.claim_records import CLAIMS
from localregions.reporting.verdicts import (TRAJECTORIES, UNDECIDED, claims_table, variant_claims_table, variant_flips,
                                             variant_runs)
from localregions.vocabulary import DATASET_NAMES


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


def _summary(settings, seeds=10, rng=0):
    """summary.csv rows of pure noise for ``settings`` (depth, lr), ``seeds`` seeds, epochs 0-6."""
    generator = np.random.default_rng(rng)
    return pd.DataFrame([dict(depth=d, lr=lr, seed=s, epoch=e, dataset=ds, radius=0.4, norm="l2",
                              log2_mean_bound=generator.normal(), single_region_points=generator.normal(),
                              mean_boundary_distance=generator.normal())
                         for d, lr in settings for s in range(seeds) for e in (0, 2, 4, 6) for ds in DATASET_NAMES])


def test_claims_table_has_every_setting_and_undecides_those_with_fewer_than_five_trained_runs():
    settings = [(2, 0.02), (2, 0.001), (3, 0.02)]
    runs = _runs({(2, 0.02): ["ok"] * 10, (2, 0.001): ["ok"] * 4 + ["collapsed"] * 6, (3, 0.02): ["ok"] + ["diverged"] * 9})
    table = claims_table(_summary(settings), runs, radius=0.4)
    assert list(table["trajectory"].drop_duplicates()) == list(TRAJECTORIES)
    paper = table[table["trajectory"] == TRAJECTORIES[0]]
    assert list(zip(paper["depth"], paper["lr"], paper["claim"])) == [
        (d, lr, c.number) for d, lr in [(2, 0.02), (2, 0.001), (3, 0.02)] for c in CLAIMS]
    by_setting = paper.groupby(["depth", "lr"])
    assert (by_setting["verdict"].apply(lambda v: (v == UNDECIDED).all())).to_dict() == {
        (2, 0.001): True, (2, 0.02): False, (3, 0.02): True}
    # Four runs: numbers, but no verdict; one run: no numbers at all.
    four = paper[paper["lr"] == 0.001]
    assert (four["n_seeds"] == 4).all() and four["part1_effect"].notna().all()
    one = paper[paper["depth"] == 3]
    assert one["part1_effect"].isna().all() and set(one["finding"]) == {"fewer than 2 runs trained (1)"}


def _study(verdicts):
    """variant_claims.csv rows: ``verdicts`` maps (variant, lr, claim) to the verdict, depth 2, paper trajectory."""
    return pd.DataFrame([dict(variant=v, overrides="" if v == "default" else f"{v}=1", trajectory=TRAJECTORIES[0],
                              depth=2, lr=lr, claim=c, verdict=verdict, runs_ok=10 - failed, runs_diverged=failed,
                              runs_collapsed=0)
                         for (v, lr, c), (verdict, failed) in verdicts.items()])


def test_flips_are_changes_between_holds_partly_and_contradicted_only():
    study = _study({("default", 0.02, 1): ("holds", 0), ("wide", 0.02, 1): ("contradicted", 0),
                    ("wide", 0.02, 2): ("holds", 0), ("wide", 0.02, 3): ("inconclusive", 0),
                    ("wide", 0.02, 4): ("partly", 0), ("wide", 0.02, 5): ("partly", 0),
                    ("lost", 0.02, 1): (UNDECIDED, 9), ("lost", 0.02, 2): (UNDECIDED, 9)})
    verdicts = {1: "holds", 2: "holds", 3: "holds", 4: "inconclusive", 5: "contradicted"}
    baseline = pd.DataFrame([dict(trajectory=t, depth=2, lr=0.02, claim=c,
                                  verdict=v if t == TRAJECTORIES[0] or c != 2 else "partly")
                             for t in TRAJECTORIES for c, v in verdicts.items()])
    flips = variant_flips(study, baseline)
    # wide: (1) holds -> contradicted and (5) contradicted -> partly flip; (2) agrees on the paper's trajectory (the
    # other trajectory's 'partly' is not its baseline); (3) holds -> inconclusive and (4) inconclusive -> partly say
    # the data cannot tell, not that they tell otherwise: no flips. An undecided setting is never one, and the
    # study's own rows are no variant.
    assert flips[["variant", "claim", "before", "verdict"]].values.tolist() == [
        ["wide", 1, "holds", "contradicted"], ["wide", 5, "contradicted", "partly"]]
    assert variant_flips(study, None).empty
    runs = variant_runs(study)
    # 'decided' counts the verdicts that say something either way.
    assert runs.values.tolist() == [["wide", "wide=1", 10, 0, 4], ["lost", "lost=1", 1, 9, 0]]
