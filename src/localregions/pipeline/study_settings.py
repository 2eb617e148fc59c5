"""The settings of the studies beside the paper's experiment: ``tightness``, ``sweep``, ``methods``, ``slices``.

Sections of :class:`~.settings.Config`, typed and checked like the others; like them this module
imports nothing heavy (the Snakefile reads it at parse time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..vocabulary import BOUND_METHODS, DATASET_NAMES
from .setting_checks import check_scales_and_radii, require, require_positive_number, require_unique

__all__ = ["TightnessConfig", "SweepConfig", "MethodsConfig", "SlicesConfig", "SLICE_PLANES"]

SLICE_PLANES = ("gradient", "points", "random")


@dataclass
class TightnessConfig:
    """Exact and sampled region counts beside the bound, on a few points (see counting.py).

    Measured for every model and lr of the grid, on the first grid seed, at the first and last
    bound epochs, at the radii listed per input scale. ``scales`` lists the input scales to
    measure: the experiment's own ``data.scale`` uses its networks; another scale trains a
    companion set of networks on data at that scale (experiment ``<name>/<scale>``), since only
    there do balls of a comparable radius hold many regions.
    """

    enabled: bool = True
    points: int = 25
    samples: int = 4000
    max_regions: int = 500
    scales: list[str] = field(default_factory=lambda: ["raw", "unit"])
    # Radii per input scale. On the 0-1 scale r = 0.05-0.2 is the ball of 12.75-51 grey levels.
    radii: dict[str, list[float]] = field(default_factory=lambda: {"raw": [0.4], "unit": [0.05, 0.1, 0.2, 0.4]})

    def __post_init__(self) -> None:
        check_scales_and_radii(self.scales, self.radii, "tightness")
        require(self.points >= 1, "tightness.points", "must be >= 1", self.points)
        require(self.samples >= 1, "tightness.samples", "must be >= 1", self.samples)
        require(self.max_regions >= 1, "tightness.max_regions", "must be >= 1", self.max_regions)


@dataclass
class SweepConfig:
    """Algorithm 1 on the experiment's own networks over a range of radii, at the first and last bound epochs."""

    enabled: bool = True
    radii: list[float] = field(default_factory=lambda: [0.05 * 2**k for k in range(8)])

    def __post_init__(self) -> None:
        require(len(self.radii) >= 1, "sweep.radii", "must hold at least one radius", list(self.radii))
        for radius in self.radii:
            require_positive_number(radius, "sweep.radii")
        require_unique(list(self.radii), "sweep.radii", float)


@dataclass
class MethodsConfig:
    """Algorithm 1 beside tighter sound bounds (IBP, CROWN, LP) and a sampled measure, on the same balls.

    On the first grid seed, the first and last bound epochs, the first ``points`` points of each
    set (``lp_points`` for the per-neuron convex programs, which cost seconds per ball), at each
    input scale of ``scales`` (another scale than ``data.scale`` uses the companion networks, as
    the tightness study does) and the radii listed per scale. With the tightness study's radii,
    its exact counts sit beside the bounds of the same balls.
    """

    enabled: bool = True
    methods: list[str] = field(default_factory=lambda: list(BOUND_METHODS))
    points: int = 200
    lp_points: int = 1
    scales: list[str] = field(default_factory=lambda: ["raw", "unit"])
    radii: dict[str, list[float]] = field(default_factory=lambda: {"raw": [0.4], "unit": [0.05, 0.1, 0.4]})
    # Directions of the random cross-polytope of the local-complexity estimate (2 vertices each);
    # None takes as many as the input has dimensions.
    complexity_directions: Optional[int] = None

    def __post_init__(self) -> None:
        require(len(self.methods) >= 1, "methods.methods", "must name at least one method", list(self.methods))
        for method in self.methods:
            require(method in BOUND_METHODS, "methods.methods", f"entries must be among {list(BOUND_METHODS)}", method)
        require_unique(list(self.methods), "methods.methods")
        require(self.points >= 1, "methods.points", "must be >= 1", self.points)
        require(self.lp_points >= 0, "methods.lp_points", "must be >= 0", self.lp_points)
        check_scales_and_radii(self.scales, self.radii, "methods")
        if self.complexity_directions is not None:
            require(self.complexity_directions >= 1, "methods.complexity_directions", "must be >= 1 or null",
                     self.complexity_directions)


@dataclass
class SlicesConfig:
    """Exact 2-D slices of the regions through one point of each set, before and after training (rule ``slices``).

    For every (model, lr) of the grid, the run of grid seed ``seed`` (null: the first of
    ``grid.seeds``) at its first and last checkpoints; the ball's disc has radius
    ``bounds.radius`` (an L2 disc, whatever ``bounds.norm``).
    """

    enabled: bool = False
    seed: Optional[int] = None
    # One point of each set, side by side: the point at index ``point`` of each.
    datasets: list[str] = field(default_factory=lambda: ["train", "test", "random1"])
    point: int = 0
    # gradient: the trained network's output gradient and the direction to the nearest other point of the set;
    # points: the directions to the two nearest other points; random: two random directions drawn with plane_seed.
    plane: str = "gradient"
    plane_seed: int = 0
    # Half-width of the wide view, input units; null: the neighbours and the decision boundary fit in it.
    window: Optional[float] = None
    max_regions: int = 100_000

    def __post_init__(self) -> None:
        if self.seed is not None:
            require(self.seed >= 0, "slices.seed", "must be a grid seed (an integer >= 0) or null", self.seed)
        require(len(self.datasets) >= 1, "slices.datasets", "must name at least one dataset", list(self.datasets))
        for name in self.datasets:
            require(name in DATASET_NAMES, "slices.datasets", f"entries must be among {list(DATASET_NAMES)}", name)
        require_unique(list(self.datasets), "slices.datasets")
        require(self.point >= 0, "slices.point", "must be an index >= 0", self.point)
        require(self.plane in SLICE_PLANES, "slices.plane", f"must be one of {list(SLICE_PLANES)}", self.plane)
        require(self.plane_seed >= 0, "slices.plane_seed", "must be an integer >= 0", self.plane_seed)
        if self.window is not None:
            require_positive_number(self.window, "slices.window")
        require(self.max_regions >= 1, "slices.max_regions", "must be >= 1", self.max_regions)
