"""What the pipeline's portable numerics cost: the same work on this CPU's own code paths and on the pinned ones.

    .venv/bin/python bench/bench_numerics.py            # three repeats of each, the fastest kept
    .venv/bin/python bench/bench_numerics.py --repeats 1

Each workload runs in a fresh Python, once with the environment the Snakefile sets for every job
(``localregions.pipeline.numerics``: MKL's COMPATIBLE path, torch's default kernels, numpy's
baseline, oneDNN off) and once without; the runs alternate so that other load hits both alike.
Workloads, as the pipeline's jobs run them (one thread):

* ``train``: one figure3 training job, 10 seeds x 20 epochs of the 3-hidden-layer MLP (width 32) on
  1,000 points of 36 inputs, batch 32, float32;
* ``bounds``: Algorithm 1 at r = 0.4 on 4,000 centres x 11 checkpoints of that MLP (float64);
* ``bounds784``: Algorithm 1 on full_mnist's scale, 784 x 3 x 256, 2,000 centres;
* ``lenet``: one epoch of a LeNet-5-style CNN on 2,000 MNIST-sized images (convolutions: oneDNN
  natively, torch's own path when pinned).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from localregions.pipeline.numerics import portable_environment

WORKLOADS = {
    "train": """
import torch, tempfile
from localregions.experiment.training import train_network
g = torch.Generator().manual_seed(0)
x = torch.rand(1000, 36, generator=g, dtype=torch.float64); y = (x[:, :18].sum(1) > x[:, 18:].sum(1)).double()
with tempfile.TemporaryDirectory() as d:
    for seed in range(10):
        train_network(x, y, x[:200], y[:200], depth=3, width=32, init_std=0.1, lr=0.02, momentum=0.0, epochs=20,
                      batch_size=32, checkpoint_epochs=[20], seed=seed, checkpoint_dir=d)
""",
    "bounds": """
import torch
from localregions import local_region_bound
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(36, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(),
                          torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1)).double()
x = torch.rand(4000, 36, dtype=torch.float64) * 255
for _ in range(11):
    local_region_bound(net, x, radius=0.4)
""",
    "bounds784": """
import torch
from localregions import local_region_bound
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                          torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)).double()
local_region_bound(net, torch.rand(2000, 784, dtype=torch.float64), radius=0.1)
""",
    "lenet": """
import torch
from localregions.experiment.models import build_network
net = build_network("lenet", 784, 0, 0, 0.1, 0, outputs=10, init="normal")
opt = torch.optim.SGD(net.parameters(), lr=0.01)
g = torch.Generator().manual_seed(0)
x = torch.rand(2000, 784, generator=g); y = torch.randint(0, 10, (2000,), generator=g)
for start in range(0, 2000, 32):
    opt.zero_grad(); torch.nn.functional.cross_entropy(net(x[start:start + 32]), y[start:start + 32]).backward(); opt.step()
""",
}

_PREAMBLE = """
import torch
torch.set_num_threads(1)
if PINNED:
    from localregions.pipeline.numerics import enter_portable_numerics
    enter_portable_numerics()
"""


def run(workload: str, pinned: bool) -> float:
    names = set(portable_environment())
    environ = {k: v for k, v in os.environ.items() if k not in names}
    if pinned:
        environ.update(portable_environment())
    code = _PREAMBLE.replace("PINNED", str(pinned)) + WORKLOADS[workload] + "\nprint(time.perf_counter() - STARTED)"
    code = "import time\nSTARTED = time.perf_counter()\n" + code
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=list(WORKLOADS))
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'workload':<10} {'native s':>9} {'pinned s':>9} {'pinned/native':>14}")
    for workload in args.workloads:
        times = {False: [], True: []}
        for _ in range(args.repeats):
            for pinned in (False, True):
                times[pinned].append(run(workload, pinned))
        native, pinned = min(times[False]), min(times[True])
        print(f"{workload:<10} {native:9.2f} {pinned:9.2f} {pinned / native:14.2f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
