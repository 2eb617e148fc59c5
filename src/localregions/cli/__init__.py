"""The ``localregions`` command line: bound, count or draw the linear regions of a saved network around points.

::

    localregions bound MODEL POINTS --radius R [--norm l2|linf] [--method alg1|ibp|crown|lp] -o out.csv
    localregions count MODEL POINTS --radius R [--norm l2|linf] [--method exact|sampled] -o out.csv
    localregions slice MODEL POINTS --radius R [--index I] [--plane gradient|points|random] -o slice.png

``MODEL`` is ``.onnx`` or a module saved with ``torch.save`` (see :mod:`localregions.loading`);
``POINTS`` is ``.npy``, ``.pt`` or ``.csv`` with one point per row (or per leading index, in the
network's input shape).  Errors (a missing file, a wrong shape, a non-finite point, an
unsupported module) are one line on stderr and exit code 2.

A subcommand is a module with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``;
adding one is one entry in :data:`COMMANDS`.  The modules are imported when the
parser is built, so they keep their heavy imports inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["COMMANDS", "main", "build_parser"]

#: Subcommand name -> the module that implements it.
COMMANDS = {
    "bound": "localregions.cli.bound",
    "count": "localregions.cli.count",
    "slice": "localregions.cli.slice",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localregions",
                                     description="Bound, count or draw the linear regions of a ReLU network in balls.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0, or 2 for a usage or input error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, ImportError, OSError) as exc:
        print(f"localregions {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
