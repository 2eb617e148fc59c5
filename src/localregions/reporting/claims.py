"""The paper's six observations decided on the seeds: supported, contradicted or inconclusive, part by part.

:func:`check_claims` applies every claim of :data:`~localregions.reporting.claim_records.CLAIMS` to
every (depth, learning rate) of a per-seed summary table and returns one verdict row per (depth,
lr, claim); :func:`claim_tests` returns the numbers behind each verdict, one row per test.
Tables in, tables out: no file paths.

How a verdict is reached
------------------------
**The seed is the unit.** A seed is one independent repetition of the whole experiment (new
initial weights, new batch order), so an observation is measured *once per seed*, on that seed's
own curve, by a fixed weighted sum of its values chosen before looking
(:mod:`localregions.reporting.contrasts`), and each such effect gets a one-sided Student's t test
over the seeds (:mod:`localregions.reporting.statistics`).

**Each part of a claim gets one of three findings.** A part ("falls", "rises") is a conjunction
of tests: "falls on all four sets" is four tests, one per set. The part is **supported** when
every one of its tests is significant in the claimed direction, **contradicted** when at least one
of them is significant in the opposite direction, **inconclusive** otherwise. Beside each: the
effect of the test that decided it (the weakest claimed one, or the strongest opposite one), its
interval, and the **smallest effect these seeds detect**: the true mean a one-sided t test at the
level used finds with 80% power, given the seeds' spread (:func:`~localregions.reporting.statistics.detectable_effect`).

**The levels, and why.** A conjunction is tested as a conjunction: it is supported only when every
one of its tests rejects, so each test at the one-sided level is already a test of the whole
part at that level (an intersection-union test; a correction inside it would only cost power).
Each part can be claimed alone ("partly: falls"), so the level 2.5% is split over the parts of
a claim (Bonferroni): with K parts every test is one-sided at 2.5% / K, and the chance that pure
noise supports any part of a claim is at most 2.5%. The intervals are two-sided at 1 - 2 x 2.5% / K
(97.5% for a claim of two parts), so a supported test is exactly one whose interval clears zero.
*Contradicted* claims the opposite of a conjunction -- some set goes the other way -- a union,
so its tests are corrected: Holm over all the tests of the claim, at 2.5%, keeping the chance
that pure noise contradicts a claim anywhere at most 2.5%. No correction is made across claims or
settings: each of the verdict cells is its own question (the settings of one depth even share
their initial networks, seed by seed, so they are not independent repetitions of each other).

**The verdict.** ``holds``: every part supported. ``partly``: some part supported (the row names
them, and any contradicted). ``contradicted``: no part supported, one or more contradicted.
``inconclusive``: none either way. ``undecided``: fewer than :data:`MIN_RUNS` trained runs in the
setting (the numbers are still computed and shown, but so few runs do not decide a verdict).

**Two shape tests.** A claim about a shape (1-3) is decided under the primary, *ends vs middle*,
and under the second, *parabola*, both fixed before looking; the verdict is the primary one, the
second is given beside it (``shape2_verdict``) and the report names every cell where they differ.

**Which epochs.** Figure 3 plots "a trajectory of ten points" -- epochs 2, 4, ..., 20 -- and the
pipeline also bounds epoch 0, the untrained network. By default every bound epoch except 0 is
used (``epochs=None``); pass ``epochs`` to choose others.

**Seeds and points.** Every seed sees the same 1000 points per set, so the seeds' spread leaves
out the choice of points. Pass ``point_spread`` (:func:`localregions.reporting.point_bootstrap.point_spread`)
and its standard deviation of each mean effect over resamples of the points is added to the
seeds' standard error; the column ``uncertainty`` says which was used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .claim_records import CLAIMS, PRIMARY_SHAPE, SECOND_SHAPE, SHAPE_TESTS, Claim
from .statistics import LEVEL, detectable_effect, holm, passes, t_test
from .summary_curves import chosen_epochs, setting_curves, settings, validate_summary

__all__ = [
    "HOLDS",
    "PARTLY",
    "CONTRADICTED",
    "INCONCLUSIVE",
    "UNDECIDED",
    "VERDICTS",
    "DECIDED",
    "SUPPORTED",
    "FINDINGS",
    "MIN_RUNS",
    "MAX_PARTS",
    "TEST_KEYS",
    "part_level",
    "combine_parts",
    "check_claims",
    "claim_tests",
    "evaluate",
]

HOLDS = "holds"
PARTLY = "partly"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
UNDECIDED = "undecided"
#: The five verdicts.
VERDICTS = (HOLDS, PARTLY, CONTRADICTED, INCONCLUSIVE, UNDECIDED)
#: The verdicts that say something either way: a change between two of them is a flip.
DECIDED = (HOLDS, PARTLY, CONTRADICTED)
#: The finding of one part: the claimed direction significant, the opposite significant, neither.
SUPPORTED = "supported"
FINDINGS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)
#: A setting with fewer trained runs than this gets the verdict ``undecided``.
MIN_RUNS = 5
#: The most parts a claim has (the columns part1 ... part3).
MAX_PARTS = 3
#: The keys of one test in :func:`claim_tests` (and in a point spread table).
TEST_KEYS = ["depth", "lr", "claim", "shape_test", "part", "subject"]


def part_level(record: Claim) -> float:
    """The one-sided level of every test of ``record``: 2.5% split over the parts it can be claimed by.

    >>> from localregions.reporting.claim_records import claim
    >>> part_level(claim(1)), part_level(claim(6))
    (0.0125, 0.025)
    """
    return LEVEL / len(record.parts)


def combine_parts(findings) -> str:
    """The verdict from the parts' findings: ``holds``, ``partly``, ``contradicted`` or ``inconclusive``.

    >>> combine_parts(["supported", "contradicted"]), combine_parts(["inconclusive", "contradicted"])
    ('partly', 'contradicted')
    """
    findings = list(findings)
    if not findings:
        raise ValueError("findings must not be empty")
    unknown = sorted(set(findings) - set(FINDINGS))
    if unknown:
        raise ValueError(f"findings must be among {list(FINDINGS)}, got {unknown}")
    if all(f == SUPPORTED for f in findings):
        return HOLDS
    if SUPPORTED in findings:
        return PARTLY
    return CONTRADICTED if CONTRADICTED in findings else INCONCLUSIVE


def _shapes(record: Claim) -> list[str]:
    return [PRIMARY_SHAPE, SECOND_SHAPE] if record.shaped else [""]


def _decide(record: Claim, effects, seeds: int, extra_variances) -> tuple[list[dict], list[str]]:
    """The tests of one claim under one shape test, and the finding of each part."""
    level = part_level(record)
    results = [t_test(e.per_seed, confidence=1.0 - 2.0 * level, extra_variance=v)
               for e, v in zip(effects, extra_variances, strict=True)]
    opposite = holm([r["p_below"] for r in results])
    tests = []
    for effect, result, p_opposite, extra in zip(effects, results, opposite, extra_variances, strict=True):
        tests.append(result | {"part_index": effect.part, "subject": effect.subject, "level": level,
                               "supported": bool(passes(result["p"], level)), "p_opposite_holm": float(p_opposite),
                               "contradicted": bool(passes(p_opposite, LEVEL)),
                               "detectable": detectable_effect(result["sd"], seeds, level, extra_variance=extra),
                               "point_sd": float(np.sqrt(extra))})
    findings = []
    for k in range(len(record.parts)):
        mine = [t for t in tests if t["part_index"] == k]
        findings.append(SUPPORTED if all(t["supported"] for t in mine)
                        else CONTRADICTED if any(t["contradicted"] for t in mine) else INCONCLUSIVE)
    return tests, findings


def _shown(tests, k: int, finding: str) -> dict:
    """The test that decided part k: its strongest opposite test if contradicted, else its weakest claimed one."""
    mine = [t for t in tests if t["part_index"] == k]
    if finding == CONTRADICTED:
        return min(mine, key=lambda t: (t["p_opposite_holm"], t["t"]))
    return max(mine, key=lambda t: (t["p"], -t["t"]))


def _part_columns(record: Claim, tests, findings, k: int) -> dict:
    prefix = f"part{k + 1}"
    names = ["", "_finding", "_subject", "_effect", "_ci_low", "_ci_high", "_p", "_p_opposite", "_detectable"]
    if k >= len(record.parts):
        return {prefix + n: ("" if n in ("", "_finding", "_subject") else np.nan) for n in names}
    shown = _shown(tests, k, findings[k])
    values = [record.parts[k].name, findings[k], shown["subject"], shown["effect"], shown["ci_low"], shown["ci_high"],
              shown["p"], shown["p_opposite_holm"], shown["detectable"]]
    return {prefix + n: v for n, v in zip(names, values, strict=True)}


def _finding_text(record: Claim, findings) -> str:
    return "; ".join(f"{part.name}: {finding}" for part, finding in zip(record.parts, findings, strict=True))


def _named(record: Claim, findings, which: str) -> str:
    return ", ".join(p.name for p, f in zip(record.parts, findings, strict=True) if f == which)


def _remark(record: Claim, tests, findings) -> str:
    """For a part not supported although some of its tests are: which ones are."""
    notes = []
    for k, part in enumerate(record.parts):
        passing = [t["subject"] for t in tests if t["part_index"] == k and t["supported"]]
        if findings[k] != SUPPORTED and passing:
            notes.append(f"{part.name}: only {', '.join(passing)} supported")
    return "; ".join(notes)


def _spread_lookup(point_spread) -> dict | None:
    if point_spread is None:
        return None
    if not isinstance(point_spread, pd.DataFrame):
        raise TypeError(f"point_spread must be a pandas.DataFrame or None, got {type(point_spread).__name__}")
    missing = [c for c in TEST_KEYS + ["point_sd"] if c not in point_spread.columns]
    if missing:
        raise ValueError(f"point_spread is missing columns {missing}")
    keys = ["|".join(str(v) for v in row) for row in point_spread[TEST_KEYS].fillna("").itertuples(index=False)]
    return dict(zip(keys, point_spread["point_sd"].to_numpy(dtype=np.float64), strict=True))


def _extra_variances(lookup, depth, lr, record, shape, effects) -> list[float]:
    if lookup is None:
        return [0.0] * len(effects)
    out = []
    for e in effects:
        key = "|".join(str(v) for v in (depth, lr, record.number, shape, record.parts[e.part].name, e.subject))
        if key not in lookup:
            raise ValueError(f"point_spread has no row for depth {depth}, lr {lr:g}, claim {record.number}, "
                             f"shape test {shape!r}, part {record.parts[e.part].name!r}, {e.subject!r}")
        out.append(float(lookup[key]) ** 2)
    return out


def evaluate(summary: pd.DataFrame, *, radius: float, norm: str | None = None, epochs=None, point_spread=None):
    """Both tables of :func:`check_claims` and :func:`claim_tests` from one pass (the report uses it).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The verdicts and the tests.
    """
    rows = validate_summary(summary, radius, norm)
    chosen = chosen_epochs(rows, epochs)
    lookup = _spread_lookup(point_spread)
    x = np.asarray(chosen, dtype=np.float64)
    verdict_rows: list[dict] = []
    test_rows: list[dict] = []
    for depth, lr, part in settings(rows):
        seeds, curves = setting_curves(part, depth, lr, chosen)
        decidable = len(seeds) >= MIN_RUNS
        for record in CLAIMS:
            decided = {}
            for shape in _shapes(record):
                effects = record.measure(curves[record.column], x, SHAPE_TESTS.get(shape))
                tests, findings = _decide(record, effects, len(seeds),
                                          _extra_variances(lookup, depth, lr, record, shape, effects))
                verdict = combine_parts(findings) if decidable else UNDECIDED
                decided[shape] = (tests, findings, verdict)
                for test in tests:
                    k = test["part_index"]
                    numbers = {key: value for key, value in test.items() if key not in ("part_index", "subject", "n")}
                    test_rows.append({"depth": depth, "lr": lr, "claim": record.number, "shape_test": shape,
                                      "part": record.parts[k].name, "subject": test["subject"], "unit": record.unit,
                                      "n_seeds": test["n"]} | numbers
                                     | {"point_sd": test["point_sd"] if lookup is not None else np.nan,
                                        "part_finding": findings[k], "verdict": verdict})
            tests, findings, verdict = decided[_shapes(record)[0]]
            row = {"depth": depth, "lr": lr, "claim": record.number, "verdict": verdict,
                   "finding": _finding_text(record, findings),
                   "supported_parts": _named(record, findings, SUPPORTED),
                   "contradicted_parts": _named(record, findings, CONTRADICTED),
                   "remark": _remark(record, tests, findings)}
            if record.shaped:
                _, second_findings, second_verdict = decided[SECOND_SHAPE]
                row |= {"shape2_verdict": second_verdict, "shape2_finding": _finding_text(record, second_findings),
                        "shape2_supported_parts": _named(record, second_findings, SUPPORTED),
                        "shape2_contradicted_parts": _named(record, second_findings, CONTRADICTED)}
            else:
                row |= {"shape2_verdict": "", "shape2_finding": "", "shape2_supported_parts": "",
                        "shape2_contradicted_parts": ""}
            for k in range(MAX_PARTS):
                row.update(_part_columns(record, tests, findings, k))
            row |= {"level": part_level(record), "confidence": 1.0 - 2.0 * part_level(record), "unit": record.unit,
                    "n_seeds": len(seeds), "n_epochs": len(chosen), "first_epoch": chosen[0],
                    "last_epoch": chosen[-1], "epochs": ",".join(str(int(e)) for e in chosen),
                    "uncertainty": "seeds" if lookup is None else "seeds and points"}
            verdict_rows.append(row)
    return pd.DataFrame(verdict_rows), pd.DataFrame(test_rows)


def check_claims(summary: pd.DataFrame, *, radius: float, norm: str | None = None, epochs=None,
                 point_spread: pd.DataFrame | None = None) -> pd.DataFrame:
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
    point_spread : pandas.DataFrame, optional
        Per test (:data:`TEST_KEYS`), ``point_sd``: the standard deviation of its mean effect over
        resamples of the points, for these epochs (:func:`~localregions.reporting.point_bootstrap.point_spread`).
        Added to the seeds' standard error; ``None``: seeds only.

    Returns
    -------
    pandas.DataFrame
        One row per (depth, lr, claim), depths increasing, learning rates decreasing, claims 1-6.
        ``verdict`` (one of :data:`VERDICTS`), ``finding`` (each part and its finding, e.g.
        "falls: supported; rises: inconclusive"), ``supported_parts`` and ``contradicted_parts``
        (names, ", "-separated), ``remark`` (tests supported within a part that is not),
        ``shape2_verdict``, ``shape2_finding``, ``shape2_supported_parts`` and
        ``shape2_contradicted_parts`` (the same under the second shape test; "" for a claim without
        a shape), then for ``part1`` to ``part3`` its name (or "") and ``_finding``, and
        the test that decided it: ``_subject`` (set or comparison), ``_effect`` (mean over seeds),
        ``_ci_low``, ``_ci_high`` (two-sided t interval at ``confidence``), ``_p`` (one-sided, the
        claimed direction), ``_p_opposite`` (Holm over the claim's tests, the opposite direction),
        ``_detectable`` (the smallest effect the seeds detect with 80% power at ``level``). Then
        ``level`` (one-sided level of each test), ``confidence``, ``unit``, ``n_seeds``,
        ``n_epochs``, ``first_epoch``, ``last_epoch``, ``epochs`` (comma separated) and
        ``uncertainty`` ("seeds" or "seeds and points"). Every test is in :func:`claim_tests`.

    Raises
    ------
    TypeError, ValueError
        Naming the argument at fault: a missing column, a radius or norm not in the table,
        several norms without ``norm=``, fewer than three epochs, an epoch not in the table,
        fewer than two seeds in a setting, a seed lacking an epoch or a set, non-finite values,
        a test that ``point_spread`` lacks.
    """
    verdicts, _ = evaluate(summary, radius=radius, norm=norm, epochs=epochs, point_spread=point_spread)
    return verdicts


def claim_tests(summary: pd.DataFrame, *, radius: float, norm: str | None = None, epochs=None,
                point_spread: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every test behind :func:`check_claims`: one row per (depth, lr, claim, shape test, part, set or comparison).

    Same arguments as :func:`check_claims`. Columns: :data:`TEST_KEYS` (``shape_test`` is "" for a
    claim without a shape), ``unit``, ``n_seeds``, ``effect`` (mean over seeds of the per-seed
    effect), ``sd``, ``se`` (with the points' spread when given), ``ci_low``, ``ci_high`` (at
    ``1 - 2 level``), ``t``, ``p`` (one-sided, claimed direction), ``p_below`` (one-sided,
    opposite), ``positive_seeds``, ``level``, ``supported`` (``p <= level``), ``p_opposite_holm``
    (Holm over the claim's tests under its shape test), ``contradicted`` (``p_opposite_holm <=
    2.5%``), ``detectable``, ``point_sd`` (NaN without a point spread), ``part_finding``, ``verdict``.
    """
    _, tests = evaluate(summary, radius=radius, norm=norm, epochs=epochs, point_spread=point_spread)
    return tests
