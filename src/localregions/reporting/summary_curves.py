"""The per-seed summary table as the claims and the phases read it: checked, its epochs chosen, one array per curve.

:func:`validate_summary` checks a ``summary.csv`` table (columns, radius, norm, sets, repeated
keys, non-finite values) and returns its rows at one radius and norm; :func:`chosen_epochs` picks
the epochs to decide on (by default the paper's trajectory, every bound epoch but 0);
:func:`settings` lists the (depth, lr) settings in the paper's panel order; :func:`setting_curves`
returns, for one setting, each curve as a (n_seeds, n_epochs) array per set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..vocabulary import DATASET_NAMES, SUMMARY_KEYS
from .contrasts import MIN_EPOCHS
from .statistics import MIN_SEEDS

__all__ = ["CURVE_COLUMNS", "validate_summary", "paper_epochs", "chosen_epochs", "settings", "setting_curves"]

#: The columns of ``summary.csv`` the claims read.
CURVE_COLUMNS = ("log2_mean_bound", "single_region_points", "mean_boundary_distance")
_METRICS = CURVE_COLUMNS


def validate_summary(summary, radius, norm) -> pd.DataFrame:
    """The rows of ``summary`` at ``radius`` and ``norm`` (the only norm there when None), checked; see the module docstring."""
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary must be a pandas.DataFrame, got {type(summary).__name__}")
    required = list(SUMMARY_KEYS) + [c for c in _METRICS if c not in SUMMARY_KEYS]
    missing = [c for c in required if c not in summary.columns]
    if missing:
        raise ValueError(f"summary is missing columns {missing}")
    if summary.empty:
        raise ValueError("summary has no rows")
    try:
        radius = float(radius)
    except (TypeError, ValueError):
        raise TypeError(f"radius must be a number, got {radius!r}") from None
    if not np.isfinite(radius):
        raise ValueError(f"radius must be finite, got {radius!r}")
    radii = pd.to_numeric(summary["radius"], errors="coerce").to_numpy(dtype=np.float64)
    rows = summary[np.isclose(radii, radius, rtol=1e-9, atol=0.0)]
    if rows.empty:
        raise ValueError(f"radius {radius!r} is not in summary (its radii are {sorted(set(radii.tolist()))})")
    norms = sorted(rows["norm"].astype(str).unique())
    if norm is None:
        if len(norms) != 1:
            raise ValueError(f"summary holds norms {norms} at radius {radius!r}; pass norm= to choose one")
        norm = norms[0]
    elif str(norm) not in norms:
        raise ValueError(f"norm {norm!r} is not in summary at radius {radius!r} (it holds {norms})")
    rows = rows[rows["norm"].astype(str) == str(norm)]
    unknown = sorted(set(rows["dataset"].astype(str)) - set(DATASET_NAMES))
    if unknown:
        raise ValueError(f"summary has unknown datasets {unknown}; expected {list(DATASET_NAMES)}")
    absent = [d for d in DATASET_NAMES if d not in set(rows["dataset"].astype(str))]
    if absent:
        raise ValueError(f"summary has no rows for datasets {absent} at radius {radius!r}")
    duplicated = rows.duplicated(subset=list(SUMMARY_KEYS), keep=False)
    if duplicated.any():
        first = rows.loc[duplicated, list(SUMMARY_KEYS)].iloc[0].to_dict()
        raise ValueError(f"summary has {int(duplicated.sum())} rows with repeated keys {list(SUMMARY_KEYS)}, e.g. {first}")
    for column in _METRICS:
        values = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            first = rows.loc[bad, list(SUMMARY_KEYS)].iloc[0].to_dict()
            raise ValueError(
                f"summary column {column!r} has {int(bad.sum())} missing or non-finite values, e.g. at {first}; "
                "leave such runs out before checking the claims"
            )
    return rows


def paper_epochs(bound_epochs: Sequence[int]) -> list[int]:
    """The paper's trajectory: every bound epoch except 0 (Figure 3 plots epochs 2, 4, ..., 20)."""
    return sorted(int(e) for e in set(bound_epochs) if int(e) != 0)


def chosen_epochs(rows: pd.DataFrame, epochs) -> list[int]:
    """The epochs to decide on: ``epochs`` checked against the table, or the paper's trajectory when None."""
    available = sorted(int(e) for e in rows["epoch"].unique())
    if epochs is None:
        chosen = paper_epochs(available)
    else:
        if isinstance(epochs, (str, bytes)) or not isinstance(epochs, Sequence | np.ndarray | pd.Index):
            raise TypeError(f"epochs must be a sequence of integers or None, got {type(epochs).__name__}")
        chosen = []
        for e in epochs:
            if isinstance(e, bool) or not float(e).is_integer():
                raise ValueError(f"epochs must be integers, got {e!r}")
            chosen.append(int(e))
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"epochs must not repeat an epoch, got {list(epochs)}")
        absent = sorted(set(chosen) - set(available))
        if absent:
            raise ValueError(f"epochs {absent} are not in summary (its epochs are {available})")
        chosen = sorted(chosen)
    if len(chosen) < MIN_EPOCHS:
        raise ValueError(
            f"epochs must hold at least {MIN_EPOCHS} epochs (a first, a last and one between), got {chosen}"
            + (" after leaving out epoch 0" if epochs is None else "")
        )
    return chosen


def settings(rows: pd.DataFrame):
    """(depth, lr, rows): depths increasing, learning rates decreasing (the paper's panel order)."""
    keyed = rows.assign(depth=rows["depth"].astype(int), lr=rows["lr"].astype(float))
    groups = [(int(depth), float(lr), part) for (depth, lr), part in keyed.groupby(["depth", "lr"], sort=False)]
    return sorted(groups, key=lambda g: (g[0], -g[1]))


def setting_curves(part: pd.DataFrame, depth: int, lr: float, epochs: list[int]):
    """The seeds (increasing) and, per column of :data:`CURVE_COLUMNS` and set, the (n_seeds, n_epochs) array."""
    part = part[part["epoch"].astype(int).isin(epochs)]
    seeds = sorted(int(s) for s in part["seed"].unique())
    if len(seeds) < MIN_SEEDS:
        raise ValueError(
            f"summary holds {len(seeds)} seed(s) for depth {depth}, lr {lr:g}; at least {MIN_SEEDS} are needed"
        )
    index = pd.MultiIndex.from_product([list(DATASET_NAMES), seeds, epochs], names=["dataset", "seed", "epoch"])
    keyed = part.assign(dataset=part["dataset"].astype(str), seed=part["seed"].astype(int),
                        epoch=part["epoch"].astype(int)).set_index(["dataset", "seed", "epoch"])
    block = keyed[list(_METRICS)].reindex(index)
    curves: dict[str, dict[str, np.ndarray]] = {column: {} for column in _METRICS}
    for d, dataset in enumerate(DATASET_NAMES):
        rows = slice(d * len(seeds) * len(epochs), (d + 1) * len(seeds) * len(epochs))
        lacking = block.index[rows][block[_METRICS[0]].to_numpy()[rows] != block[_METRICS[0]].to_numpy()[rows]]
        if len(lacking):
            raise ValueError(
                f"summary lacks {len(lacking)} (seed, epoch) rows of set {dataset!r} for depth {depth}, lr {lr:g}, "
                f"e.g. {[key[1:] for key in lacking[:3]]}; every seed needs every chosen epoch (leave incomplete runs "
                "out)"
            )
        for column in _METRICS:
            curves[column][dataset] = block[column].to_numpy(dtype=np.float64)[rows].reshape(len(seeds), len(epochs))
    return seeds, curves

