"""Opening files with PyAV: finding streams, decoding with timestamps, seeking, truncation.

Times are measured from the start of the file (the container's start time), the same origin for
audio and video, so the two stay in sync.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

import av

from avloc.media.errors import (
    CorruptMediaError,
    NoAudioStreamError,
    NoVideoStreamError,
    UnsupportedCodecError,
)

_TIME_EPS_S = 1e-3  # timestamps are rounded to the stream time base; 1 ms << any frame interval
_TRUNCATION_TOLERANCE_S = 1.0


def _ffmpeg_problem(err: Exception) -> str:
    """FFmpeg's reason in words, without PyAV's errno and file-name decoration."""
    reason = getattr(err, "strerror", None) or str(err)
    return str(reason).rstrip(".").lower()


def _no_decoder(path: Path, err: Exception) -> UnsupportedCodecError:
    """The error for a stream whose codec this FFmpeg build has no decoder for."""
    return UnsupportedCodecError(path, f"no decoder for its codec ({_ffmpeg_problem(err)})")


@contextmanager
def _open_input(path: Path) -> Iterator[Any]:
    """Open ``path`` with PyAV, turning FFmpeg failures into :class:`MediaError` subclasses."""
    try:
        container = av.open(str(path), metadata_errors="replace")
    except av.error.DecoderNotFoundError as err:
        raise _no_decoder(path, err) from err
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
        raise _no_decoder(path, err) from err
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
