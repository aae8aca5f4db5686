"""The pipeline's media sources and streaming helpers (avloc.sources)."""

from __future__ import annotations

import numpy as np
import pytest

from avloc import media
from avloc.sources import AudioWindows, FileSource, prefetch


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


def test_pictures_that_stop_early_stay_on_screen_to_the_end(tmp_path) -> None:
    # 1 s of pictures, 3 s of sound: the whole sound is analysed over the last picture
    sr, fps = 11025, 8
    frames = np.zeros((fps, 32, 32, 3), np.uint8)
    frames[-1] = 200  # the last picture differs from the others
    sound = np.full(3 * sr, 0.1, np.float32)
    path = media.write_video(tmp_path / "v.mp4", frames, fps, sound, sr)
    chunks = list(FileSource(path).frames(fps, (32, 32), 5))
    times = np.concatenate([t for t, _ in chunks])
    pictures = np.concatenate([f for _, f in chunks])
    assert np.allclose(times, np.arange(3 * fps) / fps)
    assert all(len(t) <= 5 for t, _ in chunks)
    assert (np.abs(pictures[fps - 1 :].astype(int) - 200) <= 3).all()  # held, codec-exact-ish
    # an ordinary clip gets no extra frame
    even = media.write_video(tmp_path / "e.mp4", frames, fps, sound[:sr], sr)
    assert sum(len(t) for t, _ in FileSource(even).frames(fps, (32, 32), 5)) == fps
