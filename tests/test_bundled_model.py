"""The bundled model on the bundled demo clips: it loads by name and finds what sounds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from avloc import Pipeline, load_model
from avloc.assets import assets_dir
from avloc.data.manifest import SceneClip, read_manifest
from avloc.evaluation import runner
from avloc.evaluation.model_predictors import ModelSeparator
from avloc.evaluation.predictors import SEPARATION_BASELINES
from avloc.evaluation.protocols import PROTOCOLS
from avloc.inference import LocalizationResult
from avloc.media import read_audio, read_video
from avloc.objects import loudness_db
from avloc.synth import SynthConfig, generate


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(load_model("default"))


def _box_mean(heatmaps: np.ndarray, times: np.ndarray, clip: SceneClip, index: int) -> float:
    """Mean heatmap inside object ``index``'s box, over the analysed frames."""
    height, width = heatmaps.shape[1:]
    values = []
    for heatmap, t in zip(heatmaps, times, strict=True):
        box = clip.objects[index].box_at(float(t))
        x0, x1 = int(box.x0 * width), max(int(box.x0 * width) + 1, round(box.x1 * width))
        y0, y1 = int(box.y0 * height), max(int(box.y0 * height) + 1, round(box.y1 * height))
        values.append(float(heatmap[y0:y1, x0:x1].mean()))
    return float(np.mean(values))


GRID_XFAIL = pytest.mark.xfail(
    strict=True,
    reason="known weakness: in 2x2 grid scenes the class-agnostic heatmap with a 2-instrument "
    "mixture also lights a silent percussion instrument, more than the banjo while the banjo "
    "sounds; the class-aware stage is not yet good enough to fix it "
    "(benchmarks/quality/tables.md, grid)",
)


@pytest.fixture(scope="module")
def demo_stems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SceneClip]:
    """Each demo clip made again with the ``avloc synth`` command its README gives, for the
    sounding objects' own sound (the demo folder ships no stems), by clip name."""
    remade = {}
    for clip in read_manifest(assets_dir() / "demo"):
        scene, seed, index = (clip.extra[key] for key in ("scene", "seed", "index"))
        root = tmp_path_factory.mktemp(scene)
        config = SynthConfig(scene=scene, num_clips=2, seed=seed, duration_s=clip.duration_s)
        generate(config, root, progress=False)
        again = read_manifest(root)[index]
        assert [o.class_name for o in again.objects] == [o.class_name for o in clip.objects]
        ours = read_audio(clip.clip, clip.sample_rate)
        theirs = read_audio(again.clip, clip.sample_rate)
        assert np.corrcoef(ours, theirs)[0, 1] > 0.95, clip.clip.name  # the same sound
        remade[clip.clip.name] = again
    return remade


def _audible(stem: Path, times: np.ndarray, sample_rate: int) -> np.ndarray:
    """Which times a stem is heard at: its level over the quarter second around each time
    within 20 dB of its loudest."""
    half = sample_rate // 8
    sound = np.pad(read_audio(stem, sample_rate), (0, 2 * half))  # the last windows whole
    starts = [max(0, round(t * sample_rate) - half) for t in times]
    level = loudness_db(np.stack([sound[start : start + 2 * half] for start in starts]))
    return level >= level.max() - 20.0


@pytest.mark.parametrize(
    "name", ["duet.mp4", "solo.mp4", pytest.param("grid.mp4", marks=GRID_XFAIL)]
)
def test_heatmap_is_higher_on_a_sounding_object_than_on_silent_ones_while_it_sounds(
    pipeline: Pipeline, demo_stems: dict[str, SceneClip], name: str
) -> None:
    """Over the frames where an instrument is heard, its box is hotter than every silent
    instrument's. Not over all frames: the duet's piano plays only from about 0.6 s to 2.9 s
    of 4, while the silent accordion takes some of the trumpet's heat (~0.10 where the trumpet
    plays alone), so over the whole clip the two were within 2 % (0.083 against 0.082), and
    while the piano is heard 0.14 against 0.06."""
    clip = next(c for c in read_manifest(assets_dir() / "demo") if c.clip.name == name)
    result = pipeline.localize(clip.clip)
    assert result.heatmaps.shape[0] == round(clip.duration_s * pipeline.fps)
    remade = demo_stems[name]
    silent = [k for k, obj in enumerate(clip.objects) if not obj.sounding]
    for k, obj in enumerate(remade.objects):
        if not obj.sounding:
            continue
        assert obj.stem is not None
        heard = _audible(obj.stem, result.times_s, clip.sample_rate)
        assert heard.sum() >= 8, obj.class_name  # at least a second of it
        heatmaps, times = result.heatmaps[heard], result.times_s[heard]
        own = _box_mean(heatmaps, times, clip, k)
        others = {clip.objects[j].class_name: _box_mean(heatmaps, times, clip, j) for j in silent}
        assert own > 1.2 * max(others.values()), (obj.class_name, own, others)


@pytest.mark.parametrize("name", ["duet.mp4", "solo.mp4", "grid.mp4"])
def test_each_sounding_instrument_is_one_object_and_silence_is_none(
    pipeline: Pipeline, name: str
) -> None:
    """The demo clips open on silence, which this bundle hears as a pseudo-class of its own
    (presence 0.98); it must not be listed as a sounding object."""
    clip = next(c for c in read_manifest(assets_dir() / "demo") if c.clip.name == name)
    result = pipeline.localize(clip.clip)
    assert pipeline.silence_classes, "the bundle has a silence class; this test guards it"
    found = []
    for obj in result.objects:
        assert obj.class_index not in pipeline.silence_classes
        under = []
        for t, box in zip(result.times_s, obj.boxes, strict=True):
            if np.isnan(box).any():
                continue
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            for o in clip.sounding:
                b = o.box_at(float(t))
                if b.x0 <= cx <= b.x1 and b.y0 <= cy <= b.y1:
                    under.append(o.class_name)
        instrument, count = max(((c, under.count(c)) for c in set(under)), key=lambda x: x[1])
        assert count >= 0.8 * obj.active_fraction * len(result.times_s), (obj.label, under)
        found.append(instrument)
    assert sorted(found) == sorted(o.class_name for o in clip.sounding)


@pytest.fixture(scope="module")
def duet(pipeline: Pipeline) -> tuple[SceneClip, LocalizationResult]:
    """The demo duet's manifest entry and its localization (shared: localizing is the slow
    part)."""
    clip = next(c for c in read_manifest(assets_dir() / "demo") if c.clip.name == "duet.mp4")
    return clip, pipeline.localize(clip.clip)


def test_separation_of_the_demo_duet_gives_sources_and_residual(
    pipeline: Pipeline, duet: tuple[SceneClip, LocalizationResult]
) -> None:
    clip, localization = duet
    result = pipeline.separate(clip.clip, localization=localization)
    assert result.sources.shape[0] == len(localization.objects) >= 1
    assert np.isfinite(result.sources).all()
    np.testing.assert_allclose(
        result.sources.sum(axis=0) + result.residual, result.mixture, atol=1e-4
    )


def test_the_sound_at_a_point_is_the_objects_there_and_little_elsewhere(
    pipeline: Pipeline, duet: tuple[SceneClip, LocalizationResult]
) -> None:
    """A point on a sounding instrument gives its stem; on the silent accordion or the empty
    corner, its pixel's vector competes with the objects and gets almost nothing."""
    clip, localization = duet
    stems = pipeline.separate(clip.clip, localization=localization)
    energy = float(stems.mixture @ stems.mixture)
    for obj in clip.objects:
        box = obj.box_at(clip.duration_s / 2)
        centre = ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
        sound = pipeline.separate_at(clip.clip, centre, localization=localization)
        if obj.sounding:
            assert any(np.array_equal(sound, stem) for stem in stems.sources), obj.class_name
        else:
            assert sound @ sound < 0.05 * energy, obj.class_name
    corner = pipeline.separate_at(clip.clip, (0.02, 0.02), localization=localization)
    assert corner @ corner < 0.05 * energy


def test_the_sound_of_a_region_is_that_of_the_objects_it_holds(
    pipeline: Pipeline, duet: tuple[SceneClip, LocalizationResult]
) -> None:
    """A box around both sounding instruments gives their summed stems, a box on part of one
    its stem; a box around the silent accordion, or an empty one, competes with the objects
    and gets almost nothing."""
    clip, localization = duet
    stems = pipeline.separate(clip.clip, localization=localization)
    energy = float(stems.mixture @ stems.mixture)
    t = clip.duration_s / 2
    sounding = [o.box_at(t) for o in clip.objects if o.sounding]
    around = tuple(
        f(getattr(b, side) for b in sounding)
        for f, side in ((min, "x0"), (min, "y0"), (max, "x1"), (max, "y1"))
    )
    both = pipeline.separate_at(clip.clip, box=around, localization=localization)
    assert len(stems.sources) == 2
    np.testing.assert_array_equal(both, stems.sources.sum(axis=0))
    for obj in clip.objects:
        b = obj.box_at(t)
        # the middle half of the instrument's box
        part = (b.x0 + (b.x1 - b.x0) / 4, b.y0 + (b.y1 - b.y0) / 4)
        part += (b.x1 - (b.x1 - b.x0) / 4, b.y1 - (b.y1 - b.y0) / 4)
        sound = pipeline.separate_at(clip.clip, box=part, localization=localization)
        if obj.sounding:
            assert any(np.array_equal(sound, stem) for stem in stems.sources), obj.class_name
        else:
            assert sound @ sound < 0.05 * energy, obj.class_name
    corner = pipeline.separate_at(clip.clip, box=(0.0, 0.0, 0.06, 0.06), localization=localization)
    assert corner @ corner < 0.05 * energy


def _pink_noise(num_samples: int) -> np.ndarray:
    spectrum = np.fft.rfft(np.random.default_rng(0).standard_normal(num_samples))
    return np.fft.irfft(spectrum / np.sqrt(np.arange(len(spectrum)).clip(min=1)), num_samples)


@pytest.mark.parametrize("kind", ["tone", "noise"])
def test_a_sound_from_off_screen_stays_in_the_residual(
    pipeline: Pipeline, duet: tuple[SceneClip, LocalizationResult], kind: str
) -> None:
    """A 300-Hz sine, or pink noise, as loud as the duet, which neither instrument makes,
    added to its sound (the same objects and maps): nearly all of it is left to the residual.
    Each stem's share is its change projected on the added sound; the shares add to one, since
    the residual is the mixture minus the stems. A separator that shares all the sound among
    the objects it is given puts none in the residual (p10: none of the tone); p11, which
    learnt only instruments heard but not seen, left it 0.55 of the tone and 0.39 of the noise;
    p14, which also learnt noise and tones from off screen, 0.99 and 0.94, and at least 0.92
    of the tone in every quarter second; p15, 3,000 steps more of the same, 0.997 and 0.95, and
    at least 0.97 of the tone in every quarter second; p16, 3,000 more on the sounds as
    corrected on 2026-11-24, 0.989 and 0.94, at least 0.84 of the tone in the first quarter
    second and 0.99 after it (on the tuning mixtures its stems took less of such sound than
    p15's: 9 % of a noise and 40 % of a tone, against 12 % and 43 %); q3, p16's separator
    6,000 steps more on stages 1-3 learnt again, 0.984 and 0.948, at least 0.74 of the tone in
    the first quarter second and 0.995 after it (on the evaluation mixtures its stems took
    10 % of a noise and 35 % of a tone 10 dB below them, against p16's 11 % and 36 %:
    ``benchmarks/bench_offscreen.py``, the measure across mixtures)."""
    clip, localization = duet
    frames = read_video(clip.clip, fps=localization.fps)
    mixture = pipeline.separate(clip.clip, localization=localization).mixture
    times = np.arange(len(mixture)) / pipeline.sample_rate
    sound = np.sin(2 * np.pi * 300.0 * times) if kind == "tone" else _pink_noise(len(mixture))
    sound *= np.sqrt(np.mean(mixture**2) / np.mean(sound**2))
    video = (frames.frames, mixture, localization.fps, pipeline.sample_rate)
    without = pipeline.separate(video, localization=localization)
    heard = pipeline.separate(
        (*video[:1], (mixture + sound).astype(np.float32), *video[2:]), localization=localization
    )
    share = (heard.residual - without.residual) @ sound / (sound @ sound)
    assert share > 0.85
    if kind == "tone":  # also where one object sounds alone (p11 left it ~0 in the first second)
        quarter = pipeline.sample_rate // 4
        for start in range(0, len(sound) - quarter + 1, quarter):
            piece = slice(start, start + quarter)
            change = heard.residual[piece] - without.residual[piece]
            assert change @ sound[piece] > 0.7 * (sound[piece] @ sound[piece]), start


def test_a_solo_instrument_gets_all_of_its_sound(pipeline: Pipeline) -> None:
    """The one object of the demo solo takes nearly all the sound: learning to leave sound
    from off screen in the residual did not make the separator timid."""
    path = assets_dir() / "demo" / "solo.mp4"
    result = pipeline.separate(path)
    assert len(result.labels) == 1
    (stem,) = result.sources
    assert stem @ stem > 0.8 * (result.mixture @ result.mixture)


@pytest.fixture(scope="module")
def solo_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("solo")
    generate(SynthConfig(num_clips=8, seed=77), root, progress=False)
    return root


def test_a_source_seen_alone_gets_its_own_sound_not_the_mixture(
    pipeline: Pipeline, solo_clips: Path
) -> None:
    """Each source of a mix-2 separated with its own frames only, the other heard but not
    seen (a sound from off screen): it gets its own sound, where a separator that shares the
    whole mixture among the objects it is given returns the mixture (SDR ~0.7 dB before)."""
    preset = dataclasses.replace(PROTOCOLS["separation"], num_mixtures=6, backend="fast")
    alone = ModelSeparator(pipeline, "alone", alone=True)
    scored = runner.evaluate_separation(solo_clips, alone, preset, progress=False)
    mixture = SEPARATION_BASELINES["mixture"]()
    baseline = runner.evaluate_separation(solo_clips, mixture, preset, progress=False)
    assert scored.metrics()["sdr"] > baseline.metrics()["sdr"] + 6.0
