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

from avloc.data.folder import find_videos, read_json

MUSIC_VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm")

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
    by_stem: dict[str, list[Path]] = {}
    for path in find_videos(video_root, extensions=MUSIC_VIDEO_EXTENSIONS):
        by_stem.setdefault(path.stem, []).append(path)
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
