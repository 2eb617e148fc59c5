"""The fully connected ReLU networks of the experiment, and their checkpoints."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from .storage import atomic_path

__all__ = ["build_mlp", "save_checkpoint", "load_checkpoint", "hidden_depth"]


def build_mlp(input_dim: int, depth: int, width: int, init_std: float, seed: int) -> nn.Sequential:
    """``depth`` hidden ReLU layers of ``width`` neurons and one output logit.

    Weights and biases are drawn from N(0, init_std^2) with a generator seeded by ``seed``, so the
    same arguments give the same network on every machine with the same torch.
    """
    for name, value in (("input_dim", input_dim), ("depth", depth), ("width", width)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not init_std > 0:
        raise ValueError(f"init_std must be > 0, got {init_std!r}")
    generator = torch.Generator().manual_seed(int(seed))
    modules: list[nn.Module] = []
    fan_in = input_dim
    for _ in range(depth):
        modules += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    modules.append(nn.Linear(fan_in, 1))
    model = nn.Sequential(*modules)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, init_std, generator=generator)
    return model


def hidden_depth(model: nn.Sequential) -> int:
    return sum(isinstance(module, nn.ReLU) for module in model)


def save_checkpoint(model: nn.Sequential, path: str | Path, /, **meta) -> None:
    """Save the weights and what is needed to rebuild the network (atomically)."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    record = {
        "input_dim": linears[0].in_features,
        "depth": hidden_depth(model),
        "width": linears[0].out_features,
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "meta": meta,
    }
    # Saved through a buffer: torch.save names the archive after the file, and the temporary name
    # would otherwise make two identical checkpoints differ in bytes.
    buffer = io.BytesIO()
    torch.save(record, buffer)
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getvalue())


def load_checkpoint(path: str | Path) -> tuple[nn.Sequential, dict]:
    """Rebuild the network saved by :func:`save_checkpoint`; returns ``(model, meta)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (the train rule writes it)")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
        model = build_mlp(record["input_dim"], record["depth"], record["width"], init_std=1.0, seed=0)
        model.load_state_dict(record["state_dict"])
    except Exception as exc:
        raise ValueError(f"checkpoint {path} is corrupt or not a localregions checkpoint: {exc}") from exc
    model.eval()
    return model, dict(record.get("meta", {}))
