"""Atomic writes, image and audio files, and the array checks shared with the video writer.

Every write is atomic: the data goes to a hidden ``.<name>.<random>.part`` file in the target
folder, renamed over the final name only once complete, so a crash never leaves a half-written
file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np

from avloc.media.limits import MAX_SIDE_PX, _check_sample_rate

_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_AUDIO_FILE_CODECS = {
    (".wav", "s16"): ("wav", "pcm_s16le", "s16"),
    (".wav", "flt"): ("wav", "pcm_f32le", "flt"),
    (".flac", "s16"): ("flac", "flac", "s16"),
}


def _temp_sibling(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(final, temp)``: the final path and a unique hidden temp name in the same folder."""
    final = Path(path)
    if not final.parent.is_dir():
        raise FileNotFoundError(f"{final}: the folder {final.parent} does not exist")
    if final.is_dir():  # found now, not at the rename after all the encoding
        raise IsADirectoryError(f"{final}: is a folder; name a file to write")
    return final, final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}{_PARTIAL_SUFFIX}")


_PARTIAL_SUFFIX = ".part"


def remove_partial_files(folder: str | os.PathLike[str]) -> None:
    """Delete the temp files atomic writes left in ``folder``.

    A write removes its own on failure, but a process killed mid-write (a terminated worker)
    cannot.
    """
    for partial in Path(folder).glob(f".*{_PARTIAL_SUFFIX}"):
        partial.unlink(missing_ok=True)


def _naming_the_file(final: Path, error: OSError) -> OSError:
    """``error`` again if it names ``final``; else the same error (errno kept) that does:
    PyAV's errors name no file, or only the hidden temp one."""
    if str(final) in str(error):
        return error
    message = f"{final}: could not write it ({error.strerror or error})"
    # OSError(errno, text) comes back as the matching subclass (PermissionError, ...)
    return OSError(error.errno, message) if error.errno else OSError(message)


@contextmanager
def _atomic(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path to write; rename it to ``path`` on success, delete it on failure."""
    final, temp = _temp_sibling(path)
    try:
        yield temp
        os.replace(temp, final)
    except OSError as error:
        named = _naming_the_file(final, error)
        if named is error:
            raise
        raise named from error
    finally:
        with contextlib.suppress(OSError):  # a read-only folder refuses this too
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
