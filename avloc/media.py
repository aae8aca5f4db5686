"""Decoding and encoding of media files: the only module of avloc that touches FFmpeg (PyAV).

Video is decoded **by timestamp**: frame ``i`` of a read is the source frame on screen at
``t = start_s + i / fps`` (the last frame whose presentation time is <= t), so sources at 25 and
30 fps give frames for the same times. Times are measured from the start of the file (the
container's start time), the same origin for audio and video, so the two stay in sync.
Audio comes back as mono float32 at the requested rate: FFmpeg's resampler (``av.AudioResampler``)
changes the rate, then the channels are averaged (as ``librosa.to_mono`` does; FFmpeg's own
stereo-to-mono matrix adds the channels at -3 dB each, which can push a loud mix past 1).
A window ``read_audio(path, sr, start_s=x)`` is sample-for-sample the slice ``[round(x*sr):]``
of the whole read (decoding starts a little earlier on a common sample grid, see
:func:`_warmup_start`), so chunked and whole-file processing agree.

Long files are never held whole: :func:`iter_video` and :func:`iter_audio` decode in chunks, and
:class:`VideoWriter` encodes as frames arrive. Every write is atomic: the data goes to a hidden
``.<name>.<random>.part`` file in the target folder, renamed over the final name only once
complete, so a crash never leaves a half-written file under the final name.

Image arrays are uint8 RGB (H, W, 3); sizes are ``(height, width)``; audio is float32 in [-1, 1].
"""

from __future__ import annotations

import math
import os
import re
import uuid
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import av
import cv2
import numpy as np

MAX_SIDE_PX = 8192
"""Largest accepted frame width/height (pixels), in files and in requested sizes."""
MAX_DURATION_S = 24 * 3600.0
"""Longest accepted media duration (seconds)."""
MAX_FPS = 1000.0
"""Largest accepted requested frame rate."""

_TIME_EPS_S = 1e-3  # timestamps are rounded to the stream time base; 1 ms << any frame interval
_TRUNCATION_TOLERANCE_S = 1.0
# Transform codecs (AAC, MP3, Opus, Vorbis) need a few frames before their output is exact again
# after a seek (Opus asks for 80 ms); decoding from earlier and dropping the excess is exact.
_AUDIO_PREROLL_S = 0.25
_EXACT_AUDIO_DECODE_S = 120.0  # decode coarse-timestamp audio from 0 rather than seek, up to here
_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
_AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200)
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_AUDIO_FILE_CODECS = {
    (".wav", "s16"): ("wav", "pcm_s16le", "s16"),
    (".wav", "flt"): ("wav", "pcm_f32le", "flt"),
    (".flac", "s16"): ("flac", "flac", "s16"),
}


# --------------------------------------------------------------------------------------- errors


class MediaError(ValueError):
    """A media file that cannot be used; ``str(err) == f"{path}: {problem}"``.

    Attributes:
        path: the offending file.
        problem: what is wrong with it, in words.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.problem))


class NoVideoStreamError(MediaError):
    """The file has no (decodable picture) video stream."""


class NoAudioStreamError(MediaError):
    """The file has no audio stream."""


class EmptyMediaError(MediaError):
    """The file is zero bytes long or its stream holds no frames/samples."""


class CorruptMediaError(MediaError):
    """The file is not valid media, or is damaged or truncated."""


class UnsupportedCodecError(MediaError):
    """The stream's codec cannot be decoded by this FFmpeg build."""


class MediaTooLargeError(MediaError):
    """The file exceeds :data:`MAX_SIDE_PX` pixels a side or :data:`MAX_DURATION_S` seconds."""


# ---------------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` finds in a file, without decoding it.

    ``width``/``height`` are the size frames are shown at, which :func:`read_video` returns:
    a video whose display matrix turns it by 90 or 270 degrees (phone videos) is upright, with
    the stored width and height swapped.
    A codec FFmpeg cannot decode is reported as ``"unknown"`` (reading it raises
    :class:`UnsupportedCodecError`). Images have ``duration_s == 0`` and ``fps is None``.
    """

    path: Path
    duration_s: float  # longest stream, seconds
    width: int | None  # video width in pixels; None without video
    height: int | None  # video height in pixels; None without video
    fps: float | None  # average video frame rate; None without video or when unknown
    video_codec: str | None  # FFmpeg decoder name ("h264", "hevc", "vp9", ...); None without video
    sample_rate: int | None  # audio sample rate in Hz; None without audio
    num_channels: int | None  # audio channels; None without audio
    audio_codec: str | None  # FFmpeg decoder name ("aac", "opus", ...); None without audio

    @property
    def has_video(self) -> bool:
        """Whether the file has a video (or image) stream."""
        return self.video_codec is not None

    @property
    def has_audio(self) -> bool:
        """Whether the file has an audio stream."""
        return self.audio_codec is not None


@dataclass(frozen=True)
class VideoFrames:
    """Frames sampled at fixed times.

    Shape:
        frames: (N, H, W, 3) uint8 RGB.
        times_s: (N,) float64, the requested sample times ``start_s + i / fps``.
    """

    frames: np.ndarray
    times_s: np.ndarray
    fps: float


# ------------------------------------------------------------------------------ argument checks


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
        raise ValueError(f"sample_rate must be within 1000..768000 Hz, got {sample_rate}")
    return int(sample_rate)


# ------------------------------------------------------------------------------- opening inputs


def _ffmpeg_problem(err: Exception) -> str:
    """FFmpeg's reason in words, without PyAV's errno and file-name decoration."""
    reason = getattr(err, "strerror", None) or str(err)
    return str(reason).rstrip(".").lower()


@contextmanager
def _open_input(path: Path) -> Iterator[Any]:
    """Open ``path`` with PyAV, turning FFmpeg failures into :class:`MediaError` subclasses."""
    try:
        container = av.open(str(path), metadata_errors="replace")
    except av.error.DecoderNotFoundError as err:
        raise UnsupportedCodecError(
            path, f"no decoder for its codec ({_ffmpeg_problem(err)})"
        ) from err
    except av.FFmpegError as err:
        raise CorruptMediaError(
            path, f"not a readable media file or damaged ({_ffmpeg_problem(err)})"
        ) from err
    try:
        yield container
    finally:
        container.close()


def _find_stream(container: Any, kind: Literal["video", "audio"]) -> Any | None:
    """The first video (not cover art) or audio stream, or None."""
    for stream in container.streams:
        if stream.type != kind:
            continue
        if kind == "video" and stream.disposition & av.stream.Disposition.attached_pic:
            continue
        return stream
    return None


def _decodable_stream(container: Any, kind: Literal["video", "audio"], path: Path) -> Any:
    """The stream of ``kind`` that will be decoded, or a typed error saying why there is none."""
    stream = _find_stream(container, kind)
    if stream is None:
        error = NoVideoStreamError if kind == "video" else NoAudioStreamError
        raise error(path, f"has no {kind} stream")
    if stream.codec_context is None:
        raise UnsupportedCodecError(
            path, f"its {kind} stream uses a codec this FFmpeg build cannot decode"
        )
    return stream


def _origin_s(container: Any) -> float:
    """Time (seconds) that avloc calls 0: the container's start time."""
    return container.start_time / av.time_base if container.start_time is not None else 0.0


def _declared_end_s(stream: Any, origin_s: float) -> float | None:
    """Where the stream's header says it ends (seconds from the origin), if it says so."""
    if stream.duration:
        start = stream.start_time or 0
        return float((start + stream.duration) * stream.time_base) - origin_s
    tag = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", str(stream.metadata.get("DURATION", "")))
    if tag is None:
        return None  # Matroska writes a per-stream DURATION tag; other formats may say nothing.
    hours, minutes, seconds = tag.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _scanned_duration_s(container: Any, path: Path) -> float:
    """Duration read from packet timestamps, for files whose header does not give it."""
    end = 0.0
    try:
        for packet in container.demux():
            if packet.pts is not None and packet.time_base is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    except av.FFmpegError as err:
        raise CorruptMediaError(path, f"damaged or truncated ({_ffmpeg_problem(err)})") from err
    return max(0.0, end - _origin_s(container))


# ------------------------------------------------------------------------------------------ probe


def _stream_info(stream: Any | None, kind: str) -> dict[str, Any]:
    if kind == "video":
        if stream is None:
            return {"width": None, "height": None, "fps": None, "video_codec": None}
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        return {
            "width": ctx.width if ctx is not None else None,
            "height": ctx.height if ctx is not None else None,
            "fps": float(rate) if rate else None,
            "video_codec": ctx.name if ctx is not None else "unknown",
        }
    if stream is None:
        return {"sample_rate": None, "num_channels": None, "audio_codec": None}
    ctx = stream.codec_context
    return {
        "sample_rate": ctx.sample_rate if ctx is not None else None,
        "num_channels": ctx.layout.nb_channels if ctx is not None else None,
        "audio_codec": ctx.name if ctx is not None else "unknown",
    }


def _check_limits(info: MediaInfo) -> MediaInfo:
    for side in (info.width, info.height):
        if side is not None and side > MAX_SIDE_PX:
            raise MediaTooLargeError(
                info.path,
                f"frame size {info.width}x{info.height} exceeds the {MAX_SIDE_PX} px limit",
            )
    if info.duration_s > MAX_DURATION_S:
        raise MediaTooLargeError(
            info.path,
            f"duration {info.duration_s / 3600:.1f} h exceeds the {MAX_DURATION_S / 3600:g} h limit",
        )
    return info


def _header_info(container: Any, path: Path) -> MediaInfo:
    """The file's MediaInfo from its header (duration 0 when the header has none), checked
    against the size and duration limits."""
    if not container.streams:
        raise EmptyMediaError(path, "holds no streams (no audio, no video)")
    video, audio = _find_stream(container, "video"), _find_stream(container, "audio")
    if video is None and audio is None:
        raise NoVideoStreamError(path, "has neither a video nor an audio stream")
    duration = container.duration / av.time_base if container.duration is not None else 0.0
    info = MediaInfo(
        path=path,
        duration_s=max(0.0, duration),
        **_stream_info(video, "video"),
        **_stream_info(audio, "audio"),
    )
    return _check_limits(info)


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Read a media file's header: streams, size, rate, codecs and duration (no decoding).

    Args:
        path: a video, audio or image file.

    Returns:
        The file's :class:`MediaInfo`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        EmptyMediaError: the file is 0 bytes, holds no streams, or has zero duration.
        CorruptMediaError: the file is not media FFmpeg can read, or is damaged.
        NoVideoStreamError: the file has neither video nor audio.
        MediaTooLargeError: over :data:`MAX_SIDE_PX` px a side or :data:`MAX_DURATION_S` s.
    """
    path = _existing_file(path)
    if path.suffix.lower() in _IMAGE_SUFFIXES:
        with _open_image(path) as image:
            codec = (image.format or "image").lower()
            return MediaInfo(path, 0.0, image.width, image.height, None, codec, None, None, None)
    with _open_input(path) as container:
        info = _header_info(container, path)
        if info.width is not None and _quarter_turns(_first_frame(container)) % 2:
            info = replace(info, width=info.height, height=info.width)  # shown upright
        if container.duration is None:
            info = _check_limits(replace(info, duration_s=_scanned_duration_s(container, path)))
    if info.duration_s <= 0:
        raise EmptyMediaError(path, "has zero duration")
    return info


# ---------------------------------------------------------------------------------- video decode


def _decoded(
    container: Any, stream: Any, path: Path, origin_s: float
) -> Generator[tuple[float, Any], None, None]:
    """Every decoded frame of ``stream`` with its presentation time (seconds from origin)."""
    last_t, step = -math.inf, 0.0
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                if frame.pts is not None and frame.time_base is not None:
                    t = float(frame.pts * frame.time_base) - origin_s
                else:  # no timestamp (rare, broken muxers): continue from the previous frame
                    t = last_t + step if math.isfinite(last_t) else 0.0
                if math.isfinite(last_t):
                    step = max(t - last_t, 0.0)
                last_t = t
                yield t, frame
    except av.error.DecoderNotFoundError as err:
        raise UnsupportedCodecError(
            path, f"no decoder for its codec ({_ffmpeg_problem(err)})"
        ) from err
    except av.FFmpegError as err:
        where = f"after {last_t:.2f} s" if math.isfinite(last_t) else "at the start"
        raise CorruptMediaError(
            path, f"damaged or truncated: decoding failed {where} ({_ffmpeg_problem(err)})"
        ) from err


def _decoded_from(
    container: Any, stream: Any, path: Path, start_s: float, preroll_s: float = 0.0
) -> Iterator[tuple[float, Any]]:
    """Decoded ``(t, frame)`` pairs starting at or before ``start_s`` (seeking when > 0).

    A seek lands on the key frame before ``start_s - preroll_s``. Where a format seeks
    imprecisely and lands after ``start_s``, decoding restarts from the beginning rather than
    returning wrong frames.
    """
    origin_s = _origin_s(container)
    if start_s > 0:
        seek_s = max(0.0, start_s - preroll_s) + origin_s
        with suppress(av.FFmpegError):  # unseekable: decode from the start, skip to start_s
            container.seek(int(seek_s / stream.time_base), stream=stream)
        frames = _decoded(container, stream, path, origin_s)
        first = next(frames, None)
        if first is None or first[0] <= start_s + _TIME_EPS_S:
            if first is not None:
                yield first
                yield from frames
            return
        frames.close()
        try:
            container.seek(0)
        except av.FFmpegError as err:
            raise CorruptMediaError(path, f"cannot seek back ({_ffmpeg_problem(err)})") from err
    yield from _decoded(container, stream, path, origin_s)


def _frame_duration_s(frame: Any, stream: Any) -> float:
    if frame.duration and frame.time_base is not None:
        return float(frame.duration * frame.time_base)
    rate = stream.average_rate or stream.guessed_rate
    return 1.0 / float(rate) if rate else 0.0


def _sampled(
    timed: Iterator[tuple[float, Any]], start_s: float, end_s: float, fps: float, stream: Any
) -> Iterator[tuple[float, Any]]:
    """``(target_time, frame)`` for each target time: the frame on screen at that time.

    Also checks, at the end of the stream, that the stream did not end before its header says.
    """
    i, prev = 0, None
    for t, frame in timed:
        while (target := start_s + i / fps) < t - _TIME_EPS_S:
            if target >= end_s - 1e-9:
                return
            yield target, prev[1] if prev is not None else frame  # before the first frame: first
            i += 1
        prev = (t, frame)
    if prev is None:
        return
    stop_s = min(end_s, prev[0] + _frame_duration_s(prev[1], stream))
    while (target := start_s + i / fps) < stop_s - _TIME_EPS_S:
        yield target, prev[1]
        i += 1
    _check_not_truncated(stream, prev[0] + _frame_duration_s(prev[1], stream), end_s)


def _check_not_truncated(stream: Any, ended_s: float, wanted_end_s: float) -> None:
    """Raise when decoding ended well before both the wanted end and the header's end.

    Truncated Matroska/WebM (and some other) files decode without an FFmpeg error, shorter.
    """
    declared = _declared_end_s(stream, _origin_s(stream.container))
    if declared is None:
        return
    tolerance = max(_TRUNCATION_TOLERANCE_S, 0.01 * declared)
    if ended_s < min(declared, wanted_end_s) - tolerance:
        raise CorruptMediaError(
            Path(stream.container.name),
            f"truncated: its {stream.type} stream ends at {ended_s:.2f} s but its header "
            f"declares {declared:.2f} s",
        )


def _resize(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize (H, W, 3) to ``size`` = (height, width): INTER_AREA shrinking, else INTER_LINEAR."""
    if size is None or image.shape[:2] == size:
        return image
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (size[1], size[0]), interpolation=interpolation)


def _quarter_turns(frame: Any | None) -> int:
    """Counter-clockwise quarter turns that show ``frame`` upright (phone videos carry them)."""
    rotation = (getattr(frame, "rotation", 0) or 0) if frame is not None else 0
    return int(rotation // 90) % 4 if rotation % 90 == 0 else 0


def _first_frame(container: Any) -> Any | None:
    """The first decodable video frame, or None (damage is left for the readers to report)."""
    stream = _find_stream(container, "video")
    if stream is None or stream.codec_context is None:
        return None
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                return frame
    except av.FFmpegError:
        return None
    return None


def _to_rgb(frame: Any, size: tuple[int, int] | None) -> np.ndarray:
    """An upright (H, W, 3) uint8 RGB array of ``frame`` at ``size``."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = _quarter_turns(frame)
    if turns:  # the display matrix angle is counter-clockwise, as np.rot90 turns
        rgb = np.ascontiguousarray(np.rot90(rgb, k=turns))
    return _resize(rgb, size)


def _video_chunks(
    path: Path,
    fps: float,
    size: tuple[int, int] | None,
    start_s: float,
    end_s: float,
    chunk_frames: int,
) -> Iterator[VideoFrames]:
    with _open_input(path) as container:
        _header_info(container, path)
        stream = _decodable_stream(container, "video", path)
        stream.thread_type = "AUTO"
        frames: list[np.ndarray] = []
        times: list[float] = []
        last: tuple[Any, np.ndarray] | None = None
        timed = _decoded_from(container, stream, path, start_s)
        for target, frame in _sampled(timed, start_s, end_s, fps, stream):
            if last is None or last[0] is not frame:  # convert each kept frame once
                last = (frame, _to_rgb(frame, size or (last[1].shape[:2] if last else None)))
            frames.append(last[1])
            times.append(target)
            if len(frames) == chunk_frames:
                yield VideoFrames(np.stack(frames), np.asarray(times, np.float64), fps)
                frames, times = [], []
        if frames:
            yield VideoFrames(np.stack(frames), np.asarray(times, np.float64), fps)
        elif last is None and start_s == 0:
            raise EmptyMediaError(path, "its video stream holds no frames")


def iter_video(
    path: str | os.PathLike[str],
    fps: float,
    size: tuple[int, int] | None = None,
    start_s: float = 0.0,
    duration_s: float | None = None,
    chunk_frames: int = 64,
) -> Iterator[VideoFrames]:
    """Decode a video in chunks of frames sampled at ``fps``, holding one chunk at a time.

    Frame ``i`` is the source frame on screen at ``start_s + i / fps``; reading stops at
    ``start_s + duration_s`` or where the last source frame stops being shown (never repeats).

    Args:
        path: a video file (mp4, mkv, webm, avi, mov, ...).
        fps: frames per second to sample, in (0, 1000].
        size: output ``(height, width)``; None keeps the source size (upright).
        start_s: time of the first frame, seconds.
        duration_s: length to read, seconds; None reads to the end.
        chunk_frames: frames per yielded chunk.

    Returns:
        An iterator of :class:`VideoFrames`; concatenated, they equal :func:`read_video`.

    Shape:
        each chunk's frames: (N, H, W, 3) uint8 RGB with N <= chunk_frames.

    Raises:
        ValueError, TypeError: bad arguments (immediately).
        FileNotFoundError, MediaError: as for :func:`read_video` (the file's content is checked
            when iteration starts).
    """
    fps, size = _check_fps(fps), _check_size(size)
    start_s, end_s = _check_window(start_s, duration_s)
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be an int >= 1, got {chunk_frames!r}")
    return _video_chunks(_existing_file(path), fps, size, start_s, end_s, chunk_frames)


def read_video(
    path: str | os.PathLike[str],
    fps: float,
    size: tuple[int, int] | None = None,
    start_s: float = 0.0,
    duration_s: float | None = None,
) -> VideoFrames:
    """Decode a video's frames at the times ``start_s + i / fps`` (see :func:`iter_video`).

    Args:
        path: a video file (mp4, mkv, webm, avi, mov; H.264, HEVC, VP9, MPEG-4, ...).
        fps: frames per second to sample.
        size: output ``(height, width)``; None keeps the source size.
        start_s: time of the first frame, seconds.
        duration_s: length to read, seconds; None reads to the end.

    Returns:
        The sampled frames; none when ``start_s`` is past the end.

    Shape:
        frames: (N, H, W, 3) uint8 RGB; times_s: (N,).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NoVideoStreamError: the file has no video stream.
        EmptyMediaError: the file is 0 bytes or its video holds no frames.
        CorruptMediaError: not media, damaged, or truncated.
        UnsupportedCodecError: FFmpeg has no decoder for the video codec.
        MediaTooLargeError: over :data:`MAX_SIDE_PX` px a side or :data:`MAX_DURATION_S` s.
    """
    chunks = list(iter_video(path, fps, size, start_s, duration_s, chunk_frames=256))
    if chunks:
        return VideoFrames(
            np.concatenate([c.frames for c in chunks]),
            np.concatenate([c.times_s for c in chunks]),
            float(fps),
        )
    info = probe(path)
    height, width = size or (info.height or 0, info.width or 0)
    return VideoFrames(np.zeros((0, height, width, 3), np.uint8), np.zeros(0), float(fps))


# ---------------------------------------------------------------------------------- audio decode


class _MonoResampler:
    """FFmpeg's resampler to float at one rate, then the mean over channels."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._resampler: Any = None
        self._key: tuple[str, str, int] | None = None

    def __call__(self, frame: Any | None) -> list[np.ndarray]:
        """Resampled mono blocks for ``frame`` (None flushes)."""
        out: list[Any] = []
        if frame is not None:
            key = (frame.format.name, frame.layout.name, frame.sample_rate)
            if key != self._key:  # the input format changed mid-stream: drain, then rebuild
                out += self._resampler.resample(None) if self._resampler is not None else []
                self._resampler = av.AudioResampler(format="fltp", rate=self.sample_rate)
                self._key = key
            out += self._resampler.resample(frame)
        elif self._resampler is not None:
            out += self._resampler.resample(None)
        return [f.to_ndarray().mean(axis=0, dtype=np.float32) for f in out]


def _audio_blocks(
    path: Path, sample_rate: int, start_s: float, end_s: float
) -> Iterator[np.ndarray]:
    """Mono float32 blocks of the audio from ``start_s`` to ``end_s``.

    Sample ``j`` of the concatenated blocks is the sound at ``start_s + j / sample_rate``;
    where the audio stream starts later than ``start_s``, the gap is silence.
    """
    with _open_input(path) as container:
        _header_info(container, path)
        stream = _decodable_stream(container, "audio", path)
        first, warm = _warmup_start(start_s, sample_rate, stream.codec_context.sample_rate)
        wanted = math.inf if math.isinf(end_s) else round((end_s - start_s) * sample_rate)
        seek_s = warm / sample_rate
        if stream.time_base > Fraction(1, 2 * max(1, stream.codec_context.sample_rate)):
            # Coarse timestamps (Matroska/WebM: 1 ms) cannot place a seek to the sample; near
            # the start, decoding from 0 is cheap and exact.
            seek_s = 0.0 if seek_s <= _EXACT_AUDIO_DECODE_S else seek_s
        timed = _decoded_from(container, stream, path, seek_s, _AUDIO_PREROLL_S)
        frames = _trimmed(timed, warm / sample_rate)
        blocks = _resampled(frames, _MonoResampler(sample_rate))
        num_sent, skip = 0, first - warm
        for samples in _aligned(blocks, warm / sample_rate, sample_rate):
            if skip:  # the warm-up stretch before start_s
                dropped = min(skip, samples.size)
                samples, skip = samples[dropped:], skip - dropped
            if not math.isinf(wanted):
                samples = samples[: int(wanted) - num_sent]
            if samples.size:
                yield samples
                num_sent += samples.size
            if num_sent >= wanted:
                return
        if num_sent == 0 and start_s == 0:
            raise EmptyMediaError(path, "its audio stream holds no samples")
        _check_not_truncated(stream, start_s + num_sent / sample_rate, end_s)


def _warmup_start(start_s: float, sample_rate: int, source_rate: int) -> tuple[int, int]:
    """``(first, warm)``: output sample indices of ``start_s`` and of where resampling begins.

    Resampling begins about :data:`_AUDIO_PREROLL_S` earlier, at an output sample that falls
    exactly on a source sample, so that a window is resampled exactly like the same stretch
    of the whole file (and the resampler's filter has warmed up by ``first``).
    """
    first = round(start_s * sample_rate)
    grid = sample_rate // math.gcd(sample_rate, source_rate) if source_rate > 0 else 1
    warm = max(0, first - round(_AUDIO_PREROLL_S * sample_rate))
    return first, (warm // grid) * grid


def _trimmed(timed: Iterator[tuple[float, Any]], from_s: float) -> Iterator[tuple[float, Any]]:
    """Decoded audio frames from ``from_s`` on; the frame holding ``from_s`` is cut there.

    Frame times count samples from the first frame's timestamp (audio is continuous), which
    is exact where the container's timestamps are rounded (1 ms in Matroska).
    """
    elapsed_s: float | None = None
    for first_t, frame in timed:
        elapsed_s = first_t if elapsed_s is None else elapsed_s
        t, elapsed_s = elapsed_s, elapsed_s + frame.samples / frame.sample_rate
        cut = round((from_s - t) * frame.sample_rate)
        if cut >= frame.samples:
            continue
        if cut > 0:
            frame, t = _cut_audio_frame(frame, cut), t + cut / frame.sample_rate
        yield t, frame


def _cut_audio_frame(frame: Any, num_samples: int) -> Any:
    """``frame`` without its first ``num_samples`` samples."""
    data = frame.to_ndarray()
    step = 1 if frame.format.is_planar else frame.layout.nb_channels  # packed: interleaved
    cut = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(data[:, num_samples * step :]),
        format=frame.format.name,
        layout=frame.layout.name,
    )
    cut.sample_rate = frame.sample_rate
    return cut


def _resampled(
    timed: Iterator[tuple[float, Any]], resampler: _MonoResampler
) -> Iterator[tuple[float, np.ndarray]]:
    """``(t0_s, block)``: resampled mono blocks and the time of the first decoded frame."""
    first_t: float | None = None
    for t, frame in timed:
        first_t = t if first_t is None else first_t
        for block in resampler(frame):
            yield first_t, block
    for block in resampler(None):
        yield (first_t or 0.0), block


def _aligned(
    blocks: Iterator[tuple[float, np.ndarray]], start_s: float, sample_rate: int
) -> Iterator[np.ndarray]:
    """The samples from ``start_s`` on: drops what precedes it, pads silence if audio starts later."""
    skip: int | None = None
    for t0_s, samples in blocks:
        if skip is None:
            offset = round((t0_s - start_s) * sample_rate)
            if offset > 0:
                yield np.zeros(offset, np.float32)
            skip = max(0, -offset)
        if skip >= samples.size:
            skip -= samples.size
            continue
        yield samples[skip:]
        skip = 0


def _rechunked(blocks: Iterable[np.ndarray], chunk: int) -> Iterator[np.ndarray]:
    """Blocks of exactly ``chunk`` samples (the last may be shorter), clipped to [-1, 1]."""
    pending: list[np.ndarray] = []
    num_pending = 0
    for block in blocks:
        pending.append(block)
        num_pending += block.size
        if num_pending >= chunk:
            joined = np.concatenate(pending)
            full = (joined.size // chunk) * chunk
            for i in range(0, full, chunk):
                yield np.clip(joined[i : i + chunk], -1.0, 1.0)
            pending, num_pending = [joined[full:]], joined.size - full
    if num_pending:
        yield np.clip(np.concatenate(pending), -1.0, 1.0)


def iter_audio(
    path: str | os.PathLike[str], sample_rate: int, chunk_s: float = 10.0
) -> Iterator[np.ndarray]:
    """Decode a file's audio in chunks of ``chunk_s`` seconds, as mono float32 at ``sample_rate``.

    Args:
        path: an audio file (wav, flac, mp3, ogg, m4a, ...) or a video with sound.
        sample_rate: output rate in Hz.
        chunk_s: chunk length, seconds; every chunk but the last has
            ``round(chunk_s * sample_rate)`` samples.

    Returns:
        An iterator of (T,) float32 arrays in [-1, 1]; concatenated they equal :func:`read_audio`.

    Raises:
        ValueError, TypeError: bad arguments (immediately).
        FileNotFoundError, MediaError: as for :func:`read_audio` (when iteration starts).
    """
    sample_rate = _check_sample_rate(sample_rate)
    if not (_is_number(chunk_s) and math.isfinite(chunk_s) and chunk_s > 0):
        raise ValueError(f"chunk_s must be a number > 0, got {chunk_s!r}")
    chunk = max(1, round(chunk_s * sample_rate))
    blocks = _audio_blocks(_existing_file(path), sample_rate, 0.0, math.inf)
    return _rechunked(blocks, chunk)


def read_audio(
    path: str | os.PathLike[str],
    sample_rate: int,
    start_s: float = 0.0,
    duration_s: float | None = None,
) -> np.ndarray:
    """Decode a file's audio as mono float32 at ``sample_rate`` (resampled and downmixed).

    Args:
        path: an audio file (wav, flac, mp3, ogg, m4a, ...) or a video with sound.
        sample_rate: output rate in Hz.
        start_s: time of the first sample, seconds.
        duration_s: length to read, seconds; None reads to the end.

    Returns:
        Sample ``j`` is the sound at ``start_s + j / sample_rate``; the length is
        ``round(duration_s * sample_rate)`` unless the file ends first.

    Shape:
        (T,) float32 in [-1, 1].

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NoAudioStreamError: the file has no audio stream.
        EmptyMediaError: the file is 0 bytes or its audio holds no samples.
        CorruptMediaError: not media, damaged, or truncated.
        UnsupportedCodecError: FFmpeg has no decoder for the audio codec.
        MediaTooLargeError: longer than :data:`MAX_DURATION_S` seconds.
    """
    sample_rate = _check_sample_rate(sample_rate)
    start_s, end_s = _check_window(start_s, duration_s)
    blocks = list(_audio_blocks(_existing_file(path), sample_rate, start_s, end_s))
    if not blocks:
        return np.zeros(0, np.float32)
    return np.clip(np.concatenate(blocks), -1.0, 1.0).astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------- images


@contextmanager
def _open_image(path: Path) -> Iterator[Any]:
    """Open an image lazily with Pillow (the header only), checking its size."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
    except UnidentifiedImageError as err:
        raise CorruptMediaError(path, "not a readable image (jpg, png, ...) or damaged") from err
    with image:
        if max(image.size) > MAX_SIDE_PX:
            raise MediaTooLargeError(
                path, f"image size {image.width}x{image.height} exceeds the {MAX_SIDE_PX} px limit"
            )
        yield image


def read_image(path: str | os.PathLike[str], size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an image file (jpg, png, ...) as upright RGB (EXIF orientation applied).

    Args:
        path: the image file.
        size: output ``(height, width)``; None keeps the image's size.

    Returns:
        The image; alpha is dropped and grey images are repeated over 3 channels.

    Shape:
        (H, W, 3) uint8 RGB.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        EmptyMediaError: the file is 0 bytes.
        CorruptMediaError: not an image, damaged or truncated.
        MediaTooLargeError: over :data:`MAX_SIDE_PX` px a side.
    """
    from PIL import ImageOps

    size = _check_size(size)
    path = _existing_file(path)
    with _open_image(path) as image:
        try:
            upright = ImageOps.exif_transpose(image)
            rgb = np.asarray(upright.convert("RGB"), dtype=np.uint8)
        except (OSError, SyntaxError, ValueError) as err:
            raise CorruptMediaError(path, f"damaged or truncated image ({err})") from err
    return np.ascontiguousarray(_resize(rgb, size))


# ---------------------------------------------------------------------------------- atomic write


def _temp_sibling(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(final, temp)``: the final path and a unique hidden temp name in the same folder."""
    final = Path(path)
    if not final.parent.is_dir():
        raise FileNotFoundError(f"{final}: the folder {final.parent} does not exist")
    return final, final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.part")


@contextmanager
def _atomic(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path to write; rename it to ``path`` on success, delete it on failure."""
    final, temp = _temp_sibling(path)
    try:
        yield temp
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write an RGB image atomically: ``.jpg``/``.jpeg`` (quality 95) or ``.png`` by suffix.

    Args:
        path: the target file.
        image: the picture.

    Returns:
        ``path`` as a Path.

    Shape:
        image: (H, W, 3) uint8 RGB.

    Raises:
        TypeError: ``image`` is not a uint8 array.
        ValueError: wrong shape or unsupported suffix.
    """
    from PIL import Image

    suffix = Path(path).suffix.lower()
    formats = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}
    if suffix not in formats:
        raise ValueError(f"{path}: write_image writes .jpg, .jpeg or .png, not {suffix!r}")
    frame = _check_frames(image, Path(path))
    if frame.shape[0] != 1:
        raise ValueError(f"{path}: image must have shape (H, W, 3), got {image.shape}")
    options = {"quality": 95} if formats[suffix] == "JPEG" else {}
    with _atomic(path) as temp:
        Image.fromarray(frame[0]).save(temp, format=formats[suffix], **options)
    return Path(path)


# ---------------------------------------------------------------------------------- audio encode


def _check_audio(audio: np.ndarray, path: Path, max_channels: int) -> np.ndarray:
    """``audio`` as contiguous float32 (C, T), after checking dtype, shape and values."""
    if not isinstance(audio, np.ndarray) or not np.issubdtype(audio.dtype, np.floating):
        got = f"array of {audio.dtype}" if isinstance(audio, np.ndarray) else type(audio).__name__
        raise TypeError(f"{path}: audio must be a float numpy array, got {got}")
    planar = audio[None, :] if audio.ndim == 1 else audio
    if planar.ndim != 2 or not 1 <= planar.shape[0] <= max_channels or planar.shape[1] == 0:
        raise ValueError(
            f"{path}: audio must have shape (T,) or (C, T) with 1 <= C <= {max_channels} and "
            f"T > 0, got {audio.shape}"
        )
    if not np.isfinite(planar).all():
        raise ValueError(f"{path}: audio contains NaN or infinite samples")
    return np.ascontiguousarray(planar, dtype=np.float32)


def _audio_frame(planar: np.ndarray, sample_rate: int, pts: int, fmt: str) -> Any:
    """A PyAV audio frame from (C, T) float32 in ``fmt`` ("fltp", "flt" or "s16")."""
    layout = _LAYOUTS[planar.shape[0]]
    if fmt == "fltp":
        data = planar
    else:
        clipped = np.clip(planar, -1.0, 1.0).T.reshape(1, -1)  # interleaved for packed formats
        data = clipped if fmt == "flt" else np.round(clipped * 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, sample_rate)
    return frame


def write_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    *,
    sample_format: Literal["s16", "flt"] = "s16",
) -> Path:
    """Write audio atomically as ``.wav`` (16-bit PCM, or 32-bit float) or ``.flac`` (16-bit).

    Args:
        path: the target file; its suffix picks the format.
        audio: samples in [-1, 1] (clipped for 16-bit).
        sample_rate: rate in Hz.
        sample_format: "s16" (16-bit PCM) or "flt" (32-bit float, wav only).

    Returns:
        ``path`` as a Path.

    Shape:
        audio: (T,) mono or (C, T) with C <= 8.

    Raises:
        TypeError: ``audio`` is not a float array.
        ValueError: bad shape, NaN/inf samples, or an unsupported suffix/format pair.
    """
    key = (Path(path).suffix.lower(), sample_format)
    if key not in _AUDIO_FILE_CODECS:
        raise ValueError(
            f"{path}: write_audio writes .wav (sample_format 's16' or 'flt') or .flac ('s16'), "
            f"got suffix {key[0]!r} with sample_format {sample_format!r}"
        )
    sample_rate = _check_sample_rate(sample_rate)
    planar = _check_audio(audio, Path(path), max_channels=len(_LAYOUTS))
    container_format, codec, fmt = _AUDIO_FILE_CODECS[key]
    with _atomic(path) as temp, av.open(str(temp), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=sample_rate, layout=_LAYOUTS[planar.shape[0]])
        block = 1 << 16
        for start in range(0, planar.shape[1], block):
            chunk = planar[:, start : start + block]
            out.mux(stream.encode(_audio_frame(chunk, sample_rate, start, fmt)))
        out.mux(stream.encode(None))
    return Path(path)


# ---------------------------------------------------------------------------------- video encode


def _check_frames(frames: Any, path: Path) -> np.ndarray:
    """``frames`` as (N, H, W, 3) uint8, accepting a single (H, W, 3) frame."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        got = (
            f"array of {frames.dtype}" if isinstance(frames, np.ndarray) else type(frames).__name__
        )
        raise TypeError(f"{path}: frames must be a uint8 RGB numpy array, got {got}")
    stack = frames[None] if frames.ndim == 3 else frames
    if stack.ndim != 4 or stack.shape[-1] != 3 or 0 in stack.shape[1:3]:
        raise ValueError(
            f"{path}: frames must have shape (N, H, W, 3) or (H, W, 3), got {frames.shape}"
        )
    if max(stack.shape[1:3]) > MAX_SIDE_PX:
        raise ValueError(
            f"{path}: frames of {stack.shape[2]}x{stack.shape[1]} exceed {MAX_SIDE_PX} px"
        )
    return stack


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
    exception the temp file is removed.

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
    ) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"{self.path}: VideoWriter writes .mp4 files")
        self.fps = _check_fps(fps)
        if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
            raise ValueError(
                f"{self.path}: crf must be an int in 0..51 (lower is better), got {crf!r}"
            )
        if audio is not None and sample_rate is None:
            raise ValueError(f"{self.path}: pass sample_rate along with audio")
        self.sample_rate = None if sample_rate is None else _check_sample_rate(sample_rate)
        self.crf = crf
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
        self._container = av.open(str(self._temp), "w", format="mp4", options=options)
        try:
            rate = Fraction(self.fps).limit_denominator(1001)
            video = self._container.add_stream("libx264", rate=rate)
            video.width, video.height = width + width % 2, height + height % 2
            video.pix_fmt = "yuv420p"
            video.options = {"crf": str(self.crf)}
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
        limit = self._pending.shape[1] if math.isinf(until_s) else round(until_s * self._rate())
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
) -> Path:
    """Encode frames (and audio) to a browser-playable mp4, atomically (see :class:`VideoWriter`).

    Args:
        path: the target ``.mp4``.
        frames: an array, or an iterable of arrays (each a frame or a stack of frames).
        fps: frame rate.
        audio: the soundtrack, float in [-1, 1]; needs ``sample_rate``.
        sample_rate: the audio's rate, Hz.
        crf: x264 quality, 0 (lossless) .. 51; 23 is x264's default.

    Returns:
        ``path`` as a Path.

    Shape:
        frames: (N, H, W, 3) uint8 RGB, or items of (H, W, 3) / (N, H, W, 3).
        audio: (T,) or (C, T) with C in {1, 2}.

    Raises:
        TypeError: frames not uint8 or audio not float.
        ValueError: bad shapes, sizes, fps, crf, suffix, or no frames at all.
    """
    with VideoWriter(path, fps, audio=audio, sample_rate=sample_rate, crf=crf) as writer:
        if isinstance(frames, np.ndarray):
            stack = _check_frames(frames, Path(path))
            for start in range(0, stack.shape[0], 64):
                writer.write(stack[start : start + 64])
        else:
            for item in frames:
                writer.write(item)
    return Path(path)
