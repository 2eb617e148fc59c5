"""Mutation testing of the pipeline glue: run mutmut, then count the surviving mutants per module.

``make mutate`` runs this. What is mutated and which tests run is the ``[tool.mutmut]`` section
of pyproject.toml; how to read the result and why each known survivor is harmless is
docs/mutation_testing.md.

    .venv/bin/python tools/mutate.py                  # run (resumes a previous run), then report
    .venv/bin/python tools/mutate.py --fresh          # forget previous results first
    .venv/bin/python tools/mutate.py --report-only    # only the table of the last run
    .venv/bin/python tools/mutate.py --max-children 1 # one worker (a shared machine)

Exit status: 0 when no mutant survived, 1 when some did (each is listed), 2 when mutmut failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MUTANTS = REPO / "mutants"

# mutmut's exit codes of a mutant's test run (mutmut.stats.status_by_exit_code); anything else is "suspicious".
STATUS_BY_EXIT_CODE = {
    1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 35: "suspicious",
    36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", 37: "caught by type check",
    -11: "segfault", -9: "segfault", None: "not checked", 2: "interrupted",
}
# A mutant counts as caught when a test failed on it (or it made the tests hang or crash).
CAUGHT = {"killed", "timeout", "segfault", "caught by type check"}


def mutated_files() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def module_name(path: str) -> str:
    """src/localregions/experiment/models.py -> experiment/models.py"""
    return path.split("src/localregions/", 1)[-1]


def results() -> dict[str, dict[str, str]]:
    """module -> {mutant name: status}, read from mutmut's .meta files."""
    by_module = {}
    for path in mutated_files():
        meta = MUTANTS / (path + ".meta")
        exit_codes = json.loads(meta.read_text()).get("exit_code_by_key", {}) if meta.is_file() else {}
        by_module[module_name(path)] = {name: STATUS_BY_EXIT_CODE.get(code, "suspicious") for name, code in exit_codes.items()}
    return by_module


def report(by_module: dict[str, dict[str, str]], seconds: float | None) -> int:
    header = f"{'module':<28} {'mutants':>8} {'killed':>8} {'survived':>9} {'no tests':>9} {'other':>6}"
    print()
    print(header)
    print("-" * len(header))
    totals = collections.Counter()
    survivors = []
    for module, statuses in by_module.items():
        counts = collections.Counter(statuses.values())
        caught = sum(counts[s] for s in CAUGHT)
        other = len(statuses) - caught - counts["survived"] - counts["no tests"]
        print(f"{module:<28} {len(statuses):>8} {caught:>8} {counts['survived']:>9} {counts['no tests']:>9} {other:>6}")
        totals.update(mutants=len(statuses), caught=caught, survived=counts["survived"], no_tests=counts["no tests"],
                      other=other)
        survivors += [name for name, status in statuses.items() if status not in CAUGHT | {"not checked"}]
    print("-" * len(header))
    print(f"{'total':<28} {totals['mutants']:>8} {totals['caught']:>8} {totals['survived']:>9} "
          f"{totals['no_tests']:>9} {totals['other']:>6}")
    if seconds is not None:
        print(f"\nwall time: {seconds / 60:.1f} min")
    if survivors:
        print("\nnot caught (see each with `.venv/bin/mutmut show NAME`; docs/mutation_testing.md argues the known ones):")
        for name in sorted(survivors):
            module = next(m for m, s in by_module.items() if name in s)
            print(f"  {by_module[module][name]:<10} {name}")
    unchecked = sum(list(s.values()).count("not checked") for s in by_module.values())
    if unchecked:
        print(f"\n{unchecked} mutants not checked yet (an interrupted or filtered run): run again to resume")
    if totals["mutants"] == 0:
        print("no results: run without --report-only first")
        return 2
    return 1 if survivors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh", action="store_true", help="delete mutants/ (previous results) first")
    parser.add_argument("--report-only", action="store_true", help="print the table of the last run")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1, help="parallel workers")
    parser.add_argument("mutants", nargs="*", help="only these mutant names or globs (mutmut's own syntax)")
    args = parser.parse_args()
    seconds = None
    if not args.report_only:
        if args.fresh and MUTANTS.exists():
            shutil.rmtree(MUTANTS)
        mutmut = Path(sys.executable).with_name("mutmut")
        if not mutmut.exists():
            print(f"{mutmut} not found: `make install` installs mutmut (the dev extra of requirements.lock)")
            return 2
        started = time.perf_counter()
        # One thread per worker: the tests pin torch to one thread anyway; numpy and BLAS too.
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        completed = subprocess.run([str(mutmut), "run", "--max-children", str(args.max_children), *args.mutants],
                                   cwd=REPO, env=environment, check=False)
        seconds = time.perf_counter() - started
        if completed.returncode != 0:
            print(f"mutmut run exited with {completed.returncode}")
            return 2
    return report(results(), seconds)


if __name__ == "__main__":
    sys.exit(main())
