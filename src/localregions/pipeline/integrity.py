"""Outputs that look finished but are not: found when the workflow is planned, and after a failure.

* :func:`invalidate_broken_outputs`: a training job's folder whose files differ from its
  ``MANIFEST.json`` (a checkpoint truncated, deleted or changed after training), or a prepared
  point set whose size differs from its ``manifest.json``. Snakemake sees only that the output
  exists; this check sees that it is wrong and marks it *incomplete* in Snakemake's own records
  (what Snakemake itself does with the outputs of a job that was interrupted), so that Snakemake
  recomputes it and everything that depends on it: the workflow profile ``profiles/default``
  sets ``rerun-incomplete``, and without it Snakemake stops naming the file. A dry run shows the
  same plan. (Removing the output would not do: Snakemake does not rerun a job for a missing
  intermediate file when what was made from it is still there; marking it old would not either:
  Snakemake 9 skips a job whose inputs are newer but unchanged in content.) Only sizes are
  checked here, which costs a directory listing; the steps that read the files check hashes.
* :func:`remove_stale_products`: after a failed run, the report, comparison, figures and claims
  of the experiment whose inputs are now missing or newer than them (a failed job's outputs are
  removed by Snakemake; what was made from their earlier version must not stay looking current).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from ..experiment.storage import CorruptFileError, verify_manifest

__all__ = ["broken_outputs", "invalidate_broken_outputs", "stale_products", "remove_stale_products"]


def _runs_problem(runs_dir: Path) -> str | None:
    manifest = runs_dir / "MANIFEST.json"
    if not manifest.is_file():
        return f"{manifest} is missing (the job did not finish)"
    try:
        verify_manifest(runs_dir, json.loads(manifest.read_text())["files"], hashes=False)
    except (CorruptFileError, ValueError, KeyError) as exc:
        return str(exc)
    return None


def _point_sets_problem(manifest: Path) -> str | None:
    try:
        sets = json.loads(manifest.read_text())["datasets"]
        for name, entry in sets.items():
            path = manifest.parent / entry["file"]
            if not path.is_file():
                return f"{path} is missing"
            if "file_bytes" in entry and path.stat().st_size != entry["file_bytes"]:
                return f"{path} has {path.stat().st_size} bytes, {manifest} recorded {entry['file_bytes']}"
    except (ValueError, KeyError, TypeError) as exc:
        return f"{manifest} is corrupt ({exc})"
    return None


def broken_outputs(plan) -> list[tuple[Path, str]]:
    """(output, why) for every existing output of the plan that fails its manifest."""
    broken = []
    for experiment in plan.experiments.values():
        manifest = experiment.data_layout.manifest
        if manifest.is_file():
            problem = _point_sets_problem(manifest)
            if problem:
                broken.append((manifest, problem))
        for runs_dir in map(Path, experiment.runs_dirs()):
            if runs_dir.is_dir():
                problem = _runs_problem(runs_dir)
                if problem:
                    broken.append((runs_dir, problem))
    return broken


# Snakemake (9.x) keeps a marker per incomplete output in this folder of the working directory, named
# by the URL-safe base64 of the output's path, split into chunks of at most NAME_MAX - 1 characters
# (all but the last prefixed with "@"), holding {"external_jobid": ...}. The end-to-end fault tests
# would catch a change of this layout.
SNAKEMAKE_INCOMPLETE = Path(".snakemake") / "incomplete"


def mark_incomplete(path: Path, records: Path = SNAKEMAKE_INCOMPLETE) -> Path:
    """Mark one output as incomplete in Snakemake's records; returns the marker's path."""
    encoded = base64.urlsafe_b64encode(str(path).encode()).decode()
    chunk = 254
    parts = [encoded[i : i + chunk] for i in range(0, len(encoded), chunk)]
    marker = records.joinpath(*["@" + part for part in parts[:-1]], parts[-1])
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"external_jobid": None}))
    return marker


def invalidate_broken_outputs(plan, warn) -> list[tuple[Path, str]]:
    """Mark every broken output of the plan incomplete (a broken point set: the file at fault), saying why."""
    broken = broken_outputs(plan)
    for path, problem in broken:
        mark_incomplete(path)
        warn(f"{path} is not a complete output ({problem}): marked incomplete, it will be recomputed with what "
             "depends on it")
    return broken


def stale_products(plan) -> list[tuple[Path, str]]:
    """(file, why) for each product of the main experiment whose inputs are missing or newer."""
    main = plan.main
    products = {
        "claims": [main.layout.claims],
        "figures": [Path(f) for f in main.figure_files()],
        "compare": [main.layout.comparison],
        "report": [main.layout.report],
    }
    stale = []
    for step, outputs in products.items():
        inputs = []
        for value in main.inputs(step).values():
            inputs += [Path(v) for v in (value if isinstance(value, list) else [value])]
        for output in outputs:
            if not output.is_file():
                continue
            missing = [p for p in inputs if not p.exists()]
            newer = [p for p in inputs if p.exists() and p.stat().st_mtime > output.stat().st_mtime]
            if missing or newer:
                why = f"its input {missing[0]} is missing" if missing else f"its input {newer[0]} is newer"
                stale.append((output, why))
    return stale


def remove_stale_products(plan, warn) -> list[tuple[Path, str]]:
    """Remove stale products until none is left (a removed figure makes the report stale in turn)."""
    removed = []
    while stale := stale_products(plan):
        for path, why in stale:
            path.unlink(missing_ok=True)
            warn(f"removed {path}: {why}, so it does not pass for a result of the inputs now present")
        removed += stale
    return removed
