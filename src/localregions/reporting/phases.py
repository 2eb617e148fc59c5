"""Long training in phases: does "then increases" come later, and does a second decrease follow?

Humayun, Balestriero and Baraniuk (2024, "Deep networks always grok") report that the local
complexity around training points first descends, then ascends and descends again, over far
longer training than the paper's 20 epochs. To ask the same of this pipeline's curves without
picking the turns from the data, the trajectory is cut at epochs fixed by a rule, before
looking: the first bound epoch after 0, the paper's window (the first checkpoint at or past epoch
20), the checkpoint nearest (in log epochs) to the geometric middle of that and the last epoch
(the earlier of two as near), and the last epoch. Each seed's change over each phase is one number.

Each change reads one of four words. **rises** / **falls**: its two-sided t test over seeds is
significant at 5% after Holm's correction over all sets and phases of one curve in one setting.
**flat**: the change is shown to lie within a stated margin (:data:`PHASE_MARGINS`) by the two
one-sided tests (TOST), at 5% after Holm's correction over the same family; "flat" is a claim of
absence and is never written where it was not shown. **not established**: neither; the row gives
the smallest change these seeds detect with 80% power at the strictest level of the correction
(5% two-sided over the number of tests of the family), so that "not established" says how large
a change could have hidden there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .statistics import detectable_effect, equivalence_test, holm, passes, t_test
from .summary_curves import validate_summary

__all__ = ["phase_boundaries", "phase_changes", "phase_margin", "PHASE_COLUMNS", "PHASE_MARGINS", "PHASE_LEVEL",
           "DIRECTIONS"]

#: The curves read in phases, and their units.
PHASE_COLUMNS = {"log2_mean_bound": "bits", "mean_log2_bound": "neurons (mean C)", "single_region_points": "points",
                 "mean_boundary_distance": "distance"}
#: The margin within which a change counts as none, per curve: (kind, size). ``absolute``: in the curve's unit
#: (0.1 bits is a change of the mean bound by 7%; 0.1 neurons of mean C); ``share of points``: of the points per set;
#: ``relative``: of the curve's mean over seeds at the phase's start (a distance scales with the input's scale).
PHASE_MARGINS = {"log2_mean_bound": ("absolute", 0.1), "mean_log2_bound": ("absolute", 0.1),
                 "single_region_points": ("share of points", 0.02), "mean_boundary_distance": ("relative", 0.05)}
#: Two-sided level of a phase's change, and of its equivalence test, over one curve's family (Holm).
PHASE_LEVEL = 0.05
#: The words of a phase's change.
DIRECTIONS = ("rises", "falls", "flat", "not established")
#: The end of the paper's window of epochs.
PAPER_EPOCHS = 20


def phase_margin(column: str, start_mean: float, n_points: float) -> float:
    """The margin of :data:`PHASE_MARGINS` for ``column``, given its mean at the phase's start and the points per set.

    >>> phase_margin("single_region_points", 700.0, 1000), phase_margin("mean_boundary_distance", 1.3, 1000)
    (20.0, 0.065)
    """
    if column not in PHASE_MARGINS:
        raise ValueError(f"column must be one of {sorted(PHASE_MARGINS)}, got {column!r}")
    kind, size = PHASE_MARGINS[column]
    if kind == "absolute":
        return float(size)
    if kind == "share of points":
        return float(size * n_points)
    return float(size * abs(start_mean))


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
        (two-sided, Holm over the sets and phases of one curve in one setting), margin (see
        :data:`PHASE_MARGINS`), p_equivalence_holm (TOST, Holm over the same family),
        detectable (the smallest change detected with 80% power at 5% two-sided over the
        family's number of tests), direction (one of :data:`DIRECTIONS`; see the module docstring).
    """
    rows = validate_summary(summary, radius, norm)
    boundaries = phase_boundaries(rows["epoch"].unique())
    points = rows["n_points"] if "n_points" in rows else pd.Series(np.nan, index=rows.index)
    rows = rows.assign(n_points=points)
    out = []
    for (depth, lr), setting in rows.groupby(["depth", "lr"], sort=False):
        for column, unit in PHASE_COLUMNS.items():
            tests = []
            for dataset, part in setting.groupby("dataset", sort=False):
                wide = part.pivot_table(index="seed", columns="epoch", values=column)
                n_points = float(part["n_points"].max())
                for start, end in zip(boundaries[:-1], boundaries[1:]):
                    change = (wide[end] - wide[start]).to_numpy(dtype=np.float64)
                    result = t_test(change)
                    margin = phase_margin(column, float(wide[start].mean()), n_points)
                    tests.append({"depth": int(depth), "lr": float(lr), "column": column, "unit": unit,
                                  "dataset": dataset, "phase": f"{start}-{end}", "start": start, "end": end,
                                  "n_seeds": result["n"], "effect": result["effect"], "ci_low": result["ci_low"],
                                  "ci_high": result["ci_high"], "_p": 2 * min(result["p"], result["p_below"]),
                                  "margin": margin, "_sd": result["sd"],
                                  "_p_tost": equivalence_test(change, margin) if margin > 0 else 1.0})
            adjusted = holm([t["_p"] for t in tests])
            equivalent = holm([t["_p_tost"] for t in tests])
            significant = passes(np.asarray(adjusted), PHASE_LEVEL)
            shown_flat = passes(np.asarray(equivalent), PHASE_LEVEL)
            level = PHASE_LEVEL / (2 * len(tests))  # Holm's strictest step, one side of a two-sided test
            for test, p_holm, p_equivalence, clear, flat in zip(tests, adjusted, equivalent, significant, shown_flat,
                                                                 strict=True):
                test.pop("_p"), test.pop("_p_tost")
                direction = (("rises" if test["effect"] > 0 else "falls") if clear
                             else "flat" if flat else "not established")
                out.append(test | {"p_holm": float(p_holm), "p_equivalence_holm": float(p_equivalence),
                                   "detectable": detectable_effect(test.pop("_sd"), test["n_seeds"], level),
                                   "direction": direction})
    return pd.DataFrame(out)
