"""Pretrained bundle names → files under ``assets/`` (sha256-checked), and ``load_model``.

Whisper-style: ``load_model("default")`` looks the name up in :data:`PRETRAINED`; anything else
is treated as a path to a bundle. Nothing is ever downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from avloc.assets import assets_dir
from avloc.checkpoint import bundle_sha256, load_bundle


@dataclass(frozen=True)
class PretrainedEntry:
    """A bundle shipped in ``assets/``."""

    # Path relative to the assets folder.
    file: str
    # Expected SHA-256 of the file; None while the bundle has not been trained and recorded yet.
    sha256: str | None
    description: str
    for_tests: bool = False  # an untrained bundle for tests: left out of the app's menu


PRETRAINED: dict[str, PretrainedEntry] = {
    "default": PretrainedEntry(
        file="models/avloc-small.safetensors",
        sha256="6807013f8a3a34f5b7a9242bfb57d02389fd017163858e238d10ece339c41c83",
        description="avloc-small trained self-supervised on synthetic instrument scenes (CPU)",
    ),
    "avloc-tiny-test": PretrainedEntry(
        file="models/avloc-tiny-test.safetensors",
        sha256="781433b174a0bd10dea0c57856803c3e67499244fd4abf859e8eb55a24d7fc0d",
        description="untrained, seeded avloc-tiny for tests (outputs are meaningless)",
        for_tests=True,
    ),
}


def list_pretrained() -> list[str]:
    """Names accepted by :func:`resolve` / :func:`load_model`, sorted."""
    return sorted(PRETRAINED)


def resolve(name_or_path: str | Path) -> Path:
    """The bundle file for a pretrained name (checksum verified) or an existing path.

    Raises:
        FileNotFoundError: a known name whose file is not in this checkout, or neither a known
            name nor an existing file (the message lists the known names).
        ValueError: the file's SHA-256 does not match the table, or none is recorded.
    """
    key = str(name_or_path)
    if key in PRETRAINED:
        entry = PRETRAINED[key]
        path = assets_dir() / entry.file
        if not path.is_file():
            raise FileNotFoundError(
                f"pretrained model {key!r} is not in this checkout (expected {path}); train and "
                f"export it first, or pass a bundle path; known names: {', '.join(list_pretrained())}"
            )
        if entry.sha256 is None:
            raise ValueError(
                f"pretrained model {key!r} ({path}) has no sha256 recorded in "
                "avloc.pretrained.PRETRAINED; record avloc.checkpoint.bundle_sha256(path) there"
            )
        actual = bundle_sha256(path)
        if actual != entry.sha256:
            raise ValueError(
                f"{path}: sha256 {actual} does not match the expected {entry.sha256} for "
                f"pretrained model {key!r}; the file is corrupt or was replaced"
            )
        return path
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"{name_or_path!s} is neither a pretrained model name nor a bundle file; known "
            f"names: {', '.join(list_pretrained())}"
        )
    return path


def load_model(name_or_path: str | Path, device: str | torch.device | None = None) -> nn.Module:
    """Load a pretrained name or a bundle path, ready for inference (``eval()`` mode).

    Raises:
        FileNotFoundError / ValueError: see :func:`resolve` and
            :func:`avloc.checkpoint.load_bundle`.
    """
    return load_bundle(resolve(name_or_path), device=device)
