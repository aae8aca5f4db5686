"""The inference pipeline (avloc.inference) and object extraction (avloc.objects)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from avloc import media
from avloc.defaults import CLASS_GUIDANCE, REFINE_SOURCES, SOURCE_MAP_OFFSET
from avloc.inference import (
    MAX_ESTIMATE_GAIN,
    Pipeline,
    _FrameArrays,
    _hann_weights,
    place_name,
)
from avloc.maps import CLASS_MAP_OPTIONS, HEATMAP_OPTIONS, MapOptions, smooth_maps
from avloc.models.outputs import SeparationOutput
from avloc.objects import box_from_map, extract_objects, loudness_db
from avloc.sources import Clip, centre_window
from tests.media_fixtures import make_clip

SR = 11025
RAW = MapOptions(smoothing=0.0, halo=0.0)  # the model's own maps: no offset, no smoothing


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    from avloc.pretrained import load_model

    torch.manual_seed(0)
    return load_model("avloc-tiny-test")


def _clip(duration_s: float = 2.0, num_frames: int = 16, seed: int = 0) -> Clip:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (num_frames, 48, 64, 3), dtype=np.uint8)
    audio = (0.1 * rng.standard_normal(int(duration_s * SR))).astype(np.float32)
    return Clip(frames, audio, 8.0, SR)


def test_localize_shapes_and_ranges(model: torch.nn.Module) -> None:
    pipe = Pipeline(model, batch_size=5, precision="fp32")
    result = pipe.localize(_clip())
    n = 16
    # maps come on the grid of the largest scale (1.5x the model's by default)
    assert pipe.scales == (1.0, 1.5)
    h, w = pipe.grid_size
    assert (h, w) == (12, 12) and model.config.grid_size == (8, 8)
    assert result.times_s.shape == (n,)
    np.testing.assert_allclose(np.diff(result.times_s), 1 / model.config.fps)
    assert result.heatmaps.shape == (n, h, w) and result.heatmaps.dtype == np.float32
    assert result.heatmaps.min() >= 0.0 and result.heatmaps.max() <= 1.0
    k = result.class_maps.shape[1]
    assert result.class_maps.shape == (n, k, h, w) and result.class_presence.shape == (n, k)
    assert result.num_chunks == math.ceil(n / 5)
    assert result.frame_size == pipe.input_size == (96, 96) and result.sample_rate == SR
    for obj in result.objects:
        assert obj.boxes.shape == (n, 4)
        present = ~np.isnan(obj.boxes[:, 0])
        assert present.any() and np.all((obj.boxes[present] >= 0) & (obj.boxes[present] <= 1))


def test_a_class_heard_in_silence_is_never_an_object() -> None:
    from avloc.pretrained import load_model

    torch.manual_seed(0)
    model = load_model("avloc-tiny-test")
    with torch.no_grad():  # class 0 heard in everything, silence included; the rest in nothing
        model.class_head.audio_classifier.weight.zero_()
        model.class_head.audio_classifier.bias.copy_(torch.tensor([6.0, -20.0, -20.0, -20.0]))
    pipe = Pipeline(model, precision="fp32")
    result = pipe.localize(_clip(1.0, 8))
    assert (result.class_presence[:, 0] > 0.99).all()  # reported as it is ...
    assert pipe.silence_classes == (0,)
    assert all(o.class_index != 0 for o in result.objects)  # ... but never listed
    assert result.silence_classes == (0,)
    listed = extract_objects(result.class_maps, result.class_presence, result.loudness_db)
    assert listed[0].class_index == 0  # what it would be without the rule
    # The classifier's own decision (0.5), not the listing threshold, says what silence holds.
    every = Pipeline(model, precision="fp32", presence_threshold=0.0)
    assert {o.class_index for o in every.localize(_clip(1.0, 8)).objects} == set(range(1, 4))


def test_bf16_and_decode_ahead_match_fp32(model: torch.nn.Module) -> None:
    clip = _clip(1.0, 8)
    ref = Pipeline(model, batch_size=3, precision="fp32").localize(clip)
    ahead = Pipeline(model, batch_size=3, precision="fp32", decode_ahead=2).localize(clip)
    np.testing.assert_array_equal(ref.heatmaps, ahead.heatmaps)
    half = Pipeline(model, batch_size=3, precision="bf16").localize(clip)
    assert np.abs(half.heatmaps - ref.heatmaps).max() < 0.1


def _logit(p: np.ndarray) -> np.ndarray:
    return torch.logit(torch.from_numpy(np.ascontiguousarray(p))).numpy()


def test_pipeline_heatmaps_are_the_sigmoid_of_the_logits_shifted_by_the_map_offset(
    model: torch.nn.Module,
) -> None:
    clip = _clip(1.0, 8)

    def raw_maps(offset: float) -> np.ndarray:
        options = dataclasses.replace(RAW, offset=offset)
        pipeline = Pipeline(
            model, precision="fp32", heatmap_options=options, scales=(1.0,), class_guidance=0.0
        )
        return pipeline.localize(clip).heatmaps

    calibrated, shifted = raw_maps(0.0), raw_maps(-4.0)
    np.testing.assert_array_equal(calibrated, raw_maps(HEATMAP_OPTIONS.offset))  # calibrated
    assert (shifted < calibrated).all()
    np.testing.assert_allclose(_logit(shifted), _logit(calibrated) - 4.0, atol=1e-3)
    assert (
        np.argmax(shifted.reshape(len(shifted), -1), 1)
        == np.argmax(calibrated.reshape(len(calibrated), -1), 1)
    ).all()  # a monotone map of each cell: the peaks stay where they were


def test_pipeline_class_map_offset_redraws_class_maps_and_source_map_offset_the_regions(
    model: torch.nn.Module,
) -> None:
    clip = _clip(1.0, 8)

    def analysed(offset: float, source_map_offset: float = 0.0) -> Any:
        options = dataclasses.replace(RAW, offset=offset)
        pipeline = Pipeline(
            model,
            precision="fp32",
            class_map_options=options,
            scales=(1.0,),
            source_map_offset=source_map_offset,
        )
        return pipeline.localize(clip)

    own, shifted = analysed(0.0), analysed(-3.0)
    # offset 0: the model's own class maps, sigmoid(CAM) x presence; -3 lowers every cell
    assert (shifted.class_maps < own.class_maps).all()
    presence = own.class_presence[:, :, None, None]
    np.testing.assert_allclose(
        _logit(shifted.class_maps / presence), _logit(own.class_maps / presence) - 3.0, atol=2e-3
    )
    # the separator vectors are pooled under the class maps shifted by source_map_offset
    # alone, by default the model's own (as mix-and-separate trains the separator)
    assert SOURCE_MAP_OFFSET == 0.0
    np.testing.assert_array_equal(shifted.class_vectors, own.class_vectors)
    moved = analysed(0.0, source_map_offset=-3.0)
    np.testing.assert_array_equal(moved.class_maps, own.class_maps)
    assert not np.allclose(moved.class_vectors, own.class_vectors, atol=1e-6)
    np.testing.assert_array_equal(analysed(-3.0, -3.0).class_vectors, moved.class_vectors)


def _two_sources(seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Two sources' frames (2 each) and a 1-s mixture."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 255, (2, 64, 64, 3), dtype=np.uint8) for _ in range(2)]
    return frames, (0.1 * rng.standard_normal(SR)).astype(np.float32)


def _sources_by_class_maps(model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the test model find sources by distinct class maps, as the bundled model does."""
    config: Any = model.config
    separator = dataclasses.replace(config.separator, source_map="class")
    monkeypatch.setattr(model, "config", dataclasses.replace(config, separator=separator))


def test_pipeline_source_vectors_pool_under_the_source_map_offset(
    model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sources_by_class_maps(model, monkeypatch)
    frames, mixture = _two_sources(0)

    def vectors(**kwargs: Any) -> np.ndarray:
        return Pipeline(model, precision="fp32", **kwargs).source_vectors(frames, mixture)

    default = vectors(refine_sources=False)
    np.testing.assert_array_equal(
        default,
        vectors(class_map_options=dataclasses.replace(RAW, offset=-3.0), refine_sources=False),
    )
    assert not np.allclose(default, vectors(source_map_offset=-3.0, refine_sources=False))
    for wrong in (float("nan"), 51.0):
        with pytest.raises(ValueError, match="source_map_offset"):
            Pipeline(model, source_map_offset=wrong)


def test_pipeline_source_vectors_look_again_hearing_each_sources_estimate(
    model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames, mixture = _two_sources(1)
    pipeline = Pipeline(model, precision="fp32")
    assert pipeline.refine_sources and REFINE_SOURCES
    heard: list[np.ndarray] = []
    looks = iter([np.full((2, 3), 0.2, np.float32), np.full((2, 3), 0.6, np.float32)])

    def looked_for(frames_: Any, sounds: np.ndarray) -> np.ndarray:
        heard.append(np.array(sounds))
        return next(looks)

    # the first estimates: one at half the mixture's level, one silent
    estimates = np.stack([0.5 * mixture, np.zeros_like(mixture)])
    monkeypatch.setattr(pipeline, "_looked_for", looked_for)
    monkeypatch.setattr(pipeline, "separate_mixture", lambda mix, vectors: estimates)
    vectors = pipeline.source_vectors(frames, mixture)
    np.testing.assert_allclose(vectors, 0.4)  # the two looks averaged
    first, second = heard
    np.testing.assert_array_equal(first, np.stack([mixture, mixture]))  # the mixture, each
    # each source then hears its own estimate at the mixture's level, at most 20 dB louder
    np.testing.assert_allclose(second[0], mixture, rtol=1e-5)
    np.testing.assert_array_equal(second[1], 0.0)
    assert MAX_ESTIMATE_GAIN == 10.0
    heard.clear()
    looks = iter([np.full((2, 3), 0.2, np.float32)])
    once = pipeline.source_vectors(frames, mixture, refine=False)
    np.testing.assert_allclose(once, 0.2)
    assert len(heard) == 1  # one look, and no separation
    looks = iter([np.full((2, 3), 0.2, np.float32)])
    monkeypatch.setattr(pipeline, "refine_sources", False)
    np.testing.assert_allclose(pipeline.source_vectors(frames, mixture), 0.2)


def test_pipeline_source_vectors_refined_end_to_end_with_a_model(
    model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sources_by_class_maps(model, monkeypatch)
    frames, mixture = _two_sources(2)
    pipeline = Pipeline(model, precision="fp32")
    once = pipeline.source_vectors(frames, mixture, refine=False)
    refined = pipeline.source_vectors(frames, mixture)
    assert refined.shape == once.shape and np.isfinite(refined).all()
    estimates = pipeline.separate_mixture(mixture, once)
    gains = np.sqrt(np.mean(mixture**2)) / np.sqrt(np.mean(estimates**2, axis=1, keepdims=True))
    second = pipeline._looked_for(frames, estimates * np.minimum(gains, MAX_ESTIMATE_GAIN))
    np.testing.assert_allclose(refined, 0.5 * (once + second), atol=1e-6)


def test_pipeline_flip_averages_the_maps_with_the_mirror_images(model: torch.nn.Module) -> None:
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (2, 48, 64, 3), dtype=np.uint8)
    windows = (0.1 * rng.standard_normal((2, SR))).astype(np.float32)
    plain = Pipeline(model, precision="fp32", class_guidance=0.0)  # the maps as looked at
    assert not plain.flip  # off by default
    once = plain.analyze_frames(frames, windows)
    mirrored = plain.analyze_frames(np.ascontiguousarray(frames[:, :, ::-1]), windows)
    both = plain.with_flip(True).analyze_frames(frames, windows)
    np.testing.assert_allclose(both.maps, 0.5 * (once.maps + mirrored.maps[..., ::-1]), atol=1e-6)
    np.testing.assert_allclose(
        both.class_maps, 0.5 * (once.class_maps + mirrored.class_maps[..., ::-1]), atol=1e-6
    )
    assert not np.allclose(both.maps, once.maps, atol=1e-6)
    np.testing.assert_array_equal(both.class_presence, once.class_presence)  # the sound's
    np.testing.assert_array_equal(both.class_vectors, once.class_vectors)  # the frames' own


def test_pipeline_guides_its_heatmaps_by_the_classes_heard(model: torch.nn.Module) -> None:
    from avloc.maps import guide_by_classes

    rng = np.random.default_rng(4)
    frames = rng.integers(0, 255, (2, 48, 64, 3), dtype=np.uint8)
    windows = (0.1 * rng.standard_normal((2, SR))).astype(np.float32)
    guided = Pipeline(model, precision="fp32")
    assert guided.class_guidance == CLASS_GUIDANCE > 0
    unguided = Pipeline(model, precision="fp32", class_guidance=0.0)
    for flip in (False, True):  # after the mirror images' maps are averaged
        step = guided.with_flip(flip).analyze_frames(frames, windows)
        plain = unguided.with_flip(flip).analyze_frames(frames, windows)
        expected = guide_by_classes(
            plain.maps,
            plain.class_maps,
            plain.class_presence,
            CLASS_GUIDANCE,
            ignore=guided.silence_classes,
        )
        np.testing.assert_allclose(step.maps, expected, atol=1e-6)
        assert not np.allclose(step.maps, plain.maps, atol=1e-4)
        for name in ("class_maps", "class_presence", "class_vectors"):  # only the heatmaps
            np.testing.assert_array_equal(getattr(step, name), getattr(plain, name))
    for bad in (-0.5, 2.0, float("nan")):
        with pytest.raises(ValueError, match="class_guidance must be in"):
            Pipeline(model, class_guidance=bad)


def test_pipeline_smooths_heatmaps_and_class_maps_each_by_its_own_sigma(
    model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The untrained test model's class maps are nearly flat, which smoothing leaves as they are:
    # keep only each map's peak so that it has something to do.
    localize_from = model.localize_from

    def sharp_class_maps(*args: Any) -> Any:
        out = localize_from(*args)
        peaks = out.class_maps.amax((-2, -1), keepdim=True)
        return dataclasses.replace(out, class_maps=out.class_maps * (out.class_maps == peaks))

    monkeypatch.setattr(model, "localize_from", sharp_class_maps)
    clip = _clip(1.0, 8)
    # No class-map offset: it would redraw the class maps from the CAMs, past the patch above.
    own_class_maps = dataclasses.replace(CLASS_MAP_OPTIONS, offset=0.0)
    unguided = {"precision": "fp32", "class_guidance": 0.0}  # the heatmaps as smoothed
    raw = Pipeline(model, heatmap_options=RAW, class_map_options=RAW, **unguided)
    raw_result = raw.localize(clip)
    smooth = Pipeline(model, class_map_options=own_class_maps, **unguided).localize(clip)
    tall = Pipeline(
        model,
        **unguided,
        heatmap_options=dataclasses.replace(HEATMAP_OPTIONS, halo=0.4),
        class_map_options=dataclasses.replace(own_class_maps, halo=0.8),
    ).localize(clip)
    for name, options, own_halo in (
        ("heatmaps", HEATMAP_OPTIONS, 0.4),
        ("class_maps", CLASS_MAP_OPTIONS, 0.8),
    ):
        before, after = getattr(raw_result, name), getattr(smooth, name)
        assert not np.allclose(before, after)
        kernel = options.kernel  # heatmaps: a box; class maps: a Gaussian
        expected = smooth_maps(torch.from_numpy(before), options.smoothing, options.halo, kernel)
        np.testing.assert_allclose(after, expected, atol=1e-6)
        expected = smooth_maps(torch.from_numpy(before), options.smoothing, own_halo, kernel)
        np.testing.assert_allclose(getattr(tall, name), expected, atol=1e-6)
    assert (HEATMAP_OPTIONS.kernel, CLASS_MAP_OPTIONS.kernel) == ("box", "gaussian")
    # The separator vectors are pooled over the raw class maps: smoothing leaves them alone.
    np.testing.assert_allclose(raw_result.class_vectors, smooth.class_vectors, atol=1e-6)


def test_pipeline_fuses_scales_and_pools_separator_vectors_at_the_models_own(
    model: torch.nn.Module,
) -> None:
    # 96-px frames: both pipelines then shrink the same pixels to the model's 64
    frames = np.random.default_rng(0).integers(0, 255, (3, 96, 96, 3), dtype=np.uint8)
    windows = 0.1 * np.random.default_rng(1).standard_normal((3, SR), dtype=np.float32)
    raw = {"heatmap_options": RAW, "class_map_options": RAW, "precision": "fp32"}
    raw["class_guidance"] = 0.0  # the heatmaps as fused
    one = Pipeline(model, scales=(1.0,), **raw)
    two = Pipeline(model, scales=(1.0, 1.5), **raw)
    assert one.grid_size == model.config.grid_size == (8, 8) and one.input_size == (64, 64)
    assert two.grid_size == (12, 12) and two.input_size == (96, 96)
    a, b = one.analyze_frames(frames, windows), two.analyze_frames(frames, windows)
    assert b.maps.shape == (3, 12, 12) and b.class_maps.shape[-2:] == (12, 12)
    # the fused maps are at least the one-scale maps, upsampled, everywhere
    up = torch.nn.functional.interpolate(
        torch.from_numpy(a.maps)[:, None], size=(12, 12), mode="bilinear"
    )
    assert bool((torch.from_numpy(b.maps) >= up[:, 0] - 1e-6).all())
    assert not np.allclose(b.maps, up[:, 0].numpy(), atol=1e-3)  # and the 1.5x scale adds to them
    np.testing.assert_allclose(a.class_presence, b.class_presence, atol=1e-6)
    np.testing.assert_allclose(a.class_vectors, b.class_vectors, atol=1e-6)
    # a scale whose frames are smaller than one grid cell cannot work
    with pytest.raises(ValueError, match="smaller than one grid cell"):
        Pipeline(model, scales=(0.05,))
    with pytest.raises(ValueError, match="scales must be"):
        Pipeline(model, scales=())


def test_analyze_image_averages_the_windows_of_the_sounds_centre_3_s(
    model: torch.nn.Module,
) -> None:
    pipe = Pipeline(model, precision="fp32")
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    window = round(pipe.audio_window_s * pipe.sample_rate)
    sound = (0.1 * rng.standard_normal(5 * window)).astype(np.float32)  # 5 windows long
    heard = pipe.analyze_image(image, sound)
    centre = sound[window : 4 * window].reshape(3, window)  # the centre 3 s, window by window
    each = pipe.analyze_frames(np.repeat(image[None], 3, 0), centre)
    for got, want in [
        (heard.maps, each.maps),
        (heard.class_maps, each.class_maps),
        (heard.class_presence, each.class_presence),
        (heard.class_vectors, each.class_vectors),
    ]:
        assert got.shape == (1, *want.shape[1:])
        np.testing.assert_allclose(got[0], want.mean(0), rtol=1e-5, atol=1e-6)
    # a sound of one window (or less) is heard once, centred and zero-padded
    short = sound[: window // 2]
    once = pipe.analyze_frames(image[None], centre_window(short, window)[None])
    np.testing.assert_allclose(pipe.analyze_image(image, short).maps, once.maps, atol=1e-6)
    np.testing.assert_allclose(
        pipe.analyze_image(image, sound, audio_s=pipe.audio_window_s).maps,
        pipe.analyze_frames(image[None], centre_window(sound, window)[None]).maps,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="mono"):
        pipe.analyze_image(image, np.stack([sound, sound]))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        pipe.analyze_image(image[..., 0], sound)


def test_audio_window_is_centred_on_the_frame(model: torch.nn.Module) -> None:
    audio = np.zeros(3 * SR, np.float32)
    audio[int(1.5 * SR) : int(1.5 * SR) + 200] = 0.5  # a click at t = 1.5 s
    frames = np.zeros((24, 32, 32, 3), np.uint8)
    result = Pipeline(model, precision="fp32").localize((frames, audio, 8.0, SR))
    half = model.config.audio_window_s / 2
    heard = result.loudness_db > -90
    expected = np.abs(result.times_s - 1.5) < half - 0.02
    unheard = np.abs(result.times_s - 1.5) > half + 0.05
    assert heard[expected].all() and not heard[unheard].any()


@pytest.mark.parametrize("capacity", [1, 7, 10, 40])
def test_frame_arrays_equal_the_joined_chunks_whatever_the_capacity(capacity: int) -> None:
    rng = np.random.default_rng(0)
    chunks = [(rng.random(n), rng.random((n, 2, 3)).astype(np.float16)) for n in (3, 3, 3, 1)]
    arrays = _FrameArrays(capacity)
    for chunk in chunks:
        arrays.append(*chunk)
    times, maps = arrays.arrays()
    np.testing.assert_array_equal(times, np.concatenate([c[0] for c in chunks]))
    np.testing.assert_array_equal(maps, np.concatenate([c[1] for c in chunks]))
    assert maps.dtype == np.float16 and (arrays.num_frames, arrays.num_chunks) == (10, 4)
    # a buffer mostly unused is not kept alive behind a small view
    assert (maps.base is None) == (capacity == 40)


def test_hann_windows_sum_to_one_at_half_overlap() -> None:
    w = _hann_weights(64)
    np.testing.assert_allclose(w[:32] + w[32:], 1.0, atol=1e-6)


def test_separate_sources_and_residual_add_up(model: torch.nn.Module) -> None:
    pipe = Pipeline(model, precision="fp32", presence_threshold=0.0)
    clip = _clip(2.5, 20)
    result = pipe.separate(clip)
    assert result.sources.shape == (len(result.labels), len(clip.audio))
    assert len(result.labels) >= 1
    np.testing.assert_allclose(result.mixture, clip.audio, atol=1e-6)
    np.testing.assert_allclose(result.sources.sum(0) + result.residual, result.mixture, atol=1e-5)
    assert np.isfinite(result.sources).all()
    # Shared masks leave a residual only where (and when) no object sounds.
    sharing = pipe.with_mask_rule("share")
    assert sharing.model is pipe.model and pipe.mask_rule == "independent"
    shared = sharing.separate(clip)
    assert np.abs(shared.residual).max() < np.abs(result.residual).max()
    np.testing.assert_allclose(shared.sources.sum(0) + shared.residual, shared.mixture, atol=1e-5)


def test_overlap_add_rebuilds_an_identity_separator(
    model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    def identity(mixture: torch.Tensor, vectors: torch.Tensor, **_: object) -> SeparationOutput:
        waves = mixture[:, None].expand(-1, vectors.shape[1], -1)
        return SeparationOutput(waves, waves, waves, mixture)

    pipe = Pipeline(model, precision="fp32", batch_size=2)
    monkeypatch.setattr(pipe.model, "separate", identity)
    clip = _clip(3.0, 24)
    out = pipe.separate_at(clip, (0.5, 0.5))
    window = round(model.config.audio_window_s * SR)
    assert len(clip.audio) > 2 * window  # several overlapping windows were cross-faded
    np.testing.assert_allclose(out, clip.audio, atol=1e-5)


def test_separate_at_gives_a_waveform(model: torch.nn.Module) -> None:
    pipe = Pipeline(model, precision="fp32")
    wave = pipe.separate_at(_clip(1.5, 12), (0.2, 0.8))
    assert wave.shape == (int(1.5 * SR),) and np.isfinite(wave).all()
    with pytest.raises(ValueError, match="normalised"):
        pipe.separate_at(_clip(1.5, 12), (1.5, 0.2))
    region = pipe.separate_at(_clip(1.5, 12), box=(0.1, 0.5, 0.4, 0.9))
    assert region.shape == wave.shape and np.isfinite(region).all()


def test_source_vectors_pool_each_sources_frames_under_the_mixture(
    model: torch.nn.Module,
) -> None:
    """The evaluation's rule equals training's: every frame hears the mixture, the model's
    ``source_weights`` picks each source's region, the frames' vectors are max-pooled."""
    pipe = Pipeline(model, precision="fp32")
    frames = [_clip(1.0, 2, seed).frames for seed in (1, 2)]
    mixture = _clip(1.5, 2, 3).audio
    vectors = pipe.source_vectors(frames, mixture)
    size = model.config.visual.input_size
    resized = [np.stack([cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA) for x in f])
               for f in frames]  # fmt: skip
    with torch.no_grad():
        visual = model.encode_frames(pipe._frames_tensor(np.concatenate(resized)))
        window = centre_window(mixture, round(pipe.audio_window_s * SR))
        heard = model.encode_audio(torch.from_numpy(window)[None].expand(4, -1))
        out = model.localize_from(visual, heard)
        regions = out.maps.clamp(0, 1)[:, None]  # the test bundle's source_map is "map"
        expected = model.visual_vectors(visual, regions)[:, 0].reshape(2, 2, -1).amax(dim=1)
    np.testing.assert_allclose(vectors, expected.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="same number"):
        pipe.source_vectors([frames[0], frames[1][:1]], mixture)


def test_file_input_streams_in_chunks(
    model: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_clip(tmp_path / "long.mp4", duration_s=6.0, size=(32, 48), fps=10)
    sizes: list[int] = []
    real = media.iter_video

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        for part in real(*args, **kwargs):
            sizes.append(len(part.frames))
            yield part

    monkeypatch.setattr(media, "iter_video", spy)
    result = Pipeline(model, batch_size=8, precision="fp32").localize(path)
    assert result.num_frames == 48 and result.num_chunks == 6
    assert max(sizes) <= 8 and sum(sizes) == 48
    assert result.heatmaps.nbytes < 48 * 4 * 32 * 32  # kept at grid resolution


def test_bad_inputs_raise_clear_errors(model: torch.nn.Module, tmp_path: Path) -> None:
    pipe = Pipeline(model)
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        pipe.localize(tmp_path / "missing.mp4")
    silent = make_clip(tmp_path / "silent.mp4", duration_s=1.0, audio_codec=None)
    with pytest.raises(media.NoAudioStreamError, match=r"silent\.mp4"):
        pipe.localize(silent)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(media.MediaError):
        pipe.localize(junk)
    with pytest.raises(TypeError, match="file path"):
        pipe.localize(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="precision"):
        Pipeline(model, precision="fp8")
    with pytest.raises(ValueError, match="mask_rule"):
        Pipeline(model, mask_rule="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mask_rule"):
        Pipeline(model).with_mask_rule("max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Clip\.frames"):
        Clip(np.zeros((0, 8, 8, 3), np.uint8), np.zeros(10, np.float32), 8, SR)


def test_box_from_map_finds_the_blob() -> None:
    heatmap = np.zeros((8, 8), np.float32)
    heatmap[2:4, 5:8] = 1.0
    heatmap[6, 0] = 0.3  # below half the maximum
    np.testing.assert_allclose(box_from_map(heatmap), [5 / 8, 2 / 8, 1.0, 4 / 8])
    assert np.isnan(box_from_map(np.zeros((4, 4)))).all()


def test_extract_objects_tracks_presence_and_loudness() -> None:
    n, k = 4, 3
    maps = np.zeros((n, k, 4, 4), np.float32)
    maps[:, 1, 0, 0] = 1.0
    presence = np.zeros((n, k), np.float32)
    presence[1:3, 1] = 0.9
    level = np.array([-100, -20, -40, -100], np.float32)
    (obj,) = extract_objects(maps, presence, level, ["a", "b", "c"])
    assert obj.label == "b" and obj.class_index == 1
    assert obj.active_fraction == 0.5 and obj.loudness_db == pytest.approx(-30.0)
    assert np.isnan(obj.boxes[0]).all() and np.isnan(obj.boxes[3]).all()
    np.testing.assert_allclose(obj.boxes[1], [0, 0, 0.25, 0.25])
    assert obj.to_json(np.arange(n) / 8)["track"][0][0] == 0.125
    with pytest.raises(ValueError, match="labels"):
        extract_objects(maps, presence, level, ["a"])
    assert extract_objects(maps, presence, level, ignore=(1,)) == ()


def test_loudness_db() -> None:
    windows = np.stack([np.zeros(100), np.ones(100)]).astype(np.float32)
    np.testing.assert_allclose(loudness_db(windows), [-100.0, 0.0], atol=1e-5)


def test_place_name_names_a_point_or_a_box_and_refuses_anything_else() -> None:
    assert place_name((0.5, 0.25)) == "point_0.50_0.25"
    assert place_name(box=(0.1, 0.2, 0.555, 1.0)) == "box_0.10_0.20_0.56_1.00"
    for point, box in [(None, None), ((0.5, 0.5), (0, 0, 1, 1)), ((1.5, 0.5), None)]:
        with pytest.raises(ValueError, match=r"point|box"):
            place_name(point, box)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x0 < x1"):
        place_name(box=(0.5, 0.2, 0.1, 0.9))


def test_object_at_needs_the_point_inside_for_half_the_frames_it_sounds() -> None:
    from avloc.inference import object_at
    from avloc.objects import DetectedObject

    nan = [np.nan] * 4
    left = np.array([[0.0, 0.0, 0.5, 1.0]] * 3 + [nan] * 5)  # sounds in 3 of 8 frames
    moving = np.array([[0.0, 0.0, 0.5, 1.0]] * 3 + [[0.5, 0.0, 1.0, 1.0]] * 5)
    objects = [
        DetectedObject("a", 0, 0.9, 3 / 8, left, -20.0),
        DetectedObject("b", 1, 0.9, 1.0, moving, -20.0),
    ]
    assert object_at(objects, (0.25, 0.5)) == 0  # inside a in all its frames; b in 3 of 8
    assert object_at(objects, (0.75, 0.5)) == 1  # b's box there for 5 of its 8 frames
    assert object_at(objects[1:], (0.25, 0.5)) is None  # 3 of 8: less than half
    assert object_at([], (0.5, 0.5)) is None


def test_a_box_holds_the_objects_around_it_or_under_it() -> None:
    from avloc.inference import objects_in
    from avloc.objects import DetectedObject

    nan = [np.nan] * 4
    small = np.array([[0.1, 0.1, 0.3, 0.3]] * 4 + [nan] * 4)  # sounds in 4 of 8 frames
    big = np.array([[0.5, 0.0, 1.0, 1.0]] * 8)
    moving = np.array([[0.0, 0.6, 0.2, 0.8]] * 3 + [[0.8, 0.6, 1.0, 0.8]] * 5)
    objects = [
        DetectedObject("small", 0, 0.9, 0.5, small, -20.0),
        DetectedObject("big", 1, 0.9, 1.0, big, -20.0),
        DetectedObject("moving", 2, 0.9, 1.0, moving, -20.0),
    ]
    assert objects_in(objects, (0.0, 0.0, 0.4, 0.4)) == [0]  # around it while it sounds
    assert objects_in(objects, (0.0, 0.0, 1.0, 1.0)) == [0, 1, 2]  # the whole frame
    assert objects_in(objects, (0.6, 0.2, 0.7, 0.3)) == [1]  # drawn on part of it
    assert objects_in(objects, (0.2, 0.0, 0.6, 1.0)) == []  # a fifth of big, a quarter of small
    assert objects_in(objects, (0.0, 0.5, 0.3, 0.9)) == []  # moving is there for 3 of 8 frames
    assert objects_in(objects, (0.7, 0.5, 1.0, 0.9)) == [1, 2]  # 5 of 8
    assert objects_in([], (0.0, 0.0, 1.0, 1.0)) == []
