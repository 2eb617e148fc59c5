"""What defines the paper's point sets, as a validated record; imports neither torch nor Hydra.

The pipeline's ``data`` settings extend :class:`PointSetSpec` with where the files live, so the
checks below are written once and serve both the Python API (:func:`~localregions.experiment.
point_sets.prepare_point_sets`) and the config (where the same messages carry the key's prefix,
``config key data.per_class ...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..vocabulary import SCALES

__all__ = ["PointSetSpec", "RANDOM_DRAWS", "MANIFEST_NAME", "set_file_name"]

#: The manifest of a folder of point sets: what each set is, and the SHA-256 of its file.
MANIFEST_NAME = "manifest.json"


def set_file_name(name: str) -> str:
    """The file of one set inside its folder (the manifest records it, and readers take it from there)."""
    return f"{name}.pt"

#: How a random point is drawn: "pooled", each pooled pixel uniform on its range (the default
#: reading of Section 5.1); "image", each of the 28x28 pixels uniform on its range, then pooled
#: like the MNIST images.
RANDOM_DRAWS = ("pooled", "image")


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class PointSetSpec:
    """The four point sets of Section 5.1: MNIST digits, pooling, scale and the random sets."""

    digits: list[int] = field(default_factory=lambda: [0, 4])
    # None takes every image of the two digits in the test split, and as many per class from the train split.
    per_class: Optional[int] = 500
    seed: int = 0
    pool: int = 6
    scale: str = "raw"
    random_points: int = 1000
    random_draw: str = "pooled"

    def __post_init__(self) -> None:
        digits = list(self.digits)
        if len(digits) != 2 or len(set(digits)) != 2 or not all(_integer(d) and 0 <= d <= 9 for d in digits):
            raise ValueError(f"digits must be two distinct digits 0-9, got {digits!r}")
        if self.per_class is not None and (not _integer(self.per_class) or self.per_class < 1):
            raise ValueError(f"per_class must be an integer >= 1 or None, got {self.per_class!r}")
        if not _integer(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not _integer(self.pool) or not 1 <= self.pool <= 28:
            raise ValueError(f"pool must be an integer between 1 and 28, got {self.pool!r}")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {list(SCALES)}, got {self.scale!r}")
        if not _integer(self.random_points) or self.random_points < 1:
            raise ValueError(f"random_points must be an integer >= 1, got {self.random_points!r}")
        if self.random_draw not in RANDOM_DRAWS:
            raise ValueError(f"random_draw must be one of {list(RANDOM_DRAWS)}, got {self.random_draw!r}")
