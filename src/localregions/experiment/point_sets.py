"""The four point sets of Zhu, Lin & Tang (2020), Section 5.1, built from verified MNIST.

:func:`prepare_point_sets` writes ``train.pt``, ``test.pt``, ``random1.pt``, ``random2.pt`` and
``manifest.json`` (what each set is, and the SHA-256 of every file); :func:`load_point_set` reads
one set back and refuses a file whose bytes differ from its manifest, naming it. Each ``.pt``
file holds ``{"x": float64 (N, pool*pool), "y": int64 (N,)}``. Preparing twice with the same
spec gives byte-identical files.

Randomness: each set has its own ``torch.Generator``, seeded with the first 64-bit word of
``numpy.random.SeedSequence(seed, spawn_key=(stream,))``, stream 0 for train, 1 for test, 2 for
random1 and 3 for random2, so adding or resizing one set never shifts another and no two sets
share a stream.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..vocabulary import DATASET_NAMES
from .mnist import IMAGE_SIDE, load_mnist_split
from .specs import MANIFEST_NAME, PointSetSpec, set_file_name
from .storage import CorruptFileError, write_bytes, write_text

__all__ = ["prepare_point_sets", "load_point_set", "STREAMS", "GREY_LEVELS"]

logger = logging.getLogger(__name__)

GREY_LEVELS = 255.0
#: The random stream of each set (see the module docstring).
STREAMS = {"train": 0, "test": 1, "random1": 2, "random2": 3}


def _generator(seed: int, name: str) -> torch.Generator:
    stream_seed = np.random.SeedSequence(seed, spawn_key=(STREAMS[name],)).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(stream_seed))


def _pool(images: torch.Tensor, pool: int) -> torch.Tensor:
    """Adaptive average pooling of (N, 28, 28) grey levels to (N, pool * pool), in float64."""
    pooled = F.adaptive_avg_pool2d(images.to(torch.float64).unsqueeze(1), pool)
    return pooled.reshape(images.shape[0], pool * pool)


def _select_two_digits(labels, digits, counts, generator, split, per_class):
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


def _uniform(low: torch.Tensor, high: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    unit = torch.rand((count, low.numel()), generator=generator, dtype=torch.float64)
    return low + (high - low) * unit


def _random_sets(spec: PointSetSpec, train_images: torch.Tensor, train_x: torch.Tensor) -> dict[str, torch.Tensor]:
    """random1: uniform between each pixel's min and max over the training images; random2: over the grey range.

    ``random_draw="pooled"`` draws each pooled pixel on the scale of ``train_x`` (the pooled,
    scaled training points); ``"image"`` draws each of the 28x28 grey levels, then pools and
    scales like the MNIST images.
    """
    top = 1.0 if spec.scale == "unit" else GREY_LEVELS
    if spec.random_draw == "pooled":
        reference, side, top_here, finish = train_x, spec.pool, top, (lambda x: x)
    else:
        reference = train_images.to(torch.float64).reshape(train_images.shape[0], -1)
        side, top_here = IMAGE_SIDE, GREY_LEVELS
        finish = lambda x: _scaled(_pool(x.reshape(-1, IMAGE_SIDE, IMAGE_SIDE), spec.pool), spec.scale)  # noqa: E731
    ranges = {
        "random1": (reference.min(dim=0).values, reference.max(dim=0).values),
        "random2": (torch.zeros(side * side, dtype=torch.float64), torch.full((side * side,), top_here, dtype=torch.float64)),
    }
    return {name: finish(_uniform(low, high, spec.random_points, _generator(spec.seed, name)))
            for name, (low, high) in ranges.items()}


def _scaled(x: torch.Tensor, scale: str) -> torch.Tensor:
    return x / GREY_LEVELS if scale == "unit" else x


def _array_sha256(tensor: torch.Tensor) -> str:
    dtype = "<f8" if tensor.dtype == torch.float64 else "<i8"
    return hashlib.sha256(np.ascontiguousarray(tensor.numpy(), dtype=dtype).tobytes()).hexdigest()


def _tensor_file_bytes(x: torch.Tensor, y: torch.Tensor) -> bytes:
    # torch.save names the archive's top folder after the file it writes to; saving into a
    # buffer fixes that name to "archive", so the bytes do not depend on the temporary name.
    buffer = io.BytesIO()
    torch.save({"x": x.contiguous(), "y": y.contiguous()}, buffer)
    return buffer.getvalue()


def prepare_point_sets(raw_root, out_dir, spec: PointSetSpec | None = None, *, source: str | None = None,
                       expected_sha256=None) -> dict:
    """Build the paper's four point sets and write them, with a manifest, into ``out_dir``.

    * ``train`` / ``test``: ``spec.per_class`` images of each of the two digits, drawn without
      replacement from MNIST's train / test split, kept in MNIST order; label ``digits[0] -> 0``,
      ``digits[1] -> 1``.
    * Images are reduced from 28x28 to ``pool`` x ``pool`` by adaptive average pooling of the
      grey levels in float64, then scaled (``"raw"``: 0-255, ``"unit"``: divided by 255).
    * ``random1``: ``random_points`` points, each pixel uniform between that pixel's minimum and
      maximum over the ``train`` images; ``random2``: each pixel uniform over the full grey range.
      Label -1 (no class). See :data:`~localregions.experiment.specs.RANDOM_DRAWS`.

    Parameters
    ----------
    raw_root : str or Path
        Root holding ``MNIST/raw/`` (see :func:`~localregions.experiment.mnist.fetch_mnist`).
    out_dir : str or Path
        Output directory, created if needed; files are written atomically.
    spec : PointSetSpec, optional
        What to build; the paper's sets by default. Validated when constructed.
    source : str, optional
        The MNIST source that served, recorded in the manifest.
    expected_sha256 : mapping, optional
        MNIST file name -> digest, replacing the pinned digests (for tests on synthetic files).

    Returns
    -------
    dict
        The manifest, as written to ``manifest.json`` (sorted keys, no timestamps).

    Raises
    ------
    ValueError
        When ``per_class`` asks for more images than a split has, or an MNIST file is corrupt (naming it).
    """
    spec = spec if spec is not None else PointSetSpec()
    if not isinstance(spec, PointSetSpec):
        raise ValueError(f"spec must be a PointSetSpec, got {type(spec).__name__}")
    digits = (int(spec.digits[0]), int(spec.digits[1]))
    splits = {split: load_mnist_split(raw_root, split, expected_sha256=expected_sha256) for split in ("train", "test")}
    if spec.per_class is None:
        test_labels = splits["test"][1]
        counts = tuple(int((test_labels == digit).sum()) for digit in digits)
    else:
        counts = (spec.per_class, spec.per_class)
    top = 1.0 if spec.scale == "unit" else GREY_LEVELS
    images, datasets = {}, {}
    for split, (split_images, labels) in splits.items():
        indices, targets = _select_two_digits(labels, digits, counts, _generator(spec.seed, split), split, spec.per_class)
        images[split] = split_images[indices]
        datasets[split] = (_scaled(_pool(images[split], spec.pool), spec.scale), targets)
    for name, x in _random_sets(spec, images["train"], datasets["train"][0]).items():
        datasets[name] = (x, torch.full((spec.random_points,), -1, dtype=torch.int64))

    drawn = f"{counts[0]} images of digit {digits[0]} and {counts[1]} of digit {digits[1]}"
    per = "pooled pixel" if spec.random_draw == "pooled" else "28x28 pixel, then pooled"
    descriptions = {
        "train": f"{drawn}, drawn from the MNIST train split",
        "test": f"{drawn}, drawn from the MNIST test split",
        "random1": f"each {per}: uniform between its minimum and maximum over the train set",
        "random2": f"each {per}: uniform over the full grey range 0-{top:g}",
    }
    out_dir = Path(out_dir)
    sets = {}
    for name in DATASET_NAMES:
        x, y = datasets[name]
        payload = _tensor_file_bytes(x, y)
        write_bytes(payload, out_dir / set_file_name(name))
        labels_present, label_counts = torch.unique(y, return_counts=True)
        sets[name] = {
            "description": descriptions[name],
            "file": set_file_name(name),
            "file_bytes": len(payload),
            "file_sha256": hashlib.sha256(payload).hexdigest(),
            "label_counts": {str(int(k)): int(v) for k, v in zip(labels_present, label_counts, strict=True)},
            "pooling": {"method": "adaptive_avg_pool2d", "from": [IMAGE_SIDE, IMAGE_SIDE], "to": [spec.pool, spec.pool]},
            "scale": spec.scale,
            "seed": spec.seed,
            "size": int(x.shape[0]),
            "stream": STREAMS[name],
            "x_sha256": _array_sha256(x),
            "y_sha256": _array_sha256(y),
        }
    manifest = {
        "datasets": sets,
        "digits": list(digits),
        "label_map": {str(digits[0]): 0, str(digits[1]): 1, "random": -1},
        "mnist_source": source,
        "per_class": spec.per_class,
        "pool": spec.pool,
        "random_draw": spec.random_draw,
        "random_points": spec.random_points,
        "scale": spec.scale,
        "seed": spec.seed,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    write_text(text, out_dir / MANIFEST_NAME)
    logger.info("wrote %s to %s (MNIST source: %s)", ", ".join(DATASET_NAMES), out_dir, source)
    return json.loads(text)


def load_point_set(processed_dir, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one set written by :func:`prepare_point_sets`, checked against its manifest.

    Parameters
    ----------
    processed_dir : str or Path
        The ``out_dir`` given to :func:`prepare_point_sets` (holding ``manifest.json``).
    name : str
        One of ``"train"``, ``"test"``, ``"random1"``, ``"random2"``.

    Returns
    -------
    x : torch.Tensor
        float64, shape (N, d).
    y : torch.Tensor
        int64, shape (N,); 0/1 for train and test, -1 for the random sets.

    Raises
    ------
    ValueError
        If ``name`` is unknown.
    CorruptFileError
        Naming the file: missing, or its bytes differ from the SHA-256 in ``manifest.json`` (a
        flipped byte would otherwise load as a wrong number), or it does not hold the tensors.
    """
    if name not in DATASET_NAMES:
        raise ValueError(f"name must be one of {list(DATASET_NAMES)}, got {name!r}")
    manifest_path = Path(processed_dir) / MANIFEST_NAME
    if not manifest_path.is_file():
        raise CorruptFileError(f"{manifest_path} not found; the pipeline step `prepare_data` makes it")
    try:
        entry = json.loads(manifest_path.read_text())["datasets"][name]
        path, expected = manifest_path.parent / entry["file"], entry["file_sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(f"{manifest_path} is corrupt or lists no {name} set ({exc}); rerun prepare_data") from exc
    if not path.is_file():
        raise CorruptFileError(f"{path} not found; the pipeline step `prepare_data` makes it")
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != expected:
        raise CorruptFileError(
            f"{path} differs from the SHA-256 in {manifest_path} (changed or corrupted after it was prepared); "
            "delete it and rerun prepare_data"
        )
    try:
        content = torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as exc:  # a manifest rewritten to match a file that is not a point set
        raise CorruptFileError(f"{path} is not a point set written by prepare_point_sets ({exc})") from exc
    if not isinstance(content, dict) or set(content) != {"x", "y"}:
        raise CorruptFileError(f"{path}: expected a dict with keys 'x' and 'y'")
    x, y = content["x"], content["y"]
    if (
        not isinstance(x, torch.Tensor)
        or not isinstance(y, torch.Tensor)
        or x.dtype != torch.float64
        or y.dtype != torch.int64
        or x.ndim != 2
        or y.shape != (x.shape[0],)
    ):
        raise CorruptFileError(f"{path}: expected x float64 (N, d) and y int64 (N,)")
    return x, y
