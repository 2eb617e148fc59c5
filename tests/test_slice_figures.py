"""Slice figures: what each panel draws (regions, disc, decision boundary, points) and the PNG written."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from torch import nn

from localregions.reporting.slice_figures import (
    SlicePoint,
    draw_slice,
    figure_plane,
    nearest_other,
    render_slice,
    slice_grid_figure,
)
from localregions.slices import disc_regions, slice_partition


def network(seed: int, inputs: int = 6) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(inputs, 12), nn.ReLU(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 1))


def collections(axes, kind):
    return [c for c in axes.collections if isinstance(c, kind)]


def test_draw_slice_fills_every_region_and_draws_the_disc_boundary_and_points():
    net = network(0)
    center = torch.zeros(6, dtype=torch.float64)
    with torch.no_grad():  # the decision boundary through the centre, so that it crosses the view
        net[-1].bias -= net(center.float())
    neighbour = torch.full((6,), 0.8, dtype=torch.float64)
    plane = figure_plane(net, center, neighbour)
    partition = slice_partition(net, plane, 4.0)
    figure = Figure()
    axes = figure.subplots()
    marks = [("centre", np.zeros(2)), ("neighbour", plane.coordinates(neighbour[None].numpy())[0])]
    draw_slice(axes, partition, radius=0.5, marks=marks)
    (polygons,) = collections(axes, PolyCollection)
    assert len(polygons.get_paths()) == len(partition)
    # Neighbouring regions differ in pattern, so (nearly always) in colour: at least as many colours as half the regions.
    assert len({tuple(c) for c in polygons.get_facecolors()}) >= len(partition) // 2
    (boundary,) = collections(axes, LineCollection)
    assert len(boundary.get_segments()) == len(partition.boundary) > 0
    circles = [p for p in axes.patches if isinstance(p, Circle)]
    assert [c.radius for c in circles] == [0.5]
    assert circles[0].center == (0.0, 0.0)
    drawn = np.array([line.get_xydata()[0] for line in axes.lines])
    assert drawn == pytest.approx(np.stack([m[1] for m in marks]))
    assert axes.get_xlim() == (-4.0, 4.0) and axes.get_ylim() == (-4.0, 4.0)


def test_the_grid_has_a_wide_and_a_zoomed_row_per_network_on_one_plane_per_point():
    nets = [("before", network(1)), ("after", network(2))]
    generator = torch.Generator().manual_seed(0)
    data = 3 * torch.rand(20, 6, generator=generator, dtype=torch.float64)
    points = [SlicePoint(label, data[i], nearest_other(data[i], data)) for i, label in enumerate(["train", "test", "random"])]
    figure = slice_grid_figure(nets, points, radius=0.3)
    axes = np.array(figure.axes).reshape(4, 3)
    for column, point in enumerate(points):
        wide, zoom = axes[0, column], axes[1, column]
        # Same window in both networks' rows: one plane, one scale, before and after.
        assert axes[0, column].get_xlim() == axes[2, column].get_xlim()
        assert axes[1, column].get_xlim() == axes[3, column].get_xlim()
        assert zoom.get_xlim()[1] < wide.get_xlim()[1]
        assert zoom.get_xlim()[1] >= 3 * 0.3  # the disc never fills more than a third of the zoom
        # The neighbour lies in the plane, in the wide view.
        neighbour_mark = wide.lines[1].get_xydata()[0]
        assert np.linalg.norm(neighbour_mark) == pytest.approx(float(torch.linalg.vector_norm(point.neighbour - point.center)))
        assert abs(neighbour_mark).max() <= wide.get_xlim()[1]
    assert "train" in axes[0, 0].get_title() and "before" in axes[0, 0].get_ylabel() and "after" in axes[2, 0].get_ylabel()
    # The zoom's title reports the disc's count, as the slice computes it.
    count = len(disc_regions(slice_partition(nets[0][1], figure_plane(nets[1][1], points[0].center, points[0].neighbour),
                                             axes[1, 0].get_xlim()[1]), 0.3))
    assert f"meets {count} region" in axes[1, 0].get_title()


def test_render_slice_writes_a_png(tmp_path):
    path = render_slice(network(3), torch.ones(6), 0.25, tmp_path / "slice.png", neighbour=torch.zeros(6))
    assert path == tmp_path / "slice.png"
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="radius"):
        render_slice(network(3), torch.ones(6), -1.0, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_nearest_other_skips_the_point_itself():
    data = torch.tensor([[0.0, 0.0], [3.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    assert nearest_other(data[0], data).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="no point other"):
        nearest_other(data[0], data[:1])
