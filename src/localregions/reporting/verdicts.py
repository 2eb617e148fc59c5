"""The claims table of an experiment: the paper's observations over the runs that trained, on two epoch ranges.

:func:`claims_table` is what the pipeline writes to ``claims.csv``: the verdicts of
:func:`localregions.reporting.claims.check_claims` on the paper's trajectory (every bound epoch
but 0) and, beside them, with epoch 0 included. Only runs whose status is ``ok`` count (diverged
and collapsed runs are not the trained networks the paper describes). A setting with fewer than
:data:`~localregions.reporting.claims.MIN_RUNS` such runs is ``undecided``: with two to four its
numbers are still computed and shown, with fewer than two (no spread) it gets one row per claim
and trajectory without numbers, so that every setting of ``runs.csv`` is in the table.

A *flip* (:func:`variant_flips`) is a change between two of the verdicts that say something --
holds, partly, contradicted (:data:`~localregions.reporting.claims.DECIDED`); a change to or from
inconclusive or undecided is no flip: it says the data cannot tell, not that they tell otherwise.
"""

from __future__ import annotations

import pandas as pd

from ..vocabulary import DEFAULT_VARIANT
from .claims import DECIDED, UNDECIDED, check_claims
from .claim_records import CLAIMS
from .statistics import MIN_SEEDS

__all__ = ["claims_table", "trained_summary", "variant_claims_table", "variant_flips", "variant_runs",
           "variant_verdicts_beside_baseline", "TRAJECTORIES",
           "UNDECIDED"]

#: The two epoch ranges: the paper's plotted trajectory, and the same with the untrained network.
TRAJECTORIES = ("paper", "with epoch 0")
_ORDER = ["trajectory", "depth", "lr", "claim"]


def trained_summary(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``summary`` (or of a per-point table) from runs that trained, in settings with at least two."""
    trained = runs.loc[runs["status"] == "ok", ["depth", "lr", "seed"]]
    enough = trained.groupby(["depth", "lr"])["seed"].transform("count") >= MIN_SEEDS
    return summary.merge(trained[enough], on=["depth", "lr", "seed"], how="inner")


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    """In the order of ``claims.csv``: trajectory, depth increasing, lr decreasing, claim."""
    order = {t: i for i, t in enumerate(TRAJECTORIES)}
    return (table.assign(_t=table["trajectory"].map(order), _lr=-table["lr"].astype(float))
            .sort_values(["_t", "depth", "_lr", "claim"], kind="mergesort").drop(columns=["_t", "_lr"])
            .reset_index(drop=True))


def _without_verdict(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``table`` with an ``undecided`` row per trajectory and claim for each setting of ``runs`` it lacks."""
    decided = set(zip(table["depth"], table["lr"])) if len(table) else set()
    trained = runs.assign(ok=runs["status"] == "ok").groupby(["depth", "lr"])["ok"].sum()
    missing = [dict(trajectory=trajectory, depth=int(depth), lr=float(lr), claim=record.number, verdict=UNDECIDED,
                    finding=f"fewer than {MIN_SEEDS} runs trained ({int(ok)})", n_seeds=int(ok))
               for (depth, lr), ok in trained.items() if (depth, lr) not in decided
               for trajectory in TRAJECTORIES for record in CLAIMS]
    if not missing:
        return table
    return _sorted(pd.concat([table, pd.DataFrame(missing)], ignore_index=True) if len(table) else pd.DataFrame(missing))


def claims_table(summary: pd.DataFrame, runs: pd.DataFrame, *, radius: float, norm: str | None = None,
                 point_spread: pd.DataFrame | None = None) -> pd.DataFrame:
    """Verdicts per (trajectory, depth, lr, claim); see the module docstring.

    ``point_spread`` (:func:`localregions.reporting.point_bootstrap.point_spread_table`, one row
    per trajectory and test) adds the choice of points to the seeds' uncertainty.
    """
    usable = trained_summary(summary, runs)
    tables = []
    if not usable.empty:
        epochs = sorted(int(e) for e in usable["epoch"].unique())
        ranges = [(TRAJECTORIES[0], None)] + ([(TRAJECTORIES[1], epochs)] if epochs[0] == 0 else [])
        for trajectory, chosen in ranges:
            spread = None
            if point_spread is not None:
                spread = point_spread[point_spread["trajectory"] == trajectory]
            tables.append(check_claims(usable, radius=radius, norm=norm, epochs=chosen, point_spread=spread)
                          .assign(trajectory=trajectory))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=_ORDER + ["verdict"])
    table = _without_verdict(table[["trajectory"] + [c for c in table.columns if c != "trajectory"]], runs)
    return table


def variant_claims_table(variants) -> pd.DataFrame:
    """The verdicts of every variant of a study in one table, with the run counts of each setting.

    ``variants`` yields ``(variant, overrides, claims, runs)``: the variant's name, its overrides
    (a string), its ``claims.csv`` and ``runs.csv``. Each row of ``claims`` gets the counts of ok,
    diverged and collapsed runs of its (depth, lr); a setting of ``runs`` that has no row in
    ``claims`` gets one row per trajectory and claim with the verdict :data:`UNDECIDED`, so that
    its failed runs are counted and shown too.
    """
    frames = []
    for variant, overrides, claims, runs in variants:
        counts = runs.groupby(["depth", "lr"])["status"].agg(
            runs_ok=lambda s: int((s == "ok").sum()), runs_diverged=lambda s: int((s == "diverged").sum()),
            runs_collapsed=lambda s: int((s == "collapsed").sum())).reset_index()
        table = _without_verdict(claims, runs).merge(counts, on=["depth", "lr"], how="left")
        table.insert(0, "variant", variant)
        table.insert(1, "overrides", overrides)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def _on(table: pd.DataFrame, trajectory: str) -> pd.DataFrame:
    return table[table["trajectory"] == trajectory] if "trajectory" in table else table


def variant_flips(variant_claims: pd.DataFrame, baseline: pd.DataFrame | None,
                  trajectory: str = TRAJECTORIES[0]) -> pd.DataFrame:
    """The verdicts of a study's variants that flip against the study's own in the same setting.

    The rows of ``variant_claims`` on ``trajectory`` -- the study's own (:data:`~localregions.vocabulary.DEFAULT_VARIANT`)
    rows left out -- whose verdict and the one ``baseline`` (the study's ``claims.csv``) gives the same (depth, lr,
    claim) are two different verdicts of :data:`~localregions.reporting.claims.DECIDED` (holds, partly,
    contradicted), with the baseline's in the column ``before``; in the order of ``variant_claims``. No baseline: no
    flips.
    """
    paired = variant_verdicts_beside_baseline(variant_claims, baseline, trajectory)
    changed = paired["verdict"].isin(DECIDED) & paired["before"].isin(DECIDED) & (paired["before"] != paired["verdict"])
    return paired[changed].reset_index(drop=True)


def variant_verdicts_beside_baseline(variant_claims: pd.DataFrame, baseline: pd.DataFrame | None,
                                     trajectory: str = TRAJECTORIES[0]) -> pd.DataFrame:
    """Each variant's verdict on ``trajectory`` with the baseline's in the same (depth, lr, claim) as ``before``.

    The study's own (:data:`~localregions.vocabulary.DEFAULT_VARIANT`) rows are left out, and settings the baseline
    lacks; in the order of ``variant_claims``. No baseline: no rows.
    """
    keys = ["depth", "lr", "claim"]
    rows = _on(variant_claims, trajectory)
    rows = rows[rows["variant"] != DEFAULT_VARIANT]
    if baseline is None:
        return rows.iloc[:0].assign(before=pd.Series(dtype=object))
    before = _on(baseline, trajectory)[keys + ["verdict"]].rename(columns={"verdict": "before"})
    return rows.merge(before, on=keys, how="inner")


def variant_runs(variant_claims: pd.DataFrame, trajectory: str = TRAJECTORIES[0]) -> pd.DataFrame:
    """Per variant of a study (its own default left out), in table order: overrides, runs_ok, runs_failed (diverged
    or collapsed, over its settings) and decided (verdicts that say something either way: holds, partly,
    contradicted)."""
    rows = _on(variant_claims, trajectory)
    rows = rows[rows["variant"] != DEFAULT_VARIANT]
    counts = ["runs_ok", "runs_diverged", "runs_collapsed"]
    out = []
    for variant, part in rows.groupby("variant", sort=False):
        settings = part.drop_duplicates(["depth", "lr"]).reindex(columns=counts, fill_value=0)
        out.append({"variant": variant, "overrides": part["overrides"].iloc[0], "runs_ok": int(settings["runs_ok"].sum()),
                    "runs_failed": int(settings["runs_diverged"].sum() + settings["runs_collapsed"].sum()),
                    "decided": int(part["verdict"].isin(DECIDED).sum())})
    return pd.DataFrame(out, columns=["variant", "overrides", "runs_ok", "runs_failed", "decided"])
