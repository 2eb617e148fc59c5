"""The networks of the experiment and their checkpoints.

A checkpoint that loads is not enough: every figure is computed from the loaded weights, so the
round trip compares weights *and* outputs with a network unlike the one :func:`load_checkpoint`
builds before it loads the state (``init_std=1``, ``seed=0``), for both output widths and both
initialisations.
"""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from localregions.experiment.models import (
    ARCHITECTURES,
    INITS,
    build_lenet,
    build_mlp,
    build_network,
    checkpoint_bytes,
    hidden_depth,
    load_checkpoint,
    save_checkpoint,
)
from localregions.experiment.storage import CorruptFileError


def linears(model: nn.Sequential) -> list[nn.Linear]:
    return [m for m in model if isinstance(m, nn.Linear)]


def as_trained(model: nn.Sequential, seed: int = 11) -> nn.Sequential:
    """Move every parameter away from any initialisation, as training would."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model


# ------------------------------------------------------------------------------------------------
# build_mlp
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth, width, outputs", [(1, 3, 1), (3, 16, 1), (2, 8, 2)])
def test_build_mlp_has_depth_hidden_relu_layers_of_width(depth, width, outputs):
    model = build_mlp(36, depth, width, 0.1, seed=0, outputs=outputs)
    assert [type(m) for m in model] == [nn.Linear, nn.ReLU] * depth + [nn.Linear]
    shapes = [(m.in_features, m.out_features) for m in linears(model)]
    assert shapes == [(36, width)] + [(width, width)] * (depth - 1) + [(width, outputs)]
    assert hidden_depth(model) == depth


def test_normal_init_draws_weights_and_biases_from_n_0_std():
    model = build_mlp(200, 2, 300, 0.1, seed=0)
    weights = torch.cat([m.weight.detach().flatten() for m in linears(model)])
    biases = torch.cat([m.bias.detach().flatten() for m in linears(model)])
    # 150,300 weights: the sample sd is within 0.5% of 0.1; 601 biases: within about 6%.
    assert abs(float(weights.std()) - 0.1) < 0.002 and abs(float(weights.mean())) < 0.001
    assert abs(float(biases.std()) - 0.1) < 0.015 and abs(float(biases.mean())) < 0.015
    # Normal, not uniform: 68.3% within one sd (a uniform of that sd puts 57.7% there).
    assert abs(float((weights.abs() < 0.1).double().mean()) - 0.6827) < 0.01


def test_he_normal_init_draws_weights_from_n_0_2_over_fan_in_and_zero_biases():
    model = build_mlp(400, 2, 150, 0.1, seed=0, outputs=2, init="he_normal")
    for layer in linears(model):
        expected = math.sqrt(2.0 / layer.in_features)  # 0.0707, 0.115, 0.115: not init_std, not fan_out
        weights = layer.weight.detach().flatten()
        tolerance = 4 * expected / math.sqrt(2 * weights.numel())  # four sds of the sample sd
        assert abs(float(weights.std()) - expected) < max(tolerance, 0.02 * expected), layer
        assert abs(float(weights.mean())) < 4 * expected / math.sqrt(weights.numel())
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    first = linears(model)[0].weight.detach().flatten()  # 60,000 weights
    assert abs(float((first.abs() < math.sqrt(2.0 / 400)).double().mean()) - 0.6827) < 0.01


def test_same_arguments_same_network_other_seed_other_network():
    first, again = build_mlp(10, 2, 8, 0.3, seed=5), build_mlp(10, 2, 8, 0.3, seed=5)
    other = build_mlp(10, 2, 8, 0.3, seed=6)
    for a, b, c in zip(first.parameters(), again.parameters(), other.parameters(), strict=True):
        assert torch.equal(a, b)
        assert not torch.equal(a, c)


def test_the_draws_are_layer_by_layer_weight_before_bias():
    # The documented order, so the same seed gives the same network wherever torch is the same.
    model = build_mlp(3, 1, 2, 0.5, seed=7)
    generator = torch.Generator().manual_seed(7)
    expected = []
    for shape in [(2, 3), (2,), (1, 2), (1,)]:
        expected.append(torch.empty(shape).normal_(0.0, 0.5, generator=generator))
    for parameter, want in zip(model.parameters(), expected, strict=True):
        assert torch.equal(parameter, want)


@pytest.mark.parametrize(
    "arguments, name",
    [
        ({"input_dim": 0}, "input_dim"),
        ({"depth": 0}, "depth"),
        ({"width": 0}, "width"),
        ({"width": 2.5}, "width"),
        ({"outputs": 0}, "outputs"),
        ({"init_std": 0.0}, "init_std"),
        ({"init_std": -0.1}, "init_std"),
        ({"init": "xavier"}, "init"),
    ],
)
def test_build_mlp_validates_its_arguments(arguments, name):
    values = {"input_dim": 4, "depth": 2, "width": 3, "init_std": 0.1, "seed": 0, **arguments}
    keywords = {k: values.pop(k) for k in ("outputs", "init") if k in values}
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        build_mlp(values["input_dim"], values["depth"], values["width"], values["init_std"], values["seed"], **keywords)


def test_inits_are_the_documented_two():
    assert INITS == ("normal", "he_normal")


# ------------------------------------------------------------------------------------------------
# Checkpoints
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "depth, outputs, init", [(2, 1, "normal"), (2, 2, "normal"), (2, 1, "he_normal"), (2, 2, "he_normal"), (1, 2, "normal")]
)
def test_checkpoint_round_trip_gives_back_the_same_weights_and_outputs(tmp_path, depth, outputs, init):
    model = as_trained(build_mlp(5, depth, 7, 0.3, seed=4, outputs=outputs, init=init))
    path = tmp_path / "epoch_003.pt"
    save_checkpoint(model, path, epoch=3, lr=0.02)
    loaded, meta = load_checkpoint(path)
    assert meta == {"epoch": 3, "lr": 0.02}
    assert [type(m) for m in loaded] == [type(m) for m in model]
    assert loaded.state_dict().keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    # The network a figure sees: the same outputs, bit for bit, in float32 and in float64.
    x = torch.randn(32, 5, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
        assert loaded(x).shape == (32, outputs)
        assert torch.equal(loaded.double()(x.double()), model.double()(x.double()))
    assert not loaded.training


def test_a_loaded_checkpoint_is_not_the_network_load_builds_first(tmp_path):
    # Ignoring the saved state would give build_mlp(..., init_std=1, seed=0): make sure it differs.
    model = as_trained(build_mlp(5, 2, 7, 0.3, seed=4))
    save_checkpoint(model, tmp_path / "c.pt")
    loaded, meta = load_checkpoint(tmp_path / "c.pt")
    placeholder = build_mlp(5, 2, 7, 1.0, seed=0)
    assert meta == {}
    assert not torch.equal(linears(loaded)[0].weight, linears(placeholder)[0].weight)
    assert torch.equal(linears(loaded)[0].weight, linears(model)[0].weight)


def test_checkpoint_bytes_are_what_save_writes_and_do_not_depend_on_the_name(tmp_path):
    model = build_mlp(4, 1, 3, 0.1, seed=0)
    save_checkpoint(model, tmp_path / "a.pt", epoch=0)
    save_checkpoint(model, tmp_path / "other_name.pt", epoch=0)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "other_name.pt").read_bytes()
    assert (tmp_path / "a.pt").read_bytes() == checkpoint_bytes(model, epoch=0)
    assert checkpoint_bytes(model, epoch=0) != checkpoint_bytes(model, epoch=1)
    assert checkpoint_bytes(model) != checkpoint_bytes(build_mlp(4, 1, 3, 0.1, seed=1))


@pytest.mark.parametrize("depth", [1, 3])
def test_checkpoint_records_the_architecture(depth):
    model = build_mlp(6, depth, 5, 0.1, seed=0, outputs=2)
    record = torch.load(io.BytesIO(checkpoint_bytes(model, epoch=2)), weights_only=True)
    assert {k: record[k] for k in ("input_dim", "depth", "width", "outputs", "meta")} == {
        "input_dim": 6, "depth": depth, "width": 5, "outputs": 2, "meta": {"epoch": 2}}


def test_a_checkpoint_without_outputs_or_meta_is_a_one_logit_network_without_meta(tmp_path):
    # Checkpoints written before the softmax loss existed have no "outputs" entry.
    model = as_trained(build_mlp(4, 1, 3, 0.1, seed=0))
    record = {"input_dim": 4, "depth": 1, "width": 3, "state_dict": model.state_dict(), "meta": {"epoch": 1}}
    torch.save(record, tmp_path / "old.pt")
    loaded, meta = load_checkpoint(tmp_path / "old.pt")
    assert meta == {"epoch": 1} and linears(loaded)[-1].out_features == 1
    assert torch.equal(linears(loaded)[-1].weight, linears(model)[-1].weight)
    del record["meta"]
    torch.save(record, tmp_path / "bare.pt")
    assert load_checkpoint(tmp_path / "bare.pt")[1] == {}


class Payload:
    """Any object that is not tensors and plain containers: unpickling it could run code."""


def test_a_checkpoint_that_pickles_objects_is_refused_not_unpickled(tmp_path):
    model = build_mlp(4, 1, 3, 0.1, seed=0)
    record = {"input_dim": 4, "depth": 1, "width": 3, "outputs": 1, "state_dict": model.state_dict(),
              "meta": {"note": Payload()}}
    torch.save(record, tmp_path / "pickled.pt")
    with pytest.raises(CorruptFileError, match="pickled.pt"):
        load_checkpoint(tmp_path / "pickled.pt")


def test_corrupt_or_missing_checkpoint_is_named(tmp_path):
    path = tmp_path / "epoch_000.pt"
    save_checkpoint(build_mlp(4, 1, 3, 0.1, seed=0), path, epoch=0)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CorruptFileError, match="corrupt or not a localregions checkpoint") as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)
    with pytest.raises(CorruptFileError, match="train rule") as caught:
        load_checkpoint(tmp_path / "missing.pt")
    assert str(tmp_path / "missing.pt") in str(caught.value)


def test_a_state_that_does_not_fit_the_architecture_is_refused(tmp_path):
    model = build_mlp(4, 1, 3, 0.1, seed=0)
    record = {"input_dim": 4, "depth": 2, "width": 3, "outputs": 1, "state_dict": model.state_dict(), "meta": {}}
    torch.save(record, tmp_path / "mismatch.pt")
    with pytest.raises(CorruptFileError, match="mismatch.pt"):
        load_checkpoint(tmp_path / "mismatch.pt")


# ------------------------------------------------------------------------------------------------
# The LeNet-style CNN
# ------------------------------------------------------------------------------------------------


def test_lenet_has_the_documented_layers_and_the_library_folds_it():
    from localregions import local_region_bound
    from localregions.layers import network_layers

    net = build_lenet(0.1, seed=0, outputs=2)
    assert [type(m).__name__ for m in net] == [
        "Unflatten", "Conv2d", "ReLU", "AvgPool2d", "Conv2d", "ReLU", "AvgPool2d", "Flatten",
        "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    folded = network_layers(net)
    assert folded.widths == [4704, 1600, 120, 84] and folded.hidden_shapes[:2] == [(6, 28, 28), (16, 10, 10)]
    assert folded.output[0].shape == (2, 84) and hidden_depth(net) == 4
    x = torch.rand(2, 784, dtype=torch.float64)
    assert local_region_bound(net, x, 0.01, method="ibp").unstable_per_layer.shape == (2, 4)


def test_lenet_draws_like_the_mlp_layer_by_layer_weight_before_bias():
    net = build_lenet(0.2, seed=4, channels=(2, 3), hidden=(5, 4))
    generator = torch.Generator().manual_seed(4)
    for parameter in net.parameters():  # Sequential order: conv1, conv2, linear1, linear2, output
        assert torch.equal(parameter, torch.empty(parameter.shape).normal_(0.0, 0.2, generator=generator))
    he = build_lenet(0.2, seed=4, init="he_normal", channels=(8, 16))
    conv2 = he[4].weight.detach().flatten()  # fan-in 8 * 5 * 5 = 200
    assert abs(float(conv2.std()) - math.sqrt(2 / 200)) < 0.004 and float(he[4].bias.abs().sum()) == 0.0


@pytest.mark.parametrize("outputs, init", [(1, "normal"), (2, "he_normal")])
def test_lenet_checkpoint_round_trip(tmp_path, outputs, init):
    net = as_trained(build_lenet(0.1, seed=1, outputs=outputs, init=init, channels=(3, 4), hidden=(7, 5)))
    save_checkpoint(net, tmp_path / "cnn.pt", epoch=3)
    loaded, meta = load_checkpoint(tmp_path / "cnn.pt")
    assert meta == {"epoch": 3} and not loaded.training
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.rand(3, 784)
    assert torch.equal(net(x), loaded(x))


def test_build_network_dispatches_and_validates():
    assert ARCHITECTURES == ("mlp", "lenet")
    assert isinstance(build_network("lenet", 784, 2, 8, 0.1, 0)[1], nn.Conv2d)
    assert [type(m) for m in build_network("mlp", 6, 1, 3, 0.1, 0)] == [nn.Linear, nn.ReLU, nn.Linear]
    with pytest.raises(ValueError, match="input_dim 784"):
        build_network("lenet", 36, 2, 8, 0.1, 0)
    with pytest.raises(ValueError, match="^architecture must be"):
        build_network("resnet", 784, 2, 8, 0.1, 0)
    with pytest.raises(ValueError, match="^channels must be"):
        build_lenet(0.1, 0, channels=(6,))


@pytest.mark.parametrize("architecture, depth, width, channels", [("mlp", 3, 7, (6, 16)), ("lenet", 4, 32, (6, 16)),
                                                                  ("lenet", 4, 32, (2, 5))])
def test_hidden_widths_without_torch_are_those_of_the_built_network(architecture, depth, width, channels):
    """The settings and the report size a model without building it; the fold of the built network agrees."""
    from localregions.experiment.architectures import hidden_widths
    from localregions.layers import network_layers

    net = build_network(architecture, 784, depth, width, 0.1, 0, channels=channels)
    assert hidden_widths(architecture, depth=depth, width=width, channels=channels) == network_layers(net).widths
    with pytest.raises(ValueError, match="^architecture must be"):
        hidden_widths("resnet", depth=2, width=3)
