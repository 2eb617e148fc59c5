"""Portable numerics: one CPU code path for every pipeline job, so results are the same bytes on any x86-64 CPU.

torch, MKL, oneDNN, numpy and OpenBLAS each pick kernels for the CPU they find (SSE, AVX2,
AVX-512), and kernels of different widths sum in different orders. A float32 SGD run amplifies
the last-bit differences over 20 epochs, so the checkpoints of two CPUs differ, and so does
everything measured on them. The pipeline therefore pins every library to a code path that does
not depend on the CPU:

=========================  =====================================================================
``MKL_CBWR=COMPATIBLE``     MKL's conditional numerical reproducibility: the SSE2 code path, the
                            same results on every Intel and compatible processor (MKL's promise)
``ATEN_CPU_CAPABILITY``     ``default``: torch's baseline kernels, not the AVX2 / AVX-512 ones
``NPY_DISABLE_CPU_FEATURES`` numpy's baseline loops (x86-64-v2), none of its dispatched targets
``OPENBLAS_CORETYPE``       ``Nehalem``: numpy's and scipy's OpenBLAS on one kernel set (x86-64-v2,
                            numpy's own baseline, so every CPU that runs numpy runs it)
oneDNN                      off (``torch.backends.mkldnn.enabled = False``): its JIT code depends
                            on the CPU; convolutions take torch's own path through MKL
=========================  =====================================================================

and one thread per BLAS (torch's threads are ``runtime.threads``, 1 by default). The Snakefile
sets the environment before any job starts (:func:`pin_environment`); every job then checks,
before its step runs, that the pins are in force (:func:`enter_portable_numerics`), and stops
with a message naming the variable when they are not, instead of writing CPU-dependent bytes.

What is not promised: another build of torch or numpy (another MKL or OpenBLAS version, a
non-x86 CPU), another C library (the scalar ``exp``/``log`` of glibc), a GPU, more than one
thread. Checked here by training under an emulated CPU (qemu's Haswell, AVX2 and no AVX-512):
without the pins its checkpoints differ from this machine's, with them they are the same bytes
(``tests/test_numerics.py``).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

__all__ = ["PORTABLE_ENVIRONMENT", "portable_environment", "pin_environment", "enter_portable_numerics",
           "NumericsError"]

#: The variables the pipeline sets, with their values (numpy's list is added by :func:`portable_environment`).
PORTABLE_ENVIRONMENT = {
    "MKL_CBWR": "COMPATIBLE",
    "ATEN_CPU_CAPABILITY": "default",
    "OPENBLAS_CORETYPE": "Nehalem",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}
_NUMPY_VARIABLE = "NPY_DISABLE_CPU_FEATURES"


class NumericsError(RuntimeError):
    """A job runs without the portable code paths: its floats would depend on the CPU."""


def _numpy_dispatch_targets() -> list[str]:
    """The CPU targets this numpy build may dispatch to above its baseline (``X86_V3 X86_V4 ...`` in numpy 2.4)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__

    return list(__cpu_dispatch__)


def portable_environment() -> dict[str, str]:
    """Every variable the pins set, numpy's list of disabled targets included (it depends on numpy's build)."""
    return {**PORTABLE_ENVIRONMENT, _NUMPY_VARIABLE: " ".join(_numpy_dispatch_targets())}


def pin_environment(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set the portable code paths in ``environ`` (``os.environ``), for every process started after; returns them.

    The libraries read these variables when they load (numpy) or on first use (MKL, torch's
    dispatch), so they must be set before a job's Python starts: the Snakefile calls this at parse
    time and every job inherits it.
    """
    environ = os.environ if environ is None else environ
    pinned = portable_environment()
    environ.update(pinned)
    return pinned


def enter_portable_numerics() -> None:
    """In a job, before its step: check the pins are in force and turn oneDNN off; raise :class:`NumericsError` if not.

    A pin that did not take (the job was started without the Snakefile's environment, or torch
    already ran a kernel) is named in the message: a job never silently writes CPU-dependent bytes.
    """
    expected = portable_environment()
    wrong = {name: os.environ.get(name) for name, value in expected.items() if os.environ.get(name) != value}
    if wrong:
        name, value = next(iter(wrong.items()))
        raise NumericsError(f"this job runs without the portable CPU code paths: {name} is {value!r}, not "
                            f"{expected[name]!r} (the Snakefile sets it for every job; start jobs through snakemake)")
    import torch
    from numpy._core._multiarray_umath import __cpu_features__

    capability = torch.backends.cpu.get_cpu_capability()
    if capability != "DEFAULT":
        raise NumericsError(f"torch runs its {capability} kernels although ATEN_CPU_CAPABILITY is 'default': torch "
                            "ran a kernel before the variable was set")
    dispatched = [target for target in _numpy_dispatch_targets() if __cpu_features__.get(target)]
    if dispatched:
        raise NumericsError(f"numpy dispatches to {dispatched} although {_NUMPY_VARIABLE} disables them: numpy was "
                            "imported before the variable was set")
    torch.backends.mkldnn.enabled = False
