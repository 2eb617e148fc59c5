"""Argument checkers shared by every public function, in the manner of scikit-learn's ``utils.validation``.

Each checker returns the value in canonical form or raises ``ValueError`` with a message that
names the argument, so a caller never has to guess which of its inputs was wrong.  Strings are
never taken for numbers (``radius="0.4"`` is refused) and names are matched exactly
(``norm="L2"`` is refused): a silent conversion would hide a typo in a caller's code.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

__all__ = ["NORMS", "as_tensor", "check_norm", "check_radius", "check_positive_int", "check_seed", "check_points"]

#: Accepted ``norm`` values and the order of the dual norm that measures a row against the ball.
NORMS = {"l2": 2.0, "linf": 1.0}


def _is_integer(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_norm(norm) -> str:
    """Return ``norm`` if it is ``"l2"`` or ``"linf"``, else raise ``ValueError``.

    >>> check_norm("l2")
    'l2'
    >>> check_norm("L2")
    Traceback (most recent call last):
    ...
    ValueError: norm must be one of ['l2', 'linf'], got 'L2'
    """
    if not isinstance(norm, str) or norm not in NORMS:
        raise ValueError(f"norm must be one of {sorted(NORMS)}, got {norm!r}")
    return norm


def check_radius(radius, name: str = "radius") -> float:
    """Return ``radius`` as a float if it is a finite real number > 0, else raise ``ValueError``.

    A one-element tensor is accepted; strings and booleans are not.

    >>> check_radius(0.4)
    0.4
    >>> check_radius("0.4")
    Traceback (most recent call last):
    ...
    ValueError: radius must be a finite number > 0, got '0.4'
    """
    if isinstance(radius, torch.Tensor):
        if radius.numel() != 1 or radius.dtype == torch.bool:
            raise ValueError(f"{name} must be a finite number > 0, got a tensor of shape {tuple(radius.shape)}")
        radius = radius.item()
    if not isinstance(radius, (numbers.Real, np.floating, np.integer)) or isinstance(radius, (bool, np.bool_)):
        raise ValueError(f"{name} must be a finite number > 0, got {radius!r}")
    value = float(radius)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {radius!r}")
    return value


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as an int if it is an integer >= 1, else raise ``ValueError`` naming ``name``.

    >>> check_positive_int(3, "chunk_size")
    3
    >>> check_positive_int(0, "chunk_size")
    Traceback (most recent call last):
    ...
    ValueError: chunk_size must be an integer >= 1, got 0
    """
    if not _is_integer(value) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_seed(seed, name: str = "seed") -> int:
    """Return ``seed`` as an int if it is an integer >= 0, else raise ``ValueError``."""
    if not _is_integer(seed) or seed < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {seed!r}")
    return int(seed)


def as_tensor(value, name: str) -> torch.Tensor:
    """``value`` as a detached tensor; ``ValueError`` naming ``name`` if it cannot be one."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    try:
        return torch.as_tensor(value)
    except Exception as exc:
        raise ValueError(f"{name} must be a tensor or array-like, got {type(value).__name__}") from exc


def check_points(points, name: str, input_width: int | None, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """Validate an ``(N, d)`` batch of input points and cast it to ``dtype`` (float64 by default).

    ``name`` is the caller's argument name, used in every message; ``input_width`` (if given) is
    the number of inputs the network takes.
    """
    tensor = as_tensor(points, name)
    if tensor.ndim != 2:
        raise ValueError(f"{name} must be a 2-D tensor of shape (N, d), got shape {tuple(tensor.shape)}")
    if input_width is not None and tensor.shape[1] != input_width:
        raise ValueError(f"{name} has {tensor.shape[1]} columns but the network takes {input_width} inputs")
    tensor = tensor.to(device=device if device is not None else tensor.device, dtype=dtype)
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} contains NaN or inf")
    return tensor
