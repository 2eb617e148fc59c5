"""The checks every settings section runs on its values: one-line errors that name the key and what is valid.

Shared by :mod:`.settings`, :mod:`.study_settings` and :mod:`.motivation_settings`; like them it
imports nothing heavy (the Snakefile reads the settings at parse time).
"""

from __future__ import annotations

import math
from typing import Any

from ..vocabulary import SCALES

__all__ = ["require", "require_positive_number", "require_unique", "require_directory_name", "check_scales_and_radii"]


def require(condition: bool, key: str, message: str, value: Any) -> None:
    if not condition:
        raise ValueError(f"config key {key} {message}, got {value!r}")


def require_positive_number(value: float, key: str) -> None:
    require(isinstance(value, (int, float)) and math.isfinite(value) and value > 0, key, "must be a finite number > 0", value)


def require_unique(values: list, key: str, normalise=lambda v: v) -> None:
    seen: dict = {}
    for value in values:
        canonical = normalise(value)
        require(canonical not in seen, key, f"must not repeat an entry ({seen.get(canonical)!r} and {value!r} are the same)", list(values))
        seen[canonical] = value


def require_directory_name(value: str, key: str) -> None:
    require(isinstance(value, str) and value.strip() != "", key, "must be a non-empty path", value)


def check_scales_and_radii(scales: list[str], radii: dict[str, list[float]], section: str) -> None:
    for scale in scales:
        require(scale in SCALES, f"{section}.scales", f"entries must be among {list(SCALES)}", scale)
        require(scale in radii and len(radii[scale]) >= 1, f"{section}.radii.{scale}",
                 f"must list at least one radius for every scale in {section}.scales", dict(radii))
        for radius in radii[scale]:
            require_positive_number(radius, f"{section}.radii.{scale}")
        require_unique(list(radii[scale]), f"{section}.radii.{scale}", float)
    require_unique(list(scales), f"{section}.scales")
