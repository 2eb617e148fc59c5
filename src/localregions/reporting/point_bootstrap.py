"""How much the choice of the 1000 points moves each claim's mean effect: a bootstrap over points within seeds.

Every seed is bounded on the same 1000 points of each set, so the spread over seeds says how much
another *network* would change an effect, not how much another *draw of points* would: a draw
that happened to hold a few points in crowded regions shifts every seed alike, and the t test
over seeds cannot see it. :func:`point_spread` measures that shift. One resample draws 1000
points with replacement from each set's 1000 -- the same draw for every seed, epoch and setting,
as the real points are shared -- recomputes each seed's summaries (log2 of the mean bound, points
with C = 0, mean boundary distance) from the per-point table, and from them every test's mean
effect over the seeds; the standard deviation of that mean over the resamples is the test's
``point_sd``. :func:`localregions.reporting.claims.check_claims` adds its square to the seeds'
squared standard error.

Why a bootstrap over points and not fresh points per seed: fresh draws would fold the points'
spread into the seeds' and need nothing new in the statistics, but they change the experiment
(the paper bounds one set of points per category), need new point sets per seed in the data
step and a rerun of every bound, and cannot be applied to the runs that exist. The bootstrap
reads the per-point tables the pipeline already writes (``results/<name>/bounds/*.csv.gz``).

Resamples are drawn from :class:`numpy.random.Generator` with a fixed ``seed``; the same tables
and seed give the same numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..vocabulary import DATASET_NAMES
from .claim_records import CLAIMS, SHAPE_TESTS
from .claims import TEST_KEYS
from .statistics import MIN_SEEDS
from .summary_curves import paper_epochs
from .verdicts import TRAJECTORIES, trained_summary

__all__ = ["POINT_COLUMNS", "REPLICATES", "resampled_curves", "point_spread", "point_spread_table"]

#: The columns of a per-point table (``bounds/<model>_lr<lr>.csv.gz``) the bootstrap reads.
POINT_COLUMNS = ["depth", "lr", "seed", "epoch", "dataset", "point", "radius", "norm", "unstable", "log2_bound",
                 "boundary_distance"]
#: Resamples by default: the standard deviation of a standard deviation from 200 draws is about 5% of it.
REPLICATES = 200


def _rows(points: pd.DataFrame, radius: float, norm: str | None) -> pd.DataFrame:
    if not isinstance(points, pd.DataFrame):
        raise TypeError(f"points must be a pandas.DataFrame, got {type(points).__name__}")
    missing = [c for c in POINT_COLUMNS if c not in points.columns]
    if missing:
        raise ValueError(f"points is missing columns {missing}")
    rows = points[np.isclose(points["radius"].to_numpy(dtype=np.float64), float(radius), rtol=1e-9, atol=0.0)]
    if rows.empty:
        raise ValueError(f"radius {radius!r} is not in points")
    norms = sorted(rows["norm"].astype(str).unique())
    if norm is None and len(norms) != 1:
        raise ValueError(f"points hold norms {norms} at radius {radius!r}; pass norm= to choose one")
    rows = rows[rows["norm"].astype(str) == (norms[0] if norm is None else str(norm))]
    if rows.empty:
        raise ValueError(f"norm {norm!r} is not in points at radius {radius!r} (they hold {norms})")
    absent = [d for d in DATASET_NAMES if d not in set(rows["dataset"].astype(str))]
    if absent:
        raise ValueError(f"points have no rows for datasets {absent}")
    return rows


def _cube(block: pd.DataFrame, seeds, epochs, ids, column: str) -> np.ndarray:
    """(n_seeds, n_epochs, n_points) of ``column``; every (seed, epoch, point) must be there exactly once."""
    index = pd.MultiIndex.from_product([seeds, epochs, ids], names=["seed", "epoch", "point"])
    keyed = block.set_index(["seed", "epoch", "point"])[column]
    if keyed.index.duplicated().any():
        raise ValueError("points has repeated (seed, epoch, point) rows in one setting and set")
    values = keyed.reindex(index).to_numpy(dtype=np.float64)
    if np.isnan(values).any() and column != "boundary_distance":
        raise ValueError(f"points lack {int(np.isnan(values).sum())} (seed, epoch, point) rows of {column!r}: every "
                         "seed needs every point at every chosen epoch")
    return values.reshape(len(seeds), len(epochs), len(ids))


def resampled_curves(points: pd.DataFrame, *, radius: float, norm: str | None = None, epochs=None,
                     replicates: int = REPLICATES, seed: int = 0) -> dict:
    """Each setting's curves recomputed on ``replicates`` resamples of the points.

    Returns
    -------
    dict
        ``(depth, lr) -> (seeds, epochs, curves)`` with ``curves[column][dataset]`` of shape
        (replicates, n_seeds, n_epochs) for the three columns the claims read.
    """
    if isinstance(replicates, bool) or int(replicates) != replicates or replicates < 2:
        raise ValueError(f"replicates must be an integer >= 2, got {replicates!r}")
    rows = _rows(points, radius, norm)
    available = sorted(int(e) for e in rows["epoch"].unique())
    chosen = paper_epochs(available) if epochs is None else sorted(int(e) for e in epochs)
    absent = sorted(set(chosen) - set(available))
    if absent:
        raise ValueError(f"epochs {absent} are not in points (their epochs are {available})")
    rows = rows[rows["epoch"].astype(int).isin(chosen)]
    generator = np.random.default_rng(seed)
    weights = {}
    for dataset in DATASET_NAMES:  # one draw per set, shared by every setting, seed and epoch
        ids = sorted(int(i) for i in rows.loc[rows["dataset"] == dataset, "point"].unique())
        counts = generator.multinomial(len(ids), np.full(len(ids), 1.0 / len(ids)), size=int(replicates))
        weights[dataset] = (ids, counts.astype(np.float64) / len(ids))
    out = {}
    for (depth, lr), setting in rows.groupby(["depth", "lr"], sort=True):
        seeds = sorted(int(s) for s in setting["seed"].unique())
        if len(seeds) < MIN_SEEDS:
            raise ValueError(f"points hold {len(seeds)} seed(s) for depth {depth}, lr {lr:g}; at least {MIN_SEEDS}")
        curves: dict[str, dict[str, np.ndarray]] = {"log2_mean_bound": {}, "single_region_points": {},
                                                    "mean_boundary_distance": {}}
        for dataset in DATASET_NAMES:
            ids, w = weights[dataset]
            block = setting[setting["dataset"] == dataset]
            log2_bound = _cube(block, seeds, chosen, ids, "log2_bound")
            top = log2_bound.max(axis=-1, keepdims=True)
            curves["log2_mean_bound"][dataset] = np.log2(np.exp2(log2_bound - top) @ w.T) + top
            single = (_cube(block, seeds, chosen, ids, "unstable") == 0).astype(np.float64)
            curves["single_region_points"][dataset] = (single @ w.T) * len(ids)
            distance = _cube(block, seeds, chosen, ids, "boundary_distance")
            finite = np.isfinite(distance)
            curves["mean_boundary_distance"][dataset] = (np.where(finite, distance, 0.0) @ w.T) / (finite @ w.T)
            for column in curves:
                curves[column][dataset] = np.moveaxis(curves[column][dataset], -1, 0)  # (replicates, seeds, epochs)
        out[(int(depth), float(lr))] = (seeds, chosen, curves)
    return out


def point_spread(points: pd.DataFrame, *, radius: float, norm: str | None = None, epochs=None,
                 replicates: int = REPLICATES, seed: int = 0) -> pd.DataFrame:
    """Per test of the claims, the standard deviation of its mean effect over resamples of the points.

    Parameters
    ----------
    points : pandas.DataFrame
        The per-point tables of the runs that trained (``bounds/*.csv.gz`` concatenated; columns
        :data:`POINT_COLUMNS`), every seed with every point at every chosen epoch.
    radius, norm
        As in :func:`~localregions.reporting.claims.check_claims`.
    epochs : sequence of int, optional
        The epochs the claims are decided on (``None``: every bound epoch but 0).
    replicates : int
        Resamples of the points.
    seed : int
        Seed of the resamples.

    Returns
    -------
    pandas.DataFrame
        :data:`~localregions.reporting.claims.TEST_KEYS`, ``point_sd``, ``replicates``: pass it as
        ``point_spread=`` to :func:`~localregions.reporting.claims.check_claims` with the same epochs.
    """
    rows = []
    for (depth, lr), (seeds, chosen, curves) in resampled_curves(
            points, radius=radius, norm=norm, epochs=epochs, replicates=replicates, seed=seed).items():
        x = np.asarray(chosen, dtype=np.float64)
        for record in CLAIMS:
            for shape in (list(SHAPE_TESTS) if record.shaped else [""]):
                for effect in record.measure(curves[record.column], x, SHAPE_TESTS.get(shape)):
                    means = np.asarray(effect.per_seed).mean(axis=-1)
                    rows.append(dict(zip(TEST_KEYS, (depth, lr, record.number, shape, record.parts[effect.part].name,
                                                     effect.subject), strict=True))
                                | {"point_sd": float(means.std(ddof=1)), "replicates": int(replicates)})
    return pd.DataFrame(rows, columns=TEST_KEYS + ["point_sd", "replicates"])


def point_spread_table(points: pd.DataFrame, runs: pd.DataFrame, *, radius: float, norm: str | None = None,
                       replicates: int = REPLICATES, seed: int = 0) -> pd.DataFrame:
    """:func:`point_spread` on both trajectories of ``claims.csv``, over the runs that trained.

    The argument ``point_spread`` of :func:`localregions.reporting.verdicts.claims_table`: one row
    per (trajectory, test), the same trajectories and runs as the claims.
    """
    usable = trained_summary(points, runs)
    if usable.empty:
        return pd.DataFrame(columns=["trajectory"] + TEST_KEYS + ["point_sd", "replicates"])
    epochs = sorted(int(e) for e in usable["epoch"].unique())
    tables = [point_spread(usable, radius=radius, norm=norm, replicates=replicates, seed=seed)
              .assign(trajectory=TRAJECTORIES[0])]
    if epochs[0] == 0:
        tables.append(point_spread(usable, radius=radius, norm=norm, epochs=epochs, replicates=replicates, seed=seed)
                      .assign(trajectory=TRAJECTORIES[1]))
    table = pd.concat(tables, ignore_index=True)
    return table[["trajectory"] + [c for c in table.columns if c != "trajectory"]]
