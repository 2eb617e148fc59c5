"""One figure per optional study: exact counts against the bound, the radius sweep, the bound methods, the variants' verdicts.

Each takes the study's result table (see ``experiment/tables.py`` for the columns) and returns a
``matplotlib.figure.Figure``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..experiment.ball_summaries import BALL_KEYS, complete_counts, exact_complete
from ..vocabulary import DATASET_LABELS, format_lr
from .claims import MIN_RUNS
from .figure_style import DATASET_STYLE, PANEL_LETTERS, apply_yscale, require_columns, single_norm

__all__ = ["tightness_figure", "radius_sweep_figure", "methods_figure", "variant_claims_figure", "METHOD_STYLE",
           "VERDICT_COLOURS", "VERDICT_LEGEND"]


def _ball_panels(frame: pd.DataFrame) -> list[tuple[str, float]]:
    """(scale, radius) pairs, raw scale first, radii increasing."""
    order = {"raw": 0, "unit": 1}
    pairs = {(str(s), float(r)) for s, r in zip(frame["scale"], frame["radius"])}
    return sorted(pairs, key=lambda p: (order.get(p[0], 9), p[0], p[1]))


def _panel_grid(count: int, width: float = 4.6, height: float = 4.4):
    columns = min(count, 3)
    rows = -(-count // columns)
    fig = Figure(figsize=(width * columns, height * rows + 1.2), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for extra in np.ravel(axes)[count:]:
        extra.set_visible(False)
    return fig, np.ravel(axes)


def tightness_figure(tightness: pd.DataFrame) -> Figure:
    """Exact region counts in each ball against the paper's bound 2^C, log-log, one panel per (scale, radius).

    Parameters
    ----------
    tightness : pandas.DataFrame
        ``tightness.csv``: one row per ball with ``scale``, ``radius``, ``dataset``, ``unstable``
        (C), ``exact_count``, ``exact_complete`` and ``sampled_count``.

    Returns
    -------
    matplotlib.figure.Figure
        Filled markers: complete exact counts. Hollow markers: the exact count hit its budget, so the
        point is drawn at the sampled count, a lower bound on the true count. The dashed diagonal is
        exact = 2^C; a sound bound keeps every point on or below it.
    """
    require_columns(
        tightness,
        ["scale", "dataset", "radius", "unstable", "exact_count", "exact_complete", "sampled_count"],
        "tightness",
    )
    if tightness.empty:
        raise ValueError("tightness has no rows")
    complete = exact_complete(tightness)
    # 2^C in floating point: any C a count can finish for is far below overflow.
    bound = np.exp2(tightness["unstable"].to_numpy(dtype=np.float64))
    counted = np.where(complete, pd.to_numeric(tightness["exact_count"], errors="coerce"), tightness["sampled_count"])
    frame = tightness.assign(_bound=bound, _count=counted.astype(np.float64), _complete=complete)
    panels = _ball_panels(frame)
    fig, axes_list = _panel_grid(len(panels))
    for index, (scale, radius) in enumerate(panels):
        axes = axes_list[index]
        panel = frame[(frame["scale"] == scale) & np.isclose(frame["radius"], radius, rtol=1e-9, atol=0.0)]
        for dataset in DATASET_LABELS:
            points = panel[panel["dataset"] == dataset]
            style = DATASET_STYLE[dataset]
            done = points[points["_complete"]]
            hit = points[~points["_complete"]]
            axes.scatter(done["_bound"], done["_count"], marker=style["marker"], color=style["color"], alpha=0.6, s=28)
            axes.scatter(
                hit["_bound"], hit["_count"], marker=style["marker"], facecolors="none", edgecolors=style["color"], s=40
            )
        finite = panel[["_bound", "_count"]].to_numpy(dtype=np.float64)
        finite = finite[np.isfinite(finite) & (finite > 0)]
        low, high = (finite.min(), finite.max()) if finite.size else (1.0, 2.0)
        low, high = low / 1.5, max(high * 1.5, low * 3)
        axes.plot([low, high], [low, high], linestyle="--", color="0.3", linewidth=1.2)
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlim(low, high)
        axes.set_ylim(low, high)
        axes.set_aspect("equal")
        axes.grid(True, which="major", alpha=0.3)
        complete_count = int(panel["_complete"].sum())
        axes.set_title(f"({PANEL_LETTERS[index]}) {scale} inputs, r = {radius:g}\n"
                       f"{complete_count} of {len(panel)} counts complete", loc="left")
        axes.set_xlabel("bound $2^C$ (Algorithm 1)")
        axes.set_ylabel("exact number of regions in the ball")
    handles = [
        Line2D([], [], linestyle="none", markersize=7, label=label, **DATASET_STYLE[dataset])
        for dataset, label in DATASET_LABELS.items()
    ]
    handles.append(
        Line2D([], [], linestyle="none", marker="o", markersize=7, markerfacecolor="none", color="0.3",
               label="budget hit: sampled count (lower bound)")
    )
    handles.append(Line2D([], [], linestyle="--", color="0.3", label="exact = bound"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    fig.suptitle("How tight is the bound? Exact regions in each ball against $2^C$")
    return fig


def radius_sweep_figure(sweep: pd.DataFrame) -> Figure:
    """The bound against the ball radius, at the first and last bound epochs of training.

    Parameters
    ----------
    sweep : pandas.DataFrame
        The radius-sweep table: one row per (depth, lr, seed, epoch, dataset, radius, norm) with
        ``mean_log2_bound`` (mean C over the set's points) and ``single_region_share``.

    Returns
    -------
    matplotlib.figure.Figure
        One row of panels per (depth, lr): mean C against the radius, and the share of balls that
        meet a single region. One colour per point set; dashed: first epoch, solid: last epoch.
        Lines are means over seeds.
    """
    require_columns(
        sweep, ["depth", "lr", "seed", "epoch", "dataset", "radius", "norm", "mean_log2_bound", "single_region_share"],
        "sweep",
    )
    if sweep.empty:
        raise ValueError("sweep has no rows")
    chosen_norm = single_norm(sweep, None, "sweep")
    means = (
        sweep[sweep["norm"] == chosen_norm]
        .groupby(["depth", "lr", "dataset", "epoch", "radius"], as_index=False)
        [["mean_log2_bound", "single_region_share"]]
        .mean()
    )
    settings = sorted({(int(d), float(lr)) for d, lr in zip(means["depth"], means["lr"])}, key=lambda p: (p[0], -p[1]))
    fig = Figure(figsize=(10.0, 3.2 * len(settings) + 1.2), layout="constrained")
    axes_grid = fig.subplots(len(settings), 2, squeeze=False)
    first_epochs, last_epochs = set(), set()
    for row, (depth, lr) in enumerate(settings):
        setting = means[(means["depth"] == depth) & np.isclose(means["lr"], lr, rtol=1e-9, atol=0.0)]
        epochs = sorted(setting["epoch"].unique())
        first_last = {epochs[0]: "--", epochs[-1]: "-"}
        first_epochs.add(int(epochs[0]))
        last_epochs.add(int(epochs[-1]))
        bound_axes, share_axes = axes_grid[row]
        bound_values = []
        for dataset in DATASET_LABELS:
            for epoch, linestyle in first_last.items():
                curve = setting[(setting["dataset"] == dataset) & (setting["epoch"] == epoch)].sort_values("radius")
                if curve.empty:
                    continue
                style = dict(DATASET_STYLE[dataset], linestyle=linestyle, linewidth=1.6, markersize=4)
                bound_axes.plot(curve["radius"], curve["mean_log2_bound"], **style)
                share_axes.plot(curve["radius"], 100 * curve["single_region_share"], **style)
                bound_values.extend(curve["mean_log2_bound"].tolist())
        apply_yscale(bound_axes, bound_values)
        letters = PANEL_LETTERS[2 * row], PANEL_LETTERS[2 * row + 1]
        bound_axes.set_title(f"({letters[0]}) mean C, {depth} hidden layers, lr = {format_lr(lr)}", loc="left")
        share_axes.set_title(
            f"({letters[1]}) single region, {depth} hidden layers, lr = {format_lr(lr)}", loc="left"
        )
        bound_axes.set_ylabel("mean C over the points\n(log$_2$ of the bound $2^C$)")
        share_axes.set_ylabel("balls meeting a single\nregion (C = 0), %")
        share_axes.set_ylim(-3, 103)
        for axes in (bound_axes, share_axes):
            axes.set_xscale("log")
            axes.set_xlabel(f"ball radius ({chosen_norm})")
            axes.grid(True, which="major", alpha=0.3)
    handles = [
        Line2D([], [], linewidth=1.6, markersize=4, label=label, **DATASET_STYLE[dataset])
        for dataset, label in DATASET_LABELS.items()
    ]
    for label, epochs, linestyle in (("first", first_epochs, "--"), ("last", last_epochs, "-")):
        listed = ", ".join(str(e) for e in sorted(epochs))
        handles.append(Line2D([], [], color="0.3", linestyle=linestyle, label=f"{label} bound epoch ({listed})"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    fig.suptitle("The bound against the ball radius, before and after training (lines: mean over seeds)")
    return fig


# How each bound method (and the sampled lower estimate) is drawn in the methods figure.
METHOD_STYLE = {
    "alg1": dict(color="tab:red", marker="o", label="Algorithm 1 (paper)"),
    "ibp": dict(color="tab:orange", marker="s", label="IBP"),
    "crown": dict(color="tab:blue", marker="^", label="CROWN"),
    "lp": dict(color="tab:green", marker="D", label="LP (triangle relaxation)"),
    "local_complexity": dict(color="tab:purple", marker="x", label="local complexity (sampled, lower estimate)"),
}


def methods_figure(methods: pd.DataFrame, tightness: pd.DataFrame | None = None) -> Figure:
    """C of each bound method against log2 of the exact region count, on the same balls.

    Parameters
    ----------
    methods : pandas.DataFrame
        ``methods.csv``: one row per (ball, method) with ``unstable``.
    tightness : pandas.DataFrame, optional
        ``tightness.csv``; where given, the balls of a panel with a complete exact count are placed
        at log2(exact count) on the x axis (its balls without one are left out). A panel none of
        whose balls has a count (all past the budget, or not counted at that radius), and every
        panel without ``tightness``, has Algorithm 1's C on the x axis instead.

    Returns
    -------
    matplotlib.figure.Figure
        One row of panels per depth (each model of the grid apart: its neurons, and so its C, are
        its own), one panel per (scale, radius) in a row. Every sound bound method lies on or above
        the diagonal (log2 of the count <= C); the sampled local complexity counts neurons seen to
        change sign and is a lower estimate of the unstable neurons, not of the count.
    """
    require_columns(methods, BALL_KEYS + ["method", "unstable"], "methods")
    exact_label = "log$_2$ of the exact number of regions in the ball"
    alg1 = methods[methods["method"] == "alg1"][BALL_KEYS + ["unstable"]].rename(columns={"unstable": "_alg1"})
    frame = methods.merge(alg1, on=BALL_KEYS, how="left")
    counted = tightness is not None and not tightness.empty
    if counted:
        done = complete_counts(tightness)
        frame = frame.merge(done[BALL_KEYS].assign(_exact=np.log2(done["exact_count"])), on=BALL_KEYS, how="left")
    else:
        frame = frame.assign(_exact=np.nan)
    # Per (depth, scale, radius): the balls with an exact count at log2 of it; a panel without any count (every
    # ball past the budget, or no count at that radius) falls back to Algorithm 1's C rather than vanishing.
    drawn = []
    for depth in sorted(int(d) for d in frame["depth"].unique()):
        row = []
        for scale, radius in _ball_panels(frame):
            panel = frame[(frame["depth"] == depth) & (frame["scale"] == scale)
                          & np.isclose(frame["radius"], radius, rtol=1e-9, atol=0.0)]
            if panel["_exact"].notna().any():
                panel, x_label = panel[panel["_exact"].notna()].assign(_x=lambda f: f["_exact"]), exact_label
            else:
                panel = panel[panel["_alg1"].notna()].assign(_x=lambda f: f["_alg1"])
                x_label = "C of Algorithm 1" + (" (no exact counts here)" if counted else "")
            if not panel.empty:
                row.append((scale, radius, panel, x_label))
        if row:
            drawn.append((depth, row))
    if not drawn:
        raise ValueError("methods has no balls to draw (no exact counts and no Algorithm 1 rows?)")
    columns = max(len(row) for _, row in drawn)
    fig = Figure(figsize=(max(4.6 * columns, 9.2), 4.4 * len(drawn) + 1.4), layout="constrained")
    axes_grid = fig.subplots(len(drawn), columns, squeeze=False)
    letters = iter(PANEL_LETTERS)
    for (depth, row), axes_row in zip(drawn, axes_grid):
        for extra in axes_row[len(row):]:
            extra.set_visible(False)
        for axes, (scale, radius, panel, x_label) in zip(axes_row, row):
            for method, style in METHOD_STYLE.items():
                rows = panel[panel["method"] == method]
                if rows.empty:
                    continue
                axes.scatter(rows["_x"], rows["unstable"], color=style["color"], marker=style["marker"], s=22,
                             alpha=0.55, linewidths=1.0)
            top = float(max(panel["_x"].max(), panel["unstable"].max(), 1.0))
            axes.plot([0, top], [0, top], linestyle="--", color="0.3", linewidth=1.1)
            axes.set_title(f"({next(letters)}) {depth} hidden layers: {scale} inputs, r = {radius:g}\n"
                           f"{panel['point'].nunique()} points per set", loc="left")
            axes.set_xlabel(x_label)
            axes.set_ylabel("C: neurons that may change sign")
            axes.grid(True, which="major", alpha=0.3)
    handles = [Line2D([], [], linestyle="none", markersize=7, color=style["color"], marker=style["marker"],
                      label=style["label"]) for method, style in METHOD_STYLE.items() if method in set(frame["method"])]
    # The diagonal means two things: against log2 of the exact count a sound method cannot lie below it;
    # against Algorithm 1's C, below is tighter than the paper's bound.
    labels = [label for _, row in drawn for *_, label in row]
    against_exact = exact_label in labels
    against_alg1 = any(label != exact_label for label in labels)
    meanings = ([r"against log$_2$(exact count): a bound cannot be below"] if against_exact else []) + (
        ["against C of Algorithm 1: below is tighter"] if against_alg1 else [])
    handles.append(Line2D([], [], linestyle="--", color="0.3", label="diagonal " + ";\n".join(meanings)))
    # Two columns fit the narrowest figure (9.2 inches), three one of three panels (13.8): the legend stays inside.
    fig.legend(handles=handles, loc="outside lower center", ncol=2 if columns < 3 else 3, frameon=False)
    fig.suptitle("How much of 2$^C$ is the algorithm's slack? C by method against the exact count" if against_exact
                 else "How much of 2$^C$ is the algorithm's slack? C by method against Algorithm 1's")
    return fig


# Verdict colours of the variant-claims figure, one per verdict of reporting.claims: the three that say something
# from green to red; "inconclusive" (the data cannot tell) pale, "undecided" (too few runs trained) dark grey.
VERDICT_COLOURS = {"holds": "#1a9850", "partly": "#fee08b", "contradicted": "#d73027", "inconclusive": "#e0e0e0",
                   "undecided": "#737373"}
VERDICT_LEGEND = {"holds": "holds", "partly": "partly", "contradicted": "contradicted",
                  "inconclusive": "inconclusive (neither way)", "undecided": f"undecided (fewer than {MIN_RUNS} runs trained)"}


def variant_claims_figure(variant_claims: pd.DataFrame) -> Figure:
    """Which unspecified choice flips which claim: variants as rows, (claim, depth, lr) as columns.

    Parameters
    ----------
    variant_claims : pandas.DataFrame
        ``variant_claims.csv``: per (variant, depth, lr, claim) the ``verdict`` on the paper's
        trajectory (rows with ``trajectory == "paper"``), and ``runs_ok``, ``runs_diverged`` and
        ``runs_collapsed``.

    Returns
    -------
    matplotlib.figure.Figure
        Cells coloured by verdict (:data:`VERDICT_COLOURS`, the five verdicts); a cross marks a
        setting where some runs diverged or collapsed (they are left out of the statistics); a cell
        without a row stays white.
    """
    require_columns(variant_claims, ["variant", "depth", "lr", "claim", "verdict"], "variant_claims")
    rows = variant_claims
    if "trajectory" in rows:
        rows = rows[rows["trajectory"] == "paper"]
    variants = list(dict.fromkeys(rows["variant"]))
    columns = sorted({(int(c), int(d), float(lr)) for c, d, lr in zip(rows["claim"], rows["depth"], rows["lr"])},
                     key=lambda k: (k[0], k[1], -k[2]))
    fig = Figure(figsize=(1.0 + 0.42 * len(columns), 1.6 + 0.42 * len(variants)), layout="constrained")
    axes = fig.subplots()
    colour_index = {v: i for i, v in enumerate(VERDICT_COLOURS)}
    grid = np.full((len(variants), len(columns)), np.nan)
    for r, variant in enumerate(variants):
        mine = rows[rows["variant"] == variant]
        for c, (claim, depth, lr) in enumerate(columns):
            cell = mine[(mine["claim"] == claim) & (mine["depth"] == depth) & np.isclose(mine["lr"], lr)]
            if cell.empty:
                continue
            verdict = cell["verdict"].iloc[0]
            if verdict in colour_index:
                grid[r, c] = colour_index[verdict]
            failed = sum(int(cell[k].iloc[0]) for k in ("runs_diverged", "runs_collapsed") if k in cell)
            if failed:
                axes.text(c, r, "×", ha="center", va="center", fontsize=12, color="black")
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(list(VERDICT_COLOURS.values())).with_extremes(bad="white")
    axes.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-0.5, vmax=len(VERDICT_COLOURS) - 0.5, aspect="auto")
    axes.set_yticks(range(len(variants)), variants)
    axes.set_xticks(range(len(columns)), [f"({c}) d{d} lr {lr:g}" for c, d, lr in columns], rotation=90)
    for boundary in [i - 0.5 for i in range(1, len(columns)) if columns[i][0] != columns[i - 1][0]]:
        axes.axvline(boundary, color="white", linewidth=3)
    handles = [Line2D([], [], linestyle="none", marker="s", markersize=10, color=colour, label=VERDICT_LEGEND[verdict])
               for verdict, colour in VERDICT_COLOURS.items()]
    handles.append(Line2D([], [], linestyle="none", marker="$×$", markersize=9, color="black",
                          label="some runs diverged or collapsed"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    fig.suptitle("The paper's observations under each unspecified choice (epochs 2-20, verdicts over seeds)")
    return fig
