"""Training: determinism, checkpoints at the bound epochs, and a diverged run that stops cleanly."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from localregions.models import build_mlp, load_checkpoint, save_checkpoint
from localregions.training import METRIC_COLUMNS, train_network


def toy_sets(n=64, d=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    y = (x[:, 0] > 0).to(torch.int64)
    return x, y


def train(tmp_path, **overrides):
    x, y = toy_sets()
    arguments = dict(depth=2, width=8, init_std=1.0, lr=0.1, momentum=0.0, epochs=4, batch_size=8,
                     checkpoint_epochs=[0, 2, 4], seed=3, checkpoint_dir=tmp_path)
    arguments.update(overrides)
    return train_network(x, y, x, y, **arguments)


def test_metrics_and_checkpoints(tmp_path):
    result = train(tmp_path)
    assert result.status == "ok"
    assert list(result.metrics.columns) == METRIC_COLUMNS
    assert list(result.metrics["epoch"]) == [0, 1, 2, 3, 4]
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["epoch_000.pt", "epoch_002.pt", "epoch_004.pt"]
    assert result.metrics["train_loss"].iloc[-1] < result.metrics["train_loss"].iloc[0]
    assert result.metrics["train_accuracy"].iloc[-1] > 0.8  # the toy task is linearly separable
    model, meta = load_checkpoint(tmp_path / "epoch_004.pt")
    assert meta["epoch"] == 4
    x, _ = toy_sets()
    assert torch.isfinite(model(x.float())).all()


def test_same_seed_same_bytes(tmp_path):
    first = train(tmp_path / "a")
    second = train(tmp_path / "b")
    pd.testing.assert_frame_equal(first.metrics, second.metrics)
    for name in ("epoch_000.pt", "epoch_004.pt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_other_seed_other_network(tmp_path):
    a = train(tmp_path / "a", seed=1).metrics
    b = train(tmp_path / "b", seed=2).metrics
    assert not a["train_loss"].equals(b["train_loss"])


def test_diverged_run_stops_and_is_marked(tmp_path):
    result = train(tmp_path, lr=1e38, init_std=10.0)
    assert result.status == "diverged"
    last = result.metrics.iloc[-1]
    assert last["status"] == "diverged" and math.isnan(last["train_loss"])
    assert (result.metrics["status"] == "diverged").sum() == 1
    # the epochs after divergence are missing, not filled in
    assert result.metrics["epoch"].max() < 4
    assert 0 in result.checkpoint_epochs and 4 not in result.checkpoint_epochs


def test_build_mlp_validates_and_initialises_normally():
    model = build_mlp(36, 3, 32, 0.1, seed=0)
    weights = torch.cat([p.flatten() for p in model.parameters()])
    assert abs(weights.std().item() - 0.1) < 0.01
    with pytest.raises(ValueError, match="depth"):
        build_mlp(36, 0, 32, 0.1, seed=0)
    with pytest.raises(ValueError, match="init_std"):
        build_mlp(36, 2, 32, 0.0, seed=0)


def test_corrupt_checkpoint_is_named(tmp_path):
    path = tmp_path / "epoch_000.pt"
    save_checkpoint(build_mlp(4, 1, 3, 0.1, seed=0), path, epoch=0)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match="epoch_000.pt"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="train rule"):
        load_checkpoint(tmp_path / "missing.pt")
