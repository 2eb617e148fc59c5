"""Running the real Snakefile from tests: in a temporary working directory, with MNIST copied in."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from localregions.vocabulary import MNIST_RAW_FILES

REPO = Path(__file__).resolve().parents[1]
# The committed references, whatever the working directory of the run.
REFERENCE = f"paths.reference={REPO / 'reference'}"
# A very small experiment for the end-to-end matrix: one model and learning rate, two seeds, three epochs.
TINY = ["experiment=smoke", "name=tiny", "grid.models=[mlp2]", "grid.lrs=[0.02]", "bounds.points_per_set=20",
        "tightness.enabled=false", "methods.enabled=false", "sweep.enabled=false"]


def workdir_with_mnist(workdir: Path, mnist_raw_dir: Path) -> Path:
    """A working directory whose data/raw holds verified MNIST (the download rule then finds it cached)."""
    raw = workdir / "data" / "raw" / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in MNIST_RAW_FILES:
        shutil.copy(Path(mnist_raw_dir) / "MNIST" / "raw" / name, raw / name)
    (workdir / "data" / "raw" / "MNIST" / "source.txt").write_text("cache\n")
    return workdir


def snakemake(workdir: Path, overrides: list[str], *arguments: str, timeout: int = 1200, check: bool = True,
              env: dict | None = None):
    """``snakemake --cores 2`` on the repository's Snakefile in ``workdir``; returns the completed process."""
    config = "overrides=[" + ",".join(f'"{o}"' for o in overrides) + "]"
    command = [sys.executable, "-m", "snakemake", *arguments, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--cores", "2", "--config", config]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if check:
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


def planned_rules(workdir: Path, overrides: list[str]) -> dict[str, int]:
    """The jobs a dry run would execute, by rule."""
    done = snakemake(workdir, overrides, "-n", "--quiet", "rules")
    counts = {}
    for line in (done.stdout + done.stderr).splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


def copy_run(source: Path, target: Path) -> Path:
    """A copy of a finished run's working directory, time stamps and Snakemake's records included."""
    shutil.copytree(source, target, symlinks=True, copy_function=shutil.copy2)
    return target
