"""The figures of the studies of the paper's motivation (issue 24), drawn from their result tables.

One panel per (depth, lr) setting where a figure compares settings; every mark is a mean over
seeds with its 95% t interval (or, for the search's curves, the spread over seeds), so that no
figure shows a single curve of means as a finding. :func:`draw_figures` is called by the
pipeline's ``figures`` step with the result tables by name, like
:func:`localregions.reporting.figures.draw_figures` for the paper's figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import ScalarFormatter

from ..vocabulary import DATASET_LABELS, format_lr
from .figures import choose_yscale, save_figure
from .statistics import CONFIDENCE, t_test

__all__ = ["search_curve_figure", "search_distances_figure", "kinds_figure", "effects_figure", "roc_figure",
           "draw_figures", "KIND_LABELS"]

_SETTING_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                    "tab:gray")
_METHOD_STYLE = {"annealing": dict(color="tab:red", linestyle="-"), "hill_climb": dict(color="tab:blue", linestyle="--"),
                 "random": dict(color="tab:gray", linestyle=":")}
_SCORE_STYLE = {"alg1": dict(color="tab:red"), "crown": dict(color="tab:orange", linestyle="--"),
                "local_complexity": dict(color="tab:purple"), "boundary_distance": dict(color="tab:green"),
                "abs_logit": dict(color="black", linestyle="-."), "nearest_reference": dict(color="0.5", linestyle=":")}
_SCORE_LABELS = {"alg1": "C (Algorithm 1)", "crown": "C (CROWN)", "local_complexity": "local complexity",
                 "boundary_distance": "boundary distance (smaller)", "abs_logit": "baseline: |logit|",
                 "nearest_reference": "baseline: distance to the data"}
#: How the figures and the report name each kind of point.
KIND_LABELS = {**DATASET_LABELS, "clean": "clean test", "search maximum": "search maximum",
               "maximum_annealing": "max: annealing", "maximum_hill_climb": "max: hill climbing",
               "maximum_random": "max: random sampling"}
_MEASURES = (("alg1_mean", "C of Algorithm 1 (bits)"), ("crown_mean", "C of CROWN (bits)"),
             ("local_complexity_mean", "local complexity (neurons)"),
             ("boundary_distance_median", "distance to the own region's boundary (median)"))


def kind_label(kind: str) -> str:
    """``"adversarial l2 eps 50"`` -> ``"PGD l2 50"``; the others from :data:`KIND_LABELS`."""
    if kind.startswith("adversarial "):
        return "PGD " + kind.removeprefix("adversarial ").replace(" eps ", " ")
    return KIND_LABELS.get(kind, kind)


def _settings(table: pd.DataFrame) -> list[tuple[int, float]]:
    pairs = {(int(d), float(lr)) for d, lr in zip(table["depth"], table["lr"])}
    return sorted(pairs, key=lambda pair: (pair[0], -pair[1]))


def _label(depth: int, lr: float) -> str:
    return f"depth {depth}, lr {format_lr(lr)}"


def _of(table: pd.DataFrame, depth: int, lr: float) -> pd.DataFrame:
    return table[(table["depth"] == depth) & np.isclose(table["lr"].astype(float), lr, rtol=1e-12, atol=0)]


def _grid(count: int, width: float = 5.0, height: float = 4.0):
    columns = min(count, 2)
    rows = -(-count // columns)
    # Two panels wide at least, so that the titles and legends of a one-setting figure fit.
    fig = Figure(figsize=(max(width * columns, 10.0), height * rows + 1.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False).ravel())
    for extra in axes[count:]:
        extra.set_visible(False)
    return fig, axes


def _interval(values) -> tuple[float, float, float]:
    """Mean and 95% t interval over seeds (the mean alone for one seed)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    if len(values) < 2:
        return float(values[0]), np.nan, np.nan
    result = t_test(values, confidence=CONFIDENCE)
    return result["effect"], result["ci_low"], result["ci_high"]


def search_curve_figure(curves: pd.DataFrame, maxima: pd.DataFrame) -> Figure:
    """The best value found against the evaluations spent, per method and setting: the median over seeds, the band
    from the smallest to the largest seed; the dashed line and band: the largest value over the data, likewise."""
    settings = _settings(curves)
    fig, axes = _grid(len(settings))
    measure = maxima["measure"].iloc[0] if "measure" in maxima else "alg1"
    for ax, (depth, lr) in zip(axes, settings):
        mine = _of(curves, depth, lr)
        for method, part in mine.groupby("method", sort=False):
            per_seed = part.pivot_table(index="evaluation", columns="seed", values="best")
            style = _METHOD_STYLE.get(method, {})
            # A best-so-far curve kept at a few evaluations: each value holds (at least) until the next mark.
            ax.plot(per_seed.index, per_seed.median(axis=1), label=method.replace("_", " "), linewidth=1.8,
                    drawstyle="steps-post", **style)
            ax.fill_between(per_seed.index, per_seed.min(axis=1), per_seed.max(axis=1), alpha=0.15,
                            color=style.get("color"), linewidth=0, step="post")
        data = _of(maxima, depth, lr).drop_duplicates("seed")["data_max"]
        if len(data):
            ax.axhline(float(data.median()), color="black", linestyle="--", linewidth=1.2, label="largest over the data")
            ax.axhspan(float(data.min()), float(data.max()), color="black", alpha=0.06)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_title(f"{_label(depth, lr)} ({mine['seed'].nunique()} seeds)")
        ax.set_xlabel("evaluations of the measure")
        ax.set_ylabel(f"best {measure} found")
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    fig.suptitle("H3: the best ball found against the budget\n(lines: median over seeds; bands: smallest to largest "
                 "seed)")
    return fig


def _kind_panel(ax, kinds: pd.DataFrame, column: str, order: list[str], settings, *, jitter: bool = False) -> None:
    """Per kind (x) and setting (colour), the mean over seeds with its 95% t interval, cut at zero for a measure that
    cannot be negative; with ``jitter``, each seed's value and, as the bar, the range over seeds instead."""
    width = 0.8 / max(1, len(settings))
    plotted = []
    for k, (depth, lr) in enumerate(settings):
        mine = _of(kinds, depth, lr)
        for x, kind in enumerate(order):
            values = mine.loc[mine["kind"] == kind, column].to_numpy(dtype=np.float64)
            if not len(values):
                continue
            position = x - 0.4 + width * (k + 0.5)
            mean, low, high = _interval(values)
            if jitter:
                low, high = float(np.nanmin(values)), float(np.nanmax(values))
            elif np.isfinite(low) and (values >= 0).all():
                low = max(low, 0.0)
            colour = _SETTING_COLOURS[k % len(_SETTING_COLOURS)]
            if jitter:
                ax.plot(np.full(len(values), position), values, linestyle="none", marker=".", color=colour, alpha=0.35)
            ax.errorbar([position], [mean], yerr=None if np.isnan(low) else [[mean - low], [high - mean]], fmt="o",
                        color=colour, markersize=4, capsize=2, label=_label(depth, lr) if x == 0 or not plotted else None)
            plotted += [v for v in values if np.isfinite(v)] + [v for v in (low, high) if np.isfinite(v)]
    ax.set_xticks(range(len(order)), [kind_label(kind) for kind in order], rotation=35, ha="right")
    # Counts of neurons stay linear; distances, which span decades between kinds of point, may go logarithmic.
    scale = choose_yscale(plotted) if "distance" in column or "nearest" in column else "linear"
    if scale != "linear":
        ax.set_yscale("symlog" if scale == "symlog" else "log", **({"linthresh": 1e-2} if scale == "symlog" else {}))
    ax.grid(True, axis="y", alpha=0.3)


def kinds_figure(kinds: pd.DataFrame, title: str) -> Figure:
    """The local measures per kind of point: one panel per measure, one colour per setting (mean over seeds, 95%
    t interval). A ``network`` column (the backdoor study) splits each kind by the network it was measured on."""
    if "network" in kinds:
        kinds = kinds.assign(kind=kinds["network"].map({"poisoned": "poisoned net", "clean": "clean net"})
                             .fillna(kinds["network"]) + ": " + kinds["kind"])
    order = list(dict.fromkeys(kinds["kind"]))
    settings = _settings(kinds)
    fig, axes = _grid(len(_MEASURES), width=max(5.0, 0.55 * len(order) * 2), height=4.2)
    for ax, (column, label) in zip(axes, _MEASURES):
        _kind_panel(ax, kinds, column, order, settings)
        ax.set_title(label)
    handles = [Line2D([], [], marker="o", linestyle="none", color=_SETTING_COLOURS[k % len(_SETTING_COLOURS)],
                      label=_label(d, lr)) for k, (d, lr) in enumerate(settings)]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    fig.suptitle(f"{title}\n(marks: mean over seeds; bars: 95% t interval)")
    return fig


def search_distances_figure(kinds: pd.DataFrame) -> Figure:
    """Where the search's maxima lie: their distance to the nearest training point, their first-order distance to the
    decision boundary and to their own region's boundary, beside the same for the point sets (each seed a dot)."""
    order = list(dict.fromkeys(kinds["kind"]))
    settings = _settings(kinds)
    panels = (("nearest_train_mean", "distance to the nearest training point"),
              ("decision_distance_median", "first-order distance to the decision boundary (median)"),
              ("boundary_distance_median", "distance to the own region's boundary (median)"))
    fig, axes = _grid(len(panels), width=max(5.0, 0.55 * len(order) * 2), height=4.2)
    for ax, (column, label) in zip(axes, panels):
        _kind_panel(ax, kinds, column, order, settings, jitter=True)
        ax.set_title(label)
    handles = [Line2D([], [], marker="o", linestyle="none", color=_SETTING_COLOURS[k % len(_SETTING_COLOURS)],
                      label=_label(d, lr)) for k, (d, lr) in enumerate(settings)]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    fig.suptitle("H3: how far the maxima lie from the data and the boundaries\n(dots: seeds, each a set's mean or "
                 "median; marks: mean over seeds; bars: smallest to largest seed)")
    return fig


def effects_figure(effects: pd.DataFrame, claims: pd.DataFrame, title: str) -> Figure:
    """The deciding effect of every part, per setting: each seed's effect (dots), the mean over seeds with its 95% t
    interval, and the smallest effect these seeds detect (diamond), beside zero; the panel names the verdict."""
    settings = _settings(claims)
    fig, axes = _grid(len(settings), width=5.6, height=max(2.4, 0.55 * claims["part"].nunique() + 1.6))
    deciding = effects[effects["decides"].astype(bool)]
    for ax, (depth, lr) in zip(axes, settings):
        rows = _of(claims, depth, lr)
        seeds = _of(deciding, depth, lr)
        parts = list(rows["part"])
        for y, row in enumerate(rows.itertuples(index=False)):
            used = seeds[(seeds["part"] == row.part) & seeds["usable"].astype(bool)]["effect"].to_numpy(dtype=float)
            ax.plot(used, np.full(len(used), y) + np.linspace(-0.15, 0.15, len(used)), linestyle="none", marker=".",
                    color="0.55")
            colour = {"supported": "tab:green", "contradicted": "tab:red"}.get(row.finding, "black")
            if np.isfinite(row.ci_low):
                ax.errorbar([row.effect], [y], xerr=[[row.effect - row.ci_low], [row.ci_high - row.effect]], fmt="o",
                            color=colour, capsize=3)
            elif np.isfinite(row.effect):
                ax.plot([row.effect], [y], marker="o", color=colour)
            if np.isfinite(row.detectable):
                ax.plot([row.detectable], [y], marker="D", markersize=5, color="tab:blue", fillstyle="none")
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(parts)), parts)
        ax.invert_yaxis()
        verdict = rows["verdict"].iloc[0] if len(rows) else "-"
        ax.set_title(f"{_label(depth, lr)}\n{verdict} ({int(rows['n_seeds'].iloc[0]) if len(rows) else 0} networks)",
                     fontsize=10)
        ax.set_xlabel(f"effect, {rows['unit'].iloc[0] if len(rows) else ''}")
        ax.grid(True, axis="x", alpha=0.3)
    handles = [Line2D([], [], marker=".", linestyle="none", color="0.55", label="one seed"),
               Line2D([], [], marker="o", color="tab:green", label="mean, 95% interval: supported"),
               Line2D([], [], marker="o", color="tab:red", label="contradicted"),
               Line2D([], [], marker="o", color="black", label="inconclusive"),
               Line2D([], [], marker="D", linestyle="none", fillstyle="none", color="tab:blue",
                      label="smallest effect detectable (80% power)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    fig.suptitle(f"{title}\n(each part is tested one-sided at 2.5% / m: a 95% interval can clear zero without deciding "
                 "the part)", fontsize=11)
    return fig


def roc_figure(roc: pd.DataFrame, aucs: pd.DataFrame) -> Figure:
    """Each score as a detector of triggered inputs on the poisoned networks: the mean ROC curve over seeds, and in
    the legend its AUC, mean over seeds with the 95% t interval."""
    settings = _settings(roc)
    fig, axes = _grid(len(settings), width=5.2, height=4.6)
    for ax, (depth, lr) in zip(axes, settings):
        curves, scores = _of(roc, depth, lr), _of(aucs, depth, lr)
        for score, part in curves.groupby("score", sort=False):
            mean = part.groupby("fpr")["tpr"].mean()
            auc, low, high = _interval(scores.loc[scores["score"] == score, "auc"])
            interval = f" [{low:.2f}, {high:.2f}]" if np.isfinite(low) else ""
            ax.plot(mean.index, mean.to_numpy(), linewidth=1.6, label=f"{_SCORE_LABELS.get(score, score)}: "
                    f"AUC {auc:.2f}{interval}", **_SCORE_STYLE.get(score, {}))
        ax.plot([0, 1], [0, 1], color="0.8", linewidth=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_title(f"{_label(depth, lr)} ({curves['seed'].nunique()} poisoned networks)")
        ax.set_xlabel("false-positive rate (clean inputs flagged)")
        ax.set_ylabel("true-positive rate (triggered inputs flagged)")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(True, alpha=0.3)
    fig.suptitle("H2: each measure as a detector of triggered inputs\n(mean ROC over seeds; AUC: mean [95% t interval])")
    return fig


# One adapter per figure of the registry (reporting/products.py: FigureSpec.draw names it), with the signature of
# the paper's: the result tables by name, the experiment's radius and norm, the depth of a per-depth figure.
def draw_search_curve(tables, *, radius, norm, depth=None):
    return search_curve_figure(tables["search_curves"], tables["search_maxima"])


def draw_search_distances(tables, *, radius, norm, depth=None):
    return search_distances_figure(tables["search_kinds"])


def draw_search_kinds(tables, *, radius, norm, depth=None):
    return kinds_figure(tables["search_kinds"], f"H3: the measures around the point sets and the maxima (r = {radius:g}, "
                        f"{norm})")


def draw_search_effects(tables, *, radius, norm, depth=None):
    return effects_figure(tables["search_effects"], tables["search_claims"], "H3: annealing's best minus the data's "
                          "largest C, per seed")


def draw_adversarial_kinds(tables, *, radius, norm, depth=None):
    return kinds_figure(tables["adversarial_kinds"], f"H1: the measures around each kind of point (r = {radius:g}, "
                        f"{norm})")


def draw_adversarial_effects(tables, *, radius, norm, depth=None):
    return effects_figure(tables["adversarial_effects"], tables["adversarial_claims"],
                          "H1: C around the example minus C around its clean point, per attack")


def draw_backdoor_kinds(tables, *, radius, norm, depth=None):
    return kinds_figure(tables["backdoor_kinds"], f"H2: the measures around clean and triggered test inputs "
                        f"(r = {radius:g}, {norm})")


def draw_backdoor_roc(tables, *, radius, norm, depth=None):
    return roc_figure(tables["backdoor_roc"], tables["backdoor_aucs"])


def draw_backdoor_effects(tables, *, radius, norm, depth=None):
    return effects_figure(tables["backdoor_effects"], tables["backdoor_claims"],
                          "H2: C around triggered minus clean inputs, per seed")


def draw_figures(tables: Mapping[str, str | Path], outputs: Sequence[str | Path], *, radius: float,
                 norm: str | None = None) -> list[Path]:
    """Draw every figure of ``outputs`` (PNG and PDF files whose stems name registered motivation figures) from the
    result tables ``tables`` (names to CSV paths)."""
    from ..experiment.storage import read_csv
    from .products import figure_spec

    stems = list(dict.fromkeys(Path(path).with_suffix("") for path in outputs))
    planned = []
    for stem in stems:  # every stem checked before drawing any
        spec, _ = figure_spec(stem.name)
        if spec.module != "motivation_figures":
            raise ValueError(f"figure {stem.name!r} is not one of the motivation's (it is drawn by reporting.{spec.module})")
        missing = [name for name in spec.tables if name not in tables]
        if missing:
            raise ValueError(f"figure {stem.name!r} needs the tables {missing}, which were not given")
        planned.append((stem, spec))
    frames = {name: read_csv(path) for name, path in tables.items()
              if any(name in spec.tables for _, spec in planned)}
    written = []
    for stem, spec in planned:
        written += save_figure(globals()[spec.draw](frames, radius=radius, norm=norm), stem)
    return written
