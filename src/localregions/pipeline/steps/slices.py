"""checkpoints -> exact 2-D slices of the linear regions through one point of each set (rule ``slices``).

For every (model, lr) of the grid, the run of grid seed ``slices.seed`` (by default the first)
before training (its first checkpoint) and after (its last), on a plane through one point of each
of ``slices.datasets``: one figure per hidden depth (a row per learning rate and epoch, a wide view
and a zoom around the ball per point) and one table of what each panel shows (the regions meeting
the ball's disc, the regions in the zoom and in the wide view, whether the decision boundary
crosses the disc).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ...vocabulary import DATASET_LABELS, run_id
from ..settings import GridJob, RuntimeConfig
from .measures import point_sets_of

__all__ = ["slices"]

log = logging.getLogger(__name__)

PLANE_WORDS = {
    "gradient": "spanned by the trained network's output gradient at the point and the direction to its nearest "
                "neighbour in its set (one plane per learning rate, the same before and after training)",
    "points": "through its two nearest neighbours in its set (the same plane in every row)",
    "random": "spanned by two random directions (the same plane in every row)",
}
UNITS = {"raw": "grey levels", "unit": "0-1 units"}
# Two dozen panels of thousands of coloured polygons: at 150 dpi each PNG is over 2 MB, at 100 dpi half that.
FIGURE_DPI = 100


def _points(point_sets: str, datasets: list[str], index: int) -> list:
    """One SlicePoint per dataset: its point ``index`` and that point's two nearest neighbours in the set."""
    from ...reporting.slice_figures import SlicePoint, nearest_others

    points = []
    for dataset, data in point_sets_of(point_sets, datasets).items():
        if index >= data.shape[0]:
            raise ValueError(f"slices.point={index} is past the {data.shape[0]} points of set {dataset}")
        neighbours = nearest_others(data[index], data, 2)
        points.append(SlicePoint(f"{DATASET_LABELS[dataset]} point #{index}", data[index],
                                 (("nearest", neighbours[0]), ("2nd nearest", neighbours[1]))))
    return points


def _networks(jobs: list[GridJob], runs: list[str], seed: int | None) -> list[tuple[GridJob, int, int, object]]:
    """(job, seed, epoch, network) for the first and last checkpoints of ``seed`` (None: each job's first seed) in
    every job; runs that failed are left out."""
    from ...experiment.run_files import TrainingJob

    networks = []
    for job, manifest in zip(jobs, runs, strict=True):
        run_seed = job.seeds[0] if seed is None else seed
        if run_seed not in job.seeds:
            raise ValueError(f"slices.seed={seed} is not among the seeds {list(job.seeds)} of the grid")
        training = TrainingJob.read(manifest)
        status = training.seed_runs([run_seed])[0].status
        if status != "ok":
            log.warning("%s %s: no slice of it", run_id(job.model, job.lr, run_seed), status)
            continue
        loaded = [(job, run_seed, epoch, model) for _, epoch, model in training.networks([run_seed], ends=True)]
        log.info("%s: epochs %s", run_id(job.model, job.lr, run_seed), [epoch for _, _, epoch, _ in loaded])
        networks += loaded
    return networks


def slices(*, runs: list[str], point_sets: str, table: str, figures: list[str], jobs: list[GridJob], radius: float,
           scale: str, seed: int | None, datasets: list[str], point: int, plane: str, plane_seed: int, window: float | None,
           max_regions: int, runtime: RuntimeConfig) -> None:
    """The slice figures (PNG and PDF per depth, ``figures``) and their numbers (``table``) of the grid's networks.

    ``radius`` is the ball's (``bounds.radius``), ``scale`` the inputs' (``data.scale``, for the axes' units); the
    others are the ``slices`` settings (:class:`~localregions.pipeline.settings.SlicesConfig`).
    """
    import pandas as pd
    from matplotlib.figure import Figure

    from ...experiment.storage import write_csv
    from ...reporting.figures import save_figure
    from ...reporting.products import figure_spec
    from ...reporting.slice_figures import panel_counts, slice_grid_figure, slice_panels
    from ..runtime import torch_device

    torch_device(runtime)
    points = _points(point_sets, datasets, point)
    networks = _networks(jobs, runs, seed)
    stems = {figure_spec(Path(path).stem)[1]: Path(path).with_suffix("") for path in figures}
    rows = []
    for depth in sorted({job.depth for job in jobs}):
        drawn = [network for network in networks if network[0].depth == depth]
        if not drawn:  # every run of this depth failed: the figure says so
            figure = Figure(figsize=(6, 1.5))
            figure.text(0.5, 0.5, f"No run of {depth} hidden layers trained: nothing to slice.", ha="center")
            save_figure(figure, stems[depth], dpi=FIGURE_DPI)
            continue
        last = {job.lr: index for index, (job, *_) in enumerate(drawn)}  # a job's after-training network
        panels = slice_panels([model for *_, model in drawn], points, radius, plane=plane,
                              plane_networks=[last[job.lr] for job, *_ in drawn], seed=plane_seed, window=window,
                              max_regions=max_regions)
        labels = [f"lr {job.lr:g}, epoch {epoch}\n({'before' if epoch == 0 else 'after'} training)"
                  for job, _, epoch, _ in drawn]
        for (job, run_seed, epoch, _), row in zip(drawn, panels):
            for dataset, panel in zip(datasets, row):
                rows.append({"depth": depth, "lr": job.lr, "seed": run_seed, "epoch": epoch, "dataset": dataset,
                             "point": point, "plane": plane, "radius": radius, **panel_counts(panel, radius)})
        seeds = ", ".join(str(s) for s in dict.fromkeys(run_seed for _, run_seed, _, _ in drawn))
        title = (f"Exact linear regions, {depth} hidden layers (seed {seeds}), on a plane through each point\n"
                 f"{PLANE_WORDS[plane]}")
        figure = slice_grid_figure(panels, labels, [point.label for point in points], radius, title=title,
                                   units=UNITS.get(scale, "input units"))
        save_figure(figure, stems[depth], dpi=FIGURE_DPI)
        log.info("depth %d: %d networks x %d points sliced", depth, len(drawn), len(points))
    write_csv(pd.DataFrame(rows), table)
