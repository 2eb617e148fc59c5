"""The settings of the studies of the paper's motivation (issue 24): ``motivation``, ``search``, ``adversarial``, ``backdoor``.

The three hypotheses these studies decide, and every number below that decides them, were fixed
before the run in ``docs/motivation_hypotheses.md``; the defaults here are those numbers. An
experiment that enables one of ``search``, ``adversarial`` or ``backdoor`` measures the trained
networks of ``motivation.networks`` (or, with ``null``, its own grid) and makes only its studies'
tables and figures, not the paper's (``Experiment.result_tables``).

Like :mod:`.settings`, which holds these sections in :class:`~.settings.Config`, this module
imports nothing heavy: the Snakefile reads it at parse time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from .setting_checks import require

__all__ = ["MotivationConfig", "SearchConfig", "AdversarialConfig", "BackdoorConfig", "MOTIVATION_SECTIONS",
           "SEARCH_MEASURES", "SEARCH_METHODS"]

#: The settings sections of the three studies, by study name (each has ``enabled``).
MOTIVATION_SECTIONS = ("search", "adversarial", "backdoor")
# The library's names (localregions.search.MEASURES, SEARCH_METHODS), repeated here so that planning imports no torch;
# tests/test_motivation_pipeline.py holds the two lists equal.
SEARCH_MEASURES = ("alg1", "ibp", "crown", "local_complexity", "exact")
SEARCH_METHODS = ("annealing", "hill_climb", "random")


def _positive(value, key: str) -> None:
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0, key,
           "must be a finite number > 0", value)


def _positive_list(values, key: str) -> None:
    require(len(values) >= 1, key, "must hold at least one number", list(values))
    for value in values:
        _positive(value, key)
    require(len({float(v) for v in values}) == len(values), key, "must not repeat an entry", list(values))


def _optional_count(value, key: str) -> None:
    if value is not None:
        require(value >= 1, key, "must be >= 1 or null", value)


@dataclass
class MotivationConfig:
    """What the studies of the paper's motivation share.

    ``networks`` names the experiment (``configs/experiment/<networks>.yaml``) whose trained networks
    the studies measure: its training jobs' manifests are the studies' inputs, so its networks are
    trained once (by its own ``train`` rule, in its own folder) and never retrained here. Its data,
    model, optimiser, training and grid settings must then equal this experiment's (the planner
    refuses a difference, naming the key). ``null``: this experiment trains its own grid.
    The networks are measured at their last checkpoint; balls are of ``bounds.radius`` in ``bounds.norm``.
    """

    networks: Optional[str] = None
    # Directions of the local complexity's cross-polytope (2 vertices each); null: as many as the input has dimensions.
    complexity_directions: Optional[int] = None

    def __post_init__(self) -> None:
        if self.networks is not None:
            require(isinstance(self.networks, str) and self.networks.strip() != "", "motivation.networks",
                   "must name an experiment config or be null", self.networks)
        _optional_count(self.complexity_directions, "motivation.complexity_directions")


@dataclass
class SearchConfig:
    """H3: the search for the balls with the most regions, in the box of the training points (``localregions.search``).

    ``chains`` walkers start at as many training points drawn with the run's seed; every method
    (the first one decides, the others are the baselines) spends ``budget`` evaluations of
    ``measure``; steps are Gaussian with a standard deviation of ``step`` times each pixel's range
    (fixed, as pre-registered; ``adapt_step=true`` tunes each walker's step toward an acceptance
    rate of 0.234); the temperature falls geometrically from ``temperature[0]`` to
    ``temperature[1]`` (in the measure's units, bits).
    """

    enabled: bool = False
    measure: str = "alg1"
    methods: list[str] = field(default_factory=lambda: list(SEARCH_METHODS))
    chains: int = 20
    budget: int = 2000
    step: float = 0.05
    temperature: list[float] = field(default_factory=lambda: [2.0, 0.1])
    adapt_step: bool = False

    def __post_init__(self) -> None:
        require(self.measure in SEARCH_MEASURES, "search.measure", f"must be one of {list(SEARCH_MEASURES)}", self.measure)
        require(len(self.methods) >= 1 and all(m in SEARCH_METHODS for m in self.methods), "search.methods",
               f"must list methods among {list(SEARCH_METHODS)}", list(self.methods))
        require(len(set(self.methods)) == len(self.methods), "search.methods", "must not repeat a method",
               list(self.methods))
        require(self.chains >= 1, "search.chains", "must be >= 1", self.chains)
        require(self.budget >= self.chains, "search.budget", f"must be >= search.chains ({self.chains})", self.budget)
        _positive(self.step, "search.step")
        require(len(self.temperature) == 2, "search.temperature", "must be [start, end]", list(self.temperature))
        for value in self.temperature:
            _positive(value, "search.temperature")


@dataclass
class AdversarialConfig:
    """H1: PGD examples (the Adversarial Robustness Toolbox) from the correctly classified test points.

    One attack per norm and budget (in input units: grey levels on the raw scale). An example is
    kept only where it flips the float64 prediction within its budget and the input box; a seed
    with fewer than ``min_examples`` kept examples for an attack is left out of that attack's part.
    ``points``: the first that many test points (null: all). ``search_maxima``: measure, beside,
    the balls around the best centres the search (the ``search`` section's settings) finds.
    """

    enabled: bool = False
    l2_budgets: list[float] = field(default_factory=lambda: [50.0, 100.0, 200.0])
    linf_budgets: list[float] = field(default_factory=lambda: [10.0, 20.0, 40.0])
    iterations: int = 40
    step_fraction: float = 2.5
    min_examples: int = 10
    points: Optional[int] = None
    search_maxima: bool = True

    def __post_init__(self) -> None:
        require(len(self.l2_budgets) + len(self.linf_budgets) >= 1, "adversarial.l2_budgets",
               "and adversarial.linf_budgets must hold at least one budget together", list(self.l2_budgets))
        for key in ("l2_budgets", "linf_budgets"):
            if getattr(self, key):
                _positive_list(getattr(self, key), f"adversarial.{key}")
        require(self.iterations >= 1, "adversarial.iterations", "must be >= 1", self.iterations)
        _positive(self.step_fraction, "adversarial.step_fraction")
        require(self.min_examples >= 1, "adversarial.min_examples", "must be >= 1", self.min_examples)
        _optional_count(self.points, "adversarial.points")

    def attacks(self) -> list[tuple[str, float]]:
        """(norm, budget) of every attack, L2 first."""
        return [("l2", float(e)) for e in self.l2_budgets] + [("linf", float(e)) for e in self.linf_budgets]


@dataclass
class BackdoorConfig:
    """H2: BadNets-style poisoning with ART's 4-pixel checkerboard trigger on the pooled grid.

    ``share`` of the training set, drawn from the points not of class ``target`` with the run's
    seed, is replaced by its triggered copy labelled ``target``; the poisoned networks are trained
    with the grid's settings and seeds. A run whose attack success rate on the triggered test
    inputs not of the target class is below ``threshold`` is marked ``backdoor failed`` and left
    out. The trigger's pixels take the top of the input scale (255 raw, 1 on the 0-1 scale),
    ``distance`` pixels from the bottom-right corner. ``points``: the first that many test inputs
    measured (null: all).
    """

    enabled: bool = False
    share: float = 0.1
    target: int = 1
    threshold: float = 0.9
    distance: int = 1
    points: Optional[int] = None
    # The false-positive rates at which each seed's ROC curve is kept (the curves' table and figure).
    roc_points: int = 51

    def __post_init__(self) -> None:
        require(0 < self.share < 1, "backdoor.share", "must lie strictly between 0 and 1", self.share)
        require(self.target in (0, 1), "backdoor.target", "must be a class of the two-digit task (0 or 1)", self.target)
        require(0 <= self.threshold <= 1, "backdoor.threshold", "must lie between 0 and 1", self.threshold)
        require(self.distance >= 1, "backdoor.distance", "must be >= 1", self.distance)
        _optional_count(self.points, "backdoor.points")
        require(self.roc_points >= 2, "backdoor.roc_points", "must be >= 2", self.roc_points)
