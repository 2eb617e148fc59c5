"""The claims table of an experiment: the paper's observations over the runs that trained, on two epoch ranges.

:func:`claims_table` is what the pipeline writes to ``claims.csv``: the verdicts of
:func:`localregions.reporting.claims.check_claims` on the paper's trajectory (every bound epoch
but 0) and, beside them, with epoch 0 included; only runs whose status is ``ok`` count (diverged
and collapsed runs are not the trained networks the paper describes), and a setting with fewer
than two such runs gets no verdict (it is listed in ``runs.csv``).
"""

from __future__ import annotations

import pandas as pd

from .claims import MIN_SEEDS, check_claims

__all__ = ["claims_table", "trained_summary", "TRAJECTORIES"]

#: The two epoch ranges: the paper's plotted trajectory, and the same with the untrained network.
TRAJECTORIES = ("paper", "with epoch 0")


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
