"""Turn a user's network into the list of hidden ReLU layers that every analysis walks.

The bound engine, the region counters and the geometry helpers all accept the same
``layers`` argument, so its parsing and validation live here, once.

Accepted forms
--------------
* a :class:`torch.nn.Sequential` of :class:`~torch.nn.Linear` and :class:`~torch.nn.ReLU`
  modules, alternating ``Linear, ReLU, Linear, ReLU, ...``; a final ``Linear`` with no ReLU
  after it is the output layer: it is affine on every region, so it cuts no regions and is
  dropped;
* a sequence of ``(weight, bias)`` pairs, one per hidden ReLU layer, ``weight`` shaped
  ``(out, in)`` as in :class:`~torch.nn.Linear`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .validation import as_tensor

__all__ = ["AffineLayer", "hidden_affine_layers"]

AffineLayer = tuple[torch.Tensor, torch.Tensor]


def _from_sequential(model: nn.Sequential) -> list[AffineLayer]:
    modules = list(model)
    pairs: list[AffineLayer] = []
    position = 0
    while position < len(modules):
        module = modules[position]
        if not isinstance(module, nn.Linear):
            raise ValueError(
                f"layers[{position}] is {type(module).__name__}; layers must alternate Linear and "
                "ReLU modules (only Linear and ReLU are supported)"
            )
        following = modules[position + 1] if position + 1 < len(modules) else None
        if following is None:
            # The output layer: affine everywhere, so it does not split regions.
            break
        if not isinstance(following, nn.ReLU):
            raise ValueError(
                f"layers[{position + 1}] is {type(following).__name__}; every hidden Linear must be "
                "followed by a ReLU (only Linear and ReLU are supported)"
            )
        bias = module.bias if module.bias is not None else torch.zeros(module.out_features)
        pairs.append((module.weight.detach(), bias.detach()))
        position += 2
    return pairs


def hidden_affine_layers(
    layers,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> list[AffineLayer]:
    """Return the hidden ReLU layers of ``layers`` as ``(weight, bias)`` pairs.

    Parameters
    ----------
    layers : nn.Sequential or sequence of (weight, bias)
        See the module docstring for the accepted forms.
    dtype : torch.dtype, default float64
        Every analysis of this package works in float64; the weights are cast.
    device : optional
        Where to put the tensors; defaults to the weights' own device.

    Raises
    ------
    ValueError
        Naming ``layers`` and the offending position when a module other than Linear/ReLU
        appears, shapes do not chain, or a weight or bias holds NaN or inf.
    """
    if isinstance(layers, nn.Sequential):
        raw = _from_sequential(layers)
    elif isinstance(layers, nn.Module):
        raise ValueError(
            f"layers must be an nn.Sequential of Linear and ReLU modules or a list of (weight, bias) "
            f"pairs, got {type(layers).__name__}"
        )
    elif isinstance(layers, Sequence) and not isinstance(layers, (str, bytes)):
        raw = []
        for index, pair in enumerate(layers):
            if not isinstance(pair, Sequence) or len(pair) != 2:
                raise ValueError(f"layers[{index}] must be a (weight, bias) pair")
            raw.append((as_tensor(pair[0], f"layers[{index}] weight"), as_tensor(pair[1], f"layers[{index}] bias")))
    else:
        raise ValueError(
            f"layers must be an nn.Sequential or a list of (weight, bias) pairs, got {type(layers).__name__}"
        )

    result: list[AffineLayer] = []
    previous_width: int | None = None
    for index, (weight, bias) in enumerate(raw):
        if weight.ndim != 2:
            raise ValueError(f"layers[{index}] weight must be 2-D (out, in), got shape {tuple(weight.shape)}")
        if bias.ndim != 1 or bias.shape[0] != weight.shape[0]:
            raise ValueError(
                f"layers[{index}] bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}"
            )
        if previous_width is not None and weight.shape[1] != previous_width:
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
