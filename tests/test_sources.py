"""The pipeline's media sources and streaming helpers (avloc.sources)."""

from __future__ import annotations

import numpy as np
import pytest

from avloc import media
from avloc.sources import AudioWindows, prefetch


def test_audio_windows_stay_bounded() -> None:
    blocks = (np.full(1000, i, np.float32) for i in range(1000))  # a million samples
    windows = AudioWindows(blocks)
    for start in range(-500, 1_000_000, 2500):
        out = windows.window(start, 2000)
        assert len(windows._buffer) <= 2000 + 1000
        if start >= 0 and start + 2000 <= 1_000_000:
            assert out[0] == start // 1000
    assert windows.window(999_900, 200)[150] == 0.0  # past the end reads as silence


def test_prefetch_keeps_order_and_raises_errors() -> None:
    assert list(prefetch(range(50), 3)) == list(range(50))

    def broken():  # type: ignore[no-untyped-def]
        yield 1
        raise media.CorruptMediaError("x.mp4", "bad packet")

    with pytest.raises(media.CorruptMediaError, match="bad packet"):
        list(prefetch(broken(), 2))
