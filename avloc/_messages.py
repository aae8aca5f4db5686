"""Helpers for the wording of avloc's errors and warnings."""

from __future__ import annotations

from collections.abc import Sequence


def abridged(items: Sequence[str], limit: int = 3, sep: str = ", ") -> str:
    """The first ``limit`` items joined by ``sep``, then `` …`` if there are more: a warning
    names a few examples of a long list rather than all of it."""
    return sep.join(items[:limit]) + (" …" if len(items) > limit else "")
