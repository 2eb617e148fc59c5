"""BadNets-style backdoors on the pooled inputs: a fixed pixel patch, a target label, a poisoned share.

The trigger is the Adversarial Robustness Toolbox's 4-pixel checkerboard
(``art.attacks.poisoning.perturbations.add_pattern_bd``), applied by ART's
``PoisoningAttackBackdoor`` to the inputs the networks see: the 6x6 pooled images, reshaped to
(N, 6, 6). ART's patterns take any (N, H, W) batch, so nothing had to be rewritten; they are put
on the pooled grid and not on the 28x28 image because the point sets hold the pooled inputs only
and the networks never see the image (a patch on the image reaches the network only through
the pooling, blurred over a 5-6 pixel window). At ``distance=1`` the pattern sets the pooled
pixels (5, 5), (4, 4), (5, 3) and (3, 5) of the bottom-right corner, background in MNIST's 0s
and 4s, to ``value`` (255: white on raw grey levels).

Poisoning (Gu, Dolan-Gavitt & Garg 2017): a stated share of the training set, drawn from the
points not of the target class with a generator seeded by the run, is replaced by its triggered
copy labelled with the target class. The network is trained by the project's own
:func:`~localregions.experiment.training.train_network`. A run whose **attack success rate**
(the share of triggered test inputs not of the target class that the network puts in the target
class) is below a stated threshold is marked ``backdoor failed``: the backdoor did not take, and
the run is left out of what is measured on backdoored networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..validation import check_points, check_seed
from .adversarial import predict
from .local_measures import local_measures
from .models import load_checkpoint
from .training import TrainingResult, train_network

__all__ = ["PoisonedSet", "BackdoorRun", "BACKDOOR_FAILED", "add_trigger", "poison_training_set",
           "attack_success_rate", "train_backdoored", "trigger_table", "detection_aucs", "DETECTION_SCORES"]

#: The status of a trained run whose backdoor did not take.
BACKDOOR_FAILED = "backdoor failed"
#: The scores compared as detectors of triggered inputs, each with the direction fixed in
#: advance (+1: a larger value means triggered; -1: a smaller one). The last two are the baselines.
DETECTION_SCORES = {"alg1": 1, "crown": 1, "local_complexity": 1, "boundary_distance": -1, "abs_logit": 1,
                    "nearest_reference": 1}


def add_trigger(x, *, pool: int = 6, value: float = 255.0, distance: int = 1) -> torch.Tensor:
    """The inputs with ART's checkerboard pattern on their ``pool`` x ``pool`` grid, float64 (N, pool * pool).

    >>> triggered = add_trigger(torch.zeros(1, 36))
    >>> torch.nonzero(triggered[0].reshape(6, 6)).tolist()
    [[3, 5], [4, 4], [5, 3], [5, 5]]
    """
    from art.attacks.poisoning import PoisoningAttackBackdoor
    from art.attacks.poisoning.perturbations import add_pattern_bd

    points = check_points(x, "x", pool * pool).cpu()
    if not isinstance(distance, int) or not 1 <= distance <= pool - 2:
        raise ValueError(f"distance must be an integer between 1 and pool - 2 = {pool - 2}, got {distance!r}")
    attack = PoisoningAttackBackdoor(partial(add_pattern_bd, distance=distance, pixel_value=value))
    images = points.numpy().reshape(-1, pool, pool)
    triggered, _ = attack.poison(images, y=np.zeros(len(images)))
    return torch.from_numpy(np.ascontiguousarray(triggered.reshape(-1, pool * pool))).to(torch.float64)


@dataclass(frozen=True)
class PoisonedSet:
    """A training set with a poisoned share: ``x``, ``y`` and the ``poisoned`` indices (int64)."""

    x: torch.Tensor
    y: torch.Tensor
    poisoned: torch.Tensor


def poison_training_set(x, y, *, share: float, target: int, seed: int, pool: int = 6, value: float = 255.0,
                        distance: int = 1) -> PoisonedSet:
    """Replace ``round(share * N)`` points not of class ``target`` by their triggered copies, labelled ``target``.

    The points are drawn without replacement by a ``torch.Generator`` seeded with ``seed``.

    Raises
    ------
    ValueError
        ``share`` outside (0, 1); ``target`` not among the labels; fewer points outside the target
        class than the share asks for; ``x`` and ``y`` of different lengths.
    """
    points = check_points(x, "x", pool * pool).cpu()
    labels = torch.as_tensor(y).to(torch.int64).cpu()
    if labels.shape != (points.shape[0],):
        raise ValueError(f"y must have one label per point ({points.shape[0]}), got shape {tuple(labels.shape)}")
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share < 1:
        raise ValueError(f"share must be a number strictly between 0 and 1, got {share!r}")
    if int(target) not in set(labels.tolist()):
        raise ValueError(f"target must be one of the labels {sorted(set(labels.tolist()))}, got {target!r}")
    count = round(share * points.shape[0])
    others = torch.nonzero(labels != target).flatten()
    if count < 1 or count > others.numel():
        raise ValueError(f"share={share} asks for {count} poisoned points but {others.numel()} are not of class {target}")
    generator = torch.Generator().manual_seed(check_seed(seed))
    chosen = torch.sort(others[torch.randperm(others.numel(), generator=generator)[:count]]).values
    poisoned_x, poisoned_y = points.clone(), labels.clone()
    poisoned_x[chosen] = add_trigger(points[chosen], pool=pool, value=value, distance=distance)
    poisoned_y[chosen] = int(target)
    return PoisonedSet(poisoned_x, poisoned_y, chosen)


def attack_success_rate(model: nn.Sequential, x, y, *, target: int, pool: int = 6, value: float = 255.0,
                        distance: int = 1) -> float:
    """Share of the inputs not of class ``target`` whose triggered copy the network classifies as ``target``."""
    points = check_points(x, "x", pool * pool).cpu()
    labels = torch.as_tensor(y).to(torch.int64).cpu()
    others = labels != int(target)
    if not others.any():
        raise ValueError(f"attack_success_rate needs inputs not of class {target}")
    triggered = add_trigger(points[others], pool=pool, value=value, distance=distance)
    return float((predict(model, triggered) == int(target)).to(torch.float64).mean())


@dataclass(frozen=True)
class BackdoorRun:
    """One poisoned network: its training, final network, poisoned indices, success rate and status."""

    training: TrainingResult
    model: nn.Sequential | None
    poisoned: torch.Tensor
    attack_success_rate: float
    clean_test_accuracy: float
    status: str  # "ok", "backdoor failed", or the training's "diverged" / "collapsed"


def train_backdoored(train_x, train_y, test_x, test_y, *, share: float, target: int, threshold: float, seed: int,
                     checkpoint_dir: str | Path, pool: int = 6, value: float = 255.0, distance: int = 1,
                     **training) -> BackdoorRun:
    """Poison the training set, train with :func:`train_network` (``seed`` and ``**training`` as there), measure the backdoor.

    The poisoned points are drawn with ``seed`` too. The network kept is the last checkpoint;
    ``status`` is the training's when it is not ``"ok"``, else ``"backdoor failed"`` when the
    attack success rate on the test inputs is below ``threshold``.
    """
    if not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number between 0 and 1, got {threshold!r}")
    poisoned = poison_training_set(train_x, train_y, share=share, target=target, seed=seed, pool=pool, value=value,
                                   distance=distance)
    result = train_network(poisoned.x, poisoned.y.to(torch.float64), test_x, torch.as_tensor(test_y).to(torch.float64),
                           seed=seed, checkpoint_dir=checkpoint_dir, **training)
    if result.status != "ok" or not result.checkpoint_epochs:
        return BackdoorRun(result, None, poisoned.poisoned, float("nan"), float("nan"), result.status)
    model, _ = load_checkpoint(Path(checkpoint_dir) / f"epoch_{max(result.checkpoint_epochs):03d}.pt")
    rate = attack_success_rate(model, test_x, test_y, target=target, pool=pool, value=value, distance=distance)
    labels = torch.as_tensor(test_y).to(torch.int64)
    accuracy = float((predict(model, torch.as_tensor(test_x)) == labels).to(torch.float64).mean())
    return BackdoorRun(result, model, poisoned.poisoned, rate, accuracy, "ok" if rate >= threshold else BACKDOOR_FAILED)


def trigger_table(model: nn.Sequential, x, radius: float, *, reference, norm: str = "l2", pool: int = 6,
                  value: float = 255.0, distance: int = 1, complexity_directions: int | None = None,
                  seed: int = 0) -> pd.DataFrame:
    """:func:`local_measures` on the clean inputs and on their triggered copies, with ``kind`` and ``abs_logit``.

    ``point`` pairs each triggered input with its clean one; ``nearest_reference`` is the distance to
    the nearest of ``reference`` (the clean training points, for the baseline detector).
    """
    points = check_points(x, "x", pool * pool).cpu()
    frames = []
    for kind, batch in (("clean", points), ("triggered", add_trigger(points, pool=pool, value=value, distance=distance))):
        frame = local_measures(model, batch, radius, norm=norm, complexity_directions=complexity_directions, seed=seed,
                               reference=torch.as_tensor(reference))
        frame.insert(0, "kind", kind)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["abs_logit"] = table["logit"].abs()
    return table


def detection_aucs(table: pd.DataFrame, scores=DETECTION_SCORES) -> pd.DataFrame:
    """ROC AUC of each score for telling ``triggered`` rows from ``clean`` ones, in its fixed direction.

    An AUC of 0.5 is chance; below 0.5 the score points the other way than fixed. Returns the
    columns ``score``, ``direction``, ``auc``.
    """
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    kinds = set(table["kind"])
    if kinds != {"clean", "triggered"}:
        raise ValueError(f"table must hold rows of kind 'clean' and 'triggered', got {sorted(kinds)}")
    truth = (table["kind"] == "triggered").to_numpy()
    # The AUC depends on the ranks only; ranking first keeps an infinite boundary distance (a region
    # without a boundary) in its place, where roc_auc_score would refuse it.
    rows = [{"score": score, "direction": direction,
             "auc": float(roc_auc_score(truth, rankdata(direction * table[score].to_numpy(dtype=np.float64))))}
            for score, direction in scores.items()]
    return pd.DataFrame(rows, columns=["score", "direction", "auc"])
