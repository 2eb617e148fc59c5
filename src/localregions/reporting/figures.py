"""The pipeline's figures: one adapter per registered figure, the drawing of a rule's outputs, the writer.

:func:`draw_figures` draws the figures a rule declares: each output's stem names a
:class:`~localregions.reporting.products.FigureSpec`, whose ``draw`` names one adapter of this module
(``draw_<figure>(tables, radius=, norm=, depth=)``), which calls the figure's function.  The figure
functions take tables read from CSV files (see ``experiment/tables.py`` for the columns) and return a
``matplotlib.figure.Figure`` built with the object API, so no pyplot state or GUI backend is involved:
the curves over training in :mod:`.training_figures`, one figure per study in :mod:`.study_figures`
(both re-exported here).  :func:`save_figure` writes a PNG and a PDF atomically and without timestamps.

To add a figure: its function (in a figure module), its adapter here, and its
:class:`~localregions.reporting.products.FigureSpec` with a caption (see :mod:`.products`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ..experiment.storage import atomic_path, read_csv
from .figure_style import choose_yscale
from .products import FIGURES, figure_spec
from .study_figures import METHOD_STYLE, VERDICT_COLOURS, methods_figure, radius_sweep_figure, tightness_figure, \
    variant_claims_figure
from .training_figures import boundary_distance_figure, figure3, untrained_depth_figure

__all__ = [
    "figure3",
    "untrained_depth_figure",
    "boundary_distance_figure",
    "tightness_figure",
    "radius_sweep_figure",
    "methods_figure",
    "variant_claims_figure",
    "METHOD_STYLE",
    "VERDICT_COLOURS",
    "choose_yscale",
    "save_figure",
    "draw_figures",
]


def save_figure(fig: Figure, stem: str | Path, dpi: int = 150) -> tuple[Path, Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf``, each atomically and without a timestamp.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    stem : str or pathlib.Path
        Output path without suffix (a suffix is appended, not substituted, so dots in the name stay).
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and PDF paths.
    """
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi!r}")
    stem = Path(stem)
    png, pdf = Path(f"{stem}.png"), Path(f"{stem}.pdf")
    # Without these entries the files carry the matplotlib version and the time of writing.
    with atomic_path(png) as temporary:
        fig.savefig(temporary, format="png", dpi=dpi, metadata={"Software": None})
    with atomic_path(pdf) as temporary:
        fig.savefig(temporary, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    return png, pdf


def _lrs(by_setting: pd.DataFrame) -> list[float]:
    return sorted({float(lr) for lr in by_setting["lr"]}, reverse=True)


# One adapter per figure of the registry (reporting/products.py: FigureSpec.draw names it), all with the same
# signature: the result tables by name, the experiment's radius and norm, and the depth of a per-depth figure.
def draw_figure3(tables, *, radius, norm, depth):
    by_setting = tables["summary_by_setting"]
    if depth not in set(by_setting["depth"]):
        # The rule declares a figure per depth of the grid; the summary keeps only the runs that trained.
        return untrained_depth_figure(depth, radius)
    return figure3(by_setting, depth, radius, lrs=_lrs(by_setting), norm=norm)


def draw_boundary_distance(tables, *, radius, norm, depth=None):
    by_setting = tables["summary_by_setting"]
    depths = sorted(int(d) for d in by_setting["depth"].unique())
    return boundary_distance_figure(by_setting, depths, radius, lrs=_lrs(by_setting), norm=norm)


def draw_radius_sweep(tables, *, radius, norm, depth=None):
    return radius_sweep_figure(tables["radius_sweep"])


def draw_tightness(tables, *, radius, norm, depth=None):
    return tightness_figure(tables["tightness"])


def draw_methods(tables, *, radius, norm, depth=None):
    return methods_figure(tables["methods"], tables.get("tightness"))


def draw_variant_claims(tables, *, radius, norm, depth=None):
    return variant_claims_figure(tables["variant_claims"])


def draw_figures(tables: Mapping[str, str | Path], outputs: Sequence[str | Path], *, radius: float,
                 norm: str | None = None) -> list[Path]:
    """Draw every figure of ``outputs`` (PNG and PDF files whose stems name registered figures) from ``tables``.

    ``tables`` maps result-table names (``summary_by_setting``, ``radius_sweep``, ``tightness``,
    ``methods``, ``variant_claims``) to CSV paths; each figure reads the tables its
    :class:`~localregions.reporting.products.FigureSpec` names. A per-depth figure is drawn for the
    depth its stem names, which the rule takes from the grid: a depth none of whose runs trained
    has no rows in ``summary_by_setting`` and gets a figure that says so.
    """
    frames = {name: read_csv(path) for name, path in tables.items()}
    stems = list(dict.fromkeys(Path(path).with_suffix("") for path in outputs))
    planned = []
    for stem in stems:  # every stem known before drawing any, so that a misnamed output leaves no half-written set
        try:
            spec, depth = figure_spec(stem.name)
        except KeyError:
            spec = None
        if spec is None or spec.draw is None:
            drawn = [f.stem for f in FIGURES if f.draw is not None]
            raise ValueError(f"no figure drawn from tables is named {stem.name!r}; they are {drawn}") from None
        # A per-depth stem may name a depth the tables lack (every run at it failed): its figure says so.
        planned.append((stem, spec, depth))
    written = []
    for stem, spec, depth in planned:
        written += save_figure(globals()[spec.draw](frames, radius=radius, norm=norm, depth=depth), stem)
    return written
