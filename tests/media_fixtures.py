"""Small synthetic media made on the fly for the tests: a moving square and a pure tone.

The files are written with PyAV directly (not with ``avloc.media``), so that decoding tests do not
depend on avloc's own encoder. The square's position is a function of *time*, so clips with
different source frame rates show the same picture at the same time.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

SQUARE_PX = 16
BACKGROUND = 40


def square_x0(t_s: float) -> int:
    """Left edge (pixels) of the moving square at time ``t_s``: 4 px, then 20 px per second."""
    return round(4 + 20.0 * t_s)


def square_frame(t_s: float, size: tuple[int, int]) -> np.ndarray:
    """The frame shown at ``t_s``: a white square on grey, 8 px from the top.

    Shape:
        returns (H, W, 3) uint8 RGB with ``(H, W) == size``.
    """
    height, width = size
    frame = np.full((height, width, 3), BACKGROUND, np.uint8)
    x0 = square_x0(t_s)
    frame[8 : 8 + SQUARE_PX, x0 : x0 + SQUARE_PX] = (250, 250, 250)
    return frame


def square_centre_x(frame: np.ndarray) -> float:
    """Measured horizontal centre (pixels) of the bright square in an RGB frame."""
    bright = frame.mean(axis=2) > 150
    columns = np.nonzero(bright.any(axis=0))[0]
    if columns.size == 0:
        raise AssertionError("no square found in frame")
    return float(columns.mean())


def tone(
    duration_s: float, sample_rate: int, freq_hz: float = 440.0, amp: float = 0.5
) -> np.ndarray:
    """A sine tone. Shape: returns (T,) float32."""
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def peak_frequency(audio: np.ndarray, sample_rate: int) -> float:
    """Frequency (Hz) of the largest magnitude bin of the spectrum of ``audio`` (T,)."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1.0 / sample_rate)[int(np.argmax(spectrum))])


_AUDIO_CODEC_RATES = {"libopus": 48000, "opus": 48000, "libmp3lame": 44100}


def make_clip(
    path: Path,
    *,
    fps: float = 8.0,
    duration_s: float = 3.0,
    size: tuple[int, int] = (64, 96),
    video_codec: str | None = "libx264",
    pix_fmt: str = "yuv420p",
    audio_codec: str | None = "aac",
    sample_rate: int = 11025,
    freq_hz: float = 440.0,
    num_channels: int = 1,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a clip with a moving square and a tone; either part may be left out (codec None).

    The container is chosen from the suffix of ``path``.
    """
    with av.open(str(path), "w", options=options or {}) as container:
        if video_codec is not None:
            rate = Fraction(fps).limit_denominator(1001)
            vstream = container.add_stream(video_codec, rate=rate)
            vstream.width, vstream.height = size[1], size[0]
            vstream.pix_fmt = pix_fmt
            if video_codec in ("libx264", "libx265"):
                vstream.options = {"preset": "ultrafast", "x265-params": "log-level=none"}
        if audio_codec is not None:
            audio_rate = _AUDIO_CODEC_RATES.get(audio_codec, sample_rate)
            layout = "mono" if num_channels == 1 else "stereo"
            options = {"strict": "experimental"} if audio_codec == "vorbis" else {}
            astream = container.add_stream(
                audio_codec, rate=audio_rate, layout=layout, options=options
            )
        if video_codec is not None:
            for i in range(round(duration_s * fps)):
                frame = av.VideoFrame.from_ndarray(square_frame(i / fps, size), format="rgb24")
                frame.pts = i
                frame.time_base = 1 / rate
                container.mux(vstream.encode(frame))
            container.mux(vstream.encode(None))
        if audio_codec is not None:
            _encode_tone(container, astream, duration_s, audio_rate, freq_hz, num_channels)
    return path


def _encode_tone(
    container: Any,
    stream: Any,
    duration_s: float,
    rate: int,
    freq_hz: float,
    num_channels: int,
) -> None:
    samples = tone(duration_s, rate, freq_hz)
    planar = np.repeat(samples[None, :], num_channels, axis=0)
    layout = "mono" if num_channels == 1 else "stereo"
    block = 4096
    for start in range(0, samples.size, block):
        chunk = np.ascontiguousarray(planar[:, start : start + block])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def make_audio_file(
    path: Path,
    codec: str,
    *,
    duration_s: float = 2.0,
    sample_rate: int = 22050,
    freq_hz: float = 440.0,
    num_channels: int = 1,
) -> Path:
    """Write an audio-only file (wav, flac, mp3, ogg, m4a) holding a tone."""
    return make_clip(
        path,
        video_codec=None,
        audio_codec=codec,
        duration_s=duration_s,
        sample_rate=sample_rate,
        freq_hz=freq_hz,
        num_channels=num_channels,
    )


def has_encoder(name: str) -> bool:
    """Whether this PyAV build can encode with ``name``."""
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True
