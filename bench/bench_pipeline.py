"""Wall time of the experiment grid, from prepared data to both summary CSVs, and where it goes.

    .venv/bin/python bench/bench_pipeline.py                       # the default grid (figure3), --cores 2
    .venv/bin/python bench/bench_pipeline.py --overrides experiment=smoke

Runs the real Snakefile in a temporary working directory (MNIST copied from data/raw), prepares
the data untimed, then times `snakemake --cores N summary.csv summary_by_setting.csv` and sums
the per-job benchmark files by rule.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from localregions.config import MNIST_RAW_FILES, compose_config, to_settings

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, cores: int, overrides: list[str], *targets: str) -> None:
    config = "overrides=[" + ",".join(f'"{o}"' for o in overrides) + "]"
    # Targets go first: --quiet and --config take every word that follows them.
    subprocess.run([sys.executable, "-m", "snakemake", *targets, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                    "--cores", str(cores), "--quiet", "all", "--config", config], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--overrides", nargs="*", default=[])
    parser.add_argument("--raw-dir", default=str(REPO / "data" / "raw"), help="where the verified MNIST files are")
    arguments = parser.parse_args()
    settings = to_settings(compose_config(arguments.overrides))
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        raw = workdir / "data" / "raw" / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in MNIST_RAW_FILES:
            shutil.copy(Path(arguments.raw_dir) / "MNIST" / "raw" / name, raw / name)
        snakemake(workdir, arguments.cores, arguments.overrides, str(settings.manifest_file))
        started = time.perf_counter()
        snakemake(workdir, arguments.cores, arguments.overrides, str(settings.summary_file),
                  str(settings.summary_by_setting_file))
        wall = time.perf_counter() - started
        rows = []
        for path in sorted((workdir / "benchmarks" / settings.name).rglob("*.tsv")):
            rule = path.parent.name if path.parent.name != settings.name else path.stem
            rows.append({"rule": rule, "seconds": float(pd.read_csv(path, sep="\t")["s"].iloc[0])})
        jobs = pd.DataFrame(rows)
        jobs = jobs[jobs["rule"].isin(["train", "bounds", "aggregate"])]
        by_rule = jobs.groupby("rule")["seconds"].agg(["count", "sum", "mean", "max"])
    print(f"experiment {settings.name}: {len(settings.grid_runs())} runs, --cores {arguments.cores}")
    print(f"wall time, prepared data -> summary CSVs: {wall:.1f} s")
    print("job seconds by rule (each job: a fresh Python with torch, Hydra composition, the work):")
    print(by_rule.round(2).to_string())


if __name__ == "__main__":
    main()
