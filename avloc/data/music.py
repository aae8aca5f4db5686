"""MUSIC (Zhao et al. 2018) id lists and the DSOL (Hu et al. 2020) box annotations.

Id lists: ``{"videos": {"<class>": [youtube_id, ...]}}`` — MUSIC_solo_videos.json,
MUSIC21_solo_videos.json and MUSIC_duet_videos.json, whose keys are space-separated class
pairs such as ``"acoustic_guitar violin"``. Videos are fetched by users and many have vanished,
so :func:`read_music` reports the missing ones instead of failing.

DSOL boxes (``solotest.json``, ``duettest.json``): keys
``"<id>_0_1000/frame_<sec>/<frame>.jpg"``, values ``{"bbox": [{"box": [x, y, w, h],
"normbox": [x/W, y/H, w/W, h/H], "category_id": k}], "wdith": W, "height": H}`` — the
"wdith" typo is in the released files. See ``protocols.md`` §3 and §5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avloc.data.folder import MissingItem, find_videos, read_json

MUSIC_VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm")

# The 11 classes of MUSIC_solo_videos.json: the class-aware vocabulary of DSOL's evaluation
# (its NSA runs over every class map that is not sounding).
MUSIC_SOLO_CLASSES: tuple[str, ...] = (
    "accordion", "acoustic_guitar", "cello", "clarinet", "erhu", "flute", "saxophone",
    "trumpet", "tuba", "violin", "xylophone",
)  # fmt: skip

# The category ids of DSOL's solotest.json / duettest.json, as its evaluation reads them
# (``duetkeys`` in music-exp/eval_duet.py); the real-MUSIC boxes cover these 7 classes.
DSOL_CATEGORIES: dict[int, str] = {
    1: "cello", 3: "acoustic_guitar", 8: "saxophone", 10: "trumpet", 11: "violin",
    12: "flute", 13: "accordion",
}  # fmt: skip

NormBox = tuple[float, float, float, float]

_DSOL_KEY_RE = re.compile(r"^(?P<video>.+?)(?:_\d+_\d+)?/frame_(?P<sec>\d+)/(?P<frame>[^/]+)$")


@dataclass(frozen=True)
class MusicVideo:
    """One MUSIC video found on disk; ``classes`` has one name (solo) or two (duet)."""

    id: str
    classes: tuple[str, ...]
    path: Path


@dataclass(frozen=True)
class MusicSet:
    """The videos found, and the ``(class key, id)`` pairs the list names but the disk lacks."""

    videos: tuple[MusicVideo, ...]
    missing: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class DsolFrameBoxes:
    """The sounding objects' boxes on one annotated frame.

    ``boxes`` are ``(category_id, (x0, y0, x1, y1))`` with corners normalised to [0, 1].
    """

    video_id: str
    second: int
    frame_name: str
    width: int
    height: int
    boxes: tuple[tuple[int, NormBox], ...]

    @property
    def frame_index(self) -> int:
        """The frame's 0-based index in its video: DSOL's cut_videos.py names each kept frame
        by the count of frames decoded before it (``00411.jpg``)."""
        return int(Path(self.frame_name).stem)

    @property
    def key(self) -> str:
        """A file-name-safe id: ``<video>_frame_<sec>_<index>``."""
        return f"{self.video_id}_frame_{self.second:03d}_{self.frame_index:05d}"


def read_music_ids(json_path: str | Path) -> dict[str, tuple[str, ...]]:
    """The ``{class key: (youtube ids, ...)}`` of a MUSIC id list, in file order.

    Raises:
        FileNotFoundError: no file at ``json_path``.
        ValueError: the file is not ``{"videos": {"<class>": [ids]}}``; names the file.
    """
    path = Path(json_path)
    data = read_json(path, "MUSIC id list")
    videos = data.get("videos")
    if not isinstance(videos, dict):
        raise ValueError(f'{path}: expected {{"videos": {{"<class>": [youtube ids]}}}}')
    result: dict[str, tuple[str, ...]] = {}
    for key, ids in videos.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError(f"{path}: class {key!r} must map to a list of id strings")
        result[str(key)] = tuple(ids)
    return result


def _videos_by_id(video_root: str | Path) -> dict[str, list[Path]]:
    """Every MUSIC video under ``video_root`` (any depth), by its file name's stem: its id."""
    by_stem: dict[str, list[Path]] = {}
    for path in find_videos(video_root, extensions=MUSIC_VIDEO_EXTENSIONS):
        by_stem.setdefault(path.stem, []).append(path)
    return by_stem


def _pick_video(candidates: list[Path], key: str, classes: tuple[str, ...]) -> Path | None:
    """Prefer the copy in the class folder (an id may be listed under two classes)."""
    for path in candidates:
        if path.parent.name in (key, *classes):
            return path
    return candidates[0] if candidates else None


def read_music(json_path: str | Path, video_root: str | Path) -> MusicSet:
    """Find the videos of a MUSIC id list under ``video_root``.

    Videos are looked up as ``<class>/<id>.<ext>`` or flat ``<id>.<ext>`` at any depth, with
    ext one of .mp4/.mkv/.webm; the copy inside a folder named after the class wins.

    Raises:
        FileNotFoundError: the json or ``video_root`` is missing.
        ValueError: the json is malformed.
    """
    ids = read_music_ids(json_path)
    by_stem = _videos_by_id(video_root)
    videos: list[MusicVideo] = []
    missing: list[tuple[str, str]] = []
    for key, key_ids in ids.items():
        classes = tuple(key.split())
        for video_id in key_ids:
            found = _pick_video(by_stem.get(video_id, []), key, classes)
            if found is None:
                missing.append((key, video_id))
            else:
                videos.append(MusicVideo(video_id, classes, found))
    return MusicSet(tuple(videos), tuple(missing))


def _corners(entry: Any, width: int, height: int, where: str) -> tuple[int, NormBox]:
    """``normbox`` ``[x, y, w, h]`` (or pixel ``box`` / size) → clipped ``(x0, y0, x1, y1)``."""
    try:
        category = int(entry["category_id"])
        if "normbox" in entry:
            x, y, w, h = (float(v) for v in entry["normbox"])
        else:
            px, py, pw, ph = (float(v) for v in entry["box"])
            x, y, w, h = px / width, py / height, pw / width, ph / height
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
        raise ValueError(
            f"{where}: bad bbox entry {entry!r:.120} (need category_id and normbox [x, y, w, h] "
            f"or box [x, y, w, h] in pixels): {error!r}"
        ) from None

    def clip(v: float) -> float:
        return min(max(v, 0.0), 1.0)

    return category, (clip(x), clip(y), clip(x + w), clip(y + h))


def _parse_dsol_frame(key: str, value: Any, where: str) -> DsolFrameBoxes:
    match = _DSOL_KEY_RE.match(key)
    if match is None:
        raise ValueError(f'{where}: key {key!r} is not "<id>_0_1000/frame_<sec>/<frame>.jpg"')
    if not isinstance(value, dict) or not isinstance(value.get("bbox"), list):
        raise ValueError(f'{where}: value must be {{"bbox": [...], "wdith": W, "height": H}}')
    size: Any = value.get("width", value.get("wdith"))  # the released files spell it "wdith"
    try:
        width, height = int(size), int(value["height"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f'{where}: needs integer "wdith" (or "width") and "height"') from None
    boxes = tuple(_corners(entry, width, height, where) for entry in value["bbox"])
    return DsolFrameBoxes(
        video_id=match["video"],
        second=int(match["sec"]),
        frame_name=match["frame"],
        width=width,
        height=height,
        boxes=boxes,
    )


def read_dsol_boxes(json_path: str | Path) -> tuple[DsolFrameBoxes, ...]:
    """Read a DSOL box file (``solotest.json`` / ``duettest.json``).

    Returns:
        One entry per annotated frame, sorted by (video_id, second, frame_name).

    Raises:
        FileNotFoundError: no file at ``json_path``.
        ValueError: a key or value is malformed; the message names the file and the key.
    """
    path = Path(json_path)
    data = read_json(path, "DSOL box file")
    frames = [_parse_dsol_frame(key, value, f"{path} [{key!r}]") for key, value in data.items()]
    return tuple(sorted(frames, key=lambda f: (f.video_id, f.second, f.frame_name)))


@dataclass(frozen=True)
class DsolVideo:
    """A MUSIC video found on disk and its annotated frames that show a sounding object."""

    id: str
    path: Path
    frames: tuple[DsolFrameBoxes, ...]

    @property
    def clip_id(self) -> str:
        return self.id


@dataclass(frozen=True)
class DsolTestSet:
    """The videos of a DSOL box file found under a folder, and what could not be used."""

    videos: tuple[DsolVideo, ...]
    missing: tuple[MissingItem, ...]  # videos the folder lacks, with their frame counts
    num_frames: int  # annotated frames in the file
    num_empty_frames: int  # frames with no box: DSOL's evaluation skips them, and so does avloc


def read_dsol_test_set(json_path: str | Path, video_root: str | Path) -> DsolTestSet:
    """DSOL's real-MUSIC boxes (``solotest.json`` / ``duettest.json``) and their videos.

    A video is looked up as ``<id>.<ext>`` at any depth under ``video_root`` (ext one of
    .mp4/.mkv/.webm), ``<id>`` being the key's video id without DSOL's ``_0_1000`` suffix.

    Raises:
        FileNotFoundError: the json or ``video_root`` is missing.
        ValueError: the json is malformed, or names a category id outside
            :data:`DSOL_CATEGORIES`; the message names the file and the key.
    """
    path = Path(json_path)
    frames = read_dsol_boxes(path)
    for frame in frames:
        where = f"{path}: frame {frame.video_id}/frame_{frame.second}/{frame.frame_name}"
        if not Path(frame.frame_name).stem.isdigit():
            raise ValueError(
                f"{where}: the frame name must be its index in the video (e.g. 00411.jpg), "
                "which gives its time"
            )
        unknown = sorted({c for c, _ in frame.boxes} - DSOL_CATEGORIES.keys())
        if unknown:
            raise ValueError(
                f"{where} has category_id {unknown[0]}, which DSOL's evaluation does not map "
                f"to a class (known: {DSOL_CATEGORIES})"
            )
    by_stem = _videos_by_id(video_root)
    annotated: dict[str, list[DsolFrameBoxes]] = {}
    for frame in frames:
        if frame.boxes:
            annotated.setdefault(frame.video_id, []).append(frame)
    videos, missing = [], []
    for video_id, boxed in sorted(annotated.items()):
        found = next(iter(by_stem.get(video_id, [])), None)  # the first, as find_videos sorts
        if found is None:
            reason = f"no {video_id}.mp4/.mkv/.webm under {video_root} ({len(boxed)} frames)"
            missing.append(MissingItem(video_id, reason))
        else:
            videos.append(DsolVideo(video_id, found, tuple(boxed)))
    empty = sum(1 for frame in frames if not frame.boxes)
    return DsolTestSet(tuple(videos), tuple(missing), len(frames), empty)
