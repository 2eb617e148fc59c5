"""Train one network of the grid with plain SGD and checkpoint it at the bound epochs.

Two ways a run can fail to be a trained classifier, both recorded in ``metrics.csv`` and never
raised: a run whose loss or weights turn NaN or inf stops at once and is marked ``diverged``
(its missing epochs stay missing: no checkpoint, no metrics row); a run that finishes but
classifies the training set no better than always answering its majority class (a constant
output, for instance) has its last row marked ``collapsed``. The claims are about trained
networks, so the aggregate step reports both and leaves them out of the seed statistics.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .architectures import LENET_CHANNELS
from .models import build_network, save_checkpoint

__all__ = ["CHECKPOINT_FILE", "TrainingResult", "PlainSGD", "train_network", "seed_streams", "METRIC_COLUMNS", "LOSSES", "COLLAPSE_MARGIN"]

log = logging.getLogger(__name__)

#: One checkpoint's file in the run's checkpoint folder.
CHECKPOINT_FILE = "epoch_{epoch:03d}.pt"
METRIC_COLUMNS = ["epoch", "train_loss", "train_accuracy", "test_accuracy", "status"]
#: "bce": one logit, binary cross-entropy; "softmax": two logits, softmax cross-entropy.
LOSSES = ("bce", "softmax")
#: A finished run is "collapsed" when its training accuracy exceeds the majority-class share by at most this.
COLLAPSE_MARGIN = 0.01


@dataclass(frozen=True)
class TrainingResult:
    metrics: pd.DataFrame
    status: str  # "ok", "diverged" or "collapsed"
    checkpoint_epochs: list[int]


def seed_streams(seed: int) -> tuple[int, int]:
    """Independent seeds for the initial weights and for the data order, both derived from ``seed``."""
    init_state, order_state = np.random.SeedSequence(int(seed)).generate_state(2, dtype=np.uint32)
    return int(init_state), int(order_state)


class PlainSGD:
    """SGD with momentum, as ``torch.optim.SGD(params, lr, momentum)`` computes it, step for step.

    Written out because every ``torch.optim`` optimiser imports ``torch._dynamo`` on first use
    (1.3-1.8 s here), which every training job would pay; the updates are the same operations in
    the same order as torch's single-tensor SGD (no dampening, no Nesterov, no weight decay), so
    the weights are bit-identical (tests/test_training.py holds them against torch.optim.SGD).
    """

    def __init__(self, parameters, lr: float, momentum: float = 0.0):
        self.parameters = list(parameters)
        self.lr = lr
        self.momentum = momentum
        self.buffers: list[torch.Tensor | None] = [None] * len(self.parameters)

    def zero_grad(self) -> None:
        for parameter in self.parameters:
            parameter.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for index, parameter in enumerate(self.parameters):
            grad = parameter.grad
            if grad is None:
                continue
            if self.momentum != 0:
                buffer = self.buffers[index]
                if buffer is None:
                    buffer = self.buffers[index] = torch.clone(grad).detach()
                else:
                    buffer.mul_(self.momentum).add_(grad, alpha=1.0)
                grad = buffer
            parameter.add_(grad, alpha=-self.lr)


def _loss(logits: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "bce":
        return nn.functional.binary_cross_entropy_with_logits(logits.squeeze(1), y)
    return nn.functional.cross_entropy(logits, y.to(torch.int64))


def _predictions(logits: torch.Tensor, loss: str) -> torch.Tensor:
    return (logits.squeeze(1) > 0).to(torch.int64) if loss == "bce" else logits.argmax(dim=1)


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str) -> tuple[float, float]:
    with torch.no_grad():
        logits = model(x)
        value = _loss(logits, y, loss).item()
        accuracy = (_predictions(logits, loss) == y.to(torch.int64)).to(torch.float64).mean().item()
    return value, accuracy


def train_network(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    depth: int,
    width: int,
    init_std: float,
    lr: float,
    momentum: float,
    epochs: int,
    batch_size: int,
    checkpoint_epochs: list[int],
    seed: int,
    checkpoint_dir: str | Path,
    init: str = "normal",
    loss: str = "bce",
    device: torch.device | str = "cpu",
    meta: dict | None = None,
    architecture: str = "mlp",
    channels: tuple = LENET_CHANNELS,
) -> TrainingResult:
    """Train one network and write ``epoch_XXX.pt`` checkpoints into ``checkpoint_dir``.

    The inputs are used as given (float32 on ``device`` for speed; the bounds later cast the
    saved weights to float64 exactly). Metrics per epoch are measured on the full sets after the
    epoch; epoch 0 is the initial network. The initial weights and the data order come from two
    independent streams derived from ``seed`` (:func:`seed_streams`). ``architecture="lenet"``
    trains :func:`~localregions.experiment.models.build_lenet` with ``channels`` on 784-pixel inputs
    instead of the MLP (``depth`` and ``width`` are then unused).
    """
    if train_x.shape[0] != train_y.shape[0] or train_x.shape[0] == 0:
        raise ValueError(f"train_x and train_y must have the same, non-zero length, got {train_x.shape[0]} and {train_y.shape[0]}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {loss!r}")
    device = torch.device(device)
    init_seed, order_seed = seed_streams(seed)
    outputs = 1 if loss == "bce" else 2
    model = build_network(architecture, train_x.shape[1], depth, width, init_std, init_seed, outputs=outputs,
                          init=init, channels=channels).to(device)
    optimiser = PlainSGD(model.parameters(), lr=lr, momentum=momentum)
    order_generator = torch.Generator().manual_seed(order_seed)
    train_x, train_y = train_x.to(device, torch.float32), train_y.to(device, torch.float32)
    test_x, test_y = test_x.to(device, torch.float32), test_y.to(device, torch.float32)
    checkpoint_dir = Path(checkpoint_dir)
    wanted = set(checkpoint_epochs)
    rows: list[dict] = []
    saved: list[int] = []
    meta = dict(meta or {})

    def record(epoch: int) -> bool:
        """Measure the epoch on the full sets and checkpoint it; False (nothing kept) if the loss is not finite."""
        train_loss, train_accuracy = _evaluate(model, train_x, train_y, loss)
        _, test_accuracy = _evaluate(model, test_x, test_y, loss)
        # Finite weights can still give logits that overflow on the whole set: a diverged network too.
        if not math.isfinite(train_loss):
            return False
        rows.append({"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
                     "test_accuracy": test_accuracy, "status": "ok"})
        if epoch in wanted:
            save_checkpoint(model.cpu(), checkpoint_dir / CHECKPOINT_FILE.format(epoch=epoch), epoch=epoch, **meta)
            model.to(device)
            saved.append(epoch)
        return True

    def diverge(epoch: int) -> None:
        log.warning("training diverged in epoch %d (non-finite loss or weights); stopping this run", epoch)
        rows.append({"epoch": epoch, "train_loss": float("nan"), "train_accuracy": float("nan"),
                     "test_accuracy": float("nan"), "status": "diverged"})

    status = "ok" if record(0) else "diverged"
    if status == "diverged":
        diverge(0)
    n = train_x.shape[0]
    for epoch in range(1, epochs + 1 if status == "ok" else 1):
        order = torch.randperm(n, generator=order_generator).to(device)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            optimiser.zero_grad()
            value = _loss(model(train_x[batch]), train_y[batch], loss)
            if not math.isfinite(value.item()):
                status = "diverged"
                break
            value.backward()
            optimiser.step()
        # A step can overflow the weights while its own loss was finite (the last batch of an epoch).
        if status == "ok" and not all(torch.isfinite(p).all() for p in model.parameters()):
            status = "diverged"
        if status == "ok" and not record(epoch):
            status = "diverged"
        if status == "diverged":
            diverge(epoch)
            break
        log.debug("epoch %d/%d: train loss %.4g, train acc %.3f, test acc %.3f", epoch, epochs,
                  rows[-1]["train_loss"], rows[-1]["train_accuracy"], rows[-1]["test_accuracy"])
    if status == "ok":
        majority = float(torch.unique(train_y, return_counts=True)[1].max()) / n
        if rows[-1]["train_accuracy"] <= majority + COLLAPSE_MARGIN:
            status = "collapsed"
            rows[-1]["status"] = "collapsed"
            log.warning("training collapsed: accuracy %.3f on the training set, no better than the majority class "
                        "(%.3f)", rows[-1]["train_accuracy"], majority)
    return TrainingResult(pd.DataFrame(rows, columns=METRIC_COLUMNS), status, saved)
