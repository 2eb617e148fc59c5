"""Summaries of the per-ball tables, ``tightness.csv`` and ``methods.csv`` (pandas and numpy only).

Apart from :mod:`localregions.experiment.tables`, which computes the per-point and per-ball rows
with torch, so that the report, the figures and the README read these summaries without
importing torch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["tightness_summary", "methods_summary", "complete_counts", "exact_complete", "BALL_KEYS", "METHOD_ORDER"]

#: One ball of the per-ball tables (``tightness.csv``, ``methods.csv``).
BALL_KEYS = ["scale", "depth", "lr", "seed", "epoch", "dataset", "point", "radius"]
#: The order of the methods in tables: the paper's first, then tighter, then the sampled estimate.
METHOD_ORDER = ("alg1", "ibp", "crown", "lp", "local_complexity")


def exact_complete(tightness: pd.DataFrame) -> np.ndarray:
    """Which rows of ``tightness.csv`` hold a finished exact count (``exact_complete`` as bool or, read from CSV,
    the strings True/False)."""
    column = tightness["exact_complete"]
    if column.dtype == bool:
        return column.to_numpy()
    return column.astype(str).str.strip().str.lower().isin(["true", "1"]).to_numpy()


def complete_counts(tightness: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``tightness.csv`` whose exact count finished, with ``exact_count`` as float."""
    done = tightness[exact_complete(tightness)]
    return done.assign(exact_count=pd.to_numeric(done["exact_count"]).astype(np.float64))


def tightness_summary(tightness: pd.DataFrame) -> pd.DataFrame:
    """How loose the bound 2^C is against exact region counts, one row per (input scale, radius).

    Returns
    -------
    pandas.DataFrame
        Columns: scale, radius, balls, complete, budget_hits, exact_share (2^C == exact among
        complete counts), median_ratio and worst_ratio (2^C / exact among complete counts),
        violations (exact > 2^C: impossible for a sound bound and a correct count),
        sampled_agree_share (sampled == exact among complete counts), median_sampled_ratio
        (sampled / exact), median_unstable (median C over all balls), median_exact (median of
        the complete counts), budget (the smallest ``max_regions`` among budget hits).
    """
    required = ["scale", "radius", "unstable", "exact_count", "exact_complete", "sampled_count"]
    missing = [c for c in required if c not in tightness.columns]
    if missing:
        raise ValueError(f"tightness is missing columns {missing}")
    frame = tightness.assign(
        _complete=exact_complete(tightness),
        _bound=np.exp2(tightness["unstable"].to_numpy(dtype=np.float64)),
        _exact=pd.to_numeric(tightness["exact_count"], errors="coerce").to_numpy(dtype=np.float64),
        _sampled=pd.to_numeric(tightness["sampled_count"], errors="coerce").to_numpy(dtype=np.float64),
    )
    order = {scale: index for index, scale in enumerate(("raw", "unit"))}
    rows = []
    for (scale, radius), part in sorted(frame.groupby(["scale", "radius"]), key=lambda g: (order.get(g[0][0], 9), g[0])):
        done = part[part["_complete"] & np.isfinite(part["_exact"])]
        ratio = done["_bound"] / done["_exact"]
        hits = ~part["_complete"]
        rows.append(
            {
                "scale": scale,
                "radius": float(radius),
                "balls": len(part),
                "complete": len(done),
                "budget_hits": int(hits.sum()),
                "exact_share": float((done["_bound"] == done["_exact"]).mean()) if len(done) else np.nan,
                "median_ratio": float(ratio.median()) if len(done) else np.nan,
                "worst_ratio": float(ratio.max()) if len(done) else np.nan,
                "violations": int((done["_exact"] > done["_bound"]).sum()),
                "sampled_agree_share": float((done["_sampled"] == done["_exact"]).mean()) if len(done) else np.nan,
                "median_sampled_ratio": float((done["_sampled"] / done["_exact"]).median()) if len(done) else np.nan,
                "median_unstable": float(part["unstable"].median()),
                "median_exact": float(done["_exact"].median()) if len(done) else np.nan,
                "budget": float(part.loc[hits, "max_regions"].min()) if "max_regions" in part and hits.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def methods_summary(methods: pd.DataFrame, tightness: pd.DataFrame | None = None,
                    timing: pd.DataFrame | None = None, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Each method against Algorithm 1 on its own balls, one row per (scale, radius, method), or per (``by``, scale,
    radius, method) with ``by`` among depth, lr, seed, epoch, dataset (``("depth",)``: one row per model of the grid).

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` keys, scale, radius, method, balls, mean_unstable (mean C), alg1_mean_unstable
        (Algorithm 1's mean C on the same balls), single_region_share (C = 0), removed_share
        (1 - the method's total C / Algorithm 1's there; negative: looser; NaN for Algorithm 1
        itself, for the sampled local complexity, which is no bound, and where Algorithm 1's C is
        0), counted (balls with a complete exact count, from ``tightness``), counted_mean_unstable
        and counted_mean_log2_exact (on those balls), seconds_per_1000 (from ``timing``; NaN
        without it). Ordered by the ``by`` keys, scale, radius and :data:`METHOD_ORDER`.
    """
    required = BALL_KEYS + ["method", "unstable"]
    missing = [c for c in required if c not in methods.columns]
    if missing:
        raise ValueError(f"methods is missing columns {missing}")
    by = list(by)
    allowed = [k for k in BALL_KEYS if k not in ("scale", "radius", "point")]
    if not set(by) <= set(allowed):
        raise ValueError(f"by must name keys among {allowed}, got {by}")
    alg1 = methods[methods["method"] == "alg1"][BALL_KEYS + ["unstable"]]
    exact = None
    if tightness is not None:
        done = complete_counts(tightness)
        exact = done[BALL_KEYS].assign(log2_exact=np.log2(done["exact_count"]))
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    groups = sorted(methods.groupby([*by, "scale", "radius", "method"], sort=False),
                    key=lambda g: (*g[0][:-1], order.get(g[0][-1], len(order))))
    rows = []
    for key, part in groups:
        *held, scale, radius, method = key
        paired = part.merge(alg1, on=BALL_KEYS, suffixes=("", "_alg1"))
        total = paired["unstable_alg1"].sum()
        counted = part.merge(exact, on=BALL_KEYS) if exact is not None else part.iloc[:0].assign(log2_exact=np.nan)
        seconds = np.nan
        if timing is not None:
            t = timing[(timing["scale"] == scale) & np.isclose(timing["radius"], radius) & (timing["method"] == method)]
            for column, value in zip(by, held):
                t = t[t[column] == value]
            seconds = t["seconds"].sum() / t["balls"].sum() * 1000 if len(t) and t["balls"].sum() else np.nan
        rows.append({
            **dict(zip(by, held)), "scale": scale, "radius": float(radius), "method": method, "balls": len(part),
            "mean_unstable": float(part["unstable"].mean()), "alg1_mean_unstable": float(paired["unstable_alg1"].mean()),
            "single_region_share": float((part["unstable"] == 0).mean()),
            "removed_share": np.nan if method in ("alg1", "local_complexity") or total == 0
            else float(1 - paired["unstable"].sum() / total),
            "counted": len(counted), "counted_mean_unstable": float(counted["unstable"].mean()) if len(counted) else np.nan,
            "counted_mean_log2_exact": float(counted["log2_exact"].mean()) if len(counted) else np.nan,
            "seconds_per_1000": float(seconds),
        })
    return pd.DataFrame(rows)
