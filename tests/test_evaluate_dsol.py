"""Class-aware evaluation on real-MUSIC-style videos with DSOL's box files (protocols.md §3, §5).

The videos are tiny: a white square that moves to another quadrant every second, and a tone
that gets louder every second, so a frame placed at the wrong time or heard with the wrong
second's sound shows in the scores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from avloc.data.music import MUSIC_SOLO_CLASSES, read_dsol_test_set
from avloc.evaluation import runner
from avloc.evaluation.predictors import ClassMaps
from avloc.evaluation.samples import ClassAwareSample

FPS, SIDE, SR, SECONDS = 10, 64, 11025, 3
QUADRANTS = [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5)]  # the square's top-left corner in second s
CELLO, FLUTE = 1, 12  # DSOL's category ids


def _write_video(path: Path) -> None:
    from avloc.media import write_video

    frames = np.zeros((FPS * SECONDS, SIDE, SIDE, 3), np.uint8)
    audio = np.zeros(SR * SECONDS, np.float32)
    half = SIDE // 2
    for second, (x, y) in enumerate(QUADRANTS):
        x0, y0 = int(x * SIDE), int(y * SIDE)
        frames[second * FPS : (second + 1) * FPS, y0 : y0 + half, x0 : x0 + half] = 255
        t = np.arange(SR) / SR
        audio[second * SR : (second + 1) * SR] = 0.1 * (second + 1) * np.sin(2 * np.pi * 440 * t)
    write_video(path, frames, FPS, audio, SR)


def _entry(second: int, categories: tuple[int, ...]) -> dict:
    x, y = QUADRANTS[second]
    boxes = [{"normbox": [x, y, 0.5, 0.5], "category_id": c} for c in categories]
    return {"bbox": boxes, "wdith": SIDE, "height": SIDE}


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> tuple[Path, Path]:
    """Videos under nested folders, and a DSOL box file that also lists a video not here."""
    root = tmp_path_factory.mktemp("music")
    boxes: dict[str, dict] = {}
    for k, video_id in enumerate(("aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc", "ddddddddddd")):
        sub = root / "videos" / ("cello" if k % 2 else "")
        sub.mkdir(parents=True, exist_ok=True)
        _write_video(sub / f"{video_id}.mp4")
        for second in range(SECONDS):
            index = second * FPS + 5  # mid-second, named as DSOL's cut_videos.py names it
            categories = (CELLO, FLUTE) if (k, second) == (3, 2) else (CELLO,)
            boxes[f"{video_id}_0_1000/frame_{second:03d}/{index:05d}.jpg"] = _entry(
                second, categories
            )
        boxes[f"{video_id}_0_1000/frame_000/00001.jpg"] = {"bbox": [], "wdith": 64, "height": 64}
    boxes["zzzzzzzzzzz_0_1000/frame_004/00120.jpg"] = _entry(0, (CELLO,))
    path = root / "solotest.json"
    path.write_text(json.dumps(boxes))
    return path, root / "videos"


@dataclass
class Brightness:
    """Every class's map is the frame's brightness; records the loudness each frame hears."""

    name: str = "brightness"
    audio_window_s: float | None = 1.0
    sample_rate: int | None = SR
    heard: dict[str, float] = field(default_factory=dict)

    def predict_class_maps(self, sample: ClassAwareSample) -> ClassMaps:
        self.heard[sample.id] = float(np.abs(sample.audio).max())
        grey = sample.image.mean(axis=2) / 255.0
        return ClassMaps(np.stack([grey] * len(sample.vocabulary)), sample.vocabulary)


def test_reader_finds_videos_and_reports_the_missing(music):
    boxes, videos = music
    test_set = read_dsol_test_set(boxes, videos)
    assert [v.id for v in test_set.videos] == [
        "aaaaaaaaaaa",
        "bbbbbbbbbbb",
        "ccccccccccc",
        "ddddddddddd",
    ]
    assert [m.id for m in test_set.missing] == ["zzzzzzzzzzz"]
    assert test_set.num_frames == 17 and test_set.num_empty_frames == 4
    assert [f.frame_index for f in test_set.videos[0].frames] == [5, 15, 25]


def test_frames_are_placed_by_index_and_hear_their_second(music):
    boxes, videos = music
    predictor = Brightness()
    result = runner.evaluate_dsol(boxes, videos, predictor, progress=False)  # type: ignore[arg-type]
    assert result.protocol.name == "music-solo" and result.vocabulary == MUSIC_SOLO_CLASSES
    # the first video matches (held out); the other three are scored, 3 frames each
    assert result.num_match_clips == 1 and result.num_eval_clips == 3 and len(result.scores) == 9
    metrics = result.metrics()
    assert metrics["ciou30"] == 1.0 and metrics["pointing"] == 1.0
    # each frame hears its own second: the tone's amplitude is 0.1 · (second + 1)
    for frame_id, peak in predictor.heard.items():
        second = int(frame_id.split("_frame_")[1][:3])
        assert peak == pytest.approx(0.1 * (second + 1), abs=0.01), frame_id
    # the duet frame: flute and cello both sound there, in one box
    duet = next(s for s in result.scores if s.id == "ddddddddddd_frame_002_00025")
    assert set(duet.class_cious) == {"cello", "flute"}
    record = result.to_json()
    assert record["num_listed"] == 5 and [m["id"] for m in record["missing_ids"]] == ["zzzzzzzzzzz"]
    assert "17 annotated frames, 4 without a box skipped" in record["notes"][0]


def test_duet_file_picks_the_duet_preset_and_cli_runs_it(music, tmp_path, capsys):
    from avloc.cli import main

    boxes, videos = music
    duet = tmp_path / "duettest.json"
    duet.write_text(boxes.read_text())
    out = tmp_path / "duet.json"
    assert main(["evaluate", "music-duet", "--root", str(videos), "--boxes", str(duet),
                 "--baseline", "oracle", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    record = json.loads(out.read_text())
    assert record["protocol"]["name"] == "music-duet" and record["ciou30"] == 1.0
    assert record["nsa"] == 1.0  # the oracle's silent classes are all zero
    assert "1 of 5 clips missing or unreadable (ids: zzzzzzzzzzz)" in capsys.readouterr().err
    assert runner.evaluate_dsol(duet, videos, Brightness(), progress=False).protocol.name == (  # type: ignore[arg-type]
        "music-duet"
    )
    assert main(["evaluate", "music-synthetic", "--root", str(videos), "--boxes", str(duet),
                 "--baseline", "oracle"]) == 2  # fmt: skip
    assert "--boxes takes DSOL's real-MUSIC boxes" in capsys.readouterr().err


def test_bad_box_files_and_wrong_videos(music, tmp_path):
    boxes, videos = music
    data = json.loads(boxes.read_text())
    bad = tmp_path / "solotest.json"
    first = next(iter(data))
    bad.write_text(
        json.dumps({first: {**data[first], "bbox": [{"normbox": [0, 0, 1, 1], "category_id": 99}]}})
    )
    with pytest.raises(
        ValueError, match=r"solotest.json: frame aaaaaaaaaaa/frame_0/00005.jpg has category_id 99"
    ):
        read_dsol_test_set(bad, videos)
    bad.write_text(json.dumps({"aaaaaaaaaaa_0_1000/frame_000/first.jpg": data[first]}))
    with pytest.raises(ValueError, match="the frame name must be its index in the video"):
        read_dsol_test_set(bad, videos)
    # a frame far past a video's end: another version of the video; it is listed, not scored
    late = {**data, "ddddddddddd_0_1000/frame_010/00100.jpg": _entry(0, (CELLO,))}
    bad.write_text(json.dumps(late))
    result = runner.evaluate_dsol(bad, videos, Brightness(), progress=False)  # type: ignore[arg-type]
    reasons = {m.id: m.reason for m in result.missing}
    assert "past this video's end" in reasons["ddddddddddd"] and len(result.scores) == 6
