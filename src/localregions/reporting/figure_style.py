"""What every figure of the pipeline shares: a colour and marker per point set, panel letters, the y scale, argument checks.

The figures themselves are in :mod:`.training_figures` (curves over training) and :mod:`.study_figures`
(one per optional study); :mod:`.figures` draws them from the result tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

__all__ = ["DATASET_STYLE", "LOG_SCALE_SPAN", "PANEL_LETTERS", "apply_yscale", "choose_yscale", "require_columns",
           "single_norm"]

DATASET_STYLE = {
    "train": dict(color="tab:blue", marker="o"),
    "test": dict(color="tab:orange", marker="s"),
    "random1": dict(color="tab:green", marker="^"),
    "random2": dict(color="tab:red", marker="D"),
}
# Curves whose positive values span more than this factor get a logarithmic y axis.
LOG_SCALE_SPAN = 30.0
PANEL_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def require_columns(frame: pd.DataFrame, columns: Sequence[str], argument: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{argument} is missing columns {missing}")


def single_norm(frame: pd.DataFrame, norm: str | None, argument: str) -> str:
    """The norm to plot: ``norm`` if given, else the only norm in ``frame``."""
    norms = sorted(frame["norm"].dropna().unique())
    if norm is None:
        if len(norms) != 1:
            raise ValueError(f"{argument} holds norms {norms}; pass norm= to choose one")
        return norms[0]
    if norm not in norms:
        raise ValueError(f"norm {norm!r} is not in {argument} (it holds {norms})")
    return norm


def choose_yscale(values) -> str:
    """The y scale for a panel: ``"log"``, ``"symlog"`` (log, but zeros present) or ``"linear"``.

    A log axis is chosen when the finite positive values span more than ``LOG_SCALE_SPAN``
    (max / min); zeros cannot be drawn on a log axis, so then ``"symlog"`` (linear below 1).
    """
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    positive = array[array > 0]
    if positive.size == 0 or positive.max() / positive.min() <= LOG_SCALE_SPAN:
        return "linear"
    return "symlog" if (array <= 0).any() else "log"


def apply_yscale(axes: Axes, values) -> None:
    scale = choose_yscale(values)
    if scale == "symlog":
        axes.set_yscale("symlog", linthresh=1.0)
    else:
        axes.set_yscale(scale)
