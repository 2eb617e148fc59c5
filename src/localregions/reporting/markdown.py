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

from ..experiment.tables import radius_sweep_summary, tightness_summary
from ..vocabulary import DATASET_LABELS, format_lr
from .verdicts import trained_summary

__all__ = ["build_report", "write_report", "markdown_table", "number"]

# What each figure shows, for the list of figures (the Snakemake HTML report has longer captions).
FIGURE_CAPTIONS = {
    "figure3_depth": "Figure 3 of the paper, {depth} hidden layers: the mean bound 2^C and the points with a single region, over training",
    "boundary_distance": "Distance from the points to the boundary of their own region, over training",
    "radius_sweep": "The bound against the ball radius, before and after training",
    "tightness": "Exact region counts against the bound 2^C",
    "methods": "C of Algorithm 1, IBP, CROWN, LP and the sampled local complexity against the exact count",
    "variant_claims": "The paper's observations under each unspecified choice",
}


# The order in which the report prints the settings (the schema's order).
SETTINGS_ORDER = ("name", "results_dir", "figures_dir", "variants", "data", "model", "optim", "train", "grid", "bounds",
                  "tightness", "sweep", "methods", "reference", "runtime")


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


def _share(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * float(value):.0f}%"


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
    rows = [[row.scale, number(row.radius), str(row.balls), f"{row.complete} of {row.balls}", _share(row.exact_share),
             number(row.median_ratio), number(row.worst_ratio), number(row.median_exact), number(row.median_unstable, 3),
             _share(row.sampled_agree_share), f"> {number(row.budget)}" if np.isfinite(row.budget) else "-"]
            for row in table.itertuples(index=False)]
    header = ["scale", "radius", "balls", "complete", "2^C = exact", "median 2^C/exact", "worst 2^C/exact",
              "median exact", "median C", "sampled = exact", "count at budget hits"]
    lines.append(markdown_table(header, rows))
    complete = tightness[tightness["exact_complete"].astype(str).str.lower().isin(["true", "1"])]
    below = (pd.to_numeric(complete["sampled_count"]) <= pd.to_numeric(complete["exact_count"])).all()
    lines += ["", "On every complete ball the sampled count is at most the exact count, as it must be (an independent "
              "check of the counter)." if below else "**Some sampled counts exceed the exact count: the counter or the "
              "sampler is wrong on those balls.**"]
    full = table[table["budget_hits"] == 0]
    if len(full):
        where = ", ".join(f"{r.scale} r = {number(r.radius)}" for r in full.itertuples(index=False))
        lines += ["", f"Every ball was counted completely at: {where}."]
    hit = table[table["budget_hits"] > 0]
    if len(hit):
        where = ", ".join(f"{r.scale} r = {number(r.radius)} ({r.budget_hits} of {r.balls})" for r in hit.itertuples(index=False))
        lines += ["", f"Balls past the budget: {where}."]
    return "\n".join(lines)


def _methods_section(methods: pd.DataFrame | None, timing: pd.DataFrame | None, tightness: pd.DataFrame | None) -> str:
    lines = ["## Tighter bounds: how much of C is Algorithm 1's slack", ""]
    if methods is None:
        return "\n".join(lines + ["The methods study was not run (`methods.enabled=false`)."])
    lines += [
        "On the same balls: C of Algorithm 1 (the paper's), interval bound propagation (IBP), CROWN (backward linear "
        "relaxation) and LP (per-neuron convex programs over the triangle relaxation; on fewer balls), all sound; and "
        "the local complexity of Humayun, Balestriero & Baraniuk (2024), the neurons seen to change sign among the "
        "vertices of a random cross-polytope in the ball, a **lower estimate** of the neurons that do. *Removed*: the "
        "share of Algorithm 1's C that the method proves stable, on the same balls. Times are per 1,000 balls on this "
        "machine, one thread (from `methods_timing.csv`, which differs run to run).",
        "",
    ]
    alg1 = methods[methods["method"] == "alg1"]
    keys = ["scale", "depth", "lr", "seed", "epoch", "dataset", "point", "radius"]
    rows = []
    order = {m: i for i, m in enumerate(["alg1", "ibp", "crown", "lp", "local_complexity"])}
    grouped = methods.groupby(["scale", "radius", "method"], sort=False)
    for (scale, radius, method), part in sorted(grouped, key=lambda g: (g[0][0], g[0][1], order.get(g[0][2], 9))):
        paired = part.merge(alg1[keys + ["unstable"]], on=keys, suffixes=("", "_alg1"))
        total = paired["unstable_alg1"].sum()
        removed = 1 - paired["unstable"].sum() / total if total > 0 else float("nan")
        seconds = np.nan
        if timing is not None:
            t = timing[(timing["scale"] == scale) & np.isclose(timing["radius"], radius) & (timing["method"] == method)]
            seconds = t["seconds"].sum() / t["balls"].sum() * 1000 if len(t) and t["balls"].sum() else np.nan
        rows.append([scale, number(radius), method, str(len(part)), number(part["unstable"].mean(), 3),
                     _share((part["unstable"] == 0).mean()), _share(removed) if method != "alg1" else "-",
                     number(seconds, 3)])
    lines.append(markdown_table(["scale", "radius", "method", "balls", "mean C", "C = 0 (single region)",
                                 "removed of Algorithm 1's C", "s per 1,000 balls"], rows))
    if tightness is not None:
        done = tightness[tightness["exact_complete"].astype(str).str.lower().isin(["true", "1"])]
        joined = methods.merge(done[keys + ["exact_count"]], on=keys)
        if len(joined):
            joined = joined.assign(log2_exact=np.log2(pd.to_numeric(joined["exact_count"]).astype(float)))
            gaps = joined.groupby(["scale", "radius", "method"])[["unstable", "log2_exact"]].mean().reset_index()
            lines += ["", "On the balls whose exact count finished, mean C beside the mean log2 of the exact count "
                      "(a sound method can come down to it, not below):", ""]
            lines.append(markdown_table(["scale", "radius", "method", "mean C", "mean log2 exact"],
                                        [[r.scale, number(r.radius), r.method, number(r.unstable, 3), number(r.log2_exact, 3)]
                                         for r in gaps.itertuples(index=False)]))
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
        cells = {float(r.radius): f"{number(r.mean_log2_bound, 3)} / {_share(r.single_region_share)}"
                 for r in group.itertuples(index=False)}
        rows.append([str(int(depth)), format_lr(lr), DATASET_LABELS.get(dataset, dataset), number(epoch)]
                    + [cells.get(float(radius), "n/a") for radius in radii])
    lines.append(markdown_table(["depth", "lr", "set", "epoch"] + [f"r = {number(r)}" for r in radii], rows))
    return "\n".join(lines)


def _variants_section(variant_claims: pd.DataFrame | None) -> str:
    if variant_claims is None:
        return ""
    from .claims_markdown import variants_section

    return variants_section(variant_claims)


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
    tightness: pd.DataFrame | None = None,
    radius_sweep: pd.DataFrame | None = None,
    methods: pd.DataFrame | None = None,
    methods_timing: pd.DataFrame | None = None,
    variant_claims: pd.DataFrame | None = None,
) -> str:
    """The Markdown of ``results/<name>/report.md``, from the pipeline's tables.

    Optional tables are None when their study was not run (the report says so); the claims are
    decided on ``summary`` (per seed) over the runs that trained.
    """
    from .claims_markdown import claims_section

    if not name:
        raise ValueError("name must not be empty")
    left_out = [f"{row.model}_lr{format_lr(row.lr)}_seed{int(row.seed)} ({row.status})"
                for row in runs.itertuples(index=False) if row.status != "ok"]
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
    parts += ["", claims_section(usable, radius=radius, norm=norm, runs_left_out=left_out or None), "",
              _tightness_section(tightness), "", _methods_section(methods, methods_timing, tightness), "",
              _radius_sweep_section(radius_sweep, radius)]
    variants = _variants_section(variant_claims)
    if variants:
        parts += ["", variants]
    return "\n".join(parts).rstrip("\n") + "\n"


def _caption(stem: str) -> str:
    if stem.startswith("figure3_depth"):
        return FIGURE_CAPTIONS["figure3_depth"].format(depth=stem.removeprefix("figure3_depth"))
    return FIGURE_CAPTIONS.get(stem, stem)


def settings_text(settings) -> str:
    """The settings a job received, as YAML (dataclasses as mappings; per-model settings under ``model``)."""
    import dataclasses

    import yaml

    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        return value

    values = vars(settings)
    ordered = {("models" if key == "model" else key): plain(values[key]) for key in SETTINGS_ORDER if key in values}
    return yaml.safe_dump(ordered, sort_keys=False, default_flow_style=None, width=100)


def write_report(job) -> None:
    """The ``report`` step: read the tables its rule declares, write the report."""
    from ..experiment.storage import read_csv, write_text
    from .comparison import headline_of

    inputs, output = job.input, Path(job.output["report"])
    optional = {name: read_csv(inputs[name]) if name in inputs else None
                for name in ("tightness", "radius_sweep", "methods", "variant_claims")}
    figures = {}
    for stem in job.run["figures"]:
        png = next(path for path in inputs["figures"] if Path(path).name == f"{stem}.png")
        figures[_caption(stem)] = os.path.relpath(png, output.parent)
    text = build_report(
        name=job.experiment,
        settings_yaml=settings_text(job.settings),
        summary=read_csv(inputs["summary"]),
        runs=read_csv(inputs["runs"]),
        radius=job.settings.bounds.radius,
        norm=job.settings.bounds.norm,
        figure_paths=figures,
        comparison_headline=headline_of(inputs["comparison"]),
        methods_timing=read_csv(inputs["methods_timing"]) if "methods_timing" in inputs else None,
        **optional,
    )
    write_text(text, output)
