"""Time exact 2-D slices (``localregions.slices.slice_partition``) through MNIST-sized networks.

Two random-init networks on 784 inputs (a uniform random image on the 0-1 scale is the centre, the
plane is random):

* the MLP 784 x 256 x 256 (He-normal init, 10 logits);
* a small CNN: Conv2d(1, 8, 5, stride 2) -> 8 x 12 x 12, ReLU, Conv2d(8, 16, 3, stride 2) ->
  16 x 5 x 5, ReLU, Linear(400, 10), folded once by the library
  (:func:`localregions.network_layers`, which checks the fold against the modules) into
  784 -> 1152 -> 400 neurons; the fold's time is printed apart.

For each, windows of growing half-width (plane units = input units), one markdown row each: the
regions found, the decision-boundary segments, CPU seconds (``time.process_time``, which moves
much less than wall time on shared cores), wall seconds and regions per CPU second.  Each slice
is checked on the way: its areas sum to the window's, and the patterns of random points of the
window are polygons' patterns (the bench stops otherwise).  The goal (issue 25): a slice with
10,000 regions in under 10 s on one core.

    .venv/bin/python bench/bench_slices.py            # about a minute on one free core
    .venv/bin/python bench/bench_slices.py --quick    # the smallest windows only
"""

from __future__ import annotations

import os

# One core: set before numpy and torch load their BLAS.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from localregions import network_layers  # noqa: E402
from localregions.regions import activation_patterns  # noqa: E402
from localregions.slices import random_plane, slice_partition  # noqa: E402

from localregions.experiment.models import build_mlp  # noqa: E402


def mlp(seed: int) -> nn.Sequential:
    return build_mlp(784, 2, 256, init_std=1.0, seed=seed, outputs=10, init="he_normal").double()


def cnn(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 8, 5, stride=2), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(400, 10)).double().eval()


def checked(network, partition, half: float, seed: int) -> None:
    area = float(partition.areas().sum())
    if abs(area - 4 * half**2) > 1e-8 * 4 * half**2:
        raise SystemExit(f"areas sum to {area}, the window's is {4 * half**2}")
    samples = np.random.default_rng(seed).uniform(-half, half, size=(500, 2))
    patterns = activation_patterns(network, torch.from_numpy(partition.plane.to_input(samples))).numpy()
    known = {row.tobytes() for row in partition.patterns}
    if any(row.tobytes() not in known for row in patterns):
        raise SystemExit("a sampled point's pattern is no polygon's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timings per slice (the median is printed)")
    parser.add_argument("--quick", action="store_true", help="the smallest window of each network only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.process_time()
    folded = network_layers(cnn(args.seed))
    print(f"# the CNN folded by localregions.network_layers in {time.process_time() - started:.2f} CPU s "
          f"(widths {folded.widths})")
    networks = {
        "MLP 784x256x256": (mlp(args.seed), [2.0, 4.0, 8.0, 12.0]),
        "CNN 784->8x12x12->16x5x5": (folded, [1.0, 2.0, 4.0]),
    }
    center = torch.rand(784, generator=torch.Generator().manual_seed(args.seed), dtype=torch.float64)
    plane = random_plane(center, args.seed)
    print("# slice_partition through a random 0-1 image, random plane, random-init networks, one core")
    print(f"# {platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.2f} at start")
    print("| network | window half-width | regions | boundary segments | CPU s (median) | wall s (median) "
          "| regions per CPU s |")
    print("|---|---|---|---|---|---|---|")
    for label, (network, halves) in networks.items():
        for half in halves[:1] if args.quick else halves:
            cpu, wall = [], []
            for _ in range(args.repeats):
                start_cpu, start_wall = time.process_time(), time.perf_counter()
                partition = slice_partition(network, plane, half)
                cpu.append(time.process_time() - start_cpu)
                wall.append(time.perf_counter() - start_wall)
            checked(network, partition, half, args.seed)
            print(f"| {label} | {half:g} | {len(partition)} | {len(partition.boundary)} | {np.median(cpu):.2f} "
                  f"| {np.median(wall):.2f} | {len(partition) / np.median(cpu):.0f} |", flush=True)
    print(f"# load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
