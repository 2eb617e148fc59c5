"""The per-seed tables of the studies of the paper's motivation (issue 24; docs/motivation_hypotheses.md).

One function per study measures one trained network (one seed) and returns its tables: the
measures of every point (:func:`~localregions.experiment.local_measures.local_measures`, one row
per point, with its ``kind``), their summary per kind of point (:func:`kind_summary`), and the
per-seed effects the hypothesis is decided on (:data:`EFFECT_COLUMNS`, one row per part and
measure; the first measure of each study decides, the others are reported beside it). The
pipeline's steps call them per training job and add ``depth``, ``lr`` and ``seed``.

Every effect is "treated minus control" in the measure's own unit: C (bits) for ``alg1`` and
``crown``, switching neurons for ``local_complexity``, input distance for the distances.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ..search import region_measure
from .adversarial import pgd_examples
from .backdoor import DETECTION_SCORES, detection_aucs, trigger_table
from .local_measures import local_measures, nearest_distance
from .region_search import compare_searches, data_box, random_starts

__all__ = ["EFFECT_COLUMNS", "KIND_COLUMNS", "BESIDE_MEASURES", "kind_summary", "effect_row", "search_seed",
           "adversarial_seed", "backdoor_seed", "curve_evaluations", "roc_rows", "DATA_KINDS"]

#: The columns of a per-seed effects table (before ``depth``, ``lr``, ``seed``): which part of the hypothesis, which
#: measure, whether it decides, the two means and their difference, and whether the seed counts for the part.
EFFECT_COLUMNS = ["part", "measure", "decides", "n", "treated", "control", "effect", "network_ok", "usable", "note"]
#: The measures reported beside the deciding one (C of Algorithm 1), in their order.
BESIDE_MEASURES = ("crown", "local_complexity", "boundary_distance", "decision_distance")
#: The per-kind summary's columns (before ``depth``, ``lr``, ``seed``).
KIND_COLUMNS = ["kind", "n", "alg1_mean", "alg1_max", "crown_mean", "local_complexity_mean", "boundary_distance_median",
                "decision_distance_median", "nearest_train_mean"]
#: The four point sets of the paper, as kinds of point.
DATA_KINDS = ("train", "test", "random1", "random2")


def kind_summary(points: pd.DataFrame) -> pd.DataFrame:
    """Per ``kind`` (in order of first appearance): the number of points and the mean (and largest C) of each measure.

    The distances to the boundaries are medians: they are skewed, and infinite where a region has no
    boundary or the logit no gradient. ``nearest_train_mean`` is the mean distance to the nearest
    training point (0 for the training points).
    """
    rows = []
    for kind, part in points.groupby("kind", sort=False):
        rows.append({"kind": kind, "n": len(part), "alg1_mean": part["alg1"].mean(), "alg1_max": part["alg1"].max(),
                     "crown_mean": part["crown"].mean(), "local_complexity_mean": part["local_complexity"].mean(),
                     "boundary_distance_median": part["boundary_distance"].median(),
                     "decision_distance_median": part["decision_distance"].median(),
                     "nearest_train_mean": part["nearest_reference"].mean()})
    return pd.DataFrame(rows, columns=KIND_COLUMNS)


def effect_row(part: str, measure: str, decides: bool, treated, control, *, network_ok: bool = True,
               minimum: int = 1, note: str = "") -> dict:
    """One row of an effects table: the mean of ``treated - control`` over pairs (or of two single values).

    ``treated`` and ``control`` are paired arrays of the same length (or numbers). A pair with a
    non-finite value (an infinite distance: a region without a boundary, a logit without a
    gradient) is left out, and ``n`` counts the pairs kept. A seed with fewer than ``minimum``
    pairs, or whose network is not usable, is not ``usable`` for the part.

    >>> effect_row("p", "alg1", True, [3.0, 1.0], [1.0, 1.0])["effect"]
    1.0
    >>> row = effect_row("p", "boundary_distance", False, [2.0, np.inf], [1.0, 1.0])
    >>> row["n"], row["effect"]
    (1, 1.0)
    """
    treated = np.atleast_1d(np.asarray(treated, dtype=np.float64))
    control = np.atleast_1d(np.asarray(control, dtype=np.float64))
    if len(treated) != len(control):
        raise ValueError(f"treated and control must be paired, got {len(treated)} and {len(control)} values")
    finite = np.isfinite(treated) & np.isfinite(control)
    treated, control = treated[finite], control[finite]
    n = len(treated)
    enough = n >= minimum and n > 0
    if not enough and not note:
        note = f"{n} pairs (fewer than {minimum})"
    if not network_ok and not note:
        note = "network left out"
    effect = float(np.mean(treated - control)) if n else math.nan
    return {"part": part, "measure": measure, "decides": bool(decides), "n": n,
            "treated": float(np.mean(treated)) if n else math.nan, "control": float(np.mean(control)) if n else math.nan,
            "effect": effect, "network_ok": bool(network_ok), "usable": bool(network_ok and enough), "note": note}


def _measures(model, points, radius, *, norm, seed, complexity_directions, reference, kind) -> pd.DataFrame:
    table = local_measures(model, points, radius, norm=norm, complexity_directions=complexity_directions, seed=seed,
                           reference=reference)
    table.insert(0, "kind", kind)
    return table


def curve_evaluations(budget: int) -> list[int]:
    """The evaluations at which a best-so-far curve is kept: 1, 2, 3, 5, 7 times the powers of ten, and the budget.

    >>> curve_evaluations(120)
    [1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 120]
    """
    marks = sorted({m * 10**k for k in range(int(math.log10(max(budget, 1))) + 1) for m in (1, 2, 3, 5, 7)})
    return [m for m in marks if m < budget] + [budget]


# ---------------------------------------------------------------------------------------------- H3: the search


def search_seed(model, sets: dict[str, torch.Tensor], *, radius: float, norm: str, measure: str, methods, chains: int,
                budget: int, step: float, temperature, seed: int, complexity_directions: int | None,
                adapt_step: bool = False):
    """H3 on one network: each search method in the box of the training points, against the data's largest value.

    The walkers start at ``chains`` training points drawn with ``seed``. The data are the training
    and testing points (``sets["train"]``, ``sets["test"]``); the per-seed effect of each method is
    its best value minus the largest value of ``measure`` over the data (the first method decides).

    Returns
    -------
    dict of pandas.DataFrame
        ``points`` (every point of the four sets and each method's best centre, with ``kind``),
        ``maxima`` (per method: the search's result, the best centre's measures and distances, and its
        coordinates ``x_0 ...``), ``curves`` (best so far at :func:`curve_evaluations`), ``kinds``
        (:func:`kind_summary`), ``effects`` (:data:`EFFECT_COLUMNS`).
    """
    train = sets["train"]
    data = torch.cat([sets["train"], sets["test"]])
    summary, curves, centres = compare_searches(model, data_box(train), radius, starts=random_starts(train, chains, seed),
                                                budget=budget, seed=seed, measure=measure, norm=norm, methods=methods,
                                                step_fraction=step, temperature=tuple(temperature),
                                                n_directions=complexity_directions, adapt_step=adapt_step)
    data_values, _ = region_measure(model, data, radius, measure, norm, n_directions=complexity_directions, seed=seed)
    data_max = float(data_values.max())
    frames = [_measures(model, sets[name], radius, norm=norm, seed=seed, complexity_directions=complexity_directions,
                        reference=train, kind=name) for name in DATA_KINDS if name in sets]
    best = torch.stack([centres[method] for method in summary["method"]])
    found = _measures(model, best, radius, norm=norm, seed=seed, complexity_directions=complexity_directions,
                      reference=train, kind="")
    found["kind"] = [f"maximum_{method}" for method in summary["method"]]
    points = pd.concat(frames + [found], ignore_index=True)
    maxima = summary.drop(columns="seconds").assign(
        data_max=data_max, effect=summary["best_value"] - data_max,
        nearest_data=nearest_distance(best, data).numpy(), nearest_train=found["nearest_reference"].to_numpy(),
        boundary_distance=found["boundary_distance"].to_numpy(), decision_distance=found["decision_distance"].to_numpy(),
        logit=found["logit"].to_numpy(), alg1=found["alg1"].to_numpy(), crown=found["crown"].to_numpy(),
        local_complexity=found["local_complexity"].to_numpy())
    coordinates = pd.DataFrame(best.numpy(), columns=[f"x_{i}" for i in range(best.shape[1])])
    maxima = pd.concat([maxima.reset_index(drop=True), coordinates], axis=1)
    kept = curves[curves["evaluation"].isin(curve_evaluations(budget))].reset_index(drop=True)
    effects = pd.DataFrame([effect_row(f"{method} best - data max", measure, i == 0, row.best_value, data_max)
                            for i, (method, row) in enumerate(zip(summary["method"], summary.itertuples()))],
                           columns=EFFECT_COLUMNS)
    return {"points": points, "maxima": maxima, "curves": kept, "kinds": kind_summary(points), "effects": effects,
            "seconds": summary[["method", "seconds"]]}


# ---------------------------------------------------------------------------------------------- H1: adversarial


def attack_part(norm: str, eps: float) -> str:
    """The name of one attack's part of H1: ``"l2 eps 50"``."""
    return f"{norm} eps {eps:g}"


def adversarial_seed(model, sets: dict[str, torch.Tensor], labels: torch.Tensor, *, radius: float, norm: str, attacks,
                     clip: tuple[float, float], iterations: int, step_fraction: float, min_examples: int, seed: int,
                     complexity_directions: int | None, maxima: torch.Tensor | None = None):
    """H1 on one network: the measures around the PGD examples of every attack against their clean test points.

    ``sets["test"]`` (with ``labels``) are attacked; ``attacks`` lists (norm, budget). The balls
    measured are of ``radius`` in ``norm`` whatever the attack's norm. Beside: the random sets and
    ``maxima`` (centres the search found), each its own kind.

    Returns
    -------
    dict of pandas.DataFrame
        ``points`` (``kind``, ``attack`` ("" but for adversarial examples), ``point``: the index of
        the clean test point an example came from), ``attacks`` (per attack: attacked, skipped,
        kept, failed, attack_rate), ``kinds``, ``effects`` (per attack and measure: the mean over
        kept pairs of adversarial minus clean; a seed with fewer than ``min_examples`` is not usable).
    """
    test, train = sets["test"], sets["train"]
    context = dict(norm=norm, seed=seed, complexity_directions=complexity_directions, reference=train)
    clean = _measures(model, test, radius, kind="clean", **context)
    frames = [clean]
    attack_rows, effect_rows = [], []
    for attack_norm, eps in attacks:
        part = attack_part(attack_norm, eps)
        found = pgd_examples(model, test, labels, norm=attack_norm, eps=eps, clip=clip, seed=seed,
                             iterations=iterations, step_fraction=step_fraction)
        attack_rows.append({"attack": part, "norm": attack_norm, "eps": float(eps), "attacked": found.attacked,
                            "skipped": found.skipped, "kept": found.kept, "failed": found.failed,
                            "attack_rate": found.attack_rate})
        adversarial = _measures(model, found.examples, radius, kind=f"adversarial {part}", **context)
        adversarial["point"] = found.source.numpy()
        frames.append(adversarial)
        paired = clean.iloc[found.source.numpy()]
        note = "" if found.kept >= min_examples else f"{found.kept} examples kept (fewer than {min_examples})"
        for k, measure in enumerate(("alg1", *BESIDE_MEASURES)):
            effect_rows.append(effect_row(part, measure, k == 0, adversarial[measure].to_numpy(),
                                          paired[measure].to_numpy(), minimum=min_examples, note=note))
    frames += [_measures(model, sets[name], radius, kind=name, **context) for name in ("random1", "random2") if name in sets]
    if maxima is not None and maxima.shape[0]:
        frames.append(_measures(model, maxima, radius, kind="search maximum", **context))
    points = pd.concat(frames, ignore_index=True)
    points.insert(1, "attack", points["kind"].str.removeprefix("adversarial ").where(
        points["kind"].str.startswith("adversarial "), ""))
    return {"points": points, "attacks": pd.DataFrame(attack_rows), "kinds": kind_summary(points),
            "effects": pd.DataFrame(effect_rows, columns=EFFECT_COLUMNS)}


# ---------------------------------------------------------------------------------------------- H2: backdoor

#: The two parts of H2: the contrast on the poisoned network, and what the backdoor adds to the patch's own effect.
BACKDOOR_PARTS = ("triggered - clean, poisoned network", "poisoned - clean network")


def roc_rows(table: pd.DataFrame, grid: np.ndarray, scores=DETECTION_SCORES) -> pd.DataFrame:
    """Each score's ROC curve for triggered against clean rows, as the true-positive rate at the false-positive
    rates ``grid`` (linear between the curve's corners), in the score's fixed direction."""
    from scipy.stats import rankdata
    from sklearn.metrics import roc_curve

    truth = (table["kind"] == "triggered").to_numpy()
    rows = []
    for score, direction in scores.items():
        # Ranks, as in detection_aucs: an infinite boundary distance keeps its place.
        fpr, tpr, _ = roc_curve(truth, rankdata(direction * table[score].to_numpy(dtype=np.float64)))
        rows.append(pd.DataFrame({"score": score, "fpr": grid, "tpr": np.interp(grid, fpr, tpr)}))
    return pd.concat(rows, ignore_index=True)


def backdoor_seed(poisoned, clean, test: torch.Tensor, train: torch.Tensor, *, radius: float, norm: str, value: float,
                  distance: int, seed: int, complexity_directions: int | None, roc_points: int, clean_ok: bool = True):
    """H2 on one seed: the measures around the test inputs and their triggered copies, on the poisoned network and on
    the clean network of the same setting and seed (``clean`` may be ``None`` when that run is left out).

    Returns
    -------
    dict of pandas.DataFrame
        ``points`` (``network``, ``kind`` "clean" or "triggered", ``point``, the measures,
        ``nearest_reference`` to the clean training points and ``abs_logit``), ``kinds`` (per
        network and kind), ``effects`` (part 1 on the poisoned network; part 2, part 1 minus the
        same contrast on the clean network, per input), ``aucs`` (each detection score on the
        poisoned network), ``roc`` (its curve at ``roc_points`` false-positive rates).
    """
    pool = int(round(math.sqrt(test.shape[1])))
    context = dict(norm=norm, pool=pool, value=value, distance=distance, complexity_directions=complexity_directions,
                   seed=seed, reference=train)
    tables = {"poisoned": trigger_table(poisoned, test, radius, **context)}
    if clean is not None:
        tables["clean"] = trigger_table(clean, test, radius, **context)
    points = pd.concat([t.assign(network=name) for name, t in tables.items()], ignore_index=True)
    points = points[["network"] + [c for c in points.columns if c != "network"]]
    kinds = pd.concat([kind_summary(t).assign(network=name) for name, t in tables.items()], ignore_index=True)
    kinds = kinds[["network"] + KIND_COLUMNS]
    def values(network: str, kind: str, measure: str):
        table = tables[network]
        return table.loc[table["kind"] == kind, measure].to_numpy()

    measures = ("alg1", *BESIDE_MEASURES)
    effects = [effect_row(BACKDOOR_PARTS[0], m, k == 0, values("poisoned", "triggered", m), values("poisoned", "clean", m))
               for k, m in enumerate(measures)]
    for k, measure in enumerate(measures):
        if "clean" in tables:
            # Per input: the trigger's contrast on the poisoned network minus the same input's on the clean one.
            effects.append(effect_row(BACKDOOR_PARTS[1], measure, k == 0,
                                      values("poisoned", "triggered", measure) - values("poisoned", "clean", measure),
                                      values("clean", "triggered", measure) - values("clean", "clean", measure),
                                      network_ok=clean_ok))
        else:
            effects.append(effect_row(BACKDOOR_PARTS[1], measure, k == 0, [], [], network_ok=False,
                                      note="the clean network of this seed is left out"))
    grid = np.linspace(0.0, 1.0, roc_points)
    return {"points": points, "kinds": kinds, "effects": pd.DataFrame(effects, columns=EFFECT_COLUMNS),
            "aucs": detection_aucs(tables["poisoned"]), "roc": roc_rows(tables["poisoned"], grid)}
