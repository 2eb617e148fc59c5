"""Wall time of the pipeline and where it goes, per rule.

    .venv/bin/python bench/bench_pipeline.py                       # figure3: prepared data -> both summary CSVs
    .venv/bin/python bench/bench_pipeline.py --full                # figure3: everything, from MNIST to the report
    .venv/bin/python bench/bench_pipeline.py --overrides experiment=smoke

Runs the real Snakefile in a temporary working directory (MNIST copied from data/raw). Without
``--full`` it prepares the data untimed, then times ``snakemake --cores N`` for the summaries;
with ``--full`` it times the whole default target. Either way it sums the per-job benchmark files
by rule: jobs, total and mean seconds (each job is a fresh Python with torch: about 1.5-2 s of
start-up, then the work).
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

from localregions.pipeline.plan import plan_experiments
from localregions.pipeline.settings import MNIST_RAW_FILES

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, cores: int, overrides: list[str], *targets: str) -> None:
    config = "overrides=[" + ",".join(f'"{o}"' for o in overrides) + "]"
    # Targets go first: --quiet and --config take every word that follows them.
    subprocess.run([sys.executable, "-m", "snakemake", *targets, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                    "--cores", str(cores), "--quiet", "all", "--config", config], check=True)


def per_rule(benchmarks: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(benchmarks.rglob("*.tsv")):
        # <step>.tsv for a job of its own, <step>/<model>_lr<lr>.tsv for a job per (model, lr).
        rule = path.parent.name if "_lr" in path.stem else path.stem
        rows.append({"rule": rule, "seconds": float(pd.read_csv(path, sep="\t")["s"].iloc[0])})
    frame = pd.DataFrame(rows)
    return frame.groupby("rule")["seconds"].agg(jobs="count", total="sum", mean="mean", max="max").sort_values(
        "total", ascending=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--overrides", nargs="*", default=[])
    parser.add_argument("--full", action="store_true", help="time everything, from MNIST to the report")
    parser.add_argument("--raw-dir", default=str(REPO / "data" / "raw"), help="where the verified MNIST files are")
    arguments = parser.parse_args()
    plan = plan_experiments(arguments.overrides)
    main_experiment = plan.main
    overrides = arguments.overrides + [f"reference.dir={REPO / 'reference'}"]
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        raw = workdir / "data" / "raw" / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in MNIST_RAW_FILES:
            shutil.copy(Path(arguments.raw_dir) / "MNIST" / "raw" / name, raw / name)
        (raw.parent / "source.txt").write_text("cache\n")
        if arguments.full:
            targets = ["all"]
        else:
            snakemake(workdir, arguments.cores, overrides, *[str(e.data_layout.manifest) for e in plan.experiments.values()])
            targets = [str(main_experiment.layout.summary), str(main_experiment.layout.summary_by_setting)]
        started = time.perf_counter()
        snakemake(workdir, arguments.cores, overrides, *targets)
        wall = time.perf_counter() - started
        table = per_rule(workdir / "benchmarks")
    scope = "MNIST -> report (everything)" if arguments.full else "prepared data -> summary CSVs"
    print(f"experiment {main_experiment.id}: {len(main_experiment.runs())} runs, --cores {arguments.cores}")
    print(f"wall time, {scope}: {wall:.1f} s")
    print("job seconds by rule:")
    print(table.round(2).to_string())


if __name__ == "__main__":
    main()
