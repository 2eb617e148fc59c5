"""The paper's six observations, decided on the seeds.

Zhu, Lin & Tang (2020) train the same small ReLU network ten times ("We performed each experiment
ten times to reduce the random effect", Section 5.2) and read six observations off Figure 3 and
its text. :data:`CLAIMS` states each observation once: its number, its wording, the paper's quote,
the column of ``summary.csv`` it is read from, the unit, the rule in plain words and the function
that measures it. :func:`check_claims` applies every rule to every (depth, learning rate) of a
per-seed summary table and returns one verdict row per (depth, lr, claim); :func:`claim_tests`
returns the numbers behind each verdict, one row per test. Tables in, tables out: no file paths.

How a verdict is reached
------------------------
**The seed is the unit.** A seed is one independent repetition of the whole experiment (new
initial weights, new batch order), so an observation is measured *once per seed*, on that seed's
own curve (say the fall of its training curve), and the verdict asks whether those ten numbers
are convincingly on the claimed side of zero. The 1000 points of a set are not independent
repetitions of training, and a mean over seeds hides how much the seeds disagree: the seed-to-seed
spread of a curve is 0.08-0.19 bits in the default run, larger than most of the changes the paper
describes.

**Where the curve turns is not looked up.** The natural reading of "first decrease, then
increase" -- fall = start minus the minimum, rise = end minus the minimum -- measures both
against the lowest point of the same noisy curve, and the lowest of ten noisy points lies below
the truth: a flat curve seems to fall *and* rise. Taking the turn from the other seeds' mean
curve (leave one seed out) removes the bias of each seed's number but not the dependence between
them: in a simulation of flat curves (10 seeds, 10 epochs, 20,000 repetitions) the one-sided t
test on leave-one-out falls passed 6.3% of the time at a nominal 2.5% (taking the minimum of the
pooled mean: 12%). So the rules compare fixed parts of the curve instead, chosen before looking:
**the two ends against the middle.** On each seed's curve, *fall* = value at the first epoch minus
the average over the epochs strictly between the first and the last, *rise* = value at the last
epoch minus that average. A curve that "decreases in the first several epochs, and then
increases" has both ends above its middle; a curve that only falls has its last value below the
middle (falls, does not rise); a flat curve has neither, whatever its noise, because these are
fixed weighted sums of a seed's values: when the curve has no such shape their mean over seeds
is exactly zero, whatever the noise of one epoch or its correlation with the next. The price is
power where the turn is very early: a curve that falls only from the first plotted epoch to the
second and then rises has a small fall by this rule (its middle includes the rise), and a curve
that falls, rises and falls back (a wave) has neither. Such shapes are "does not hold" here; the
detail tables show the per-set effects for a reader who wants to look closer.

**One t test per seed effect.** Each effect (one set, one part of a claim) is tested one-sided
in the claimed direction with Student's t over the seeds, and reported with its two-sided 95%
t interval. The t test, not a bootstrap: with ten seeds a percentile bootstrap interval of a mean
is too narrow (it ignores that the spread is itself estimated from ten numbers, roughly the
difference between 1.96 and 2.26 standard errors) and its p-values come in steps of 1/B and
depend on a random draw; each seed's effect is an average over 1000 points and several epochs,
close to normal, where t is exact, and it gives the same numbers on every run.

**Many tests, one error.** A claim is several tests (four sets times two parts for (1) and (2)).
At 2.5% each, one of eight tests on pure noise passes somewhere about 18% of the time. Holm's
step-down correction is applied over all the tests of one claim in one (depth, lr): the chance
that *any* of them passes on pure noise is at most :data:`LEVEL` = 2.5%. A test passes when its
Holm-adjusted one-sided p-value is at most 2.5%; its raw p-value is then at most 2.5% too, which
is the same as its 95% interval not reaching below zero, so every passing test has an interval
that clears zero on the claimed side. (Holm is not applied across claims or settings: each of the
24 verdict cells is its own question, each with a false-positive rate of at most 2.5%.)

**Parts and verdicts.** Each claim has one or two parts ("falls" / "rises"). A part holds when
every test in it passes (all four sets for (1) and (2), both random sets for (3), ...). The claim
**holds** when every part holds, is **partly** true when one part holds and the other does not
(the row names which), and **does not hold** when no part holds.

**Which epochs.** Figure 3 plots "a trajectory of ten points" -- epochs 2, 4, ..., 20 -- and the
pipeline also bounds epoch 0, the untrained network. Most of the change in the default run is the
step from epoch 0 to epoch 2, which the paper never plots, so by default every bound epoch except
0 is used (``epochs=None``); pass ``epochs`` to choose others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from localregions.vocabulary import DATASET_LABELS, DATASET_NAMES, RANDOM_SETS, SUMMARY_KEYS

__all__ = [
    "HOLDS",
    "PARTLY",
    "FAILS",
    "VERDICTS",
    "LEVEL",
    "CONFIDENCE",
    "MIN_EPOCHS",
    "MIN_SEEDS",
    "Part",
    "Effect",
    "Claim",
    "CLAIMS",
    "claim",
    "paper_epochs",
    "t_test",
    "holm",
    "passes",
    "combine_parts",
    "ends_minus_middle",
    "line_rise",
    "backtrack",
    "check_claims",
    "claim_tests",
    "evaluate",
    "validate_summary",
]

HOLDS = "holds"
PARTLY = "partly"
FAILS = "does not hold"
#: The three verdicts, strongest first.
VERDICTS = (HOLDS, PARTLY, FAILS)

#: One-sided level of every test, and the family-wise error of one claim in one setting (Holm).
#: 2.5% one-sided is the claimed side of a two-sided 95% interval.
LEVEL = 0.025
#: The coverage of the reported intervals.
CONFIDENCE = 0.95
#: A claim about a trend needs a first epoch, a last one and at least one between them.
MIN_EPOCHS = 3
#: A spread over seeds needs at least two seeds.
MIN_SEEDS = 2

_METRICS = ("log2_mean_bound", "single_region_points", "mean_boundary_distance")


# ---------------------------------------------------------------------------------------------
# The measurements: fixed weighted sums of one seed's curve, chosen before looking at the data.
# Every array below is (n_seeds, n_epochs), epochs increasing.
# ---------------------------------------------------------------------------------------------


def ends_minus_middle(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: the first value minus the middle, and the last value minus the middle.

    The *middle* is the average over the epochs strictly between the first and the last.

    Parameters
    ----------
    curves : numpy.ndarray of shape (n_seeds, n_epochs)
        One curve per seed, ``n_epochs >= 3``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``first - middle`` and ``last - middle``, one number per seed.

    Examples
    --------
    >>> fall, rise = ends_minus_middle(np.array([[3.0, 1.0, 1.0, 2.0]]))
    >>> float(fall[0]), float(rise[0])
    (2.0, 1.0)
    """
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[1] < MIN_EPOCHS:
        raise ValueError(f"curves must be (n_seeds, n_epochs) with n_epochs >= {MIN_EPOCHS}, got {curves.shape}")
    middle = curves[:, 1:-1].mean(axis=1)
    return curves[:, 0] - middle, curves[:, -1] - middle


def line_rise(curves: np.ndarray, epochs: Sequence[float]) -> np.ndarray:
    """Per seed: how much the least-squares straight line through the curve rises from the first epoch to the last.

    Examples
    --------
    >>> float(line_rise(np.array([[0.0, 1.0, 2.0]]), [2, 4, 6])[0])
    2.0
    """
    curves = np.asarray(curves, dtype=np.float64)
    x = np.asarray(epochs, dtype=np.float64)
    centred = x - x.mean()
    slope = (curves - curves.mean(axis=1, keepdims=True)) @ centred / float(centred @ centred)
    return slope * float(x[-1] - x[0])


def backtrack(curves: np.ndarray) -> np.ndarray:
    """Per seed: the sum of all drops between consecutive epochs (how far a curve goes back on a rise).

    Zero for a curve that never falls; the steadier a rising curve, the smaller.

    Examples
    --------
    >>> float(backtrack(np.array([[1.0, 3.0, 2.0, 5.0, 4.5]]))[0])
    1.5
    """
    steps = np.diff(np.asarray(curves, dtype=np.float64), axis=1)
    return -np.where(steps < 0, steps, 0.0).sum(axis=1)


# ---------------------------------------------------------------------------------------------
# The statistics: one-sided t over seeds, Holm over a claim's tests, parts combined.
# ---------------------------------------------------------------------------------------------


def t_test(values: Sequence[float], confidence: float = CONFIDENCE) -> dict[str, float]:
    """Student's t over seeds for "the mean effect is above zero".

    Parameters
    ----------
    values : sequence of float
        One effect per seed; at least two.
    confidence : float
        Coverage of the two-sided interval.

    Returns
    -------
    dict
        ``n``, ``effect`` (mean), ``sd`` (ddof 1), ``ci_low``, ``ci_high`` (two-sided t interval),
        ``t`` and ``p`` (one-sided, for a positive mean), ``positive_seeds`` (seeds with an effect
        above zero). Without spread the test is decided by the sign of the mean: p = 0 above
        zero, 1 below, 0.5 at zero.

    Examples
    --------
    >>> r = t_test([1.0, 2.0, 3.0])
    >>> r["effect"], round(r["ci_low"], 4), round(r["p"], 4)
    (2.0, -0.4841, 0.0371)
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) < MIN_SEEDS:
        raise ValueError(f"values must hold at least {MIN_SEEDS} numbers, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    n = len(x)
    mean = float(x.mean())
    sd = float(x.std(ddof=1))
    se = sd / np.sqrt(n)
    df = n - 1
    if se > 0:
        t = mean / se
    else:
        t = np.inf if mean > 0 else -np.inf if mean < 0 else 0.0
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * se
    return {
        "n": n,
        "effect": mean,
        "sd": sd,
        "ci_low": float(mean - half),
        "ci_high": float(mean + half),
        "t": float(t),
        "p": float(stats.t.sf(t, df)),
        "positive_seeds": int((x > 0).sum()),
    }


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given).

    The smallest p is multiplied by m, the next by m - 1, ..., each capped at 1 and never below
    the one before it; a test passes at level a when its adjusted p is at most a.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("pvalues must be one-dimensional")
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("pvalues must lie in [0, 1]")
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted


def passes(adjusted_p: float | np.ndarray, level: float = LEVEL):
    """A test passes when its adjusted p-value is at most ``level`` (the boundary passes)."""
    return np.asarray(adjusted_p) <= level


def combine_parts(part_holds: Sequence[bool]) -> str:
    """``holds`` if every part holds, ``does not hold`` if none does, else ``partly``."""
    flags = [bool(x) for x in part_holds]
    if not flags:
        raise ValueError("part_holds must not be empty")
    if all(flags):
        return HOLDS
    if not any(flags):
        return FAILS
    return PARTLY


# ---------------------------------------------------------------------------------------------
# The claims, each stated once.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One clause of a claim: its name when it holds and when it does not."""

    name: str
    negation: str


@dataclass(frozen=True)
class Effect:
    """One test: a part of a claim, what it is about ("training", "training − random 1") and one number per seed."""

    part: int
    subject: str
    per_seed: np.ndarray


@dataclass(frozen=True)
class Claim:
    """One observation of the paper and its decision rule.

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
        The rule in plain words, as the report prints it.
    parts : tuple of Part
        The clauses; each must hold for the claim to hold.
    subject : str
        The header of the detail table's column naming what a test is about.
    measure : callable
        ``measure(curves, epochs) -> list of Effect`` where ``curves`` maps each set of
        :data:`~localregions.vocabulary.DATASET_NAMES` to its (n_seeds, n_epochs) array of
        ``column``. Every detail row is one of these effects.
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
    measure: Callable[[Mapping[str, np.ndarray], np.ndarray], list[Effect]]


def _label(dataset: str) -> str:
    return DATASET_LABELS[dataset]


def _measure_fall_then_rise(curves, epochs):
    effects = []
    for dataset in DATASET_NAMES:
        fall, rise = ends_minus_middle(curves[dataset])
        effects += [Effect(0, _label(dataset), fall), Effect(1, _label(dataset), rise)]
    return effects


def _measure_rise_then_fall(curves, epochs):
    effects = []
    for dataset in DATASET_NAMES:
        first_minus_middle, last_minus_middle = ends_minus_middle(curves[dataset])
        effects += [Effect(0, _label(dataset), -first_minus_middle), Effect(1, _label(dataset), -last_minus_middle)]
    return effects


def _turn_size(curve: np.ndarray) -> np.ndarray:
    fall, rise = ends_minus_middle(curve)
    return (fall + rise) / 2.0


def _measure_clearer_on_data(curves, epochs):
    effects = []
    for part, dataset in enumerate(("train", "test")):
        for random_set in RANDOM_SETS:
            difference = _turn_size(curves[dataset]) - _turn_size(curves[random_set])
            effects.append(Effect(part, f"{_label(dataset)} − {_label(random_set)}", difference))
    return effects


def _measure_single_region_growth(curves, epochs):
    return [
        Effect(0, _label("train"), line_rise(curves["train"], epochs)),
        Effect(0, _label("test"), line_rise(curves["test"], epochs)),
        Effect(1, f"{_label('train')} − {_label('test')}", backtrack(curves["train"]) - backtrack(curves["test"])),
    ]


def _measure_train_above_random(curves, epochs):
    return [
        Effect(part, f"{_label('train')} − {_label(random_set)}", (curves["train"] - curves[random_set]).mean(axis=1))
        for part, random_set in enumerate(RANDOM_SETS)
    ]


def _measure_moves_away(curves, epochs):
    train = curves["train"]
    return [Effect(0, _label("train"), train[:, -1] - train[:, 0])]


CLAIMS: tuple[Claim, ...] = (
    Claim(
        number=1,
        statement="The regions around all four kinds of points decrease in the first epochs, then increase.",
        quote="the linear regions in the areas around all four different kinds of data points tend to decrease "
        "in the first several epochs, and then increases",
        source="Section 5.2",
        column="log2_mean_bound",
        unit="bits",
        rule="On each seed's curve of log2 of the mean bound: *fall* = first epoch minus the average of the epochs "
        "between the first and the last; *rise* = last epoch minus that average. One-sided t test over seeds for "
        "each of the 8 (set, part) effects, Holm over the 8. *Falls* holds when the fall passes on all four sets, "
        "*rises* when the rise does.",
        parts=(Part("falls", "does not fall"), Part("rises", "does not rise")),
        subject="set",
        measure=_measure_fall_then_rise,
    ),
    Claim(
        number=2,
        statement="The mean distance of the points to their nearest boundary first increases, then decreases.",
        quote="the average distance of the data points to their nearest boundaries follow the same trend (first "
        "increase and then decrease)",
        source="Section 5.2",
        column="mean_boundary_distance",
        unit="input distance",
        rule="The mirror image of (1) on each seed's curve of the mean boundary distance: *rise* = the average of "
        "the epochs between the first and the last minus the first epoch; *fall* = that average minus the last "
        "epoch. Eight one-sided t tests, Holm over the 8; each part must pass on all four sets.",
        parts=(Part("rises", "does not rise"), Part("falls", "does not fall")),
        subject="set",
        measure=_measure_rise_then_fall,
    ),
    Claim(
        number=3,
        statement="The fall-then-rise of (1) is larger on training and testing points than on the random points.",
        quote="this trend is more clear on training and testing data (than the random data)",
        source="Section 5.2",
        column="log2_mean_bound",
        unit="bits",
        rule="Size of the fall-then-rise on one seed's curve = (fall + rise) / 2 of (1): how far the two ends lie "
        "above the middle on average (a straight line scores 0). Paired per-seed differences training − random 1, "
        "training − random 2, testing − random 1, testing − random 2, each one-sided t, Holm over the 4. "
        "*Clearer on training* holds when both training differences pass, *clearer on testing* when both "
        "testing ones do.",
        parts=(
            Part("clearer on training", "not clearer on training"),
            Part("clearer on testing", "not clearer on testing"),
        ),
        subject="comparison",
        measure=_measure_clearer_on_data,
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
        "difference backtrack(training) − backtrack(testing), each one-sided t, Holm over the 3. *Grows* holds "
        "when both growths pass, *steadier on testing* when the backtrack difference does. Random sets are not "
        "part of this claim.",
        parts=(
            Part("grows on training and testing", "does not grow on both"),
            Part("steadier on testing", "not steadier on testing"),
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
        "One-sided t for each random set, Holm over the 2. Each part is one random set.",
        parts=(Part("above random 1", "not above random 1"), Part("above random 2", "not above random 2")),
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
        "One one-sided t test (no correction needed).",
        parts=(Part("moves away", "does not move away"),),
        subject="set",
        measure=_measure_moves_away,
    ),
)


def claim(number: int) -> Claim:
    """The claim with this number."""
    for record in CLAIMS:
        if record.number == number:
            return record
    raise ValueError(f"number must be one of {[c.number for c in CLAIMS]}, got {number!r}")


# ---------------------------------------------------------------------------------------------
# The table: validation and per-setting arrays.
# ---------------------------------------------------------------------------------------------


def validate_summary(summary, radius, norm) -> pd.DataFrame:
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary must be a pandas.DataFrame, got {type(summary).__name__}")
    required = list(SUMMARY_KEYS) + [c for c in _METRICS if c not in SUMMARY_KEYS]
    missing = [c for c in required if c not in summary.columns]
    if missing:
        raise ValueError(f"summary is missing columns {missing}")
    if summary.empty:
        raise ValueError("summary has no rows")
    try:
        radius = float(radius)
    except (TypeError, ValueError):
        raise TypeError(f"radius must be a number, got {radius!r}") from None
    if not np.isfinite(radius):
        raise ValueError(f"radius must be finite, got {radius!r}")
    radii = pd.to_numeric(summary["radius"], errors="coerce").to_numpy(dtype=np.float64)
    rows = summary[np.isclose(radii, radius, rtol=1e-9, atol=0.0)]
    if rows.empty:
        raise ValueError(f"radius {radius!r} is not in summary (its radii are {sorted(set(radii.tolist()))})")
    norms = sorted(rows["norm"].astype(str).unique())
    if norm is None:
        if len(norms) != 1:
            raise ValueError(f"summary holds norms {norms} at radius {radius!r}; pass norm= to choose one")
        norm = norms[0]
    elif str(norm) not in norms:
        raise ValueError(f"norm {norm!r} is not in summary at radius {radius!r} (it holds {norms})")
    rows = rows[rows["norm"].astype(str) == str(norm)]
    unknown = sorted(set(rows["dataset"].astype(str)) - set(DATASET_NAMES))
    if unknown:
        raise ValueError(f"summary has unknown datasets {unknown}; expected {list(DATASET_NAMES)}")
    absent = [d for d in DATASET_NAMES if d not in set(rows["dataset"].astype(str))]
    if absent:
        raise ValueError(f"summary has no rows for datasets {absent} at radius {radius!r}")
    duplicated = rows.duplicated(subset=list(SUMMARY_KEYS), keep=False)
    if duplicated.any():
        first = rows.loc[duplicated, list(SUMMARY_KEYS)].iloc[0].to_dict()
        raise ValueError(f"summary has {int(duplicated.sum())} rows with repeated keys {list(SUMMARY_KEYS)}, e.g. {first}")
    for column in _METRICS:
        values = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            first = rows.loc[bad, list(SUMMARY_KEYS)].iloc[0].to_dict()
            raise ValueError(
                f"summary column {column!r} has {int(bad.sum())} missing or non-finite values, e.g. at {first}; "
                "leave such runs out before checking the claims"
            )
    return rows


def paper_epochs(bound_epochs: Sequence[int]) -> list[int]:
    """The paper's trajectory: every bound epoch except 0 (Figure 3 plots epochs 2, 4, ..., 20)."""
    return sorted(int(e) for e in set(bound_epochs) if int(e) != 0)


def _choose_epochs(rows: pd.DataFrame, epochs) -> list[int]:
    available = sorted(int(e) for e in rows["epoch"].unique())
    if epochs is None:
        chosen = paper_epochs(available)
    else:
        if isinstance(epochs, (str, bytes)) or not isinstance(epochs, Sequence | np.ndarray | pd.Index):
            raise TypeError(f"epochs must be a sequence of integers or None, got {type(epochs).__name__}")
        chosen = []
        for e in epochs:
            if isinstance(e, bool) or not float(e).is_integer():
                raise ValueError(f"epochs must be integers, got {e!r}")
            chosen.append(int(e))
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"epochs must not repeat an epoch, got {list(epochs)}")
        absent = sorted(set(chosen) - set(available))
        if absent:
            raise ValueError(f"epochs {absent} are not in summary (its epochs are {available})")
        chosen = sorted(chosen)
    if len(chosen) < MIN_EPOCHS:
        raise ValueError(
            f"epochs must hold at least {MIN_EPOCHS} epochs (a first, a last and one between), got {chosen}"
            + (" after leaving out epoch 0" if epochs is None else "")
        )
    return chosen


def _settings(rows: pd.DataFrame):
    """(depth, lr, rows): depths increasing, learning rates decreasing (the paper's panel order)."""
    keyed = rows.assign(depth=rows["depth"].astype(int), lr=rows["lr"].astype(float))
    groups = [(int(depth), float(lr), part) for (depth, lr), part in keyed.groupby(["depth", "lr"], sort=False)]
    return sorted(groups, key=lambda g: (g[0], -g[1]))


def _setting_curves(part: pd.DataFrame, depth: int, lr: float, epochs: list[int]):
    """Per metric and set, the (n_seeds, n_epochs) array; seeds in increasing order."""
    part = part[part["epoch"].astype(int).isin(epochs)]
    seeds = sorted(int(s) for s in part["seed"].unique())
    if len(seeds) < MIN_SEEDS:
        raise ValueError(
            f"summary holds {len(seeds)} seed(s) for depth {depth}, lr {lr:g}; at least {MIN_SEEDS} are needed"
        )
    index = pd.MultiIndex.from_product([seeds, epochs], names=["seed", "epoch"])
    curves: dict[str, dict[str, np.ndarray]] = {column: {} for column in _METRICS}
    for dataset in DATASET_NAMES:
        block = part[part["dataset"].astype(str) == dataset].assign(
            seed=lambda f: f["seed"].astype(int), epoch=lambda f: f["epoch"].astype(int)
        )
        block = block.set_index(["seed", "epoch"]).reindex(index)
        lacking = block[block[_METRICS[0]].isna()].index.tolist()
        if lacking:
            raise ValueError(
                f"summary lacks {len(lacking)} (seed, epoch) rows of set {dataset!r} for depth {depth}, lr {lr:g}, "
                f"e.g. {lacking[:3]}; every seed needs every chosen epoch (leave incomplete runs out)"
            )
        for column in _METRICS:
            values = block[column].to_numpy(dtype=np.float64)
            curves[column][dataset] = values.reshape(len(seeds), len(epochs))
    return seeds, curves


# ---------------------------------------------------------------------------------------------
# The checks.
# ---------------------------------------------------------------------------------------------


def _epochs_text(epochs: Sequence[int]) -> str:
    return ",".join(str(int(e)) for e in epochs)


def evaluate(summary: pd.DataFrame, *, radius: float, norm: str | None = None, epochs=None):
    """Both tables of :func:`check_claims` and :func:`claim_tests` from one pass (the report uses it).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The verdicts and the tests.
    """
    rows = validate_summary(summary, radius, norm)
    chosen = _choose_epochs(rows, epochs)
    x = np.asarray(chosen, dtype=np.float64)
    verdict_rows: list[dict] = []
    test_rows: list[dict] = []
    for depth, lr, part in _settings(rows):
        seeds, curves = _setting_curves(part, depth, lr, chosen)
        for record in CLAIMS:
            effects = record.measure(curves[record.column], x)
            results = [t_test(effect.per_seed) for effect in effects]
            adjusted = holm([r["p"] for r in results])
            passed = passes(adjusted)
            part_holds = [
                bool(all(passed[i] for i, effect in enumerate(effects) if effect.part == k))
                for k in range(len(record.parts))
            ]
            verdict = combine_parts(part_holds)
            for i, (effect, result) in enumerate(zip(effects, results, strict=True)):
                test_rows.append(
                    {
                        "depth": depth,
                        "lr": lr,
                        "claim": record.number,
                        "part": record.parts[effect.part].name,
                        "subject": effect.subject,
                        "unit": record.unit,
                        "n_seeds": result["n"],
                        "effect": result["effect"],
                        "sd": result["sd"],
                        "ci_low": result["ci_low"],
                        "ci_high": result["ci_high"],
                        "positive_seeds": result["positive_seeds"],
                        "t": result["t"],
                        "p": result["p"],
                        "p_holm": float(adjusted[i]),
                        "passes": bool(passed[i]),
                        "part_holds": part_holds[effect.part],
                        "verdict": verdict,
                    }
                )
            row = {
                "depth": depth,
                "lr": lr,
                "claim": record.number,
                "verdict": verdict,
                "finding": ", ".join(
                    part.name if holds else part.negation for part, holds in zip(record.parts, part_holds, strict=True)
                ),
                "holding_part": (
                    "; ".join(p.name for p, h in zip(record.parts, part_holds, strict=True) if h)
                    if verdict == PARTLY
                    else ""
                ),
                "remark": _remark(record, effects, passed, part_holds),
            }
            for k in range(2):
                row.update(_part_columns(record, effects, results, adjusted, part_holds, k))
            row.update(
                {
                    "unit": record.unit,
                    "n_seeds": len(seeds),
                    "n_epochs": len(chosen),
                    "first_epoch": chosen[0],
                    "last_epoch": chosen[-1],
                    "epochs": _epochs_text(chosen),
                }
            )
            verdict_rows.append(row)
    return pd.DataFrame(verdict_rows), pd.DataFrame(test_rows)


def _remark(record: Claim, effects, passed, part_holds) -> str:
    """For a part that does not hold although some of its tests pass: which ones do."""
    notes = []
    for k, part in enumerate(record.parts):
        mine = [(e.subject, bool(passed[i])) for i, e in enumerate(effects) if e.part == k]
        passing = [subject for subject, ok in mine if ok]
        if not part_holds[k] and passing:
            notes.append(f"{part.name}: only {', '.join(passing)} pass")
    return "; ".join(notes)


def _part_columns(record: Claim, effects, results, adjusted, part_holds, k: int) -> dict:
    """The part's weakest test (largest adjusted p): the one that decided whether the part holds."""
    prefix = f"part{k + 1}"
    empty = {
        prefix: "",
        f"{prefix}_holds": np.nan,
        f"{prefix}_weakest": "",
        f"{prefix}_effect": np.nan,
        f"{prefix}_ci_low": np.nan,
        f"{prefix}_ci_high": np.nan,
        f"{prefix}_p_holm": np.nan,
    }
    if k >= len(record.parts):
        return empty
    mine = [i for i, e in enumerate(effects) if e.part == k]
    weakest = max(mine, key=lambda i: (adjusted[i], -results[i]["t"], i))
    return {
        prefix: record.parts[k].name,
        f"{prefix}_holds": part_holds[k],
        f"{prefix}_weakest": effects[weakest].subject,
        f"{prefix}_effect": results[weakest]["effect"],
        f"{prefix}_ci_low": results[weakest]["ci_low"],
        f"{prefix}_ci_high": results[weakest]["ci_high"],
        f"{prefix}_p_holm": float(adjusted[weakest]),
    }


def check_claims(summary: pd.DataFrame, *, radius: float, norm: str | None = None, epochs=None) -> pd.DataFrame:
    """Decide the paper's six observations for every (depth, lr) of a per-seed summary table.

    Parameters
    ----------
    summary : pandas.DataFrame
        The per-seed table (``summary.csv``): one row per (depth, lr, seed, epoch, dataset, radius,
        norm) with ``log2_mean_bound``, ``single_region_points`` and ``mean_boundary_distance``.
        Every seed must have every chosen epoch of all four sets; leave out diverged or collapsed
        runs before calling.
    radius : float
        The radius whose rows are used (Figure 3: 0.4).
    norm : str, optional
        Needed only when the table holds several norms at ``radius``.
    epochs : sequence of int, optional
        The epochs to decide on, at least three. ``None``: the paper's trajectory, every bound
        epoch except 0.

    Returns
    -------
    pandas.DataFrame
        One row per (depth, lr, claim), depths increasing, learning rates decreasing, claims 1-6.
        Columns: ``depth``, ``lr``, ``claim``, ``verdict`` (``holds``, ``partly`` or ``does not
        hold``), ``finding`` (each part or its negation, e.g. "falls, does not rise"),
        ``holding_part`` (the part that holds when ``partly``, else ""), ``remark`` (tests that
        pass within a part that does not hold), and for ``part1`` and ``part2``: its name,
        ``_holds``, and its weakest test -- the one with the largest Holm p, which decided it:
        ``_weakest`` (set or comparison), ``_effect`` (mean over seeds), ``_ci_low`` and
        ``_ci_high`` (95% t interval over seeds), ``_p_holm``; empty for a one-part claim. Then
        ``unit``, ``n_seeds``, ``n_epochs``, ``first_epoch``, ``last_epoch``, ``epochs`` (comma
        separated). Every test is in :func:`claim_tests`.

    Raises
    ------
    TypeError, ValueError
        Naming the argument at fault: a missing column, a radius or norm not in the table,
        several norms without ``norm=``, fewer than three epochs, an epoch not in the table,
        fewer than two seeds in a setting, a seed lacking an epoch or a set, non-finite values.
    """
    verdicts, _ = evaluate(summary, radius=radius, norm=norm, epochs=epochs)
    return verdicts


def claim_tests(summary: pd.DataFrame, *, radius: float, norm: str | None = None, epochs=None) -> pd.DataFrame:
    """Every test behind :func:`check_claims`: one row per (depth, lr, claim, part, set or comparison).

    Same arguments as :func:`check_claims`. Columns: ``depth``, ``lr``, ``claim``, ``part``,
    ``subject``, ``unit``, ``n_seeds``, ``effect`` (mean over seeds of the per-seed effect), ``sd``,
    ``ci_low``, ``ci_high`` (95% t interval), ``positive_seeds``, ``t``, ``p`` (one-sided),
    ``p_holm`` (Holm over the claim's tests in that setting), ``passes`` (``p_holm <= LEVEL``),
    ``part_holds``, ``verdict``.
    """
    _, tests = evaluate(summary, radius=radius, norm=norm, epochs=epochs)
    return tests
