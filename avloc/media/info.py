"""What a media file holds, read from its header: :class:`MediaInfo` and :func:`probe`.

The guards here refuse files over the size and duration limits before anything is decoded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import av

from avloc.media.demux import (
    _decodable_stream,
    _find_stream,
    _first_frame,
    _open_input,
    _quarter_turns,
    _scanned_duration_s,
)
from avloc.media.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaTooLargeError,
    NoVideoStreamError,
)
from avloc.media.limits import MAX_DURATION_S, MAX_SIDE_PX, _existing_file

_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


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


@contextmanager
def _open_stream(path: Path, kind: Literal["video", "audio"]) -> Iterator[tuple[Any, Any]]:
    """``(container, stream)``: ``path`` opened, its header checked, and its stream of ``kind``."""
    with _open_input(path) as container:
        _header_info(container, path)
        yield container, _decodable_stream(container, kind, path)


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
