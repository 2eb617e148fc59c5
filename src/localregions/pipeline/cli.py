"""The pipeline's commands outside Snakemake: ``python -m localregions.pipeline``.

Commands::

    show [OVERRIDES...]          print the composed settings, per-model ones included
    check-comparison FILE        print FILE's (a comparison.md) outcome; exit 1 only if it is `differs`
    refresh-reference [OVERRIDES...]
                                 copy the experiment's finished results into reference/<name>/ (on purpose)

The steps themselves run as Snakemake rules (their scripts are ``scripts/<rule>.py``). To run one
alone, ask Snakemake for its output (it runs what that needs, and nothing else)::

    snakemake --cores 1 results/smoke/runs/mlp3_lr0.001/MANIFEST.json --config 'overrides=["experiment=smoke"]'
    python -m localregions.pipeline show bounds.radius=0.2
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["main"]

log = logging.getLogger("localregions")


def _plan(overrides):
    from .plan import SettingsError, plan_experiments

    try:
        return plan_experiments(overrides)
    except SettingsError as error:
        sys.exit(f"localregions: bad setting: {error}")


def _show(overrides: list[str]) -> None:
    from .compose import settings_yaml

    print(settings_yaml(_plan(overrides).main.settings_values()), end="")


def _check_comparison(path: str) -> None:
    from ..reporting.comparison import headline_of, matches

    print(headline_of(Path(path)))
    sys.exit(0 if matches(Path(path)) else 1)


def _refresh_reference(overrides: list[str]) -> None:
    from ..reporting.comparison import refresh_reference
    from ..reporting.products import result_table

    main = _plan(overrides).main
    layout = main.layout
    tables = {name: (layout.table(name), layout.reference_table(name)) for name in main.result_tables()}
    figures = {stem: (layout.figure(stem), layout.reference_figure(stem)) for _, stem in main.figures()}
    # A figure is made from those of its tables the experiment makes (methods without tightness when that is off);
    # one drawn by a rule of its own (the slices) is written beside that rule's table, not from the others.
    made_from = {stem: tuple(name for name in figure.tables if name in tables)
                 or tuple(name for name in tables if result_table(name).study == figure.study)
                 for figure, stem in main.figures()}
    try:
        copied = refresh_reference(tables, (layout.report, layout.reference_report), figures,
                                   figures_link=layout.figures_from_report, experiment=main.id, made_from=made_from)
    except (FileNotFoundError, RuntimeError) as error:
        sys.exit(f"localregions: {error}")
    for path in copied:
        print(f"reference: {path}")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    command, rest = argv[0], argv[1:]
    if command == "show":
        _show(rest)
    elif command == "check-comparison" and len(rest) == 1:
        _check_comparison(rest[0])
    elif command == "refresh-reference":
        _refresh_reference(rest)
    else:
        sys.exit(f"localregions: unknown command {command!r}; the commands are show, check-comparison and "
                 "refresh-reference")
