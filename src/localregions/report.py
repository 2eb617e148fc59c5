"""The reproduction report: settings, runs, figures, the paper's observations checked, tightness.

:func:`build_report` turns the pipeline's CSVs into Markdown. Nothing in it is written by hand and
nothing depends on the clock, so the same tables give the same bytes.

Each observation of Zhu, Lin & Tang (2020, Section 5.2) is decided by a small pure function on
seed-mean curves (a ``pandas.Series`` indexed by epoch) and a tolerance, returning a
:class:`Verdict`: one of ``holds``, ``partly``, ``does not hold`` (or ``not enough data``) with the
numbers that decided it. The rules are spelled out in :data:`DECISION_RULES` and printed in the
report, so a reader can check every verdict against the tables beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "HOLDS",
    "PARTLY",
    "FAILS",
    "UNDECIDED",
    "REGION_TOLERANCE_BITS",
    "COUNT_TOLERANCE_SHARE",
    "DISTANCE_TOLERANCE_SHARE",
    "ABOVE_SHARE_HOLDS",
    "ABOVE_SHARE_FAILS",
    "CLAIMS",
    "DECISION_RULES",
    "Verdict",
    "ClaimCheck",
    "verdict_decrease_then_increase",
    "verdict_increase_then_decrease",
    "verdict_train_above_random",
    "verdict_single_region_growth",
    "combine_verdicts",
    "check_claims",
    "tightness_table",
    "radius_sweep_table",
    "build_report",
]

HOLDS = "holds"
PARTLY = "partly"
FAILS = "does not hold"
UNDECIDED = "not enough data"

# A change in log2 of the mean bound smaller than this (a factor 2^0.05, about 3.5%) counts as flat.
REGION_TOLERANCE_BITS = 0.05
# Changes in the number of single-region points below this share of the set's points count as noise.
COUNT_TOLERANCE_SHARE = 0.01
# Changes in the mean boundary distance below this share of the curve's median count as flat.
DISTANCE_TOLERANCE_SHARE = 0.02
# Observation 2 holds when training points lead by more than the tolerance at this share of epochs or more...
ABOVE_SHARE_HOLDS = 0.8
# ...and does not hold when they lead at this share or less, against every random set.
ABOVE_SHARE_FAILS = 0.2

_SETS = ("train", "test", "random1", "random2")
_SET_LABELS = {"train": "training", "test": "testing", "random1": "random 1", "random2": "random 2"}

CLAIMS = {
    1: "The regions around all four kinds of points decrease in the first epochs, then increase.",
    2: "Balls around training points hold more regions than balls around random points.",
    3: "The number of points with a single region grows with the epochs (a dip before convergence allowed), "
    "and the trend is steadier on training than on testing data.",
    4: "The mean distance from the points to the boundary of their own region moves opposite to the bound: "
    "first rises, then falls.",
}

DECISION_RULES = {
    1: (
        "Curve: `log2_mean_bound_mean`, i.e. log2 of the mean over a set's points of the bound 2^C, averaged over "
        f"seeds. Tolerance τ = {REGION_TOLERANCE_BITS} bits. Take the curve's minimum (earliest if tied). "
        "*fall* = first bound epoch − minimum, *rise* = last bound epoch − minimum. Per set: **holds** if fall > τ, "
        "rise > τ and the minimum lies in the first half of the epoch range; **partly** if only some of these hold "
        "but fall > τ or rise > τ; **does not hold** if neither fall nor rise exceeds τ. Over the four sets: "
        "**holds** if every set holds, **does not hold** if every set does not hold, else **partly**."
    ),
    2: (
        f"Curve: `log2_mean_bound_mean` as in (1), τ = {REGION_TOLERANCE_BITS} bits. For each random set, the share of "
        "bound epochs at which training exceeds it by more than τ. **holds** if that share is at least "
        f"{ABOVE_SHARE_HOLDS:.0%} for both random sets, **does not hold** if it is at most {ABOVE_SHARE_FAILS:.0%} for "
        "both, else **partly**."
    ),
    3: (
        "Curve: `single_region_points_mean` (points with C = 0, averaged over seeds). Tolerance τ = "
        f"{COUNT_TOLERANCE_SHARE:.0%} of the points in a set (at least one point). A set *grows* if its last bound "
        "epoch exceeds its first by more than τ (dips on the way are allowed). *Backtrack* = the sum of all drops "
        "between consecutive bound epochs. Training is *steadier* if its backtrack is at most testing's + τ. "
        "**holds** if all four sets grow and training is steadier; **does not hold** if no set grows; else **partly**."
    ),
    4: (
        "Curve: `mean_boundary_distance_mean` (seed mean of the mean distance to the own region's boundary). "
        f"Tolerance τ = {DISTANCE_TOLERANCE_SHARE:.0%} of the curve's median. Mirror of (1) around the maximum: "
        "*rise* = maximum − first bound epoch, *fall* = maximum − last bound epoch; per set **holds** if both exceed τ "
        "and the maximum lies in the first half of the epoch range, **partly** if only some of these hold but rise "
        "or fall exceeds τ, **does not hold** if neither does. Sets combined as in (1)."
    ),
}


@dataclass(frozen=True)
class Verdict:
    """The outcome of one decision rule and the numbers that decided it.

    Attributes
    ----------
    verdict : str
        One of ``HOLDS``, ``PARTLY``, ``FAILS`` or ``UNDECIDED``.
    numbers : dict of str to float
        The quantities the rule compared, in the order the report prints them.
    """

    verdict: str
    numbers: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ClaimCheck:
    """One observation of the paper checked for one (depth, lr).

    Attributes
    ----------
    claim : int
        The observation's number, 1 to 4 (see ``CLAIMS``).
    depth : int
        Hidden layers of the networks.
    lr : float
        Learning rate of their training.
    verdict : str
        The combined verdict.
    parts : list of (str, Verdict)
        The verdicts it combines: one per point set for claims 1 and 4, one in all for 2 and 3.
    """

    claim: int
    depth: int
    lr: float
    verdict: str
    parts: list[tuple[str, Verdict]]


def _as_curve(curve) -> pd.Series:
    """A float series indexed by epoch in increasing order, without missing values."""
    series = curve if isinstance(curve, pd.Series) else pd.Series(curve)
    return series.astype(np.float64).sort_index().dropna()


def _turning_point(curve, tolerance: float, lowest: bool) -> tuple[str, dict[str, float]]:
    """Shared rule of observations 1 and 4: a move away from the start to an early extreme, and back."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    values = _as_curve(curve)
    if len(values) < 3:
        return UNDECIDED, {}
    oriented = values if lowest else -values
    turn_epoch = oriented.idxmin()
    away = float(oriented.iloc[0] - oriented.min())
    back = float(oriented.iloc[-1] - oriented.min())
    early = turn_epoch <= (values.index[0] + values.index[-1]) / 2
    if away > tolerance and back > tolerance and early:
        verdict = HOLDS
    elif away > tolerance or back > tolerance:
        verdict = PARTLY
    else:
        verdict = FAILS
    numbers = {
        "first": float(values.iloc[0]),
        "turn_epoch": float(turn_epoch),
        "turn": float(values[turn_epoch]),
        "last": float(values.iloc[-1]),
    }
    return verdict, numbers | {"away": away, "back": back}


def verdict_decrease_then_increase(curve, tolerance: float = REGION_TOLERANCE_BITS) -> Verdict:
    """Does ``curve`` fall to an early minimum and then rise again (observation 1)?

    Parameters
    ----------
    curve : pandas.Series or mapping
        Values indexed by epoch (for observation 1: ``log2_mean_bound_mean`` of one set).
    tolerance : float
        Falls and rises not larger than this count as flat.

    Returns
    -------
    Verdict
        ``holds`` when the fall from the first epoch to the minimum and the rise from the minimum to the
        last epoch both exceed ``tolerance`` and the minimum is in the first half of the epoch range;
        ``partly`` when only some of that is true but the curve falls or rises by more than
        ``tolerance``; ``does not hold`` when it does neither; ``not enough data`` below three epochs.
        Numbers: first, turn_epoch, turn (the minimum), last, fall, rise.
    """
    verdict, numbers = _turning_point(curve, tolerance, lowest=True)
    if numbers:
        numbers["fall"] = numbers.pop("away")
        numbers["rise"] = numbers.pop("back")
    return Verdict(verdict, numbers)


def verdict_increase_then_decrease(curve, tolerance: float) -> Verdict:
    """Does ``curve`` rise to an early maximum and then fall again (observation 4)?

    Parameters
    ----------
    curve : pandas.Series or mapping
        Values indexed by epoch (for observation 4: ``mean_boundary_distance_mean`` of one set).
    tolerance : float
        Rises and falls not larger than this count as flat.

    Returns
    -------
    Verdict
        The mirror image of :func:`verdict_decrease_then_increase`. Numbers: first, turn_epoch,
        turn (the maximum), last, rise, fall.
    """
    verdict, numbers = _turning_point(curve, tolerance, lowest=False)
    if numbers:
        numbers["rise"] = numbers.pop("away")
        numbers["fall"] = numbers.pop("back")
    return Verdict(verdict, numbers)


def verdict_train_above_random(
    train_curve,
    random_curves: Mapping[str, object],
    tolerance: float = REGION_TOLERANCE_BITS,
) -> Verdict:
    """Do balls around training points meet more regions than balls around random points (observation 2)?

    Parameters
    ----------
    train_curve : pandas.Series or mapping
        The training set's curve, indexed by epoch.
    random_curves : mapping of str to pandas.Series
        Each random set's curve, indexed by epoch.
    tolerance : float
        Training must lead by more than this at an epoch to count.

    Returns
    -------
    Verdict
        ``holds`` when, against every random set, training leads at a share of at least
        ``ABOVE_SHARE_HOLDS`` of the shared epochs; ``does not hold`` when that share is at most
        ``ABOVE_SHARE_FAILS`` against every random set; else ``partly``. Numbers per random set:
        ``share_above_<set>`` and ``mean_gap_<set>`` (training minus random, averaged over epochs).
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    if not random_curves:
        raise ValueError("random_curves must hold at least one curve")
    train = _as_curve(train_curve)
    numbers: dict[str, float] = {}
    shares = []
    for name, curve in random_curves.items():
        other = _as_curve(curve)
        epochs = train.index.intersection(other.index)
        if len(epochs) == 0:
            return Verdict(UNDECIDED, {})
        gap = train[epochs] - other[epochs]
        share = float((gap > tolerance).mean())
        shares.append(share)
        numbers[f"share_above_{name}"] = share
        numbers[f"mean_gap_{name}"] = float(gap.mean())
    if min(shares) >= ABOVE_SHARE_HOLDS:
        verdict = HOLDS
    elif max(shares) <= ABOVE_SHARE_FAILS:
        verdict = FAILS
    else:
        verdict = PARTLY
    return Verdict(verdict, numbers)


def _backtrack(values: pd.Series) -> float:
    """The total of all drops between consecutive epochs: how far a curve goes against a rising trend."""
    steps = np.diff(values.to_numpy())
    return float(-steps[steps < 0].sum())


def verdict_single_region_growth(curves: Mapping[str, object], tolerance: float) -> Verdict:
    """Does the number of single-region points grow, more steadily on training than testing (observation 3)?

    Parameters
    ----------
    curves : mapping of str to pandas.Series
        Per point set (must include ``"train"`` and ``"test"``), the number of points with C = 0,
        indexed by epoch.
    tolerance : float
        In points: growth must exceed it, and training's backtrack may exceed testing's by at most it.

    Returns
    -------
    Verdict
        ``holds`` when every set grows (last epoch above first by more than ``tolerance``) and
        training is steadier; ``does not hold`` when no set grows; else ``partly``; ``not enough
        data`` when training or testing is missing or a curve has fewer than two epochs. Numbers:
        ``net_<set>`` per set, ``backtrack_train``, ``backtrack_test``.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    series = {name: _as_curve(curve) for name, curve in curves.items()}
    if "train" not in series or "test" not in series or any(len(s) < 2 for s in series.values()):
        return Verdict(UNDECIDED, {})
    numbers = {f"net_{name}": float(s.iloc[-1] - s.iloc[0]) for name, s in series.items()}
    numbers["backtrack_train"] = _backtrack(series["train"])
    numbers["backtrack_test"] = _backtrack(series["test"])
    growing = [numbers[f"net_{name}"] > tolerance for name in series]
    steadier = numbers["backtrack_train"] <= numbers["backtrack_test"] + tolerance
    if all(growing) and steadier:
        verdict = HOLDS
    elif not any(growing):
        verdict = FAILS
    else:
        verdict = PARTLY
    return Verdict(verdict, numbers)


def combine_verdicts(verdicts: Sequence[str]) -> str:
    """One verdict for a claim made about several sets: holds if all hold, fails if none even partly holds."""
    decided = [v for v in verdicts if v != UNDECIDED]
    if not decided:
        return UNDECIDED
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    if all(v == FAILS for v in decided):
        return FAILS
    return PARTLY


def _at_radius(frame: pd.DataFrame, radius: float, norm: str | None, argument: str) -> pd.DataFrame:
    missing = [c for c in ("depth", "lr", "epoch", "dataset", "radius", "norm") if c not in frame.columns]
    if missing:
        raise ValueError(f"{argument} is missing columns {missing}")
    rows = frame[np.isclose(frame["radius"].astype(float), float(radius), rtol=1e-9, atol=0.0)]
    if rows.empty:
        radii = sorted(frame["radius"].unique())
        raise ValueError(f"primary_radius {radius!r} has no rows in {argument} (its radii are {radii})")
    norms = sorted(rows["norm"].unique())
    if norm is None:
        if len(norms) != 1:
            raise ValueError(f"{argument} holds norms {norms} at radius {radius!r}; pass norm= to choose one")
        norm = norms[0]
    elif norm not in norms:
        raise ValueError(f"norm {norm!r} is not in {argument} at radius {radius!r} (it holds {norms})")
    return rows[rows["norm"] == norm]


def _settings_of(rows: pd.DataFrame) -> list[tuple[int, float]]:
    """(depth, lr) pairs: depths increasing, learning rates decreasing (the paper's panel order)."""
    pairs = rows[["depth", "lr"]].drop_duplicates()
    return sorted(((int(d), float(lr)) for d, lr in pairs.itertuples(index=False)), key=lambda p: (p[0], -p[1]))


def _curves(rows: pd.DataFrame, depth: int, lr: float, column: str) -> dict[str, pd.Series]:
    setting = rows[(rows["depth"] == depth) & np.isclose(rows["lr"].astype(float), lr, rtol=1e-9, atol=0.0)]
    curves = {}
    for dataset in _SETS:
        part = setting[setting["dataset"] == dataset]
        if not part.empty:
            curves[dataset] = part.set_index("epoch")[column].sort_index()
    return curves


def check_claims(
    by_setting: pd.DataFrame,
    *,
    radius: float,
    points_per_set: int | None = None,
    norm: str | None = None,
) -> list[ClaimCheck]:
    """Check the paper's four observations for every (depth, lr) in ``by_setting`` at ``radius``.

    Parameters
    ----------
    by_setting : pandas.DataFrame
        ``summary_by_setting.csv``.
    radius : float
        The primary radius; other radii are ignored.
    points_per_set : int, optional
        Points per set, which scales the tolerance of observation 3; one point when not given.
    norm : str, optional
        Needed only when ``by_setting`` holds several norms at ``radius``.

    Returns
    -------
    list of ClaimCheck
        Ordered by depth, then lr (largest first), then claim.
    """
    rows = _at_radius(by_setting, radius, norm, "by_setting")
    count_tolerance = max(1.0, COUNT_TOLERANCE_SHARE * points_per_set) if points_per_set else 1.0
    checks = []
    for depth, lr in _settings_of(rows):
        regions = _curves(rows, depth, lr, "log2_mean_bound_mean")
        singles = _curves(rows, depth, lr, "single_region_points_mean")
        distances = _curves(rows, depth, lr, "mean_boundary_distance_mean")

        parts = [(name, verdict_decrease_then_increase(curve, REGION_TOLERANCE_BITS)) for name, curve in regions.items()]
        checks.append(ClaimCheck(1, depth, lr, combine_verdicts([v.verdict for _, v in parts]), parts))

        randoms = {name: regions[name] for name in ("random1", "random2") if name in regions}
        above = (
            verdict_train_above_random(regions["train"], randoms, REGION_TOLERANCE_BITS)
            if "train" in regions and randoms
            else Verdict(UNDECIDED)
        )
        checks.append(ClaimCheck(2, depth, lr, above.verdict, [("all", above)]))

        growth = verdict_single_region_growth(singles, count_tolerance)
        checks.append(ClaimCheck(3, depth, lr, growth.verdict, [("all", growth)]))

        parts = []
        for name, curve in distances.items():
            median = float(curve.dropna().abs().median()) if curve.notna().any() else 0.0
            parts.append((name, verdict_increase_then_decrease(curve, DISTANCE_TOLERANCE_SHARE * median)))
        checks.append(ClaimCheck(4, depth, lr, combine_verdicts([v.verdict for _, v in parts]), parts))
    return checks


def _number(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "n/a"
    value = float(value)
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))
    return format(value, f".{digits}g")


def _share(value) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{100 * value:.0f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _lr(lr: float) -> str:
    return format(float(lr), "g")


def _runs_section(runs: pd.DataFrame) -> str:
    columns = ["model", "depth", "lr", "seed", "status", "last_epoch", "diverged_at_epoch",
               "final_train_loss", "final_train_accuracy", "final_test_accuracy"]
    missing = [c for c in columns if c not in runs.columns]
    if missing:
        raise ValueError(f"runs is missing columns {missing}")
    runs = runs.sort_values(["depth", "lr", "seed"], ascending=[True, False, True], kind="mergesort")
    diverged = runs[runs["status"] == "diverged"]
    lines = ["## Training runs", ""]
    lines.append(f"{len(runs)} runs, {len(runs) - len(diverged)} finished, {len(diverged)} diverged.")
    lines.append("")
    if diverged.empty:
        lines.append("No run diverged.")
    else:
        named = [
            f"{row.model} lr {_lr(row.lr)} seed {int(row.seed)} (at epoch {_number(row.diverged_at_epoch)})"
            for row in diverged.itertuples(index=False)
        ]
        lines.append("Diverged runs: " + "; ".join(named) + ".")
    lines += ["", "Test accuracy at the last completed epoch, mean over the runs that finished:", ""]
    finished = runs[runs["status"] == "ok"]
    per_setting = []
    for (depth, lr), group in runs.groupby(["depth", "lr"], sort=False):
        done = finished[(finished["depth"] == depth) & (finished["lr"] == lr)]
        per_setting.append(
            [str(depth), _lr(lr), f"{len(done)} of {len(group)}", _percent(done["final_test_accuracy"].mean()),
             _percent(done["final_test_accuracy"].min()), _percent(done["final_test_accuracy"].max())]
        )
    lines.append(_table(["depth", "lr", "runs finished", "mean test acc.", "min", "max"], per_setting))
    lines += ["", "Every run:", ""]
    table_rows = [
        [row.model, str(int(row.depth)), _lr(row.lr), str(int(row.seed)), row.status, _number(row.last_epoch),
         _number(row.final_train_loss), _percent(row.final_train_accuracy), _percent(row.final_test_accuracy)]
        for row in runs.itertuples(index=False)
    ]
    header = ["model", "depth", "lr", "seed", "status", "last epoch", "train loss", "train acc.", "test acc."]
    lines.append(_table(header, table_rows))
    return "\n".join(lines)


def _percent(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"


_TURN_COLUMNS = {
    1: ("min", ["first", "turn_epoch", "turn", "last", "fall", "rise"]),
    4: ("max", ["first", "turn_epoch", "turn", "last", "rise", "fall"]),
}


def _claim_details(claim: int, checks: list[ClaimCheck]) -> str:
    mine = [c for c in checks if c.claim == claim]
    if claim in _TURN_COLUMNS:
        extreme, keys = _TURN_COLUMNS[claim]
        header = ["depth", "lr", "set", "at first epoch", f"{extreme} at epoch", extreme, "at last epoch",
                  keys[4], keys[5], "set verdict", "combined"]
        rows = []
        for check in mine:
            for name, verdict in check.parts:
                n = verdict.numbers
                values = [_number(n.get(k)) for k in keys] if n else ["n/a"] * 6
                rows.append([str(check.depth), _lr(check.lr), _SET_LABELS.get(name, name), values[0], values[1],
                             values[2], values[3], values[4], values[5], verdict.verdict, f"**{check.verdict}**"])
        return _table(header, rows)
    if claim == 2:
        header = ["depth", "lr", "epochs training leads random 1", "mean gap to random 1 (bits)",
                  "epochs training leads random 2", "mean gap to random 2 (bits)", "verdict"]
        rows = []
        for check in mine:
            n = check.parts[0][1].numbers
            rows.append([str(check.depth), _lr(check.lr), _share(n.get("share_above_random1", np.nan)),
                         _number(n.get("mean_gap_random1")), _share(n.get("share_above_random2", np.nan)),
                         _number(n.get("mean_gap_random2")), f"**{check.verdict}**"])
        return _table(header, rows)
    header = ["depth", "lr"] + [f"net change {_SET_LABELS[s]}" for s in _SETS] + [
        "backtrack training", "backtrack testing", "verdict"]
    rows = []
    for check in mine:
        n = check.parts[0][1].numbers
        rows.append([str(check.depth), _lr(check.lr)] + [_number(n.get(f"net_{s}")) for s in _SETS]
                    + [_number(n.get("backtrack_train")), _number(n.get("backtrack_test")), f"**{check.verdict}**"])
    return _table(header, rows)


def _claims_section(by_setting: pd.DataFrame, summary: pd.DataFrame, radius: float, norm: str | None) -> str:
    rows = _at_radius(by_setting, radius, norm, "by_setting")
    points = _at_radius(summary, radius, norm, "summary")
    points_per_set = int(points["n_points"].max()) if "n_points" in points and len(points) else None
    checks = check_claims(by_setting, radius=radius, points_per_set=points_per_set, norm=norm)
    epochs = ", ".join(_number(e) for e in sorted(rows["epoch"].unique()))
    seeds = sorted(int(n) for n in rows["n_seeds"].unique()) if "n_seeds" in rows else []
    seed_text = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]}" if seeds else "an unknown number of"
    lines = [
        "## The paper's observations, checked",
        "",
        f"Seed means from `summary_by_setting.csv` at the primary radius r = {_number(radius)} "
        f"({rows['norm'].iloc[0]} ball), over {seed_text} seeds; bound epochs {epochs}; "
        f"up to {points_per_set if points_per_set else 'an unknown number of'} points per set.",
        "",
        "### Decision rules",
        "",
    ]
    for claim, text in CLAIMS.items():
        lines += [f"{claim}. *{text}*", f"   {DECISION_RULES[claim]}", ""]
    settings = _settings_of(rows)
    overview = []
    for depth, lr in settings:
        verdicts = {c.claim: c.verdict for c in checks if c.depth == depth and c.lr == lr}
        overview.append([str(depth), _lr(lr)] + [verdicts[claim] for claim in CLAIMS])
    lines += ["### Verdicts", "", _table(["depth", "lr"] + [f"({claim})" for claim in CLAIMS], overview), ""]
    units = {1: "bits (log2 of the mean bound)", 2: "bits (log2 of the mean bound)", 3: "points",
             4: "input-space distance"}
    for claim, text in CLAIMS.items():
        lines += [f"### ({claim}) {text}", "", f"Numbers in {units[claim]}.", "", _claim_details(claim, checks), ""]
    return "\n".join(lines).rstrip("\n")


def tightness_table(tightness: pd.DataFrame) -> pd.DataFrame:
    """How loose the bound 2^C is against exact region counts, one row per input scale.

    Parameters
    ----------
    tightness : pandas.DataFrame
        ``tightness.csv``.

    Returns
    -------
    pandas.DataFrame
        Columns: scale, balls, complete, budget_hits, exact_share (2^C == exact among complete
        counts), median_ratio and worst_ratio (2^C / exact among complete counts), violations
        (exact > 2^C, which the theorem rules out), sampled_agree_share (sampled == exact among
        complete counts), median_sampled_ratio (sampled / exact), median_unstable (median C over
        all balls), budget (the smallest ``max_regions`` among budget hits: their exact count is
        larger; NaN without hits or without a ``max_regions`` column).
    """
    required = ["scale", "unstable", "exact_count", "exact_complete", "sampled_count"]
    missing = [c for c in required if c not in tightness.columns]
    if missing:
        raise ValueError(f"tightness is missing columns {missing}")
    complete_flag = tightness["exact_complete"]
    if complete_flag.dtype != bool:
        complete_flag = complete_flag.astype(str).str.strip().str.lower().isin(["true", "1"])
    frame = tightness.assign(
        _complete=complete_flag.to_numpy(),
        _bound=np.exp2(tightness["unstable"].to_numpy(dtype=np.float64)),
        _exact=pd.to_numeric(tightness["exact_count"], errors="coerce").to_numpy(dtype=np.float64),
        _sampled=pd.to_numeric(tightness["sampled_count"], errors="coerce").to_numpy(dtype=np.float64),
    )
    scales = [s for s in ("raw", "unit") if s in set(frame["scale"])] + sorted(set(frame["scale"]) - {"raw", "unit"})
    rows = []
    for scale in scales:
        part = frame[frame["scale"] == scale]
        done = part[part["_complete"] & np.isfinite(part["_exact"])]
        ratio = done["_bound"] / done["_exact"]
        rows.append(
            {
                "scale": scale,
                "balls": len(part),
                "complete": len(done),
                "budget_hits": int((~part["_complete"]).sum()),
                "exact_share": float((done["_bound"] == done["_exact"]).mean()) if len(done) else np.nan,
                "median_ratio": float(ratio.median()) if len(done) else np.nan,
                "worst_ratio": float(ratio.max()) if len(done) else np.nan,
                "violations": int((done["_exact"] > done["_bound"]).sum()),
                "sampled_agree_share": float((done["_sampled"] == done["_exact"]).mean()) if len(done) else np.nan,
                "median_sampled_ratio": float((done["_sampled"] / done["_exact"]).median()) if len(done) else np.nan,
                "median_unstable": float(part["unstable"].median()),
                "budget": (
                    float(part.loc[~part["_complete"], "max_regions"].min())
                    if "max_regions" in part and (~part["_complete"]).any()
                    else np.nan
                ),
            }
        )
    return pd.DataFrame(rows)


def _tightness_section(tightness: pd.DataFrame | None) -> str:
    lines = ["## Tightness of the bound", ""]
    if tightness is None:
        lines.append(
            "The tightness step was not run (no `tightness.csv`), so the bound was not compared with exact counts."
        )
        return "\n".join(lines)
    table = tightness_table(tightness)
    lines += [
        "Exact numbers of regions in a ball (enumerated, see `counting.py`) against the bound 2^C. Ratios are over "
        "balls whose exact count finished within its budget; *sampled* counts the distinct regions hit by random "
        "points in the ball, a lower bound. A budget hit means the ball holds more regions than the budget, "
        "so there the bound is loose by at least the bound over the budget. Times per exact count are in "
        "`docs/performance_counting.md` (they are kept out of the CSVs, which must be identical run to run).",
        "",
    ]
    rows = [
        [row.scale, str(row.balls), str(row.complete), str(row.budget_hits), _share(row.exact_share),
         _number(row.median_ratio), _number(row.worst_ratio), str(row.violations), _share(row.sampled_agree_share),
         _number(row.median_sampled_ratio), _number(row.median_unstable, 3),
         f"> {_number(row.budget)}" if np.isfinite(row.budget) else "n/a"]
        for row in table.itertuples(index=False)
    ]
    header = ["scale", "balls", "complete", "budget hits", "2^C = exact", "median 2^C/exact", "worst 2^C/exact",
              "exact > 2^C", "sampled = exact", "median sampled/exact", "median C", "exact count at budget hits"]
    lines.append(_table(header, rows))
    violations = int(table["violations"].sum())
    lines += [
        "",
        "The bound was never below an exact count." if violations == 0
        else f"**{violations} balls have more regions than 2^C: the bound or the count is wrong there.**",
    ]
    return "\n".join(lines)


def radius_sweep_table(sweep: pd.DataFrame, norm: str | None = None) -> pd.DataFrame:
    """Seed means of the radius sweep at the first and last bound epoch of each (depth, lr).

    Parameters
    ----------
    sweep : pandas.DataFrame
        The radius-sweep table: one row per (depth, lr, seed, epoch, dataset, radius, norm) with
        ``mean_log2_bound`` and ``single_region_share``.
    norm : str, optional
        Needed only when ``sweep`` holds several norms.

    Returns
    -------
    pandas.DataFrame
        One row per (depth, lr, dataset, epoch, radius) with the seed means of ``mean_log2_bound``
        and ``single_region_share``; depths increasing, lrs decreasing, sets in the paper's order.
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
        _set_order=means["dataset"].map({name: i for i, name in enumerate(_SETS)}), _lr_order=-means["lr"]
    )
    ordered = means.sort_values(["depth", "_lr_order", "_set_order", "epoch", "radius"], kind="mergesort")
    return ordered.drop(columns=["_set_order", "_lr_order"]).reset_index(drop=True)


def _radius_sweep_section(sweep: pd.DataFrame | None, primary_radius: float, norm: str | None) -> str:
    lines = ["## The bound against the radius", ""]
    if sweep is None:
        lines.append("The radius sweep was not run (no radius-sweep table).")
        return "\n".join(lines)
    table = radius_sweep_table(sweep, norm)
    radii = sorted(table["radius"].unique())
    lines += [
        "Algorithm 1 on the experiment's own networks at other radii, at the first and last bound epoch. Each cell: "
        "mean C over the set's points / share of balls meeting a single region (C = 0), both averaged over seeds. "
        f"Figure 3 uses r = {_number(primary_radius)}.",
        "",
    ]
    rows = []
    for (depth, lr, dataset, epoch), group in table.groupby(["depth", "lr", "dataset", "epoch"], sort=False):
        cells = {float(r.radius): f"{_number(r.mean_log2_bound, 3)} / {_share(r.single_region_share)}"
                 for r in group.itertuples(index=False)}
        rows.append([str(int(depth)), _lr(lr), _SET_LABELS.get(dataset, dataset), _number(epoch)]
                    + [cells.get(float(radius), "n/a") for radius in radii])
    lines.append(_table(["depth", "lr", "set", "epoch"] + [f"r = {_number(r)}" for r in radii], rows))
    return "\n".join(lines)


def build_report(
    *,
    settings_yaml: str,
    name: str,
    summary: pd.DataFrame,
    by_setting: pd.DataFrame,
    runs: pd.DataFrame,
    tightness: pd.DataFrame | None,
    primary_radius: float,
    figure_paths: Mapping[str, str],
    radius_sweep: pd.DataFrame | None = None,
    norm: str | None = None,
) -> str:
    """The Markdown of ``results/<name>/report.md``, generated from the pipeline's tables.

    Parameters
    ----------
    settings_yaml : str
        The composed configuration as YAML, printed verbatim.
    name : str
        The experiment's name.
    summary : pandas.DataFrame
        ``summary.csv`` (used for the number of points per set).
    by_setting : pandas.DataFrame
        ``summary_by_setting.csv``; the observations are decided on its seed means.
    runs : pandas.DataFrame
        ``runs.csv``.
    tightness : pandas.DataFrame or None
        ``tightness.csv``, or None when the tightness step was not run.
    primary_radius : float
        The radius of Figure 3; rows at other radii are not used.
    figure_paths : mapping of str to str
        Figure caption to path relative to the report, listed in the given order.
    radius_sweep : pandas.DataFrame, optional
        The radius-sweep table, or None when the sweep was not run.
    norm : str, optional
        Needed only when the tables hold several norms at ``primary_radius``.

    Returns
    -------
    str
        The report; the same inputs give the same text.
    """
    if not name:
        raise ValueError("name must not be empty")
    sources = ["`summary.csv`", "`summary_by_setting.csv`", "`runs.csv`"]
    if tightness is not None:
        sources.append("`tightness.csv`")
    if radius_sweep is not None:
        sources.append("the radius-sweep table")
    parts = [
        f"# Reproduction report: {name}",
        "",
        "Reproduces Zhu, Lin & Tang (2020), *Bounding the number of linear regions in local area for neural "
        "networks with ReLU activations*, Section 5 and Figure 3. Generated by `localregions.report` from "
        f"{', '.join(sources)}; rerun the pipeline instead of editing this file.",
        "",
        "## Settings",
        "",
        "```yaml",
        settings_yaml.rstrip("\n"),
        "```",
        "",
        _runs_section(runs),
        "",
        "## Figures",
        "",
    ]
    if figure_paths:
        parts += [f"- [{caption}]({path})" for caption, path in figure_paths.items()]
    else:
        parts.append("No figures were given.")
    parts += [
        "",
        _claims_section(by_setting, summary, primary_radius, norm),
        "",
        _tightness_section(tightness),
        "",
        _radius_sweep_section(radius_sweep, primary_radius, norm),
        "",
    ]
    return "\n".join(parts)
