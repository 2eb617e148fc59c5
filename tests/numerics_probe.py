"""Train, bound and summarise small networks the way the pipeline does; print one SHA-256 of every result's bytes.

Run as a script by tests/test_numerics.py under different CPU code paths (environment variables,
an emulated CPU). With ``--pinned`` it first enters the pipeline's portable numerics, as every
pipeline job does, so the hash must not depend on the CPU; without it, the libraries pick their
kernels per CPU and the hash may differ.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pinned", action="store_true", help="enter the pipeline's portable numerics first")
    args = parser.parse_args()
    if args.pinned:
        from localregions.pipeline.numerics import enter_portable_numerics

        enter_portable_numerics()
    import numpy as np
    import torch

    from localregions import local_region_bound
    from localregions.experiment.models import load_checkpoint
    from localregions.experiment.training import train_network

    torch.set_num_threads(1)
    digest = hashlib.sha256()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(400, 36, generator=generator, dtype=torch.float64)
    y = ((x[:, :18].sum(1) - x[:, 18:].sum(1)) > 0).to(torch.float64)
    with tempfile.TemporaryDirectory() as folder:
        for depth, lr in ((2, 0.02), (3, 0.001)):
            result = train_network(x, y, x[:100], y[:100], depth=depth, width=32, init_std=0.1, lr=lr, momentum=0.0,
                                   epochs=5, batch_size=32, checkpoint_epochs=[5], seed=1,
                                   checkpoint_dir=Path(folder) / f"d{depth}")
            digest.update(result.metrics.to_csv().encode())
            checkpoint = Path(folder) / f"d{depth}" / "epoch_005.pt"
            digest.update(checkpoint.read_bytes())
            network, _ = load_checkpoint(checkpoint)
            bound = local_region_bound(network, x[:200], radius=0.4)  # float64, through MKL's GEMM
            digest.update(bound.unstable.numpy().tobytes())
            distances = torch.cat([u.flatten() for u in bound.U]).numpy()
            digest.update(np.array([distances.mean(), distances.std(), np.log2(1 + distances).sum()]).tobytes())
    # A convolution's forward and backward pass (oneDNN's path unless it is off).
    torch.manual_seed(0)
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 5, padding=2), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 28 * 28, 3))
    images = torch.rand(16, 1, 28, 28, generator=generator)
    torch.nn.functional.cross_entropy(conv(images), torch.arange(16) % 3).backward()
    digest.update(b"".join(p.grad.numpy().tobytes() for p in conv.parameters()))
    print(digest.hexdigest())


if __name__ == "__main__":
    main()
