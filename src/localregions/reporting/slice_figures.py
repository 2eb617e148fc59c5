"""Pictures of the linear regions on a 2-D slice through a data point (:mod:`localregions.slices`).

Each slice is drawn twice, side by side: a wide view at the scale of the data (the decision
boundary and the neighbouring data points in it) and a zoom around the ball, since at the
paper's raw 0-255 scale the ball of radius 0.4 is a speck next to the distances between images.
Regions are filled with a colour of their own (a hash of the activation pattern, so the colours
are the same on every run), the decision boundary is a black line, the ball's disc a red circle.

The plane of a point (:func:`point_plane`) is one of

* ``"gradient"``: the output's gradient there (the decision boundary crosses the plane) and the
  direction to its nearest neighbour in its set (so a second data point lies in it);
* ``"points"``: the directions to its two nearest neighbours (three data points in the plane);
* ``"random"``: two standard normal directions drawn with a seed.

:func:`slice_panels` keeps one plane, one wide window and one zoom per point for every network
that shares it (``plane_networks``), so before and after training are the same plane at the same
scale; :func:`slice_grid_figure` draws the panels (a row per network, two columns per point) and
:func:`panel_counts` gives the numbers drawn (regions in view, in the zoom and meeting the disc).
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import hsv_to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch, Rectangle

from ..counting import RegionBudgetExceeded
from ..experiment.storage import atomic_path
from ..layers import network_layers
from ..slices import (
    SlicePartition,
    SlicePlane,
    decision_margin,
    disc_regions,
    gradient_plane,
    plane_through_points,
    random_plane,
    slice_partition,
    slice_plane,
)
from ..validation import check_radius

__all__ = ["PLANES", "SlicePoint", "SlicePanel", "nearest_others", "figure_plane", "point_plane", "slice_panels",
           "panel_counts", "draw_slice", "slice_grid_figure", "render_slice"]

#: How a point's plane is spanned (see the module docstring).
PLANES = ("gradient", "points", "random")
# The zoom reaches a little past the centre's own region boundary in the plane, but shows at least
# ZOOM_MIN_RADII radii (the disc fills the view) and at most ZOOM_MAX_RADII (the disc stays visible).
ZOOM_MIN_RADII, ZOOM_MAX_RADII, ZOOM_PAST_BOUNDARY = 3.0, 10.0, 1.3
# The wide view shows the marked points and the decision boundary's distance with this margin.
WIDE_MARGIN = 1.2
BOUNDARY_REACH = 3.0
# A data point this close to a plane (relative to its distance from the centre) lies in it and is marked.
IN_PLANE = 1e-9


@dataclass(frozen=True)
class SlicePoint:
    """A column of :func:`slice_grid_figure`: the ball's centre and other data points near it.

    ``neighbours`` are ``(label, point)`` pairs, nearest first: the plane goes through the first
    (``"gradient"``) or the first two (``"points"``); those lying in the plane are marked.
    """

    label: str
    center: torch.Tensor
    neighbours: tuple = ()


@dataclass(frozen=True)
class SlicePanel:
    """One network on one point's plane: the wide and the zoomed partition, and the points marked."""

    plane: SlicePlane
    wide: SlicePartition
    zoom: SlicePartition
    marks: tuple  # ((label, plane coordinates (2,)), ...), the centre first


def nearest_others(point, candidates, count: int = 1) -> list[torch.Tensor]:
    """The ``count`` candidates nearest to ``point`` that are not ``point`` itself (a data point's neighbours)."""
    point = torch.as_tensor(point, dtype=torch.float64)
    candidates = torch.as_tensor(candidates, dtype=torch.float64)
    distances = torch.linalg.vector_norm(candidates - point, dim=1)
    distances[distances == 0] = torch.inf
    if int(torch.isfinite(distances).sum()) < count:
        raise ValueError(f"candidates hold fewer than {count} points other than point")
    return [candidates[int(i)] for i in torch.argsort(distances, stable=True)[:count]]


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


def point_plane(kind: str, network, point: SlicePoint, *, seed: int = 0) -> SlicePlane:
    """The plane of ``point``: ``"gradient"`` (of ``network``), ``"points"`` or ``"random"`` (see the module)."""
    neighbours = [torch.as_tensor(p, dtype=torch.float64) for _, p in point.neighbours]
    if kind == "gradient":
        return figure_plane(network, point.center, neighbours[0] if neighbours else None, seed=seed)
    if kind == "points":
        if len(neighbours) < 2:
            raise ValueError(f"plane 'points' needs two other data points beside {point.label!r}, got {len(neighbours)}")
        return plane_through_points(point.center, neighbours[0], neighbours[1])
    if kind == "random":
        return random_plane(point.center, seed)
    raise ValueError(f"plane must be one of {list(PLANES)}, got {kind!r}")


def _marks(plane: SlicePlane, point: SlicePoint) -> tuple:
    """The centre and the neighbours that lie in the plane, in plane coordinates."""
    marks = [(point.label, np.zeros(2))]
    for label, other in point.neighbours:
        other = np.asarray(torch.as_tensor(other, dtype=torch.float64))[None]
        reach = np.linalg.norm(other[0] - plane.center)
        if plane.distances(other)[0] <= IN_PLANE * max(reach, 1.0):
            marks.append((label, plane.coordinates(other)[0]))
    return tuple(marks)


def _wide_half_width(network, plane: SlicePlane, marks, radius: float) -> float:
    """Half-width of the wide view: the marked points and the decision boundary, were the logit affine.

    A decision boundary more than ``BOUNDARY_REACH`` times as far as the farthest marked point is left
    out of view (at the scale of the data it would show thousands of regions far from any of it).
    """
    distances = [float(np.max(np.abs(point))) for _, point in marks[1:]]
    try:
        margin, gradient = decision_margin(network, plane.center)
    except ValueError:  # no output layer: no decision boundary to show
        margin, gradient = 0.0, np.zeros(1)
    if np.any(gradient):
        boundary = abs(margin) / float(np.linalg.norm(gradient))
        if not distances or boundary <= BOUNDARY_REACH * max(distances):
            distances.append(boundary)
    return WIDE_MARGIN * max([*distances, 4.0 * ZOOM_MIN_RADII * radius])


def _zoom_half_width(partition: SlicePartition, radius: float) -> float:
    """Half-width of the zoom: just past the nearest other region in the plane, within the radii limits."""
    distances = partition.distances_to_center()
    others = distances[distances > 0]
    nearest = float(others.min()) if len(others) else np.inf
    return float(np.clip(ZOOM_PAST_BOUNDARY * nearest, ZOOM_MIN_RADII * radius, ZOOM_MAX_RADII * radius))


def slice_panels(networks: Sequence, points: Sequence[SlicePoint], radius: float, *, plane: str = "gradient",
                 plane_networks: Sequence[int] | None = None, seed: int = 0, window: float | None = None,
                 max_regions: int = 100_000) -> list[list[SlicePanel]]:
    """The panels ``[row][column]`` of every network (row) on every point's plane (column).

    Parameters
    ----------
    networks : sequence of networks
        Anything :func:`localregions.layers.network_layers` folds; the output layer gives the
        decision boundary.
    points : sequence of SlicePoint
    radius : float
        The ball's radius in input units (its disc is the ball's intersection with the plane).
    plane : ``"gradient"``, ``"points"`` or ``"random"``
        How each point's plane is spanned (:func:`point_plane`).
    plane_networks : sequence of int, optional
        Per row, the network whose gradient spans its planes; rows naming the same network share
        their planes, windows and zooms (before and after training compare like with like).  By
        default every row uses the last network.  Only ``"gradient"`` planes depend on a network:
        with the others every row shares one plane per point.
    seed : int
        Draws the random directions (``"random"``, or ``"gradient"`` without a neighbour).
    window : float, optional
        Half-width of the wide view in input units; by default it holds the marked points and the
        decision boundary's distance were the output affine (at least 12 radii), halved (down to 4
        radii) while it would hold more than ``max_regions`` regions.
    max_regions : int
        Budget of each partition (:func:`localregions.slices.slice_partition`); a ``window`` given
        that exceeds it raises :class:`~localregions.counting.RegionBudgetExceeded`.
    """
    radius = check_radius(radius)
    if not networks or not points:
        raise ValueError("networks and points must each hold at least one entry")
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {list(PLANES)}, got {plane!r}")
    if window is not None:
        window = check_radius(window, "window")
        if window < radius:
            raise ValueError(f"window {window} must be at least the radius {radius}: the disc must fit the view")
    folded = [network_layers(network) for network in networks]
    rows = list(plane_networks) if plane_networks is not None else [len(folded) - 1] * len(folded)
    if len(rows) != len(folded) or not all(0 <= r < len(folded) for r in rows):
        raise ValueError(f"plane_networks must name one of the {len(folded)} networks per network, got {rows}")
    if plane != "gradient":
        rows = [rows[0]] * len(rows)
    panels: list[list] = [[None] * len(points) for _ in folded]
    for column, point in enumerate(points):
        for owner in dict.fromkeys(rows):
            members = [row for row, r in enumerate(rows) if r == owner]
            surface = point_plane(plane, folded[owner], point, seed=seed)
            marks = _marks(surface, point)
            if window:
                wides = {row: slice_partition(folded[row], surface, window, max_regions=max_regions) for row in members}
            else:
                wide = max(_wide_half_width(folded[row], surface, marks, radius) for row in members)
                wides = _fitting_wide_views(folded, members, surface, wide, radius, max_regions)
            zoom = min(_zoom_half_width(partition, radius) for partition in wides.values())
            for row in members:
                panels[row][column] = SlicePanel(surface, wides[row],
                                                 slice_partition(folded[row], surface, zoom, max_regions=max_regions),
                                                 marks)
    return panels


def _fitting_wide_views(folded, members, surface, wide: float, radius: float, max_regions: int) -> dict:
    """The wide views of ``members`` at half-width ``wide``, halved (down to 4 radii) until each holds at most
    ``max_regions`` regions: an automatic view too large for the budget (a wide CNN) shows less, not nothing."""
    while True:
        try:
            return {row: slice_partition(folded[row], surface, wide, max_regions=max_regions) for row in members}
        except RegionBudgetExceeded:
            if wide / 2 < 4 * radius:
                raise
            wide /= 2


def panel_counts(panel: SlicePanel, radius: float) -> dict:
    """What a panel shows, in numbers: the regions meeting the disc, in the zoom and in the wide view."""
    boundary = panel.zoom.boundary
    # The decision boundary crosses the disc where one of its segments comes within the radius of the centre.
    ends, direction = boundary[:, 0], boundary[:, 1] - boundary[:, 0]
    along = np.clip(-(ends * direction).sum(axis=1) / np.maximum((direction**2).sum(axis=1), 1e-300), 0.0, 1.0)
    nearest = np.linalg.norm(ends + along[:, None] * direction, axis=1)
    return {"disc_regions": len(disc_regions(panel.zoom, radius)),
            "boundary_in_disc": bool(len(boundary) and nearest.min() < radius),
            "zoom_half_width": panel.zoom.window[1], "zoom_regions": len(panel.zoom),
            "view_half_width": panel.wide.window[1], "view_regions": len(panel.wide)}


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
    # Thousands of regions: thinner edges, or the edges hide the regions.
    axes.add_collection(PolyCollection(partition.polygons(), facecolors=_pattern_colours(partition.patterns),
                                       edgecolors="0.35", linewidths=0.4 if len(partition) < 2000 else 0.15))
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


def _legend_handles(radius: float) -> list:
    return [Patch(facecolor=hsv_to_rgb([0.3, 0.35, 0.97]), edgecolor="0.35", label="a linear region (colour: its pattern)"),
            Line2D([], [], color="black", linewidth=2.0, label="decision boundary"),
            Line2D([], [], color="tab:red", linewidth=1.8, marker="o", markerfacecolor="none", linestyle="none",
                   markersize=9, label=f"the ball's disc (radius {radius:g})"),
            Line2D([], [], color="tab:red", linewidth=0.8, linestyle="--", label="the zoomed square"),
            Line2D([], [], color="tab:blue", marker="o", linestyle="none", label="the point (centre)"),
            Line2D([], [], color="tab:blue", marker="s", linestyle="none", label="another data point in the plane")]


def slice_grid_figure(panels: Sequence[Sequence[SlicePanel]], row_labels: Sequence[str],
                      column_labels: Sequence[str], radius: float, *, title: str | None = None,
                      units: str = "input units") -> Figure:
    """Draw :func:`slice_panels`'s panels: a row per network, a wide view and a zoom per point side by side.

    ``row_labels`` name the networks (``"lr 0.02, epoch 0"``), ``column_labels`` the points; the
    panels' titles give the regions in view and those the ball's disc meets (as :func:`panel_counts`).
    """
    radius = check_radius(radius)
    if len(row_labels) != len(panels) or any(len(row) != len(column_labels) for row in panels):
        raise ValueError(f"labels ({len(row_labels)} rows, {len(column_labels)} columns) do not fit the panels")
    columns = 2 * len(column_labels)
    figure = Figure(figsize=(3.1 * columns + 0.4, 3.2 * len(panels) + 1.4), layout="constrained")
    grid = figure.subplots(len(panels), columns, squeeze=False)
    for row, (label, panel_row) in enumerate(zip(row_labels, panels)):
        for column, (point_label, panel) in enumerate(zip(column_labels, panel_row)):
            counts = panel_counts(panel, radius)
            wide, zoom = grid[row, 2 * column], grid[row, 2 * column + 1]
            regions = counts["disc_regions"]
            draw_slice(wide, panel.wide, radius=radius, marks=panel.marks, zoom_box=panel.zoom.window[1],
                       title=f"{counts['view_regions']} regions in view")
            draw_slice(zoom, panel.zoom, radius=radius, marks=panel.marks[:1],
                       title=f"zoom: the ball meets {regions} region{'s' if regions != 1 else ''}")
            if row == 0:
                wide.set_title(f"{point_label}: wide view\n{wide.get_title()}", fontsize=10)
                zoom.set_title(f"{point_label}: around the ball\n{zoom.get_title()}", fontsize=10)
            if row == len(panels) - 1:
                for axes in (wide, zoom):
                    axes.set_xlabel(f"s ({units})", fontsize=8)
        grid[row, 0].set_ylabel(f"{label}\nt ({units})" if label else f"t ({units})", fontsize=10)
    title = title or "Linear regions on a plane through each point (the same plane in every row)"
    width = int(11 * (3.1 * columns + 0.4))  # characters of a 12-point line across the figure
    figure.suptitle("\n".join(textwrap.fill(line, width) for line in title.split("\n")), fontsize=12)
    figure.legend(handles=_legend_handles(radius), loc="outside lower center", ncols=6 if columns >= 4 else 2,
                  fontsize=9, frameon=False)
    # Lay the many panels out once, not again for each file written (the layout cost as much as the drawing).
    figure.draw_without_rendering()
    figure.set_layout_engine("none")
    return figure


def render_slice(network, point, radius: float, path: str | Path, *, neighbours: Sequence = (),
                 plane: str = "gradient", seed: int = 0, window: float | None = None, dpi: int = 150,
                 max_regions: int = 100_000) -> tuple[Path, SlicePanel]:
    """Draw one slice through ``point`` (wide view and zoom around the ball) and write it to ``path`` as a PNG.

    What ``localregions slice MODEL POINT --radius R -o slice.png`` calls.  ``neighbours`` are
    other data points, nearest first (the ``"gradient"`` plane goes through the first, ``"points"``
    through two).  Written atomically; returns the path and the panel drawn (its numbers:
    :func:`panel_counts`).
    """
    radius = check_radius(radius)
    others = tuple((f"neighbour {i + 1}", torch.as_tensor(p, dtype=torch.float64)) for i, p in enumerate(neighbours))
    point = SlicePoint("point", torch.as_tensor(point, dtype=torch.float64), others)
    ((panel,),) = slice_panels([network], [point], radius, plane=plane, seed=seed, window=window,
                               max_regions=max_regions)
    described = {"gradient": "the output's gradient and the direction to another data point",
                 "points": "the directions to two other data points",
                 "random": f"two random directions (seed {seed})"}.get(plane, plane)
    figure = slice_grid_figure([[panel]], [""], ["the point"], radius,
                               title=f"Linear regions on the plane through the point spanned by {described}")
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=dpi, metadata={"Software": None})
    return path, panel
