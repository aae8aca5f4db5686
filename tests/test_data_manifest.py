"""The scene manifest: round trips, path handling and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avloc.data.manifest import (
    MANIFEST_NAME,
    BoxAt,
    SceneClip,
    SceneObject,
    read_manifest,
    write_manifest,
)


def _clip(root: Path) -> SceneClip:
    track = (BoxAt(0.0, 0.1, 0.2, 0.5, 0.6), BoxAt(0.125, 0.2, 0.2, 0.6, 0.6))
    objects = (
        SceneObject("violin", True, root / "stems" / "a_0.wav", track),
        SceneObject("drum", False, None, track),
    )
    return SceneClip(root / "clips" / "a.mp4", 3.0, 8.0, 11025, objects, {"scene": "solo"})


def test_round_trip_with_absolute_paths(tmp_path: Path) -> None:
    clip = _clip(tmp_path)
    path = write_manifest([clip], tmp_path)
    assert path == tmp_path / MANIFEST_NAME
    line = json.loads(path.read_text())
    assert line["clip"] == "clips/a.mp4" and line["objects"][0]["stem"] == "stems/a_0.wav"
    (back,) = read_manifest(tmp_path)
    assert back == clip and back.extra == {"scene": "solo"}
    assert back.clip_id == "a" and [o.class_name for o in back.sounding] == ["violin"]


def test_paths_relative_to_the_working_directory_are_written_relative_to_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("runs") / "set"
    root.mkdir(parents=True)
    write_manifest([_clip(root)], root)
    line = json.loads((root / MANIFEST_NAME).read_text())
    assert line["clip"] == "clips/a.mp4"
    (back,) = read_manifest(root)
    assert back.clip == root / "clips" / "a.mp4"


def test_box_at_picks_the_nearest_row(tmp_path: Path) -> None:
    obj = _clip(tmp_path).objects[0]
    assert obj.box_at(0.1).t_s == 0.125 and obj.box_at(0.0).x0 == 0.1


def test_bad_manifests_name_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no scene manifest"):
        read_manifest(tmp_path)
    path = tmp_path / MANIFEST_NAME
    path.write_text('{"clip": "a.mp4"}\n')
    with pytest.raises(ValueError, match=rf"{MANIFEST_NAME}:1: missing key"):
        read_manifest(path)
    path.write_text("\n{not json\n")
    with pytest.raises(ValueError, match=rf"{MANIFEST_NAME}:2: not valid JSON"):
        read_manifest(path)
    bad_box = {"class": "violin", "sounding": True, "stem": None, "track": [[0, 0.5, 0, 0.2, 1]]}
    line = {"clip": "a.mp4", "duration_s": 1, "fps": 8, "sample_rate": 8000, "objects": [bad_box]}
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(ValueError, match=r"bad object.*x0 <= x1"):
        read_manifest(path)
