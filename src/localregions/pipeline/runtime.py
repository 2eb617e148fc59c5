"""The compute a step runs on: torch's threads and device, from the ``runtime`` settings."""

from __future__ import annotations

__all__ = ["resolve_device", "torch_device"]


def resolve_device(name: str):
    """``auto`` picks CUDA when a GPU is visible, the CPU otherwise; ``cuda`` without a GPU is an error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("runtime.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(name)


def torch_device(runtime):
    """The step's device, with torch limited to ``runtime.threads`` threads (fixed sums, byte-identical CSVs)."""
    import torch

    torch.set_num_threads(runtime.threads)
    return resolve_device(runtime.device)
