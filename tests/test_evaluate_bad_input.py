"""``avloc evaluate`` / ``avloc compare`` on bad input: one-line errors naming the file, checked
before any work, and nothing already scored is lost (unreadable items are skipped and reported)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from avloc.data.manifest import read_manifest, write_manifest
from avloc.evaluation import predictors as P
from avloc.evaluation import runner
from tests import test_evaluation
from tests.test_evaluation import _cli, _xml

# The tiny test sets of test_evaluation, built once for this module too.
flickr_root = test_evaluation.flickr_root
duet_root = test_evaluation.duet_root
solo_root = test_evaluation.solo_root


def _flickr(root: Path, **options: str) -> list[str]:
    """``avloc evaluate flickr`` argv: ``out="x"`` becomes ``--out x``."""
    flags = [x for key, value in options.items() for x in (f"--{key.replace('_', '-')}", value)]
    return ["evaluate", "flickr", "--root", str(root), *flags, "--no-progress"]


@pytest.fixture
def predicted(monkeypatch) -> list[str]:
    """The ids WholeImage was asked to predict: empty when a run fails before any work."""
    calls: list[str] = []

    def predict_map(self, sample):
        calls.append(sample.id)
        return np.ones((4, 4))

    monkeypatch.setattr(P.WholeImage, "predict_map", predict_map)
    return calls


# ----------------------------------------------------------------------------- interrupts


def test_cli_interrupt_inside_mir_eval_writes_partial_result(solo_root, tmp_path, monkeypatch):
    # mir_eval 0.8.2 guards np.linalg.solve with `except np.linalg.linalg.LinAlgError`, which
    # NumPy 2.4 lacks: a Ctrl-C there turned into AttributeError and no result was written.
    separated: list[str] = []
    solve = np.linalg.solve

    def separate(self, sample):
        separated.append(sample.id)
        return np.repeat(sample.mixture[None], len(sample.classes), axis=0)

    def solve_until_second_mixture(*args, **kwargs):
        if len(separated) == 2:
            raise KeyboardInterrupt
        return solve(*args, **kwargs)

    monkeypatch.setattr(P.MixtureSeparator, "separate", separate)
    monkeypatch.setattr(np.linalg, "solve", solve_until_second_mixture)
    out = tmp_path / "sep.json"
    status = _cli(["evaluate", "separation", "--root", str(solo_root), "--baseline", "mixture",
                   "--limit", "2", "--out", str(out), "--no-progress"])  # fmt: skip
    assert status == 130
    record = json.loads(out.read_text())
    assert record["partial"] is True and record["protocol"]["backend"] == "mir_eval"
    assert record["num_drawn"] == 1 and record["num_mixtures"] == 1


# ----------------------------------------------------------------------------- class-aware


def test_class_aware_skips_unreadable_clips_and_reports_them(duet_root, tmp_path, capsys):
    from avloc.media import write_video

    clips = read_manifest(duet_root)  # d0 is the matching split, d1..d4 are scored
    corrupt = tmp_path / "d1.mp4"  # the first scored clip: the name probe must skip it too
    corrupt.write_text("not a video")
    silent = write_video(tmp_path / "d3.mp4", np.zeros((8, 32, 32, 3), np.uint8), 8)  # no audio
    clips[1] = dataclasses.replace(clips[1], clip=corrupt)
    clips[3] = dataclasses.replace(clips[3], clip=silent)
    manifest = write_manifest(clips, tmp_path / "manifest.jsonl")
    out = tmp_path / "duet.json"
    assert _cli(["evaluate", "class-aware", "--root", str(manifest), "--baseline", "oracle",
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    record = json.loads(out.read_text())
    assert record["num_samples"] == 2 and record["ciou30"] == pytest.approx(1.0, abs=0.03)
    reasons = {m["id"]: m["reason"] for m in record["missing_ids"]}
    assert set(reasons) == {"d1", "d3"}
    assert "d1.mp4" in reasons["d1"] and "no audio stream" in reasons["d3"]
    err = capsys.readouterr().err
    assert "warning: 2 of 5 clips missing or unreadable (ids: d1, d3)" in err
    assert f"see missing_ids in {out}" in err


def test_class_aware_with_no_readable_clip_is_an_error(duet_root, tmp_path, capsys):
    clips = [dataclasses.replace(c, clip=tmp_path / c.clip.name) for c in read_manifest(duet_root)]
    for clip in clips:
        clip.clip.write_text("not a video")
    manifest = write_manifest(clips, tmp_path / "manifest.jsonl")
    assert _cli(["evaluate", "class-aware", "--root", str(manifest), "--baseline", "oracle",
                 "--no-progress"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert "none of the 5 clips of the manifest could be read" in err and "d1.mp4" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


# ----------------------------------------------------------------------------- output paths


def test_unwritable_outputs_fail_before_any_work(flickr_root, tmp_path, capsys, predicted):
    afile = tmp_path / "afile"
    afile.write_text("in the way")
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = {
        "--out": (afile / "r.json", f"cannot create the folder {afile}: {afile} is a file"),
        "--save-maps": (afile, f"--save-maps {afile} is a file"),
    }
    for flag, (path, message) in cases.items():
        argv = _flickr(flickr_root, baseline="whole")
        assert _cli([*argv, flag, str(path)]) == 2
        assert message in capsys.readouterr().err
    assert _cli([*_flickr(flickr_root, baseline="whole"), "--out", str(folder)]) == 2
    assert f"--out {folder} is a folder" in capsys.readouterr().err
    deep = afile / "sub" / "maps"
    assert _cli([*_flickr(flickr_root, baseline="whole"), "--save-maps", str(deep)]) == 2
    assert f"{afile} is a file" in capsys.readouterr().err
    assert predicted == []  # nothing was evaluated
    out = tmp_path / "new" / "dir" / "r.json"  # folders that do not exist yet are fine
    assert _cli([*_flickr(flickr_root, baseline="whole"), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["num_samples"] == 3


# ----------------------------------------------------------------------------- silent loss


def test_flickr_missing_items_warn_on_stderr(flickr_root, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert _cli(_flickr(flickr_root, baseline="all", out=str(out))) == 0
    err = capsys.readouterr().err
    # once for the four baselines, which share the test set
    assert err.count("warning:") == 1
    assert (
        f"warning: 1 of 4 items missing or unreadable (ids: 1004); see missing_ids in {out}" in err
    )


def test_flickr_with_nothing_to_score_is_an_error(tmp_path, capsys):
    from avloc.media import write_image

    empty = tmp_path / "empty"
    (empty / "Annotations").mkdir(parents=True)
    (empty / "Data").mkdir()
    assert _cli(_flickr(empty, baseline="whole")) == 2
    err = capsys.readouterr().err
    assert f"{empty}: no Flickr-SoundNet sample to score: Annotations/ holds no <id>.xml" in err
    # every item present but unreadable: scored nothing, so an error rather than empty metrics
    unreadable = tmp_path / "unreadable"
    (unreadable / "Annotations").mkdir(parents=True)
    (unreadable / "Data").mkdir()
    (unreadable / "Annotations" / "7.xml").write_text(_xml([(0, 0, 128, 128)]))
    write_image(unreadable / "Data" / "7.jpg", np.zeros((8, 8, 3), np.uint8))
    (unreadable / "Data" / "7.wav").write_text("not audio")
    assert _cli(_flickr(unreadable, baseline="whole")) == 2
    err = capsys.readouterr().err
    assert f"{unreadable}: nothing could be scored: 1 of 1 items missing or unreadable" in err
    assert "7.wav" in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- messages


def test_bad_saved_maps_name_the_file(flickr_root, tmp_path, capsys):
    maps = tmp_path / "maps"
    maps.mkdir()
    for bad, message in (
        (np.full((4, 4), np.nan), "1001.npy: the map holds NaN or infinite values"),
        ("not an array\n1 2 3\n", "1001.npy: not a numeric .npy array"),
        (b"", "1001.npy: not a numeric .npy array"),
        (np.array(["a", "b"]), "1001.npy: not a numeric .npy array"),
    ):
        path = maps / "1001.npy"
        if isinstance(bad, np.ndarray):
            np.save(path, bad)
        elif isinstance(bad, bytes):
            path.write_bytes(bad)
        else:
            path.write_text(bad)
        assert _cli(_flickr(flickr_root, maps=str(maps))) == 2
        err = capsys.readouterr().err
        assert message in err and "pickle" not in err and len(err.strip().splitlines()) == 1


def test_vggss_boxes_that_cover_no_pixel_are_named_and_scored_as_published(tmp_path):
    # the published code slices the map with the box: an inverted or sub-pixel box gives an
    # empty ground truth, scored cIoU 0; dropping the entry would raise AP50 above the paper's
    fixture = Path(__file__).parent / "fixtures" / "data" / "vggss"
    entries = json.loads((fixture / "vggss.json").read_text())
    entries[0]["bbox"] = [[0.5, 0.2, 0.1, 0.9]]  # xmax < xmin
    annotations = tmp_path / "vggss.json"
    annotations.write_text(json.dumps(entries))
    out = tmp_path / "result.json"
    argv = ["evaluate", "vggss", "--root", str(fixture / "media"), "--annotations",
            str(annotations), "--baseline", "whole", "--out", str(out), "--no-progress"]  # fmt: skip
    with pytest.warns(UserWarning) as caught:
        assert _cli(argv) == 0
    inverted, empty = (str(w.message) for w in caught)
    assert f"{annotations}: 1 bbox(es) inverted" in inverted
    assert "entry 0 (-0OiLJ3u-5Q_000030)" in inverted
    assert "1 of 2 items have boxes that cover no pixel" in empty
    assert f"{annotations}: entry '-0OiLJ3u-5Q_000030': boxes" in empty
    record = json.loads(out.read_text())
    assert record["empty_ground_truth_ids"] == ["-0OiLJ3u-5Q_000030"]
    scored = {item["id"]: item for item in record["per_image"]}
    assert scored["-0OiLJ3u-5Q_000030"]["ciou"] == 0.0
    assert scored["-0OiLJ3u-5Q_000030"]["pointing"] is False
    entries[0]["bbox"] = [[0.5, 0.2, 0.501, 0.9]]  # not inverted, but thinner than a pixel
    annotations.write_text(json.dumps(entries))
    with pytest.warns(UserWarning) as caught:
        assert _cli(argv) == 0
    (empty,) = (str(w.message) for w in caught)
    assert "1 of 2 items have boxes that cover no pixel" in empty
    media = tmp_path / "media"
    media.mkdir()
    with pytest.raises(ValueError, match=f"{media}: no VGG-SS clip to score: none of the 4"):
        runner.evaluate_vggss(annotations, media, P.WholeImage(), progress=False)


def test_compare_names_a_folder_given_as_a_result(tmp_path, capsys):
    assert _cli(["compare", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} is a folder; expected a result JSON file" in err
