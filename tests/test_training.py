"""Training: plain SGD bit for bit, the metrics and checkpoints, seeds, and runs that diverge or collapse."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import torch._dynamo  # noqa: F401  (torch.optim imports it on first use: once here, not in every forked mutmut worker)
from torch import nn

from localregions.experiment.models import build_mlp, load_checkpoint
from localregions.experiment.training import (
    COLLAPSE_MARGIN,
    LOSSES,
    METRIC_COLUMNS,
    PlainSGD,
    train_network,
    seed_streams,
)


def toy_sets(n=64, d=5, seed=0):
    """A linearly separable task: the label is the sign of the first coordinate."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    y = (x[:, 0] > 0).to(torch.int64)
    return x, y


ARGUMENTS = dict(depth=2, width=8, init_std=1.0, lr=0.1, momentum=0.0, epochs=4, batch_size=8,
                 checkpoint_epochs=[0, 2, 4], seed=3)


def train(directory, x=None, y=None, test_x=None, test_y=None, **overrides):
    if x is None:
        x, y = toy_sets()
    test_x = x if test_x is None else test_x
    test_y = y if test_y is None else test_y
    return train_network(x, y, test_x, test_y, checkpoint_dir=directory, **{**ARGUMENTS, **overrides})


def loss_and_accuracy(model, x, y, loss):
    with torch.no_grad():
        logits = model(x.float())
    if loss == "bce":
        value = nn.functional.binary_cross_entropy_with_logits(logits.squeeze(1), y.float())
        predictions = (logits.squeeze(1) > 0).long()
    else:
        value = nn.functional.cross_entropy(logits, y.long())
        predictions = logits.argmax(dim=1)
    return value.item(), (predictions == y).double().mean().item()


# ------------------------------------------------------------------------------------------------
# PlainSGD is torch.optim.SGD
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("foreach", [False, None])
def test_plain_sgd_is_bit_identical_to_torch_sgd_over_many_steps(momentum, foreach):
    torch.manual_seed(0)
    ours = build_mlp(6, 2, 10, 0.5, seed=1)
    theirs = build_mlp(6, 2, 10, 0.5, seed=1)
    # A parameter no loss reaches keeps grad None: both optimisers must leave it alone.
    ours.register_parameter("unused", nn.Parameter(torch.ones(3)))
    theirs.register_parameter("unused", nn.Parameter(torch.ones(3)))
    plain = PlainSGD(ours.parameters(), lr=0.05, momentum=momentum)
    reference = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=momentum, foreach=foreach)
    generator = torch.Generator().manual_seed(2)
    for step in range(60):
        x = torch.randn(16, 6, generator=generator)
        y = (torch.rand(16, generator=generator) > 0.5).float()
        for model, optimiser in ((ours, plain), (theirs, reference)):
            optimiser.zero_grad()
            nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y).backward()
            optimiser.step()
        for (name, a), b in zip(ours.named_parameters(), theirs.parameters(), strict=True):
            assert torch.equal(a, b), (step, name)
    assert torch.equal(ours.unused, torch.ones(3))
    assert all(p.grad is not None for name, p in ours.named_parameters() if name != "unused")
    plain.zero_grad()
    assert all(p.grad is None for p in ours.parameters())
    if momentum:
        for buffer, parameter in zip(plain.buffers, theirs.parameters(), strict=True):
            state = reference.state.get(parameter, {}).get("momentum_buffer")
            assert (buffer is None) == (state is None)
            assert buffer is None or torch.equal(buffer, state)


def test_plain_sgd_without_momentum_is_plain_sgd():
    ours, theirs = build_mlp(3, 1, 4, 0.5, seed=1), build_mlp(3, 1, 4, 0.5, seed=1)
    plain, reference = PlainSGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    for _ in range(5):
        for model, optimiser in ((ours, plain), (theirs, reference)):
            optimiser.zero_grad()
            model(x).square().mean().backward()
            optimiser.step()
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters(), strict=True))
    assert plain.buffers == [None] * 4  # no momentum buffers kept


# ------------------------------------------------------------------------------------------------
# What a run records
# ------------------------------------------------------------------------------------------------


def test_metrics_and_checkpoints(tmp_path):
    result = train(tmp_path)
    assert result.status == "ok"
    assert list(result.metrics.columns) == METRIC_COLUMNS
    assert list(result.metrics["epoch"]) == [0, 1, 2, 3, 4]
    assert set(result.metrics["status"]) == {"ok"}
    assert result.checkpoint_epochs == [0, 2, 4]
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["epoch_000.pt", "epoch_002.pt", "epoch_004.pt"]
    assert result.metrics["train_loss"].iloc[-1] < 0.5 * result.metrics["train_loss"].iloc[0]
    assert result.metrics["train_accuracy"].iloc[-1] > 0.9  # the toy task is linearly separable
    for epoch in result.checkpoint_epochs:
        assert load_checkpoint(tmp_path / f"epoch_{epoch:03d}.pt")[1] == {"epoch": epoch}


@pytest.mark.parametrize("loss", LOSSES)
def test_each_metrics_row_is_the_checkpointed_network_on_the_full_sets(tmp_path, loss):
    # The test set here has the labels flipped: its accuracy must be 1 - the training accuracy.
    # 50 points: an accuracy k/50 is not a float32 number, so it shows whether it was averaged in float64.
    x, y = toy_sets(n=50)
    result = train(tmp_path, x, y, test_x=x, test_y=1 - y, loss=loss, checkpoint_epochs=[0, 1, 2, 3, 4],
                   meta={"lr": 0.1})
    for row in result.metrics.itertuples():
        model, meta = load_checkpoint(tmp_path / f"epoch_{row.epoch:03d}.pt")
        assert meta == {"epoch": row.epoch, "lr": 0.1}
        train_loss, train_accuracy = loss_and_accuracy(model, x, y, loss)
        _, test_accuracy = loss_and_accuracy(model, x, 1 - y, loss)
        assert row.train_loss == pytest.approx(train_loss, rel=1e-6)
        assert row.train_accuracy == train_accuracy
        assert row.test_accuracy == test_accuracy
        assert row.test_accuracy == pytest.approx(1 - row.train_accuracy)


@pytest.mark.parametrize("loss, momentum", [("bce", 0.0), ("bce", 0.9), ("softmax", 0.9)])
def test_training_is_minibatch_sgd_over_a_seeded_permutation_each_epoch(tmp_path, loss, momentum):
    """The loop written out with torch.optim.SGD gives the same weights, bit for bit."""
    x, y = toy_sets(n=50)  # 50 = 6 batches of 8 and one of 2
    result = train(tmp_path, x, y, loss=loss, momentum=momentum, epochs=3, checkpoint_epochs=[3])
    init_seed, order_seed = seed_streams(ARGUMENTS["seed"])
    model = build_mlp(5, 2, 8, 1.0, init_seed, outputs=1 if loss == "bce" else 2)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    order_generator = torch.Generator().manual_seed(order_seed)
    features, labels = x.float(), y.float()
    for _ in range(3):
        order = torch.randperm(50, generator=order_generator)
        for start in range(0, 50, 8):
            batch = order[start : start + 8]
            optimiser.zero_grad()
            logits = model(features[batch])
            if loss == "bce":
                value = nn.functional.binary_cross_entropy_with_logits(logits.squeeze(1), labels[batch])
            else:
                value = nn.functional.cross_entropy(logits, labels[batch].long())
            value.backward()
            optimiser.step()
    trained, _ = load_checkpoint(tmp_path / "epoch_003.pt")
    for a, b in zip(trained.parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert result.metrics["train_loss"].iloc[-1] == pytest.approx(loss_and_accuracy(model, x, y, loss)[0], rel=1e-6)


def test_softmax_loss_trains_a_two_logit_network(tmp_path):
    result = train(tmp_path, loss="softmax", epochs=6)
    model, _ = load_checkpoint(tmp_path / "epoch_004.pt")
    assert [m.out_features for m in model if isinstance(m, nn.Linear)][-1] == 2
    assert result.status == "ok"
    assert result.metrics["train_accuracy"].iloc[-1] > 0.9
    assert result.metrics["train_loss"].iloc[-1] < 0.5 * result.metrics["train_loss"].iloc[0]


def test_he_normal_init_reaches_the_network(tmp_path):
    train(tmp_path, init="he_normal", epochs=0, checkpoint_epochs=[0])
    model, _ = load_checkpoint(tmp_path / "epoch_000.pt")
    expected = build_mlp(5, 2, 8, 1.0, seed_streams(ARGUMENTS["seed"])[0], init="he_normal")
    for a, b in zip(model.parameters(), expected.parameters(), strict=True):
        assert torch.equal(a, b)
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in model if isinstance(m, nn.Linear))


def test_a_logit_of_exactly_zero_is_class_0(tmp_path):
    # he_normal biases are 0, so on all-zero inputs every logit is exactly 0: p = 0.5 counts as class 0.
    x = torch.zeros(10, 5, dtype=torch.float64)
    y = (torch.arange(10) < 7).to(torch.int64)  # seven of class 1
    result = train(tmp_path, x, y, init="he_normal", epochs=0, checkpoint_epochs=[])
    assert result.metrics["train_accuracy"].iloc[0] == pytest.approx(0.3)
    assert result.metrics["train_loss"].iloc[0] == pytest.approx(math.log(2))


def test_training_takes_the_lenet(tmp_path):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(16, 784, generator=generator, dtype=torch.float64)
    y = (x[:, :392].sum(dim=1) > x[:, 392:].sum(dim=1)).to(torch.int64)
    result = train(tmp_path, x, y, architecture="lenet", init="he_normal", epochs=2, checkpoint_epochs=[0, 2],
                   lr=0.01, channels=(3, 5))
    assert result.status in ("ok", "collapsed") and result.checkpoint_epochs == [0, 2]
    model, _ = load_checkpoint(tmp_path / "epoch_002.pt")
    assert isinstance(model[1], nn.Conv2d) and (model[1].out_channels, model[4].out_channels) == (3, 5)
    initial, _ = load_checkpoint(tmp_path / "epoch_000.pt")
    assert not torch.equal(model[1].weight, initial[1].weight)  # trained
    value, accuracy = loss_and_accuracy(model, x, y, "bce")
    assert result.metrics["train_loss"].iloc[-1] == pytest.approx(value, rel=1e-6)
    assert result.metrics["train_accuracy"].iloc[-1] == pytest.approx(accuracy)


def test_zero_epochs_records_the_initial_network_only(tmp_path):
    result = train(tmp_path, epochs=0, checkpoint_epochs=[0, 2])
    assert list(result.metrics["epoch"]) == [0] and result.checkpoint_epochs == [0]


# ------------------------------------------------------------------------------------------------
# Seeds
# ------------------------------------------------------------------------------------------------


def test_seed_streams_are_fixed_and_distinct():
    # Pinned: changing the derivation would change every network and every published number.
    assert seed_streams(0) == (2968811710, 3677149159)
    assert seed_streams(3) == (1576890651, 2902887791)
    assert len({*seed_streams(0), *seed_streams(1)}) == 4


def test_same_seed_same_metrics_and_checkpoint_bytes(tmp_path):
    first = train(tmp_path / "a", momentum=0.9)
    second = train(tmp_path / "b", momentum=0.9)
    pd.testing.assert_frame_equal(first.metrics, second.metrics)
    for name in ("epoch_000.pt", "epoch_002.pt", "epoch_004.pt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_other_seed_other_network_and_other_order(tmp_path):
    a = train(tmp_path / "a", seed=1)
    b = train(tmp_path / "b", seed=2)
    assert not a.metrics["train_loss"].equals(b.metrics["train_loss"])
    for name in ("epoch_000.pt", "epoch_004.pt"):
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "b" / name).read_bytes()


# ------------------------------------------------------------------------------------------------
# Runs that fail to train
# ------------------------------------------------------------------------------------------------


def test_a_non_finite_loss_stops_the_run_and_marks_it_diverged(tmp_path):
    result = train(tmp_path, lr=1e38, init_std=10.0)
    assert result.status == "diverged"
    last = result.metrics.iloc[-1]
    assert last["status"] == "diverged" and math.isnan(last["train_loss"])
    assert (result.metrics["status"] == "diverged").sum() == 1
    # the epochs after divergence are missing, not filled in
    assert result.metrics["epoch"].max() < 4
    assert 0 in result.checkpoint_epochs and 4 not in result.checkpoint_epochs


def raw_scale_sets():
    """Grey levels 0-255, as the paper's raw inputs: a huge step overflows the float32 weights."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(64, 5, generator=generator, dtype=torch.float64) * 255
    return x, (x[:, 0] > 127.5).to(torch.int64)


def test_weights_overflowed_by_a_step_whose_loss_was_finite_mark_the_run_diverged(tmp_path):
    # One batch per epoch: the only step of epoch 1 is taken from the finite initial loss, so the
    # loss check never fires before the next epoch; only the check of the weights sees it.
    x, y = raw_scale_sets()
    result = train(tmp_path, x, y, lr=1e37, batch_size=64, epochs=3, checkpoint_epochs=[0, 1, 2, 3])
    assert math.isfinite(result.metrics["train_loss"].iloc[0])
    assert result.status == "diverged"
    assert list(result.metrics["epoch"]) == [0, 1]
    assert list(result.metrics["status"]) == ["ok", "diverged"]
    assert math.isnan(result.metrics["train_loss"].iloc[1])
    # The network with inf weights is never checkpointed.
    assert result.checkpoint_epochs == [0]
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["epoch_000.pt"]


def test_non_finite_weights_with_a_finite_loss_mark_the_run_diverged(tmp_path, monkeypatch):
    """A dead neuron whose bias overflows to -inf leaves the loss finite (ReLU(-inf) = 0): only the
    check of the weights sees it, and a network with an infinite weight must never be checkpointed."""
    from localregions.experiment import training

    real_step = training.PlainSGD.step
    steps = []

    def step_that_kills_a_neuron(self):
        real_step(self)
        steps.append(1)
        if len(steps) == 2:  # in epoch 1: after this, the first hidden neuron is dead everywhere
            with torch.no_grad():
                self.parameters[1][0] = -math.inf

    monkeypatch.setattr(training.PlainSGD, "step", step_that_kills_a_neuron)
    result = train(tmp_path, epochs=3, checkpoint_epochs=[0, 1, 2, 3], batch_size=32)
    assert result.status == "diverged"
    assert list(result.metrics["status"]) == ["ok", "diverged"]
    assert result.checkpoint_epochs == [0]


def test_a_network_whose_full_set_loss_is_not_finite_is_diverged(tmp_path):
    x, y = raw_scale_sets()
    result = train(tmp_path, x, y, lr=1e36, batch_size=64, epochs=1, checkpoint_epochs=[0, 1])
    assert result.status == "diverged"
    ok_rows = result.metrics[result.metrics["status"] != "diverged"]
    assert ok_rows["train_loss"].map(math.isfinite).all()


def test_a_run_at_the_majority_share_is_collapsed(tmp_path):
    # Inputs that carry no information (all zeros): the best a network can do is the majority
    # class, 70% here, which is no better than a constant answer.
    x = torch.zeros(100, 5, dtype=torch.float64)
    y = (torch.arange(100) < 70).to(torch.int64)
    result = train(tmp_path, x, y, epochs=3, checkpoint_epochs=[3])
    assert result.status == "collapsed"
    assert result.metrics["train_accuracy"].iloc[-1] <= 0.7 + COLLAPSE_MARGIN
    assert list(result.metrics["status"]) == ["ok", "ok", "ok", "collapsed"]
    assert result.checkpoint_epochs == [3]  # still checkpointed: the bounds of a collapsed net are reported


def test_a_clearly_trained_run_is_ok(tmp_path):
    result = train(tmp_path)
    assert result.metrics["train_accuracy"].iloc[-1] > 0.9
    assert result.status == "ok" and result.metrics["status"].iloc[-1] == "ok"


def test_a_run_trained_above_a_large_majority_share_is_ok(tmp_path):
    # About 90% in one class: a network above that share by more than the margin is ok.
    x, y = toy_sets(n=100)
    y = (x[:, 0] > 1.2816).to(torch.int64)  # about 10% positives
    result = train(tmp_path, x, y, epochs=30, lr=0.5, checkpoint_epochs=[])
    majority = max(float(y.float().mean()), 1 - float(y.float().mean()))
    accuracy = result.metrics["train_accuracy"].iloc[-1]
    assert accuracy > majority + COLLAPSE_MARGIN
    assert result.status == "ok"


@pytest.mark.parametrize(
    "x, y, loss, match",
    [
        (torch.zeros(4, 2), torch.zeros(3), "bce", "same, non-zero length, got 4 and 3$"),
        (torch.zeros(0, 2), torch.zeros(0), "bce", "same, non-zero length, got 0 and 0$"),
        (torch.zeros(4, 2), torch.zeros(4), "mse", "loss must be one of"),
    ],
)
def test_train_network_validates_its_arguments(tmp_path, x, y, loss, match):
    with pytest.raises(ValueError, match=match):
        train(tmp_path, x, y, loss=loss)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_training_on_cuda_keeps_training_on_the_device_and_checkpoints_cpu_weights(tmp_path):
    # Each checkpoint moves the network to the CPU to save it: it must go back before the next epoch.
    result = train(tmp_path, device="cuda", checkpoint_epochs=[0, 2, 4])
    assert result.status == "ok" and result.metrics["train_accuracy"].iloc[-1] > 0.9
    record = torch.load(tmp_path / "epoch_002.pt", weights_only=True)
    assert all(value.device.type == "cpu" for value in record["state_dict"].values())
    model, _ = load_checkpoint(tmp_path / "epoch_004.pt")
    x, y = toy_sets()
    assert result.metrics["train_accuracy"].iloc[-1] == loss_and_accuracy(model, x, y, "bce")[1]
