"""Where the bundled assets (model, demo clips, sprites) live: ``assets/`` beside the package."""

from __future__ import annotations

from pathlib import Path


def assets_dir() -> Path:
    """The ``assets/`` folder of the source checkout avloc runs from.

    Raises:
        FileNotFoundError: avloc was installed without its assets (install from a clone).
    """
    path = Path(__file__).resolve().parents[1] / "assets"
    if not path.is_dir():
        raise FileNotFoundError(
            f"avloc's assets folder is missing (looked in {path}); install avloc from a clone "
            "with `pip install -e .` so that the bundled model, sprites and demo clips are found"
        )
    return path
