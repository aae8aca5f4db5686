"""The public API of ``import avloc``: every name resolves, and importing it is cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import avloc


def test_public_names_resolve() -> None:
    for name in avloc.__all__:
        assert getattr(avloc, name) is not None
    assert set(avloc.__all__) <= set(dir(avloc))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = avloc.nope  # type: ignore[attr-defined]


def test_import_does_not_load_torch() -> None:
    # the command line imports avloc before it can catch Ctrl-C; torch takes seconds
    code = "import sys, avloc, avloc.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_command_line_parser_does_not_load_torch() -> None:
    # `avloc --help` and every subcommand's help show the calibrated defaults
    # (avloc.defaults) without paying seconds for torch
    code = (
        "import sys; from avloc.cli import build_parser; build_parser(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
