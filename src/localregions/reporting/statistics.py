"""The statistics the claims and the phases share: t over seeds, power, equivalence, corrections.

Every test here is over *seeds*: one number per seed (an effect measured on that seed's own
curve), Student's t on their mean. Why t and not a bootstrap over ten seeds: a percentile
bootstrap interval of a mean of ten numbers is too narrow (it ignores that the spread is itself
estimated from ten numbers, roughly 1.96 against 2.26 standard errors), its p-values come in steps
of 1/B and depend on a random draw; a seed's effect is an average over 1000 points and several
epochs, close to normal, where t is exact, and it gives the same numbers on every run.

A second, independent source of uncertainty can be added to the seeds' standard error as a known
variance (``extra_variance``): the spread that the choice of the 1000 points adds to the mean over
seeds (every seed sees the same points, so the seeds' spread leaves it out; see
:mod:`localregions.reporting.point_bootstrap`). The standard error is then
``sqrt(sd**2 / n + extra_variance)`` and the degrees of freedom stay ``n - 1`` (the extra variance
is estimated from hundreds of resamples and treated as known).

:func:`detectable_effect` answers "how large an effect could these seeds have found": the
smallest true mean that a one-sided t test at the level used finds with 80% power (the noncentral
t distribution, with the observed spread standing in for the true one). :func:`equivalence_test`
is the two one-sided tests (TOST) against a stated margin: the only way a change is called absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import optimize, special, stats

__all__ = [
    "LEVEL",
    "CONFIDENCE",
    "POWER",
    "MIN_SEEDS",
    "t_test",
    "detectable_effect",
    "equivalence_test",
    "holm",
    "passes",
]

#: One-sided level of a claim (the claimed side of a two-sided 95% interval).
LEVEL = 0.025
#: The coverage of an interval reported without a correction.
CONFIDENCE = 0.95
#: The power at which :func:`detectable_effect` states the smallest effect the seeds detect.
POWER = 0.8
#: A spread over seeds needs at least two seeds.
MIN_SEEDS = 2


def _values(values) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) < MIN_SEEDS:
        raise ValueError(f"values must hold at least {MIN_SEEDS} numbers, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite")
    return x


def _extra(extra_variance) -> float:
    extra = float(extra_variance)
    if not np.isfinite(extra) or extra < 0:
        raise ValueError(f"extra_variance must be finite and >= 0, got {extra_variance!r}")
    return extra


def t_test(values: Sequence[float], confidence: float = CONFIDENCE, extra_variance: float = 0.0) -> dict[str, float]:
    """Student's t over seeds for "the mean effect is above zero".

    Parameters
    ----------
    values : sequence of float
        One effect per seed; at least two.
    confidence : float
        Coverage of the two-sided interval.
    extra_variance : float
        A known variance of the mean from another source (the choice of points), added to the
        seeds' ``sd**2 / n``.

    Returns
    -------
    dict
        ``n``, ``effect`` (mean), ``sd`` (ddof 1), ``se`` (standard error of the mean, seeds and
        the extra variance), ``ci_low``, ``ci_high`` (two-sided t interval), ``t``, ``p``
        (one-sided, for a positive mean), ``p_below`` (one-sided, for a negative mean),
        ``positive_seeds`` (seeds with an effect above zero). Without any spread the test is
        decided by the sign of the mean: p = 0 above zero, 1 below, 0.5 at zero.

    Examples
    --------
    >>> r = t_test([1.0, 2.0, 3.0])
    >>> r["effect"], round(r["ci_low"], 4), round(r["p"], 4)
    (2.0, -0.4841, 0.0371)
    """
    x = _values(values)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    extra = _extra(extra_variance)
    n = len(x)
    mean = float(x.mean())
    sd = float(x.std(ddof=1))
    se = float(np.sqrt(sd**2 / n + extra))
    df = n - 1
    if se > 0:
        t = mean / se
    else:
        t = np.inf if mean > 0 else -np.inf if mean < 0 else 0.0
    # scipy.special's Student t functions: the same numbers as scipy.stats.t, without its per-call overhead
    # (the claims run some ten thousand of these tests in the test suite).
    half = float(special.stdtrit(df, 0.5 + confidence / 2.0)) * se
    return {
        "n": n,
        "effect": mean,
        "sd": sd,
        "se": se,
        "ci_low": float(mean - half),
        "ci_high": float(mean + half),
        "t": float(t),
        "p": float(special.stdtr(df, -t)),
        "p_below": float(special.stdtr(df, t)),
        "positive_seeds": int((x > 0).sum()),
    }


@lru_cache(maxsize=256)
def _noncentrality(df: int, level: float, power: float) -> float:
    """The noncentrality at which a one-sided t test with ``df`` degrees of freedom at ``level`` has ``power``."""
    critical = stats.t.isf(level, df)
    return float(optimize.brentq(lambda nc: stats.nct.sf(critical, df, nc) - power, 0.0, critical + 50.0,
                                 xtol=1e-10))


def detectable_effect(sd: float, n: int, level: float = LEVEL, power: float = POWER,
                      extra_variance: float = 0.0) -> float:
    """The smallest mean effect a one-sided t test over ``n`` seeds at ``level`` finds with ``power``.

    The observed spread ``sd`` stands in for the true one (a plug-in: with ten seeds it is itself
    uncertain by about a quarter). In the unit of the effect.

    Examples
    --------
    Ten seeds at 2.5% one-sided: about one standard deviation of a seed's effect.

    >>> round(detectable_effect(1.0, 10), 2)
    1.0
    >>> round(detectable_effect(1.0, 10, level=0.025 / 8), 2)
    1.43
    """
    if isinstance(n, bool) or int(n) != n or n < MIN_SEEDS:
        raise ValueError(f"n must be an integer >= {MIN_SEEDS}, got {n!r}")
    if not (np.isfinite(sd) and sd >= 0):
        raise ValueError(f"sd must be finite and >= 0, got {sd!r}")
    if not 0.0 < level < 0.5:
        raise ValueError(f"level must lie strictly between 0 and 0.5, got {level!r}")
    if not level < power < 1.0:
        raise ValueError(f"power must lie strictly between level and 1, got {power!r}")
    se = float(np.sqrt(sd**2 / n + _extra(extra_variance)))
    return _noncentrality(int(n) - 1, float(level), float(power)) * se


def equivalence_test(values: Sequence[float], margin: float, extra_variance: float = 0.0) -> float:
    """The p-value of the two one-sided tests (TOST) that the mean lies strictly within ``(-margin, margin)``.

    The larger of the p-values of "mean > -margin" and "mean < margin"; equivalence is shown at
    level a when it is at most a (the same as the ``1 - 2a`` t interval lying inside the margin).

    Examples
    --------
    >>> round(equivalence_test([0.01, -0.02, 0.0, 0.015, -0.005], margin=0.1), 6)
    4.1e-05
    >>> equivalence_test([0.5, 0.6, 0.4], margin=0.1) > 0.5
    True
    """
    x = _values(values)
    if not (np.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be finite and > 0, got {margin!r}")
    n, df = len(x), len(x) - 1
    mean = float(x.mean())
    se = float(np.sqrt(x.var(ddof=1) / n + _extra(extra_variance)))
    if se == 0:
        return 0.0 if abs(mean) < margin else 1.0
    above_lower = stats.t.sf((mean + margin) / se, df)
    below_upper = stats.t.cdf((mean - margin) / se, df)
    return float(max(above_lower, below_upper))


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


def passes(p: float | np.ndarray, level: float = LEVEL):
    """A test passes when its (adjusted) p-value is at most ``level`` (the boundary passes)."""
    return np.asarray(p) <= level
