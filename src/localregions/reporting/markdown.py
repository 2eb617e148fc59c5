"""The reproduction report, ``results/<name>/report.md``: every section generated from the tables.

:func:`build_report` turns the pipeline's tables into Markdown. Nothing in it is written by hand
and nothing depends on the clock, so the same tables give the same bytes. The paper's claims are
decided in :mod:`localregions.reporting.claims` and rendered by
:mod:`localregions.reporting.claims_markdown`; this module assembles the report around them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..experiment.architectures import LENET_CHANNELS, hidden_widths
from ..experiment.ball_summaries import complete_counts, methods_summary, tightness_summary
from ..experiment.tables import radius_sweep_summary
from ..vocabulary import DATASET_LABELS, format_lr, run_id
from .claims import MIN_RUNS
from .verdicts import UNDECIDED, trained_summary, variant_flips, variant_runs

__all__ = ["build_report", "write_report", "markdown_table", "number", "share", "model_sizes", "methods_by_model"]

# Bound epochs spanning more than this factor (long training) get the phases section.
LONG_TRAINING_SPAN = 50.0
# The order in which the report prints the settings (the schema's order).
SETTINGS_ORDER = ("name", "paths", "variants", "data", "models", "optim", "train", "bounds", "grid", "tightness", "sweep",
                  "methods", "slices", "reference", "runtime", "motivation", "search", "adversarial", "backdoor")


def number(value, digits: int = 4) -> str:
    """A number for a table cell: integers plainly, others to ``digits`` significant digits, NaN as n/a."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    value = float(value)
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))
    return format(value, f".{digits}g")


def share(value) -> str:
    """A share as a whole percentage; ``-0.4%`` reads ``0%``, not ``-0%``.

    >>> share(-0.004), share(0.335), share(None)
    ('0%', '34%', 'n/a')
    """
    return "n/a" if value is None or pd.isna(value) else f"{round(100 * float(value)) + 0:.0f}%"


def _percent(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _runs_section(runs: pd.DataFrame) -> str:
    runs = runs.sort_values(["depth", "lr", "seed"], ascending=[True, False, True], kind="mergesort")
    failed = runs[runs["status"] != "ok"]
    counts = runs["status"].value_counts()
    lines = ["## Training runs", "",
             f"{len(runs)} runs: {int(counts.get('ok', 0))} trained, {int(counts.get('diverged', 0))} diverged "
             f"(non-finite loss or weights), {int(counts.get('collapsed', 0))} collapsed (no better than the "
             "majority class on the training set). Runs that diverged or collapsed are left out of the seed "
             "statistics, the figures' means and the claims.", ""]
    if not failed.empty:
        named = [f"{row.model} lr {format_lr(row.lr)} seed {int(row.seed)}: {row.status}"
                 + (f" at epoch {number(row.diverged_at_epoch)}" if row.status == "diverged" else "")
                 for row in failed.itertuples(index=False)]
        lines += ["Left out: " + "; ".join(named) + ".", ""]
    lines += ["Accuracy at the last completed epoch, over the runs that trained:", ""]
    per_setting = []
    for (depth, lr), group in runs.groupby(["depth", "lr"], sort=False):
        done = group[group["status"] == "ok"]
        per_setting.append([str(depth), format_lr(lr), f"{len(done)} of {len(group)}",
                            _percent(done["final_train_accuracy"].mean()), _percent(done["final_test_accuracy"].mean()),
                            _percent(done["final_test_accuracy"].min()), _percent(done["final_test_accuracy"].max())])
    lines.append(markdown_table(["depth", "lr", "runs trained", "mean train acc.", "mean test acc.", "min test",
                                 "max test"], per_setting))
    return "\n".join(lines)


def _tightness_section(tightness: pd.DataFrame | None) -> str:
    lines = ["## How tight is the bound", ""]
    if tightness is None:
        return "\n".join(lines + ["The tightness study was not run (`tightness.enabled=false`)."])
    table = tightness_summary(tightness)
    lines += [
        "Exact numbers of regions meeting each ball (a sign-tree enumeration with convex programs, "
        "`localregions.counting`) against the bound 2^C, on the first points of each set, the first grid seed, "
        "the first and last bound epochs. *Complete*: the count finished within its budget of regions; past it "
        "only a lower bound is known (the ball holds more than the budget). *Sampled*: distinct regions hit by "
        "random points of the ball, an independent lower bound on the count.",
        "",
    ]
    rows = [[row.scale, number(row.radius), str(row.balls), f"{row.complete} of {row.balls}", share(row.exact_share),
             number(row.median_ratio), number(row.worst_ratio), number(row.median_exact), number(row.median_unstable, 3),
             share(row.sampled_agree_share), f"> {number(row.budget)}" if np.isfinite(row.budget) else "-"]
            for row in table.itertuples(index=False)]
    header = ["scale", "radius", "balls", "complete", "2^C = exact", "median 2^C/exact", "worst 2^C/exact",
              "median exact", "median C", "sampled = exact", "count at budget hits"]
    lines.append(markdown_table(header, rows))
    complete = complete_counts(tightness)
    below = (pd.to_numeric(complete["sampled_count"]) <= complete["exact_count"]).all()
    lines += ["", "On every complete ball the sampled count is at most the exact count, as it must be (an independent "
              "check of the counter)." if below else "**Some sampled counts exceed the exact count: the counter or the "
              "sampler is wrong on those balls.**"]
    violations = int(table["violations"].sum())
    lines += ["", "The count does not use Algorithm 1 (the enumeration branches on every neuron whose hyperplane crosses "
              "the ball), so `exact <= 2^C` is a check of the bound: "
              + ("it held on every complete ball." if violations == 0 else
                 f"**{violations} balls hold more regions than 2^C: the bound is unsound there (or the count wrong).**")]
    full = table[table["budget_hits"] == 0]
    if len(full):
        where = ", ".join(f"{r.scale} r = {number(r.radius)}" for r in full.itertuples(index=False))
        lines += ["", f"Every ball was counted completely at: {where}."]
    hit = table[table["budget_hits"] > 0]
    if len(hit):
        where = ", ".join(f"{r.scale} r = {number(r.radius)} ({r.budget_hits} of {r.balls})" for r in hit.itertuples(index=False))
        lines += ["", f"Balls past the budget: {where}."]
    return "\n".join(lines)


def model_sizes(models: Mapping[str, Mapping]) -> dict[int, tuple[str, int]]:
    """Per depth (how the tables tell the models of a grid apart), the model's name and its hidden neurons.

    ``models``: the per-model settings as the report prints them (``settings["models"]``).
    """
    return {int(m["depth"]): (name, sum(hidden_widths(m.get("architecture", "mlp"), depth=m["depth"], width=m["width"],
                                                      channels=m.get("channels", LENET_CHANNELS))))
            for name, m in models.items()}


def methods_by_model(methods: pd.DataFrame, sizes: Mapping[int, tuple[str, int]], tightness: pd.DataFrame | None = None,
                     timing: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`~localregions.experiment.ball_summaries.methods_summary` per model (depth), with the model's name,
    its hidden neurons and C per neuron (mean C / neurons: the share of its neurons that may change sign)."""
    table = methods_summary(methods, tightness, timing, by=("depth",))
    names = [sizes.get(int(d), ("depth " + str(d), np.nan)) for d in table["depth"]]
    table.insert(0, "model", [name for name, _ in names])
    table.insert(2, "neurons", [neurons for _, neurons in names])
    table.insert(table.columns.get_loc("mean_unstable") + 1, "unstable_per_neuron", table["mean_unstable"] / table["neurons"])
    return table


def _methods_section(methods: pd.DataFrame | None, timing: pd.DataFrame | None, tightness: pd.DataFrame | None,
                     sizes: Mapping[int, tuple[str, int]] | None = None) -> str:
    lines = ["## Tighter bounds: how much of C is Algorithm 1's slack", ""]
    if methods is None:
        return "\n".join(lines + ["The methods study was not run (`methods.enabled=false`)."])
    lines += [
        "On the same balls: C of Algorithm 1 (the paper's), interval bound propagation (IBP), CROWN (backward linear "
        "relaxation) and LP (per-neuron convex programs over the triangle relaxation; on fewer balls), all sound; and "
        "the local complexity of Humayun, Balestriero & Baraniuk (2024), the neurons seen to change sign among the "
        "vertices of a random cross-polytope in the ball, a **lower estimate** of the neurons that do (not a bound). "
        "Every method is compared with Algorithm 1 *on its own balls*: *removed* is the share of Algorithm 1's C there "
        "that the method proves stable (negative: looser). *log2 exact* is the mean log2 of the exact count over its "
        "balls whose count finished (a sound method's C cannot be below it on a ball). Times: seconds per 1,000 "
        "balls on the machine of this run, one thread (`methods_timing.csv`, the one table that differs run to run).",
        "",
    ]
    # Models of different sizes (a CNN beside an MLP) get a row each: their mean C pooled would mean nothing.
    per_model = methods["depth"].nunique() > 1
    if per_model:
        lines += ["One row per model of the grid: *C per neuron* is its mean C over its hidden neurons, the share "
                  "of them that may change sign in the ball.", ""]
        table = methods_by_model(methods, sizes or {}, tightness, timing)
    else:
        table = methods_summary(methods, tightness, timing)
    rows = [([f"{r.model} (depth {r.depth})", number(r.neurons)] if per_model else [])
            + [r.scale, number(r.radius), r.method, str(r.balls), number(r.mean_unstable, 3)]
            + ([number(r.unstable_per_neuron, 3)] if per_model else [])
            + [number(r.alg1_mean_unstable, 3), share(r.single_region_share),
               "-" if np.isnan(r.removed_share) else share(r.removed_share),
               f"{number(r.counted_mean_unstable, 3)} / {number(r.counted_mean_log2_exact, 3)} ({r.counted})"
               if r.counted else "-", number(r.seconds_per_1000, 3)]
            for r in table.itertuples(index=False)]
    lines.append(markdown_table((["model", "neurons"] if per_model else []) + ["scale", "radius", "method", "balls", "mean C"]
                                + (["C per neuron"] if per_model else [])
                                + ["Algorithm 1's mean C, same balls", "C = 0 (single region)", "removed",
                                   "mean C / log2 exact (balls counted)", "s per 1,000 balls"], rows))
    return "\n".join(lines)


def _radius_sweep_section(sweep: pd.DataFrame | None, primary_radius: float) -> str:
    lines = ["## The bound against the radius", ""]
    if sweep is None:
        return "\n".join(lines + ["The radius sweep was not run (`sweep.enabled=false`)."])
    table = radius_sweep_summary(sweep)
    radii = sorted(table["radius"].unique())
    lines += ["Algorithm 1 on the experiment's own networks at other radii, at the first and last bound epoch. Each "
              "cell: mean C over the set's points / share of balls meeting a single region (C = 0), both averaged over "
              f"seeds. Figure 3 uses r = {number(primary_radius)}.", ""]
    rows = []
    for (depth, lr, dataset, epoch), group in table.groupby(["depth", "lr", "dataset", "epoch"], sort=False):
        cells = {float(r.radius): f"{number(r.mean_log2_bound, 3)} / {share(r.single_region_share)}"
                 for r in group.itertuples(index=False)}
        rows.append([str(int(depth)), format_lr(lr), DATASET_LABELS.get(dataset, dataset), number(epoch)]
                    + [cells.get(float(radius), "n/a") for radius in radii])
    lines.append(markdown_table(["depth", "lr", "set", "epoch"] + [f"r = {number(r)}" for r in radii], rows))
    return "\n".join(lines)


def _slices_section(slices: pd.DataFrame | None) -> str:
    """The regions meeting the ball's disc in each slice, before -> after training (empty without slices)."""
    if slices is None or slices.empty:
        return ""
    first = slices.iloc[0]
    lines = ["## Slices through the points", "",
             f"Exact 2-D slices of the linear regions (no sampling; figures `slices_depth*`, every number in "
             f"`slices.csv`) on a `{first['plane']}` plane through point {int(first['point'])} of each set, seed "
             f"{int(first['seed'])}. Each cell: the regions the ball's disc (r = {number(first['radius'])}) meets, "
             "before -> after training; *boundary*: the decision boundary crosses the disc.", ""]
    datasets = list(dict.fromkeys(slices["dataset"]))
    rows = []
    for (depth, lr), group in slices.groupby(["depth", "lr"], sort=False):
        cells = []
        for dataset in datasets:
            ordered = group[group["dataset"] == dataset].sort_values("epoch")
            cells.append(" -> ".join(f"{int(r.disc_regions)}{' (boundary)' if r.boundary_in_disc else ''}"
                                     for r in ordered.itertuples(index=False)) or "n/a")
        epochs = " -> ".join(number(e) for e in sorted(group["epoch"].unique()))
        rows.append([str(int(depth)), format_lr(lr), epochs, *cells])
    lines.append(markdown_table(["depth", "lr", "epochs", *(DATASET_LABELS.get(d, d) for d in datasets)], rows))
    return "\n".join(lines)


def _phases_section(usable: pd.DataFrame, radius: float, norm: str | None) -> str:
    """For long training only: the change over each phase of training, per curve and set."""
    from .phases import phase_boundaries, phase_changes

    epochs = sorted(int(e) for e in usable["epoch"].unique() if e > 0)
    if len(epochs) < 2 or epochs[-1] / epochs[0] <= LONG_TRAINING_SPAN:
        return ""
    table = phase_changes(usable, radius=radius, norm=norm)
    cuts = phase_boundaries(epochs)
    lines = ["## Long training in phases", "",
             f"The trajectory is cut at epochs {', '.join(map(str, cuts))} by a rule fixed before looking (the first "
             "bound epoch, the end of the paper's 20 epochs, the checkpoint nearest the geometric middle of the rest, "
             "the last epoch; `localregions.reporting.phases`). Each cell: the change over the phase, mean over "
             "seeds with its 95% interval, and **rises** / **falls** where the change is significant (two-sided 5%) "
             "after Holm's correction over the sets and phases of the curve in that setting; **flat** only where two "
             "one-sided tests show it within a stated margin (0.1 bits, 0.1 neurons, 2% of the points, 5% of the "
             "distance at the phase's start; 5% after the same correction); else *not established*, with the "
             "smallest change these seeds detect (80% power). A descent, an ascent and a second descent (Humayun et "
             "al. 2024) would read *falls*, *rises*, *falls*.", ""]
    phases = list(dict.fromkeys(table["phase"]))
    for column, unit in (("log2_mean_bound", "bits"), ("mean_log2_bound", "neurons (mean C)"),
                         ("mean_boundary_distance", "distance"), ("single_region_points", "points")):
        part = table[table["column"] == column]
        # The report's order: depths increasing, lrs decreasing, the sets as the paper lists them.
        order = {name: index for index, name in enumerate(DATASET_LABELS)}
        part = part.assign(_lr=-part["lr"], _set=part["dataset"].map(order)).sort_values(
            ["depth", "_lr", "_set"], kind="mergesort")
        rows = []
        for (depth, lr, dataset), group in part.groupby(["depth", "lr", "dataset"], sort=False):
            cells = {r.phase: (f"*not established (detectable: {number(r.detectable, 2)})*"
                               if r.direction == "not established" else
                               f"**flat** (within ±{number(r.margin, 2)})" if r.direction == "flat"
                               else f"**{r.direction}**")
                     + f" {number(r.effect, 3)} [{number(r.ci_low, 3)}, {number(r.ci_high, 3)}]"
                     for r in group.itertuples(index=False)}
            rows.append([str(depth), format_lr(lr), DATASET_LABELS.get(dataset, dataset)] + [cells.get(p, "") for p in phases])
        lines += [f"### `{column}` ({unit})", "", markdown_table(["depth", "lr", "set"] + [f"epochs {p}" for p in phases],
                                                                  rows), ""]
    return "\n".join(lines).rstrip("\n")


def _effect_text(row, part: int) -> str:
    name = row.get(f"part{part}")
    if not isinstance(name, str) or not name:
        return ""
    return (f"{name} {row[f'part{part}_finding']}: {row[f'part{part}_subject']} {number(row[f'part{part}_effect'], 3)} "
            f"[{number(row[f'part{part}_ci_low'], 3)}, {number(row[f'part{part}_ci_high'], 3)}] {row['unit']}, "
            f"detectable {number(row[f'part{part}_detectable'], 3)}")


def _variants_section(variant_claims: pd.DataFrame | None, baseline: pd.DataFrame | None) -> str:
    """Which unspecified choices flip which claims, against this experiment's own (default) verdicts."""
    if variant_claims is None:
        return ""
    lines = ["## Which of the paper's silences decide its claims", "",
             "Each variant changes one choice the paper leaves unsaid and reruns the whole grid (10 seeds per setting); "
             "verdicts on the paper's trajectory (epochs 2-20), decided over the seeds as above. A flip is a change "
             "between holds, partly and contradicted against this experiment's own verdict (the defaults of every "
             "other choice); a change to or from inconclusive or undecided is none: it says the data cannot tell.", ""]
    flips = variant_flips(variant_claims, baseline)
    runs = variant_runs(variant_claims)
    summary_rows = [[r.variant, f"`{r.overrides}`", str(r.runs_ok), str(r.runs_failed),
                     str(int((flips["variant"] == r.variant).sum())), str(r.decided)] for r in runs.itertuples(index=False)]
    sentences = []
    for flip in flips.to_dict("records"):
        effects = "; ".join(t for t in (_effect_text(flip, 1), _effect_text(flip, 2), _effect_text(flip, 3)) if t)
        sentences.append(f"- **{flip['variant']}**: ({flip['claim']}) at depth {flip['depth']}, lr {format_lr(flip['lr'])} "
                         f"goes from *{flip['before']}* to *{flip['verdict']}* ({effects}).")
    lines.append(markdown_table(["variant", "overrides", "runs trained", "runs diverged or collapsed",
                                 "verdicts that flip", "verdicts decided"], summary_rows))
    lines += ["", "The flips, with the test that decided each part (mean over seeds, its interval, the smallest effect "
              "the seeds detect):", ""]
    lines += sentences or ["No variant changes any verdict."]
    paper = variant_claims[variant_claims["trajectory"] == "paper"] if "trajectory" in variant_claims else variant_claims
    undecided = paper[paper["verdict"] == UNDECIDED]
    short = [f"{variant} ({', '.join(f'depth {d}, lr {format_lr(lr)}' for d, lr in dict.fromkeys(zip(part['depth'], part['lr'])))})"
             for variant, part in undecided.groupby("variant", sort=False)]
    if short:
        lines += ["", f"Settings left undecided (fewer than {MIN_RUNS} runs trained there; *undecided* in the table "
                  "and dark grey in the figure): " + "; ".join(short) + "."]
    return "\n".join(lines)


# The report's sections after the verdicts, in order. Each takes the tables by name (the result tables the report
# rule hands over: ``claims`` and those of the studies that ran, which reporting/products.py registers; plus
# ``methods_timing`` and ``usable``, the per-seed summary of the runs that trained) and the experiment's radius and
# norm (and, for the methods table, the grid's model sizes), and returns its Markdown, or "" to be left out. To add a
# section, add its function here.
SECTIONS = {
    "phases": lambda tables, radius, norm, **_: _phases_section(tables["usable"], radius, norm),
    "tightness": lambda tables, radius, norm, **_: _tightness_section(tables.get("tightness")),
    "methods": lambda tables, radius, norm, model_sizes=None: _methods_section(
        tables.get("methods"), tables.get("methods_timing"), tables.get("tightness"), model_sizes),
    "radius_sweep": lambda tables, radius, norm, **_: _radius_sweep_section(tables.get("radius_sweep"), radius),
    "slices": lambda tables, radius, norm, **_: _slices_section(tables.get("slices")),
    "variants": lambda tables, radius, norm, **_: _variants_section(tables.get("variant_claims"), tables.get("claims")),
}


def build_report(
    *,
    name: str,
    settings_yaml: str,
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    radius: float,
    norm: str | None,
    figure_paths: Mapping[str, str],
    comparison_headline: str | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    model_sizes: Mapping[int, tuple[str, int]] | None = None,
) -> str:
    """The Markdown of ``results/<name>/report.md``, from the pipeline's tables.

    ``tables`` holds the other result tables by name (``claims`` and those of the studies that ran, plus
    ``methods_timing``); each of :data:`SECTIONS` reads those it needs and says when its study was not
    run. The claims are decided on ``summary`` (per seed) over the runs that trained. ``model_sizes``
    (:func:`model_sizes`) names the models of a grid and their neurons where the methods table shows one
    row per model.
    """
    from .claims_markdown import TESTS_HEADING, claims_section

    if not name:
        raise ValueError("name must not be empty")
    left_out = {run_id(row.model, row.lr, row.seed): row.status for row in runs.itertuples(index=False)
                if row.status != "ok"}
    usable = trained_summary(summary, runs)
    parts = [
        f"# Reproduction report: {name}",
        "",
        "Reproduces Zhu, Lin & Tang (2020), *Bounding the number of linear regions in local area for neural networks "
        "with ReLU activations*, Section 5 and Figure 3, and measures what the paper did not. Generated by "
        "`localregions.reporting` from the pipeline's tables; rerun the pipeline instead of editing this file.",
        "",
    ]
    if comparison_headline:
        parts += ["**Against the committed reference.** " + comparison_headline.removeprefix("Verdict: ")
                  + " (details: `comparison.md`)", ""]
    parts += ["## Settings", "", "```yaml", settings_yaml.rstrip("\n"), "```", "", _runs_section(runs), "",
              "## Figures", ""]
    parts += [f"- [{caption}]({path})" for caption, path in figure_paths.items()] or ["No figures were drawn."]
    # The verdicts and their rules here; the hundreds of lines of tests behind them at the end.
    claims_text = claims_section(usable, radius=radius, norm=norm, runs_left_out=left_out or None)
    verdicts, _, tests = claims_text.partition(TESTS_HEADING)
    parts += ["", verdicts.rstrip("\n")]
    tables = {**(tables or {}), "usable": usable}
    for write in SECTIONS.values():
        text = write(tables, radius=radius, norm=norm, model_sizes=model_sizes)
        if text:
            parts += ["", text]
    if tests:
        parts += ["", "## Appendix: the tests behind the verdicts", tests.rstrip("\n")]
    return "\n".join(parts).rstrip("\n") + "\n"


def settings_text(settings: Mapping) -> str:
    """The experiment's settings (plain values; per-model ones under ``models``) as YAML in the schema's order."""
    import yaml

    ordered = {key: settings[key] for key in SETTINGS_ORDER if key in settings}
    ordered.update({key: value for key, value in settings.items() if key not in ordered})
    return yaml.safe_dump(ordered, sort_keys=False, default_flow_style=None, width=100)


def write_report(output: str | Path, *, experiment: str, settings: Mapping, tables: Mapping[str, str | Path],
                 methods_timing: str | Path | None, comparison: str | Path, figures: Sequence[str | Path],
                 radius: float, norm: str) -> None:
    """Write the report of ``experiment`` to ``output`` from its result tables (by name), figures and comparison.

    ``tables`` holds the tables of the studies that ran (reporting/products.py names them);
    ``figures`` the PNG files, linked relative to the report under their registered titles.
    """
    from ..experiment.storage import read_csv, write_text
    from .comparison import headline_of
    from .products import figure_spec

    frames = {name: read_csv(path) for name, path in tables.items()}
    figure_paths = {}
    for png in figures:
        spec, depth = figure_spec(Path(png).stem)
        figure_paths[spec.title.format(depth=depth)] = os.path.relpath(png, Path(output).parent)
    text = build_report(
        name=experiment,
        settings_yaml=settings_text(settings),
        summary=frames["summary"],
        runs=frames["runs"],
        radius=radius,
        norm=norm,
        figure_paths=figure_paths,
        comparison_headline=headline_of(comparison),
        tables={**frames, **({"methods_timing": read_csv(methods_timing)} if methods_timing else {})},
        model_sizes=model_sizes(settings["models"]) if "models" in settings else None,
    )
    write_text(text, output)
