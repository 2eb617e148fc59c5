"""The report's section on the paper's observations: rules, verdicts on two epoch ranges, the numbers behind them.

:func:`claims_section` renders the decisions of :mod:`localregions.reporting.claims` as Markdown:
the verdict words and the correction used, once; each observation once, with the paper's words and
its rule beside them; one verdict table that shows, for every claim, the verdict on the paper's
trajectory (epochs 2, 4, ..., 20, as Figure 3 plots them) beside the verdict with epoch 0
included; sentences naming where the two ranges differ and where the two shape tests differ; and
for every verdict a link to the table of the tests that decided it. The rules are printed from
:data:`~localregions.reporting.claim_records.CLAIMS`, the same records that decide, so the text
and the verdicts cannot disagree. Same table in, same bytes out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..vocabulary import format_lr
from .claim_records import CLAIMS, PRIMARY_SHAPE, SECOND_SHAPE
from .claims import CONTRADICTED, MIN_RUNS, PARTLY, SUPPORTED, evaluate, part_level
from .statistics import LEVEL, POWER
from .summary_curves import paper_epochs, validate_summary

__all__ = ["claims_section", "RANGES"]

#: The two epoch ranges the section shows: (key used in anchors, how the report names it).
RANGES = (("trajectory", "the paper's trajectory"), ("with-epoch-0", "with epoch 0"))


#: The heading of the detail tables: the report puts everything from it on at its end.
TESTS_HEADING = "### The tests behind the verdicts"


def _number(value, digits: int = 3) -> str:
    if value is None or pd.isna(value):
        return "–"
    value = float(value)
    if np.isinf(value):
        return "∞" if value > 0 else "−∞"
    text = format(value, f".{digits}g")
    if text.startswith("-"):
        text = "−" + text[1:]
    return "0" if text in ("−0", "0") else text


def _p(value) -> str:
    if value is None or pd.isna(value):
        return "–"
    value = float(value)
    return "< 0.0001" if value < 1e-4 else format(value, ".2g")


def _interval(low, high) -> str:
    return f"[{_number(low)}, {_number(high)}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _epochs_text(epochs: Sequence[int]) -> str:
    epochs = [int(e) for e in epochs]
    steps = {b - a for a, b in zip(epochs, epochs[1:], strict=False)}
    if len(epochs) >= 4 and len(steps) == 1:
        return f"{epochs[0]}, {epochs[1]}, …, {epochs[-1]}"
    return ", ".join(str(e) for e in epochs)


def _span(epochs: Sequence[int]) -> str:
    return f"{int(epochs[0])}–{int(epochs[-1])}"


def _anchor(number: int, key: str) -> str:
    return f"claim-{number}-{key}"


def _runs_note(runs_left_out) -> list[str]:
    if runs_left_out is None:
        return []
    if isinstance(runs_left_out, Mapping):
        entries = [(str(k), str(v)) for k, v in runs_left_out.items()]
    elif isinstance(runs_left_out, (str, bytes)) or not isinstance(runs_left_out, Sequence):
        raise TypeError(
            "runs_left_out must be a mapping of run id to reason, or a sequence of run ids or (run id, reason) "
            f"pairs, got {type(runs_left_out).__name__}"
        )
    else:
        entries = []
        for item in runs_left_out:
            if isinstance(item, str):
                entries.append((item, ""))
            elif isinstance(item, Sequence) and len(item) == 2:
                entries.append((str(item[0]), str(item[1])))
            else:
                raise TypeError(f"runs_left_out entries must be a run id or a (run id, reason) pair, got {item!r}")
    if not entries:
        return ["No run was left out.", ""]
    named = [f"`{run}` ({reason})" if reason else f"`{run}`" for run, reason in entries]
    return [
        f"**Runs left out:** {len(entries)} run{'s' if len(entries) != 1 else ''} "
        f"{'are' if len(entries) != 1 else 'is'} not in these numbers: " + "; ".join(named) + ".",
        "",
    ]


def _text(value) -> str:
    """A text cell of a table, empty when missing (a CSV reads "" back as NaN)."""
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def verdict_text(row, prefix: str = "") -> str:
    """A verdict as a table cell reads it: ``partly: <supported parts>`` (and what is contradicted), ``contradicted:
    <parts>``, else the verdict word. ``prefix="shape2_"`` reads the verdict under the second shape test.

    >>> verdict_text({"verdict": "partly", "supported_parts": "falls", "contradicted_parts": "rises"})
    'partly: falls; contradicted: rises'
    """
    verdict = _text(row[f"{prefix}verdict"])
    supported, contradicted = _text(row.get(f"{prefix}supported_parts")), _text(row.get(f"{prefix}contradicted_parts"))
    if verdict == PARTLY:
        return f"partly: {supported}" + (f"; contradicted: {contradicted}" if contradicted else "")
    if verdict == CONTRADICTED and contradicted:
        return f"contradicted: {contradicted}"
    return verdict


def shapes_differ(row) -> bool:
    """Whether the second shape test gives another verdict, or other parts, than the primary one."""
    second = _text(row.get("shape2_verdict"))
    return bool(second) and verdict_text(row, "shape2_") != verdict_text(row)


def _cell(row, number: int, key: str) -> str:
    text = verdict_text(row)
    if shapes_differ(row):
        text += f" ({SECOND_SHAPE}: {verdict_text(row, 'shape2_')})"
    return f"[{text}](#{_anchor(number, key)})"


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.4g}%"


def _detail_table(tests: pd.DataFrame, record) -> str:
    rows = []
    for test in tests[tests["claim"] == record.number].itertuples(index=False):
        cells = [str(test.depth), format_lr(test.lr)] + ([test.shape_test] if record.shaped else [])
        cells += [
            test.part,
            test.subject,
            _number(test.effect),
            _interval(test.ci_low, test.ci_high),
            _number(test.detectable),
            f"{test.positive_seeds} of {test.n_seeds}",
            _p(test.p),
            _p(test.p_opposite_holm),
            SUPPORTED if test.supported else CONTRADICTED if test.contradicted else "–",
            test.part_finding,
            f"**{test.verdict}**",
        ]
        rows.append(cells)
    header = ["depth", "lr"] + (["shape test"] if record.shaped else []) + [
        "part",
        record.subject,
        f"effect ({record.unit})",
        f"{_percent(1 - 2 * part_level(record))} interval",
        "detectable",
        "seeds > 0",
        "p",
        "opposite p (Holm)",
        "test",
        "part's finding",
        "claim",
    ]
    return _table(header, rows)


def _explanation(uncertainty: str) -> list[str]:
    """The verdict words and the correction, stated once."""
    points = (
        "The intervals and tests are over the seeds and over the choice of points: the spread of each mean effect "
        "over resamples of the points (the same resample for every seed, as every seed sees the same points) is "
        "added to the seeds' standard error."
        if uncertainty == "seeds and points"
        else "The intervals and tests are over the seeds only: every seed sees the same 1000 points per set, so "
        "they leave out how much another draw of points would move the effects (the bootstrap over points of "
        "`localregions.reporting.point_bootstrap` adds it where the per-point tables are read)."
    )
    return [
        "**How a verdict is reached.** Each observation is measured once per seed, on that seed's own curve (a "
        "seed is one independent repetition of training), by a weighted sum of its values fixed before looking; "
        "each such effect gets a one-sided Student's t test over the seeds. Each *part* of a claim -- a clause a "
        "reader can hold alone, such as *falls* or *rises* -- is **supported** when every one of its tests is "
        "significant in the claimed direction, **contradicted** when one of them is significant in the opposite "
        "direction, and **inconclusive** otherwise; beside each part stands the *detectable* effect, the smallest "
        f"true effect these seeds find with {POWER:.0%} power at the level used, in the claim's unit. The verdict "
        "of a claim: `holds` when every part is supported; `partly` when some part is (the supported parts are "
        "named, and any contradicted one); `contradicted` when no part is supported and one or more is "
        "contradicted (named); `inconclusive` when no part is either: the data cannot tell; `undecided` when fewer "
        f"than {MIN_RUNS} runs trained in the setting.",
        "",
        "**The correction, once.** A part is a conjunction (\"falls on all four sets\"): it is supported only when "
        "every one of its tests is, so each test at the one-sided level already tests the whole part at that level "
        "(an intersection-union test), and a correction inside it would only cost power. Each part can be claimed "
        f"alone, so the level {LEVEL:.1%} is split over the parts of a claim (Bonferroni): every test is one-sided "
        f"at {LEVEL:.1%}/K for a claim of K parts ({LEVEL / 2:.2%} for two), its interval two-sided at "
        f"1 − 2 × {LEVEL:.1%}/K, so a supported test is one whose interval clears zero, and pure noise supports a "
        f"part of a claim with a chance of at most {LEVEL:.1%}. *Contradicted* asks whether any test goes the "
        f"other way, a union of tests, so Holm's correction over all the tests of the claim is applied, at "
        f"{LEVEL:.1%}. No correction is made across claims or settings: each verdict cell is its own question "
        "(and the settings of one depth start from the same initial networks, seed by seed, so they are not "
        "independent repetitions of each other).",
        "",
        f"**Two shape tests.** Observations (1)-(3) ask whether a curve falls, then rises. The verdict uses "
        f"*{PRIMARY_SHAPE}* (the first and the last epoch against the average of the epochs between them); beside "
        f"it, the *{SECOND_SHAPE}* test reads the same two differences off each seed's least-squares parabola over "
        "the trajectory. Both were fixed before looking at the data; a cell shows the second in brackets where the "
        "two differ. " + points,
        "",
    ]


def claims_section(summary: pd.DataFrame, *, radius: float, norm: str | None = None, runs_left_out=None,
                   point_spread: pd.DataFrame | None = None) -> str:
    """The Markdown section on the paper's six observations.

    Parameters
    ----------
    summary : pandas.DataFrame
        The per-seed summary table (see :func:`~localregions.reporting.claims.check_claims`), with
        the runs to leave out already removed.
    radius : float
        The radius of Figure 3; other radii are ignored.
    norm : str, optional
        Needed only when the table holds several norms at ``radius``.
    runs_left_out : mapping or sequence, optional
        Runs the caller removed, printed as a note: a mapping of run id to reason, or a sequence of
        run ids or (run id, reason) pairs, printed in the order given. ``None`` prints no note; an
        empty one says none was.
    point_spread : pandas.DataFrame, optional
        :func:`~localregions.reporting.point_bootstrap.point_spread_table` (one row per trajectory
        and test): the choice of points joins the seeds' uncertainty.

    Returns
    -------
    str
        Markdown starting with a level-2 heading, without a trailing newline. The same arguments
        give the same bytes.
    """
    note = _runs_note(runs_left_out)
    rows = validate_summary(summary, radius, norm)
    norm_used = str(rows["norm"].iloc[0])
    bound_epochs = sorted(int(e) for e in rows["epoch"].unique())
    trajectory = paper_epochs(bound_epochs)
    ranges = [("trajectory", trajectory)]
    if 0 in bound_epochs:
        ranges.append(("with-epoch-0", bound_epochs))
    names = dict(RANGES)
    trajectory_names = {"trajectory": "paper", "with-epoch-0": "with epoch 0"}
    results = {}
    for key, epochs in ranges:
        spread = None if point_spread is None else point_spread[point_spread["trajectory"] == trajectory_names[key]]
        results[key] = evaluate(summary, radius=radius, norm=norm, epochs=epochs, point_spread=spread)
    verdicts = {key: results[key][0] for key, _ in ranges}

    first = verdicts["trajectory"]
    seeds = sorted(set(int(n) for n in first["n_seeds"]))
    seed_text = f"{seeds[0]} seeds" if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]} seeds"
    settings = first[["depth", "lr"]].drop_duplicates()
    lines = [
        "## The paper's observations, checked",
        "",
        f"Decided on the per-seed table at r = {_number(radius)} ({norm_used} ball): {len(settings)} settings of "
        f"depth and learning rate, {seed_text} each. Verdicts are given on the paper's trajectory, epochs "
        f"{_epochs_text(trajectory)} (Figure 3 plots \"a trajectory of ten points\"), and beside them "
        + (
            f"with epoch 0, the untrained network, included (epochs {_epochs_text(bound_epochs)})."
            if len(ranges) == 2
            else "nothing else: the table has no epoch 0."
        ),
        "",
    ]
    lines += _explanation(str(first["uncertainty"].iloc[0]))
    lines += note
    lines += ["### The observations and their rules", ""]
    for record in CLAIMS:
        lines += [
            f"{record.number}. *{record.statement}* — “{record.quote}” ({record.source}). "
            f"Read from `{record.column}`, in {record.unit}.",
            "",
            f"   **Rule:** {record.rule}",
            "",
        ]

    lines += ["### Verdicts", ""]
    header = ["depth", "lr"]
    for record in CLAIMS:
        header += [f"({record.number}) {_span(epochs)}" for _, epochs in ranges]
    table_rows = []
    indexed = {key: frame.set_index(["depth", "lr", "claim"]) for key, frame in verdicts.items()}
    for depth, lr in settings.itertuples(index=False):
        cells = [str(depth), format_lr(lr)]
        for record in CLAIMS:
            for key, _ in ranges:
                row = indexed[key].loc[(depth, lr, record.number)]
                cells.append(_cell(row, record.number, key))
        table_rows.append(cells)
    lines += [
        "Each cell links to the tests behind it. "
        + (
            f"Columns {_span(trajectory)}: the paper's trajectory; {_span(bound_epochs)}: with epoch 0."
            if len(ranges) == 2
            else f"Columns {_span(trajectory)}: the paper's trajectory."
        ),
        "",
        _table(header, table_rows),
        "",
    ]
    total = len(settings) * len(CLAIMS)
    if len(ranges) == 2:
        changes = []
        for depth, lr in settings.itertuples(index=False):
            for record in CLAIMS:
                a = indexed["trajectory"].loc[(depth, lr, record.number)]
                b = indexed["with-epoch-0"].loc[(depth, lr, record.number)]
                if verdict_text(a) != verdict_text(b):  # what a reader sees in the cell
                    changes.append(
                        f"({record.number}) at depth {depth}, lr {format_lr(lr)}: {verdict_text(a)} ({a.finding}) "
                        f"→ {verdict_text(b)} ({b.finding})"
                    )
        if changes:
            lines += [
                f"Including epoch 0 changes {len(changes)} of {total} verdicts: " + "; ".join(changes) + ".",
                "",
            ]
        else:
            lines += [f"Including epoch 0 changes none of the {total} verdicts.", ""]
    disagreements = []
    for key, _ in ranges:
        for depth, lr in settings.itertuples(index=False):
            for record in CLAIMS:
                row = indexed[key].loc[(depth, lr, record.number)]
                if shapes_differ(row):
                    disagreements.append(
                        f"({record.number}) at depth {depth}, lr {format_lr(lr)}, {names[key]}: {PRIMARY_SHAPE} "
                        f"*{verdict_text(row)}*, {SECOND_SHAPE} *{verdict_text(row, 'shape2_')}*"
                    )
    shaped = sum(record.shaped for record in CLAIMS) * len(settings) * len(ranges)
    lines += [
        (f"The two shape tests disagree on {len(disagreements)} of {shaped} verdicts: " + "; ".join(disagreements)
         + ".") if disagreements else f"The two shape tests agree on all {shaped} verdicts of (1)-(3).",
        "",
    ]

    lines += [TESTS_HEADING, ""]
    for record in CLAIMS:
        for key, epochs in ranges:
            tests = results[key][1]
            per_setting = int((tests["claim"] == record.number).sum() // max(len(settings), 1))
            lines += [
                f'<a id="{_anchor(record.number, key)}"></a>',
                "",
                f"#### ({record.number}) {names[key]}, epochs {_epochs_text(epochs)}",
                "",
                f"*{record.statement}* Effect: one number per seed, in {record.unit}; its mean over seeds, "
                f"{_percent(1 - 2 * part_level(record))} t interval, the detectable effect ({POWER:.0%} power), the "
                f"seeds where it is above zero, the one-sided p in the claimed direction (each test at "
                f"{_percent(part_level(record))}) and in the opposite one (Holm over the claim's {per_setting} tests"
                + (" per shape test" if record.shaped else "") + f", at {LEVEL:.1%}).",
                "",
                _detail_table(tests, record),
                "",
            ]
    return "\n".join(lines).rstrip("\n")
