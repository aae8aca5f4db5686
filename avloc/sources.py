"""Where :class:`avloc.inference.Pipeline` reads its frames and sound from, chunk by chunk.

One interface over a media file (decoded lazily through :mod:`avloc.media`, in chunks, so any
length fits in memory) and an in-memory :class:`Clip`, plus the helpers that stream them:
:class:`AudioWindows` (overlapping windows over a forward-only audio stream) and
:func:`prefetch` (decoding the next chunk in a thread while the model runs).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union

import numpy as np

from avloc import media
from avloc.media.limits import _check_fps, _check_sample_rate

_T = TypeVar("_T")


@dataclass(frozen=True, eq=False)
class Clip:
    """Decoded media held in memory (a short clip, or a still image with a sound).

    A clip covers ``max(N / fps, T / sample_rate)`` seconds; its last frame is held when the
    audio is longer, so a single frame with a long sound is a still image that sounds.

    Shape:
        frames: (N, H, W, 3) uint8 RGB; audio: (T,) float32 mono in [-1, 1].
    """

    frames: np.ndarray
    audio: np.ndarray
    fps: float
    sample_rate: int

    def __post_init__(self) -> None:
        if not isinstance(self.frames, np.ndarray) or self.frames.dtype != np.uint8:
            raise TypeError("Clip.frames must be a uint8 numpy array (N, H, W, 3)")
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or len(self.frames) == 0:
            raise ValueError(
                f"Clip.frames must have shape (N, H, W, 3), N >= 1; got {self.frames.shape}"
            )
        check_audio(self.audio, "Clip.audio")
        try:  # the ranges avloc.media reads and writes
            _check_fps(self.fps)
            _check_sample_rate(self.sample_rate)
        except (TypeError, ValueError) as error:  # "fps must be ..." -> "Clip.fps must be ..."
            raise type(error)(f"Clip.{error}") from None

    @property
    def duration_s(self) -> float:
        return max(len(self.frames) / self.fps, len(self.audio) / self.sample_rate)


def check_audio(audio: object, name: str = "audio", ndim: int = 1) -> np.ndarray:
    """``audio`` as float32 after checking that it is a non-empty, finite array of float
    samples with ``ndim`` dimensions: mono ``(T,)``, or ``(B, T)`` windows.

    Raises:
        TypeError: not float samples (int16 PCM would be read as huge values).
        ValueError: another shape (stereo), no samples, or NaN/infinite samples.
    """
    array = np.asarray(audio)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"{name} must hold float samples in [-1, 1], got dtype {array.dtype} (divide int16 "
            "PCM by 32768)"
        )
    if array.ndim != ndim or array.size == 0:
        wanted = "a mono (T,)" if ndim == 1 else "a (B, T)"
        raise ValueError(f"{name} must be {wanted} array with samples, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite samples")
    return array.astype(np.float32, copy=False)


# A file path, an in-memory Clip, or (frames, audio, fps, sample_rate).
VideoInput = Union[str, Path, Clip, tuple]  # noqa: UP007 - a runtime alias on Python 3.10


def centre_window(audio: np.ndarray, length: int) -> np.ndarray:
    """The ``length`` samples at the centre of ``audio``, zero-padded when it is shorter.

    Shape:
        audio: (T,); returns (length,) float32.
    """
    audio = np.asarray(audio, np.float32)
    out = np.zeros(length, np.float32)
    if len(audio) >= length:
        start = (len(audio) - length) // 2
        out[:] = audio[start : start + length]
    else:
        start = (length - len(audio)) // 2
        out[start : start + len(audio)] = audio
    return out


class FileSource:
    """A media file, decoded lazily through :mod:`avloc.media`."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        info = media.probe(path)
        if not info.has_video or info.fps is None:
            raise media.NoVideoStreamError(path, "has no video stream; avloc needs a video")
        if not info.has_audio:
            raise media.NoAudioStreamError(
                path, "has no audio stream; avloc localises sounds, so it needs a soundtrack"
            )
        self.path = path
        self.duration_s = float(info.duration_s)

    def frames(
        self, fps: float, size: tuple[int, int], chunk: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The frames at ``fps``; where the pictures stop before the sound, the last one
        stays on screen to the end (``hold_last``), so the whole sound is analysed."""
        parts = media.iter_video(self.path, fps, size=size, chunk_frames=chunk, hold_last=True)
        for part in parts:
            yield np.asarray(part.times_s, np.float64), part.frames

    def num_samples(self, sample_rate: int) -> int:
        return max(1, round(self.duration_s * sample_rate))

    def audio(self, sample_rate: int) -> Iterator[np.ndarray]:
        yield from media.iter_audio(self.path, sample_rate, chunk_s=2.0)


class ClipSource:
    """An in-memory :class:`Clip`, resampled to the model's rates on the fly."""

    def __init__(self, clip: Clip) -> None:
        self.clip = clip
        self.duration_s = clip.duration_s

    def frames(
        self, fps: float, size: tuple[int, int], chunk: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        import cv2

        times = np.arange(int(np.floor(self.duration_s * fps + 1e-6))) / fps
        for start in range(0, len(times), chunk):
            part = times[start : start + chunk]
            index = np.minimum(
                np.round(part * self.clip.fps).astype(int), len(self.clip.frames) - 1
            )
            frames = np.stack(
                [
                    cv2.resize(
                        self.clip.frames[i], (size[1], size[0]), interpolation=cv2.INTER_AREA
                    )
                    for i in index
                ]
            )
            yield part, frames

    def num_samples(self, sample_rate: int) -> int:
        return int(np.ceil(len(self.clip.audio) * sample_rate / self.clip.sample_rate))

    def audio(self, sample_rate: int) -> Iterator[np.ndarray]:
        yield resample_audio(
            np.asarray(self.clip.audio, np.float32), self.clip.sample_rate, sample_rate
        )


class ArraySource:
    """A mixture already at the model's sample rate (no frames: vectors come with it)."""

    def __init__(self, mixture: np.ndarray) -> None:
        self.mixture = check_audio(mixture, "mixture")

    def num_samples(self, sample_rate: int) -> int:
        return len(self.mixture)

    def audio(self, sample_rate: int) -> Iterator[np.ndarray]:
        yield self.mixture


AudioSource = Union[FileSource, ClipSource, ArraySource]  # noqa: UP007 - runtime alias


def resample_audio(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling of an in-memory signal (files are resampled by FFmpeg in media).

    Shape:
        audio: (T,); returns (ceil(T * rate_out / rate_in),) float32.
    """
    if rate_in == rate_out:
        return audio.astype(np.float32, copy=False)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(rate_in), int(rate_out))
    return resample_poly(audio, rate_out // g, rate_in // g).astype(np.float32)


def open_source(video: VideoInput) -> FileSource | ClipSource:
    if isinstance(video, (str, Path)):
        return FileSource(Path(video))
    if isinstance(video, Clip):
        return ClipSource(video)
    if isinstance(video, tuple) and len(video) == 4:
        frames, audio, fps, sample_rate = video
        if isinstance(sample_rate, float) and sample_rate.is_integer():
            sample_rate = int(sample_rate)  # 16000.0 is a rate; 16000.7 is refused by Clip
        # the audio as given: Clip refuses int16 PCM rather than read it as huge floats
        return ClipSource(Clip(np.asarray(frames), np.asarray(audio), float(fps), sample_rate))
    raise TypeError(
        "video must be a file path, a Clip, or a (frames, audio, fps, sample_rate) tuple; "
        f"got {type(video).__name__}"
    )


class AudioWindows:
    """Random-ish access to a forward-only audio stream, for non-decreasing window starts.

    Keeps only the samples from the earliest start still needed, so memory stays bounded by the
    window length plus one decoded block, whatever the stream's length. Samples outside the
    stream read as zeros.
    """

    def __init__(self, blocks: Iterator[np.ndarray]) -> None:
        self._blocks = blocks
        self._buffer = np.zeros(0, np.float32)
        self._offset = 0  # stream index of self._buffer[0]
        self._done = False

    def window(self, start: int, length: int) -> np.ndarray:
        """Samples ``[start, start + length)`` (zero-padded); ``start`` must not decrease."""
        if start < self._offset and start >= 0:
            raise ValueError("audio windows must be requested in non-decreasing order")
        end = start + length
        while not self._done and self._offset + len(self._buffer) < end:
            try:
                block = np.asarray(next(self._blocks), np.float32).reshape(-1)
            except StopIteration:
                self._done = True
                break
            self._buffer = np.concatenate([self._buffer, block])
        out = np.zeros(length, np.float32)
        lo, hi = max(start, self._offset), min(end, self._offset + len(self._buffer))
        if hi > lo:
            out[lo - start : hi - start] = self._buffer[lo - self._offset : hi - self._offset]
        drop = max(0, start - self._offset)  # everything before this start is never asked again
        self._buffer, self._offset = self._buffer[drop:], self._offset + drop
        return out


def prefetch(items: Iterable[_T], depth: int) -> Generator[_T, None, None]:
    """Produce ``items`` in a background thread, ``depth`` ahead (0: inline).

    PyAV releases the GIL while decoding, so decoding the next chunk overlaps the model step.
    """
    if depth <= 0:
        yield from items
        return
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                box.put(("item", item))
            box.put(("end", None))
        except BaseException as error:
            box.put(("error", error))

    worker = threading.Thread(target=produce, daemon=True, name="avloc-decode")
    worker.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                box.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
