"""raw -> processed: MNIST with verified checksums, then the paper's four point sets."""

from __future__ import annotations

import logging
from pathlib import Path

from ...experiment.specs import PointSetSpec

__all__ = ["download_mnist", "prepare_data"]

log = logging.getLogger(__name__)


def _expect_written(declared, written, what: str) -> None:
    """A step writes exactly what its rule declares: say so plainly if the two disagree."""
    declared, written = sorted(map(Path, declared)), sorted(map(Path, written))
    if declared != written:
        raise ValueError(f"the rule declares {what} {[str(p) for p in declared]} but the step writes "
                         f"{[str(p) for p in written]}")


def download_mnist(*, mnist: list[str], source: str, mnist_dir: str | None, sources: list[str]) -> None:
    """Make ``mnist`` (the four raw files) hold verified MNIST, and record the source that served in ``source``."""
    from ...experiment.mnist import fetch_mnist, raw_root_of
    from ...experiment.storage import write_text
    from ...vocabulary import MNIST_RAW_FILES

    _expect_written(mnist, [Path(mnist[0]).parent / name for name in MNIST_RAW_FILES], "the MNIST files")
    served = fetch_mnist(raw_root_of(mnist[0]), mnist_dir=mnist_dir, sources=sources)
    log.info("MNIST served by source: %s", served)
    # Remember where the files came from, for the manifest of every prepared set.
    if served != "cache" or not Path(source).is_file():
        write_text(served + "\n", source)


def prepare_data(*, mnist: list[str], source: str, point_sets: list[str], manifest: str, spec: PointSetSpec) -> None:
    """The four point sets ``point_sets`` and their ``manifest``, from the raw MNIST files."""
    from ...experiment.mnist import raw_root_of
    from ...experiment.point_sets import prepare_point_sets
    from ...experiment.specs import set_file_name
    from ...vocabulary import DATASET_NAMES

    folder = Path(manifest).parent
    _expect_written(point_sets, [folder / set_file_name(name) for name in DATASET_NAMES], "the point sets")
    written = prepare_point_sets(raw_root_of(mnist[0]), folder, spec, source=Path(source).read_text().strip())
    log.info("prepared %s", ", ".join(sorted(written["datasets"])))
