"""The ReLU networks of the experiment (fully connected, and a LeNet-style CNN), and their checkpoints."""

from __future__ import annotations

import io
import math
from pathlib import Path

import torch
from torch import nn

from .architectures import ARCHITECTURES, LENET_CHANNELS, LENET_HIDDEN, LENET_INPUT_SHAPE
from .storage import CorruptFileError, write_bytes

__all__ = ["build_mlp", "build_lenet", "build_network", "save_checkpoint", "load_checkpoint", "checkpoint_bytes",
           "hidden_depth", "network_copy", "INITS", "ARCHITECTURES", "LENET_INPUT_SHAPE"]

#: "normal": weights and biases ~ N(0, init_std^2) (the paper: "initialized by using the normal
#: distribution"); "he_normal": weights ~ N(0, 2 / fan_in), biases 0.
INITS = ("normal", "he_normal")


def _initialise(model: nn.Module, init: str, init_std: float, seed: int) -> None:
    """Draw every Linear's and Conv2d's parameters, layer by layer, weight before bias (see :data:`INITS`)."""
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, (nn.Linear, nn.Conv2d)):
                continue
            if init == "normal":
                module.weight.normal_(0.0, init_std, generator=generator)
                module.bias.normal_(0.0, init_std, generator=generator)
            else:
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
                module.bias.zero_()


def build_lenet(init_std: float, seed: int, *, outputs: int = 1, init: str = "normal",
                channels: tuple = LENET_CHANNELS, hidden: tuple = LENET_HIDDEN) -> nn.Sequential:
    """A LeNet-5-style CNN on full 28 x 28 MNIST, taking flat rows of 784 pixels.

    ``Unflatten -> Conv2d(1, c1, 5, padding=2) -> ReLU -> AvgPool2d(2) -> Conv2d(c1, c2, 5) -> ReLU
    -> AvgPool2d(2) -> Flatten -> Linear(25 c2, h1) -> ReLU -> Linear(h1, h2) -> ReLU -> Linear(h2,
    outputs)``: LeNet-5's layers with average pooling (its subsampling; max pooling is not a ReLU
    layer, which no analysis here supports).  Four hidden ReLU layers of ``c1 * 784``, ``c2 *
    100``, ``h1`` and ``h2`` neurons (4704, 1600, 120, 84 by default).  Parameters are drawn like
    :func:`build_mlp`'s (``he_normal``: fan-in = in_channels x 5 x 5 for a convolution).

    >>> net = build_lenet(0.1, seed=0)
    >>> net(torch.zeros(2, 784)).shape, hidden_depth(net)
    (torch.Size([2, 1]), 4)
    """
    if not init_std > 0:
        raise ValueError(f"init_std must be > 0, got {init_std!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {list(INITS)}, got {init!r}")
    for name, values in (("channels", channels), ("hidden", hidden)):
        if len(values) != 2 or any(int(v) != v or v < 1 for v in values):
            raise ValueError(f"{name} must be two positive integers, got {values!r}")
    if int(outputs) != outputs or outputs < 1:
        raise ValueError(f"outputs must be a positive integer, got {outputs!r}")
    c1, c2 = (int(c) for c in channels)
    h1, h2 = (int(h) for h in hidden)
    model = nn.Sequential(
        nn.Unflatten(1, LENET_INPUT_SHAPE),
        nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),  # 28 -> 28 -> 14
        nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.AvgPool2d(2),  # 14 -> 10 -> 5
        nn.Flatten(),
        nn.Linear(c2 * 25, h1), nn.ReLU(),
        nn.Linear(h1, h2), nn.ReLU(),
        nn.Linear(h2, int(outputs)),
    )
    _initialise(model, init, init_std, seed)
    return model


def build_network(architecture: str, input_dim: int, depth: int, width: int, init_std: float, seed: int, *,
                  outputs: int = 1, init: str = "normal", channels: tuple = LENET_CHANNELS) -> nn.Sequential:
    """:func:`build_mlp` or :func:`build_lenet` (``depth`` and ``width`` are the MLP's, ``channels`` the LeNet's)."""
    if architecture == "mlp":
        return build_mlp(input_dim, depth, width, init_std, seed, outputs=outputs, init=init)
    if architecture == "lenet":
        if input_dim != 784:
            raise ValueError(f"the lenet architecture takes 28 x 28 inputs (input_dim 784), got {input_dim}")
        return build_lenet(init_std, seed, outputs=outputs, init=init, channels=tuple(channels))
    raise ValueError(f"architecture must be one of {list(ARCHITECTURES)}, got {architecture!r}")


def build_mlp(input_dim: int, depth: int, width: int, init_std: float, seed: int, *, outputs: int = 1,
              init: str = "normal") -> nn.Sequential:
    """``depth`` hidden ReLU layers of ``width`` neurons and an output layer of ``outputs`` logits.

    Parameters are drawn (see :data:`INITS`) with a generator seeded by ``seed``, layer by layer,
    weight before bias, so the same arguments give the same network on every machine with the
    same torch.

    >>> net = build_mlp(36, 2, 32, init_std=0.1, seed=0)
    >>> [type(m).__name__ for m in net]
    ['Linear', 'ReLU', 'Linear', 'ReLU', 'Linear']
    """
    for name, value in (("input_dim", input_dim), ("depth", depth), ("width", width), ("outputs", outputs)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not init_std > 0:
        raise ValueError(f"init_std must be > 0, got {init_std!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {list(INITS)}, got {init!r}")
    generator = torch.Generator().manual_seed(int(seed))
    modules: list[nn.Module] = []
    fan_in = input_dim
    for _ in range(depth):
        modules += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    modules.append(nn.Linear(fan_in, outputs))
    model = nn.Sequential(*modules)
    _initialise(model, init, init_std, seed)
    return model


def network_copy(model: nn.Sequential, dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """A copy of a Linear/ReLU network in ``dtype`` on the CPU, in eval mode; the original is left as it is.

    >>> net = build_mlp(3, 1, 4, init_std=0.1, seed=0)
    >>> network_copy(net)[0].weight.dtype, net[0].weight.dtype
    (torch.float64, torch.float32)
    """
    modules: list[nn.Module] = []
    for module in model:
        if isinstance(module, nn.Linear):
            linear = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
            linear.load_state_dict({k: v.detach().cpu() for k, v in module.state_dict().items()})
            modules.append(linear)
        elif isinstance(module, nn.ReLU):
            modules.append(nn.ReLU())
        else:
            raise ValueError(f"model must hold only Linear and ReLU modules, got {type(module).__name__}")
    return nn.Sequential(*modules).to(dtype).eval()


def hidden_depth(model: nn.Sequential) -> int:
    return sum(isinstance(module, nn.ReLU) for module in model)


def checkpoint_bytes(model: nn.Sequential, /, **meta) -> bytes:
    """The bytes :func:`save_checkpoint` writes: weights and what is needed to rebuild the network."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    if convs:  # a LeNet of build_lenet
        record = {
            "architecture": "lenet",
            "channels": [m.out_channels for m in convs],
            "hidden": [m.out_features for m in linears[:-1]],
            "outputs": linears[-1].out_features,
            "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "meta": meta,
        }
        buffer = io.BytesIO()
        torch.save(record, buffer)
        return buffer.getvalue()
    record = {
        "input_dim": linears[0].in_features,
        "depth": hidden_depth(model),
        "width": linears[0].out_features,
        "outputs": linears[-1].out_features,
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "meta": meta,
    }
    # Saved through a buffer: torch.save names the archive after the file, and the temporary name
    # would otherwise make two identical checkpoints differ in bytes.
    buffer = io.BytesIO()
    torch.save(record, buffer)
    return buffer.getvalue()


def save_checkpoint(model: nn.Sequential, path: str | Path, /, **meta) -> None:
    """Save the weights and what is needed to rebuild the network (atomically)."""
    write_bytes(checkpoint_bytes(model, **meta), path)


def load_checkpoint(path: str | Path) -> tuple[nn.Sequential, dict]:
    """Rebuild the network saved by :func:`save_checkpoint` (an MLP or a LeNet); returns ``(model, meta)``.

    Raises :class:`~localregions.experiment.storage.CorruptFileError` naming the file when it is
    missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise CorruptFileError(f"checkpoint {path} does not exist (the train rule writes it)")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
        if record.get("architecture", "mlp") == "lenet":
            model = build_lenet(1.0, 0, outputs=record["outputs"], channels=tuple(record["channels"]),
                                hidden=tuple(record["hidden"]))
        else:
            model = build_mlp(record["input_dim"], record["depth"], record["width"], init_std=1.0, seed=0,
                              outputs=record.get("outputs", 1))
        model.load_state_dict(record["state_dict"])
    except Exception as exc:
        raise CorruptFileError(f"checkpoint {path} is corrupt or not a localregions checkpoint: {exc}") from exc
    model.eval()
    return model, dict(record.get("meta", {}))
