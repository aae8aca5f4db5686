"""avloc.evaluation and ``avloc evaluate``: presets, baselines, matching, runners, CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from avloc.checkpoint import bundle_sha256
from avloc.data.manifest import BoxAt, SceneClip, SceneObject, read_manifest, write_manifest
from avloc.evaluation import predictors as P
from avloc.evaluation import runner
from avloc.evaluation.matching import apply_matching, hungarian_match, match_by_name
from avloc.evaluation.protocols import (
    PROTOCOLS,
    ClassAwareProtocol,
    SeparationProtocol,
    class_aware_for_scene,
    get_protocol,
    with_tau,
)
from avloc.evaluation.samples import (
    count_mixtures,
    draw_pairs,
    separation_sample,
    separation_window_s,
    solo_clips,
)
from avloc.metrics import localization as loc

SR = 11025


# ----------------------------------------------------------------------------- fixtures


def _xml(boxes: list[tuple[int, int, int, int]]) -> str:
    rows = "".join(
        f"<bbox><label>{k}</label><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>"
        f"<ymax>{y1}</ymax></bbox>"
        for k, (x0, y0, x1, y1) in enumerate(boxes)
    )
    return f'<?xml version="1.0"?><annotation><object>{rows}</object></annotation>'


FLICKR_BOXES = {
    "1001": [(0, 0, 192, 256)] * 3,  # 3 annotators agree on the left 75 %: consensus 1 there
    "1002": [(64, 64, 192, 192), (80, 64, 208, 192)],  # 2 annotators, partial overlap
    "1003": [(0, 0, 128, 128), (0, 0, 128, 128), (128, 128, 256, 256)],
}


@pytest.fixture(scope="module")
def flickr_root(tmp_path_factory) -> Path:
    """A tiny Flickr-SoundNet layout: 3 complete ids + one id without its wav."""
    from avloc.media import write_audio, write_image

    root = tmp_path_factory.mktemp("flickr")
    (root / "Annotations").mkdir()
    for k, (sample_id, boxes) in enumerate({**FLICKR_BOXES, "1004": [(0, 0, 9, 9)]}.items()):
        (root / "Annotations" / f"{sample_id}.xml").write_text(_xml(boxes))
        sub = root / "Data" / f"part{k % 2}" / "nested"
        sub.mkdir(parents=True, exist_ok=True)
        write_image(sub / f"{sample_id}.jpg", np.full((24, 32, 3), 40 * k, np.uint8))
        if sample_id != "1004":
            write_audio(sub / f"{sample_id}.wav", np.zeros(2205, np.float32) + 0.1, SR)
    (root / "flickr_test.csv").write_text("1001,0\n1002,0\n1003,0\n1004,0\n")
    return root


def _clip(root: Path, name: str, scene: str, objects: list[tuple[str, bool, tuple]]) -> SceneClip:
    """A 1-s 32-px clip; each object is (class, sounding, box) with a constant box."""
    from avloc.media import write_audio, write_video

    frames = np.zeros((8, 32, 32, 3), np.uint8)
    mixture = np.zeros(SR, np.float32)
    objs = []
    for k, (cls, sounding, box) in enumerate(objects):
        stem = None
        if sounding:
            freq = 220.0 + 110.0 * int(name[1:]) + 55.0 * k
            wave = (0.3 * np.sin(2 * np.pi * freq * np.arange(SR) / SR)).astype(np.float32)
            stem = write_audio(root / "stems" / f"{name}_{k}.wav", wave, SR)
            mixture += wave
        track = tuple(BoxAt(i / 8, *box) for i in range(8))
        objs.append(SceneObject(cls, sounding, stem, track))
    (root / "stems").mkdir(exist_ok=True)
    path = write_video(root / "clips" / f"{name}.mp4", frames, 8, np.clip(mixture, -1, 1), SR)
    return SceneClip(path, 1.0, 8.0, SR, tuple(objs), {"scene": scene})


LEFT, RIGHT, BOTTOM = (0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0), (0.0, 0.5, 1.0, 1.0)


@pytest.fixture(scope="module")
def duet_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("duet")
    (root / "clips").mkdir()
    (root / "stems").mkdir()
    layouts = [
        [("violin", True, LEFT), ("drum", True, RIGHT), ("flute", False, BOTTOM)],
        [("drum", True, LEFT), ("flute", True, RIGHT), ("violin", False, BOTTOM)],
        [("flute", True, LEFT), ("violin", True, RIGHT), ("drum", False, BOTTOM)],
        [("violin", True, RIGHT), ("flute", True, LEFT), ("drum", False, BOTTOM)],
        [("drum", True, RIGHT), ("violin", True, LEFT), ("flute", False, BOTTOM)],
    ]
    clips = [_clip(root, f"d{i}", "duet", objs) for i, objs in enumerate(layouts)]
    write_manifest(clips, root)
    return root


@pytest.fixture(scope="module")
def solo_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("solo")
    (root / "clips").mkdir()
    (root / "stems").mkdir()
    classes = ["violin", "drum", "flute", "violin"]
    clips = [_clip(root, f"s{i}", "solo", [(c, True, LEFT)]) for i, c in enumerate(classes)]
    write_manifest(clips, root)
    return root


def _cli(argv: list[str]) -> int:
    from avloc.cli import main

    return main(argv)


# ----------------------------------------------------------------------------- presets


def test_presets_are_explicit_and_serialisable():
    for name, preset in PROTOCOLS.items():
        record = json.loads(json.dumps(preset.to_json()))
        assert record["name"] == name
    flickr = get_protocol("flickr").to_json()
    assert flickr["rule"]["binarize"] == "top-fraction" and flickr["rule"]["tie_rule"] == "ge"
    assert flickr["ground_truth"] == "consensus" and flickr["frame_crop"] == "none"
    with pytest.raises(ValueError, match="known"):
        get_protocol("flickr-typo")


def test_class_aware_tau_by_scene_and_override():
    assert class_aware_for_scene("solo").rule.tau == 0.1
    assert class_aware_for_scene("duet").rule.tau == 0.2
    assert class_aware_for_scene("grid").rule.tau == 0.5
    assert class_aware_for_scene("duet", tau=0.3).rule.tau == 0.3
    # a threshold other than the preset's is in the name, whichever way it was asked for
    assert class_aware_for_scene("duet", tau=0.3).name == "music-duet-tau0.3"
    duet = PROTOCOLS["music-duet"]
    assert isinstance(duet, ClassAwareProtocol)
    assert with_tau(duet, 0.5).name == "music-duet-tau0.5"
    assert with_tau(duet, 0.2) == duet
    with pytest.raises(ValueError, match="--tau"):
        class_aware_for_scene("orchestra")
    with pytest.raises(ValueError, match="tau"):
        dataclasses.replace(PROTOCOLS["music-solo"].rule, tau=2.0)  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- matching


def test_hungarian_recovers_a_known_permutation():
    rng = np.random.default_rng(0)
    classes = ("a", "b", "c", "d")
    pseudo = ("p0", "p1", "p2", "p3", "p4")  # one spare pseudo-class
    truth = {"a": "p3", "b": "p0", "c": "p4", "d": "p1"}
    score = rng.random((5, 4)) * 0.3
    for c, cls in enumerate(classes):
        score[pseudo.index(truth[cls]), c] += 0.6
    matching = hungarian_match(score, pseudo, classes)
    assert matching.assignment == truth
    record = matching.to_json()
    assert record["method"] == "hungarian" and len(record["score_matrix"]) == 5
    maps = np.stack([np.full((2, 2), float(i)) for i in range(5)])
    reordered = apply_matching(maps, pseudo, matching)
    assert [m[0, 0] for m in reordered] == [3.0, 0.0, 4.0, 1.0]


def test_matching_leaves_unseen_classes_with_ones():
    matching = hungarian_match(np.ones((2, 2)), ("x", "y"), ("a", "b"), counts=np.array([3, 0]))
    assert set(matching.assignment) == {"a"} and matching.unmatched_classes == ("b",)
    out = apply_matching(np.zeros((2, 2, 2)), ("x", "y"), matching)
    assert out[1].min() == 1.0 and out[0].max() == 0.0
    assert match_by_name(("b", "a"), ("a", "b", "c")).unmatched_classes == ("c",)


# ----------------------------------------------------------------------------- flickr


def test_flickr_baselines_and_missing_ids(flickr_root):
    csv = flickr_root / "flickr_test.csv"
    results = {
        name: runner.evaluate_flickr(flickr_root, make(), test_list=csv, progress=False)
        for name, make in P.LOCALIZATION_BASELINES.items()
    }
    oracle = results["oracle"]
    assert oracle.num_samples == 3 and [m.id for m in oracle.missing] == ["1004"]
    assert "wav" in oracle.missing[0].reason
    # 1001: the consensus (all 1) covers 75 % > half, so the oracle keeps exactly the GT.
    assert oracle.scores[0].ciou == 1.0
    # The whole image keeps every pixel: cIoU = ΣG / (ΣG + #pixels outside the GT).
    for score, sample_id in zip(results["whole"].scores, FLICKR_BOXES, strict=True):
        gt = loc.consensus_map(FLICKR_BOXES[sample_id])
        assert score.ciou == pytest.approx(gt.sum() / (gt.sum() + (gt == 0).sum()))
    for name in ("random", "centre", "whole"):
        assert results["oracle"].metrics()["auc"] >= results[name].metrics()["auc"]  # type: ignore[operator]
    again = runner.evaluate_flickr(flickr_root, P.RandomMap(), test_list=csv, progress=False)
    assert again.scores == results["random"].scores  # seeded


def test_flickr_result_records_its_test_list_and_limit(flickr_root, tmp_path, capsys):
    # a subset scored with --limit must not pass for the whole set
    csv = flickr_root / "flickr_test.csv"
    result = runner.evaluate_flickr(
        flickr_root, P.WholeImage(), test_list=csv, limit=1, progress=False
    )
    record = result.to_json()
    assert record["limit"] == 1 and record["num_samples"] == 1
    assert record["test_list"] == str(csv)
    whole = runner.evaluate_flickr(flickr_root, P.WholeImage(), progress=False).to_json()
    assert whole["limit"] is None and whole["test_list"] is None  # every annotated id
    out = tmp_path / "limited.json"
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--baseline", "whole",
                 "--limit", "2", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["limit"] == 2
    assert "--limit 2: only the first 2 items were scored" in capsys.readouterr().err


def test_cli_prints_centre_and_whole_baselines_beside_a_model(flickr_root, tmp_path, capsys):
    # protocols.md §1: whole images already score high on Flickr, so print both baselines
    runner.evaluate_flickr(flickr_root, P.RandomMap(), save_maps=tmp_path / "maps", progress=False)
    out = tmp_path / "maps.json"
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--maps", str(tmp_path / "maps"),
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    table = capsys.readouterr().out
    assert "| maps:maps |" in table and "| centre |" in table and "| whole |" in table
    record = json.loads(out.read_text())
    assert record["method"] == "maps:maps" and set(record["baselines"]) == {"centre", "whole"}
    whole = runner.evaluate_flickr(flickr_root, P.WholeImage(), progress=False)
    assert record["baselines"]["whole"] == pytest.approx(whole.metrics())
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--baseline", "random",
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    assert "| centre |" not in capsys.readouterr().out
    assert "baselines" not in json.loads(out.read_text())


def test_flickr_image_whose_boxes_cover_no_pixel_scores_zero(flickr_root, tmp_path):
    import shutil

    root = tmp_path / "flickr"
    shutil.copytree(flickr_root, root)
    (root / "Annotations" / "1002.xml").write_text(_xml([(192, 64, 64, 192)] * 2))  # inverted
    with pytest.warns(UserWarning, match=r"1 of 3 items have boxes that cover no pixel"):
        result = runner.evaluate_flickr(root, P.WholeImage(), progress=False)
    assert result.empty_ground_truth == ("1002",) and result.num_samples == 3
    assert {s.id: (s.ciou, s.pointing) for s in result.scores}["1002"] == (0.0, False)


def test_flickr_wrong_preset_and_missing_root(flickr_root, tmp_path):
    with pytest.raises(ValueError, match="Flickr preset"):
        runner.evaluate_flickr(flickr_root, P.WholeImage(), PROTOCOLS["vggss"], progress=False)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="Annotations"):
        runner.evaluate_flickr(tmp_path, P.WholeImage(), progress=False)


def test_saved_maps_round_trip(flickr_root, tmp_path):
    saved = runner.evaluate_flickr(
        flickr_root, P.CentrePrior(), save_maps=tmp_path / "maps", progress=False
    )
    assert sorted(p.name for p in (tmp_path / "maps").glob("*.npy")) == [
        "1001.npy",
        "1002.npy",
        "1003.npy",
    ]
    loaded = runner.evaluate_flickr(flickr_root, P.SavedMaps(tmp_path / "maps"), progress=False)
    assert [s.ciou for s in loaded.scores] == pytest.approx([s.ciou for s in saved.scores])
    (tmp_path / "maps" / "1002.npy").unlink()
    with pytest.raises(FileNotFoundError, match="1002"):
        runner.evaluate_flickr(flickr_root, P.SavedMaps(tmp_path / "maps"), progress=False)


def test_bad_saved_map_is_a_clear_error(flickr_root, tmp_path):
    np.save(tmp_path / "1001.npy", np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"1001\.npy.*\(H, W\)"):
        runner.evaluate_flickr(flickr_root, P.SavedMaps(tmp_path), limit=1, progress=False)


# ----------------------------------------------------------------------------- class-aware


@dataclasses.dataclass(frozen=True)
class PermutedOracle:
    """The class oracle under pseudo-class names (a permutation the matching must undo)."""

    perm: dict[str, str]
    name: str = "permuted-oracle"
    audio_window_s: float | None = 0.5
    sample_rate: int | None = None

    def predict_class_maps(self, sample):
        assert sample.audio.shape == (round(0.5 * SR),)
        exact = P.ClassOracle(size=16).predict_class_maps(sample)
        return P.ClassMaps(exact.maps, tuple(self.perm[c] for c in exact.names))


def test_class_aware_oracle_whole_and_hungarian(duet_root):
    oracle = runner.evaluate_class_aware(duet_root, P.ClassOracle(), progress=False)
    assert oracle.protocol.rule.tau == 0.2 and oracle.num_match_clips == 1
    assert oracle.num_eval_clips == 4 and oracle.matching.method == "by-name"  # type: ignore[union-attr]
    m = oracle.metrics()
    assert m["ciou30"] == m["ciou50"] == m["auc"] == pytest.approx(1.0, abs=0.03)
    assert m["nsa"] == 1.0 and m["pointing"] == 1.0
    whole = runner.evaluate_class_aware(
        duet_root, P.CLASS_AWARE_BASELINES["whole"](), progress=False
    )
    assert whole.metrics()["nsa"] == 0.0
    assert whole.metrics()["ciou50"] == 1.0  # each class box covers half the frame: cIoU 0.5
    perm = {"drum": "k2", "flute": "k0", "violin": "k1"}
    # One matching clip shows only violin and drum sounding: flute stays unmatched (ones).
    partly = runner.evaluate_class_aware(duet_root, PermutedOracle(perm), progress=False)
    assert partly.matching.unmatched_classes == ("flute",)  # type: ignore[union-attr]
    assert partly.metrics()["nsa"] < 1.0
    # Two matching clips show all three classes sounding: the permutation is recovered.
    preset = dataclasses.replace(PROTOCOLS["music-duet"], match_fraction=0.4)
    assert isinstance(preset, ClassAwareProtocol)
    matched = runner.evaluate_class_aware(duet_root, PermutedOracle(perm), preset, progress=False)
    assert matched.matching.method == "hungarian"  # type: ignore[union-attr]
    assert matched.matching.assignment == perm  # type: ignore[union-attr]
    assert matched.num_match_clips == 2
    same_split = runner.evaluate_class_aware(duet_root, P.ClassOracle(16), preset, progress=False)
    assert matched.metrics() == pytest.approx(same_split.metrics())
    record = matched.to_json()
    assert record["matching"]["assignment"] == perm and set(record["per_class"]) == set(perm)


def test_class_aware_saved_maps_round_trip(duet_root, tmp_path):
    first = runner.evaluate_class_aware(
        duet_root, P.CLASS_AWARE_BASELINES["centre"](), save_maps=tmp_path, progress=False
    )
    names = json.loads((tmp_path / "classes.json").read_text())["classes"]
    assert names == ["drum", "flute", "violin"]
    assert (tmp_path / "d1_500.npy").is_file() and np.load(tmp_path / "d1_500.npy").shape[0] == 3
    again = runner.evaluate_class_aware(duet_root, P.SavedMaps(tmp_path), progress=False)
    assert again.metrics() == pytest.approx(first.metrics())
    # maps from another method saved as logits: NSA's absolute rule would score anything
    for path in tmp_path.glob("*.npy"):
        np.save(path, 8.0 * np.load(path) - 4.0)
    with pytest.raises(
        ValueError,
        match=r"maps:x returned class maps with values in .*the class-aware protocol needs maps in \[0, 1\]",
    ):
        runner.evaluate_class_aware(duet_root, P.SavedMaps(tmp_path, name="maps:x"), progress=False)


def test_class_aware_tau_override_renames_a_named_preset(duet_root):
    result = runner.evaluate_class_aware(
        duet_root,
        P.ClassOracle(),
        PROTOCOLS["music-duet"],  # type: ignore[arg-type]
        tau=0.5,
        limit=1,
        progress=False,
    )
    assert result.protocol.name == "music-duet-tau0.5" and result.protocol.rule.tau == 0.5
    assert result.to_json()["limit"] == 1


def test_class_aware_needs_clips_to_match(duet_root):
    from avloc.data.manifest import read_manifest

    one = write_manifest(read_manifest(duet_root)[:1], duet_root / "one_clip.jsonl")
    with pytest.raises(ValueError, match="too few"):
        runner.evaluate_class_aware(one, P.ClassOracle(), progress=False)
    solo = dataclasses.replace(PROTOCOLS["music-solo"], match_fraction=0.0)
    assert isinstance(solo, ClassAwareProtocol)
    result = runner.evaluate_class_aware(one, P.ClassOracle(), solo, progress=False)
    assert result.num_eval_clips == 1 and result.protocol.rule.tau == 0.1


# ----------------------------------------------------------------------------- separation


def test_separation_baselines(solo_root):
    preset = dataclasses.replace(PROTOCOLS["separation"], num_mixtures=2, backend="fast")
    assert not isinstance(preset, ClassAwareProtocol)
    mixture = runner.evaluate_separation(solo_root, P.MixtureSeparator(), preset, progress=False)  # type: ignore[arg-type]
    assert len(mixture.mixtures) == 2 and mixture.window_s == 1.0
    for m in mixture.mixtures:
        assert len(set(m.classes)) == 2  # pairs of different classes
    assert mixture.metrics()["nsdr"] == pytest.approx(0.0, abs=1e-6)
    ibm = runner.evaluate_separation(
        solo_root, P.OracleMaskSeparator("ibm"), preset, progress=False
    )  # type: ignore[arg-type]
    assert [m.id for m in ibm.mixtures] == [m.id for m in mixture.mixtures]  # seeded draws
    assert ibm.metrics()["sdr"] > mixture.metrics()["sdr"] + 5  # type: ignore[operator]


def test_separation_window_is_sound_of_pixels_clip_length():
    # SoP scores 65,535-sample clips at 11,025 Hz: clips longer than that are cut to exactly it
    preset = PROTOCOLS["separation"]
    assert isinstance(preset, SeparationProtocol)
    clips = [
        SceneClip(Path("a.mp4"), 10.0, 8.0, SR, ()),
        SceneClip(Path("b.mp4"), 7.5, 8.0, SR, ()),
    ]
    window = separation_window_s(clips, preset.window_s, preset.max_window_s)
    assert round(window * preset.sample_rate) == 65535


def test_separation_never_draws_a_mixture_twice(solo_root):
    # violin, drum, flute, violin: 5 different-class pairs; asking for 256 gives those 5 once
    preset = dataclasses.replace(PROTOCOLS["separation"], backend="fast")
    result = runner.evaluate_separation(solo_root, P.MixtureSeparator(), preset, progress=False)  # type: ignore[arg-type]
    pairs = [frozenset(m.id.split("+")) for m in result.mixtures]
    assert len(pairs) == len(set(pairs)) == 5
    assert all(len(set(m.classes)) == 2 for m in result.mixtures)

    assert count_mixtures(["a", "b", "a", "c"], 2) == 5
    assert count_mixtures(["a", "b", "a", "c"], 3) == 2
    clips = solo_clips(read_manifest(solo_root))[0] * 40  # 160 clips, 3 classes
    draws = draw_pairs(clips, 1000, 2, seed=3)
    assert len(draws) == len({frozenset(d) for d in draws}) == 1000
    assert draws == draw_pairs(clips, 1000, 2, seed=3)  # seeded


@dataclasses.dataclass(frozen=True)
class SilentSeparator:
    name: str = "silent"
    num_frames: int = 2

    def separate(self, sample):
        assert [f.shape[0] for f in sample.frames] == [2, 2]
        return np.zeros_like(sample.references)


def test_separation_skips_silent_estimates(solo_root):
    preset = dataclasses.replace(PROTOCOLS["separation"], num_mixtures=2, backend="fast")
    result = runner.evaluate_separation(solo_root, SilentSeparator(), preset, progress=False)  # type: ignore[arg-type]
    record = result.to_json()
    assert record["num_skipped"] == 2 and record["num_mixtures"] == 0 and record["sdr"] is None


# ----------------------------------------------------------------------------- CLI


def test_cli_flickr_all_baselines_writes_json_and_plots(flickr_root, tmp_path, capsys):
    out = tmp_path / "res" / "flickr.json"
    status = _cli(["evaluate", "flickr", "--root", str(flickr_root), "--baseline", "all",
                   "--out", str(out), "--no-progress"])  # fmt: skip
    assert status == 0
    table = capsys.readouterr().out
    assert "| oracle | flickr | 3 |" in table and "| whole |" in table
    assert "95% bootstrap interval" in table and "| oracle | 100.0 [100.0, 100.0] |" in table
    record = json.loads(out.read_text())
    first = record["results"][0]
    for key in ("ciou50", "auc", "mean_ciou", "pointing", "num_samples", "missing_ids",
                "protocol", "avloc_version", "method", "model_sha256", "partial",
                "intervals"):  # fmt: skip
        assert key in first
    assert set(first["intervals"]) == {"level", "resamples", "seed", "ciou50", "auc",
                                       "mean_ciou", "pointing"}  # fmt: skip
    assert first["protocol"]["rule"]["top_fraction"] == 0.5 and first["partial"] is False
    assert (tmp_path / "res" / "flickr_success.png").stat().st_size > 1000


def test_cli_class_aware_maps_round_trip_and_plots(duet_root, tmp_path):
    maps = tmp_path / "maps"
    assert _cli(["evaluate", "class-aware", "--root", str(duet_root), "--baseline", "oracle",
                 "--save-maps", str(maps), "--no-progress"]) == 0  # fmt: skip
    out = tmp_path / "duet.json"
    assert _cli(["evaluate", "class-aware", "--root", str(duet_root), "--maps", str(maps),
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    record = json.loads(out.read_text())
    assert record["ciou30"] == pytest.approx(1.0, abs=0.03) and record["nsa"] == 1.0
    assert record["protocol"]["rule"]["tau"] == 0.2 and "violin" in record["per_class"]
    assert record["per_frame"][0]["pointing"] == 1.0 and record["intervals"]["nsa"] == [1.0, 1.0]
    assert (tmp_path / "duet_per_class.png").is_file()


def test_cli_separation_mixture(solo_root, tmp_path):
    out = tmp_path / "sep.json"
    assert _cli(["evaluate", "separation", "--root", str(solo_root), "--baseline", "mixture",
                 "--limit", "1", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    record = json.loads(out.read_text())
    assert record["num_mixtures"] == 1 and record["num_skipped"] == 0 and record["limit"] == 1
    from importlib.metadata import version

    assert record["scoring_libraries"]["mir_eval"] == version("mir_eval")
    assert record["protocol"]["backend"] == "mir_eval" and record["protocol"]["seed"] == 1234
    assert record["nsdr"] == pytest.approx(0.0, abs=1e-6)
    assert {"sdr", "sir", "sar", "si_sdr"} <= set(record)


def test_cli_interrupt_writes_partial_result(flickr_root, tmp_path, monkeypatch):
    calls = []

    def flaky(self, sample):
        calls.append(sample.id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return np.ones((4, 4))

    monkeypatch.setattr(P.WholeImage, "predict_map", flaky)
    out = tmp_path / "partial.json"
    status = _cli(["evaluate", "flickr", "--root", str(flickr_root), "--baseline", "whole",
                   "--out", str(out), "--no-progress"])  # fmt: skip
    assert status == 130
    record = json.loads(out.read_text())
    assert record["partial"] is True and record["num_samples"] == 1


def test_cli_errors_are_clear(flickr_root, capsys):
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--baseline", "nope"]) == 2
    assert "unknown baseline 'nope'" in capsys.readouterr().err
    assert _cli(["evaluate", "separation", "--root", str(flickr_root), "--maps", "x"]) == 2
    assert "separation takes" in capsys.readouterr().err
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--limit", "0",
                 "--baseline", "whole"]) == 2  # fmt: skip
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                 "--map-halo", "1"]) == 2  # fmt: skip
    assert "--map-halo must be in [0, 1)" in capsys.readouterr().err
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                 "--map-offset", "nan"]) == 2  # fmt: skip
    assert "--map-offset must be a logit shift" in capsys.readouterr().err
    assert _cli(["evaluate", "class-aware", "--root", str(flickr_root), "--model",
                 "avloc-tiny-test", "--class-map-smoothing", "-1"]) == 2  # fmt: skip
    assert "--class-map-smoothing must be in [0, 10)" in capsys.readouterr().err


# ----------------------------------------------------------------------------- on avloc synth


def test_end_to_end_on_synth_sets(tmp_path):
    flickr = tmp_path / "flickr"
    assert _cli(["synth", str(flickr), "--scene", "solo", "--num-clips", "4", "--duration-s", "1",
                 "--size", "64", "--layout", "flickr"]) == 0  # fmt: skip
    out = tmp_path / "flickr.json"
    assert _cli(["evaluate", "flickr", "--root", str(flickr), "--test-list",
                 str(flickr / "flickr_test.csv"), "--baseline", "all", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    by_method = {r["method"]: r for r in json.loads(out.read_text())["results"]}
    assert by_method["oracle"]["num_samples"] == 4 and by_method["oracle"]["pointing"] == 1.0
    for name in ("random", "centre", "whole"):
        assert by_method["oracle"]["mean_ciou"] >= by_method[name]["mean_ciou"]
    duet = tmp_path / "duet"
    assert _cli(["synth", str(duet), "--scene", "duet", "--num-clips", "3", "--duration-s", "1",
                 "--size", "64"]) == 0  # fmt: skip
    out = tmp_path / "duet.json"
    assert _cli(["evaluate", "class-aware", "--root", str(duet), "--baseline", "all",
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    by_method = {r["method"]: r for r in json.loads(out.read_text())["results"]}
    assert by_method["oracle"]["protocol"]["rule"]["tau"] == 0.2
    assert by_method["oracle"]["ciou30"] == 1.0 and by_method["whole"]["nsa"] == 0.0


@dataclasses.dataclass(frozen=True)
class WrongShapeSeparator:
    name: str = "wrong"
    num_frames: int = 0

    def separate(self, sample):
        return sample.mixture[None]


def test_separation_rejects_wrong_estimate_shape(solo_root):
    preset = dataclasses.replace(PROTOCOLS["separation"], num_mixtures=1)
    with pytest.raises(ValueError, match=r"wrong returned estimates \(1, 11025\).*\(S, T\)"):
        runner.evaluate_separation(solo_root, WrongShapeSeparator(), preset, progress=False)  # type: ignore[arg-type]


def test_cli_model_on_every_protocol(flickr_root, duet_root, solo_root, tmp_path):
    from avloc.pretrained import resolve

    bundle = resolve("avloc-tiny-test")
    for protocol, root in (("flickr", flickr_root), ("class-aware", duet_root)):
        out = tmp_path / f"{protocol}.json"
        assert _cli(["evaluate", protocol, "--root", str(root), "--model", "avloc-tiny-test",
                     "--out", str(out), "--no-progress"]) == 0  # fmt: skip
        result = json.loads(out.read_text())
        assert result["method"] == "avloc-tiny-test" and result["partial"] is False
        assert result["model_sha256"] == bundle_sha256(bundle)
        assert 0.0 <= result["auc"] <= 1.0
    assert "matching" in json.dumps(result)  # pseudo-classes were matched to the vocabulary
    # one scale: the untrained model's 8x8 maps there are not flat enough for the halo to vanish
    runs = {}
    for name, flags in (("one", []), ("raw", ["--map-smoothing", "0"])):
        out = tmp_path / f"{name}.json"
        assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                     "--scales", "1", *flags, "--out", str(out), "--no-progress"]) == 0  # fmt: skip
        runs[name] = json.loads(out.read_text())
    assert runs["one"]["method"] == "avloc-tiny-test (scales 1)"
    assert runs["raw"]["method"] == "avloc-tiny-test (map smoothing 0) (scales 1)"
    assert runs["raw"]["per_image"] != runs["one"]["per_image"]  # the flag reaches the maps
    for scales, grid in (("1", 8), ("1,1.5", 12)):  # so does --scales: the maps' grid
        maps_dir = tmp_path / f"maps-{scales}"
        assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                     "--scales", scales, "--save-maps", str(maps_dir), "--out", str(out),
                     "--no-progress"]) == 0  # fmt: skip
        assert np.load(next(maps_dir.glob("*.npy"))).shape == (grid, grid)
    assert json.loads(out.read_text())["method"] == "avloc-tiny-test"  # 1,1.5: the default
    for bad in ("1,x", "0"):  # argparse: a clear message, exit status 2
        with pytest.raises(SystemExit):
            _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                  "--scales", bad])  # fmt: skip
    out = tmp_path / "raw-classes.json"
    assert _cli(["evaluate", "class-aware", "--root", str(duet_root), "--model", "avloc-tiny-test",
                 "--class-map-smoothing", "0", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["method"] == "avloc-tiny-test (class map smoothing 0)"
    halos = {}
    for halo in ("0.65", "0.95"):  # --map-halo / --class-map-halo reach the maps
        out = tmp_path / f"halo-{halo}.json"
        assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                     "--scales", "1", "--map-halo", halo, "--out", str(out),
                     "--no-progress"]) == 0  # fmt: skip
        halos[halo] = json.loads(out.read_text())
    assert halos["0.65"]["method"] == "avloc-tiny-test (map halo 0.65) (scales 1)"
    assert halos["0.65"]["per_image"] != halos["0.95"]["per_image"]
    out = tmp_path / "kernel.json"  # --map-kernel reaches the maps, and names the method
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                 "--scales", "1", "--map-kernel", "gaussian", "--map-halo", "0.65",
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    gaussian = json.loads(out.read_text())
    assert gaussian["method"] == "avloc-tiny-test (map halo 0.65) (map kernel gaussian) (scales 1)"
    assert gaussian["per_image"] != halos["0.65"]["per_image"]
    out = tmp_path / "offset.json"  # --map-offset reaches the maps, and names the method
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                 "--scales", "1", "--map-offset", "-4", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    offset = json.loads(out.read_text())
    assert offset["method"] == "avloc-tiny-test (map offset -4) (scales 1)"
    assert offset["per_image"] != runs["one"]["per_image"]
    # --image-audio-s names the method (its averaging: test_inference's analyze_image test)
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                 "--scales", "1", "--image-audio-s", "1", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["method"] == "avloc-tiny-test (scales 1) (image audio 1 s)"
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                 "--scales", "1", "--flip", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    flipped = json.loads(out.read_text())
    assert flipped["method"] == "avloc-tiny-test (scales 1) (flip)"
    assert flipped["per_image"] != runs["one"]["per_image"]
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                 "--image-audio-s", "0"]) == 2  # fmt: skip
    out = tmp_path / "unguided.json"  # --class-guidance reaches the maps, and names the method
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                 "--scales", "1", "--class-guidance", "0", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    unguided = json.loads(out.read_text())
    assert unguided["method"] == "avloc-tiny-test (scales 1) (class guidance 0)"
    assert unguided["per_image"] != runs["one"]["per_image"]
    for bad in ("1.5", "nan"):
        assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model",
                     "avloc-tiny-test", "--class-guidance", bad]) == 2  # fmt: skip
    assert _cli(["evaluate", "class-aware", "--root", str(duet_root), "--model", "avloc-tiny-test",
                 "--class-map-halo", "0.5", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["method"] == "avloc-tiny-test (class map halo 0.5)"
    assert _cli(["evaluate", "class-aware", "--root", str(duet_root), "--model", "avloc-tiny-test",
                 "--class-map-offset", "0", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["method"] == "avloc-tiny-test (class map offset 0)"
    out = tmp_path / "sep.json"
    assert _cli(["evaluate", "separation", "--root", str(solo_root), "--model", str(bundle),
                 "--limit", "2", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    assert result["num_mixtures"] + result["num_skipped"] == 2
    assert result["model_sha256"] == bundle_sha256(bundle)
    assert _cli(["evaluate", "separation", "--root", str(solo_root), "--model", "avloc-tiny-test",
                 "--mask-rule", "share", "--limit", "2", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["method"] == "avloc-tiny-test (share masks)"
    assert _cli(["evaluate", "separation", "--root", str(solo_root), "--model", "avloc-tiny-test",
                 "--source-map-offset", "-2", "--limit", "1", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["method"] == "avloc-tiny-test (source map offset -2)"
    assert _cli(["evaluate", "separation", "--root", str(solo_root), "--model", "avloc-tiny-test",
                 "--no-refine-sources", "--limit", "1", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["method"] == "avloc-tiny-test (one look)"
    # the class maps shown do not find the sources: separation does not depend on their offset
    assert _cli(["evaluate", "separation", "--root", str(solo_root), "--model", "avloc-tiny-test",
                 "--class-map-offset", "0", "--limit", "1", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["method"] == "avloc-tiny-test"
    assert _cli(["evaluate", "separation", "--root", str(solo_root), "--model", "avloc-tiny-test",
                 "--source-map-offset", "nan", "--limit", "1", "--no-progress"]) == 2  # fmt: skip
    assert _cli(["evaluate", "separation", "--root", str(solo_root), "--model", "avloc-tiny-test",
                 "--alone", "--limit", "1", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["method"] == "avloc-tiny-test (alone)"
    for wrong in (
        ["--model", "avloc-tiny-test", "--mask-rule", "share"],
        ["--baseline", "mixture"],
    ):
        assert _cli(["evaluate", "separation", "--root", str(solo_root), *wrong, "--alone",
                     "--no-progress"]) == 2  # fmt: skip
    assert _cli(["evaluate", "flickr", "--root", str(flickr_root), "--model", "avloc-tiny-test",
                 "--alone"]) == 2  # fmt: skip


def test_model_separator_returns_one_estimate_per_source(solo_root):
    from avloc.evaluation.model_predictors import model_predictor

    separator = model_predictor("avloc-tiny-test", "separation")
    preset = dataclasses.replace(PROTOCOLS["separation"], num_mixtures=1)
    result = runner.evaluate_separation(solo_root, separator, preset, progress=False)  # type: ignore[arg-type]
    assert len(result.mixtures) == 1


def test_model_separator_alone_hears_each_source_with_its_own_vector_only(solo_root):
    from avloc.evaluation.model_predictors import ModelSeparator, model_predictor
    from avloc.sources import resample_audio

    separator = model_predictor("avloc-tiny-test", "separation", alone=True)
    assert isinstance(separator, ModelSeparator) and separator.alone
    usable, _ = solo_clips(read_manifest(solo_root))
    sample = separation_sample(usable[:2], 1.0, 11025, separator.num_frames)
    pipeline = separator.pipeline
    mixture = resample_audio(sample.mixture, sample.sample_rate, pipeline.sample_rate)
    vectors = pipeline.source_vectors(sample.frames, mixture)
    estimates = separator.separate(sample)
    for i in range(2):
        (alone,) = pipeline.separate_mixture(mixture, vectors[i : i + 1])
        expected = resample_audio(alone, pipeline.sample_rate, sample.sample_rate)
        np.testing.assert_allclose(estimates[i], expected[: len(estimates[i])], atol=1e-6)
    # This model's binary masks are each their own already; softmax masks compete (the
    # bundled model: test_bundled_model.py)
    assert pipeline.model.separator.config.mask_mode == "binary"
    together = dataclasses.replace(separator, alone=False).separate(sample)
    np.testing.assert_allclose(together, estimates, atol=1e-6)


def test_model_predictor_rejects_unknown_kind():
    from avloc.evaluation.model_predictors import model_predictor

    with pytest.raises(ValueError, match="unknown predictor kind"):
        model_predictor("avloc-tiny-test", "detection")  # type: ignore[arg-type]


def test_vggss_end_to_end_reports_missing_and_unreadable_media(tmp_path):
    fixture = Path(__file__).parent / "fixtures" / "data" / "vggss"
    out = tmp_path / "vggss.json"
    assert _cli(["evaluate", "vggss", "--root", str(fixture / "media"), "--annotations",
                 str(fixture / "vggss.json"), "--baseline", "all", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    by_method = {r["method"]: r for r in json.loads(out.read_text())["results"]}
    oracle = by_method["oracle"]
    assert oracle["num_requested"] == 4 and oracle["num_samples"] == 1
    assert oracle["protocol"]["ground_truth"] == "union" and oracle["ciou50"] == 1.0
    reasons = {m["id"]: m["reason"] for m in oracle["missing_ids"]}
    assert set(reasons) == {"a_b-c1d2e3f_000100", "zzzzzzzzzzz_000005", "yyyyyyyyyyy_000010"}
    assert "no audio stream" in reasons["a_b-c1d2e3f_000100"]  # the clip is there, but silent
