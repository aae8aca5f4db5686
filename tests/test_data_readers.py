"""The dataset readers on tiny fixtures in the real on-disk formats (tests/fixtures/data)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from avloc.data.flickr import read_flickr, read_flickr_boxes, read_test_list
from avloc.data.folder import find_videos, index_files
from avloc.data.music import read_dsol_boxes, read_music, read_music_ids
from avloc.data.vggss import read_vggss

FIXTURES = Path(__file__).parent / "fixtures" / "data"
FLICKR = FIXTURES / "flickr"
VGGSS = FIXTURES / "vggss"
MUSIC = FIXTURES / "music"


# ---- Flickr-SoundNet -------------------------------------------------------------------------


def test_flickr_original_list_reads_nested_data_and_reports_missing() -> None:
    test_set = read_flickr(FLICKR, FLICKR / "test_list.txt")
    assert test_set.requested_ids == ("10000130166", "2432219254", "3908875357")
    assert test_set.ids == ("10000130166", "2432219254")
    first, second = test_set.samples
    assert first.image_path == FLICKR / "Data/part1/10000130166.jpg"
    assert second.audio_path == FLICKR / "Data/part2/deeper/2432219254.wav"
    assert first.boxes == ((10, 20, 200, 220), (0, 0, 128, 128), (50, 60, 256, 250))
    assert second.boxes == ((30, 40, 90, 100), (32, 44, 96, 110))
    (missing,) = test_set.missing_ids
    assert missing.id == "3908875357"
    assert "Annotations/3908875357.xml" in missing.reason
    assert "3908875357.jpg" in missing.reason and "3908875357.wav" in missing.reason


def test_flickr_csv_list_reports_the_missing_wav_only() -> None:
    test_set = read_flickr(FLICKR, FLICKR / "flickr_test.csv")
    assert test_set.requested_ids == ("10000130166", "2432219254", "4514436445")
    assert test_set.ids == ("10000130166", "2432219254")
    (missing,) = test_set.missing_ids
    assert missing.id == "4514436445"
    assert "wav" in missing.reason and "jpg" not in missing.reason and "xml" not in missing.reason


def test_flickr_without_list_takes_every_annotated_id() -> None:
    test_set = read_flickr(FLICKR)
    assert test_set.requested_ids == ("10000130166", "2432219254", "4514436445")
    assert [m.id for m in test_set.missing_ids] == ["4514436445"]


def test_flickr_malformed_xml_names_the_file(tmp_path: Path) -> None:
    root = tmp_path / "flickr"
    shutil.copytree(FLICKR, root)
    bad = root / "Annotations" / "2432219254.xml"
    bad.write_text("<annotation><object><bbox><xmin>1</xmin></object>")
    with pytest.raises(ValueError, match=r"2432219254\.xml"):
        read_flickr(root, root / "test_list.txt")
    bad.write_text(
        "<annotation><object><bbox><l/><a>1</a><b>x</b><c>3</c><d>4</d></bbox></object></annotation>"
    )
    with pytest.raises(ValueError, match=r"2432219254\.xml.*not a number"):
        read_flickr_boxes(bad)
    bad.write_text("<annotation><object/></annotation>")
    with pytest.raises(ValueError, match=r"2432219254\.xml.*no <bbox>"):
        read_flickr_boxes(bad)


def test_flickr_bad_root_and_empty_list(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Annotations"):
        read_flickr(tmp_path)
    empty = tmp_path / "list.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="names no id"):
        read_test_list(empty)


def test_flickr_list_strips_extensions_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("123.jpg\n456\n123\n")
    assert read_test_list(path) == ("123", "456")


# ---- VGG-SS ----------------------------------------------------------------------------------


def test_vggss_resolves_media_clips_boxes_and_reports_missing() -> None:
    test_set = read_vggss(VGGSS / "vggss.json", VGGSS / "media")
    assert len(test_set.requested_ids) == 4
    pair, video = test_set.samples
    assert pair.id == "-0OiLJ3u-5Q_000030"
    assert pair.class_name == "playing violin, fiddle"
    assert pair.image_path == VGGSS / "media/frames/-0OiLJ3u-5Q_000030.jpg"
    assert pair.audio_path == VGGSS / "media/audio/-0OiLJ3u-5Q_000030.wav"
    assert pair.video_path is None
    assert pair.boxes == ((0.1, 0.2, 0.5, 0.9), (0.0, 0.3, 1.0, 0.8))  # clipped to [0, 1]
    assert video.id == "a_b-c1d2e3f_000100"  # found under its <ytid>_<ms>_<ms> name
    assert video.video_path is not None and video.video_path.suffix == ".mp4"
    assert video.image_path is None
    missing = {m.id: m.reason for m in test_set.missing_ids}
    assert set(missing) == {"zzzzzzzzzzz_000005", "yyyyyyyyyyy_000010"}
    assert missing["yyyyyyyyyyy_000010"].startswith("only the image")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"file": "x"}', "JSON list"),
        ('[{"file": "x_000001"}]', "entry 0"),
        ('[{"file": "x_000001", "bbox": [[0, 0, 1]]}]', "four numbers"),
    ],
)
def test_vggss_malformed_json_names_the_file(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "vggss.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        read_vggss(path, VGGSS / "media")
    assert str(path) in str(info.value)


# ---- MUSIC and DSOL ------------------------------------------------------------------------


def test_music_ids_solo_and_duet() -> None:
    assert read_music_ids(MUSIC / "MUSIC_solo_videos.json") == {
        "violin": ("solo_vln_a", "solo_vln_b"),
        "cello": ("solo_vc_c",),
    }
    assert read_music_ids(MUSIC / "MUSIC_duet_videos.json") == {
        "acoustic_guitar violin": ("duet_gv_1", "duet_gv_2")
    }


def test_music_solo_finds_class_folder_and_flat_layouts() -> None:
    music = read_music(MUSIC / "MUSIC_solo_videos.json", MUSIC / "videos")
    found = {v.id: v for v in music.videos}
    assert set(found) == {"solo_vln_a", "solo_vc_c"}
    assert found["solo_vln_a"].path == MUSIC / "videos/violin/solo_vln_a.mp4"
    assert found["solo_vc_c"].path == MUSIC / "videos/solo_vc_c.mkv"
    assert found["solo_vc_c"].classes == ("cello",)
    assert music.missing == (("violin", "solo_vln_b"),)


def test_music_duet_splits_classes() -> None:
    music = read_music(MUSIC / "MUSIC_duet_videos.json", MUSIC / "videos")
    assert [v.id for v in music.videos] == ["duet_gv_1", "duet_gv_2"]
    assert all(v.classes == ("acoustic_guitar", "violin") for v in music.videos)
    assert music.videos[1].path.suffix == ".webm"
    assert music.missing == ()


def test_music_prefers_the_class_folder_copy(tmp_path: Path) -> None:
    (tmp_path / "cello").mkdir()
    (tmp_path / "violin").mkdir()
    for folder in ("cello", "violin"):
        shutil.copy(MUSIC / "videos/violin/solo_vln_a.mp4", tmp_path / folder / "shared.mp4")
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps({"videos": {"violin": ["shared"], "cello": ["shared"]}}))
    music = read_music(ids, tmp_path)
    assert [v.path.parent.name for v in music.videos] == ["violin", "cello"]


def test_music_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "MUSIC_solo_videos.json"
    path.write_text('{"violin": ["a"]}')
    with pytest.raises(ValueError, match=r"MUSIC_solo_videos\.json"):
        read_music_ids(path)
    path.write_text('{"videos": {"violin": "a"}}')
    with pytest.raises(ValueError, match="list of id strings"):
        read_music_ids(path)
    with pytest.raises(FileNotFoundError):
        read_music_ids(tmp_path / "absent.json")


def test_dsol_boxes_accept_the_wdith_typo_and_convert_to_corners() -> None:
    frames = read_dsol_boxes(MUSIC / "duettest.json")
    assert [(f.video_id, f.second, f.frame_name) for f in frames] == [
        ("Y0KMxyzAB1c", 1, "000004.jpg"),
        ("Y0KMxyzAB1c", 3, "000012.jpg"),
    ]
    spelled_right, typo = frames
    assert (typo.width, typo.height) == (256, 192)
    assert typo.boxes == ((9, (0.25, 0.25, 0.75, 0.75)), (4, (0.0, 0.0, 0.125, 0.125)))
    # No normbox: computed from the pixel box and clipped to the frame.
    ((category, box),) = spelled_right.boxes
    assert category == 2
    assert box == pytest.approx((0.75, 0.5, 1.0, 1.0))


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("nonsense.jpg", {"bbox": [], "wdith": 1, "height": 1}, 'not "<id>_0_1000'),
        ("v_0_1000/frame_1/a.jpg", {"bbox": [], "height": 1}, "wdith"),
        (
            "v_0_1000/frame_1/a.jpg",
            {"bbox": [{"normbox": [0, 0, 1, 1]}], "wdith": 2, "height": 2},
            "category_id",
        ),
    ],
)
def test_dsol_malformed(tmp_path: Path, key: str, value: dict, match: str) -> None:
    path = tmp_path / "solotest.json"
    path.write_text(json.dumps({key: value}))
    with pytest.raises(ValueError, match=match) as info:
        read_dsol_boxes(path)
    assert "solotest.json" in str(info.value)


# ---- plain folders ---------------------------------------------------------------------------


def test_find_videos_recursive_sorted_and_filtered() -> None:
    videos = find_videos(MUSIC / "videos")
    assert [p.relative_to(MUSIC / "videos").as_posix() for p in videos] == [
        "acoustic_guitar violin/duet_gv_1.mp4",
        "duet_gv_2.webm",
        "solo_vc_c.mkv",
        "violin/solo_vln_a.mp4",
    ]
    assert [p.name for p in find_videos(MUSIC / "videos", glob="*")] == [
        "duet_gv_2.webm",
        "solo_vc_c.mkv",
    ]
    assert [p.name for p in find_videos(MUSIC / "videos", extensions=("MP4",))] == [
        "duet_gv_1.mp4",
        "solo_vln_a.mp4",
    ]


def test_find_videos_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent"):
        find_videos(tmp_path / "absent")
    with pytest.raises(ValueError, match="extension"):
        find_videos(tmp_path, extensions=())


def test_index_files_first_in_sorted_walk_wins(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    for rel in ("b/x.jpg", "a/x.jpg", "a/y.wav", "a/z.txt"):
        (tmp_path / rel).write_bytes(b"")
    index = index_files(tmp_path, (".jpg", "wav"))
    assert index == {".jpg": {"x": tmp_path / "a/x.jpg"}, ".wav": {"y": tmp_path / "a/y.wav"}}


def test_read_json_names_the_file_and_the_problem(tmp_path: Path) -> None:
    from avloc.data.folder import read_json

    with pytest.raises(FileNotFoundError, match=r"MUSIC id list .* does not exist"):
        read_json(tmp_path / "missing.json", "MUSIC id list")
    path = tmp_path / "ids.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"ids\.json: expected a JSON object, got list"):
        read_json(path, "MUSIC id list")
    assert read_json(path, "list", list) == [1, 2]
