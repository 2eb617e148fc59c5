"""The paper's six observations, each stated once: its words, its parts and how a seed's curves measure it.

Zhu, Lin & Tang (2020) train the same small ReLU network ten times ("We performed each experiment
ten times to reduce the random effect", Section 5.2) and read six observations off Figure 3 and
its text. :data:`CLAIMS` holds one :class:`Claim` per observation: its number, its wording, the
paper's quote, the column of ``summary.csv`` it is read from, the unit, the rule in plain words,
its parts (the clauses a reader can hold alone: "falls", "rises") and the function that turns
each seed's curves into the effects to test, one :class:`Effect` per (part, set or comparison).
How the effects become a verdict is :mod:`localregions.reporting.claims`.

A claim that asks about a shape (1-3: "first decrease, then increase") is measured under both
pre-specified shape tests of :mod:`localregions.reporting.contrasts`; the others ignore the shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..vocabulary import DATASET_LABELS, DATASET_NAMES, RANDOM_SETS
from .contrasts import backtrack, ends_minus_middle, line_rise, parabola_ends_minus_middle, roughness

__all__ = ["Part", "Effect", "Claim", "CLAIMS", "claim", "SHAPE_TESTS", "PRIMARY_SHAPE", "SECOND_SHAPE"]

#: The two shape tests, by the name the tables use: each maps a seed's curves to (first - middle, last - middle).
SHAPE_TESTS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "ends vs middle": ends_minus_middle,
    "parabola": parabola_ends_minus_middle,
}
#: The verdict of a shape claim is the primary test's; the second one is reported beside it.
PRIMARY_SHAPE, SECOND_SHAPE = tuple(SHAPE_TESTS)


@dataclass(frozen=True)
class Part:
    """One clause of a claim, a reader can hold alone: its name, and the direction that contradicts it."""

    name: str
    opposite: str


@dataclass(frozen=True)
class Effect:
    """One test: a part of a claim, what it is about ("training", "training − random 1") and one number per seed.

    ``per_seed`` has the seeds on its last axis (other axes, if any, are resamples of the points).
    """

    part: int
    subject: str
    per_seed: np.ndarray


@dataclass(frozen=True)
class Claim:
    """One observation of the paper and how it is measured.

    Attributes
    ----------
    number : int
        The observation's number in the report (1-6).
    statement : str
        The observation in one sentence.
    quote : str
        The paper's words.
    source : str
        Where in the paper the quote stands.
    column : str
        The column of ``summary.csv`` the rule reads.
    unit : str
        The unit of the effects.
    rule : str
        The measurement in plain words, as the report prints it.
    parts : tuple of Part
        The clauses, each one a reader can hold alone; the claim holds when every part is supported.
    subject : str
        The header of the detail table's column naming what a test is about.
    measure : callable
        ``measure(curves, epochs, shape) -> list of Effect`` where ``curves`` maps each set of
        :data:`~localregions.vocabulary.DATASET_NAMES` to its (..., n_seeds, n_epochs) array of
        ``column`` and ``shape`` is one of :data:`SHAPE_TESTS` (ignored unless ``shaped``).
    shaped : bool
        Whether the claim asks about a shape, and so is decided under both shape tests.
    """

    number: int
    statement: str
    quote: str
    source: str
    column: str
    unit: str
    rule: str
    parts: tuple[Part, ...]
    subject: str
    measure: Callable[[Mapping[str, np.ndarray], np.ndarray, Callable], list[Effect]]
    shaped: bool = False


def _label(dataset: str) -> str:
    return DATASET_LABELS[dataset]


def _measure_fall_then_rise(curves, epochs, shape):
    effects = []
    for dataset in DATASET_NAMES:
        fall, rise = shape(curves[dataset])
        effects += [Effect(0, _label(dataset), fall), Effect(1, _label(dataset), rise)]
    return effects


def _measure_rise_then_fall(curves, epochs, shape):
    effects = []
    for dataset in DATASET_NAMES:
        first_minus_middle, last_minus_middle = shape(curves[dataset])
        effects += [Effect(0, _label(dataset), -first_minus_middle), Effect(1, _label(dataset), -last_minus_middle)]
    return effects


def _measure_clearer_and_less_stable_on_data(curves, epochs, shape):
    def turn(curve):
        fall, rise = shape(curve)
        return (fall + rise) / 2.0

    effects = []
    for part, dataset in enumerate(("train", "test")):
        for random_set in RANDOM_SETS:
            difference = turn(curves[dataset]) - turn(curves[random_set])
            effects.append(Effect(part, f"{_label(dataset)} − {_label(random_set)}", difference))
    for dataset in ("train", "test"):
        for random_set in RANDOM_SETS:
            difference = roughness(curves[dataset]) - roughness(curves[random_set])
            effects.append(Effect(2, f"{_label(dataset)} − {_label(random_set)}", difference))
    return effects


def _measure_single_region_growth(curves, epochs, shape):
    return [
        Effect(0, _label("train"), line_rise(curves["train"], epochs)),
        Effect(0, _label("test"), line_rise(curves["test"], epochs)),
        Effect(1, f"{_label('train')} − {_label('test')}", backtrack(curves["train"]) - backtrack(curves["test"])),
    ]


def _measure_train_above_random(curves, epochs, shape):
    return [
        Effect(part, f"{_label('train')} − {_label(random_set)}", (curves["train"] - curves[random_set]).mean(axis=-1))
        for part, random_set in enumerate(RANDOM_SETS)
    ]


def _measure_moves_away(curves, epochs, shape):
    train = curves["train"]
    return [Effect(0, _label("train"), train[..., -1] - train[..., 0])]


_SHAPES = ("*Fall* and *rise* are read off each seed's curve by each of two shape tests fixed before looking: "
           "*ends vs middle* (the verdict): first epoch minus the average of the epochs between the first and the "
           "last, and last epoch minus that average; *parabola* (reported beside it): the same two differences on the "
           "seed's least-squares parabola over the trajectory, against its value at the window's centre.")

CLAIMS: tuple[Claim, ...] = (
    Claim(
        number=1,
        statement="The regions around all four kinds of points decrease in the first epochs, then increase.",
        quote="the linear regions in the areas around all four different kinds of data points tend to decrease "
        "in the first several epochs, and then increases",
        source="Section 5.2",
        column="log2_mean_bound",
        unit="bits",
        rule=f"On each seed's curve of log2 of the mean bound. {_SHAPES} One one-sided t test over seeds per "
        "(set, part): 8 tests. *Falls* is supported when the fall is on all four sets, *rises* when the rise is.",
        parts=(Part("falls", "rises"), Part("rises", "falls")),
        subject="set",
        measure=_measure_fall_then_rise,
        shaped=True,
    ),
    Claim(
        number=2,
        statement="The mean distance of the points to their nearest boundary first increases, then decreases.",
        quote="the average distance of the data points to their nearest boundaries follow the same trend (first "
        "increase and then decrease)",
        source="Section 5.2",
        column="mean_boundary_distance",
        unit="input distance",
        rule="The mirror image of (1) on each seed's curve of the mean boundary distance, under the same two shape "
        "tests: *rise* = the middle minus the first epoch, *fall* = the middle minus the last epoch. Eight one-sided "
        "t tests; each part must be supported on all four sets.",
        parts=(Part("rises", "falls"), Part("falls", "rises")),
        subject="set",
        measure=_measure_rise_then_fall,
        shaped=True,
    ),
    Claim(
        number=3,
        statement="The fall-then-rise of (1) is larger on training and testing points than on the random points, "
        "and on them less stable.",
        quote="this trend is more clear on training and testing data (than the random data), while between them "
        "this change through training is less stable",
        source="Section 5.2",
        column="log2_mean_bound",
        unit="bits",
        rule="Size of the fall-then-rise on one seed's curve = (fall + rise) / 2 of (1) under each shape test: how "
        "far the two ends lie above the middle on average (a straight line scores 0; under *parabola* it is the "
        "quadratic contrast). *Instability* of a seed's curve: the standard deviation of its values around its own "
        "least-squares parabola (what the trend does not explain). Paired per-seed differences training − random 1, "
        "training − random 2, testing − random 1, testing − random 2 of the size, and the same four of the "
        "instability: 12 one-sided t tests. *Clearer on training* is supported when both training differences of "
        "the size are, *clearer on testing* when both testing ones are, *less stable on training and testing* when "
        "all four differences of the instability are. The last clause, \"between them\", is read as *on the "
        "training and testing points* (the sentence's subject, set against the random points): clearer there, and "
        "less stable there. Read as training against testing it would not say which of the two is less stable, and "
        "a claim without a direction cannot be supported one-sided.",
        parts=(
            Part("clearer on training", "clearer on random"),
            Part("clearer on testing", "clearer on random"),
            Part("less stable on training and testing", "more stable on training or testing"),
        ),
        subject="comparison",
        measure=_measure_clearer_and_less_stable_on_data,
        shaped=True,
    ),
    Claim(
        number=4,
        statement="The number of training and testing points with a single region grows, more steadily on testing.",
        quote="the number of samples in the training dataset that contain a unique linear region in their "
        "neighborhood almost always grows with the increasing number of epochs until convergence (or sometimes "
        "slightly decreases before the convergence). The same phenomenon is also observed for the testing data "
        "samples, while the trends is more stable comparing to the training data.",
        source="Introduction, contributions",
        column="single_region_points",
        unit="points",
        rule="*Growth* of a seed's curve of points with C = 0: how much its least-squares straight line rises from "
        "the first epoch to the last (a dip on the way is allowed). *Backtrack*: the sum of all drops between "
        "consecutive epochs, the steadier the smaller. Tests: growth of training, growth of testing, and the paired "
        "difference backtrack(training) − backtrack(testing), each one-sided t. *Grows* is supported when both "
        "growths are, *steadier on testing* when the backtrack difference is. Random sets are not part of this "
        "claim.",
        parts=(
            Part("grows on training and testing", "shrinks on training or testing"),
            Part("steadier on testing", "steadier on training"),
        ),
        subject="set",
        measure=_measure_single_region_growth,
    ),
    Claim(
        number=5,
        statement="Balls around training points hold more regions than balls around random points.",
        quote="the spheres centered at the training data points tend to contain more linear regions than any "
        "arbitrary points in the input space",
        source="Abstract",
        column="log2_mean_bound",
        unit="bits",
        rule="Per seed, the gap training − random set in log2 of the mean bound, averaged over the epochs. "
        "One-sided t for each random set. Each part is one random set.",
        parts=(Part("above random 1", "below random 1"), Part("above random 2", "below random 2")),
        subject="comparison",
        measure=_measure_train_above_random,
    ),
    Claim(
        number=6,
        statement="During training the boundaries move away from the training points.",
        quote="while training a neural network, the boundaries of the linear regions tend to move away from the "
        "training data points",
        source="Abstract",
        column="mean_boundary_distance",
        unit="input distance",
        rule="Per seed, the mean boundary distance of the training points at the last epoch minus at the first. "
        "One one-sided t test.",
        parts=(Part("moves away", "moves closer"),),
        subject="set",
        measure=_measure_moves_away,
    ),
)


def claim(number: int) -> Claim:
    """The claim with this number.

    >>> claim(6).parts[0].name
    'moves away'
    """
    for record in CLAIMS:
        if record.number == number:
            return record
    raise ValueError(f"number must be one of {[c.number for c in CLAIMS]}, got {number!r}")
