"""Decoding and encoding of media files: the only package of avloc that touches FFmpeg (PyAV).

Video is decoded **by timestamp**: frame ``i`` of a read is the source frame on screen at
``t = start_s + i / fps`` (the last frame whose presentation time is <= t), so sources at 25 and
30 fps give frames for the same times. Times are measured from the start of the file (the
container's start time), the same origin for audio and video, so the two stay in sync.
Audio comes back as mono float32 at the requested rate: FFmpeg's resampler (``av.AudioResampler``)
changes the rate, then the channels are averaged (as ``librosa.to_mono`` does; FFmpeg's own
stereo-to-mono matrix adds the channels at -3 dB each, which can push a loud mix past 1).
A window ``read_audio(path, sr, start_s=x)`` is sample-for-sample the slice ``[round(x*sr):]``
of the whole read (decoding starts a little earlier on a common sample grid, see
:func:`avloc.media.decode_audio._warmup_start`), so chunked and whole-file processing agree.

Long files are never held whole: :func:`iter_video` and :func:`iter_audio` decode in chunks, and
:class:`VideoWriter` encodes as frames arrive. Every write is atomic: the data goes to a hidden
``.<name>.<random>.part`` file in the target folder, renamed over the final name only once
complete, so a crash never leaves a half-written file under the final name.

Image arrays are uint8 RGB (H, W, 3); sizes are ``(height, width)``; audio is float32 in [-1, 1].

Modules: :mod:`~avloc.media.errors` (the :class:`MediaError` hierarchy),
:mod:`~avloc.media.limits` (limits and argument checks), :mod:`~avloc.media.demux` (PyAV input
plumbing), :mod:`~avloc.media.info` (:func:`probe`), :mod:`~avloc.media.decode_video`,
:mod:`~avloc.media.decode_audio`, :mod:`~avloc.media.encode` (atomic writes, images, audio files)
and :mod:`~avloc.media.encode_video` (:class:`VideoWriter`).
"""

from __future__ import annotations

from avloc.media.decode_audio import iter_audio, read_audio
from avloc.media.decode_video import VideoFrames, iter_video, read_image, read_video
from avloc.media.encode import remove_partial_files, write_audio, write_image
from avloc.media.encode_video import VideoWriter, write_video
from avloc.media.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaError,
    MediaTooLargeError,
    NoAudioStreamError,
    NoVideoStreamError,
    UnsupportedCodecError,
)
from avloc.media.info import MediaInfo, probe
from avloc.media.limits import MAX_DURATION_S, MAX_FPS, MAX_SIDE_PX

__all__ = [
    "MAX_DURATION_S",
    "MAX_FPS",
    "MAX_SIDE_PX",
    "CorruptMediaError",
    "EmptyMediaError",
    "MediaError",
    "MediaInfo",
    "MediaTooLargeError",
    "NoAudioStreamError",
    "NoVideoStreamError",
    "UnsupportedCodecError",
    "VideoFrames",
    "VideoWriter",
    "iter_audio",
    "iter_video",
    "probe",
    "read_audio",
    "read_image",
    "read_video",
    "remove_partial_files",
    "write_audio",
    "write_image",
    "write_video",
]
