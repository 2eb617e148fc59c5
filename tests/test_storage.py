"""Atomic outputs: a failed write leaves nothing that looks complete; same data, same bytes."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from localregions.storage import atomic_directory, atomic_path, write_csv


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_directory_keeps_the_old_one(tmp_path):
    target = tmp_path / "checkpoints"
    with atomic_directory(target) as temporary:
        (temporary / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as temporary:
            (temporary / "b").write_text("2")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints"]
    with atomic_directory(target) as temporary:
        (temporary / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"]


def test_gzipped_csv_is_byte_identical(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": [0.1, 1 / 3]})
    write_csv(frame, tmp_path / "x.csv.gz")
    first = (tmp_path / "x.csv.gz").read_bytes()
    write_csv(frame, tmp_path / "x.csv.gz")
    assert (tmp_path / "x.csv.gz").read_bytes() == first
    assert gzip.decompress(first).decode() == "a,b\n1,0.1\n2,0.333333333333\n"
