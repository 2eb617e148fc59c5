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
    nearest_others,
    panel_counts,
    render_slice,
    slice_grid_figure,
    slice_panels,
)
from localregions.slices import disc_regions, plane_through_points, slice_partition


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


def _points(data, labels, neighbours=1):
    return [SlicePoint(label, data[i], tuple((f"n{k}", p) for k, p in enumerate(nearest_others(data[i], data, neighbours))))
            for i, label in enumerate(labels)]


def test_the_grid_has_a_wide_and_a_zoomed_column_per_point_on_one_plane_per_point():
    nets = [network(1), network(2)]
    generator = torch.Generator().manual_seed(0)
    data = 3 * torch.rand(20, 6, generator=generator, dtype=torch.float64)
    points = _points(data, ["train", "test", "random"])
    panels = slice_panels(nets, points, radius=0.3)
    figure = slice_grid_figure(panels, ["before", "after"], ["train", "test", "random"], 0.3)
    axes = np.array(figure.axes).reshape(2, 6)
    for column, point in enumerate(points):
        wide, zoom = axes[0, 2 * column], axes[0, 2 * column + 1]
        # One plane, one scale, before and after.
        assert panels[0][column].plane is panels[1][column].plane
        assert axes[0, 2 * column].get_xlim() == axes[1, 2 * column].get_xlim()
        assert axes[0, 2 * column + 1].get_xlim() == axes[1, 2 * column + 1].get_xlim()
        assert zoom.get_xlim()[1] < wide.get_xlim()[1]
        assert zoom.get_xlim()[1] >= 3 * 0.3  # the disc never fills more than a third of the zoom
        # The neighbour lies in the plane, in the wide view.
        neighbour_mark = wide.lines[1].get_xydata()[0]
        distance = float(torch.linalg.vector_norm(point.neighbours[0][1] - point.center))
        assert np.linalg.norm(neighbour_mark) == pytest.approx(distance)
        assert abs(neighbour_mark).max() <= wide.get_xlim()[1]
    assert "train" in axes[0, 0].get_title() and "before" in axes[0, 0].get_ylabel() and "after" in axes[1, 0].get_ylabel()
    assert axes[1, 0].get_xlabel() == "s (input units)" and figure.legends
    # The zoom's title reports the disc's count, as the slice computes it on the plane of the last network.
    plane = figure_plane(nets[1], points[0].center, points[0].neighbours[0][1])
    count = len(disc_regions(slice_partition(nets[0], plane, axes[0, 1].get_xlim()[1]), 0.3))
    assert f"meets {count} region" in axes[0, 1].get_title()
    assert panel_counts(panels[0][0], 0.3)["disc_regions"] == count


def test_rows_share_a_plane_only_with_rows_of_the_same_plane_network():
    nets = [network(1), network(2), network(3), network(4)]
    data = 3 * torch.rand(10, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    points = _points(data, ["a"], neighbours=2)
    panels = slice_panels(nets, points, 0.2, plane_networks=[1, 1, 3, 3])
    assert panels[0][0].plane is panels[1][0].plane and panels[2][0].plane is panels[3][0].plane
    assert not np.allclose(panels[0][0].plane.basis, panels[2][0].plane.basis)
    assert np.allclose(panels[0][0].plane.basis[:, 0], figure_plane(nets[1], points[0].center).basis[:, 0])
    # Planes that do not depend on the network are one per point, whatever plane_networks says.
    for kind, marked in (("random", 1), ("points", 3)):
        shared = slice_panels(nets, points, 0.2, plane=kind, plane_networks=[1, 1, 3, 3], seed=5)
        assert all(row[0].plane is shared[0][0].plane for row in shared)
        assert len(shared[0][0].marks) == marked  # the neighbours lie in the 'points' plane, not in a random one
    assert np.array_equal(shared[0][0].plane.basis, plane_through_points(points[0].center, points[0].neighbours[0][1],
                                                                         points[0].neighbours[1][1]).basis)
    with pytest.raises(ValueError, match="plane must be one of"):
        slice_panels(nets, points, 0.2, plane="pca")
    with pytest.raises(ValueError, match="two other data points"):
        slice_panels(nets, _points(data, ["a"]), 0.2, plane="points")
    with pytest.raises(ValueError, match="plane_networks"):
        slice_panels(nets, points, 0.2, plane_networks=[0, 4, 0, 0])


def test_panel_counts_are_the_slice_s_numbers_and_see_the_boundary_cross_the_disc():
    net = network(5)
    center = torch.zeros(6, dtype=torch.float64)
    with torch.no_grad():  # the decision boundary through the centre
        net[-1].bias -= net(center.float())
    ((panel,),) = slice_panels([net], [SlicePoint("c", center)], 0.5, window=6.0)
    counts = panel_counts(panel, 0.5)
    assert counts["view_half_width"] == 6.0 and counts["view_regions"] == len(panel.wide)
    assert counts["zoom_regions"] == len(panel.zoom) and counts["disc_regions"] == len(disc_regions(panel.zoom, 0.5))
    assert counts["boundary_in_disc"]
    with torch.no_grad():  # pushed far from the centre
        net[-1].bias += 100.0
    ((far,),) = slice_panels([net], [SlicePoint("c", center)], 0.5, window=6.0)
    assert not panel_counts(far, 0.5)["boundary_in_disc"]


def test_render_slice_writes_a_png(tmp_path):
    path, panel = render_slice(network(3), torch.ones(6), 0.25, tmp_path / "slice.png", neighbours=[torch.zeros(6)])
    assert path == tmp_path / "slice.png"
    assert path.read_bytes().startswith(b"\x89PNG")
    assert len(panel.marks) == 2
    with pytest.raises(ValueError, match="radius"):
        render_slice(network(3), torch.ones(6), -1.0, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_nearest_others_skip_the_point_itself():
    data = torch.tensor([[0.0, 0.0], [3.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    assert [p.tolist() for p in nearest_others(data[0], data, 2)] == [[1.0, 1.0], [3.0, 0.0]]
    with pytest.raises(ValueError, match="fewer than 1 points other"):
        nearest_others(data[0], data[:1])


def test_an_automatic_wide_view_too_large_for_the_budget_is_halved_until_it_fits():
    from localregions.counting import RegionBudgetExceeded
    from localregions.reporting.slice_figures import panel_counts, slice_panels

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 40), torch.nn.ReLU(), torch.nn.Linear(40, 40), torch.nn.ReLU(),
                              torch.nn.Linear(40, 1)).double()
    point = SlicePoint("training", torch.rand(6, dtype=torch.float64))
    ((free,),) = slice_panels([net], [point], 0.05, plane="random")
    full = panel_counts(free, 0.05)
    budget = full["view_regions"] // 3
    ((tight,),) = slice_panels([net], [point], 0.05, plane="random", max_regions=budget)
    fitted = panel_counts(tight, 0.05)
    assert fitted["view_regions"] <= budget < full["view_regions"]
    assert fitted["view_half_width"] in (full["view_half_width"] / 2 ** k for k in range(1, 20))
    assert fitted["disc_regions"] == full["disc_regions"]  # the ball's own view is unchanged
    # A window the caller chose is not shrunk behind their back.
    with pytest.raises(RegionBudgetExceeded):
        slice_panels([net], [point], 0.05, plane="random", window=full["view_half_width"], max_regions=budget)
