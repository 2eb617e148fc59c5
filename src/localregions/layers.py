"""Turn a user's network into the list of hidden ReLU layers that every analysis walks.

The bound engine, the region counters and the geometry helpers all accept the same
``layers`` argument, so its parsing and validation live here, once.

Accepted forms
--------------
* a feed-forward piecewise-linear torch network (an ``nn.Module``, e.g. an ``nn.Sequential``, or
  an ``fx.GraphModule`` such as onnx2torch produces) of ``Linear``, ``Conv1d/2d/3d`` (any stride,
  padding, dilation, groups), ``AvgPool``, ``Flatten``/``Unflatten``, ``BatchNorm1d/2d/3d`` and
  ``Dropout`` in eval mode, ``Identity``, input normalisation (torchvision's ``Normalize``, or
  subtracting, dividing, multiplying by or adding constants) and ``ReLU``: every ReLU ends a
  hidden layer, and the modules between two ReLUs are folded into one affine map
  (:mod:`localregions.folding`; a convolution becomes its dense matrix).  What comes after the
  last ReLU is the output layer: affine on every region, it cuts no regions and is dropped here
  (:func:`network_layers` returns it).  The network takes flat ``(N, d)`` inputs; one that
  starts with a convolution needs ``nn.Unflatten(1, (C, H, W))`` in front, or
  :func:`network_layers` with ``input_shape``;
* a :class:`NetworkLayers` (what :func:`network_layers` returns; fold once, analyse many times);
* a sequence of ``(weight, bias)`` pairs, one per hidden ReLU layer, ``weight`` shaped
  ``(out, in)`` as in :class:`~torch.nn.Linear`.

MaxPool, the other piecewise-linear operations that are not ReLU layers, and residual
connections across a ReLU are refused by every method, with a ``ValueError`` naming the module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .folding import FOLD_MEMORY_BUDGET_BYTES, fold_network
from .folding_ops import SUPPORTED_MODULES
from .validation import as_tensor

__all__ = ["AffineLayer", "NetworkLayers", "SUPPORTED_MODULES", "hidden_affine_layers", "network_layers"]

AffineLayer = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class NetworkLayers:
    """A network as the analyses see it: its hidden ReLU layers and its output layer, as dense affine maps.

    Attributes
    ----------
    hidden : list of (weight, bias)
        One pair per hidden ReLU layer, ``weight`` (out, in) float64: the pre-activations of layer
        ``k`` are ``weight @ x_{k-1} + bias`` with ``x_{k-1}`` the previous layer's ReLU outputs
        (the flat input for ``k = 1``), flattened in row-major (C, H, W) order.
    output : (weight, bias) or None
        The affine map from the last hidden layer's outputs (or the input) to the network's flat
        output; ``None`` when the network ends with a ReLU.
    input_shape : tuple
        The shape of one input without the batch dimension (``(d,)`` for a flat network).
    hidden_shapes : list of tuple
        The shape of each hidden layer's outputs, e.g. ``(6, 28, 28)`` after a convolution.
    names : list of str
        The traced node of each hidden layer's ReLU (``"1"``, ``"features.2"``; empty for pairs).
    """

    hidden: list
    output: tuple | None
    input_shape: tuple
    hidden_shapes: list
    names: list

    @property
    def input_width(self) -> int:
        """``d``, the number of inputs (the centres' columns)."""
        width = 1
        for size in self.input_shape:
            width *= size
        return width

    @property
    def widths(self) -> list:
        """The number of neurons of each hidden layer."""
        return [W.shape[0] for W, _ in self.hidden]


def _plain_mlp(model) -> tuple | None:
    """``(hidden pairs, output pair or None)`` of an ``nn.Sequential`` of alternating Linear and ReLU, else None.

    The common case skips the trace, the float64 copy and the check of the general folding (it
    gives the same pairs: the weights themselves).
    """
    if not isinstance(model, nn.Sequential) or not len(model):
        return None
    modules = list(model)
    kinds = [nn.Linear if isinstance(m, nn.Linear) else nn.ReLU if isinstance(m, nn.ReLU) else None for m in modules]
    if any(type(m) not in (nn.Linear, nn.ReLU) for m in modules):
        return None
    if kinds[0::2] != [nn.Linear] * len(kinds[0::2]) or kinds[1::2] != [nn.ReLU] * len(kinds[1::2]):
        return None

    def pair(linear):
        bias = linear.bias if linear.bias is not None else torch.zeros(linear.out_features, device=linear.weight.device)
        return linear.weight.detach(), bias.detach()

    hidden = [pair(m) for m, nxt in zip(modules[0::2], modules[1::2])]
    output = pair(modules[-1]) if len(modules) % 2 else None
    return hidden, output


def network_layers(
    model,
    input_shape=None,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    memory_budget_bytes: int = FOLD_MEMORY_BUDGET_BYTES,
) -> NetworkLayers:
    """Fold ``model`` into its hidden ReLU layers **and** its output layer, each one dense affine map.

    Parameters
    ----------
    model : nn.Module, NetworkLayers or sequence of (weight, bias)
        See the module docstring.  A sequence of pairs has no output layer (``output=None``).
    input_shape : tuple of int, optional
        The shape of one input, e.g. ``(1, 28, 28)``, for a network that starts with a layer that
        does not fix it (a convolution); by default read from a first ``Linear`` or ``Unflatten``.
    dtype, device
        The returned tensors' dtype (float64 by default, as every analysis) and device (by
        default the weights' own).
    memory_budget_bytes : int, default 256 MiB
        Bound on the work memory of folding one affine run (the unit vectors are pushed through
        it a chunk at a time); the dense matrices themselves come on top.

    Returns
    -------
    NetworkLayers

    Raises
    ------
    ValueError
        Naming the module: an unsupported one (MaxPool, a residual connection, Sigmoid, ...),
        BatchNorm or Dropout in training mode, a network whose input shape cannot be told, NaN or
        inf weights, shapes that do not chain.

    Examples
    --------
    >>> net = nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
    ...                     nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 3))
    >>> folded = network_layers(net)
    >>> folded.widths, folded.hidden_shapes, folded.output[0].shape
    ([32], [(2, 4, 4)], torch.Size([3, 32]))
    >>> x = torch.randn(5, 16, dtype=torch.float64)
    >>> (W1, b1), (Wo, bo) = folded.hidden[0], folded.output
    >>> torch.allclose((x @ W1.t() + b1).clamp_min(0) @ Wo.t() + bo, net.double()(x))
    True
    """
    if isinstance(model, NetworkLayers):
        hidden = _validated(model.hidden, dtype, device)
        output = _validated([model.output], dtype, device, chained=False)[0] if model.output is not None else None
        return NetworkLayers(hidden, output, model.input_shape, model.hidden_shapes, model.names)
    plain = _plain_mlp(model) if input_shape is None else None
    if plain is not None:
        hidden = _validated(plain[0], dtype, device)
        output = _validated([plain[1]], dtype, device, chained=False)[0] if plain[1] is not None else None
        d = (hidden or [output])[0][0].shape[1]
        return NetworkLayers(hidden, output, (d,), [(W.shape[0],) for W, _ in hidden],
                             [str(2 * k + 1) for k in range(len(hidden))])
    if isinstance(model, nn.Module):
        folded = fold_network(model, input_shape, memory_budget_bytes=memory_budget_bytes)
        hidden = _validated(folded.hidden, dtype, device)
        output = None
        if folded.output is not None:
            output = _validated([folded.output], dtype, device, chained=False)[0]
            if hidden and output[0].shape[1] != hidden[-1][0].shape[0]:
                raise ValueError("layers: the output layer does not take the last hidden layer's outputs")
        return NetworkLayers(hidden, output, folded.input_shape, folded.hidden_shapes, folded.names)
    hidden = hidden_affine_layers(model, dtype=dtype, device=device)
    d = hidden[0][0].shape[1] if hidden else 0
    return NetworkLayers(hidden, None, (d,), [(W.shape[0],) for W, _ in hidden], [])


def hidden_affine_layers(
    layers,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> list[AffineLayer]:
    """Return the hidden ReLU layers of ``layers`` as ``(weight, bias)`` pairs.

    Parameters
    ----------
    layers : nn.Module, NetworkLayers or sequence of (weight, bias)
        See the module docstring for the accepted forms (a module is folded by
        :func:`network_layers`; its output layer is dropped here).
    dtype : torch.dtype, default float64
        Every analysis of this package works in float64; the weights are cast.
    device : optional
        Where to put the tensors; defaults to the weights' own device.

    Raises
    ------
    ValueError
        Naming ``layers`` and the offending module or position when a module is not supported
        (see :func:`network_layers`), shapes do not chain, or a weight or bias holds NaN or inf.
    """
    if isinstance(layers, NetworkLayers):
        return _validated(layers.hidden, dtype, device)
    plain = _plain_mlp(layers)
    if plain is not None:
        return _validated(plain[0], dtype, device)
    if isinstance(layers, nn.Module):
        return _validated(fold_network(layers).hidden, dtype, device)
    if isinstance(layers, Sequence) and not isinstance(layers, (str, bytes)):
        raw = []
        for index, pair in enumerate(layers):
            if not isinstance(pair, Sequence) or len(pair) != 2:
                raise ValueError(f"layers[{index}] must be a (weight, bias) pair")
            raw.append((as_tensor(pair[0], f"layers[{index}] weight"), as_tensor(pair[1], f"layers[{index}] bias")))
    else:
        raise ValueError(
            f"layers must be a torch network (nn.Module), a NetworkLayers or a list of (weight, bias) pairs, "
            f"got {type(layers).__name__}"
        )
    return _validated(raw, dtype, device)


def _validated(raw, dtype, device, *, chained: bool = True) -> list[AffineLayer]:
    """Check shapes, chaining and finiteness of ``(weight, bias)`` pairs; cast them to ``dtype`` on ``device``."""
    result: list[AffineLayer] = []
    previous_width: int | None = None
    for index, (weight, bias) in enumerate(raw):
        if weight.ndim != 2:
            raise ValueError(f"layers[{index}] weight must be 2-D (out, in), got shape {tuple(weight.shape)}")
        if bias.ndim != 1 or bias.shape[0] != weight.shape[0]:
            raise ValueError(
                f"layers[{index}] bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}"
            )
        if chained and previous_width is not None and weight.shape[1] != previous_width:
            raise ValueError(
                f"layers[{index}] weight takes {weight.shape[1]} inputs but layer {index - 1} has "
                f"{previous_width} outputs"
            )
        target = device if device is not None else weight.device
        weight = weight.to(device=target, dtype=dtype)
        bias = bias.to(device=target, dtype=dtype)
        if not torch.isfinite(weight).all():
            raise ValueError(f"layers[{index}] weight contains NaN or inf")
        if not torch.isfinite(bias).all():
            raise ValueError(f"layers[{index}] bias contains NaN or inf")
        result.append((weight, bias))
        previous_width = weight.shape[0]
    return result
