"""Decoding of audio as mono float32 at a requested rate, whole or in chunks.

FFmpeg's resampler (``av.AudioResampler``) changes the rate, then the channels are averaged (as
``librosa.to_mono`` does; FFmpeg's own stereo-to-mono matrix adds the channels at -3 dB each,
which can push a loud mix past 1). A window ``read_audio(path, sr, start_s=x)`` is
sample-for-sample the slice ``[round(x*sr):]`` of the whole read (decoding starts a little
earlier on a common sample grid, see :func:`_warmup_start`), so chunked and whole-file
processing agree. A file reads as long as its header says it is: the few ms an AAC encoder pads
its last frame with are dropped (see :func:`_without_end_padding`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from avloc.media.demux import _check_not_truncated, _declared_end_s, _decoded_from, _origin_s
from avloc.media.errors import EmptyMediaError
from avloc.media.info import _open_stream
from avloc.media.limits import _check_sample_rate, _check_window, _existing_file, _is_number

# Transform codecs (AAC, MP3, Opus, Vorbis) need a few frames before their output is exact again
# after a seek (Opus asks for 80 ms); decoding from earlier and dropping the excess is exact.
_AUDIO_PREROLL_S = 0.25
_EXACT_AUDIO_DECODE_S = 120.0  # decode coarse-timestamp audio from 0 rather than seek, up to here
# An AAC encoder pads its last frame, and FFmpeg's MP4 reader passes the padding on although the
# header says where the sound ends. Up to this many source samples past that end are padding.
_MAX_END_PADDING_SAMPLES = 2048


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
    with _open_stream(path, "audio") as (container, stream):
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
        aligned = _aligned(blocks, warm / sample_rate, sample_rate)
        declared_s = _declared_end_s(stream, _origin_s(container))
        if declared_s is not None:
            source_rate = max(1, stream.codec_context.sample_rate)
            max_padding = math.ceil(_MAX_END_PADDING_SAMPLES * sample_rate / source_rate)
            aligned = _without_end_padding(
                aligned, round(declared_s * sample_rate) - warm, max_padding
            )
        num_sent, skip = 0, first - warm
        for samples in aligned:
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


def _without_end_padding(
    blocks: Iterator[np.ndarray], num_declared: int, max_padding: int
) -> Iterator[np.ndarray]:
    """The blocks without what follows their first ``num_declared`` samples at the very end.

    Samples past the declared end are held back; at the end of the stream up to
    ``max_padding`` of them are the encoder's padding and dropped. More than that means the
    header under-counts (an estimated duration), so they are sound and are all passed on.
    """
    held: list[np.ndarray] = []
    num_left, num_held = max(0, num_declared), 0
    for block in blocks:
        if num_held > max_padding:  # the header was wrong: pass everything on
            yield block
            continue
        head, tail = block[:num_left], block[num_left:]
        num_left -= head.size
        if head.size:
            yield head
        if tail.size:
            held.append(tail)
            num_held += tail.size
            if num_held > max_padding:
                yield from held
                held = []


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
