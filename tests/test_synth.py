"""avloc synth: determinism, scene truth (counts, boxes, stems), Flickr layout, user inputs, errors."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avloc.data.manifest import read_manifest
from avloc.synth import SynthConfig, generate, make_scene, sound
from avloc.synth.instruments import BUILTIN_INSTRUMENTS
from avloc.synth.scenes import box_of_mask
from avloc.synth.sound import Note, default_soundfont, make_score, remove_subsonic, render_score

pytest.importorskip("tinysoundfont")

TINY = SynthConfig(num_clips=2, duration_s=1.0, fps=8.0, size=64, seed=3)
# solo: 1 sounding + 0-2 silent; duet: 2 + 0-1; grid: 2 + exactly 2.
EXPECTED = {"solo": (1, (0, 1, 2)), "duet": (2, (0, 1)), "grid": (2, (2,))}


@pytest.fixture(scope="module", params=["solo", "duet", "grid"])
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    config = replace(TINY, scene=request.param)
    out = tmp_path_factory.mktemp(f"synth_{request.param}")
    generate(config, out, progress=False)
    return config, out


def test_same_seed_same_scene_and_different_seed_differs() -> None:
    a, b = make_scene(TINY, 1), make_scene(TINY, 1)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.mixture, b.mixture)
    c = make_scene(replace(TINY, seed=4), 1)
    assert not np.array_equal(a.frames, c.frames)


def test_workers_do_not_change_results(tmp_path: Path) -> None:
    config = replace(TINY, scene="duet", num_clips=3)
    generate(config, tmp_path / "one", progress=False)
    generate(replace(config, workers=2), tmp_path / "two", progress=False)
    one, two = read_manifest(tmp_path / "one"), read_manifest(tmp_path / "two")
    assert [c.clip.name for c in one] == ["000000.mp4", "000001.mp4", "000002.mp4"]
    for x, y in zip(one, two, strict=True):
        assert x.clip.read_bytes() == y.clip.read_bytes()  # the encoding is deterministic too
        assert [(o.class_name, o.sounding, o.track) for o in x.objects] == [
            (o.class_name, o.sounding, o.track) for o in y.objects
        ]
        for ox, oy in zip(x.sounding, y.sounding, strict=True):
            assert ox.stem is not None and oy.stem is not None
            assert ox.stem.read_bytes() == oy.stem.read_bytes()


def test_manifest_counts_boxes_and_stems(written) -> None:
    from avloc.media import probe, read_audio

    config, out = written
    clips = read_manifest(out)
    assert len(clips) == config.num_clips
    num_sounding, silent_choices = EXPECTED[config.scene]
    for index, clip in enumerate(clips):
        assert clip.extra["scene"] == config.scene and clip.extra["seed"] == config.seed
        assert len(clip.sounding) == num_sounding
        assert len(clip.objects) - num_sounding in silent_choices
        assert len({o.class_name for o in clip.objects}) == len(clip.objects)
        info = probe(clip.clip)
        assert (info.width, info.height) == (config.size, config.size)
        scene = make_scene(config, index)
        for obj, truth in zip(clip.objects, scene.objects, strict=True):
            assert len(obj.track) == round(config.duration_s * config.fps)
            assert (obj.stem is not None) == obj.sounding
            if obj.stem is not None:
                assert truth.stem is not None
                stem = read_audio(obj.stem, config.sample_rate)
                np.testing.assert_allclose(stem, truth.stem, atol=1e-6)  # float wav: exact
        stems = [s.stem for s in scene.objects if s.stem is not None]
        np.testing.assert_allclose(np.sum(stems, axis=0), scene.mixture, atol=1e-6)
        assert np.abs(scene.mixture).max() <= 1.0 and np.abs(scene.mixture).max() > 0.01
        # The mp4's AAC soundtrack is the mixture within lossy-coding tolerance.
        decoded = read_audio(clip.clip, config.sample_rate)[: len(scene.mixture)]
        n = min(len(decoded), len(scene.mixture))
        assert np.corrcoef(decoded[:n], scene.mixture[:n])[0, 1] > 0.9


def test_boxes_tightly_cover_each_sprite_mask() -> None:
    for scene_type in ("solo", "duet", "grid"):
        scene = make_scene(replace(TINY, scene=scene_type), 0)
        size = scene.frames.shape[1]
        for obj in scene.objects:
            assert obj.masks.shape == scene.frames.shape[:3]
            for mask, box in zip(obj.masks, obj.boxes, strict=True):
                assert mask.sum() > 10, "every object stays visible"
                x0, y0, x1, y1 = np.round(box * size).astype(int)
                inside = np.zeros_like(mask)
                inside[y0:y1, x0:x1] = True
                assert not (mask & ~inside).any(), "a sprite pixel lies outside its box"
                # Tight: the mask touches all four edges of the box.
                assert mask[y0].any() and mask[y1 - 1].any()
                assert mask[:, x0].any() and mask[:, x1 - 1].any()


def test_sprite_pixels_show_the_sprite_not_the_background() -> None:
    """The frame changes where the mask is: the box follows what is drawn."""
    config = replace(TINY, scene="solo", num_clips=1)
    scene = make_scene(config, 2)
    obj = scene.objects[0]
    assert obj.masks[0].any() and (~obj.masks[0]).any()
    frame = scene.frames[0].astype(float)
    inside, outside = frame[obj.masks[0]].mean(axis=0), frame[~obj.masks[0]].mean(axis=0)
    assert np.abs(inside - outside).max() > 1.0


def test_objects_move_across_frames() -> None:
    scene = make_scene(replace(TINY, scene="grid"), 0)
    assert any(np.abs(np.diff(obj.boxes, axis=0)).max() > 0 for obj in scene.objects)


def test_box_of_mask_edges() -> None:
    mask = np.zeros((10, 20), bool)
    mask[2:5, 3:8] = True
    np.testing.assert_allclose(box_of_mask(mask), [3 / 20, 2 / 10, 8 / 20, 5 / 10])


def test_scores_stay_in_range_and_sources_differ() -> None:
    violin, drum = BUILTIN_INSTRUMENTS["violin"], BUILTIN_INSTRUMENTS["drum"]
    rng = np.random.default_rng(0)
    a, b = make_score(violin, 3.0, rng), make_score(violin, 3.0, rng)
    assert all(violin.low_key <= n.key <= violin.high_key for n in a + b)
    assert {round(n.start_s, 3) for n in a} != {round(n.start_s, 3) for n in b}
    assert len({n.velocity for n in a + b}) > 1
    hits = make_score(drum, 3.0, rng)
    assert hits and all(n.key in drum.keys for n in hits)


def _below(audio: np.ndarray, sample_rate: int, hz: float) -> float:
    """The fraction of ``audio``'s energy below ``hz``."""
    power = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
    return float(power[np.fft.rfftfreq(len(audio), 1 / sample_rate) < hz].sum() / power.sum())


def test_remove_subsonic_takes_dc_and_rumble_and_keeps_the_sound() -> None:
    rate = 11025
    t = np.arange(3 * rate) / rate
    tone = np.sin(2 * np.pi * 440 * t)
    out = remove_subsonic((0.3 + 0.5 * np.sin(2 * np.pi * 4 * t) + tone).astype(np.float32), rate)
    assert out.dtype == np.float32 and out.shape == t.shape
    assert _below(out, rate, 15) < 1e-3  # from 0.3 of the energy
    inner = slice(rate // 2, -rate // 2)  # away from the filter's edges
    assert np.sqrt(np.mean((out - tone)[inner] ** 2)) < 0.01 * np.sqrt(np.mean(tone**2))
    assert np.allclose(remove_subsonic(np.ones(5, np.float32), rate), 0.0)  # too short: mean


def test_stems_carry_no_dc_even_where_the_soundfont_samples_do() -> None:
    # TimGM6mb's alto sax samples hold a DC offset (before the high-pass: mean 0.44 of the RMS,
    # 40 % of the energy below 40 Hz), a cue no other soundfont's sax has.
    sax, drum = BUILTIN_INSTRUMENTS["saxophone"], BUILTIN_INSTRUMENTS["drum"]
    notes = [Note(0.2 + 0.6 * i, 0.7 + 0.6 * i, k, 100) for i, k in enumerate((50, 57, 62, 69))]
    stem = render_score(notes, sax, default_soundfont(), 11025, 3.0)
    assert abs(stem.mean()) < 0.01 * np.sqrt(np.mean(stem**2))
    assert _below(stem, 11025, 40) < 0.01
    kicks = [Note(0.2 + 0.5 * i, 0.4 + 0.5 * i, 36, 110) for i in range(5)]
    kick = render_score(kicks, drum, default_soundfont(), 11025, 3.0)
    assert _below(kick, 11025, 120) > 0.1  # a kick drum's low end stays


def test_a_key_the_preset_leaves_silent_is_played_on_the_nearest_that_sounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # TimGM6mb's alto sax has no sample at E4 (64): that note used to give a silent stem for
    # an object the manifest calls sounding.
    sax, soundfont = BUILTIN_INSTRUMENTS["saxophone"], default_soundfont()
    e4 = render_score([Note(0.1, 0.9, 64, 100)], sax, soundfont, 11025, 1.0)
    assert np.sqrt(np.mean(e4**2)) > 0.01
    np.testing.assert_array_equal(
        e4, render_score([Note(0.1, 0.9, 63, 100)], sax, soundfont, 11025, 1.0)
    )
    monkeypatch.setattr(sound, "_key_sounds", lambda *args: False)
    with pytest.raises(ValueError, match="plays none of class 'saxophone'"):
        render_score([Note(0.1, 0.9, 64, 100)], sax, soundfont, 11025, 1.0)


def _flickr(tmp_path: Path, name: str, sound_from: str) -> Path:
    config = replace(TINY, layout="flickr", num_clips=3, sound_from=sound_from, size=96)
    out = tmp_path / name
    generate(config, out, progress=False)
    return out


def test_flickr_layout_and_distractor_pairing(tmp_path: Path) -> None:
    from avloc.data.flickr import read_flickr

    normal = _flickr(tmp_path, "normal", "sounding")
    swapped = _flickr(tmp_path, "swapped", "distractor")
    rows = [line.split(",") for line in (normal / "flickr_test.csv").read_text().splitlines()]
    ids = [row[0] for row in rows]
    assert len(ids) == 3 and all(i.isdigit() and len(i) >= 10 for i in ids)
    assert all(row[1].strip().isdigit() for row in rows)
    test_set = read_flickr(normal, normal / "flickr_test.csv")
    assert [s.id for s in test_set.samples] == ids and not test_set.missing_ids
    for sample in test_set.samples:
        assert sample.image_path.parent.parent == normal / "Data"  # nested one level
        assert 2 <= len(sample.boxes) <= 3
        for x0, y0, x1, y1 in sample.boxes:
            assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
        root = ET.parse(normal / "Annotations" / f"{sample.id}.xml").getroot()
        for child in root:  # the LVS/EZ-VSL parser: bboxes are the root's grandchildren
            for bbox in child:
                if bbox.tag == "bbox":
                    assert len(list(bbox)) == 5 and not bbox[0].text.isdigit()  # type: ignore[union-attr]
        twin = swapped / sample.image_path.relative_to(normal)
        assert twin.read_bytes() == sample.image_path.read_bytes(), "same seed, same picture"
        label = root.find("object/bbox/name").text  # type: ignore[union-attr]
        twin_root = ET.parse(swapped / "Annotations" / f"{sample.id}.xml").getroot()
        assert twin_root.find("object/bbox/name").text != label  # type: ignore[union-attr]
        wav = sample.audio_path.read_bytes()
        assert (swapped / sample.audio_path.relative_to(normal)).read_bytes() != wav


def _write_sprites(root: Path, classes: list[str]) -> None:
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        image = np.zeros((40, 30, 4), np.uint8)
        image[5:35, 5:25] = (200, 40 * k, 90, 255)
        Image.fromarray(image, "RGBA").save(root / name / "shape.png")


def test_user_sprites_soundfont_and_program_map(tmp_path: Path) -> None:
    _write_sprites(tmp_path / "sprites", ["violin", "kazoo", "gong"])
    soundfont = tmp_path / "my.sf2"
    shutil.copy(default_soundfont(), soundfont)
    program_map = tmp_path / "map.json"
    program_map.write_text(
        json.dumps({"kazoo": 71, "gong": {"program": 0, "bank": 128, "keys": [52]}})
    )
    config = replace(
        TINY, scene="duet", sprites=tmp_path / "sprites", soundfont=soundfont,
        program_map=program_map,
    )  # fmt: skip
    result = generate(config, tmp_path / "out", progress=False)
    assert set(result.classes) == {"violin", "kazoo", "gong"}
    # a map entry whose class has no sprites is named, not silently dropped
    typo_map = tmp_path / "typo.json"
    typo_map.write_text(json.dumps({"kazoo": 71, "gongg": 0}))
    with pytest.warns(UserWarning, match=r"\['gongg'\] have no sprite sub-folder"):
        make_scene(replace(config, program_map=typo_map), 0)
    for clip in read_manifest(tmp_path / "out"):
        assert {o.class_name for o in clip.objects} <= {"violin", "kazoo", "gong"}
    scene = make_scene(config, 0)
    # The user's flat sprite colour appears in the frame.
    assert (scene.frames[..., 0] > 150).any()


def test_vary_timbre_changes_only_the_programs_played(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import avloc.synth.scenes as scenes

    played: list[tuple[str, int]] = []
    real = scenes.render_stem

    def record(inst, *args):  # type: ignore[no-untyped-def]
        played.append((inst.name, inst.program))
        return real(inst, *args)

    monkeypatch.setattr(scenes, "render_stem", record)
    config = replace(TINY, scene="grid", classes=("violin", "flute", "saxophone", "piano"))
    plain = [make_scene(config, i) for i in range(4)]
    assert all(BUILTIN_INSTRUMENTS[name].program == program for name, program in played)
    played.clear()
    varied = [make_scene(replace(config, vary_timbre=True), i) for i in range(4)]
    assert all(program in BUILTIN_INSTRUMENTS[name].timbres for name, program in played)
    assert any(BUILTIN_INSTRUMENTS[name].program != program for name, program in played)
    for a, b in zip(plain, varied, strict=True):  # same pictures, boxes, classes and melodies
        assert np.array_equal(a.frames, b.frames)
        assert [o.class_name for o in a.objects] == [o.class_name for o in b.objects]
    assert any(not np.allclose(a.mixture, b.mixture) for a, b in zip(plain, varied, strict=True))


def test_program_map_alternates(tmp_path: Path) -> None:
    from avloc.synth.instruments import load_program_map

    path = tmp_path / "map.json"
    path.write_text(json.dumps({"cello": {"program": 42, "alternates": [41]}}))
    assert load_program_map(path)["cello"].timbres == (42, 41)
    path.write_text(json.dumps({"cello": {"program": 42, "alternates": 41}}))
    with pytest.raises(ValueError, match="alternates"):
        load_program_map(path)
    path.write_text(json.dumps({"cello": {"program": 42, "alternates": [200]}}))
    with pytest.raises(ValueError, match="program 200"):
        load_program_map(path)


def test_cli_writes_clips(tmp_path: Path) -> None:
    from avloc.cli import synth

    parser = argparse.ArgumentParser()
    synth.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["synth", str(tmp_path), "--scene", "grid", "--num-clips", "1", "--duration-s", "1",
         "--size", "64", "--classes", "violin,drum,flute,piano"]
    )  # fmt: skip
    assert args.run(args) == 0
    (clip,) = read_manifest(tmp_path)
    assert {o.class_name for o in clip.objects} == {"violin", "drum", "flute", "piano"}


def test_cli_warns_in_one_line_about_map_classes_without_sprites(tmp_path: Path) -> None:
    _write_sprites(tmp_path / "sprites", ["violin"])
    (tmp_path / "map.json").write_text(json.dumps({"kazooo": 71}))
    argv = ["synth", str(tmp_path / "out"), "--num-clips", "1", "--duration-s", "1", "--size",
            "64", "--scene", "solo", "--sprites", str(tmp_path / "sprites"), "--program-map",
            str(tmp_path / "map.json")]  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "avloc", *argv], capture_output=True, text=True, check=True
    )
    assert "UserWarning" not in run.stderr  # not Python's two-line file:line form
    assert [line for line in run.stderr.splitlines() if "warning" in line] == [
        f"avloc: warning: the program map's ['kazooo'] have no sprite sub-folder with PNGs in "
        f"{tmp_path / 'sprites'}, so no scene will show them"
    ]
    assert len(read_manifest(tmp_path / "out")) == 1


def test_interrupt_keeps_manifest_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import avloc.synth.build as gen

    real = gen._run_one

    def stop_at_two(job, index):  # type: ignore[no-untyped-def]
        if index == 2:  # as a worker killed mid-write leaves it
            (job.out_dir / "clips" / ".000002.mp4.0123456789ab.part").write_bytes(b"half")
            raise KeyboardInterrupt
        return real(job, index)

    monkeypatch.setattr(gen, "_run_one", stop_at_two)
    with pytest.raises(KeyboardInterrupt):
        generate(replace(TINY, num_clips=4), tmp_path, progress=False)
    clips = read_manifest(tmp_path)
    assert [c.clip.name for c in clips] == ["000000.mp4", "000001.mp4"]
    assert all(c.clip.is_file() for c in clips)
    assert not list(tmp_path.glob("*/.*.part"))
    # resumed, only the missing scenes are made, and the set is the one a straight run writes
    made: list[int] = []

    def record(job, index):  # type: ignore[no-untyped-def]
        made.append(index)
        return real(job, index)

    monkeypatch.setattr(gen, "_run_one", record)
    (tmp_path / "clips" / "000001.mp4").unlink()  # listed but gone: made again
    generate(replace(TINY, num_clips=4), tmp_path, progress=False, resume=True)
    assert made == [1, 2, 3]
    straight = tmp_path.parent / f"{tmp_path.name}-straight"
    generate(replace(TINY, num_clips=4), straight, progress=False)
    assert (tmp_path / "manifest.jsonl").read_text() == (straight / "manifest.jsonl").read_text()
    for clip in (straight / "clips").iterdir():
        assert clip.read_bytes() == (tmp_path / "clips" / clip.name).read_bytes(), clip.name


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        make_scene(replace(TINY, sprites=tmp_path / "nowhere"), 0)
    with pytest.raises(ValueError, match=r"unknown instrument class.*'theremin'"):
        make_scene(replace(TINY, classes=("violin", "theremin")), 0)
    _write_sprites(tmp_path / "few", ["violin"])
    with pytest.raises(ValueError, match=r"few has no PNGs for class\(es\) \['drum'\]"):
        make_scene(replace(TINY, sprites=tmp_path / "few", classes=("violin", "drum")), 0)
    with pytest.raises(ValueError, match="at least 4 different classes"):
        make_scene(replace(TINY, scene="grid", classes=("violin", "drum", "flute")), 0)
    with pytest.raises(ValueError, match="--scene solo"):
        SynthConfig(scene="duet", layout="flickr")
    with pytest.raises(ValueError, match="size must be 32-2048 px, got 100000"):
        SynthConfig(size=100_000)
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        SynthConfig(seed=-1)
    for bad in ({"fps": float("inf")}, {"fps": float("nan")}, {"sample_rate": 10**9}):
        with pytest.raises(ValueError, match=r"need duration_s in \(0, 600\], fps in"):
            SynthConfig(**bad)  # type: ignore[arg-type]
    bad_map = tmp_path / "map.json"
    bad_map.write_text("{not json")
    with pytest.raises(ValueError, match=r"map\.json: not valid JSON"):
        make_scene(replace(TINY, soundfont=default_soundfont(), program_map=bad_map), 0)
    bad_map.write_text(json.dumps({"violin": "forty"}))
    with pytest.raises(ValueError, match=r"map\.json: entry for 'violin'"):
        make_scene(replace(TINY, soundfont=default_soundfont(), program_map=bad_map), 0)
    bad_map.write_text(json.dumps({"violin": {"program": 40, "bank": "x"}}))
    with pytest.raises(ValueError, match=r"map\.json: entry for 'violin': \{'bank': 'x'\}"):
        make_scene(replace(TINY, soundfont=default_soundfont(), program_map=bad_map), 0)
    with pytest.raises(FileNotFoundError, match=r"missing\.sf2"):
        make_scene(replace(TINY, soundfont=tmp_path / "missing.sf2"), 0)


def test_warp_sprite_redraws_the_shape_and_keeps_colours_and_a_tight_alpha() -> None:
    from avloc.synth.sprites import warp_sprite

    sprite = np.zeros((40, 60, 4), np.uint8)
    sprite[..., :3] = (200, 30, 10)
    sprite[..., 3] = 255
    assert warp_sprite(sprite, 0.0, np.random.default_rng(0)) is sprite
    warped = warp_sprite(sprite, 0.3, np.random.default_rng(0))
    alpha = warped[..., 3] > 0
    assert alpha.any(axis=0).all() and alpha.any(axis=1).all()  # cropped to its alpha
    assert not alpha.all()  # a rectangle no longer: its corners moved
    opaque = warped[warped[..., 3] > 128][:, :3].astype(int)
    assert np.abs(opaque - (200, 30, 10)).max() <= 2  # no dark fringe from premultiplying


def test_sprite_warp_changes_only_the_pictures_shapes() -> None:
    config = replace(TINY, classes=("violin", "flute", "saxophone"))
    plain = [make_scene(config, i) for i in range(3)]
    warped = [make_scene(replace(config, sprite_warp=0.3), i) for i in range(3)]
    for a, b in zip(plain, warped, strict=True):  # same classes, melodies and motion paths
        assert [o.class_name for o in a.objects] == [o.class_name for o in b.objects]
        assert np.array_equal(a.mixture, b.mixture)
    assert any(not np.array_equal(a.frames, b.frames) for a, b in zip(plain, warped, strict=True))
    with pytest.raises(ValueError, match="sprite_warp must be in"):
        replace(TINY, sprite_warp=0.5)


@pytest.mark.parametrize("style", ["noto", "symbola", "openmoji", "twemoji", "fluent", "emojione"])
def test_bundled_sprite_styles_are_licensed_instrument_pictures(style: str) -> None:
    from avloc.synth.sprites import available_classes, bundled_sprites_dir

    folder = bundled_sprites_dir(style)
    assert "licen" in (folder / "LICENSE").read_text().lower()[:2000]
    classes = available_classes(folder)
    assert len(classes) >= 6 and set(classes) <= set(BUILTIN_INSTRUMENTS)
    if style in ("noto", "openmoji", "twemoji", "fluent"):  # these draw every class
        assert len(classes) == len(BUILTIN_INSTRUMENTS)
    for name in classes:
        for png in (folder / name).glob("*.png"):
            image = Image.open(png)
            assert image.mode == "RGBA" and max(image.size) <= 128, png


def test_cli_sprites_take_a_bundled_style_name_or_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from avloc.cli import main

    argv = ["synth", str(tmp_path / "om"), "--scene", "solo", "--num-clips", "1", "--size", "64"]
    assert main([*argv, "--sprites", "openmoji"]) == 0
    assert read_manifest(tmp_path / "om")[0].objects
    assert main([*argv, "--sprites", str(tmp_path / "nowhere")]) != 0
    assert "no such folder, and no bundled style of that name" in capsys.readouterr().err
    assert main([*argv, "--sprite-warp", "0.2", "--sprites", "twemoji"]) == 0
    assert main([*argv, "--sprite-warp", "0.9"]) != 0
    assert "sprite_warp must be in [0, 0.4], got 0.9" in capsys.readouterr().err
