"""Figures from summary tables: panel layout, labels, scale decisions, and byte-stable atomic saving."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from localregions.figures import (
    DATASET_LABELS,
    boundary_distance_figure,
    choose_yscale,
    figure3,
    radius_sweep_figure,
    save_figure,
    tightness_figure,
)

EPOCHS = list(range(0, 21, 2))


def by_setting_frame(log2_bound=None, singles=None, depths=(2,), lrs=(0.02, 0.001), radii=(0.4,), norm="l2"):
    """A summary_by_setting table with U-shaped bounds, rising single-region counts, a 10% band."""
    log2_bound = log2_bound or (lambda dataset, epoch: 3.0 + (epoch - 6) ** 2 / 72 + (dataset == "train"))
    singles = singles or (lambda dataset, epoch: 200.0 + 30 * epoch)
    rows = []
    for depth in depths:
        for lr in lrs:
            for radius in radii:
                for dataset in DATASET_LABELS:
                    for epoch in EPOCHS:
                        log2 = log2_bound(dataset, epoch)
                        values = {
                            "mean_bound": 2.0**log2 if log2 < 1024 else math.inf,
                            "log2_mean_bound": log2,
                            "mean_log2_bound": log2 / 2,
                            "median_log2_bound": 1.0,
                            "single_region_points": singles(dataset, epoch),
                            "mean_boundary_distance": 0.5 / (1 + (epoch - 6) ** 2 / 36),
                        }
                        row = dict(depth=depth, lr=lr, epoch=epoch, dataset=dataset, radius=radius, norm=norm, n_seeds=10)
                        for metric, value in values.items():
                            row |= {f"{metric}_mean": value, f"{metric}_std": 0.1 * value,
                                    f"{metric}_ci_low": 0.9 * value, f"{metric}_ci_high": 1.1 * value}
                        rows.append(row)
    return pd.DataFrame(rows)


def tightness_frame():
    rows = []
    for scale in ("raw", "unit"):
        for index, dataset in enumerate(DATASET_LABELS):
            for point, unstable in enumerate([0, 2, 5, 9]):
                complete = point != 3
                exact = max(1, 2**unstable // (index + 1))
                rows.append(dict(depth=2, lr=0.02, seed=0, epoch=20, dataset=dataset, point=point, radius=0.4,
                                 norm="l2", scale=scale, unstable=unstable, log2_bound=unstable,
                                 exact_count=exact if complete else np.nan, exact_complete=complete,
                                 sampled_count=max(1, exact - 1)))
    return pd.DataFrame(rows)


def test_figure3_has_four_labelled_panels_with_a_line_per_set():
    fig = figure3(by_setting_frame(), depth=2, radius=0.4)
    axes = fig.axes
    assert len(axes) == 4
    for letter, ax in zip("abcd", axes):
        assert ax.get_title(loc="left").startswith(f"({letter})")
        assert ax.get_xlabel() == "epoch"
        assert ax.get_ylabel()
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) == len(EPOCHS)]
        assert len(lines) == 4
        assert all(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).all() for line in lines)
    assert "lr = 0.02" in axes[0].get_title(loc="left") and "lr = 0.001" in axes[2].get_title(loc="left")
    assert "mean of $2^C$" in axes[0].get_ylabel()
    assert "C = 0" in axes[1].get_ylabel()
    legend_labels = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
    assert legend_labels == ["training", "testing", "random 1", "random 2"]
    title = fig.get_suptitle()
    assert "2 hidden layers" in title and "radius 0.4" in title
    assert "mean over 10 seeds" in title
    one_seed = figure3(by_setting_frame().assign(n_seeds=1), depth=2, radius=0.4)
    assert "one seed per setting" in one_seed.get_suptitle()


def test_figure3_uses_a_log_axis_only_where_values_span_decades():
    narrow = figure3(by_setting_frame(), depth=2, radius=0.4)
    assert [ax.get_yscale() for ax in narrow.axes] == ["linear"] * 4
    wide = figure3(
        by_setting_frame(log2_bound=lambda dataset, epoch: 1.0 + epoch / 2, singles=lambda dataset, epoch: 2.0**(epoch / 2)),
        depth=2,
        radius=0.4,
    )
    assert [ax.get_yscale() for ax in wide.axes] == ["log"] * 4


def test_figure3_plots_log2_when_the_mean_bound_overflows():
    fig = figure3(by_setting_frame(log2_bound=lambda dataset, epoch: 1000.0 + 10 * epoch), depth=2, radius=0.4)
    bound_axes = fig.axes[0]
    assert "log$_2$" in bound_axes.get_ylabel()
    assert bound_axes.get_yscale() == "linear"
    assert np.asarray(bound_axes.get_lines()[0].get_ydata(), dtype=float)[-1] == pytest.approx(1200.0)
    # Consistent across panels: the lr whose rows are all finite also shows log2.
    assert "log$_2$" in fig.axes[2].get_ylabel()


def test_figure3_picks_the_primary_radius_and_says_when_an_lr_is_missing():
    frame = by_setting_frame(lrs=(0.02,), radii=(0.2, 0.4))
    fig = figure3(frame, depth=2, radius=0.4)
    assert all(len(ax.get_lines()) == 0 for ax in fig.axes[2:])
    assert any("no runs" in text.get_text() for text in fig.axes[2].texts)
    with pytest.raises(ValueError, match="radius"):
        figure3(frame, depth=2, radius=0.3)
    with pytest.raises(ValueError, match="depth"):
        figure3(frame, depth=5, radius=0.4)


def test_choose_yscale():
    assert choose_yscale([1, 2, 20]) == "linear"
    assert choose_yscale([1, 10, 100]) == "log"
    assert choose_yscale([0, 1, 100]) == "symlog"
    assert choose_yscale([0, 0]) == "linear"
    assert choose_yscale([np.inf, np.nan, 3, 5]) == "linear"


def test_boundary_distance_figure_has_a_panel_per_depth_and_lr():
    fig = boundary_distance_figure(by_setting_frame(depths=(2, 3)), depths=[2, 3], radius=0.4)
    assert len(fig.axes) == 4
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[0].startswith("(a) 2 hidden layers, lr = 0.02") and titles[3].startswith("(d) 3 hidden layers, lr = 0.001")
    for ax in fig.axes:
        assert len([line for line in ax.get_lines() if len(line.get_xdata()) == len(EPOCHS)]) == 4
        assert "distance" in ax.get_ylabel()


def test_tightness_figure_is_log_log_with_a_diagonal_and_hollow_budget_hits():
    fig = tightness_figure(tightness_frame())
    assert len(fig.axes) == 2
    for ax, scale in zip(fig.axes, ("raw", "unit")):
        assert scale in ax.get_title(loc="left")
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        (diagonal,) = ax.get_lines()
        assert list(diagonal.get_xdata()) == list(diagonal.get_ydata())
        # Per set: one filled collection (complete counts) then one hollow (budget hits).
        collections = ax.collections
        assert len(collections) == 2 * len(DATASET_LABELS)
        filled, hollow = collections[0], collections[1]
        assert len(filled.get_offsets()) == 3 and len(hollow.get_offsets()) == 1
        assert filled.get_facecolors()[0][3] > 0
        assert len(hollow.get_facecolors()) == 0 or hollow.get_facecolors()[0][3] == 0
        assert tuple(hollow.get_edgecolors()[0]) == pytest.approx(to_rgba("tab:blue"))
    with pytest.raises(ValueError, match="tightness"):
        tightness_figure(tightness_frame().drop(columns="sampled_count"))


def sweep_frame():
    rows = []
    for lr in (0.02, 0.001):
        for seed in range(2):
            for epoch in (0, 20):
                for dataset in DATASET_LABELS:
                    for radius in (0.1, 0.4, 1.6):
                        mean_c = radius * (1 + epoch / 20) + seed
                        rows.append(dict(depth=2, lr=lr, seed=seed, epoch=epoch, dataset=dataset, radius=radius,
                                         norm="l2", n_points=50, mean_log2_bound=mean_c,
                                         single_region_share=float(np.exp(-mean_c))))
    return pd.DataFrame(rows)


def test_radius_sweep_figure_has_a_row_per_setting_and_lines_per_set_and_epoch():
    fig = radius_sweep_figure(sweep_frame())
    assert len(fig.axes) == 4
    assert fig.axes[0].get_title(loc="left").startswith("(a) mean C, 2 hidden layers, lr = 0.02")
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        lines = ax.get_lines()
        assert len(lines) == 8 and all(len(line.get_xdata()) == 3 for line in lines)
    first = fig.axes[0].get_lines()[0]
    # Seed mean at the first epoch, training set: radius + 0.5.
    assert list(first.get_ydata()) == pytest.approx([0.6, 0.9, 2.1])
    assert first.get_linestyle() == "--"
    labels = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
    assert labels[-2:] == ["first bound epoch (0)", "last bound epoch (20)"]


def test_save_figure_writes_png_and_pdf_atomically_and_reproducibly(tmp_path):
    def draw():
        return figure3(by_setting_frame(lrs=(0.02,)), depth=2, radius=0.4, lrs=(0.02,))

    png, pdf = save_figure(draw(), tmp_path / "figure3_depth2_r0.4")
    assert png.name == "figure3_depth2_r0.4.png" and pdf.name == "figure3_depth2_r0.4.pdf"
    assert png.read_bytes().startswith(b"\x89PNG") and pdf.read_bytes().startswith(b"%PDF")
    first = (png.read_bytes(), pdf.read_bytes())
    # A rerun of the pipeline draws a fresh figure from the same table: same bytes, no timestamp.
    save_figure(draw(), tmp_path / "figure3_depth2_r0.4")
    assert (png.read_bytes(), pdf.read_bytes()) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure3_depth2_r0.4.pdf", "figure3_depth2_r0.4.png"]
