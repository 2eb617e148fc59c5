"""The experiment's tables: per point, per ball, and their summaries over points and over seeds.

Column meanings (also in the README):

per point (``bounds/<model>_lr<lr>.csv.gz``)
    depth, lr, seed, epoch, dataset, point, radius, norm, unstable (C), unstable_l1..unstable_lK
    (C per hidden layer), log2_bound (= C: the ball meets at most 2^C regions),
    boundary_distance (distance from the point to the boundary of its own linear region).
per (depth, lr, seed, epoch, dataset, radius) (``summary.csv``)
    n_points, mean_bound (mean of 2^C), log2_mean_bound (its log2, finite even where 2^C overflows),
    mean_log2_bound, median_log2_bound, single_region_points (points with C = 0),
    mean_boundary_distance (over points whose region has a boundary at all).
per (depth, lr, epoch, dataset, radius) (``summary_by_setting.csv``)
    n_seeds and, for each summary metric, its mean, standard deviation and 95% t-interval over
    the seeds whose run trained (status ``ok``).
per run (``runs.csv``)
    model, depth, lr, seed, status (ok / diverged / collapsed), last_epoch, diverged_at_epoch,
    final_train_loss, final_train_accuracy, final_test_accuracy.
per ball (``tightness.csv``)
    scale, depth, lr, seed, epoch, dataset, point, radius, norm, unstable, log2_bound,
    exact_count (empty past the budget), exact_complete, max_regions, sampled_count.
per (depth, lr, seed, epoch, dataset, radius) (``radius_sweep.csv``)
    n_points, mean_log2_bound (mean C), single_region_share (share of balls with C = 0).
per ball and method (``methods.csv``)
    scale, depth, lr, seed, epoch, dataset, point, radius, norm, method, unstable (C of that
    method; for ``local_complexity`` the sampled count of neurons seen to change sign, a lower
    estimate), seconds_per_1000 (the method's time for this batch, per 1,000 balls).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from ..bounds import DEFAULT_MEMORY_BUDGET_BYTES, local_region_bound
from ..layers import network_layers
from ..regions import boundary_distance
from ..vocabulary import DATASET_NAMES, SETTING_KEYS, SUMMARY_KEYS, SUMMARY_METRICS

__all__ = [
    "point_table",
    "summarise_points",
    "summarise_over_seeds",
    "summarise_runs",
    "tightness_rows",
    "sweep_rows",
    "radius_sweep_summary",
    "log2_mean_exp2",
]


def point_table(
    layers,
    datasets: Mapping[str, torch.Tensor],
    radii: list[float],
    norm: str = "l2",
    chunk_size: int | None = None,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
) -> pd.DataFrame:
    """Algorithm 1 and the boundary distance for every point of every set, one row per (point, radius)."""
    # Folded once, not by each of the calls below: a LeNet's convolutions take a second to fold.
    layers = network_layers(layers)
    frames = []
    for dataset, points in datasets.items():
        distance = boundary_distance(
            layers, points, norm=norm, chunk_size=chunk_size, memory_budget_bytes=memory_budget_bytes
        ).cpu().numpy()
        for radius in radii:
            result = local_region_bound(
                layers, points, radius, norm=norm, chunk_size=chunk_size, memory_budget_bytes=memory_budget_bytes
            )
            per_layer = result.unstable_per_layer.cpu().numpy()
            frame = pd.DataFrame(
                {
                    "dataset": dataset,
                    "point": np.arange(points.shape[0]),
                    "radius": float(radius),
                    "norm": norm,
                    "unstable": result.unstable.cpu().numpy(),
                }
            )
            for layer in range(per_layer.shape[1]):
                frame[f"unstable_l{layer + 1}"] = per_layer[:, layer]
            frame["log2_bound"] = result.log2_bound.cpu().numpy()
            frame["boundary_distance"] = distance
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def log2_mean_exp2(values) -> float:
    """``log2(mean(2**values))`` without overflow (C reaches hundreds at 784 pixels).

    >>> round(log2_mean_exp2([0.0, 2.0]), 12)  # mean of 1 and 4 is 2.5 (the last ulp varies with numpy's SIMD log2)
    1.321928094887
    >>> log2_mean_exp2([2000.0, 2000.0])
    2000.0
    """
    values = np.asarray(values, dtype=np.float64)
    top = values.max()
    return float(top + np.log2(np.mean(np.exp2(values - top))))


def summarise_points(points: pd.DataFrame) -> pd.DataFrame:
    """One row per (depth, lr, seed, epoch, dataset, radius, norm) from the per-point table."""
    rows = []
    for key, group in points.groupby(SUMMARY_KEYS, sort=True):
        log2_bound = group["log2_bound"].to_numpy(dtype=np.float64)
        log2_mean = log2_mean_exp2(log2_bound)
        distance = group["boundary_distance"].to_numpy(dtype=np.float64)
        finite = distance[np.isfinite(distance)]
        rows.append(
            dict(
                zip(SUMMARY_KEYS, key),
                n_points=len(group),
                mean_bound=math.pow(2.0, log2_mean) if log2_mean < 1024 else math.inf,
                log2_mean_bound=log2_mean,
                mean_log2_bound=float(log2_bound.mean()),
                median_log2_bound=float(np.median(log2_bound)),
                single_region_points=int((group["unstable"] == 0).sum()),
                mean_boundary_distance=float(finite.mean()) if finite.size else math.nan,
            )
        )
    return pd.DataFrame(rows, columns=SUMMARY_KEYS + ["n_points"] + SUMMARY_METRICS)


def summarise_over_seeds(summary: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean, standard deviation and a t-interval over seeds for every metric of :func:`summarise_points`.

    A setting with one seed gets NaN for the standard deviation and the interval.
    """
    from scipy import stats  # only the aggregate step needs it; the per-run jobs start faster without

    rows = []
    for key, group in summary.groupby(SETTING_KEYS, sort=True):
        n = len(group)
        row = dict(zip(SETTING_KEYS, key), n_seeds=n)
        for metric in SUMMARY_METRICS:
            values = group[metric].to_numpy(dtype=np.float64)
            mean = float(values.mean())
            std = float(values.std(ddof=1)) if n > 1 else math.nan
            half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n) if n > 1 and math.isfinite(std) else math.nan
            row[f"{metric}_mean"] = mean
            row[f"{metric}_std"] = std
            row[f"{metric}_ci_low"] = mean - half
            row[f"{metric}_ci_high"] = mean + half
        rows.append(row)
    return pd.DataFrame(rows)


def summarise_runs(metrics: Mapping[tuple[str, int, float, int], pd.DataFrame]) -> pd.DataFrame:
    """One row per run, keyed by (model, depth, lr, seed): status and the last epoch's accuracies.

    The status is ``diverged`` if any epoch diverged, ``collapsed`` if the last epoch says so
    (see :mod:`localregions.experiment.training`), else ``ok``.
    """
    rows = []
    for (model, depth, lr, seed), frame in sorted(metrics.items(), key=lambda item: item[0]):
        diverged = (frame["status"] == "diverged").any()
        completed = frame[frame["status"] != "diverged"]
        last = completed.iloc[-1] if len(completed) else None
        status = "diverged" if diverged else str(last["status"]) if last is not None else "diverged"
        rows.append(
            {
                "model": model,
                "depth": depth,
                "lr": lr,
                "seed": seed,
                "status": status,
                "last_epoch": int(last["epoch"]) if last is not None else -1,
                "diverged_at_epoch": int(frame.loc[frame["status"] == "diverged", "epoch"].iloc[0]) if diverged else None,
                "final_train_loss": float(last["train_loss"]) if last is not None else math.nan,
                "final_train_accuracy": float(last["train_accuracy"]) if last is not None else math.nan,
                "final_test_accuracy": float(last["test_accuracy"]) if last is not None else math.nan,
            }
        )
    frame = pd.DataFrame(rows)
    frame["diverged_at_epoch"] = frame["diverged_at_epoch"].astype("Int64")
    return frame


def tightness_rows(*, bound, counts, sampled, key: dict, radius: float, norm: str, max_regions: int) -> list[dict]:
    """Rows of ``tightness.csv`` for the balls of one set: the bound, the exact and the sampled counts."""
    return [
        {
            **key,
            "point": index,
            "radius": radius,
            "norm": norm,
            "unstable": int(bound.unstable[index]),
            "log2_bound": float(bound.log2_bound[index]),
            "exact_count": count.count if count.complete else None,
            "exact_complete": bool(count.complete),
            "max_regions": max_regions,
            "sampled_count": int(sampled[index]),
        }
        for index, count in enumerate(counts)
    ]


def sweep_rows(*, key: dict, unstable: torch.Tensor, radius: float, norm: str) -> dict:
    """One row of ``radius_sweep.csv``: mean C and the share of single-region balls of one set at one radius."""
    return {
        **key,
        "radius": radius,
        "norm": norm,
        "n_points": int(unstable.numel()),
        "mean_log2_bound": float(unstable.double().mean()),
        "single_region_share": float((unstable == 0).double().mean()),
    }


def radius_sweep_summary(sweep: pd.DataFrame, norm: str | None = None) -> pd.DataFrame:
    """Seed means of the radius sweep at the first and last bound epoch of each (depth, lr).

    Returns one row per (depth, lr, dataset, epoch, radius) with the seed means of
    ``mean_log2_bound`` and ``single_region_share``; depths increasing, lrs decreasing, sets in
    the paper's order.
    """
    required = ["depth", "lr", "epoch", "dataset", "radius", "norm", "mean_log2_bound", "single_region_share"]
    missing = [c for c in required if c not in sweep.columns]
    if missing:
        raise ValueError(f"radius_sweep is missing columns {missing}")
    norms = sorted(sweep["norm"].unique())
    if norm is None and len(norms) > 1:
        raise ValueError(f"radius_sweep holds norms {norms}; pass norm= to choose one")
    rows = sweep if norm is None else sweep[sweep["norm"] == norm]
    means = rows.groupby(["depth", "lr", "dataset", "epoch", "radius"], as_index=False)[
        ["mean_log2_bound", "single_region_share"]
    ].mean()
    ends = means.groupby(["depth", "lr"])["epoch"].transform(lambda e: e.isin([e.min(), e.max()]))
    means = means[ends].assign(
        _set_order=means["dataset"].map({name: i for i, name in enumerate(DATASET_NAMES)}), _lr_order=-means["lr"]
    )
    ordered = means.sort_values(["depth", "_lr_order", "_set_order", "epoch", "radius"], kind="mergesort")
    return ordered.drop(columns=["_set_order", "_lr_order"]).reset_index(drop=True)
