"""The words every layer shares: norms and bound methods, point sets, run names, table columns.

Defined once here so that the data step, the tables, the claims, the figures and the report
cannot drift apart.  Imports nothing beyond the standard library.
"""

from __future__ import annotations

__all__ = [
    "NORMS",
    "BOUND_METHODS",
    "MEASURED_METHODS",
    "MNIST_RAW_FILES",
    "MNIST_RAW_FOLDER",
    "DATASET_NAMES",
    "DATASET_LABELS",
    "RANDOM_SETS",
    "SCALES",
    "format_lr",
    "run_id",
    "SUMMARY_KEYS",
    "SETTING_KEYS",
    "SUMMARY_METRICS",
    "RUN_STATUSES",
    "DEFAULT_VARIANT",
]

#: The balls of the library: Euclidean (the paper's) and L-infinity.
NORMS = ("l2", "linf")
#: The sound bounds of ``local_region_bound(method=...)``: the paper's Algorithm 1, then IBP, CROWN, LP.
BOUND_METHODS = ("alg1", "ibp", "crown", "lp")
#: What the methods study measures on every ball, in the order of its tables: the bounds, then the
#: sampled local complexity (a lower estimate, not a bound).
MEASURED_METHODS = (*BOUND_METHODS, "local_complexity")

#: MNIST's four uncompressed IDX files, as torchvision names them ...
MNIST_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
#: ... and the folder under the raw root that holds them (torchvision's layout: ``<root>/MNIST/raw``).
MNIST_RAW_FOLDER = "MNIST/raw"

#: The paper's four point sets, in the order its figures show them.
DATASET_NAMES = ("train", "test", "random1", "random2")
#: How a reader calls them.
DATASET_LABELS = {"train": "training", "test": "testing", "random1": "random 1", "random2": "random 2"}
#: The two sets of random points (Section 5.1).
RANDOM_SETS = ("random1", "random2")
#: Input scales: grey levels 0-255 ("raw") or divided by 255 ("unit").
SCALES = ("raw", "unit")
#: A training run ends "ok", "diverged" (non-finite loss or weights) or "collapsed" (a constant
#: output or chance accuracy on the training set: it learnt nothing the claims could be about).
RUN_STATUSES = ("ok", "diverged", "collapsed")

#: The name, in a study's tables, of the study's own experiment (every other choice at its default).
DEFAULT_VARIANT = "default"

#: One row of ``summary.csv`` per these keys ...
SUMMARY_KEYS = ["depth", "lr", "seed", "epoch", "dataset", "radius", "norm"]
#: ... and one row of ``summary_by_setting.csv`` per these (the seeds pooled).
SETTING_KEYS = ["depth", "lr", "epoch", "dataset", "radius", "norm"]
#: The per-(run, epoch, set) quantities of ``summary.csv``.
SUMMARY_METRICS = [
    "mean_bound",
    "log2_mean_bound",
    "mean_log2_bound",
    "median_log2_bound",
    "single_region_points",
    "mean_boundary_distance",
]


def format_lr(lr: float) -> str:
    """The learning rate as it appears in run names and file paths.

    >>> format_lr(0.02), format_lr(2e-2), format_lr(1e-3)
    ('0.02', '0.02', '0.001')
    """
    return format(float(lr), "g")


def run_id(model: str, lr: float, seed: int) -> str:
    """The name of one training run: its folder under ``results/<name>/runs/``.

    >>> run_id("mlp3", 0.001, 4)
    'mlp3_lr0.001_seed4'
    """
    return f"{model}_lr{format_lr(lr)}_seed{int(seed)}"
