"""The ``avloc`` command: one sub-module per subcommand, this module only dispatches.

Each subcommand module exposes ``add_parser(subparsers)``, which registers its parser and sets
``run`` (a ``Callable[[argparse.Namespace], int]``) as the parser default. Heavy imports stay
inside ``run`` so that ``avloc --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from avloc.version import __version__

# Explicit list, in the order shown by --help.
_COMMAND_MODULES: tuple[str, ...] = (
    "avloc.cli.app",
    "avloc.cli.localize",
    "avloc.cli.separate",
    "avloc.cli.evaluate",
    "avloc.cli.compare",
    "avloc.cli.synth",
    "avloc.cli.models",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avloc",
        description="Find which objects in a video make the sound, and separate their sounds.",
    )
    parser.add_argument("--version", action="version", version=f"avloc {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def _format_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    # one line a user can act on; the library's file and line mean nothing to them
    return f"avloc: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``avloc`` command line; returns the process exit status."""
    warnings.formatwarning = _format_warning
    try:
        args = build_parser().parse_args(argv)  # imports the commands' modules: seconds
    except KeyboardInterrupt:
        print("avloc: interrupted", file=sys.stderr)
        return 130
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("avloc: interrupted; finished outputs were kept.", file=sys.stderr)
        return 130
    except (ValueError, OSError) as error:
        # User-facing problems (bad input, missing files) carry actionable messages already.
        print(f"avloc {args.command}: error: {error}", file=sys.stderr)
        return 2
