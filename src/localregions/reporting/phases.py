"""Long training in phases: does "then increases" come later, and does a second decrease follow?

Humayun, Balestriero and Baraniuk (2024, "Deep networks always grok") report that the local
complexity around training points first descends, then ascends and descends again, over far
longer training than the paper's 20 epochs. To ask the same of this pipeline's curves without
picking the turns from the data, the trajectory is cut at epochs fixed by a rule, before
looking: the first bound epoch after 0, the paper's window (the first checkpoint at or past epoch
20), the checkpoint nearest (in log epochs) to the geometric middle of that and the last epoch
(the earlier of two as near), and the last epoch. Each seed's change over each phase is one number; a change counts when its
95% t interval over seeds clears zero after Holm's correction over all sets and phases of one
curve in one setting (the tests of :mod:`localregions.reporting.claims`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .claims import holm, passes, t_test, validate_summary

__all__ = ["phase_boundaries", "phase_changes", "PHASE_COLUMNS"]

#: The curves read in phases, and their units.
PHASE_COLUMNS = {"log2_mean_bound": "bits", "mean_log2_bound": "neurons (mean C)", "single_region_points": "points",
                 "mean_boundary_distance": "distance"}
#: The end of the paper's window of epochs.
PAPER_EPOCHS = 20


def phase_boundaries(epochs) -> list[int]:
    """The epochs that cut a trajectory into phases (see the module docstring); fewer for short ones.

    >>> phase_boundaries([0, 1, 2, 4, 8, 16, 24, 48, 96, 192, 384, 768, 1536, 2000])
    [1, 24, 192, 2000]
    >>> phase_boundaries(range(0, 21, 2))
    [2, 20]
    """
    epochs = sorted(int(e) for e in epochs if e > 0)
    if len(epochs) < 2:
        raise ValueError(f"epochs must hold at least two epochs after 0, got {sorted(epochs)}")
    first, last = epochs[0], epochs[-1]
    window = next((e for e in epochs if e >= PAPER_EPOCHS), last)
    cuts = [first, window]
    if last > window:
        middle = math.sqrt(window * last)
        inner = [e for e in epochs if window < e < last]
        if inner:
            cuts.append(min(inner, key=lambda e: (abs(math.log(e) - math.log(middle)), e)))
        cuts.append(last)
    return sorted(set(cuts))


def phase_changes(summary: pd.DataFrame, *, radius: float, norm: str | None = None) -> pd.DataFrame:
    """The change of each curve over each phase, per (depth, lr, curve, set), decided over seeds.

    Returns
    -------
    pandas.DataFrame
        depth, lr, column, unit, dataset, phase ("a-b"), start, end, n_seeds, effect (mean over
        seeds of value at end minus value at start), ci_low, ci_high (95% t interval), p_holm
        (two-sided, Holm over the sets and phases of one curve in one setting), direction
        ("rises", "falls" or "flat": flat unless the interval clears zero after the correction).
    """
    rows = validate_summary(summary, radius, norm)
    boundaries = phase_boundaries(rows["epoch"].unique())
    out = []
    for (depth, lr), setting in rows.groupby(["depth", "lr"], sort=False):
        for column, unit in PHASE_COLUMNS.items():
            tests = []
            for dataset, part in setting.groupby("dataset", sort=False):
                wide = part.pivot_table(index="seed", columns="epoch", values=column)
                for start, end in zip(boundaries[:-1], boundaries[1:]):
                    change = (wide[end] - wide[start]).to_numpy(dtype=np.float64)
                    result = t_test(change)
                    tests.append({"depth": int(depth), "lr": float(lr), "column": column, "unit": unit,
                                  "dataset": dataset, "phase": f"{start}-{end}", "start": start, "end": end,
                                  "n_seeds": result["n"], "effect": result["effect"], "ci_low": result["ci_low"],
                                  "ci_high": result["ci_high"], "_p": 2 * min(result["p"], 1 - result["p"])})
            adjusted = holm([t["_p"] for t in tests])
            significant = passes(np.asarray(adjusted) / 2)  # two-sided: half the level on each side
            for test, p_holm, clear in zip(tests, adjusted, significant, strict=True):
                test.pop("_p")
                direction = ("rises" if test["effect"] > 0 else "falls") if clear else "flat"
                out.append(test | {"p_holm": float(p_holm), "direction": direction})
    return pd.DataFrame(out)
