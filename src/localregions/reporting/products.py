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

__all__ = ["ResultTable", "FigureSpec", "RESULT_TABLES", "FIGURES", "STUDIES", "MOTIVATION_STUDIES", "result_table",
           "figure_spec", "caption_file"]

#: The optional studies an experiment may run beside the paper's (``Experiment.studies``).
STUDIES = ("radius_sweep", "tightness", "methods", "variants", "slices")
#: The studies of the paper's motivation (issue 24). An experiment that runs one makes only its studies' tables and
#: figures: the paper's (``study=None``) are made by the experiments that train and bound the paper's grid.
MOTIVATION_STUDIES = ("search", "adversarial", "backdoor")


@dataclass(frozen=True)
class ResultTable:
    """One CSV of ``<results>/<name>/``: made by every experiment (``study=None``) or by one study.

    ``keys`` are the columns that say what a row is, and ``spread`` how the comparison with the
    reference finds the seed-to-seed standard error of its numbers (:mod:`.comparison`): ``seeds``
    (one row per seed, ``seed`` among the keys), ``summaries`` (``<x>_std`` and ``n_seeds``
    columns), ``intervals`` (claim parts with t intervals, one claim per row), ``parts`` (one part per
    row, with ``sd`` and ``n`` over seeds) or None (numbers must agree to rounding).
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

    ``draw`` names the function of ``localregions.reporting.<module>`` (:mod:`.figures`, or
    :mod:`.motivation_figures` for the motivation's studies) that draws it, called as
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
    module: str = "figures"

    @property
    def caption(self) -> str:
        """Its caption in Snakemake's HTML report, relative to ``rules/``."""
        return f"report/{self.stem.replace('{depth}', '')}.rst"


_SEED_ROW = ("depth", "lr", "seed", "epoch", "dataset")
_BALL = ("scale", "depth", "lr", "seed", "epoch", "dataset", "point", "radius", "norm")
_EFFECT = ("depth", "lr", "seed", "part", "measure")
_HYPOTHESIS_PART = ("hypothesis", "depth", "lr", "part")

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
    # The paper's motivation (issue 24; docs/motivation_hypotheses.md): per study, what was measured per seed, the
    # per-seed effects, and the hypothesis decided over seeds (one row per part).
    ResultTable("search_maxima", study="search", keys=("depth", "lr", "seed", "method", "measure"), spread="seeds"),
    ResultTable("search_curves", study="search", keys=("depth", "lr", "seed", "method", "evaluation"), spread="seeds"),
    ResultTable("search_kinds", study="search", keys=("depth", "lr", "seed", "kind"), spread="seeds"),
    ResultTable("search_effects", study="search", keys=_EFFECT, spread="seeds"),
    ResultTable("search_claims", study="search", keys=_HYPOTHESIS_PART, spread="parts"),
    ResultTable("adversarial_attacks", study="adversarial", keys=("depth", "lr", "seed", "attack"), spread="seeds"),
    ResultTable("adversarial_kinds", study="adversarial", keys=("depth", "lr", "seed", "kind"), spread="seeds"),
    ResultTable("adversarial_effects", study="adversarial", keys=_EFFECT, spread="seeds"),
    ResultTable("adversarial_claims", study="adversarial", keys=_HYPOTHESIS_PART, spread="parts"),
    ResultTable("backdoor_runs", study="backdoor", keys=("depth", "lr", "seed"), spread="seeds"),
    ResultTable("backdoor_kinds", study="backdoor", keys=("depth", "lr", "seed", "network", "kind"), spread="seeds"),
    ResultTable("backdoor_effects", study="backdoor", keys=_EFFECT, spread="seeds"),
    ResultTable("backdoor_aucs", study="backdoor", keys=("depth", "lr", "seed", "score", "direction"), spread="seeds"),
    # A ROC curve has as many rows as its scores have distinct values: rows are held by position.
    ResultTable("backdoor_roc", study="backdoor", keys=("depth", "lr", "seed", "score"), spread="seeds"),
    ResultTable("backdoor_claims", study="backdoor", keys=_HYPOTHESIS_PART, spread="parts"),
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
    FigureSpec("search_curve", "H3: the best value found against the evaluations spent, per search method",
               "draw_search_curve", ("search_curves", "search_maxima"), study="search", module="motivation_figures"),
    FigureSpec("search_distances", "H3: how far the maxima the search found lie from the data and the decision "
               "boundary", "draw_search_distances", ("search_kinds",), study="search", module="motivation_figures"),
    FigureSpec("search_kinds", "H3: the local measures per kind of point (data, random, search maxima)",
               "draw_search_kinds", ("search_kinds",), study="search", module="motivation_figures"),
    FigureSpec("search_effects", "H3: the per-seed effect of the decision, with its interval over seeds",
               "draw_search_effects", ("search_effects", "search_claims"), study="search",
               module="motivation_figures"),
    FigureSpec("adversarial_kinds", "H1: the local measures per kind of point (clean, adversarial per budget, "
               "random, search maxima)", "draw_adversarial_kinds", ("adversarial_kinds",), study="adversarial",
               module="motivation_figures"),
    FigureSpec("adversarial_effects", "H1: the per-seed effects per attack, with their intervals over seeds",
               "draw_adversarial_effects", ("adversarial_effects", "adversarial_claims"), study="adversarial",
               module="motivation_figures"),
    FigureSpec("backdoor_kinds", "H2: the local measures around triggered and clean inputs, poisoned and clean "
               "networks", "draw_backdoor_kinds", ("backdoor_kinds",), study="backdoor", module="motivation_figures"),
    FigureSpec("backdoor_roc", "H2: each measure as a detector of triggered inputs (ROC over seeds, AUC intervals)",
               "draw_backdoor_roc", ("backdoor_roc", "backdoor_aucs"), study="backdoor", module="motivation_figures"),
    FigureSpec("backdoor_effects", "H2: the per-seed effects, with their intervals over seeds",
               "draw_backdoor_effects", ("backdoor_effects", "backdoor_claims"), study="backdoor",
               module="motivation_figures"),
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
