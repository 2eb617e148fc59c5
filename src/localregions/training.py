"""Train one network of the grid: plain SGD on binary cross-entropy, checkpoints at the bound epochs.

A run whose loss or weights turn NaN or inf stops at once and is marked ``diverged``: its
missing epochs stay missing (no checkpoint, no metrics row), nothing raises, and the aggregate
step reports it.
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

from .models import build_mlp, save_checkpoint

__all__ = ["TrainingResult", "train_network", "seed_streams", "METRIC_COLUMNS"]

log = logging.getLogger(__name__)

METRIC_COLUMNS = ["epoch", "train_loss", "train_accuracy", "test_accuracy", "status"]


@dataclass(frozen=True)
class TrainingResult:
    metrics: pd.DataFrame
    status: str  # "ok" or "diverged"
    checkpoint_epochs: list[int]


def seed_streams(seed: int) -> tuple[int, int]:
    """Independent seeds for the initial weights and for the data order, both derived from ``seed``."""
    init_state, order_state = np.random.SeedSequence(int(seed)).generate_state(2, dtype=np.uint32)
    return int(init_state), int(order_state)


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        logits = model(x).squeeze(1)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y).item()
        accuracy = ((logits > 0).to(y.dtype) == y).to(torch.float64).mean().item()
    return loss, accuracy


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
    device: torch.device | str = "cpu",
    meta: dict | None = None,
) -> TrainingResult:
    """Train one network and write ``epoch_XXX.pt`` checkpoints into ``checkpoint_dir``.

    The inputs are used as given (float32 on ``device`` for speed; the bounds later cast the
    saved weights to float64 exactly). Metrics per epoch are measured on the full sets after the
    epoch; epoch 0 is the initial network.
    """
    if train_x.shape[0] != train_y.shape[0] or train_x.shape[0] == 0:
        raise ValueError(f"train_x and train_y must have the same, non-zero length, got {train_x.shape[0]} and {train_y.shape[0]}")
    device = torch.device(device)
    init_seed, order_seed = seed_streams(seed)
    model = build_mlp(train_x.shape[1], depth, width, init_std, init_seed).to(device)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    order_generator = torch.Generator().manual_seed(order_seed)
    train_x, train_y = train_x.to(device, torch.float32), train_y.to(device, torch.float32)
    test_x, test_y = test_x.to(device, torch.float32), test_y.to(device, torch.float32)
    checkpoint_dir = Path(checkpoint_dir)
    wanted = set(checkpoint_epochs)
    rows: list[dict] = []
    saved: list[int] = []
    meta = dict(meta or {})

    def record(epoch: int, status: str) -> None:
        train_loss, train_accuracy = _evaluate(model, train_x, train_y)
        _, test_accuracy = _evaluate(model, test_x, test_y)
        rows.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
                "test_accuracy": test_accuracy,
                "status": status,
            }
        )
        if epoch in wanted and status == "ok":
            save_checkpoint(model.cpu(), checkpoint_dir / f"epoch_{epoch:03d}.pt", epoch=epoch, **meta)
            model.to(device)
            saved.append(epoch)

    record(0, "ok")
    status = "ok"
    n = train_x.shape[0]
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=order_generator).to(device)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            optimiser.zero_grad(set_to_none=True)
            loss = nn.functional.binary_cross_entropy_with_logits(model(train_x[batch]).squeeze(1), train_y[batch])
            if not math.isfinite(loss.item()):
                status = "diverged"
                break
            loss.backward()
            optimiser.step()
        if status == "ok" and not all(torch.isfinite(p).all() for p in model.parameters()):
            status = "diverged"
        if status == "diverged":
            log.warning("training diverged in epoch %d (non-finite loss or weights); stopping this run", epoch)
            rows.append({"epoch": epoch, "train_loss": float("nan"), "train_accuracy": float("nan"),
                         "test_accuracy": float("nan"), "status": "diverged"})
            break
        record(epoch, "ok")
        log.info("epoch %d/%d: train loss %.4g, train acc %.3f, test acc %.3f", epoch, epochs,
                 rows[-1]["train_loss"], rows[-1]["train_accuracy"], rows[-1]["test_accuracy"])
    return TrainingResult(pd.DataFrame(rows, columns=METRIC_COLUMNS), status, saved)
