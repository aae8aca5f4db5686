"""Tests of avloc.media: decoding by timestamp, encoding, atomic writes and typed errors."""

from __future__ import annotations

import math
import pickle
import struct
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import pytest
from media_fixtures import (
    has_encoder,
    make_audio_file,
    make_clip,
    peak_frequency,
    square_centre_x,
    square_frame,
    square_x0,
    tone,
)

from avloc import media
from avloc.media import (
    CorruptMediaError,
    EmptyMediaError,
    MediaError,
    MediaTooLargeError,
    NoAudioStreamError,
    NoVideoStreamError,
    UnsupportedCodecError,
    VideoWriter,
)
from avloc.media.decode_audio import _without_end_padding

pytestmark = pytest.mark.timeout(60)  # a hang is a failure, not a stuck CI job

SR = 11025
FPS = 8.0
SIZE = (64, 96)


def _expected_x(t_s: float, source_fps: float) -> float:
    """Centre of the square in the source frame on screen at ``t_s``."""
    shown = math.floor(t_s * source_fps + 1e-6) / source_fps
    return square_x0(shown) + 7.5


def _assert_square_positions(frames: media.VideoFrames, source_fps: float) -> None:
    measured = np.array([square_centre_x(f) for f in frames.frames])
    expected = np.array([_expected_x(t, source_fps) for t in frames.times_s])
    np.testing.assert_allclose(measured, expected, atol=0.6)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s, 8 fps, 96x64 H.264 + AAC mp4 of a moving square and a 440 Hz tone."""
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4")


# ------------------------------------------------------------------------------------ round trip


def test_round_trip_square_and_tone(tmp_path: Path) -> None:
    frames = np.stack([square_frame(i / FPS, SIZE) for i in range(24)])
    out = media.write_video(tmp_path / "rt.mp4", frames, FPS, audio=tone(3.0, SR), sample_rate=SR)
    assert out == tmp_path / "rt.mp4"
    video = media.read_video(out, FPS)
    assert video.frames.shape == (24, *SIZE, 3) and video.frames.dtype == np.uint8
    np.testing.assert_allclose(video.times_s, np.arange(24) / FPS)
    _assert_square_positions(video, FPS)
    audio = media.read_audio(out, SR)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size == 3 * SR  # to the sample: the AAC encoder's padding is not sound
    assert abs(peak_frequency(audio, SR) - 440) < 2
    assert np.abs(audio).max() <= 1.0


def test_probe_reports_streams(clip: Path) -> None:
    info = media.probe(clip)
    assert (info.width, info.height, info.fps) == (96, 64, 8.0)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.sample_rate, info.num_channels) == (SR, 1)
    assert info.has_video and info.has_audio
    assert info.duration_s == pytest.approx(3.0, abs=0.1)


def test_25_and_30_fps_sources_give_the_same_times(tmp_path: Path) -> None:
    reads = {}
    for source_fps in (25.0, 30.0):
        path = make_clip(tmp_path / f"src{int(source_fps)}.mp4", fps=source_fps, audio_codec=None)
        reads[source_fps] = media.read_video(path, FPS)
        assert reads[source_fps].frames.shape[0] == 24
        _assert_square_positions(reads[source_fps], source_fps)
    np.testing.assert_array_equal(reads[25.0].times_s, reads[30.0].times_s)
    x25 = [square_centre_x(f) for f in reads[25.0].frames]
    x30 = [square_centre_x(f) for f in reads[30.0].frames]
    np.testing.assert_allclose(x25, x30, atol=1.6)  # frames differ by < one source frame


def test_resize_and_window(clip: Path) -> None:
    video = media.read_video(clip, 4.0, size=(32, 48), start_s=1.0, duration_s=1.5)
    assert video.frames.shape == (6, 32, 48, 3)
    np.testing.assert_allclose(video.times_s, 1.0 + np.arange(6) / 4.0)
    full = media.read_video(clip, 4.0, start_s=1.0, duration_s=1.5)
    _assert_square_positions(full, FPS)


def test_upsampling_repeats_and_stops_at_the_end(clip: Path) -> None:
    video = media.read_video(clip, 16.0)
    assert video.frames.shape[0] == 48  # 3 s at 16 fps, nothing past the last frame's time
    np.testing.assert_array_equal(video.frames[0], video.frames[1])
    assert media.read_video(clip, FPS, start_s=10.0).frames.shape == (0, *SIZE, 3)


def test_iter_video_chunks_concatenate_to_read_video(clip: Path) -> None:
    chunks = list(media.iter_video(clip, 6.0, size=(32, 32), start_s=0.5, chunk_frames=5))
    whole = media.read_video(clip, 6.0, size=(32, 32), start_s=0.5)
    assert [c.frames.shape[0] for c in chunks[:-1]] == [5] * (len(chunks) - 1)
    np.testing.assert_array_equal(np.concatenate([c.frames for c in chunks]), whole.frames)
    np.testing.assert_array_equal(np.concatenate([c.times_s for c in chunks]), whole.times_s)


@pytest.mark.parametrize(
    ("name", "video_codec", "audio_codec", "decoder"),
    [
        ("h264.mp4", "libx264", "aac", "h264"),
        ("hevc.mkv", "libx265", "aac", "hevc"),
        ("vp9.webm", "libvpx-vp9", "libopus", "vp9"),
        ("mpeg4.avi", "mpeg4", "pcm_s16le", "mpeg4"),
        ("h264.mov", "libx264", "aac", "h264"),
        ("hevc.mp4", "libx265", "aac", "hevc"),
        ("mpeg4.mkv", "mpeg4", "libmp3lame", "mpeg4"),
    ],
)
def test_codecs_and_containers_decode(
    tmp_path: Path, name: str, video_codec: str, audio_codec: str, decoder: str
) -> None:
    for codec in (video_codec, audio_codec):
        if not has_encoder(codec):
            pytest.skip(f"this PyAV build has no {codec} encoder to make the test file")
    path = make_clip(tmp_path / name, video_codec=video_codec, audio_codec=audio_codec)
    assert media.probe(path).video_codec == decoder
    video = media.read_video(path, FPS, size=SIZE)
    assert video.frames.shape == (24, *SIZE, 3)
    _assert_square_positions(video, FPS)
    audio = media.read_audio(path, SR)
    assert abs(audio.size - 3 * SR) <= SR / FPS
    assert abs(peak_frequency(audio, SR) - 440) < 2


# ------------------------------------------------------------------------------------------ audio


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("a.wav", "pcm_s16le"),
        ("a.flac", "flac"),
        ("a.mp3", "libmp3lame"),
        ("opus.ogg", "libopus"),
        ("vorbis.ogg", "libvorbis"),
        ("vorbis-native.ogg", "vorbis"),  # FFmpeg's own, experimental encoder
        ("a.m4a", "aac"),
    ],
)
def test_audio_formats_decode(tmp_path: Path, name: str, codec: str) -> None:
    if not has_encoder(codec):
        pytest.skip(f"this PyAV build has no {codec} encoder to make the test file")
    channels = 2 if codec == "vorbis" else 1  # FFmpeg's own Vorbis encoder is stereo only
    path = make_audio_file(
        tmp_path / name, codec, duration_s=2.0, sample_rate=22050, num_channels=channels
    )
    audio = media.read_audio(path, SR)
    if "vorbis" in codec:  # Ogg Vorbis files may end mid-packet; the others say where
        assert abs(audio.size - 2 * SR) <= SR / FPS
    else:
        assert audio.size == 2 * SR
    assert abs(peak_frequency(audio, SR) - 440) < 2
    assert 0.4 < np.abs(audio).max() <= 1.0
    assert not media.probe(path).has_video


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    path = make_audio_file(tmp_path / "st.wav", "pcm_s16le", num_channels=2, sample_rate=SR)
    audio = media.read_audio(path, SR)
    assert media.probe(path).num_channels == 2
    assert np.abs(audio).max() == pytest.approx(0.5, abs=0.01)  # not +3 dB


@pytest.mark.parametrize(
    ("name", "codec"),
    [("a.mp4", "aac"), ("a.mkv", "aac"), ("a.webm", "libopus"), ("a.wav", "pcm_s16le")],
)
def test_audio_window_is_a_slice_of_the_whole(tmp_path: Path, name: str, codec: str) -> None:
    path = make_audio_file(tmp_path / name, codec, duration_s=3.0, sample_rate=22050)
    for rate in (SR, 16000):
        whole = media.read_audio(path, rate)
        for start_s in (0.1, 1.37):
            window = media.read_audio(path, rate, start_s=start_s, duration_s=0.5)
            first = round(start_s * rate)
            assert window.size == rate // 2
            np.testing.assert_allclose(window, whole[first : first + rate // 2], atol=1e-6)


def test_encoder_padding_past_the_declared_end_is_dropped_and_sound_is_not() -> None:
    blocks = [np.full(4, i, np.float32) for i in range(4)]  # 16 samples, the header says 10
    padded = np.concatenate(list(_without_end_padding(iter(blocks), 10, max_padding=6)))
    np.testing.assert_array_equal(padded, np.concatenate(blocks)[:10])  # 6 past the end: padding
    # 6 past the end where at most 5 can be padding: the header under-counts, all is sound
    sound = np.concatenate(list(_without_end_padding(iter(blocks), 10, max_padding=5)))
    np.testing.assert_array_equal(sound, np.concatenate(blocks))


def test_iter_audio_chunks_concatenate_to_read_audio(clip: Path) -> None:
    chunks = list(media.iter_audio(clip, 8000, chunk_s=0.7))
    assert {c.size for c in chunks[:-1]} == {5600}
    np.testing.assert_array_equal(np.concatenate(chunks), media.read_audio(clip, 8000))


def test_write_audio_formats(tmp_path: Path) -> None:
    signal = tone(0.5, SR) * 1.5  # peaks at 0.75
    cases: list[tuple[str, Literal["s16", "flt"], str, float]] = [
        ("s.wav", "s16", "pcm_s16le", 1e-4),
        ("f.wav", "flt", "pcm_f32le", 1e-7),
        ("s.flac", "s16", "flac", 1e-4),
    ]
    for name, sample_format, codec, atol in cases:
        path = media.write_audio(tmp_path / name, signal, SR, sample_format=sample_format)
        assert media.probe(path).audio_codec == codec
        np.testing.assert_allclose(media.read_audio(path, SR), signal, atol=atol)
    stereo = media.write_audio(tmp_path / "st.wav", np.stack([signal, signal]), SR)
    assert media.probe(stereo).num_channels == 2
    with pytest.raises(ValueError, match=r"s\.ogg"):
        media.write_audio(tmp_path / "s.ogg", signal, SR)
    with pytest.raises(ValueError, match="NaN"):
        media.write_audio(tmp_path / "n.wav", np.full(10, np.nan, np.float32), SR)
    with pytest.raises(TypeError, match="float"):
        media.write_audio(tmp_path / "i.wav", np.zeros(10, np.int16), SR)


# ----------------------------------------------------------------------------------------- images


def test_image_round_trip_and_resize(tmp_path: Path) -> None:
    image = square_frame(1.0, (40, 60))
    png = media.write_image(tmp_path / "a.png", image)
    np.testing.assert_array_equal(media.read_image(png), image)
    jpg = media.write_image(tmp_path / "a.jpg", image)
    assert np.abs(media.read_image(jpg).astype(int) - image).mean() < 3
    assert media.read_image(png, size=(20, 30)).shape == (20, 30, 3)
    info = media.probe(png)
    assert (info.width, info.height, info.duration_s, info.has_audio) == (60, 40, 0.0, False)
    with pytest.raises(ValueError, match=r"a\.gif"):
        media.write_image(tmp_path / "a.gif", image)


def test_image_exif_orientation_is_applied(tmp_path: Path) -> None:
    from PIL import Image

    image = np.zeros((20, 40, 3), np.uint8)
    image[:5, :5] = 255  # top-left marker, landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(image).save(tmp_path / "r.jpg", exif=exif, quality=95)
    upright = media.read_image(tmp_path / "r.jpg")
    assert upright.shape == (40, 20, 3)
    assert upright[:5, -5:].mean() > 200  # the marker moved to the top-right


# --------------------------------------------------------------------------------------- encoding


def _top_level_atoms(path: Path) -> list[str]:
    data, atoms, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        atoms.append(kind.decode("latin-1"))
        offset += size if size else len(data)
    return atoms


def test_written_mp4_is_browser_playable(tmp_path: Path) -> None:
    frames = np.stack([square_frame(i / FPS, SIZE) for i in range(8)])
    path = media.write_video(tmp_path / "b.mp4", frames, FPS, audio=tone(1.0, SR), sample_rate=SR)
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and video.codec_context.pix_fmt == "yuv420p"
        assert audio.codec_context.name == "aac"
    atoms = _top_level_atoms(path)
    assert atoms.index("moov") < atoms.index("mdat")  # faststart


def test_deterministic_encoding_gives_the_same_bytes(tmp_path: Path) -> None:
    # Textured, moving frames: x264's threads decide differently from run to run on these.
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    moving = [np.roll(base, 3 * i, axis=1) // 2 + square_frame(i / FPS, (224, 224)) // 2
              for i in range(24)]  # fmt: skip
    frames, audio = np.stack(moving), tone(3.0, SR)
    paths = [
        media.write_video(tmp_path / f"{k}.mp4", frames, FPS, audio, SR, deterministic=True)
        for k in range(3)
    ]
    assert len({p.read_bytes() for p in paths}) == 1


def test_odd_sizes_are_padded_to_even(tmp_path: Path) -> None:
    frames = np.stack([square_frame(i / FPS, (33, 47)) for i in range(4)])
    path = media.write_video(tmp_path / "odd.mp4", frames, FPS)
    info = media.probe(path)
    assert (info.height, info.width) == (34, 48)
    back = media.read_video(path, FPS)
    assert back.frames.shape == (4, 34, 48, 3)
    np.testing.assert_allclose(back.frames[:, :33, :47].mean(), frames.mean(), atol=2)


def test_video_writer_streams_audio_and_fills_silence(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "s.mp4", fps=FPS, sample_rate=SR) as writer:
        for i in range(16):
            writer.write(square_frame(i / FPS, SIZE))
            writer.write_audio(tone(1 / FPS, SR))
    assert abs(peak_frequency(media.read_audio(tmp_path / "s.mp4", SR), SR) - 440) < 2
    with VideoWriter(tmp_path / "q.mp4", fps=FPS, sample_rate=SR) as writer:
        writer.write(np.stack([square_frame(i / FPS, SIZE) for i in range(8)]))
    silent = media.read_audio(tmp_path / "q.mp4", SR)
    assert silent.size == SR and np.abs(silent).max() < 1e-3


@pytest.mark.parametrize("audio_s", [1.5, 3.0, 8.0])
def test_video_writer_keeps_audio_that_outlasts_the_frames(tmp_path: Path, audio_s: float) -> None:
    # a 1-s video with a longer sound (a still image's song, pictures that stop early):
    # all of the sound is kept, as players play it over the last frame
    frames = np.stack([square_frame(i / FPS, SIZE) for i in range(int(FPS))])
    path = media.write_video(tmp_path / "v.mp4", frames, FPS, tone(audio_s, SR), SR)
    assert media.probe(path).duration_s == pytest.approx(audio_s, abs=0.05)
    assert media.read_audio(path, SR).size == round(audio_s * SR)


def test_hold_last_keeps_the_last_picture_while_the_sound_goes_on(tmp_path: Path) -> None:
    frames = np.stack([square_frame(i / FPS, SIZE) for i in range(int(FPS))])  # 1 s of pictures
    path = media.write_video(tmp_path / "v.mp4", frames, FPS, tone(3.0, SR), SR)  # 3 s of sound
    assert media.read_video(path, FPS).frames.shape[0] == FPS  # players' pictures stop at 1 s
    held = media.read_video(path, FPS, hold_last=True)
    assert np.allclose(held.times_s, np.arange(3 * int(FPS)) / FPS)
    assert np.abs(held.frames[int(FPS) :].astype(int) - held.frames[int(FPS) - 1]).max() <= 2
    later = media.read_video(path, FPS, start_s=2.0, duration_s=0.5, hold_last=True)
    assert later.frames.shape[0] == 4  # read from past the last picture: it is still shown
    assert media.read_video(path, FPS, start_s=2.0, duration_s=0.5).frames.shape[0] == 0
    # a few ms of sound past the last picture (AAC padding) add no frame
    short = media.write_video(tmp_path / "s.mp4", frames, FPS, tone(1.02, SR), SR)
    assert media.read_video(short, FPS, hold_last=True).frames.shape[0] == FPS


def test_rotated_video_is_returned_upright(tmp_path: Path) -> None:
    image = np.zeros((32, 64, 3), np.uint8)
    image[:8, :8] = 255  # top-left marker
    with av.open(str(tmp_path / "rot.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)  # shown turned 90 degrees counter-clockwise
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 8)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    frames = media.read_video(tmp_path / "rot.mp4", 8.0).frames
    assert frames.shape == (2, 64, 32, 3)
    info = media.probe(tmp_path / "rot.mp4")
    assert (info.height, info.width) == (64, 32)
    assert frames[0, -8:, :8].mean() > 200  # top-left turned ccw lands bottom-left
    small = media.read_video(tmp_path / "rot.mp4", 8.0, size=(32, 16)).frames  # shrunk upright
    assert small.shape == (2, 32, 16, 3) and small[0, -4:, :4].mean() > 200


# ---------------------------------------------------------------------------------- atomic writes


def test_atomic_write_leaves_nothing_on_error(tmp_path: Path) -> None:
    frames = np.stack([square_frame(i / FPS, SIZE) for i in range(4)])
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "x.mp4", FPS) as writer:
        writer.write(frames)
        raise RuntimeError("killed mid-write")

    def failing() -> Iterator[np.ndarray]:
        yield frames[0]
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        media.write_video(tmp_path / "y.mp4", failing(), FPS)
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_old_file(tmp_path: Path) -> None:
    frames = np.stack([square_frame(i / FPS, SIZE) for i in range(4)])
    path = media.write_video(tmp_path / "keep.mp4", frames, FPS)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        media.write_video(path, [frames[0], frames[1].astype(np.float32)], FPS)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


def test_writer_argument_errors(tmp_path: Path) -> None:
    frames = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match=r"x\.avi"):
        media.write_video(tmp_path / "x.avi", frames, FPS)
    with pytest.raises(ValueError, match="no frames"):
        media.write_video(tmp_path / "e.mp4", [], FPS)
    with pytest.raises(TypeError, match="uint8"):
        media.write_video(tmp_path / "f.mp4", frames.astype(np.float32), FPS)
    with pytest.raises(ValueError, match="sample_rate"):
        media.write_video(tmp_path / "a.mp4", frames, FPS, audio=tone(1.0, SR))
    with pytest.raises(ValueError, match="differs"), VideoWriter(tmp_path / "d.mp4", FPS) as w:
        w.write(frames)
        w.write(np.zeros((2, 18, 16, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        media.write_video(tmp_path / "no" / "x.mp4", frames, FPS)
    with pytest.raises(ValueError, match=r"p\.mp4: unknown x264 preset 'quick'"):
        VideoWriter(tmp_path / "p.mp4", FPS, preset="quick")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------- bad input


def test_error_type_and_message(tmp_path: Path) -> None:
    err = CorruptMediaError(tmp_path / "a.mp4", "broken")
    assert isinstance(err, ValueError) and isinstance(err, MediaError)
    assert str(err) == f"{tmp_path / 'a.mp4'}: broken" and err.path == tmp_path / "a.mp4"
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is CorruptMediaError and str(again) == str(err)


@pytest.mark.parametrize(
    "reader",
    [media.probe, lambda p: media.read_video(p, FPS), lambda p: media.read_audio(p, SR)],
    ids=["probe", "read_video", "read_audio"],
)
def test_missing_and_empty_and_text_files(tmp_path: Path, reader: Callable[[Path], object]) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        reader(tmp_path / "missing.mp4")
    (tmp_path / "zero.mp4").touch()
    with pytest.raises(EmptyMediaError, match=r"zero\.mp4: .*0 bytes"):
        reader(tmp_path / "zero.mp4")
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 50)
    with pytest.raises(CorruptMediaError, match=r"text\.mp4"):
        reader(tmp_path / "text.mp4")


def test_zero_length_streams(tmp_path: Path) -> None:
    with av.open(str(tmp_path / "zero.wav"), "w") as container:
        container.add_stream("pcm_s16le", rate=8000, layout="mono")
        container.start_encoding()
    with pytest.raises(EmptyMediaError, match=r"zero\.wav"):
        media.probe(tmp_path / "zero.wav")
    with pytest.raises(EmptyMediaError, match="no samples"):
        media.read_audio(tmp_path / "zero.wav", SR)


def _truncated(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def test_truncated_files(tmp_path: Path) -> None:
    plain = make_clip(tmp_path / "plain.mp4")  # moov at the end: lost when truncated
    with pytest.raises(CorruptMediaError, match=r"t1\.mp4"):
        media.probe(_truncated(plain, tmp_path / "t1.mp4", 0.5))
    fast = make_clip(tmp_path / "fast.mp4", options={"movflags": "+faststart"})
    with pytest.raises(CorruptMediaError, match=r"t2.mp4: .*truncated"):
        media.read_video(_truncated(fast, tmp_path / "t2.mp4", 0.5), FPS)
    with pytest.raises(CorruptMediaError, match=r"t2.mp4: .*truncated"):
        media.read_audio(tmp_path / "t2.mp4", SR)
    mkv = make_clip(tmp_path / "m.mkv")
    with pytest.raises(CorruptMediaError, match=r"t3.mkv: truncated"):
        media.read_video(_truncated(mkv, tmp_path / "t3.mkv", 0.5), FPS)
    # a window inside the part that survived still reads
    assert media.read_video(tmp_path / "t3.mkv", FPS, duration_s=0.5).frames.shape[0] == 4


def test_overwritten_header_is_corrupt(tmp_path: Path, clip: Path) -> None:
    data = bytearray(clip.read_bytes())
    data[4:64] = bytes(range(60))
    (tmp_path / "o.mp4").write_bytes(bytes(data))
    with pytest.raises(CorruptMediaError, match=r"o\.mp4"):
        media.read_video(tmp_path / "o.mp4", FPS)


def test_missing_streams(tmp_path: Path) -> None:
    silent = make_clip(tmp_path / "silent.mp4", audio_codec=None)
    assert not media.probe(silent).has_audio
    with pytest.raises(NoAudioStreamError, match=r"silent.mp4: has no audio stream"):
        media.read_audio(silent, SR)
    for name, codec in (("a.m4a", "aac"), ("a.wav", "pcm_s16le")):
        with pytest.raises(NoVideoStreamError, match=rf"{name}: has no video stream"):
            media.read_video(make_audio_file(tmp_path / name, codec), FPS)


def test_unsupported_codec(tmp_path: Path) -> None:
    avi = make_clip(tmp_path / "a.avi", video_codec="mpeg4", audio_codec="pcm_s16le")
    data = avi.read_bytes().replace(b"FMP4", b"ZQZQ")  # a FourCC no decoder knows
    (tmp_path / "u.avi").write_bytes(data)
    assert media.probe(tmp_path / "u.avi").video_codec == "unknown"
    with pytest.raises(UnsupportedCodecError, match=r"u\.avi: .*codec"):
        media.read_video(tmp_path / "u.avi", FPS)
    assert media.read_audio(tmp_path / "u.avi", SR).size == 3 * SR  # the audio is still fine


def _mjpeg_mkv(path: Path, width: int, height: int, pts: list[int]) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=8)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        for p in pts:
            frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), "rgb24")
            frame.pts, frame.time_base = p, Fraction(1, 8)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_absurd_sizes(tmp_path: Path) -> None:
    wide = _mjpeg_mkv(tmp_path / "wide.mkv", 8200, 16, [0])
    with pytest.raises(MediaTooLargeError, match=r"wide.mkv: frame size 8200x16"):
        media.read_video(wide, FPS)
    long = _mjpeg_mkv(tmp_path / "long.mkv", 16, 16, [0, 25 * 3600 * 8])  # 25 hours
    with pytest.raises(MediaTooLargeError, match=r"long.mkv: duration 25.0 h"):
        media.probe(long)
    from PIL import Image

    Image.new("RGB", (8200, 2)).save(tmp_path / "wide.png")
    with pytest.raises(MediaTooLargeError, match=r"wide\.png"):
        media.read_image(tmp_path / "wide.png")


def test_bad_images(tmp_path: Path) -> None:
    (tmp_path / "t.png").write_text("not an image")
    with pytest.raises(CorruptMediaError, match=r"t\.png"):
        media.read_image(tmp_path / "t.png")
    png = media.write_image(tmp_path / "a.png", np.full((64, 64, 3), 7, np.uint8))
    _truncated(png, tmp_path / "cut.png", 0.5)
    with pytest.raises(CorruptMediaError, match=r"cut\.png"):
        media.read_image(tmp_path / "cut.png")
    with pytest.raises(FileNotFoundError, match=r"none\.jpg"):
        media.read_image(tmp_path / "none.jpg")
    with pytest.raises(IsADirectoryError, match="folder"):
        media.probe(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"fps": 0}, ValueError),
        ({"fps": "8"}, TypeError),
        ({"size": (0, 10)}, ValueError),
        ({"size": (10000, 10)}, ValueError),
        ({"size": 224}, TypeError),
        ({"start_s": -1.0}, ValueError),
        ({"duration_s": 0.0}, ValueError),
        ({"chunk_frames": 0}, ValueError),
    ],
)
def test_bad_arguments(clip: Path, kwargs: dict[str, object], error: type[Exception]) -> None:
    arguments: dict[str, Any] = {"fps": FPS, **kwargs}
    with pytest.raises(error):
        media.iter_video(clip, **arguments)
    with pytest.raises(ValueError):
        media.read_audio(clip, 0)
    with pytest.raises(ValueError):
        media.iter_audio(clip, SR, chunk_s=0)
