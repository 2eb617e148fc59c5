"""The one entry point of the pipeline's steps: ``python -m localregions.pipeline``.

Commands::

    run --job SPEC               run one job as a Snakemake rule does (SPEC: the JSON the plan made)
    show [OVERRIDES...]          print the composed settings, per-model ones included
    check-comparison FILE        exit 1 unless FILE (a comparison.md) says the run matches its reference
    refresh-reference [OVERRIDES...]
                                 copy the experiment's finished results into reference/<name>/ (on purpose)

To run one step alone, ask Snakemake for its output (it runs what that needs, and nothing else)::

    snakemake --cores 1 results/smoke/runs/mlp3_lr0.001 --config 'overrides=["experiment=smoke"]'
    python -m localregions.pipeline show bounds.radius=0.2
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

__all__ = ["main"]

log = logging.getLogger("localregions")


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def _plan(overrides):
    from .plan import SettingsError, plan_experiments

    try:
        return plan_experiments(overrides)
    except SettingsError as error:
        sys.exit(f"localregions: bad setting: {error}")


def _show(overrides: list[str]) -> None:
    from .settings import settings_yaml

    print(settings_yaml(_plan(overrides).settings_report()), end="")


def _check_comparison(path: str) -> None:
    from ..reporting.comparison import headline_of, matches

    print(headline_of(Path(path)))
    sys.exit(0 if matches(Path(path)) else 1)


def _refresh_reference(overrides: list[str]) -> None:
    from ..reporting.comparison import refresh_reference

    main = _plan(overrides).main
    for path in refresh_reference(main):
        print(f"reference: {path}")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    _configure_logging()
    from .steps import STEPS

    if argv and argv[0] == "run":
        parser = argparse.ArgumentParser(prog="python -m localregions.pipeline run")
        parser.add_argument("--job", required=True, help="the job spec (JSON) the plan made; it names its step")
        arguments = parser.parse_args(argv[1:])
        from .steps import run_job

        spec = json.loads(arguments.job)
        if spec.get("step") not in STEPS:
            sys.exit(f"localregions: the job spec names no known step (got {spec.get('step')!r}; known: {sorted(STEPS)})")
        run_job(spec)
        return
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
        sys.exit(f"localregions: unknown command {command!r}; the commands are run, show, check-comparison and "
                 "refresh-reference")
