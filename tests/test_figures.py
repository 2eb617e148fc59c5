"""Figures from the pipeline's tables: panel layout, labels, what is plotted where, scale decisions, saving."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb, to_rgba
from matplotlib.figure import Figure
from matplotlib.markers import MarkerStyle

from localregions.experiment.storage import read_csv, write_csv
from localregions.reporting.claims import VERDICTS
from localregions.reporting.figures import (
    METHOD_STYLE,
    VERDICT_COLOURS,
    boundary_distance_figure,
    choose_yscale,
    draw_figures,
    figure3,
    methods_figure,
    radius_sweep_figure,
    save_figure,
    tightness_figure,
    variant_claims_figure,
)
from localregions.reporting.products import FIGURES
from localregions.reporting.training_figures import _epoch_axis
from localregions.vocabulary import DATASET_LABELS, DATASET_NAMES

REPO = Path(__file__).resolve().parents[1]

EPOCHS = list(range(0, 21, 2))
# The checkpoints of the long-training experiment.
LONG_EPOCHS = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2000]
BALL_KEYS = dict(depth=2, lr=0.02, seed=0, epoch=20, norm="l2")


def by_setting_frame(log2_bound=None, singles=None, depths=(2,), lrs=(0.02, 0.001), radii=(0.4,), norm="l2",
                     epochs=EPOCHS):
    """A summary_by_setting table with U-shaped bounds, rising single-region counts, a 10% band."""
    log2_bound = log2_bound or (lambda dataset, epoch: 3.0 + (epoch - 6) ** 2 / 72 + (dataset == "train"))
    singles = singles or (lambda dataset, epoch: 200.0 + 30 * epoch)
    rows = []
    for depth in depths:
        for lr in lrs:
            for radius in radii:
                for dataset in DATASET_NAMES:
                    for epoch in epochs:
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


def _curve_lines(ax, length):
    return [line for line in ax.get_lines() if len(line.get_xdata()) == length]


# ---------------------------------------------------------------------------------------------- figure 3


def test_figure3_has_four_labelled_panels_with_a_line_per_set():
    fig = figure3(by_setting_frame(), depth=2, radius=0.4)
    axes = fig.axes
    assert len(axes) == 4
    for letter, ax in zip("abcd", axes):
        assert ax.get_title(loc="left").startswith(f"({letter})")
        assert ax.get_xlabel() == "epoch"
        assert ax.get_ylabel()
        lines = _curve_lines(ax, len(EPOCHS))
        assert [line.get_label() for line in lines] == list(DATASET_LABELS.values())
        assert [to_rgb(line.get_color()) for line in lines] == [to_rgb(c) for c in
                                                               ("tab:blue", "tab:orange", "tab:green", "tab:red")]
        # One shaded band per set.
        assert len(ax.collections) == 4
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


def test_figure3_plots_the_seed_means_of_each_set():
    fig = figure3(by_setting_frame(), depth=2, radius=0.4)
    training, testing = _curve_lines(fig.axes[0], len(EPOCHS))[:2]
    assert list(training.get_xdata()) == EPOCHS
    # mean of 2^C, training: 2^(4 + (epoch - 6)^2 / 72); testing one bit lower.
    assert list(training.get_ydata()) == pytest.approx([2.0 ** (4 + (e - 6) ** 2 / 72) for e in EPOCHS])
    assert list(testing.get_ydata()) == pytest.approx([2.0 ** (3 + (e - 6) ** 2 / 72) for e in EPOCHS])
    singles = _curve_lines(fig.axes[1], len(EPOCHS))[0]
    assert list(singles.get_ydata()) == pytest.approx([200.0 + 30 * e for e in EPOCHS])


def test_figure3_clips_the_band_at_what_the_quantity_can_reach():
    # The t band of the single-region count reaches below 0; the drawn band stops at 0.
    frame = by_setting_frame(singles=lambda dataset, epoch: 2.0).assign(single_region_points_ci_low=-5.0)
    band = figure3(frame, depth=2, radius=0.4).axes[1].collections[0]
    lowest = min(path.vertices[:, 1].min() for path in band.get_paths())
    assert lowest == pytest.approx(0.0)


def test_figure3_uses_a_log_axis_only_where_values_span_decades():
    narrow = figure3(by_setting_frame(), depth=2, radius=0.4)
    assert [ax.get_yscale() for ax in narrow.axes] == ["linear"] * 4
    wide = figure3(
        by_setting_frame(log2_bound=lambda dataset, epoch: 1.0 + epoch / 2, singles=lambda dataset, epoch: 2.0**(epoch / 2)),
        depth=2,
        radius=0.4,
    )
    assert [ax.get_yscale() for ax in wide.axes] == ["log"] * 4
    # Single-region counts of 0, then 2 up to 1,024: log, but 0 must show, so symlog on those panels only.
    with_zeros = figure3(by_setting_frame(singles=lambda dataset, epoch: 0.0 if epoch == 0 else 2.0 ** (epoch / 2)),
                         depth=2, radius=0.4)
    assert [ax.get_yscale() for ax in with_zeros.axes] == ["linear", "symlog", "linear", "symlog"]


def test_figure3_plots_log2_when_the_mean_bound_overflows():
    fig = figure3(by_setting_frame(log2_bound=lambda dataset, epoch: 1000.0 + 10 * epoch), depth=2, radius=0.4)
    bound_axes = fig.axes[0]
    assert "log$_2$" in bound_axes.get_ylabel()
    assert bound_axes.get_yscale() == "linear"
    assert np.asarray(bound_axes.get_lines()[0].get_ydata(), dtype=float)[-1] == pytest.approx(1200.0)
    # Consistent across panels: the lr whose rows are all finite also shows log2.
    assert "log$_2$" in fig.axes[2].get_ylabel()


def _render(fig):
    """Draw ``fig`` as the pipeline does (PNG): what fails only at drawing time fails here."""
    fig.savefig(io.BytesIO(), format="png", dpi=40)
    return fig


def test_figure3_plots_log2_when_the_mean_bound_is_past_2_to_the_64_even_if_finite():
    # Means of 2^C from 2^800 to 2^1000 (about 1e301): finite floats, which a log axis cannot draw.
    huge = by_setting_frame(log2_bound=lambda dataset, epoch: 800.0 + 10 * epoch)
    assert np.isfinite(huge["mean_bound_mean"]).all() and np.isfinite(huge["mean_bound_ci_high"]).all()
    fig = _render(figure3(huge, depth=2, radius=0.4))
    for bound_axes in fig.axes[0::2]:
        assert "log$_2$" in bound_axes.get_ylabel() and "log$_2$" in bound_axes.get_title(loc="left")
        assert bound_axes.get_yscale() == "linear"
    assert list(_curve_lines(fig.axes[0], len(EPOCHS))[0].get_ydata()) == pytest.approx([800.0 + 10 * e for e in EPOCHS])
    assert "log$_2$" in fig.get_suptitle()
    # The threshold: below 2^64 the mean of 2^C itself, above it its log2.
    below = figure3(by_setting_frame(log2_bound=lambda dataset, epoch: 60.0 + epoch / 10), depth=2, radius=0.4)
    assert "log$_2$" not in below.axes[0].get_ylabel()
    assert _curve_lines(below.axes[0], len(EPOCHS))[0].get_ydata()[0] == pytest.approx(2.0**60)
    above = figure3(by_setting_frame(log2_bound=lambda dataset, epoch: 66.0 + epoch / 10), depth=2, radius=0.4)
    assert "log$_2$" in above.axes[0].get_ylabel()
    # An interval's upper end past 2^64, or infinite, decides too; a missing one (a single seed) does not.
    frame = by_setting_frame(log2_bound=lambda dataset, epoch: 60.0)
    for high, log2 in ((2.0**70, True), (math.inf, True), (math.nan, False)):
        changed = frame.assign(mean_bound_ci_high=np.where(frame["epoch"] == 4, high, frame["mean_bound_ci_high"]))
        assert ("log$_2$" in figure3(changed, depth=2, radius=0.4).axes[0].get_ylabel()) == log2, high


def test_figure3_draws_the_interval_of_the_log2_it_plots():
    # log2 of the mean bound 100 + epoch, its interval 3 below to 5 above; the interval of the mean of 2^C
    # (2^100 +- 10%) must not be drawn on the log2 axis.
    frame = by_setting_frame(log2_bound=lambda dataset, epoch: 100.0 + epoch, lrs=(0.02,))
    frame = frame.assign(log2_mean_bound_ci_low=frame["log2_mean_bound_mean"] - 3,
                         log2_mean_bound_ci_high=frame["log2_mean_bound_mean"] + 5)
    bound_axes = _render(figure3(frame, depth=2, radius=0.4, lrs=(0.02,))).axes[0]
    assert len(bound_axes.collections) == len(DATASET_NAMES)
    for band in bound_axes.collections:
        log2 = 100.0 + np.array(EPOCHS)
        vertices = np.concatenate([path.vertices for path in band.get_paths()])
        for epoch, value in zip(EPOCHS, log2):
            at_epoch = vertices[np.isclose(vertices[:, 0], epoch), 1]
            assert at_epoch.min() == pytest.approx(value - 3) and at_epoch.max() == pytest.approx(value + 5)


def test_figure3_picks_the_primary_radius_and_says_when_an_lr_is_missing():
    frame = by_setting_frame(lrs=(0.02,), radii=(0.2, 0.4))
    fig = figure3(frame, depth=2, radius=0.4)
    # One line per set at r = 0.4, not two (r = 0.2 is left out).
    assert len(_curve_lines(fig.axes[0], len(EPOCHS))) == 4
    assert all(len(ax.get_lines()) == 0 for ax in fig.axes[2:])
    assert any("no runs" in text.get_text() for text in fig.axes[2].texts)
    with pytest.raises(ValueError, match="radius"):
        figure3(frame, depth=2, radius=0.3)
    with pytest.raises(ValueError, match="depth"):
        figure3(frame, depth=5, radius=0.4)
    both_norms = pd.concat([by_setting_frame(), by_setting_frame(norm="linf")], ignore_index=True)
    with pytest.raises(ValueError, match="norm="):
        figure3(both_norms, depth=2, radius=0.4)
    assert "(linf)" in figure3(both_norms, depth=2, radius=0.4, norm="linf").get_suptitle()


def test_choose_yscale():
    assert choose_yscale([1, 2, 20]) == "linear"
    assert choose_yscale([1, 10, 100]) == "log"
    assert choose_yscale([0, 1, 100]) == "symlog"
    assert choose_yscale([0, 0]) == "linear"
    assert choose_yscale([np.inf, np.nan, 3, 5]) == "linear"
    # The threshold is a span of 30: exactly 30 stays linear.
    assert choose_yscale([1, 30]) == "linear" and choose_yscale([1, 30.01]) == "log"


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=8), factor=st.floats(1e-3, 1e3))
def test_choose_yscale_depends_only_on_the_span(values, factor):
    scale = choose_yscale(values)
    assert choose_yscale([factor * v for v in values]) == scale
    assert scale == ("log" if max(values) / min(values) > 30 else "linear")
    assert choose_yscale(values + [0.0]) == ("symlog" if scale == "log" else "linear")


# ---------------------------------------------------------------------------------------------- epoch axis


def test_epoch_axis_is_logarithmic_for_long_training_and_ticks_the_epochs_otherwise():
    long_axes = Figure().subplots()
    _epoch_axis(long_axes, LONG_EPOCHS)
    assert long_axes.get_xscale() == "symlog"
    assert "log" in long_axes.get_xlabel()
    short_axes = Figure().subplots()
    _epoch_axis(short_axes, EPOCHS)
    assert short_axes.get_xscale() == "linear"
    assert list(short_axes.get_xticks()) == EPOCHS
    # The threshold is a span of 50 among the epochs after 0: 1..50 is plain, 1..51 is not.
    fifty = Figure().subplots()
    _epoch_axis(fifty, [0, 1, 50])
    assert fifty.get_xscale() == "linear"
    fifty_one = Figure().subplots()
    _epoch_axis(fifty_one, [0, 1, 51])
    assert fifty_one.get_xscale() == "symlog"


def test_long_training_figures_keep_their_log_epoch_axis():
    frame = by_setting_frame(epochs=LONG_EPOCHS, lrs=(0.02,))
    for fig in (figure3(frame, depth=2, radius=0.4, lrs=(0.02,)),
                boundary_distance_figure(frame, depths=[2], radius=0.4, lrs=(0.02,))):
        for ax in fig.axes:
            assert ax.get_xscale() == "symlog"
            # _finish_grid labels plain axes "epoch" and must not overwrite the log axis' label.
            assert ax.get_xlabel() == "epoch (log scale past 1)"


# ---------------------------------------------------------------------------------------------- boundary distance


def test_boundary_distance_figure_has_a_panel_per_depth_and_lr():
    fig = boundary_distance_figure(by_setting_frame(depths=(2, 3)), depths=[2, 3], radius=0.4)
    assert len(fig.axes) == 4
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[0].startswith("(a) 2 hidden layers, lr = 0.02") and titles[3].startswith("(d) 3 hidden layers, lr = 0.001")
    for ax in fig.axes:
        assert len(_curve_lines(ax, len(EPOCHS))) == 4
        assert "distance" in ax.get_ylabel()
    assert list(_curve_lines(fig.axes[0], len(EPOCHS))[0].get_ydata()) == pytest.approx(
        [0.5 / (1 + (e - 6) ** 2 / 36) for e in EPOCHS])
    with pytest.raises(ValueError, match="depths"):
        boundary_distance_figure(by_setting_frame(), depths=[], radius=0.4)


# ---------------------------------------------------------------------------------------------- tightness


def tightness_frame():
    """Four panels (raw 0.4; unit 0.05, 0.1, 0.4), listed out of order. Per set and panel four balls with
    C = 0, 2, 5, 9; the last hit the budget (no exact count, sampled count 300)."""
    rows = []
    for scale, radius in (("unit", 0.4), ("raw", 0.4), ("unit", 0.1), ("unit", 0.05)):
        for index, dataset in enumerate(DATASET_NAMES):
            for point, unstable in enumerate([0, 2, 5, 9]):
                complete = point != 3
                exact = max(1, 2**unstable // (index + 1))
                rows.append(dict(BALL_KEYS, scale=scale, dataset=dataset, point=point, radius=radius,
                                 unstable=unstable, log2_bound=unstable, exact_count=exact if complete else np.nan,
                                 exact_complete=complete, max_regions=100, sampled_count=300 if not complete else
                                 max(1, exact - 1)))
    return pd.DataFrame(rows)


def _visible(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_tightness_figure_has_a_log_log_panel_per_scale_and_radius():
    fig = tightness_figure(tightness_frame())
    axes = _visible(fig)
    # Raw first, then radii increasing, whatever the order of the rows.
    titles = [ax.get_title(loc="left") for ax in axes]
    assert [t.split("\n")[0] for t in titles] == ["(a) raw inputs, r = 0.4", "(b) unit inputs, r = 0.05",
                                                  "(c) unit inputs, r = 0.1", "(d) unit inputs, r = 0.4"]
    assert all("12 of 16 counts complete" in t for t in titles)
    # Four panels: a 2 x 3 grid, the last two cells hidden.
    assert len(fig.axes) == 6
    for ax in axes:
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert "2^C" in ax.get_xlabel()


def test_tightness_figure_fills_complete_counts_and_draws_budget_hits_hollow_at_the_sampled_count():
    for ax in _visible(tightness_figure(tightness_frame())):
        # Per set: one filled collection (complete counts) then one hollow (budget hits).
        assert len(ax.collections) == 2 * len(DATASET_NAMES)
        for index, colour in enumerate(("tab:blue", "tab:orange", "tab:green", "tab:red")):
            filled, hollow = ax.collections[2 * index], ax.collections[2 * index + 1]
            # Complete: at (2^C, exact count).
            expected = [[2.0**c, max(1, 2**c // (index + 1))] for c in (0, 2, 5)]
            assert filled.get_offsets().tolist() == expected
            assert filled.get_facecolors()[0][3] > 0
            assert to_rgb(tuple(filled.get_facecolors()[0][:3])) == to_rgb(colour)
            # Budget hit: at (2^9, the sampled count), drawn hollow in the set's colour.
            assert hollow.get_offsets().tolist() == [[512.0, 300.0]]
            assert len(hollow.get_facecolors()) == 0 or hollow.get_facecolors()[0][3] == 0
            assert tuple(hollow.get_edgecolors()[0]) == pytest.approx(to_rgba(colour))


def test_tightness_figure_draws_the_diagonal_over_every_point():
    for ax in _visible(tightness_figure(tightness_frame())):
        (diagonal,) = ax.get_lines()
        xs, ys = list(diagonal.get_xdata()), list(diagonal.get_ydata())
        assert xs == ys and diagonal.get_linestyle() == "--"
        points = np.concatenate([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
        assert xs[0] < points.min() and xs[-1] > points.max()
        assert ax.get_xlim() == ax.get_ylim()
    labels = [text.get_text() for legend in tightness_figure(tightness_frame()).legends for text in legend.get_texts()]
    assert "exact = bound" in labels and any("budget hit" in label for label in labels)


def test_tightness_figure_reads_the_flags_as_written_to_csv(tmp_path):
    write_csv(tightness_frame(), tmp_path / "tightness.csv")
    from_csv = tightness_figure(read_csv(tmp_path / "tightness.csv"))
    as_strings = tightness_figure(tightness_frame().assign(exact_complete=lambda f: f["exact_complete"].map(str)))
    for fig in (from_csv, as_strings):
        assert [len(c.get_offsets()) for c in _visible(fig)[0].collections[:2]] == [3, 1]


def test_tightness_figure_refuses_a_table_without_its_columns():
    with pytest.raises(ValueError, match="sampled_count"):
        tightness_figure(tightness_frame().drop(columns="sampled_count"))
    with pytest.raises(ValueError, match="no rows"):
        tightness_figure(tightness_frame().iloc[:0])


# ---------------------------------------------------------------------------------------------- radius sweep


def sweep_frame():
    rows = []
    for lr in (0.02, 0.001):
        for seed in range(2):
            for epoch in (0, 20):
                for dataset in DATASET_NAMES:
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
    assert fig.axes[2].get_title(loc="left").startswith("(c) mean C, 2 hidden layers, lr = 0.001")
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        lines = ax.get_lines()
        assert len(lines) == 8 and all(len(line.get_xdata()) == 3 for line in lines)
    first, last = fig.axes[0].get_lines()[:2]
    # Seed mean, training set: radius + 0.5 at the first epoch, 2 radius + 0.5 at the last.
    assert list(first.get_ydata()) == pytest.approx([0.6, 0.9, 2.1])
    assert list(last.get_ydata()) == pytest.approx([0.7, 1.3, 3.7])
    assert first.get_linestyle() == "--" and last.get_linestyle() == "-"
    # The share panel is in percent.
    share = fig.axes[1].get_lines()[0]
    assert list(share.get_ydata()) == pytest.approx(
        [100 * (np.exp(-r) + np.exp(-r - 1)) / 2 for r in (0.1, 0.4, 1.6)])
    labels = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
    assert labels[-2:] == ["first bound epoch (0)", "last bound epoch (20)"]


# ---------------------------------------------------------------------------------------------- methods


# C per ball (points 0, 1, 2 of the training set) for each method.
METHOD_C = {"alg1": [7, 3, 0], "ibp": [12, 5, 1], "crown": [5, 2, 0], "lp": [4, 2, 0], "local_complexity": [2, 1, 0]}


def methods_frame(scales_radii=(("raw", 0.4), ("unit", 0.05))):
    rows = []
    for scale, radius in scales_radii:
        for method, counts in METHOD_C.items():
            for point, unstable in enumerate(counts):
                rows.append(dict(BALL_KEYS, scale=scale, dataset="train", point=point, radius=radius, method=method,
                                 unstable=unstable))
    return pd.DataFrame(rows)


def methods_tightness(exact=(16, 4, None), scales_radii=(("raw", 0.4), ("unit", 0.05))):
    """Exact counts of the methods' balls: 16 and 4 regions; the third hit the budget."""
    rows = []
    for scale, radius in scales_radii:
        for point, count in enumerate(exact):
            rows.append(dict(BALL_KEYS, scale=scale, dataset="train", point=point, radius=radius,
                             unstable=METHOD_C["alg1"][point], exact_count=count if count else np.nan,
                             exact_complete=count is not None, max_regions=100, sampled_count=3))
    return pd.DataFrame(rows)


def _marker_vertices(marker):
    style = MarkerStyle(marker)
    return style.get_path().transformed(style.get_transform()).vertices


def _by_method(ax):
    """The scatter collections of a methods panel, by method (told apart by colour)."""
    colours = {to_rgb(style["color"]): method for method, style in METHOD_STYLE.items()}
    return {colours[to_rgb(tuple(c.get_facecolors()[0][:3]))]: c for c in ax.collections}


def test_methods_figure_places_each_ball_at_log2_of_its_exact_count():
    fig = methods_figure(methods_frame(), methods_tightness())
    axes = _visible(fig)
    assert len(axes) == 2
    assert axes[0].get_title(loc="left").startswith("(a) 2 hidden layers: raw inputs, r = 0.4")
    assert axes[1].get_title(loc="left").startswith("(b) 2 hidden layers: unit inputs, r = 0.05")
    for ax in axes:
        assert "exact number of regions" in ax.get_xlabel()
        collections = _by_method(ax)
        assert set(collections) == set(METHOD_C)
        # Ball 0 (16 regions) at x = 4, ball 1 (4 regions) at x = 2; ball 2 has no count and is not drawn.
        for method, counts in METHOD_C.items():
            assert collections[method].get_offsets().tolist() == [[4.0, counts[0]], [2.0, counts[1]]]


def test_methods_figure_draws_one_marker_style_per_method():
    ax = _visible(methods_figure(methods_frame(), methods_tightness()))[0]
    collections = _by_method(ax)
    for method, collection in collections.items():
        assert np.allclose(collection.get_paths()[0].vertices, _marker_vertices(METHOD_STYLE[method]["marker"]))
    shapes = [tuple(map(tuple, c.get_paths()[0].vertices.round(6))) for c in collections.values()]
    assert len(set(shapes)) == len(shapes)
    handles = [h for legend in ax.figure.legends for h in legend.legend_handles]
    markers = {h.get_label(): h.get_marker() for h in handles}
    assert {markers[style["label"]] for style in METHOD_STYLE.values()} == {s["marker"] for s in METHOD_STYLE.values()}


def test_methods_figure_without_tightness_puts_algorithm_1s_c_on_the_x_axis():
    for tightness in (None, methods_tightness().iloc[:0]):
        ax = _visible(methods_figure(methods_frame(), tightness))[0]
        assert ax.get_xlabel() == "C of Algorithm 1"
        collections = _by_method(ax)
        for method, counts in METHOD_C.items():
            assert collections[method].get_offsets().tolist() == [[a, c] for a, c in zip(METHOD_C["alg1"], counts)]
        # Algorithm 1 against itself: on the diagonal.
        offsets = collections["alg1"].get_offsets()
        assert (offsets[:, 0] == offsets[:, 1]).all()
        # No exact count anywhere: the diagonal is not the line a bound cannot cross.
        fig = methods_figure(methods_frame(), tightness)
        legend = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
        assert "diagonal against C of Algorithm 1: below is tighter" in legend
        assert not any("cannot be below" in text for text in legend)
        assert fig.get_suptitle().endswith("against Algorithm 1's")


def test_methods_figure_keeps_a_panel_whose_balls_have_no_exact_count():
    # At unit r = 0.4 every count hit its budget: that panel falls back to Algorithm 1's C instead of vanishing.
    panels = (("raw", 0.4), ("unit", 0.4))
    tightness = pd.concat([methods_tightness(scales_radii=panels[:1]),
                           methods_tightness(exact=(None, None, None), scales_radii=panels[1:])], ignore_index=True)
    axes = _visible(methods_figure(methods_frame(panels), tightness))
    assert len(axes) == 2
    assert "exact number of regions" in axes[0].get_xlabel()
    assert axes[1].get_xlabel().startswith("C of Algorithm 1")
    assert _by_method(axes[1])["ibp"].get_offsets().tolist() == [[7, 12], [3, 5], [0, 1]]
    legend = [t.get_text() for legend in axes[0].figure.legends for t in legend.get_texts()]
    assert ("diagonal against log$_2$(exact count): a bound cannot be below;\nagainst C of Algorithm 1: below is "
            "tighter") in legend


def test_methods_figure_draws_the_diagonal_below_which_no_bound_can_lie():
    ax = _visible(methods_figure(methods_frame(), methods_tightness()))[0]
    (diagonal,) = ax.get_lines()
    assert list(diagonal.get_xdata()) == list(diagonal.get_ydata()) == [0, 12]


def test_methods_figure_draws_each_depth_in_its_own_row_of_panels():
    # Two models of one grid (cnn_mnist: a LeNet of depth 4 beside an MLP of depth 2): C of the deeper is 100 more.
    deeper = methods_frame().assign(depth=4, unstable=lambda f: f["unstable"] + 100)
    fig = methods_figure(pd.concat([methods_frame(), deeper], ignore_index=True))
    axes = _visible(fig)
    assert len(axes) == 4
    assert [ax.get_title(loc="left").split("\n")[0] for ax in axes] == [
        "(a) 2 hidden layers: raw inputs, r = 0.4", "(b) 2 hidden layers: unit inputs, r = 0.05",
        "(c) 4 hidden layers: raw inputs, r = 0.4", "(d) 4 hidden layers: unit inputs, r = 0.05"]
    for ax, offset in zip(axes, (0, 0, 100, 100)):
        collections = _by_method(ax)
        assert set(collections) == set(METHOD_C)
        # Each panel draws its own depth's balls, all of them, against that depth's Algorithm 1.
        for method, counts in METHOD_C.items():
            assert collections[method].get_offsets().tolist() == [
                [a + offset, c + offset] for a, c in zip(METHOD_C["alg1"], counts)]


def _inside(fig):
    """Whether every legend and visible axes of ``fig`` lies within the figure as drawn."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lays the figure out (constrained layout) as saving it does
    renderer = canvas.get_renderer()
    box = fig.bbox
    parts = list(fig.legends) + [ax for ax in fig.axes if ax.get_visible()]
    extents = [part.get_window_extent(renderer) for part in parts]
    return all(box.x0 - 1 <= e.x0 and e.x1 <= box.x1 + 1 and box.y0 - 1 <= e.y0 and e.y1 <= box.y1 + 1 for e in extents)


@pytest.mark.parametrize("panels", [(("unit", 0.4),), (("unit", 0.1), ("unit", 0.4)),
                                    (("raw", 0.4), ("unit", 0.05), ("unit", 0.1), ("unit", 0.4))])
def test_methods_figure_keeps_its_legend_inside_the_figure(panels):
    # Without exact counts (cnn_mnist, full_mnist), with them, and with both kinds of panel (the longest legend).
    exact_for_some = pd.concat([methods_tightness(scales_radii=panels[:1]),
                                methods_tightness(exact=(None, None, None), scales_radii=panels[1:])])
    for tightness in (None, methods_tightness(scales_radii=panels), exact_for_some):
        assert _inside(methods_figure(methods_frame(panels), tightness))


# ---------------------------------------------------------------------------------------------- variant claims


def variant_claims_frame():
    """Two variants x (claims 1, 2) x (depth 2, lr 0.02 / 0.001), every verdict among them. On the paper's trajectory
    width16's claim 1 holds at lr 0.02, is partly true at 0.001, claim 2 is contradicted at 0.02 and inconclusive at
    0.001; width16 lost 2 runs at lr 0.02, kaiming 1 at lr 0.001. The rows 'with epoch 0' come first and say the
    opposite."""
    paper = {("width16", 1, 0.02): "holds", ("width16", 1, 0.001): "partly", ("width16", 2, 0.02): "contradicted",
             ("width16", 2, 0.001): "inconclusive", ("kaiming", 1, 0.02): "contradicted",
             ("kaiming", 1, 0.001): "holds", ("kaiming", 2, 0.02): "partly", ("kaiming", 2, 0.001): "undecided"}
    failed = {("kaiming", 0.001): (1, 0), ("width16", 0.02): (0, 2)}  # diverged, collapsed
    rows = []
    for trajectory in ("with epoch 0", "paper"):
        for (variant, claim, lr), verdict in paper.items():
            diverged, collapsed = failed.get((variant, lr), (0, 0))
            rows.append(dict(variant=variant, overrides=f"model.width=16" if variant == "width16" else "model.init=kaiming",
                             trajectory=trajectory, depth=2, lr=lr, claim=claim,
                             verdict=verdict if trajectory == "paper" else "holds" if verdict != "holds" else "partly",
                             runs_ok=10 - diverged - collapsed, runs_diverged=diverged, runs_collapsed=collapsed))
    return pd.DataFrame(rows), paper


def test_variant_claims_figure_colours_each_cell_by_its_verdict_on_the_paper_trajectory():
    frame, paper = variant_claims_frame()
    fig = variant_claims_figure(frame)
    (ax,) = fig.axes
    (image,) = ax.images
    assert [t.get_text() for t in ax.get_yticklabels()] == ["width16", "kaiming"]
    columns = [t.get_text() for t in ax.get_xticklabels()]
    assert columns == ["(1) d2 lr 0.02", "(1) d2 lr 0.001", "(2) d2 lr 0.02", "(2) d2 lr 0.001"]
    cells = image.get_array()
    for r, variant in enumerate(["width16", "kaiming"]):
        for c, (claim, lr) in enumerate([(1, 0.02), (1, 0.001), (2, 0.02), (2, 0.001)]):
            verdict = paper[(variant, claim, lr)]
            assert not np.ma.is_masked(cells[r, c])
            assert image.cmap(image.norm(cells[r, c])) == pytest.approx(to_rgba(VERDICT_COLOURS[verdict]))
    # One colour per verdict of the claims, all different: holds green, contradicted red, inconclusive pale.
    assert list(VERDICT_COLOURS) == list(VERDICTS)
    assert len({to_rgb(c) for c in VERDICT_COLOURS.values()}) == len(VERDICTS)
    holds, contradicted = to_rgb(VERDICT_COLOURS["holds"]), to_rgb(VERDICT_COLOURS["contradicted"])
    assert holds[1] > holds[0] and contradicted[0] > contradicted[1]
    assert min(to_rgb(VERDICT_COLOURS["inconclusive"])) > 0.8 > max(to_rgb(VERDICT_COLOURS["undecided"]))
    legend = {t.get_text() for legend in fig.legends for t in legend.get_texts()}
    assert {"holds", "partly", "contradicted", "inconclusive (neither way)",
            "undecided (fewer than 5 runs trained)"} <= legend
    # A cell without a row stays white.
    missing = variant_claims_figure(frame[~((frame["variant"] == "kaiming") & (frame["claim"] == 2))])
    assert np.ma.is_masked(missing.axes[0].images[0].get_array()[1, 2])


def test_variant_claims_figure_marks_settings_with_failed_runs_with_a_cross():
    frame, _ = variant_claims_frame()
    ax = variant_claims_figure(frame).axes[0]
    crosses = sorted(tuple(t.get_position()) for t in ax.texts if t.get_text() == "×")
    # width16 (row 0) lost runs that collapsed at lr 0.02 (columns 0 and 2), kaiming (row 1) one that diverged
    # at lr 0.001 (columns 1 and 3): one cross each.
    assert crosses == [(0, 0), (1, 1), (2, 0), (3, 1)]
    clean = variant_claims_figure(frame.assign(runs_diverged=0, runs_collapsed=0)).axes[0]
    assert not [t for t in clean.texts if t.get_text() == "×"]


# ---------------------------------------------------------------------------------------------- draw_figures, save_figure


@pytest.fixture(scope="module")
def table_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    frames = {"summary_by_setting": by_setting_frame(depths=(2, 3)), "radius_sweep": sweep_frame(),
              "tightness": tightness_frame(), "methods": methods_frame(), "variant_claims": variant_claims_frame()[0]}
    paths = {}
    for name, frame in frames.items():
        paths[name] = str(folder / f"{name}.csv")
        write_csv(frame, paths[name])
    return paths


def test_draw_figures_writes_exactly_the_requested_stems(table_files, tmp_path):
    stems = ["figure3_depth3", "tightness"]
    outputs = [str(tmp_path / f"{stem}.{ext}") for stem in stems for ext in ("png", "pdf")]
    written = draw_figures(table_files, outputs, radius=0.4)
    assert sorted(map(str, written)) == sorted(outputs)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["figure3_depth3.pdf", "figure3_depth3.png", "tightness.pdf", "tightness.png"])
    # Each stem is its own figure, drawn from the table it names.
    again = save_figure(tightness_figure(read_csv(table_files["tightness"])), tmp_path / "again" / "tightness")
    assert again[0].read_bytes() == (tmp_path / "tightness.png").read_bytes()


def test_every_registered_figure_is_drawn_and_has_its_caption(table_files, tmp_path):
    """The registry (reporting/products.py) is the one list of figures: each entry's adapter and caption exist."""
    # Figures a rule of their own draws (slices: from the checkpoints) are not the figures rule's; the
    # motivation's figures have their own module (tests/test_motivation_pipeline.py draws them).
    stems = [f.stem.format(depth=d) for f in FIGURES if f.rule == "figures" and f.module == "figures"
             for d in ((2, 3) if "{depth}" in f.stem else (None,))]
    written = draw_figures(table_files, [tmp_path / f"{stem}.png" for stem in stems], radius=0.4)
    assert sorted(p.name for p in written if p.suffix == ".png") == sorted(f"{stem}.png" for stem in stems)
    for figure in FIGURES:
        assert (REPO / "rules" / figure.caption).is_file(), figure.caption


def test_draw_figures_refuses_an_unknown_stem_before_drawing_any(table_files, tmp_path):
    # slices_depth2 is registered, but drawn by a rule of its own from the checkpoints, not from tables.
    for unknown in ("figure4", "figure3_depthx", "slices_depth2"):
        outputs = [str(tmp_path / "tightness.png"), str(tmp_path / f"{unknown}.png")]
        with pytest.raises(ValueError, match=f"'{unknown}'") as raised:
            draw_figures(table_files, outputs, radius=0.4)
        assert "figure3_depth{depth}" in str(raised.value) and "tightness" in str(raised.value)
        assert list(tmp_path.iterdir()) == []


def test_draw_figures_draws_a_depth_whose_runs_all_failed_as_a_figure_that_says_so(tmp_path):
    # The grid has depths 2 and 3; every run of depth 3 diverged or collapsed, so the summary has no rows for it,
    # but the rule declares figure3_depth3 all the same.
    write_csv(by_setting_frame(depths=(2,)), tmp_path / "summary_by_setting.csv")
    tables = {"summary_by_setting": str(tmp_path / "summary_by_setting.csv")}
    outputs = [tmp_path / "figures" / f"figure3_depth{d}.{ext}" for d in (2, 3) for ext in ("png", "pdf")]
    written = draw_figures(tables, outputs, radius=0.4)
    assert sorted(written) == sorted(outputs) and all(path.stat().st_size > 0 for path in outputs)
    from localregions.reporting.figures import draw_figure3

    frames = {"summary_by_setting": read_csv(tables["summary_by_setting"])}
    empty = draw_figure3(frames, radius=0.4, norm=None, depth=3)
    texts = [text.get_text() for ax in empty.axes for text in ax.texts]
    assert len(texts) == 1 and texts[0].startswith("No trained runs at this depth") and "3 hidden layers" in texts[0]
    assert "3 hidden layers" in empty.get_suptitle()
    assert not any(ax.get_lines() for ax in empty.axes)
    # The depth that trained is Figure 3 as ever.
    assert len(draw_figure3(frames, radius=0.4, norm=None, depth=2).axes) == 4


def test_save_figure_writes_png_and_pdf_atomically_and_reproducibly(tmp_path):
    def draw():
        return figure3(by_setting_frame(lrs=(0.02,)), depth=2, radius=0.4, lrs=(0.02,))

    png, pdf = save_figure(draw(), tmp_path / "figure3_depth2_r0.4")
    assert png.name == "figure3_depth2_r0.4.png" and pdf.name == "figure3_depth2_r0.4.pdf"
    assert png.read_bytes().startswith(b"\x89PNG") and pdf.read_bytes().startswith(b"%PDF")
    first = (png.read_bytes(), pdf.read_bytes())
    assert b"CreationDate" not in first[1] and b"matplotlib" not in first[1].lower()
    # A rerun of the pipeline draws a fresh figure from the same table: same bytes, no timestamp.
    save_figure(draw(), tmp_path / "figure3_depth2_r0.4")
    assert (png.read_bytes(), pdf.read_bytes()) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure3_depth2_r0.4.pdf", "figure3_depth2_r0.4.png"]
    with pytest.raises(ValueError, match="dpi"):
        save_figure(draw(), tmp_path / "x", dpi=0)
