"""Shared fixtures: the repository root and a cached copy of real MNIST for end-to-end runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _single_thread():
    # Tests run side by side with other work on 2 cores; one thread also keeps float sums reproducible.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mnist_raw_dir() -> Path:
    """Real MNIST under the repository's data/raw (gitignored), fetched once through the normal chain."""
    from localregions.data import fetch_mnist

    raw = Path(os.environ.get("LOCALREGIONS_TEST_RAW_DIR", REPO / "data" / "raw"))
    fetch_mnist(raw)
    return raw
