"""Random small torch networks with convolutions, BatchNorm, input normalisation and pooling, for the tests.

``torch_networks()`` is a hypothesis strategy of ``(UnfoldedNetwork, centres, radius, seed)``;
an :class:`UnfoldedNetwork` evaluates the torch modules themselves (pre-activations read at the
ReLU modules' inputs by forward hooks, gradients by autograd), so the checks that use it compare
every method's claims with the network as built, not with its folded matrices.
"""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st
from torch import nn
from torchvision.transforms import Normalize

from localregions.layers import hidden_affine_layers


class ConstantNormalisation(nn.Module):
    """``(x - mean) / std`` with constant buffers: what onnx2torch makes of an exported normalisation."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return (x - self.mean) / self.std


class UnfoldedNetwork:
    """A torch network evaluated as it is: pre-activations at every ReLU module's input, in order."""

    def __init__(self, model: nn.Module):
        self.model = model.double().eval()
        self.relus = [m for m in self.model.modules() if isinstance(m, nn.ReLU)]
        self.folded = hidden_affine_layers(self.model)
        assert len(self.folded) == len(self.relus)

    def __len__(self):
        return len(self.relus)

    @property
    def widths(self):
        return [W.shape[0] for W, _ in self.folded]

    def preactivations(self, points):
        values = []
        hooks = [m.register_forward_hook(lambda mod, inp, out: values.append(inp[0].reshape(inp[0].shape[0], -1)))
                 for m in self.relus]
        try:
            self.model(points)
        finally:
            for hook in hooks:
                hook.remove()
        return values

    def forward_all(self, points):
        """``(pre, post, scale)`` like the (W, b) harness; ``scale`` (for tolerances) from the folded layers."""
        pre = self.preactivations(points)
        post = [p.clamp_min(0) for p in pre]
        scale = []
        X = points.detach()
        for W, b in self.folded:
            scale.append(X.abs() @ W.abs().t() + b.abs())
            X = (X @ W.t() + b).clamp_min(0)
        return pre, post, scale

    def centre_gradients(self, centre):
        """Gradient of every pre-activation at ``centre`` (autograd through the modules), per layer."""
        def flat(x):
            return torch.cat(self.preactivations(x.unsqueeze(0)), dim=1)[0]

        J = torch.autograd.functional.jacobian(flat, centre)
        return list(J.split(self.widths, dim=0))


def _conv_out(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


@st.composite
def conv_models(draw, max_side=6, max_channels=3, max_width=6, allow_second_conv=True):
    """A random ``nn.Sequential`` taking flat inputs: normalisation, conv(s), BatchNorm, pooling, linear layers."""
    channels = draw(st.integers(1, 2))
    height, width = draw(st.integers(3, max_side)), draw(st.integers(3, max_side))
    seed = draw(st.integers(0, 2**31 - 1))
    modules: list[nn.Module] = [nn.Unflatten(1, (channels, height, width))]
    norm = draw(st.sampled_from(["none", "normalize", "constants"]))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if norm == "normalize":
            modules.append(Normalize(mean=(torch.rand(channels) - 0.5).tolist(), std=(torch.rand(channels) + 0.5).tolist()))
        elif norm == "constants":
            modules.append(ConstantNormalisation(torch.rand(channels, 1, 1) - 0.5, torch.rand(channels, 1, 1) + 0.5))
        c_in, h, w = channels, height, width
        for layer in range(2 if allow_second_conv and draw(st.booleans()) else 1):
            kernel = draw(st.integers(1, min(3, h + 2, w + 2)))
            padding = draw(st.integers(0, 1))
            stride = draw(st.integers(1, 2))
            if _conv_out(h, kernel, stride, padding) < 1 or _conv_out(w, kernel, stride, padding) < 1:
                padding = 1
            c_out = draw(st.integers(1, max_channels))
            modules.append(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding))
            h, w = _conv_out(h, kernel, stride, padding), _conv_out(w, kernel, stride, padding)
            if draw(st.booleans()):
                bn = nn.BatchNorm2d(c_out)
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.data.uniform_(0.5, 1.5)
                bn.bias.data.uniform_(-0.5, 0.5)
                modules.append(bn)
            modules.append(nn.ReLU())
            if h >= 2 and w >= 2 and draw(st.booleans()):
                stride = draw(st.integers(1, 2))
                modules.append(nn.AvgPool2d(2, stride=stride))
                h, w = (h - 2) // stride + 1, (w - 2) // stride + 1
            c_in = c_out
        modules += [nn.Flatten(), nn.Dropout(0.5)]
        hidden = draw(st.integers(1, max_width))
        modules.append(nn.Linear(c_in * h * w, hidden))
        if draw(st.booleans()):
            bn = nn.BatchNorm1d(hidden)
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            modules.append(bn)
        modules += [nn.ReLU(), nn.Linear(hidden, 2)]
        model = nn.Sequential(*modules).double().eval()
    return model, channels * height * width


@st.composite
def torch_networks(draw, max_centres=3, **model_options):
    """``(UnfoldedNetwork, centres (n, d), radius, seed)`` for the sampling harness."""
    model, d = draw(conv_models(**model_options))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    n = draw(st.integers(1, max_centres))
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    radius = 10.0 ** draw(st.floats(-3.0, math.log10(3.0)))
    return UnfoldedNetwork(model), x, radius, draw(st.integers(0, 2**31 - 1))
