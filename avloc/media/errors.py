"""The typed errors of :mod:`avloc.media`: every unusable media file raises a :class:`MediaError`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class MediaError(ValueError):
    """A media file that cannot be used; ``str(err) == f"{path}: {problem}"``.

    Attributes:
        path: the offending file.
        problem: what is wrong with it, in words.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.problem))


class NoVideoStreamError(MediaError):
    """The file has no (decodable picture) video stream."""


class NoAudioStreamError(MediaError):
    """The file has no audio stream."""


class EmptyMediaError(MediaError):
    """The file is zero bytes long or its stream holds no frames/samples."""


class CorruptMediaError(MediaError):
    """The file is not valid media, or is damaged or truncated."""


class UnsupportedCodecError(MediaError):
    """The stream's codec cannot be decoded by this FFmpeg build."""


class MediaTooLargeError(MediaError):
    """The file exceeds :data:`MAX_SIDE_PX` pixels a side or :data:`MAX_DURATION_S` seconds."""
