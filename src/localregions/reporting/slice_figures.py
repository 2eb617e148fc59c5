"""Pictures of the linear regions on a 2-D slice through a data point (:mod:`localregions.slices`).

Each slice is drawn twice: a wide view at the scale of the data (the decision boundary and a
neighbouring data point in it) and a zoom around the ball, since at the paper's raw 0-255 scale
the ball of radius 0.4 is a speck next to the distances between images.  Regions are filled
with a colour of their own (a hash of the activation pattern, so the colours are the same on
every run), the decision boundary is a black line, the ball's disc a red circle.

The plane of a point is the one spanned by the output's gradient there (the decision boundary
crosses it) and the direction to a neighbouring data point (so a second data point lies in it);
without a neighbour, a random direction.  :func:`slice_grid_figure` keeps one plane per point
for every network of a column, so before and after training are the same plane.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import hsv_to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from ..experiment.storage import atomic_path
from ..regions import boundary_distance
from ..slices import (
    SlicePartition,
    SlicePlane,
    disc_regions,
    gradient_plane,
    output_gradient,
    random_plane,
    slice_partition,
    slice_plane,
)
from ..validation import check_radius

__all__ = ["SlicePoint", "figure_plane", "draw_slice", "slice_grid_figure", "render_slice", "nearest_other"]

# The zoom reaches a little past the centre's own region boundary in the plane, but shows at least
# ZOOM_MIN_RADII radii (the disc fills the view) and at most ZOOM_MAX_RADII (the disc stays visible).
ZOOM_MIN_RADII, ZOOM_MAX_RADII, ZOOM_PAST_BOUNDARY = 3.0, 25.0, 1.3
# The wide view shows the marked points and the decision boundary's distance with this margin.
WIDE_MARGIN = 1.2


@dataclass(frozen=True)
class SlicePoint:
    """A column of :func:`slice_grid_figure`: the ball's centre and, optionally, a neighbour in its plane."""

    label: str
    center: torch.Tensor
    neighbour: torch.Tensor | None = None
    neighbour_label: str = "neighbour"


def nearest_other(point, candidates) -> torch.Tensor:
    """The candidate nearest to ``point`` that is not ``point`` itself (a data point's neighbour)."""
    point = torch.as_tensor(point, dtype=torch.float64)
    candidates = torch.as_tensor(candidates, dtype=torch.float64)
    distances = torch.linalg.vector_norm(candidates - point, dim=1)
    distances[distances == 0] = torch.inf
    if not torch.isfinite(distances).any():
        raise ValueError("candidates hold no point other than point")
    return candidates[int(distances.argmin())]


def figure_plane(network, center, neighbour=None, *, seed: int = 0) -> SlicePlane:
    """The gradient of the output at ``center`` and the direction to ``neighbour`` (else a random one).

    Where the gradient is zero or parallel to the neighbour's direction, the direction to the
    neighbour and a random one; without either, a random plane.
    """
    center = torch.as_tensor(center, dtype=torch.float64)
    second = None if neighbour is None else torch.as_tensor(neighbour, dtype=torch.float64) - center
    try:
        return gradient_plane(network, center, second, seed=seed)
    except ValueError:
        if second is None or not torch.any(second):
            return random_plane(center, seed)
        return slice_plane(center, second, np.random.default_rng(seed).standard_normal(center.shape[0]))


def _pattern_colours(patterns: np.ndarray) -> np.ndarray:
    """A light colour per pattern, from a hash of its bits (stable across runs and machines)."""
    hues = np.array([int.from_bytes(hashlib.blake2b(np.packbits(row).tobytes(), digest_size=4).digest(), "big")
                     for row in patterns], dtype=np.float64) / 2**32
    golden = (hues * 7.0) % 1.0  # spread nearby hashes
    saturation = 0.18 + 0.3 * ((hues * 13.0) % 1.0)
    return hsv_to_rgb(np.stack([golden, saturation, np.full_like(hues, 0.97)], axis=1))


def draw_slice(axes, partition: SlicePartition, *, radius: float | None = None,
               marks: Sequence[tuple[str, np.ndarray]] = (), title: str | None = None,
               zoom_box: float | None = None) -> None:
    """Draw one slice on ``axes``: regions, decision boundary, the ball's disc and the marked points.

    Parameters
    ----------
    axes : matplotlib.axes.Axes
    partition : SlicePartition
        From :func:`localregions.slices.slice_partition`; the axes show its window.
    radius : float, optional
        The ball's radius (input units): its disc is drawn around the plane's centre.
    marks : sequence of (label, plane coordinates (2,))
        Points to mark, e.g. the centre and a neighbouring data point.
    title : str, optional
    zoom_box : float, optional
        Half-width of a square drawn around the centre (where a zoomed panel looks).
    """
    axes.add_collection(PolyCollection(partition.polygons(), facecolors=_pattern_colours(partition.patterns),
                                       edgecolors="0.35", linewidths=0.4))
    if len(partition.boundary):
        axes.add_collection(LineCollection(partition.boundary, colors="black", linewidths=2.0))
    s_min, s_max, t_min, t_max = partition.window
    span = max(s_max - s_min, t_max - t_min)
    if radius is not None:
        axes.add_patch(Circle((0.0, 0.0), radius, fill=False, edgecolor="tab:red", linewidth=1.8, zorder=4))
        if radius < 0.01 * span:  # a speck at this scale: ring it so the eye finds it
            axes.add_patch(Circle((0.0, 0.0), 0.02 * span, fill=False, edgecolor="tab:red", linewidth=1.0,
                                  linestyle=":", zorder=4))
    if zoom_box is not None:
        axes.add_patch(Rectangle((-zoom_box, -zoom_box), 2 * zoom_box, 2 * zoom_box, fill=False,
                                 edgecolor="tab:red", linewidth=0.8, linestyle="--", zorder=4))
    # Where the disc is large enough to see, the centre's marker must not hide it.
    centre_size = 3 if radius is not None and radius >= 0.01 * span else 6
    for index, (label, point) in enumerate(marks):
        axes.plot(point[0], point[1], marker="o" if index == 0 else "s", markersize=centre_size if index == 0 else 6,
                  color="tab:blue", markeredgecolor="white", markeredgewidth=0.5, zorder=5)
        # The centre's label below it, the others' above, so that near points keep apart.
        axes.annotate(label, (point[0], point[1]), xytext=(5, -11 if index == 0 else 5), textcoords="offset points",
                      fontsize=8, color="tab:blue", zorder=5)
    axes.set_xlim(s_min, s_max)
    axes.set_ylim(t_min, t_max)
    axes.set_aspect("equal")
    axes.tick_params(labelsize=7)
    if title:
        axes.set_title(title, fontsize=9)


def _logits(network, center: torch.Tensor) -> np.ndarray:
    dtype = next(network.parameters()).dtype
    with torch.no_grad():
        return network(center.to(dtype)).double().numpy()


def _wide_half_width(network, plane: SlicePlane, marks, radius: float) -> float:
    """Half-width of the wide view: the marked points and the decision boundary, were the logit affine."""
    center = torch.from_numpy(plane.center)
    distances = [float(np.max(np.abs(point))) for _, point in marks[1:]]
    gradient = output_gradient(network, center)
    logits = _logits(network, center)
    margin = logits[0] if len(logits) == 1 else np.diff(np.sort(logits)[-2:])[0]
    if np.any(gradient):
        distances.append(abs(float(margin)) / float(np.linalg.norm(gradient)))
    return WIDE_MARGIN * max([*distances, 4.0 * ZOOM_MIN_RADII * radius])


def _zoom_half_width(partition: SlicePartition, radius: float) -> float:
    """Half-width of the zoom: just past the nearest other region in the plane, within the radii limits."""
    distances = partition.distances_to_center()
    others = distances[distances > 0]
    nearest = float(others.min()) if len(others) else np.inf
    return float(np.clip(ZOOM_PAST_BOUNDARY * nearest, ZOOM_MIN_RADII * radius, ZOOM_MAX_RADII * radius))


def _marks(plane: SlicePlane, point: SlicePoint) -> list[tuple[str, np.ndarray]]:
    marks = [(point.label, np.zeros(2))]
    if point.neighbour is not None:
        marks.append((point.neighbour_label, plane.coordinates(np.asarray(point.neighbour, dtype=np.float64)[None])[0]))
    return marks


def _describe(partition: SlicePartition, radius: float, view: str) -> str:
    if view == "wide":
        return f"{len(partition)} regions in view"
    count = len(disc_regions(partition, radius))
    return f"zoom: the ball (r={radius:g}) meets {count} region{'s' if count != 1 else ''}"


def _partitions(networks, plane: SlicePlane, marks, radius: float, max_regions: int):
    """Per network, the wide and the zoomed partition; one wide and one zoom size for all of them."""
    wide = max(_wide_half_width(network, plane, marks, radius) for network in networks)
    wide_partitions = [slice_partition(network, plane, wide, max_regions=max_regions) for network in networks]
    zoom = min(_zoom_half_width(partition, radius) for partition in wide_partitions)
    zoom_partitions = [slice_partition(network, plane, zoom, max_regions=max_regions) for network in networks]
    return wide_partitions, zoom_partitions, zoom


def slice_grid_figure(networks: Sequence[tuple[str, object]], points: Sequence[SlicePoint], radius: float, *,
                      plane_network: int = -1, seed: int = 0, max_regions: int = 100_000) -> Figure:
    """Slices through several points (columns) for several networks (row pairs: wide view, zoom).

    Parameters
    ----------
    networks : sequence of (label, network)
        E.g. ``[("before training", net0), ("after training", net20)]``: ``nn.Sequential`` MLPs
        (the output layer gives the decision boundary).
    points : sequence of SlicePoint
        E.g. a training, a testing and a random point, each with a neighbouring data point.
    radius : float
        The ball's radius in input units.
    plane_network : int, default -1
        Which network's gradient spans each point's plane (the same plane, window and zoom in
        every row, so the rows compare like with like); by default the last (the trained one).
    seed : int
        For the random direction where a point has no neighbour.
    max_regions : int
        Budget of each partition (see :func:`localregions.slices.slice_partition`).

    Returns
    -------
    matplotlib.figure.Figure
        ``2 * len(networks)`` rows (each network's wide view, then its zoom) by ``len(points)``.
    """
    radius = check_radius(radius)
    if not networks or not points:
        raise ValueError("networks and points must each hold at least one entry")
    figure = Figure(figsize=(4.2 * len(points), 4.1 * 2 * len(networks)), layout="constrained")
    grid = figure.subplots(2 * len(networks), len(points), squeeze=False)
    for column, point in enumerate(points):
        plane = figure_plane(networks[plane_network][1], point.center, point.neighbour, seed=seed)
        marks = _marks(plane, point)
        wides, zooms, zoom = _partitions([network for _, network in networks], plane, marks, radius, max_regions)
        for row, (label, _) in enumerate(networks):
            draw_slice(grid[2 * row, column], wides[row], radius=radius, marks=marks, zoom_box=zoom,
                       title=_describe(wides[row], radius, "wide"))
            draw_slice(grid[2 * row + 1, column], zooms[row], radius=radius, marks=marks[:1],
                       title=_describe(zooms[row], radius, "zoom"))
            if column == 0:
                grid[2 * row, 0].set_ylabel(f"{label}\nwide view", fontsize=10)
                grid[2 * row + 1, 0].set_ylabel(f"{label}\naround the ball", fontsize=10)
        grid[0, column].set_title(f"{point.label}\n{grid[0, column].get_title()}", fontsize=10)
    figure.suptitle("Linear regions on a plane through each point, spanned by the output's gradient and the "
                    "direction to a neighbouring data point\n(same plane in every row; black: decision boundary; "
                    "red: the ball, ringed where it is a speck; dashed: the zoomed square)", fontsize=11)
    return figure


def render_slice(network, point, radius: float, path: str | Path, *, neighbour=None, seed: int = 0,
                 dpi: int = 150, max_regions: int = 100_000) -> Path:
    """Draw one slice through ``point`` (wide view and zoom around the ball) and write it to ``path`` as a PNG.

    What ``localregions slice MODEL POINT --radius R -o slice.png`` calls.  ``network`` is an
    ``nn.Sequential`` MLP; ``neighbour`` (another data point) spans the plane with the output's
    gradient, a random direction drawn with ``seed`` where it is None (:func:`figure_plane`).
    Written atomically; returns the path.
    """
    radius = check_radius(radius)
    center = torch.as_tensor(point, dtype=torch.float64)
    plane = figure_plane(network, center, neighbour, seed=seed)
    marks = _marks(plane, SlicePoint("point", center, None if neighbour is None else torch.as_tensor(neighbour)))
    (wide,), (zoomed,), zoom = _partitions([network], plane, marks, radius, max_regions)
    figure = Figure(figsize=(10, 5.2), layout="constrained")
    left, right = figure.subplots(1, 2)
    draw_slice(left, wide, radius=radius, marks=marks, zoom_box=zoom, title=_describe(wide, radius, "wide"))
    draw_slice(right, zoomed, radius=radius, marks=marks[:1], title=_describe(zoomed, radius, "zoom"))
    for axes in (left, right):
        axes.set_xlabel("s: first direction (input units)", fontsize=8)
    left.set_ylabel("t: second direction (input units)", fontsize=8)
    figure.suptitle("Linear regions on a plane through the point (black: decision boundary; red: the ball)",
                    fontsize=10)
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=dpi, metadata={"Software": None})
    return path
