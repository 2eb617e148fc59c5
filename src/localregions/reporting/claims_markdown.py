"""The report's section on the paper's observations: rules, verdicts on two epoch ranges, the numbers behind them.

:func:`claims_section` renders the decisions of :mod:`localregions.reporting.claims` as Markdown:
each observation once, with the paper's words and its rule beside them; one verdict table that
shows, for every claim, the verdict on the paper's trajectory (epochs 2, 4, ..., 20, as Figure 3
plots them) beside the verdict with epoch 0 included; a sentence naming where the two differ;
and for every verdict a link to the table of the tests that decided it. The rules are printed
from :data:`~localregions.reporting.claims.CLAIMS`, the same records that decide, so the text and
the verdicts cannot disagree. Same table in, same bytes out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from localregions.reporting.claims import CLAIMS, CONFIDENCE, LEVEL, PARTLY, validate_summary, evaluate, paper_epochs
from localregions.vocabulary import format_lr

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


def _cell(row, number: int, key: str) -> str:
    text = row.verdict if row.verdict != PARTLY else f"partly: {row.holding_part}"
    return f"[{text}](#{_anchor(number, key)})"


def _detail_table(tests: pd.DataFrame, record) -> str:
    rows = []
    for test in tests[tests["claim"] == record.number].itertuples(index=False):
        rows.append(
            [
                str(test.depth),
                format_lr(test.lr),
                test.part,
                test.subject,
                _number(test.effect),
                _interval(test.ci_low, test.ci_high),
                f"{test.positive_seeds} of {test.n_seeds}",
                _p(test.p),
                _p(test.p_holm),
                "yes" if test.passes else "no",
                "holds" if test.part_holds else "does not hold",
                f"**{test.verdict}**",
            ]
        )
    header = [
        "depth",
        "lr",
        "part",
        record.subject,
        f"effect ({record.unit})",
        f"{CONFIDENCE:.0%} interval",
        "seeds > 0",
        "p",
        "Holm p",
        "passes",
        "part",
        "claim",
    ]
    return _table(header, rows)


def claims_section(summary: pd.DataFrame, *, radius: float, norm: str | None = None, runs_left_out=None) -> str:
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
    results = {key: evaluate(summary, radius=radius, norm=norm, epochs=epochs) for key, epochs in ranges}
    verdicts = {key: results[key][0] for key, _ in ranges}
    names = dict(RANGES)

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
        "**How a verdict is reached.** Each observation is measured once per seed, on that seed's own curve (a "
        "seed is one independent repetition of training). Each effect is tested one-sided in the claimed "
        f"direction with Student's t over the seeds at {LEVEL:.1%}, and shown with its two-sided "
        f"{CONFIDENCE:.0%} t interval. Holm's correction is applied over all the tests of one claim in one setting, "
        f"so that pure seed noise passes any of them with a chance of at most {LEVEL:.1%}; a test passes when its "
        f"Holm p is at most {LEVEL:.1%}; its {CONFIDENCE:.0%} interval then lies above zero, but the interval is not "
        "corrected, so an interval above zero can still fail the corrected test. A part of a claim holds "
        "when all of its tests pass. A claim **holds** when all its parts hold, is **partly** true when one holds "
        "and the other does not (the part that holds is named), and **does not hold** when none does. Where the "
        "curve turns is not looked up on the data: the rules compare the two ends of each seed's curve with the "
        "average of the epochs between them, which is zero on average on a curve without the claimed shape.",
        "",
    ]
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
    if len(ranges) == 2:
        changes = []
        for depth, lr in settings.itertuples(index=False):
            for record in CLAIMS:
                a = indexed["trajectory"].loc[(depth, lr, record.number)]
                b = indexed["with-epoch-0"].loc[(depth, lr, record.number)]
                if (a.verdict, a.finding) != (b.verdict, b.finding):
                    changes.append(
                        f"({record.number}) at depth {depth}, lr {format_lr(lr)}: {a.verdict} ({a.finding}) "
                        f"→ {b.verdict} ({b.finding})"
                    )
        total = len(settings) * len(CLAIMS)
        if changes:
            lines += [
                f"Including epoch 0 changes {len(changes)} of {total} verdicts: " + "; ".join(changes) + ".",
                "",
            ]
        else:
            lines += [f"Including epoch 0 changes none of the {total} verdicts.", ""]

    lines += [TESTS_HEADING, ""]
    for record in CLAIMS:
        for key, epochs in ranges:
            tests = results[key][1]
            lines += [
                f'<a id="{_anchor(record.number, key)}"></a>',
                "",
                f"#### ({record.number}) {names[key]}, epochs {_epochs_text(epochs)}",
                "",
                f"*{record.statement}* Effect: one number per seed, in {record.unit}; its mean over seeds, "
                f"{CONFIDENCE:.0%} t interval, the seeds where it is above zero, one-sided p and Holm p over the "
                f"claim's {int((tests['claim'] == record.number).sum() // max(len(settings), 1))} tests.",
                "",
                _detail_table(tests, record),
                "",
            ]
    return "\n".join(lines).rstrip("\n")
