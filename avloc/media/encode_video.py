"""Encoding of browser-playable mp4 (H.264 yuv420p + AAC), streaming and atomic."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from contextlib import suppress
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

from avloc.media.encode import (
    _LAYOUTS,
    _audio_frame,
    _check_audio,
    _check_frames,
    _naming_the_file,
    _temp_sibling,
)
from avloc.media.limits import _check_fps, _check_sample_rate

# x264's speed presets, fastest first: a faster one gives a larger file at the same crf
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
_AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200)


def _aac_rate(sample_rate: int) -> int:
    """The AAC rate to encode at: ``sample_rate`` itself, or the next supported one above it."""
    return next((rate for rate in _AAC_RATES if rate >= sample_rate), _AAC_RATES[-1])


class VideoWriter:
    """Streaming, atomic encoder of browser-playable mp4 (H.264 yuv420p + AAC, faststart).

    Frames may come in any number of :meth:`write` calls; odd frame sizes are padded by one
    pixel (edge repeat) to the even size H.264 in yuv420p needs. Audio is given to ``__init__``
    or to :meth:`write_audio` (any time before :meth:`close`) and is interleaved with the video
    as it is encoded. If ``sample_rate`` was given but no audio arrives, the track is silent.
    Used as a context manager, the file appears under its name only on a clean exit; on an
    exception the temp file is removed. ``crf`` is x264's quality (0 lossless .. 51) and
    ``preset`` its speed (:data:`X264_PRESETS`; ``"medium"`` is x264's default).

    Example:
        >>> with VideoWriter("out.mp4", fps=8, audio=samples, sample_rate=11025) as writer:
        ...     for chunk in chunks:
        ...         writer.write(chunk)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        audio: np.ndarray | None = None,
        sample_rate: int | None = None,
        crf: int = 23,
        deterministic: bool = False,
        preset: str = "medium",
    ) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"{self.path}: VideoWriter writes .mp4 files")
        self.fps = _check_fps(fps)
        if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
            raise ValueError(
                f"{self.path}: crf must be an int in 0..51 (lower is better), got {crf!r}"
            )
        if preset not in X264_PRESETS:
            raise ValueError(f"{self.path}: unknown x264 preset {preset!r}; one of {X264_PRESETS}")
        if audio is not None and sample_rate is None:
            raise ValueError(f"{self.path}: pass sample_rate along with audio")
        self.sample_rate = None if sample_rate is None else _check_sample_rate(sample_rate)
        self.crf = crf
        self.deterministic = deterministic
        self.preset = preset
        self.num_frames = 0
        self._final, self._temp = _temp_sibling(self.path)
        self._container: Any = None
        self._video: Any = None
        self._audio: Any = None
        self._size: tuple[int, int] | None = None  # (height, width) of the input frames
        self._pending = np.zeros((0, 0), np.float32)  # (C, T) audio not yet encoded
        self._audio_sent = 0
        self._closed = False
        if audio is not None:
            self.write_audio(audio)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write_audio(self, samples: np.ndarray) -> None:
        """Append audio (float in [-1, 1]) at the ``sample_rate`` given to ``__init__``.

        Shape:
            samples: (T,) or (C, T), C in {1, 2}, the same C on every call.
        """
        if self.sample_rate is None:
            raise ValueError(f"{self.path}: pass sample_rate to VideoWriter(...) to add audio")
        planar = _check_audio(samples, self.path, max_channels=2)
        channels = self._audio.codec_context.layout.nb_channels if self._audio is not None else None
        channels = channels or (self._pending.shape[0] if self._pending.size else planar.shape[0])
        if planar.shape[0] != channels:
            raise ValueError(
                f"{self.path}: audio has {planar.shape[0]} channels, expected {channels}"
            )
        if self._pending.size:
            planar = np.concatenate([self._pending, planar], axis=1)
        self._pending = planar
        if self._container is not None:
            self._encode_audio(until_s=self.num_frames / self.fps)

    def write(self, frames: np.ndarray) -> None:
        """Encode frames.

        Shape:
            frames: (N, H, W, 3) or (H, W, 3) uint8 RGB, the same H, W on every call.
        """
        if self._closed:
            raise ValueError(f"{self.path}: the writer is already closed")
        stack = _check_frames(frames, self.path)
        if self._container is None:
            self._open(stack.shape[1], stack.shape[2])
        if stack.shape[1:3] != self._size:
            raise ValueError(
                f"{self.path}: frame size {stack.shape[1:3]} differs from the first frames' "
                f"{self._size}"
            )
        pad = ((0, 0), (0, stack.shape[1] % 2), (0, stack.shape[2] % 2), (0, 0))
        if any(p[1] for p in pad):
            stack = np.pad(stack, pad, mode="edge")
        for image in stack:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = self.num_frames
            frame.time_base = self._video.codec_context.time_base
            self._container.mux(self._video.encode(frame))
            self.num_frames += 1
        self._encode_audio(until_s=self.num_frames / self.fps)

    def close(self) -> Path:
        """Finish encoding and move the file into place; returns its path."""
        if self._closed:
            return self._final
        if self._container is None:
            self.abort()
            raise ValueError(f"{self.path}: no frames were written")
        try:
            if self._audio is not None:
                if self._audio_sent == 0 and not self._pending.size:
                    silence = np.zeros((1, round(self.num_frames / self.fps * self._rate())))
                    self._pending = silence.astype(np.float32)
                self._encode_audio(until_s=math.inf)
                self._container.mux(self._audio.encode(None))
            self._container.mux(self._video.encode(None))
            self._container.close()
            self._container = None
            os.replace(self._temp, self._final)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self._final

    def abort(self) -> None:
        """Stop without writing the final file (the temp file is removed)."""
        if self._container is not None:
            with suppress(av.FFmpegError):  # the file is discarded anyway
                self._container.close()
            self._container = None
        self._temp.unlink(missing_ok=True)

    def _rate(self) -> int:
        assert self.sample_rate is not None
        return self.sample_rate

    def _open(self, height: int, width: int) -> None:
        self._size = (height, width)
        options = {"movflags": "+faststart"}
        try:
            self._container = av.open(str(self._temp), "w", format="mp4", options=options)
        except OSError as error:
            named = _naming_the_file(self._final, error)
            if named is error:
                raise
            raise named from error
        try:
            rate = Fraction(self.fps).limit_denominator(1001)
            video = self._container.add_stream("libx264", rate=rate)
            video.width, video.height = width + width % 2, height + height % 2
            video.pix_fmt = "yuv420p"
            # x264 output varies from run to run: its macroblock-tree rate control (assembly
            # reading memory it did not write, we found) and its thread count (CPU count by
            # default). With both fixed, the same frames give the same bytes on any machine.
            fixed = {"threads": "1", "x264-params": "mbtree=0"} if self.deterministic else {}
            video.options = {"crf": str(self.crf), "preset": self.preset, **fixed}
            video.codec_context.time_base = 1 / rate
            self._video = video
            if self.sample_rate is not None:
                channels = self._pending.shape[0] if self._pending.size else 1
                audio = self._container.add_stream(
                    "aac", rate=_aac_rate(self.sample_rate), layout=_LAYOUTS[channels]
                )
                audio.bit_rate = 64000 * channels
                self._audio = audio
        except BaseException:
            self.abort()
            raise

    def _encode_audio(self, until_s: float) -> None:
        """Encode pending audio up to ``until_s`` (so audio and video packets interleave)."""
        if self._audio is None or not self._pending.size:
            return
        if math.isinf(until_s):  # everything pending, also past the last frame
            limit = self._audio_sent + self._pending.shape[1]
        else:
            limit = round(until_s * self._rate())
        count = min(self._pending.shape[1], max(0, limit - self._audio_sent))
        block = 1 << 14
        for start in range(0, count, block):
            chunk = self._pending[:, start : min(start + block, count)]
            frame = _audio_frame(chunk, self._rate(), self._audio_sent, "fltp")
            self._container.mux(self._audio.encode(frame))
            self._audio_sent += chunk.shape[1]
        self._pending = self._pending[:, count:]


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    crf: int = 23,
    deterministic: bool = False,
) -> Path:
    """Encode frames (and audio) to a browser-playable mp4, atomically (see :class:`VideoWriter`).

    Args:
        path: the target ``.mp4``.
        frames: an array, or an iterable of arrays (each a frame or a stack of frames).
        fps: frame rate.
        audio: the soundtrack, float in [-1, 1]; needs ``sample_rate``.
        sample_rate: the audio's rate, Hz.
        crf: x264 quality, 0 (lossless) .. 51; 23 is x264's default.
        deterministic: encode on one thread and without x264's macroblock-tree rate control,
            so the same input gives the same file every time (either one alone does not).

    Returns:
        ``path`` as a Path.

    Shape:
        frames: (N, H, W, 3) uint8 RGB, or items of (H, W, 3) / (N, H, W, 3).
        audio: (T,) or (C, T) with C in {1, 2}.

    Raises:
        TypeError: frames not uint8 or audio not float.
        ValueError: bad shapes, sizes, fps, crf, suffix, or no frames at all.
    """
    with VideoWriter(
        path, fps, audio=audio, sample_rate=sample_rate, crf=crf, deterministic=deterministic
    ) as writer:
        if isinstance(frames, np.ndarray):
            stack = _check_frames(frames, Path(path))
            for start in range(0, stack.shape[0], 64):
                writer.write(stack[start : start + 64])
        else:
            for item in frames:
                writer.write(item)
    return Path(path)
