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
