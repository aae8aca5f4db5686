"""Finding media files in folders: plain video folders for batch inference, and the
recursive by-name index the dataset readers use to locate files in nested downloads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".avi", ".mov")


@dataclass(frozen=True)
class MissingItem:
    """An item a list asked for that could not be used, and why."""

    id: str  # the id as the list spells it
    reason: str  # what is missing, e.g. "no audio <id>.wav under Data/"


def _normalise_extensions(extensions: Iterable[str]) -> tuple[str, ...]:
    exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    if not exts:
        raise ValueError("extensions must name at least one file extension, e.g. ('.mp4',)")
    return exts


def find_videos(
    root: str | Path,
    glob: str = "**/*",
    extensions: Iterable[str] = VIDEO_EXTENSIONS,
) -> list[Path]:
    """All video files under ``root`` (recursively with the default glob), sorted.

    Args:
        root: the folder to search.
        glob: a ``Path.glob`` pattern relative to ``root``; ``"*"`` keeps to the top level.
        extensions: the accepted file extensions, case-insensitive (``".mp4"`` or ``"mp4"``).

    Returns:
        The matching regular files, sorted by path.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is a file.
        ValueError: ``extensions`` is empty.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"video folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is a file, not a folder of videos")
    exts = _normalise_extensions(extensions)
    return sorted(p for p in root.glob(glob) if p.suffix.lower() in exts and p.is_file())


def index_files(root: str | Path, extensions: Iterable[str]) -> dict[str, dict[str, Path]]:
    """Index every file under ``root`` by extension, then by file stem, in one walk.

    Downloads of the published test sets nest files in arbitrary sub-folders, so readers look
    files up by name instead of by path. When a stem occurs twice with one extension, the first
    found in a sorted top-down walk wins (a folder's own files before its sub-folders'), so the
    result does not depend on the file system's listing order.

    Args:
        root: the folder to walk (symbolic links to folders are followed).
        extensions: the extensions to keep, e.g. ``(".jpg", ".wav")``.

    Returns:
        ``{".jpg": {"<stem>": path, ...}, ".wav": {...}}`` with one (possibly empty) entry
        per requested extension, keys lower-case.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"media folder {root} does not exist or is not a folder")
    exts = _normalise_extensions(extensions)
    index: dict[str, dict[str, Path]] = {ext: {} for ext in exts}
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symbolic link back up the tree
            dirs.clear()
            continue
        seen.add(real)
        dirs.sort()
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            table = index.get(ext.lower())
            if table is not None and stem not in table:
                table[stem] = Path(folder) / name
    return index


_JSON_KINDS: dict[type, str] = {dict: "object", list: "list"}


def read_json(path: str | Path, what: str, kind: type = dict, contents: str = "") -> Any:
    """A JSON file whose top level must be ``kind`` (``dict`` or ``list``).

    Args:
        path: the file.
        what: what the file is, for the missing-file message (e.g. "MUSIC id list").
        kind: the expected top-level type.
        contents: how to describe the expected value, e.g. "of annotations".

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not valid JSON, or not a ``kind`` (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg})") from error
    if not isinstance(data, kind):
        expected = " ".join(filter(None, ("a JSON", _JSON_KINDS[kind], contents)))
        raise ValueError(f"{path}: expected {expected}, got {type(data).__name__}")
    return data
