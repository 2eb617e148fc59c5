"""What every rule's script (``scripts/<rule>.py``) does around its step.

A rule's script is a few lines: inside :func:`rule_step` (the job's log and timing) it calls its
step (:mod:`.steps`) with the rule's files and its settings, typed by :func:`setting`. A rule's
``params`` are plain values (Snakemake compares plain values between runs, and reruns a job when
one changes: that is the rerun trigger), so :func:`setting` turns each back into its dataclass,
validating it again.

With ``LOCALREGIONS_RECORD_READS`` naming a folder, every job also writes there which settings it
was handed and which fields of them it read; a test holds the two against each other, so that a
rule declares no setting its step ignores (a needless rerun) and a step reads no setting
undeclared (it could not: it is handed only what the rule declares).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import fields, is_dataclass
from pathlib import Path

from ..experiment.specs import PointSetSpec
from .numerics import enter_portable_numerics
from .settings import GridJob, ModelConfig, section_types

__all__ = ["rule_step", "setting", "RECORD_READS"]

#: The environment variable naming the folder where jobs record the settings they read (for the tests).
RECORD_READS = "LOCALREGIONS_RECORD_READS"

log = logging.getLogger("localregions")

# params that are dataclasses, by name: the settings sections, plus these.
_TYPES = {"job": GridJob, "jobs": GridJob, "model": ModelConfig, "spec": PointSetSpec}


class _Reads:
    """What one job was handed and read (only kept when :data:`RECORD_READS` is set)."""

    declared: set[str] = set()
    read: set[str] = set()


def _recording(name: str, value):
    """``value`` (a dataclass) as an instance of a subclass that notes every field read."""
    names = {f.name for f in fields(value)}

    def getattribute(self, attribute, _names=names):
        if attribute in _names:
            _Reads.read.add(f"{name}.{attribute}")
        return object.__getattribute__(self, attribute)

    recording = type(f"Recording{type(value).__name__}", (type(value),), {"__getattribute__": getattribute})
    copy = object.__new__(recording)
    for f in fields(value):
        object.__setattr__(copy, f.name, getattr(value, f.name))
    return copy


def _typed(name: str, value):
    kind = _TYPES.get(name) or section_types().get(name)
    if kind is None:
        return value
    if kind is GridJob:
        return [GridJob.from_dict(v) for v in value] if name == "jobs" else GridJob.from_dict(value)
    return kind(**value)


def setting(snakemake, name: str):
    """The rule's param ``name``, as its dataclass when it is a settings section, a grid job or a point-set spec."""
    value = _typed(name, getattr(snakemake.params, name))
    if not os.environ.get(RECORD_READS):
        return value
    values = value if isinstance(value, list) else [value]
    if not values or not is_dataclass(values[0]):
        _Reads.declared.add(name)
        _Reads.read.add(name)
        return value
    _Reads.declared.update(f"{name}.{f.name}" for f in fields(values[0]))
    recorded = [_recording(name, v) for v in values]
    return recorded if isinstance(value, list) else recorded[0]


@contextlib.contextmanager
def rule_step(snakemake):
    """Send everything the job prints to the rule's log, and say what ran, for which experiment, how long."""
    log_path = Path(snakemake.log[0])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as handle:
        # File descriptors, not sys.stdout alone: torch and the solvers write from C as well.
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)
    wildcards = dict(snakemake.wildcards.items())
    experiment = wildcards.pop("name", None) or getattr(snakemake.params, "experiment", "-")
    log.info("%s for %s: %s", snakemake.rule, experiment, json.dumps(wildcards, sort_keys=True) if wildcards else "-")
    started = time.perf_counter()
    enter_portable_numerics()
    yield
    log.info("%s done in %.1f s", snakemake.rule, time.perf_counter() - started)
    folder = os.environ.get(RECORD_READS)
    if folder:
        record = {"rule": snakemake.rule, "experiment": experiment, "wildcards": wildcards,
                  "declared": sorted(_Reads.declared), "read": sorted(_Reads.read)}
        name = "_".join([snakemake.rule, experiment.replace("/", "-"), *map(str, wildcards.values())])
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.json").write_text(json.dumps(record, indent=1))
