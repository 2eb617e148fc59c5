"""What every subcommand reads: the network (folded once) and the points, checked against each other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..layers import NetworkLayers, network_layers
from ..loading import load_network

__all__ = ["add_model_arguments", "add_network_arguments", "read_network", "read_points", "progress"]


def _shape(text: str) -> tuple:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--input-shape must be sizes separated by commas (1,28,28), got {text!r}") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"--input-shape must be positive sizes, got {text!r}")
    return shape


def add_model_arguments(parser, points_help: str = ".npy, .pt or .csv: one point per row (or in the input shape)") -> None:
    """MODEL, POINTS, --radius and how MODEL is loaded: what every subcommand takes."""
    parser.add_argument("model", metavar="MODEL", help=".onnx, or a module saved with torch.save (see --allow-pickle)")
    parser.add_argument("points", metavar="POINTS", help=points_help)
    parser.add_argument("--radius", type=float, required=True, help="ball radius r (> 0)")
    parser.add_argument("--input-shape", type=_shape, default=None, metavar="C,H,W",
                        help="shape of one input, for a torch module that starts with a convolution")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="load a pickled torch module (runs the code its pickle names: trusted files only)")


def add_network_arguments(parser) -> None:
    """MODEL, POINTS, -o and the options shared by the subcommands that write one row per point."""
    add_model_arguments(parser)
    parser.add_argument("--norm", choices=["l2", "linf"], default="l2", help="the balls' norm (default l2)")
    parser.add_argument("-o", "--output", required=True, help="CSV to write, one row per point ('-' for stdout)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--batch-size", type=int, default=500, help="points per batch (default 500)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def read_network(args) -> NetworkLayers:
    """Load MODEL and fold it once (every analysis then takes the folded layers)."""
    if not Path(args.model).is_file():
        raise ValueError(f"MODEL {args.model!r} does not exist")
    model = load_network(args.model, input_shape=args.input_shape, allow_pickle=args.allow_pickle)
    return network_layers(model, device=getattr(args, "device", "cpu"))


def read_points(path: str, network: NetworkLayers, device) -> torch.Tensor:
    """POINTS as an ``(N, d)`` float64 tensor; ``ValueError`` for a missing file, a wrong shape, NaN or inf."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"POINTS {path!r} does not exist")
    suffix = file.suffix.lower()
    try:
        if suffix == ".npy":
            data = torch.from_numpy(np.load(file, allow_pickle=False))
        elif suffix == ".pt":
            data = _tensor_from_pt(torch.load(file, map_location="cpu", weights_only=True), path)
        elif suffix == ".csv":
            data = torch.from_numpy(_read_csv(file))
        else:
            raise ValueError(f"POINTS {path!r} must be .npy, .pt or .csv")
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"POINTS {path!r} cannot be read: {exc}") from exc
    d = network.input_width
    shape = tuple(data.shape)
    if data.ndim == 1 and shape[0] == d:
        data = data.unsqueeze(0)
    elif data.ndim >= 2 and data[0].numel() == d:
        data = data.reshape(shape[0], d)  # (N, d), or (N, C, H, W) read in row-major order
    else:
        raise ValueError(f"POINTS {path!r} has shape {shape}, but the network takes {d} inputs "
                         f"(give rows of {d}, or (N, ...) arrays of {d} values per point)")
    if not data.is_floating_point():
        data = data.to(torch.float64)
    finite = torch.isfinite(data).all(dim=1)
    if not bool(finite.all()):
        row = int((~finite).nonzero()[0])
        raise ValueError(f"POINTS {path!r}: point {row} contains NaN or inf")
    return data.to(device=device, dtype=torch.float64)


def _tensor_from_pt(loaded, path):
    if isinstance(loaded, dict):
        tensors = {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor) and v.is_floating_point()}
        for key in ("points", "x", "inputs", "images"):
            if key in tensors:
                return tensors[key]
        if len(tensors) == 1:
            return next(iter(tensors.values()))
        raise ValueError(f"POINTS {path!r} holds a dict without a 'points' or 'x' tensor (keys: {sorted(loaded)})")
    if not isinstance(loaded, torch.Tensor):
        raise ValueError(f"POINTS {path!r} holds a {type(loaded).__name__}, not a tensor")
    return loaded


def _read_csv(file: Path) -> np.ndarray:
    try:
        values = np.loadtxt(file, delimiter=",", ndmin=2)
    except ValueError:
        values = np.loadtxt(file, delimiter=",", ndmin=2, skiprows=1)  # a header row
    return values


def progress(total: int, args, unit: str = "point"):
    """A progress bar on stderr (tqdm; off with --no-progress, and when stderr is not a terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, disable=True if args.no_progress else None, leave=False,
                desc=f"localregions {args.command}")
