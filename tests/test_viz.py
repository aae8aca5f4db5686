"""Heatmap overlays, smoothing, boxes and thumbnails (avloc.viz)."""

from __future__ import annotations

import numpy as np
import pytest

from avloc import viz


def _frame(height: int = 48, width: int = 64) -> np.ndarray:
    return np.full((height, width, 3), 100, np.uint8)


def test_overlay_colours_only_where_the_map_is_hot() -> None:
    heatmap = np.zeros((4, 4), np.float32)
    heatmap[0, 0] = 1.0
    out = viz.overlay_heatmap(_frame(), heatmap, "inferno", opacity=0.8)
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    assert np.abs(out[2, 2].astype(int) - 100).sum() > 30  # hot corner is coloured
    assert np.array_equal(out[40, 60], [100, 100, 100])  # cold corner untouched


def test_a_map_without_values_leaves_the_frame_uncoloured() -> None:
    """NaN cells read as 0: an overlay of an all-NaN map is the frame itself."""
    heatmap = np.full((4, 4), np.nan, np.float32)
    assert np.array_equal(viz.upsample_map(heatmap, (8, 8)), np.zeros((8, 8), np.float32))
    assert np.array_equal(viz.overlay_heatmap(_frame(), heatmap, opacity=1.0), _frame())


def test_overlay_with_zero_opacity_is_the_frame() -> None:
    frame = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    out = viz.overlay_heatmap(frame, np.ones((2, 2)), opacity=0.0)
    assert np.array_equal(out, frame)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"colormap": "no-such-map"}, ValueError),
        ({"opacity": 1.5}, ValueError),
    ],
)
def test_overlay_rejects_bad_options(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        viz.overlay_heatmap(_frame(), np.zeros((2, 2)), **kwargs)


def test_overlay_rejects_bad_frames() -> None:
    with pytest.raises(TypeError, match="uint8"):
        viz.overlay_heatmap(np.zeros((8, 8, 3), np.float32), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        viz.overlay_heatmap(np.zeros((8, 8), np.uint8), np.zeros((2, 2)))


def test_colormap_lut_is_256_rgb() -> None:
    lut = viz.colormap_lut("jet")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert not np.array_equal(lut[0], lut[-1])


def test_temporal_smoothing_is_an_ema() -> None:
    maps = np.stack([np.zeros((2, 2)), np.ones((2, 2)), np.ones((2, 2))]).astype(np.float32)
    smooth = viz.smooth_heatmaps(maps, 0.5)
    np.testing.assert_allclose(smooth[:, 0, 0], [0.0, 0.5, 0.75])
    np.testing.assert_allclose(viz.smooth_heatmaps(maps, 0.0), maps)
    with pytest.raises(ValueError, match="smoothing"):
        viz.TemporalSmoother(1.0)


def test_draw_boxes_draws_and_skips_nan() -> None:
    frame = _frame()
    out = viz.draw_boxes(frame, [(0.25, 0.25, 0.75, 0.75), (np.nan,) * 4], ["a", "b"])
    assert not np.array_equal(out, frame)
    assert np.array_equal(frame, _frame())  # input untouched
    edge = out[round(0.75 * 47), 32]
    assert tuple(edge) == viz.box_color(0)
    same = viz.draw_boxes(frame, [(np.nan,) * 4], ["x"])
    assert np.array_equal(same, frame)
    with pytest.raises(ValueError, match="labels"):
        viz.draw_boxes(frame, [(0, 0, 1, 1)], [])


def test_map_thumbnails_one_per_map() -> None:
    thumbs = viz.map_thumbnails(_frame(), np.random.rand(3, 4, 4), size=(20, 30))
    assert len(thumbs) == 3 and all(t.shape == (20, 30, 3) for t in thumbs)


def test_heatmap_at_interpolates_in_time() -> None:
    times = np.array([0.0, 1.0])
    maps = np.stack([np.zeros((2, 2)), np.ones((2, 2))])
    np.testing.assert_allclose(viz.heatmap_at(times, maps, 0.25), 0.25)
    np.testing.assert_allclose(viz.heatmap_at(times, maps, -1.0), 0.0)
    np.testing.assert_allclose(viz.heatmap_at(times, maps, 9.0), 1.0)


def test_render_overlay_is_lazy_and_follows_time() -> None:
    times = np.array([0.0, 1.0])
    maps = np.stack([np.zeros((2, 2)), np.ones((2, 2))]).astype(np.float32)
    frames = ((t, _frame()) for t in (0.0, 1.0))
    boxes = [("obj", np.array([[np.nan] * 4, [0.1, 0.1, 0.9, 0.9]], np.float32))]
    out = list(viz.render_overlay(frames, times, maps, opacity=0.7, boxes=boxes))
    assert len(out) == 2
    assert np.array_equal(out[0], _frame())  # cold map and no box at t=0
    assert not np.array_equal(out[1], _frame())


def test_scale_for_display_brings_the_peak_to_one_and_keeps_relative_levels() -> None:
    from avloc.viz import scale_for_display

    maps = np.stack([np.full((4, 4), 0.01, np.float32), np.full((4, 4), 0.05, np.float32)])
    scaled = scale_for_display(maps)
    assert scaled.max() == pytest.approx(1.0)
    assert scaled[0, 0, 0] == pytest.approx(0.2)  # the quieter frame stays paler
    assert scale_for_display(np.zeros((2, 2))).max() == 0.0


def test_the_cli_spells_the_default_colormap_like_viz() -> None:
    from avloc.cli.localize import COLORMAP

    assert COLORMAP == viz.DEFAULT_COLORMAP and COLORMAP in viz.list_colormaps()


@pytest.mark.parametrize(
    ("source", "analysis", "expected"),
    [(25.0, 8.0, 25.0), (60.0, 8.0, 30.0), (5.0, 8.0, 8.0), (None, 8.0, 8.0), (60.0, 40.0, 40.0)],
)
def test_overlay_fps_is_the_sources_capped_and_never_below_the_analysis(
    source: float | None, analysis: float, expected: float
) -> None:
    assert viz.overlay_fps(source, analysis) == expected


def _analysed_at_8_fps(heatmaps: np.ndarray):  # type: ignore[no-untyped-def]
    """A localisation result with these heatmaps at 8 frames/s and no objects."""
    from avloc.inference import LocalizationResult

    n = len(heatmaps)
    return LocalizationResult(
        times_s=np.arange(n) / 8.0,
        heatmaps=heatmaps,
        class_maps=np.zeros((n, 0, *heatmaps.shape[1:]), np.float32),
        class_presence=np.zeros((n, 0), np.float32),
        loudness_db=np.zeros(n, np.float32),
        objects=(),
        fps=8.0,
        sample_rate=11025,
        frame_size=(64, 64),
        duration_s=n / 8.0,
        num_chunks=1,
    )


def test_overlay_video_plays_at_the_sources_frame_rate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from avloc import media
    from tests.media_fixtures import make_clip

    clip = make_clip(tmp_path / "in.mp4", fps=25.0, duration_s=2.0, size=(64, 96))
    heatmaps = np.zeros((16, 4, 4), np.float32)
    heatmaps[:, 0, 0] = 1.0  # hot top-left corner throughout
    result = _analysed_at_8_fps(heatmaps)
    out = viz.write_overlay_video(tmp_path / "overlay.mp4", clip, result, smoothing=0.5)
    info = media.probe(out)
    assert info.fps == pytest.approx(25.0) and info.has_audio
    assert (info.height, info.width) == (64, 96)
    frames = np.concatenate([p.frames for p in media.iter_video(out, 25.0)])
    assert len(frames) == 50
    corner, rest = frames[:, :8, :12].astype(float), frames[:, -8:, -12:].astype(float)
    assert np.abs(corner - rest).mean() > 20  # the map is painted on every frame
    # pictures that stop at 1 s of a 2-s sound: the overlay holds the last one, painted, to 2 s
    pictures = media.read_video(clip, 25.0, duration_s=1.0).frames
    sound = media.read_audio(clip, 11025)
    early = media.write_video(tmp_path / "early.mp4", pictures, 25.0, sound, 11025)
    out = viz.write_overlay_video(tmp_path / "held.mp4", early, result, smoothing=0.5)
    frames = np.concatenate([p.frames for p in media.iter_video(out, 25.0)])
    assert len(frames) >= 50  # (+1 where AAC padding leaves more than a frame of sound)
    assert np.abs(frames[-1, :8, :12].astype(float) - frames[-1, -8:, -12:]).mean() > 20


def test_an_overlay_that_fails_midway_stops_its_decoding_and_overlaying_threads(
    tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The overlay decodes and paints frames in threads of their own: an error in any stage
    (here the encoder's, then the decoder's) reaches the caller, and no thread is left behind."""
    import threading

    from avloc import media
    from tests.media_fixtures import make_clip

    clip = make_clip(tmp_path / "in.mp4", fps=25.0, duration_s=4.0, size=(64, 96))
    result = _analysed_at_8_fps(np.ones((32, 4, 4), np.float32))
    written = []

    def full_disk(self, frame) -> None:  # type: ignore[no-untyped-def]
        written.append(frame)
        if len(written) == 3:
            raise OSError(28, "No space left on device")

    def threads_left() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name == "avloc-decode"]

    # Checked while the error is held (its traceback keeps the function's frame alive), as a
    # caller that logs or re-raises it would: the threads stop before the error leaves.
    with monkeypatch.context() as patch:
        patch.setattr(media.VideoWriter, "write", full_disk)
        with pytest.raises(OSError, match="No space left") as caught:
            viz.write_overlay_video(tmp_path / "overlay.mp4", clip, result)
        assert threads_left() == [] and caught.traceback
    real_chunks = media.iter_video

    def broken_after_one_chunk(*args, **kwargs):  # type: ignore[no-untyped-def]
        chunks = real_chunks(*args, **kwargs, chunk_frames=8)
        yield next(chunks)
        raise media.CorruptMediaError(clip, "decoding failed: invalid data")

    with monkeypatch.context() as patch:
        patch.setattr(media, "iter_video", broken_after_one_chunk)
        with pytest.raises(media.CorruptMediaError, match="invalid data") as caught:
            viz.write_overlay_video(tmp_path / "overlay.mp4", clip, result)
        assert threads_left() == [] and caught.traceback
    assert not list(tmp_path.glob("overlay*"))  # nothing half-written is left
