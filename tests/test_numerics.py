"""Portable numerics (pipeline/numerics.py): the pipeline's bytes do not depend on the CPU's code paths.

Three levels: the pins and their check (fast); the smoke grid's training job run by the real
Snakefile under two outer code-path settings (needs MNIST); and the same training, bounds and
statistics under an emulated CPU, qemu's Haswell (AVX2, no AVX-512), against this machine
(marked ``crosscpu``: needs Debian's qemu-user, which ``make test-crosscpu`` installs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from localregions.pipeline.numerics import PORTABLE_ENVIRONMENT, pin_environment, portable_environment
from snakemake_runs import snakemake, workdir_with_mnist

PROBE = Path(__file__).with_name("numerics_probe.py")
# What a user's shell (or another CPU) might set: MKL's and torch's AVX2 paths instead of this machine's AVX-512.
OTHER_CODE_PATH = {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
_PINNED_NAMES = set(portable_environment())


def _environment(extra: dict | None = None, *, pinned: bool) -> dict:
    """This process's environment without any pin, plus ``extra``, then (``pinned``) the pins as the Snakefile sets them."""
    environ = {k: v for k, v in os.environ.items() if k not in _PINNED_NAMES}
    environ.update(extra or {})
    if pinned:
        pin_environment(environ)
    return environ


def _probe(environ: dict, *, pinned: bool, prefix: tuple[str, ...] = (), timeout: int = 120) -> str:
    done = subprocess.run([*prefix, sys.executable, str(PROBE), *(["--pinned"] if pinned else [])], env=environ,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------------------------------------- the pins


def test_pin_environment_overrides_what_the_shell_set():
    environ = {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx512", "HOME": "/root"}
    pinned = pin_environment(environ)
    assert environ["MKL_CBWR"] == "COMPATIBLE" and environ["ATEN_CPU_CAPABILITY"] == "default"
    assert environ["HOME"] == "/root"
    assert pinned == {k: environ[k] for k in pinned} and set(PORTABLE_ENVIRONMENT) < set(pinned)
    # numpy's dispatch targets are named by this numpy build, not written by hand.
    from numpy._core._multiarray_umath import __cpu_dispatch__

    assert environ["NPY_DISABLE_CPU_FEATURES"].split() == list(__cpu_dispatch__)


@pytest.mark.parametrize("variable", ["MKL_CBWR", "NPY_DISABLE_CPU_FEATURES"])
def test_a_job_without_a_pin_stops_and_names_it(variable):
    environ = _environment(pinned=True)
    del environ[variable]
    done = subprocess.run([sys.executable, str(PROBE), "--pinned"], env=environ, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert f"NumericsError: this job runs without the portable CPU code paths: {variable} is None" in done.stderr


def test_a_job_whose_torch_already_ran_a_kernel_stops():
    # The capability is fixed at torch's first kernel: setting the variable after that is too late.
    code = ("import os, torch; torch.ones(3).sum(); "
            "from localregions.pipeline.numerics import pin_environment, enter_portable_numerics; "
            "pin_environment(); enter_portable_numerics()")
    done = subprocess.run([sys.executable, "-c", code], env=_environment(pinned=False), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "torch runs its AVX" in done.stderr and "ran a kernel before the variable was set" in done.stderr


def test_the_probe_sees_the_code_path_unless_pinned():
    # Without the pins, asking MKL and torch for their AVX2 paths changes the bytes (so the probe can tell);
    # with them, the shell's setting is overridden and the bytes are those of every other pinned run.
    native = _probe(_environment(pinned=False), pinned=False)
    other = _probe(_environment(OTHER_CODE_PATH, pinned=False), pinned=False)
    assert native != other
    pinned = _probe(_environment(pinned=True), pinned=True)
    assert _probe(_environment(OTHER_CODE_PATH, pinned=True), pinned=True) == pinned
    assert pinned not in (native, other)


# ---------------------------------------------------------------------------------------------- the real pipeline


def test_the_smoke_grid_trains_to_the_same_bytes_under_another_code_path(tmp_path, mnist_raw_dir):
    """Every checkpoint and metrics file of the smoke grid's training, with and without the shell asking for AVX2."""
    outputs = []
    for label, extra in (("plain", {}), ("avx2", OTHER_CODE_PATH)):
        workdir = workdir_with_mnist(tmp_path / label, mnist_raw_dir)
        snakemake(workdir, ["experiment=smoke"], "--until", "train", env=extra)
        runs = workdir / "results" / "smoke" / "runs"
        files = sorted(p for p in runs.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp")
        outputs.append({str(p.relative_to(runs)): p.read_bytes() for p in files})
    plain, avx2 = outputs
    assert len([name for name in plain if name.endswith(".pt")]) >= 4 * 2 * 4  # 4 jobs x 2 seeds x 4 epochs
    assert plain.keys() == avx2.keys()
    assert [name for name in plain if plain[name] != avx2[name]] == []


# ---------------------------------------------------------------------------------------------- another CPU


@pytest.mark.crosscpu
def test_training_bounds_and_statistics_are_the_same_bytes_on_an_emulated_cpu():
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        pytest.skip("qemu-x86_64 (Debian's qemu-user) is not installed; `make test-crosscpu` installs it")
    haswell = (qemu, "-cpu", "Haswell")  # AVX2 and FMA, no AVX-512: other kernels in MKL, torch and numpy
    # The control: unpinned, the emulated CPU takes other code paths and gets other bytes.
    assert _probe(_environment(pinned=False), pinned=False) != _probe(_environment(pinned=False), pinned=False,
                                                                      prefix=haswell, timeout=900)
    # Pinned, the same bytes.
    assert _probe(_environment(pinned=True), pinned=True) == _probe(_environment(pinned=True), pinned=True,
                                                                    prefix=haswell, timeout=900)
