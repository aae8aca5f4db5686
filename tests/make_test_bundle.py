"""Regenerate ``assets/models/avloc-tiny-test.safetensors``: untrained, seeded ``avloc-tiny``.

Run ``python tests/make_test_bundle.py`` and record the printed sha256 in
``avloc.pretrained.PRETRAINED["avloc-tiny-test"]``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from avloc.assets import assets_dir
from avloc.checkpoint import bundle_sha256, save_bundle
from avloc.models import create_model

SEED = 0


def make_test_bundle(path: Path) -> Path:
    """Write the seeded tiny bundle to ``path`` and return it."""
    torch.manual_seed(SEED)
    model = create_model("avloc-tiny").eval()
    return save_bundle(model, path, extra_metadata={"note": "untrained test bundle"})


def main() -> None:
    path = make_test_bundle(assets_dir() / "models" / "avloc-tiny-test.safetensors")
    print(f"{path}: {path.stat().st_size} bytes, sha256 {bundle_sha256(path)}")


if __name__ == "__main__":
    main()
