"""Outputs: a writer killed mid-write leaves nothing that looks complete, files take the user's umask,
the same data gives the same bytes, and a truncated or changed input is refused by name."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import localregions
from localregions.experiment.storage import (
    FLOAT_FORMAT,
    CorruptFileError,
    atomic_directory,
    atomic_path,
    file_manifest,
    read_csv,
    sha256_of,
    verify_manifest,
    write_bytes,
    write_csv,
    write_json,
    write_text,
)

ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # SHA-256 of b"abc" (FIPS 180-2)
# The folder the package under test was imported from (src/, or mutmut's mutants/src/): the
# killed writer must run the same code.
SOURCE_ROOT = Path(localregions.__file__).resolve().parents[1]


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------------------------------------
# A writer killed mid-write
# ------------------------------------------------------------------------------------------------

# The child replaces open() so that the first write under the output's folder writes half of
# its bytes, syncs them to disk, tells the parent and hangs there until it is SIGKILLed.
CHILD = textwrap.dedent(
    """
    import builtins, io, os, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    target, kind, content, ready = Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    real_open = io.open

    class Stalling:
        def __init__(self, handle):
            self.handle = handle
        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            os.fsync(self.handle.fileno())
            descriptor = os.open(ready, os.O_WRONLY | os.O_CREAT)
            os.close(descriptor)
            time.sleep(600)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)
        def __getattr__(self, name):
            return getattr(self.handle, name)

    def stalling_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if any(flag in mode for flag in "wax") and Path(file).resolve().is_relative_to(target.resolve().parent):
            return Stalling(handle)
        return handle

    io.open = builtins.open = stalling_open
    from localregions.experiment import storage
    if kind == "csv":
        import pandas as pd
        storage.write_csv(pd.DataFrame({"value": [content] * 200}), target)
    elif kind == "json":
        storage.write_json({"value": content}, target)
    elif kind == "bytes":
        storage.write_bytes(content.encode() * 200, target)
    elif kind == "checkpoint":
        from localregions.experiment.models import build_mlp, save_checkpoint
        save_checkpoint(build_mlp(4, 1, 3, 0.1, seed=int(content)), target)
    elif kind == "directory":
        with storage.atomic_directory(target) as temporary:
            (temporary / "part.txt").write_text(content)
    """
)


def write(kind: str, target: Path, content: str) -> None:
    """What the child does, done here without interruption."""
    if kind == "csv":
        write_csv(pd.DataFrame({"value": [content] * 200}), target)
    elif kind == "json":
        write_json({"value": content}, target)
    elif kind == "bytes":
        write_bytes(content.encode() * 200, target)
    elif kind == "checkpoint":
        from localregions.experiment.models import build_mlp, save_checkpoint

        save_checkpoint(build_mlp(4, 1, 3, 0.1, seed=int(content)), target)
    elif kind == "directory":
        with atomic_directory(target) as temporary:
            (temporary / "part.txt").write_text(content)


def snapshot(target: Path):
    if target.is_dir():
        return {p.name: p.read_bytes() for p in target.iterdir()}
    return target.read_bytes() if target.exists() else None


def kill_mid_write(tmp_path: Path, kind: str, target: Path, content: str) -> None:
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(SOURCE_ROOT), str(target), kind, content, str(ready)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if child.poll() is not None:
                pytest.fail(f"the writer finished instead of stalling (exit {child.returncode}): "
                            f"{child.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the writer never started writing")
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL


KINDS = {
    "csv": "out.csv",
    "csv.gz": "out.csv.gz",
    "json": "out.json",
    "bytes": "out.pt",
    "checkpoint": "epoch_004.pt",
    "directory": "checkpoints",
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_writer_killed_mid_write_leaves_the_old_file_and_the_next_write_cleans_up(tmp_path, kind):
    out = tmp_path / "out"
    target = out / KINDS[kind]
    writer = "csv" if kind == "csv.gz" else kind
    write(writer, target, "1")
    old = snapshot(target)
    kill_mid_write(tmp_path, writer, target, "2")
    assert snapshot(target) == old  # the final name still holds the whole old output
    stale = leftovers(out)
    assert len(stale) == 1 and stale[0].startswith(f".{target.name}.") and stale[0].endswith(".tmp")
    write(writer, target, "3")
    assert leftovers(out) == []
    assert snapshot(target) != old
    if kind == "csv.gz":
        assert read_csv(target)["value"].tolist() == [3] * 200


@pytest.mark.parametrize("kind", ["csv", "bytes", "directory"])
def test_a_writer_killed_before_its_first_output_leaves_no_output(tmp_path, kind):
    out = tmp_path / "out"
    target = out / KINDS[kind]
    kill_mid_write(tmp_path, kind, target, "2")
    assert not target.exists()
    write(kind, target, "3")
    assert leftovers(out) == [] and target.exists()


# ------------------------------------------------------------------------------------------------
# Failures inside the process
# ------------------------------------------------------------------------------------------------


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.csv"
    write_text("old\n", target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("new\n")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old\n" and leftovers(tmp_path) == []


def test_atomic_path_creates_the_folders(tmp_path):
    write_text("x", tmp_path / "a" / "b" / "c.txt")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "x"


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints"]  # nothing retired is left


# ------------------------------------------------------------------------------------------------
# Leftovers of killed writers
# ------------------------------------------------------------------------------------------------


def test_the_next_write_removes_its_own_leftovers_and_nothing_else(tmp_path):
    own = [".out.csv.abcd_123.tmp", ".out.csv.retired.tmp", ".out.csv.zz99yy88.tmp"]
    others = [
        ".out.csv.abc.tmp",  # not 8 characters
        ".out.csv.abcdefghi.tmp",
        ".out.csv.ABCD1234.tmp",  # mkstemp never uses capitals
        ".out.csv.abcd1234.tmp.bak",
        ".other.csv.abcd1234.tmp",  # another output's
        ".out.csv.gz.abcd1234.tmp",
        "out.csv.abcd1234.tmp",  # not hidden
        "keep.txt",
    ]
    for name in own + others:
        (tmp_path / name).write_text("x")
    (tmp_path / ".out.csv.d1r2e3c4.tmp").mkdir()  # a killed atomic_directory's
    (tmp_path / ".out.csv.d1r2e3c4.tmp" / "inside").write_text("x")
    write_csv(pd.DataFrame({"a": [1]}), tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others + ["out.csv"])


# ------------------------------------------------------------------------------------------------
# Permissions
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def umask():
    previous = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(previous)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750), (0o077, 0o600, 0o700)],
                         ids=["022", "027", "077"])
def test_outputs_take_the_users_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    write_csv(pd.DataFrame({"a": [1]}), tmp_path / "x.csv.gz")
    write_json({"a": 1}, tmp_path / "x.json")
    write_bytes(b"abc", tmp_path / "new" / "x.pt")
    with atomic_directory(tmp_path / "runs") as temporary:
        (temporary / "metrics.csv").write_text("a\n")
    for path in ("x.csv.gz", "x.json", "new/x.pt"):
        assert (tmp_path / path).stat().st_mode & 0o777 == file_mode, path
    assert (tmp_path / "runs").stat().st_mode & 0o777 == dir_mode
    assert (tmp_path / "new").stat().st_mode & 0o777 == dir_mode
    # Reading the umask must not change it.
    assert os.umask(mask) == mask


# ------------------------------------------------------------------------------------------------
# Same data, same bytes
# ------------------------------------------------------------------------------------------------


def test_gzipped_csv_is_byte_identical(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": [0.1, 1 / 3]})
    write_csv(frame, tmp_path / "x.csv.gz")
    first = (tmp_path / "x.csv.gz").read_bytes()
    time.sleep(1.1)  # a gzip header with a timestamp would now differ
    write_csv(frame, tmp_path / "y.csv.gz")
    assert (tmp_path / "y.csv.gz").read_bytes() == first
    # The gzip header: magic, deflate, no flags (so no file name), mtime 0, best compression, OS unknown.
    assert first[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    assert gzip.decompress(first).decode() == "a,b\n1,0.1\n2,0.333333333333\n"


def test_plain_csv_has_twelve_significant_digits_and_no_index(tmp_path):
    assert FLOAT_FORMAT == "%.12g"
    write_csv(pd.DataFrame({"x": [2 / 3, 1e-20, 123456789.123456789]}), tmp_path / "x.csv")
    assert (tmp_path / "x.csv").read_bytes() == b"x\n0.666666666667\n1e-20\n123456789.123\n"


def test_write_json_and_text(tmp_path):
    write_json({"b": [1, 2], "a": "\u00e9"}, tmp_path / "x.json")
    assert (tmp_path / "x.json").read_text() == '{\n  "a": "\\u00e9",\n  "b": [\n    1,\n    2\n  ]\n}\n'
    write_text("\u00e9\n", tmp_path / "x.txt")
    assert (tmp_path / "x.txt").read_bytes() == b"\xc3\xa9\n"


# ------------------------------------------------------------------------------------------------
# Reading back, and manifests
# ------------------------------------------------------------------------------------------------


def test_read_csv_round_trips_and_passes_its_arguments_on(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    write_csv(frame, tmp_path / "x.csv.gz")
    pd.testing.assert_frame_equal(read_csv(tmp_path / "x.csv.gz"), frame)
    assert list(read_csv(tmp_path / "x.csv.gz", usecols=["b"]).columns) == ["b"]


@pytest.mark.parametrize(
    "name, damage, error",
    [
        ("x.csv.gz", lambda b: b[: len(b) // 2], "EOFError"),  # truncated gzip
        ("x.csv.gz", lambda b: b"not gzip at all", "BadGzipFile"),
        ("x.csv", lambda b: b"", "EmptyDataError"),
        ("x.csv", lambda b: b"a,b\n1,2\n3,4,5,6\n", "ParserError"),
        ("x.csv", lambda b: b"a\n\xff\xfe\n", "UnicodeDecodeError"),
    ],
    ids=["truncated-gzip", "not-gzip", "empty", "ragged", "not-utf8"],
)
def test_read_csv_names_a_truncated_or_corrupt_file(tmp_path, name, damage, error):
    path = tmp_path / name
    write_csv(pd.DataFrame({"a": range(2000), "b": [0.5] * 2000}), path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CorruptFileError, match="truncated or corrupt") as caught:
        read_csv(path)
    message = str(caught.value)
    assert message.startswith(f"{path} is truncated or corrupt ({error}: ")
    assert message.endswith("; delete it and rerun")


def test_read_csv_names_a_missing_file(tmp_path):
    with pytest.raises(CorruptFileError, match="does not exist") as caught:
        read_csv(tmp_path / "summary.csv")
    assert str(tmp_path / "summary.csv") in str(caught.value)


def test_file_manifest_records_sizes_and_digests_relative_to_the_root(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_bytes(b"abc")
    (tmp_path / "sub" / "b.bin").write_bytes(b"")
    assert sha256_of(tmp_path / "a.txt") == ABC_SHA256
    manifest = file_manifest(tmp_path, [tmp_path / "sub" / "b.bin", str(tmp_path / "a.txt")])
    assert manifest == {
        "a.txt": {"bytes": 3, "sha256": ABC_SHA256},
        # SHA-256 of no bytes at all.
        "sub/b.bin": {"bytes": 0, "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    }
    assert list(manifest) == ["a.txt", "sub/b.bin"]
    verify_manifest(tmp_path, manifest)


@pytest.fixture
def recorded(tmp_path):
    (tmp_path / "sub").mkdir()
    for name, data in (("a.txt", b"abc"), ("sub/b.txt", b"hello")):
        (tmp_path / name).write_bytes(data)
    return tmp_path, file_manifest(tmp_path, [tmp_path / "a.txt", tmp_path / "sub" / "b.txt"])


def test_verify_manifest_names_a_missing_file(recorded):
    root, manifest = recorded
    (root / "sub" / "b.txt").unlink()
    with pytest.raises(CorruptFileError, match="is missing") as caught:
        verify_manifest(root, manifest, hashes=False)
    assert str(root / "sub" / "b.txt") in str(caught.value)


def test_verify_manifest_names_a_truncated_file(recorded):
    root, manifest = recorded
    (root / "sub" / "b.txt").write_bytes(b"hell")
    with pytest.raises(CorruptFileError, match="has 4 bytes, its manifest recorded 5") as caught:
        verify_manifest(root, manifest, hashes=False)
    assert str(root / "sub" / "b.txt") in str(caught.value)


def test_verify_manifest_names_a_changed_file_of_the_same_size(recorded):
    root, manifest = recorded
    (root / "a.txt").write_bytes(b"abd")
    with pytest.raises(CorruptFileError, match="differs from the SHA-256") as caught:
        verify_manifest(root, manifest)
    assert str(root / "a.txt") in str(caught.value)
    verify_manifest(root, manifest, hashes=False)  # sizes only: the cheap check cannot see it


def test_verify_manifest_accepts_the_files_it_recorded(recorded):
    root, manifest = recorded
    verify_manifest(root, manifest)
    verify_manifest(root, manifest, hashes=False)
