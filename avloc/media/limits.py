"""What :mod:`avloc.media` accepts: size, duration and rate limits, and the argument checks."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from avloc.media.errors import EmptyMediaError

MAX_SIDE_PX = 8192
"""Largest accepted frame width/height (pixels), in files and in requested sizes."""
MAX_DURATION_S = 24 * 3600.0
"""Longest accepted media duration (seconds)."""
MAX_FPS = 1000.0
"""Largest accepted requested frame rate."""


def _existing_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, after checking that it is a non-empty regular file."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"media path must be a str or Path, got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, expected a media file")
    if path.stat().st_size == 0:
        raise EmptyMediaError(path, "file is empty (0 bytes)")
    return path


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_fps(fps: float) -> float:
    if not _is_number(fps):
        raise TypeError(f"fps must be a number, got {type(fps).__name__}")
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise ValueError(f"fps must be in (0, {MAX_FPS:g}], got {fps}")
    return float(fps)


def _check_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size)
    ):
        raise TypeError(f"size must be a (height, width) pair of ints, got {size!r}")
    height, width = int(size[0]), int(size[1])
    if not (0 < height <= MAX_SIDE_PX and 0 < width <= MAX_SIDE_PX):
        raise ValueError(f"size (height, width) must be within 1..{MAX_SIDE_PX}, got {size}")
    return height, width


def _check_window(start_s: float, duration_s: float | None) -> tuple[float, float]:
    """Validated ``(start_s, end_s)``; ``end_s`` is ``inf`` when ``duration_s`` is None."""
    if not (_is_number(start_s) and math.isfinite(start_s) and start_s >= 0):
        raise ValueError(f"start_s must be a finite number >= 0, got {start_s!r}")
    if duration_s is None:
        return float(start_s), math.inf
    if not (_is_number(duration_s) and math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a finite number > 0 or None, got {duration_s!r}")
    return float(start_s), float(start_s + duration_s)


def _check_sample_rate(sample_rate: int) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise TypeError(f"sample_rate must be an int (Hz), got {sample_rate!r}")
    if not 1000 <= sample_rate <= 768_000:
        raise ValueError(f"sample_rate must be 1000..768000 Hz, got {sample_rate}")
    return int(sample_rate)
