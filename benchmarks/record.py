"""A benchmark's JSON record, written as each row comes in, so that Ctrl-C keeps the rows done.

Until the run ends, the rows so far are in ``<stem>.partial.json`` beside the record: an
interrupted run keeps them there and leaves the last whole record as it was. A run that ends
moves the whole record into place and removes the partial one::

    with RowRecord(args.json, lambda rows: {"snr_db": 10, "rows": rows}) as record:
        for separator in separators:
            record.add(score(separator))

Ctrl-C inside the block ends the script with status 130 and one line saying where the rows are.
A record that cannot be written (its folder is a file, or read-only) ends the script with
status 2 on entering the block, before any work is done. With no path (a quick look that must
not replace the published figures), nothing is written.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from avloc.cli.localize import atomic_write_text


def _write(path: Path, value: Any) -> None:
    """``value`` as JSON at ``path``, never half-written."""
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


class RowRecord:
    """The rows of one benchmark run; ``shape(rows)`` is the JSON value written (the rows as
    they are by default)."""

    def __init__(
        self, path: Path | None, shape: Callable[[list[dict]], Any] = lambda rows: rows
    ) -> None:
        self.path = path
        self.shape = shape
        self.rows: list[dict] = []

    @property
    def partial(self) -> Path | None:
        """Where the rows go until the run ends."""
        return None if self.path is None else self.path.with_name(f"{self.path.stem}.partial.json")

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if self.partial is not None:
            _write(self.partial, self.shape(self.rows))

    def __enter__(self) -> RowRecord:
        if self.path is not None:
            self._check_writable(self.path)
        return self

    @staticmethod
    def _check_writable(path: Path) -> None:
        """Exit with status 2, saying why, unless a file can be written beside ``path``."""
        try:
            if path.is_dir():
                raise IsADirectoryError("it is a folder")
            existing = next(f for f in (path.parent, *path.parent.parents) if f.exists())
            if not existing.is_dir():
                raise NotADirectoryError(f"{existing} is a file, not a folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}."):
                pass
        except OSError as error:
            reason = error.strerror or str(error)
            print(f"cannot write the record {path}: {reason}", file=sys.stderr)
            raise SystemExit(2) from None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            if self.path is not None:
                _write(self.path, self.shape(self.rows))
                assert self.partial is not None
                self.partial.unlink(missing_ok=True)
            return
        if issubclass(kind, KeyboardInterrupt):
            print(f"interrupted: {self._what_is_kept()}", file=sys.stderr)
            raise SystemExit(130) from None

    def _what_is_kept(self) -> str:
        count = len(self.rows)
        if not count:
            return "no row had finished"
        done = f"{count} row{'s' * (count != 1)} finished"
        if self.partial is None:
            return f"{done} (printed above; no record was asked for)"
        return f"{done}, kept in {self.partial}; {self.path} left as it was"
