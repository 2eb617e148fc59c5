"""localregions.load_network: ONNX networks exported by torch, and saved torch modules.

The ONNX tests need the optional ``onnx`` extra (onnx, onnx2torch; onnxruntime to check the
conversion) and are skipped, with the reason, without it.  What they would catch: an ONNX
network whose C (any method), counts or boundary distances differ from the same network built
in torch -- a conversion or folding error in the normalisation, BatchNorm, Gemm or reshape nodes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import localregions
from localregions import load_network, local_region_bound, network_layers

onnx2torch = pytest.importorskip("onnx2torch", reason="the optional onnx extra (onnx, onnx2torch) is not installed")
onnx = pytest.importorskip("onnx", reason="the optional onnx extra is not installed")


class Normalisation(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(0.1307))
        self.register_buffer("std", torch.tensor(0.3081))

    def forward(self, x):
        return (x - self.mean) / self.std


class DynamicFlatten(nn.Module):
    def forward(self, x):
        return x.view(x.size(0), -1)  # exported as Shape, Gather, Concat, Reshape


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3)).eval()


def _cnn():
    torch.manual_seed(1)
    net = nn.Sequential(Normalisation(), nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.AvgPool2d(2), DynamicFlatten(), nn.Linear(4 * 3 * 3, 10), nn.BatchNorm1d(10), nn.ReLU(),
                        nn.Linear(10, 2))
    for module in net.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return net.eval()


def _export(net, example, path, dynamic=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (example,), str(path), dynamo=False, opset_version=17, input_names=["input"],
                          dynamic_axes={"input": {0: "N"}} if dynamic else None)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    mlp, cnn = _mlp(), _cnn()
    return {
        "mlp": (mlp, _export(mlp, torch.randn(2, 20), folder / "mlp.onnx"), 20),
        # The CNN's ONNX input is (N, 1, 12, 12); the torch reference takes flat rows.
        "cnn": (nn.Sequential(nn.Unflatten(1, (1, 12, 12)), cnn).eval(),
                _export(cnn, torch.randn(2, 1, 12, 12), folder / "cnn.onnx"), 144),
        "cnn_batch1": (nn.Sequential(nn.Unflatten(1, (1, 12, 12)), cnn).eval(),
                       _export(cnn, torch.randn(1, 1, 12, 12), folder / "cnn1.onnx", dynamic=False), 144),
    }


@pytest.mark.parametrize("name", ["mlp", "cnn", "cnn_batch1"])
def test_the_onnx_network_computes_what_onnxruntime_computes(exported, name):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    _, path, d = exported[name]
    loaded = load_network(path)
    x = torch.randn(1, d)
    session = ort.InferenceSession(str(path))
    shape = session.get_inputs()[0].shape
    expected = session.run(None, {"input": x.numpy().reshape([1, *shape[1:]])})[0]
    np.testing.assert_allclose(loaded(x).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["mlp", "cnn", "cnn_batch1"])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_every_method_gives_the_onnx_network_the_torch_network_s_C(exported, name, norm):
    reference, path, d = exported[name]
    loaded = load_network(path)
    folded, mine = network_layers(reference), network_layers(loaded)
    assert folded.widths == mine.widths
    for (W1, b1), (W2, b2) in zip([*folded.hidden, folded.output], [*mine.hidden, mine.output]):
        # The exporter folds BatchNorm2d into the convolution in float32: equal to float32 rounding.
        torch.testing.assert_close(W1, W2, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(b1, b2, rtol=1e-5, atol=1e-6)
    x = torch.rand(24, d, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    radius = 0.05 if norm == "l2" else 0.01
    for method in ("alg1", "ibp", "crown"):
        a = local_region_bound(reference, x, radius, norm, method=method)
        b = local_region_bound(loaded, x, radius, norm, method=method)
        assert torch.equal(a.unstable_per_layer, b.unstable_per_layer), method
        assert int(a.unstable.sum()) > 0  # not all trivially stable
    lp_a = local_region_bound(reference, x[:2], radius, norm, method="lp")
    lp_b = local_region_bound(loaded, x[:2], radius, norm, method="lp")
    assert torch.equal(lp_a.unstable_per_layer, lp_b.unstable_per_layer)
    assert torch.equal(localregions.sampled_region_count(reference, x, radius, 300, seed=0, norm=norm),
                       localregions.sampled_region_count(loaded, x, radius, 300, seed=0, norm=norm))
    assert torch.equal(localregions.local_complexity(reference, x, radius, norm=norm).lower_estimate,
                       localregions.local_complexity(loaded, x, radius, norm=norm).lower_estimate)
    torch.testing.assert_close(localregions.boundary_distance(reference, x, norm),
                               localregions.boundary_distance(loaded, x, norm), rtol=1e-4, atol=0)
    if name == "mlp":
        for n in range(2):
            assert (localregions.exact_region_count(reference, x[n], radius, norm).count
                    == localregions.exact_region_count(loaded, x[n], radius, norm).count)


def test_a_saved_torch_module_loads_only_with_allow_pickle(tmp_path):
    net = _mlp()
    torch.save(net, tmp_path / "net.pt")
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load_network(tmp_path / "net.pt")
    loaded = load_network(tmp_path / "net.pt", allow_pickle=True)
    assert not loaded.training
    x = torch.randn(3, 20)
    assert torch.equal(loaded(x), net(x))
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1)).eval()
    torch.save(conv, tmp_path / "conv.pt")
    shaped = load_network(tmp_path / "conv.pt", allow_pickle=True, input_shape=(1, 4, 4))  # takes flat rows
    y = torch.randn(3, 16)
    assert torch.equal(shaped(y), conv(y.view(3, 1, 4, 4)))
    assert network_layers(shaped).widths == [8]


def test_loader_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_network(tmp_path / "missing.onnx")
    torch.save(_mlp().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ValueError, match="state_dict"):
        load_network(tmp_path / "weights.pt")
    torch.jit.save(torch.jit.script(_mlp()), tmp_path / "scripted.pt")
    with pytest.raises(ValueError, match="TorchScript"):
        load_network(tmp_path / "scripted.pt", allow_pickle=True)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        load_network(tmp_path / "junk.onnx")


def test_an_opset_onnx2torch_cannot_convert_is_a_clear_error(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(nn.Sequential(nn.Unflatten(1, (1, 2, 2)), nn.Flatten(), nn.Linear(4, 1)),
                          (torch.randn(1, 4),), str(tmp_path / "new.onnx"), dynamo=False, opset_version=19)
    with pytest.raises(ValueError, match="opset"):
        load_network(tmp_path / "new.onnx")
