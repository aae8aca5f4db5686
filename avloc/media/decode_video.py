"""Decoding of pictures: video frames sampled by timestamp, and still images.

Frame ``i`` of a read is the source frame on screen at ``t = start_s + i / fps`` (the last frame
whose presentation time is <= t), so sources at 25 and 30 fps give frames for the same times.
:func:`iter_video` decodes in chunks, so long files are never held whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from avloc.media.demux import _TIME_EPS_S, _check_not_truncated, _decoded_from, _quarter_turns
from avloc.media.errors import CorruptMediaError, EmptyMediaError
from avloc.media.info import _open_image, _open_stream, probe
from avloc.media.limits import _check_fps, _check_size, _check_window, _existing_file


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


def _frame_duration_s(frame: Any, stream: Any) -> float:
    if frame.duration and frame.time_base is not None:
        return float(frame.duration * frame.time_base)
    rate = stream.average_rate or stream.guessed_rate
    return 1.0 / float(rate) if rate else 0.0


def _sampled(
    timed: Iterator[tuple[float, Any]],
    start_s: float,
    end_s: float,
    fps: float,
    stream: Any,
    hold_until_s: float = 0.0,
) -> Iterator[tuple[float, Any]]:
    """``(target_time, frame)`` for each target time: the frame on screen at that time.

    After the last frame, targets before ``hold_until_s`` get that frame again (a player holds
    it while the sound goes on). Also checks, at the end of the stream, that the stream did not
    end before its header says.
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
    stop_s = min(end_s, max(prev[0] + _frame_duration_s(prev[1], stream), hold_until_s))
    while (target := start_s + i / fps) < stop_s - _TIME_EPS_S:
        yield target, prev[1]
        i += 1
    _check_not_truncated(stream, prev[0] + _frame_duration_s(prev[1], stream), end_s)


def _resize(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize (H, W, 3) to ``size`` = (height, width): INTER_AREA shrinking, else INTER_LINEAR."""
    if size is None or image.shape[:2] == size:
        return image
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (size[1], size[0]), interpolation=interpolation)


def _to_rgb(frame: Any, size: tuple[int, int] | None) -> np.ndarray:
    """An upright (H, W, 3) uint8 RGB array of ``frame`` at ``size``."""
    turns = _quarter_turns(frame)
    stored = size if size is None or turns % 2 == 0 else (size[1], size[0])  # before turning
    if stored is not None and 2 * stored[0] <= frame.height and 2 * stored[1] <= frame.width:
        # A big shrink (a user's HD video) happens while converting from YUV, in one swscale
        # pass: half the time of converting at full size and then resizing. Smaller ones (the
        # synthetic clips' 224 px to the model's 128 or 192) stay with cv2's area averaging,
        # which the bundled model was trained on, so its inputs are bit for bit the same.
        height, width = stored
        rgb = frame.reformat(width, height, format="rgb24", interpolation="AREA").to_ndarray()
    else:
        rgb = frame.to_ndarray(format="rgb24")
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
    hold_until_s: float = 0.0,
) -> Iterator[VideoFrames]:
    with _open_stream(path, "video") as (container, stream):
        stream.thread_type = "AUTO"
        frames: list[np.ndarray] = []
        times: list[float] = []
        last: tuple[Any, np.ndarray] | None = None
        timed = _decoded_from(container, stream, path, start_s)
        for target, frame in _sampled(timed, start_s, end_s, fps, stream, hold_until_s):
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
    hold_last: bool = False,
) -> Iterator[VideoFrames]:
    """Decode a video in chunks of frames sampled at ``fps``, holding one chunk at a time.

    Frame ``i`` is the source frame on screen at ``start_s + i / fps``; reading stops at
    ``start_s + duration_s`` or where the last source frame stops being shown (never repeats),
    or, with ``hold_last``, where the file ends: where the pictures stop before the sound (a
    picture with a song, a recorder that stopped writing frames), the last one stays on screen
    as players show it, for every whole frame period of sound left.

    Args:
        path: a video file (mp4, mkv, webm, avi, mov, ...).
        fps: frames per second to sample, in (0, 1000].
        size: output ``(height, width)``; None keeps the source size (upright).
        start_s: time of the first frame, seconds.
        duration_s: length to read, seconds; None reads to the end.
        chunk_frames: frames per yielded chunk.
        hold_last: show the last picture until the file's end (its longest stream).

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
    path = _existing_file(path)
    # A held frame needs a whole frame period of sound after it (a few ms of AAC padding
    # past the last picture add none).
    hold_until_s = probe(path).duration_s - 1.0 / fps + 2 * _TIME_EPS_S if hold_last else 0.0
    return _video_chunks(path, fps, size, start_s, end_s, chunk_frames, hold_until_s)


def read_video(
    path: str | os.PathLike[str],
    fps: float,
    size: tuple[int, int] | None = None,
    start_s: float = 0.0,
    duration_s: float | None = None,
    hold_last: bool = False,
) -> VideoFrames:
    """Decode a video's frames at the times ``start_s + i / fps`` (see :func:`iter_video`).

    Args:
        path: a video file (mp4, mkv, webm, avi, mov; H.264, HEVC, VP9, MPEG-4, ...).
        fps: frames per second to sample.
        size: output ``(height, width)``; None keeps the source size.
        start_s: time of the first frame, seconds.
        duration_s: length to read, seconds; None reads to the end.
        hold_last: show the last picture until the file's end (see :func:`iter_video`).

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
    chunks = list(iter_video(path, fps, size, start_s, duration_s, 256, hold_last))
    if chunks:
        return VideoFrames(
            np.concatenate([c.frames for c in chunks]),
            np.concatenate([c.times_s for c in chunks]),
            float(fps),
        )
    info = probe(path)
    height, width = size or (info.height or 0, info.width or 0)
    return VideoFrames(np.zeros((0, height, width, 3), np.uint8), np.zeros(0), float(fps))


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
