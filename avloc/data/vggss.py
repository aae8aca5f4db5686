"""The VGG-Sound Source (VGG-SS) localization test set (Chen et al. 2021).

``vggss.json`` is a list of ``{"file": "<ytid>_<start>", "class": ..., "bbox": [[xmin, ymin,
xmax, ymax], ...]}`` with coordinates normalised to [0, 1]. Media are fetched by users: either
a frame ``<file>.jpg`` with its audio ``<file>.wav``, or a video ``<file>.mp4``, anywhere under
the media folder. Some tools name files ``<ytid>_<start_ms>_<end_ms>`` (10-s clips), which is
accepted too. See ``protocols.md`` §2.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avloc._messages import abridged
from avloc.data.folder import VIDEO_EXTENSIONS, MissingItem, index_files, read_json

NormBox = tuple[float, float, float, float]

_FILE_RE = re.compile(r"^(?P<ytid>.+)_(?P<start>\d+)$")
_CLIP_S = 10  # VGGSound clips last 10 s


@dataclass(frozen=True)
class VggssSample:
    """One annotated VGG-SS clip and its media.

    ``boxes`` are normalised ``(x0, y0, x1, y1)`` clipped to [0, 1]. Either ``image_path`` and
    ``audio_path`` are set, or ``video_path`` is (the frame pair is preferred when both exist).
    """

    id: str
    class_name: str
    boxes: tuple[NormBox, ...]
    image_path: Path | None
    audio_path: Path | None
    video_path: Path | None


@dataclass(frozen=True)
class VggssTestSet:
    """The assembled samples, every id in the json, and the ids whose media are missing."""

    samples: tuple[VggssSample, ...]
    requested_ids: tuple[str, ...]
    missing_ids: tuple[MissingItem, ...]


def _aliases(file_id: str) -> tuple[str, ...]:
    """The names a clip's media may carry: as in the json, or ``<ytid>_<ms>_<ms>``."""
    match = _FILE_RE.match(file_id)
    if match is None:
        return (file_id,)
    start = int(match["start"])
    return (file_id, f"{match['ytid']}_{start * 1000}_{(start + _CLIP_S) * 1000}")


def _clip_box(raw: Any, where: str) -> NormBox:
    """A box clipped to [0, 1]. An inverted one (max below min) is kept as it is: like the
    published code's slicing, the ground truth then gets no pixel from it."""
    try:
        x0, y0, x1, y1 = (float(v) for v in raw)
    except (TypeError, ValueError):
        raise ValueError(
            f"{where}: bbox {raw!r} is not four numbers [xmin, ymin, xmax, ymax]"
        ) from None
    x0, y0, x1, y1 = (min(max(v, 0.0), 1.0) for v in (x0, y0, x1, y1))
    return (x0, y0, x1, y1)


def _warn_inverted(json_path: Path, inverted: list[str]) -> None:
    """One warning for the file's inverted boxes (most likely corners swapped by hand)."""
    if inverted:
        shown = abridged(inverted, sep="; ")
        warnings.warn(
            f"{json_path}: {len(inverted)} bbox(es) inverted (xmax < xmin or ymax < ymin; "
            f"expected [xmin, ymin, xmax, ymax]): {shown}; as in the published evaluation "
            "code, they cover no pixel",
            stacklevel=3,
        )


def _parse_entry(raw: Any, where: str) -> tuple[str, str, tuple[NormBox, ...]]:
    if not isinstance(raw, dict) or "file" not in raw or "bbox" not in raw:
        raise ValueError(f'{where}: expected {{"file", "class", "bbox"}}, got {raw!r:.120}')
    if not isinstance(raw["bbox"], list):
        raise ValueError(f"{where}: 'bbox' must be a list of boxes, got {raw['bbox']!r:.80}")
    boxes = tuple(_clip_box(box, f"{where} ({raw['file']})") for box in raw["bbox"])
    return str(raw["file"]), str(raw.get("class", "")), boxes


def _first(table: dict[str, Path], names: tuple[str, ...]) -> Path | None:
    return next((table[n] for n in names if n in table), None)


def read_vggss(json_path: str | Path, media_root: str | Path) -> VggssTestSet:
    """Read ``vggss.json`` and find each clip's media under ``media_root`` (recursively).

    Args:
        json_path: the VGG-SS annotation file.
        media_root: the folder holding ``<file>.jpg`` + ``<file>.wav`` or ``<file>.mp4``
            (any nesting; video extensions .mp4/.mkv/.webm/.avi/.mov are accepted).

    Returns:
        The test set; clips without usable media are listed in ``missing_ids`` with the reason.

    Raises:
        FileNotFoundError: the json or the media folder is missing.
        ValueError: the json is malformed; the message names the file and the entry.
    """
    json_path = Path(json_path)
    entries = read_json(json_path, "VGG-SS annotation file", list, "of annotations")
    media = index_files(media_root, (".jpg", ".wav", *VIDEO_EXTENSIONS))
    videos: dict[str, Path] = {}
    for ext in VIDEO_EXTENSIONS:
        for stem, path in media[ext].items():
            videos.setdefault(stem, path)
    samples, missing, requested, inverted = [], [], [], []
    for number, raw in enumerate(entries):
        file_id, class_name, boxes = _parse_entry(raw, f"{json_path} entry {number}")
        requested.append(file_id)
        inverted += [
            f"entry {number} ({file_id}): bbox {box}"
            for box in boxes
            if box[2] < box[0] or box[3] < box[1]
        ]
        names = _aliases(file_id)
        jpg, wav = _first(media[".jpg"], names), _first(media[".wav"], names)
        video = _first(videos, names)
        if jpg is not None and wav is not None:
            samples.append(VggssSample(file_id, class_name, boxes, jpg, wav, None))
        elif video is not None:
            samples.append(VggssSample(file_id, class_name, boxes, None, None, video))
        else:
            have = "only the image" if jpg else "only the audio" if wav else "no media"
            reason = f"{have}: need {file_id}.jpg and {file_id}.wav, or {file_id}.mp4"
            missing.append(MissingItem(file_id, f"{reason} under {media_root}"))
    _warn_inverted(json_path, inverted)
    return VggssTestSet(tuple(samples), tuple(requested), tuple(missing))
