"""The scene manifest: one JSON line per annotated clip.

``avloc synth`` writes it, ``avloc evaluate`` reads it for class-aware localization and
separation, and users write it for their own annotated clips. One line looks like::

    {"clip": "clips/000001.mp4", "duration_s": 3.0, "fps": 8.0, "sample_rate": 16000,
     "scene": "duet", "objects": [
        {"class": "violin", "sounding": true, "stem": "stems/000001_0.wav",
         "track": [[0.0, 0.10, 0.20, 0.45, 0.70], [0.125, 0.11, 0.20, 0.46, 0.70]]},
        {"class": "drum", "sounding": false, "stem": null, "track": [...]}]}

Paths are relative to the manifest's folder. A track row is ``[t_s, x0, y0, x1, y1]``: the
object's box at time ``t_s`` with coordinates normalised to [0, 1] of the frame's width/height.
Extra keys (such as ``scene``) are kept in ``SceneClip.extra``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.jsonl"


@dataclass(frozen=True)
class BoxAt:
    """An object's box at one time: normalised [0, 1] corners."""

    t_s: float
    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.x0 <= self.x1 <= 1.0 and 0.0 <= self.y0 <= self.y1 <= 1.0):
            raise ValueError(
                f"box {self.x0, self.y0, self.x1, self.y1} at t={self.t_s}s must satisfy "
                "0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1"
            )


@dataclass(frozen=True)
class SceneObject:
    """One visible object of a clip; ``stem`` is its own audio when it sounds."""

    class_name: str
    sounding: bool
    stem: Path | None
    track: tuple[BoxAt, ...]

    def box_at(self, t_s: float) -> BoxAt:
        """The track row nearest in time to ``t_s``."""
        if not self.track:
            raise ValueError(f"object {self.class_name!r} has an empty track")
        return min(self.track, key=lambda row: abs(row.t_s - t_s))


@dataclass(frozen=True)
class SceneClip:
    """One manifest line, with paths resolved against the manifest's folder."""

    clip: Path
    duration_s: float
    fps: float
    sample_rate: int
    objects: tuple[SceneObject, ...]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def clip_id(self) -> str:
        return self.clip.stem

    @property
    def sounding(self) -> tuple[SceneObject, ...]:
        return tuple(obj for obj in self.objects if obj.sounding)


def _parse_object(raw: dict[str, Any], root: Path, where: str) -> SceneObject:
    try:
        track = tuple(BoxAt(*map(float, row)) for row in raw["track"])
        stem = raw.get("stem")
        return SceneObject(
            class_name=str(raw["class"]),
            sounding=bool(raw["sounding"]),
            stem=(root / stem) if stem else None,
            track=track,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where}: bad object {raw!r}: {error}") from error


def parse_clip(raw: dict[str, Any], root: Path, where: str = "manifest") -> SceneClip:
    """Build a ``SceneClip`` from one decoded manifest line."""
    try:
        known = {"clip", "duration_s", "fps", "sample_rate", "objects"}
        return SceneClip(
            clip=root / raw["clip"],
            duration_s=float(raw["duration_s"]),
            fps=float(raw["fps"]),
            sample_rate=int(raw["sample_rate"]),
            objects=tuple(_parse_object(obj, root, where) for obj in raw["objects"]),
            extra={k: v for k, v in raw.items() if k not in known},
        )
    except KeyError as error:
        raise ValueError(f"{where}: missing key {error}") from error


def read_manifest(path: str | Path) -> list[SceneClip]:
    """Read a ``manifest.jsonl`` (or a folder holding one).

    Raises:
        FileNotFoundError: no manifest at ``path``.
        ValueError: a line is not valid JSON or misses a required key; names file and line.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no scene manifest at {path}")
    clips = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not valid JSON ({error.msg})") from error
        clips.append(parse_clip(raw, path.parent, where))
    return clips


def clip_to_json(clip: SceneClip, root: Path) -> dict[str, Any]:
    """The manifest line for ``clip`` with paths made relative to ``root``."""

    base = root.resolve()

    def rel(p: Path) -> str:
        # Paths under the manifest's folder (absolute, or relative to the working directory)
        # are written relative to it; anything else is kept as given.
        try:
            return p.resolve().relative_to(base).as_posix()
        except ValueError:
            return p.as_posix()

    return {
        "clip": rel(clip.clip),
        "duration_s": clip.duration_s,
        "fps": clip.fps,
        "sample_rate": clip.sample_rate,
        **clip.extra,
        "objects": [
            {
                "class": obj.class_name,
                "sounding": obj.sounding,
                "stem": rel(obj.stem) if obj.stem else None,
                "track": [[r.t_s, r.x0, r.y0, r.x1, r.y1] for r in obj.track],
            }
            for obj in clip.objects
        ],
    }


def write_manifest(clips: Iterable[SceneClip], path: str | Path) -> Path:
    """Write ``clips`` as ``manifest.jsonl`` (atomically) with paths relative to its folder."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    tmp = path.with_suffix(".jsonl.partial")
    lines: Sequence[str] = [json.dumps(clip_to_json(c, path.parent)) for c in clips]
    tmp.write_text("".join(line + "\n" for line in lines))
    tmp.replace(path)
    return path
