"""The claims table of an experiment: the paper's observations over the runs that trained, on two epoch ranges.

:func:`claims_table` is what the pipeline writes to ``claims.csv``: the verdicts of
:func:`localregions.reporting.claims.check_claims` on the paper's trajectory (every bound epoch
but 0) and, beside them, with epoch 0 included; only runs whose status is ``ok`` count (diverged
and collapsed runs are not the trained networks the paper describes), and a setting with fewer
than two such runs gets no verdict (it is listed in ``runs.csv``).
"""

from __future__ import annotations

import pandas as pd

from ..vocabulary import DEFAULT_VARIANT
from .claims import CLAIMS, MIN_SEEDS, check_claims

__all__ = ["claims_table", "trained_summary", "variant_claims_table", "variant_flips", "variant_runs", "TRAJECTORIES",
           "UNDECIDED"]

#: The two epoch ranges: the paper's plotted trajectory, and the same with the untrained network.
TRAJECTORIES = ("paper", "with epoch 0")
#: The verdict of a variant's setting with fewer than two trained runs (``claims.csv`` has no row for it).
UNDECIDED = "undecided"


def trained_summary(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``summary`` from runs that trained, in settings with at least two of them."""
    trained = runs.loc[runs["status"] == "ok", ["depth", "lr", "seed"]]
    enough = trained.groupby(["depth", "lr"])["seed"].transform("count") >= MIN_SEEDS
    return summary.merge(trained[enough], on=["depth", "lr", "seed"], how="inner")


def claims_table(summary: pd.DataFrame, runs: pd.DataFrame, *, radius: float, norm: str | None = None) -> pd.DataFrame:
    """Verdicts per (trajectory, depth, lr, claim); see the module docstring."""
    usable = trained_summary(summary, runs)
    if usable.empty:
        return pd.DataFrame(columns=["trajectory", "depth", "lr", "claim", "verdict"])
    epochs = sorted(int(e) for e in usable["epoch"].unique())
    tables = [check_claims(usable, radius=radius, norm=norm).assign(trajectory=TRAJECTORIES[0])]
    if epochs[0] == 0:
        tables.append(check_claims(usable, radius=radius, norm=norm, epochs=epochs).assign(trajectory=TRAJECTORIES[1]))
    table = pd.concat(tables, ignore_index=True)
    return table[["trajectory"] + [c for c in table.columns if c != "trajectory"]]


def variant_claims_table(variants) -> pd.DataFrame:
    """The verdicts of every variant of a study in one table, with the run counts of each setting.

    ``variants`` yields ``(variant, overrides, claims, runs)``: the variant's name, its overrides
    (a string), its ``claims.csv`` and ``runs.csv``. Each row of ``claims`` gets the counts of ok,
    diverged and collapsed runs of its (depth, lr); a setting of ``runs`` that has no verdict
    (fewer than two runs trained) gets one row per trajectory and claim with the verdict
    :data:`UNDECIDED`, so that its failed runs are counted and shown too.
    """
    frames = []
    for variant, overrides, claims, runs in variants:
        counts = runs.groupby(["depth", "lr"])["status"].agg(
            runs_ok=lambda s: int((s == "ok").sum()), runs_diverged=lambda s: int((s == "diverged").sum()),
            runs_collapsed=lambda s: int((s == "collapsed").sum())).reset_index()
        table = claims.merge(counts, on=["depth", "lr"], how="left")
        decided = set(zip(claims["depth"], claims["lr"]))
        undecided = [dict(trajectory=trajectory, depth=row.depth, lr=row.lr, claim=claim.number, verdict=UNDECIDED,
                          finding=f"fewer than {MIN_SEEDS} runs trained", runs_ok=row.runs_ok,
                          runs_diverged=row.runs_diverged, runs_collapsed=row.runs_collapsed)
                     for row in counts.itertuples(index=False) if (row.depth, row.lr) not in decided
                     for trajectory in TRAJECTORIES for claim in CLAIMS]
        if undecided:
            table = pd.concat([table, pd.DataFrame(undecided)], ignore_index=True)
            order = {t: i for i, t in enumerate(TRAJECTORIES)}
            table = table.assign(_t=table["trajectory"].map(order), _lr=-table["lr"]).sort_values(
                ["_t", "depth", "_lr", "claim"], kind="mergesort").drop(columns=["_t", "_lr"])
        table.insert(0, "variant", variant)
        table.insert(1, "overrides", overrides)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def _on(table: pd.DataFrame, trajectory: str) -> pd.DataFrame:
    return table[table["trajectory"] == trajectory] if "trajectory" in table else table


def variant_flips(variant_claims: pd.DataFrame, baseline: pd.DataFrame | None,
                  trajectory: str = TRAJECTORIES[0]) -> pd.DataFrame:
    """The verdicts of a study's variants that differ from the study's own in the same setting.

    The rows of ``variant_claims`` on ``trajectory`` -- the study's own (:data:`~localregions.vocabulary.DEFAULT_VARIANT`)
    rows and :data:`UNDECIDED` settings left out -- whose verdict differs from the one ``baseline`` (the study's
    ``claims.csv``) gives the same (depth, lr, claim), with that verdict in the column ``before``; in the order of
    ``variant_claims``. No baseline: no flips.
    """
    keys = ["depth", "lr", "claim"]
    rows = _on(variant_claims, trajectory)
    rows = rows[(rows["variant"] != DEFAULT_VARIANT) & (rows["verdict"] != UNDECIDED)]
    if baseline is None:
        return rows.iloc[:0].assign(before=pd.Series(dtype=object))
    before = _on(baseline, trajectory)[keys + ["verdict"]].rename(columns={"verdict": "before"})
    paired = rows.merge(before, on=keys, how="inner")
    return paired[paired["before"] != paired["verdict"]].reset_index(drop=True)


def variant_runs(variant_claims: pd.DataFrame, trajectory: str = TRAJECTORIES[0]) -> pd.DataFrame:
    """Per variant of a study (its own default left out), in table order: overrides, runs_ok, runs_failed (diverged
    or collapsed, over its settings) and decided (verdicts that are not :data:`UNDECIDED`)."""
    rows = _on(variant_claims, trajectory)
    rows = rows[rows["variant"] != DEFAULT_VARIANT]
    counts = ["runs_ok", "runs_diverged", "runs_collapsed"]
    out = []
    for variant, part in rows.groupby("variant", sort=False):
        settings = part.drop_duplicates(["depth", "lr"]).reindex(columns=counts, fill_value=0)
        out.append({"variant": variant, "overrides": part["overrides"].iloc[0], "runs_ok": int(settings["runs_ok"].sum()),
                    "runs_failed": int(settings["runs_diverged"].sum() + settings["runs_collapsed"].sum()),
                    "decided": int((part["verdict"] != UNDECIDED).sum())})
    return pd.DataFrame(out, columns=["variant", "overrides", "runs_ok", "runs_failed", "decided"])
