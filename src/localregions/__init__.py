"""localregions: bound, count and plot the linear regions of ReLU networks inside a small ball.

The reusable library is importable from here and needs only torch, numpy and (for exact counts)
the convex solvers; it never touches pandas, Hydra or a file path::

    >>> import torch, localregions
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> bound = localregions.local_region_bound(net, torch.zeros(4, 2), radius=0.1)
    >>> bound.unstable.shape
    torch.Size([4])

Layers above it, each importing only the layers below:

* ``localregions.experiment``: MNIST, the paper's point sets, models, training, result tables;
* ``localregions.reporting``: the paper's claims checked, figures, the Markdown report, comparison
  with a reference run;
* ``localregions.pipeline``: the Hydra settings, the file layout, the steps the Snakefile runs.
"""

import importlib

# Where each public name lives. Loaded on first use (PEP 562), so that a pipeline step importing
# one subpackage does not pay for the solvers behind the exact count.
_PUBLIC = {
    "LocalBound": "bounds",
    "local_region_bound": "bounds",
    "activation_patterns": "regions",
    "boundary_distance": "regions",
    "exact_region_count": "counting",
    "sampled_region_count": "counting",
    "RegionCount": "counting",
    "RegionBudgetExceeded": "counting",
    "local_complexity": "complexity",
    "preactivation_bounds": "relaxations",
    "network_layers": "layers",
    "NetworkLayers": "layers",
    "load_network": "loading",
    "SlicePlane": "slices",
    "SlicePartition": "slices",
    "slice_plane": "slices",
    "slice_partition": "slices",
    "disc_regions": "slices",
    "SearchDomain": "search",
    "RegionSearch": "search",
    "region_measure": "search",
    "search_regions": "search",
}

__all__ = [
    "LocalBound",
    "local_region_bound",
    "activation_patterns",
    "boundary_distance",
    "exact_region_count",
    "sampled_region_count",
    "RegionCount",
    "RegionBudgetExceeded",
    "local_complexity",
    "preactivation_bounds",
    "network_layers",
    "NetworkLayers",
    "load_network",
    "SlicePlane",
    "SlicePartition",
    "slice_plane",
    "slice_partition",
    "disc_regions",
    "SearchDomain",
    "RegionSearch",
    "region_measure",
    "search_regions",
]

__version__ = "0.2.0"


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_PUBLIC))
