"""What an experiment makes besides its runs: the result tables and the figures, one registry each.

Everything that lists tables or figures reads these registries: the rules (which files the
analysis writes, the ``figures`` rule's outputs, their captions in Snakemake's HTML report),
the comparison with the reference, the Markdown report's list of figures and the reference's
refresh. To add a figure, add one :class:`FigureSpec` here, the adapter its ``draw`` names in
:mod:`.figures` (it calls the figure's function, kept in a figure module such as
:mod:`.study_figures`), and its caption ``rules/report/<caption>.rst``; the rules, the report and
the comparison then pick it up.

This module imports nothing heavy: the Snakefile reads it at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ResultTable", "FigureSpec", "RESULT_TABLES", "FIGURES", "STUDIES", "result_table", "figure_spec",
           "caption_file"]

#: The optional studies an experiment may run beside the paper's (``Experiment.studies``).
STUDIES = ("radius_sweep", "tightness", "methods", "variants", "slices")


@dataclass(frozen=True)
class ResultTable:
    """One CSV of ``<results>/<name>/``: made by every experiment (``study=None``) or by one study.

    ``keys`` are the columns that say what a row is, and ``spread`` how the comparison with the
    reference finds the seed-to-seed standard error of its numbers (:mod:`.comparison`): ``seeds``
    (one row per seed, ``seed`` among the keys), ``summaries`` (``<x>_std`` and ``n_seeds``
    columns), ``intervals`` (claim parts with t intervals) or None (numbers must agree to rounding).
    """

    name: str
    study: str | None = None
    keys: tuple[str, ...] = ()
    spread: str | None = None

    @property
    def caption(self) -> str:
        """Its caption in Snakemake's HTML report, relative to ``rules/``."""
        return f"report/table_{self.name}.rst"


@dataclass(frozen=True)
class FigureSpec:
    """One figure (or, with ``{depth}`` in its stem, one per hidden depth of the grid).

    ``draw`` names the adapter of :mod:`localregions.reporting.figures` that draws it, called as
    ``draw(tables, radius=, norm=, depth=)`` with the result tables by name (those of ``tables``
    that the experiment makes), the experiment's radius and norm and, for a per-depth figure, its
    depth; ``title`` is the line the Markdown report lists it by.  ``rule`` is the rule that draws
    it: ``figures`` (from the tables, with ``draw``), or a rule of its own that draws it from
    other inputs (``slices``: from the checkpoints; ``draw`` and ``tables`` are then unused).
    """

    stem: str
    title: str
    draw: str | None
    tables: tuple[str, ...]
    study: str | None = None
    rule: str = "figures"

    @property
    def caption(self) -> str:
        """Its caption in Snakemake's HTML report, relative to ``rules/``."""
        return f"report/{self.stem.replace('{depth}', '')}.rst"


_SEED_ROW = ("depth", "lr", "seed", "epoch", "dataset")
_BALL = ("scale", "depth", "lr", "seed", "epoch", "dataset", "point", "radius", "norm")

RESULT_TABLES = (
    ResultTable("summary", keys=_SEED_ROW + ("radius", "norm"), spread="seeds"),
    ResultTable("summary_by_setting", keys=("depth", "lr", "epoch", "dataset", "radius", "norm"), spread="summaries"),
    ResultTable("runs", keys=("model", "depth", "lr", "seed"), spread="seeds"),
    ResultTable("claims", keys=("trajectory", "depth", "lr", "claim"), spread="intervals"),
    ResultTable("radius_sweep", study="radius_sweep", keys=_SEED_ROW + ("radius", "norm"), spread="seeds"),
    ResultTable("tightness", study="tightness", keys=_BALL, spread="seeds"),
    ResultTable("methods", study="methods", keys=_BALL + ("method",), spread="seeds"),
    ResultTable("variant_claims", study="variants", keys=("variant", "trajectory", "depth", "lr", "claim"),
                spread="intervals"),
    # One seed: no seed-to-seed spread to measure a difference by, so the numbers must agree to rounding.
    ResultTable("slices", study="slices", keys=("depth", "lr", "seed", "epoch", "dataset", "point", "plane", "radius")),
)

FIGURES = (
    FigureSpec("figure3_depth{depth}", "Figure 3 of the paper, {depth} hidden layers: the mean bound 2^C and the "
               "points with a single region, over training", "draw_figure3", ("summary_by_setting",)),
    FigureSpec("boundary_distance", "Distance from the points to the boundary of their own region, over training",
               "draw_boundary_distance", ("summary_by_setting",)),
    FigureSpec("radius_sweep", "The bound against the ball radius, before and after training", "draw_radius_sweep",
               ("radius_sweep",), study="radius_sweep"),
    FigureSpec("tightness", "Exact region counts against the bound 2^C", "draw_tightness", ("tightness",),
               study="tightness"),
    FigureSpec("methods", "C of Algorithm 1, IBP, CROWN, LP and the sampled local complexity against the exact count",
               "draw_methods", ("methods", "tightness"), study="methods"),
    FigureSpec("variant_claims", "The paper's observations under each unspecified choice", "draw_variant_claims",
               ("variant_claims",), study="variants"),
    FigureSpec("slices_depth{depth}", "Exact 2-D slices of the linear regions through a training, a testing and a random "
               "point, {depth} hidden layers, before and after training", None, (), study="slices", rule="slices"),
)


def result_table(name: str) -> ResultTable:
    """The registered table called ``name``."""
    for table in RESULT_TABLES:
        if table.name == name:
            return table
    raise KeyError(f"no result table is named {name!r}; the tables are {[t.name for t in RESULT_TABLES]}")


def figure_spec(stem: str) -> tuple[FigureSpec, int | None]:
    """The registered figure a stem names, and its depth for a per-depth figure (``figure3_depth2`` -> 2)."""
    for figure in FIGURES:
        prefix, braces, suffix = figure.stem.partition("{depth}")
        if not braces and stem == figure.stem:
            return figure, None
        if braces and stem.startswith(prefix) and stem.endswith(suffix) and stem[len(prefix):len(stem) - len(suffix)].isdigit():
            return figure, int(stem[len(prefix):len(stem) - len(suffix)])
    raise KeyError(f"no figure is named {stem!r}; the figures are {[f.stem for f in FIGURES]}")


def caption_file(stem: str) -> str:
    """The caption file of the figure a stem names."""
    return figure_spec(stem)[0].caption
