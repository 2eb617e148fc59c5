"""Folding torch networks into affine layers (localregions.layers.network_layers, localregions.folding).

What would break and which test catches it:

* a convolution's matrix off by a pixel, a stride or padding mishandled, BatchNorm or a
  normalisation folded with the wrong constants: the folded pre-activations differ from the
  modules' own (``test_folded_preactivations_equal_the_network``), and so do the first layer's
  bounds, which every method computes exactly from the fold (``test_first_layer_bounds_match_
  the_unfolded_convolution``, against autograd through the modules);
* the memory chunking dropping or repeating columns: ``test_chunking_does_not_change_the_fold``;
* an MLP no longer folded bit for bit: ``test_an_mlp_folds_to_its_own_weights``;
* a refused module silently accepted: ``test_refused_networks_name_the_module``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
import pytest

import localregions
from localregions import local_region_bound, preactivation_bounds
from localregions.folding import fold_network
from localregions.layers import NetworkLayers, hidden_affine_layers, network_layers

from network_cases import UnfoldedNetwork, conv_models

FOLD = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _chain(folded: NetworkLayers, x):
    pre, X = [], x
    for W, b in folded.hidden:
        A = X @ W.t() + b
        pre.append(A)
        X = A.clamp_min(0)
    out = X @ folded.output[0].t() + folded.output[1] if folded.output is not None else X
    return pre, out


@FOLD
@given(model=conv_models(), seed=st.integers(0, 2**31 - 1))
def test_folded_preactivations_equal_the_network(model, seed):
    model, d = model
    net = UnfoldedNetwork(model)
    folded = network_layers(model)
    x = torch.randn(7, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    pre, out = _chain(folded, x)
    for mine, theirs in zip(pre, net.preactivations(x), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(out, model(x), rtol=1e-10, atol=1e-10)


@FOLD
@given(model=conv_models(), seed=st.integers(0, 2**31 - 1), norm=st.sampled_from(["l2", "linf"]),
       method=st.sampled_from(["alg1", "ibp", "crown"]))
def test_first_layer_bounds_match_the_unfolded_convolution(model, seed, norm, method):
    """Layer 1's interval is ``A -/+ r ||grad z_j||_dual``, the gradient taken by autograd through the modules."""
    model, d = model
    net = UnfoldedNetwork(model)
    x = torch.randn(2, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    r = 0.1
    if method == "alg1":
        from localregions.bounds import algorithm1_trace

        _, trace = algorithm1_trace(model, x, r, norm)
        lower, upper = trace.A[0] - trace.u[0], trace.A[0] + trace.u[0]
    else:
        bounds = preactivation_bounds(model, x, r, norm, method=method)
        lower, upper = bounds.lower[0], bounds.upper[0]
    for n in range(2):
        J = net.centre_gradients(x[n])[0]
        A = net.preactivations(x[n:n + 1])[0][0]
        radius = r * torch.linalg.vector_norm(J, ord=2 if norm == "l2" else 1, dim=1)
        torch.testing.assert_close(lower[n], A - radius, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(upper[n], A + radius, rtol=1e-9, atol=1e-10)


def test_a_one_pixel_shift_of_a_convolution_is_seen():
    """The comparison above tells a convolution from the same one shifted by one pixel (zero-padded)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 2, 3, padding=1).double()
    net = nn.Sequential(nn.Unflatten(1, (1, 5, 6)), conv, nn.ReLU(), nn.Flatten(), nn.Linear(60, 1)).double()
    W = network_layers(net).hidden[0][0].view(2, 5, 6, 1, 5, 6)
    shifted = torch.zeros_like(W)
    shifted[..., 1:] = W[..., :-1]
    x = torch.randn(4, 30, dtype=torch.float64)
    b = conv.bias.repeat_interleave(30)
    assert not torch.allclose(x @ shifted.reshape(60, 30).t() + b, UnfoldedNetwork(net).preactivations(x)[0], atol=1e-6)


def test_an_mlp_folds_to_its_own_weights():
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    folded = network_layers(net)
    for (W, b), linear in zip([*folded.hidden, folded.output], [net[0], net[2], net[4]]):
        assert torch.equal(W, linear.weight.double()) and torch.equal(b, linear.bias.double())
    general = fold_network(net)  # the traced path (an alternating Sequential takes a shortcut) agrees bit for bit
    for (W, b), (V, c) in zip([*folded.hidden, folded.output], [*general.hidden, general.output]):
        assert torch.equal(W, V) and torch.equal(b, c)
    assert folded.names == general.names == ["1", "3"]
    pairs = [(m.weight, m.bias) for m in (net[0], net[2])]
    x = torch.randn(20, 6)
    for method in ("alg1", "ibp", "crown"):
        assert torch.equal(local_region_bound(net, x, 0.3, method=method).unstable,
                           local_region_bound(pairs, x, 0.3, method=method).unstable)


def test_chunking_does_not_change_the_fold():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Unflatten(1, (2, 6, 5)), nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.ReLU(),
                        nn.AvgPool2d(2, stride=1), nn.Flatten(), nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, 1))
    big = network_layers(net)
    small = network_layers(net, memory_budget_bytes=1)  # one unit vector at a time
    for (W1, b1), (W2, b2) in zip([*big.hidden, big.output], [*small.hidden, small.output]):
        assert torch.equal(W1, W2) and torch.equal(b1, b2)


def test_network_layers_reports_shapes_names_and_the_output_layer():
    net = nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    folded = network_layers(net)
    assert folded.input_shape == (16,) and folded.input_width == 16
    assert folded.hidden_shapes == [(2, 2, 2)] and folded.names == ["2"] and folded.widths == [8]
    assert folded.output[0].shape == (3, 8)
    conv_first = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    assert network_layers(conv_first, input_shape=(1, 4, 4)).input_shape == (1, 4, 4)
    ends_in_relu = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    assert network_layers(ends_in_relu).output is None
    again = network_layers(folded)  # a NetworkLayers is accepted as it is
    assert torch.equal(again.hidden[0][0], folded.hidden[0][0])
    assert hidden_affine_layers(folded)[0][0].shape == (8, 16)
    assert localregions.network_layers is network_layers and localregions.NetworkLayers is NetworkLayers


class FunctionalNet(nn.Module):
    """Functional calls, a dynamic flatten, constants, and a skip that stays inside one affine run."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.skip = nn.Conv2d(1, 2, 1)
        self.fc = nn.Linear(2 * 5 * 5, 3)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        x = x.view(x.size(0), 1, 5, 5) * 2.0 - 0.5
        x = F.relu(self.conv(x) + self.skip(x) / 4)  # both branches are affine in the input: one run
        x = torch.flatten(x, 1)
        return self.out(torch.relu(self.fc(x)))


class SkipWithinARun(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return torch.relu(self.b(h) + h)  # affine in h: one run, W = W_b + I


def test_a_skip_that_crosses_no_relu_is_folded():
    net = SkipWithinARun().double()
    (_, _), (W, b) = network_layers(net).hidden
    torch.testing.assert_close(W, net.b.weight + torch.eye(4, dtype=torch.float64), rtol=0, atol=1e-15)


def test_functional_calls_and_a_skip_within_one_affine_run():
    torch.manual_seed(2)
    net = FunctionalNet().double()
    folded = network_layers(net, input_shape=(25,))
    x = torch.randn(5, 25, dtype=torch.float64)
    _, out = _chain(folded, x)
    torch.testing.assert_close(out, net(x), rtol=1e-12, atol=1e-12)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return torch.relu(self.b(h) + x)  # x skips the ReLU of h


class Product(nn.Module):
    def forward(self, x):
        return torch.relu(x * x)


@pytest.mark.parametrize("net, words", [
    (nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                   nn.Linear(2, 1)), ["'3'", "MaxPool2d", "piecewise linear but not a ReLU layer", "alg1, ibp, crown"]),
    (Residual(), ["add", "different ReLU layers", "residual"]),
    (nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 1)), ["'1'", "Sigmoid", "not supported"]),
    (nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU()), ["'1'", "BatchNorm1d", "training mode", "eval"]),
    (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(), nn.Linear(3, 1)), ["Dropout", "training mode"]),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), ["Conv2d", "input_shape", "Unflatten"]),
    (Product(), ["mul", "product"]),
    (nn.Sequential(nn.Linear(4, 3), nn.LeakyReLU(), nn.Linear(3, 1)), ["LeakyReLU", "piecewise linear"]),
])
def test_refused_networks_name_the_module(net, words):
    with pytest.raises(ValueError) as caught:
        if isinstance(net, Product):
            network_layers(net, input_shape=(4,))
        else:
            local_region_bound(net, torch.randn(2, 4), 0.1)
    message = str(caught.value)
    assert message.startswith("layers")
    for word in words:
        assert word in message, (word, message)


def test_the_caller_s_module_is_left_as_it_is():
    net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    before = [p.clone() for p in net.parameters()]
    network_layers(net)
    assert all(p.dtype == torch.float32 and torch.equal(p, q) for p, q in zip(net.parameters(), before))


def test_a_module_that_is_not_what_its_type_says_is_caught():
    net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    linear = net[0]
    net[0].forward = lambda x: F.linear(x, linear.weight, linear.bias) ** 3  # still a Linear to the folding
    with pytest.raises(ValueError, match="differs from the network"):
        fold_network(net)


def test_every_analysis_takes_a_conv_net_and_agrees_with_its_fold():
    """Counts, local complexity and boundary distance on a conv net equal those on its folded pairs; exact sits between."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Unflatten(1, (1, 3, 3)), nn.Conv2d(1, 2, 2), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8, 3), nn.ReLU(), nn.Linear(3, 1)).double().eval()
    pairs = network_layers(net).hidden
    x = torch.randn(3, 9, dtype=torch.float64)
    for norm in ("l2", "linf"):
        sampled = localregions.sampled_region_count(net, x, 0.5, 500, seed=0, norm=norm)
        assert torch.equal(sampled, localregions.sampled_region_count(pairs, x, 0.5, 500, seed=0, norm=norm))
        torch.testing.assert_close(localregions.boundary_distance(net, x, norm),
                                   localregions.boundary_distance(pairs, x, norm), rtol=0, atol=0)
        lc = localregions.local_complexity(net, x, 0.5, norm=norm)
        assert torch.equal(lc.lower_estimate, localregions.local_complexity(pairs, x, 0.5, norm=norm).lower_estimate)
        C = local_region_bound(net, x, 0.5, norm, method="crown").unstable
        for n in range(3):
            exact = localregions.exact_region_count(net, x[n], 0.5, norm)
            assert exact.complete and int(sampled[n]) <= exact.count <= 2 ** int(C[n])
            assert exact.count == localregions.exact_region_count(pairs, x[n], 0.5, norm).count
