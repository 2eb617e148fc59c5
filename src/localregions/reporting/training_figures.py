"""Figures of curves over training: Figure 3 of the paper and the distance to the region boundary.

Each takes the ``summary_by_setting`` table (see ``experiment/tables.py`` for the columns) and returns a
``matplotlib.figure.Figure``.  Plotted curves are means over seeds; the shaded band is the 95%
t-interval over seeds (absent where a setting has one seed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..vocabulary import DATASET_LABELS, format_lr
from .figure_style import DATASET_STYLE, PANEL_LETTERS, apply_yscale, require_columns, single_norm

__all__ = ["figure3", "boundary_distance_figure", "untrained_depth_figure", "LOG_EPOCH_SPAN", "LOG2_BOUND_ABOVE"]

_BAND_ALPHA = 0.18


def _rows_at(by_setting: pd.DataFrame, radius: float, norm: str | None) -> tuple[pd.DataFrame, str]:
    require_columns(by_setting, ["depth", "lr", "epoch", "dataset", "radius", "norm"], "by_setting")
    at_radius = by_setting[np.isclose(by_setting["radius"].astype(float), float(radius), rtol=1e-9, atol=0.0)]
    if at_radius.empty:
        radii = sorted(by_setting["radius"].unique())
        raise ValueError(f"radius {radius!r} has no rows in by_setting (its radii are {radii})")
    chosen = single_norm(at_radius, norm, "by_setting")
    return at_radius[at_radius["norm"] == chosen], chosen


# Past this a mean of 2^C spans too many decades for a number axis to be read (and past about 1e300 matplotlib's log
# axis overflows while drawing): Figure 3 then draws its log2, with the interval of that log2.
_LOG2_ABOVE_BITS = 64
LOG2_BOUND_ABOVE = 2.0**_LOG2_ABOVE_BITS


def _bound_needs_log2(rows: pd.DataFrame) -> bool:
    """Whether Figure 3's bound panels draw log2 of the mean of 2^C: some mean or interval end is past
    ``LOG2_BOUND_ABOVE``, or some mean is not a finite float (an overflow, or inf - inf)."""
    mean = rows["mean_bound_mean"].to_numpy(dtype=np.float64)
    high = rows["mean_bound_ci_high"].to_numpy(dtype=np.float64)
    # A missing interval (one seed) is NaN and decides nothing; an infinite upper end is past any threshold.
    return bool((~np.isfinite(mean)).any() or (mean > LOG2_BOUND_ABOVE).any() or (high > LOG2_BOUND_ABOVE).any())


def _setting(rows: pd.DataFrame, depth: int, lr: float) -> pd.DataFrame:
    selected = rows[(rows["depth"] == depth) & np.isclose(rows["lr"].astype(float), float(lr), rtol=1e-9, atol=0.0)]
    return selected.sort_values("epoch")


def _plot_seed_mean(axes: Axes, setting: pd.DataFrame, metric: str, *, floor: float | None) -> list[float]:
    """One line per set with its 95% band; returns the plotted values (for the scale decision)."""
    plotted: list[float] = []
    for dataset, label in DATASET_LABELS.items():
        curve = setting[setting["dataset"] == dataset]
        if curve.empty:
            continue
        epochs = curve["epoch"].to_numpy(dtype=np.float64)
        mean = curve[f"{metric}_mean"].to_numpy(dtype=np.float64)
        style = DATASET_STYLE[dataset]
        axes.plot(epochs, mean, label=label, linewidth=1.8, markersize=5, **style)
        low = curve[f"{metric}_ci_low"].to_numpy(dtype=np.float64)
        high = curve[f"{metric}_ci_high"].to_numpy(dtype=np.float64)
        if floor is not None:
            # The quantity cannot go below ``floor``; a symmetric t-interval can, which means nothing here.
            low = np.maximum(low, floor)
        if np.isfinite(low).any():
            axes.fill_between(epochs, low, high, color=style["color"], alpha=_BAND_ALPHA, linewidth=0)
        plotted.extend(mean.tolist())
    return plotted


# Epochs spanning more than this factor (long training) are drawn on a logarithmic axis.
LOG_EPOCH_SPAN = 50.0


def _epoch_axis(axes: Axes, epochs) -> None:
    """Ticks at the bound epochs; a log axis (linear below 1, so epoch 0 shows) when they span decades."""
    epochs = sorted({float(e) for e in epochs})
    positive = [e for e in epochs if e > 0]
    if positive and positive[-1] / positive[0] > LOG_EPOCH_SPAN:
        axes.set_xscale("symlog", linthresh=1.0, linscale=0.5)
        axes.set_xlabel("epoch (log scale past 1)")
    else:
        axes.set_xticks(epochs)


def _empty_panel(axes: Axes, message: str) -> None:
    axes.text(0.5, 0.5, message, transform=axes.transAxes, ha="center", va="center", color="0.4")


def _finish_grid(fig: Figure, axes_grid, title: str) -> None:
    handles = [
        Line2D([], [], linewidth=1.8, markersize=5, label=label, **DATASET_STYLE[dataset])
        for dataset, label in DATASET_LABELS.items()
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, fontsize=11)
    fig.suptitle(title, fontsize=13)
    for axes in np.ravel(axes_grid):
        axes.grid(True, which="major", alpha=0.3)
        if not axes.get_xlabel():
            axes.set_xlabel("epoch")


def _seed_note(rows: pd.DataFrame) -> str:
    """What the lines and bands are, for a suptitle."""
    if "n_seeds" not in rows or rows["n_seeds"].isna().all():
        return "lines: mean over seeds; bands: 95% t-interval"
    low, high = int(rows["n_seeds"].min()), int(rows["n_seeds"].max())
    if high == 1:
        return "one seed per setting (no interval)"
    count = str(high) if low == high else f"{low} to {high}"
    return f"lines: mean over {count} seeds; bands: 95% t-interval"


def figure3(
    by_setting: pd.DataFrame,
    depth: int,
    radius: float,
    lrs: Sequence[float] = (0.02, 0.001),
    *,
    norm: str | None = None,
) -> Figure:
    """The paper's Figure 3 for one depth: bound and single-region points over training, per lr.

    Parameters
    ----------
    by_setting : pandas.DataFrame
        ``summary_by_setting.csv``: seed means and 95% t-intervals per (depth, lr, epoch, dataset, radius, norm).
    depth : int
        Number of hidden layers of the networks to plot.
    radius : float
        Ball radius (the primary radius of the experiment); rows at other radii are ignored.
    lrs : sequence of float
        Learning rates, one row of panels each; the paper's (a), (b) use 0.02 and (c), (d) 0.001.
    norm : str, optional
        Ball norm; needed only when ``by_setting`` holds several at ``radius``.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(lrs)`` rows of two panels: the mean over each set's points of the bound 2^C, and the
        number of points whose ball meets a single region (C = 0). One line per point set, mean
        over seeds, shaded 95% interval. Where the mean of 2^C, or its interval's upper end, is past
        :data:`LOG2_BOUND_ABOVE` or not a finite float anywhere in the figure, every bound panel
        shows its log2 instead (``log2_mean_bound``: log2 of each run's mean of 2^C, averaged over
        seeds) with that quantity's own interval, and says so in its title and axis label.
    """
    if len(lrs) == 0:
        raise ValueError("lrs must name at least one learning rate")
    rows, chosen_norm = _rows_at(by_setting, radius, norm)
    rows = rows[rows["depth"] == depth]
    if rows.empty:
        raise ValueError(f"depth {depth!r} has no rows in by_setting at radius {radius!r}")
    require_columns(
        rows,
        [
            f"{metric}_{statistic}"
            for metric in ("mean_bound", "log2_mean_bound", "single_region_points")
            for statistic in ("mean", "ci_low", "ci_high")
        ],
        "by_setting",
    )
    log2_drawn = _bound_needs_log2(rows)
    if log2_drawn:
        bound_metric, bound_floor, bound_title = "log2_mean_bound", 0.0, "log$_2$ of the mean upper bound"
        bound_label = "log$_2$ of the mean upper bound\n(log$_2$ of the mean of $2^C$ over the set's points)"
    else:
        bound_metric, bound_floor, bound_title = "mean_bound", 1.0, "mean upper bound"
        bound_label = "mean upper bound on regions\n(mean of $2^C$ over the set's points)"

    fig = Figure(figsize=(10.0, 3.6 * len(lrs) + 1.0), layout="constrained")
    axes_grid = fig.subplots(len(lrs), 2, squeeze=False)
    for row, lr in enumerate(lrs):
        setting = _setting(rows, depth, lr)
        bound_axes, single_axes = axes_grid[row]
        bound_axes.set_title(f"({PANEL_LETTERS[2 * row]}) {bound_title}, lr = {format_lr(lr)}", loc="left")
        single_axes.set_title(
            f"({PANEL_LETTERS[2 * row + 1]}) points with a single region, lr = {format_lr(lr)}", loc="left"
        )
        bound_axes.set_ylabel(bound_label)
        single_axes.set_ylabel("points whose ball meets\na single region (C = 0)")
        if setting.empty:
            for axes in (bound_axes, single_axes):
                _empty_panel(axes, f"no runs with lr = {format_lr(lr)}")
            continue
        bound_values = _plot_seed_mean(bound_axes, setting, bound_metric, floor=bound_floor)
        if not log2_drawn:
            apply_yscale(bound_axes, bound_values)
        apply_yscale(single_axes, _plot_seed_mean(single_axes, setting, "single_region_points", floor=0.0))
        for axes in (bound_axes, single_axes):
            _epoch_axis(axes, setting["epoch"].unique())
    _finish_grid(
        fig,
        axes_grid,
        f"Local linear regions during training: {depth} hidden layers, ball radius {radius:g} ({chosen_norm})"
        f"\n{_seed_note(rows)}" + (f"; bound panels: log$_2$, as the mean of $2^C$ is past $2^{{{_LOG2_ABOVE_BITS}}}$"
                                     if log2_drawn else ""),
    )
    return fig


def untrained_depth_figure(depth: int, radius: float) -> Figure:
    """Figure 3's place for a depth of the grid none of whose runs trained (each diverged or collapsed).

    ``summary_by_setting`` keeps only trained runs, so such a depth has no rows to plot; the figure
    says so in one panel instead of leaving the figure the pipeline declares for it unwritten.
    """
    fig = Figure(figsize=(10.0, 3.0), layout="constrained")
    axes = fig.subplots()
    axes.set_axis_off()
    _empty_panel(axes, f"No trained runs at this depth: every run with {depth} hidden layers diverged or collapsed,\n"
                       "so the summary has no rows for it (runs.csv says which runs did what).")
    fig.suptitle(f"Local linear regions during training: {depth} hidden layers, ball radius {radius:g}", fontsize=13)
    return fig


def boundary_distance_figure(
    by_setting: pd.DataFrame,
    depths: Sequence[int],
    radius: float,
    lrs: Sequence[float] = (0.02, 0.001),
    *,
    norm: str | None = None,
) -> Figure:
    """Mean distance from each set's points to the boundary of their own linear region, over training.

    Parameters
    ----------
    by_setting : pandas.DataFrame
        ``summary_by_setting.csv``.
    depths : sequence of int
        Depths to plot, one row of panels each.
    radius : float
        The primary radius; the distance does not depend on it, it only picks one copy of the rows.
    lrs : sequence of float
        Learning rates, one column of panels each.
    norm : str, optional
        Norm of the distance; needed only when ``by_setting`` holds several at ``radius``.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per (depth, lr), one line per point set: mean over seeds, shaded 95% interval.
    """
    if len(depths) == 0:
        raise ValueError("depths must name at least one depth")
    if len(lrs) == 0:
        raise ValueError("lrs must name at least one learning rate")
    rows, chosen_norm = _rows_at(by_setting, radius, norm)
    require_columns(
        rows, [f"mean_boundary_distance_{s}" for s in ("mean", "ci_low", "ci_high")], "by_setting"
    )
    fig = Figure(figsize=(10.0, 3.4 * len(depths) + 1.0), layout="constrained")
    axes_grid = fig.subplots(len(depths), len(lrs), squeeze=False)
    for row, depth in enumerate(depths):
        for column, lr in enumerate(lrs):
            axes = axes_grid[row][column]
            letter = PANEL_LETTERS[row * len(lrs) + column]
            axes.set_title(f"({letter}) {depth} hidden layers, lr = {format_lr(lr)}", loc="left")
            axes.set_ylabel(f"mean distance to the\nregion's boundary ({chosen_norm})")
            setting = _setting(rows, depth, lr)
            if setting.empty:
                _empty_panel(axes, f"no runs with depth {depth}, lr = {format_lr(lr)}")
                continue
            apply_yscale(axes, _plot_seed_mean(axes, setting, "mean_boundary_distance", floor=0.0))
            _epoch_axis(axes, setting["epoch"].unique())
    _finish_grid(
        fig,
        axes_grid,
        f"Distance from the points to the boundary of their own linear region during training\n{_seed_note(rows)}",
    )
    return fig
