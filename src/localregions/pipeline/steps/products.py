"""summaries -> figures, the comparison with the committed reference, the report."""

from __future__ import annotations

import logging
from pathlib import Path

from ..settings import ReferenceConfig

__all__ = ["figures", "compare", "report"]

log = logging.getLogger(__name__)


def _by_name(paths) -> dict[str, str]:
    """Result tables and figures by name: a table's file is ``<name>.csv``, a figure's ``<stem>.png`` (layout.py)."""
    return {Path(path).name.split(".")[0]: str(path) for path in paths}


def figures(*, tables: list[str], outputs: list[str], radius: float, norm: str) -> None:
    """Every figure of ``outputs`` (PNG and PDF; their stems name the figures), drawn from ``tables`` by the module
    its registry entry names (reporting/products.py: the paper's figures, or the motivation's)."""
    import importlib

    from ...reporting.products import figure_spec

    by_module: dict[str, list[str]] = {}
    for path in outputs:
        by_module.setdefault(figure_spec(Path(path).name.split(".")[0])[0].module, []).append(path)
    for module, paths in by_module.items():
        drawing = importlib.import_module(f"localregions.reporting.{module}")
        drawing.draw_figures(_by_name(tables), paths, radius=radius, norm=norm)


def compare(*, tables: list[str], references: list[str], figures: list[str], reference_figures: list[str],
            reference_dir: str, output: str, experiment: str, reference: ReferenceConfig) -> None:
    """Hold each fresh table (and, for information, each PNG figure) against its reference copy of the same name.

    The outcome (identical, agrees or differs) goes into ``output``, the job's log and, through the
    Snakefile's ``onsuccess``, the end of the run's output.
    """
    from ...reporting.comparison import Tolerance, compare_with_reference

    held, figure_copies = _by_name(references), _by_name(reference_figures)
    pairs = {name: (path, held.get(name)) for name, path in _by_name(tables).items()}
    figure_pairs = {Path(path).name: (path, figure_copies[name]) for name, path in _by_name(figures).items()
                    if name in figure_copies}
    outcome = compare_with_reference(pairs, figure_pairs, experiment=experiment, reference_dir=reference_dir,
                                     tolerance=Tolerance(reference.rtol, reference.atol, reference.seed_se),
                                     output=output)
    # The line the end of a run shows (the Snakefile's onsuccess prints it too).
    log.info("%s", outcome.headline)


def report(*, tables: list[str], methods_timing: list[str], comparison: str, figures: list[str], output: str,
           experiment: str, settings: dict, studies: list[str], radius: float, norm: str) -> None:
    """The Markdown report of one experiment from its result tables, figures and comparison; an experiment that runs
    ``studies`` of the paper's motivation gets their report instead of the paper's."""
    if studies:
        from ...reporting.motivation_report import write_motivation_report

        write_motivation_report(output, experiment=experiment, settings=settings, studies=studies,
                                tables=_by_name(tables), comparison=comparison,
                                figures=[path for path in figures if path.endswith(".png")], radius=radius, norm=norm)
        return
    from ...reporting.markdown import write_report

    write_report(output, experiment=experiment, settings=settings, tables=_by_name(tables),
                 methods_timing=methods_timing[0] if methods_timing else None, comparison=comparison,
                 figures=[path for path in figures if path.endswith(".png")], radius=radius, norm=norm)
