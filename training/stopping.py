"""Stopping a run cleanly on Ctrl-C (SIGINT) or SIGTERM.

A signal that lands mid-step can leave the weights updated but the step uncounted, or cut a
checkpoint write short; one that lands while DataLoader workers fork can even be swallowed.
So during training the signals only *ask* to stop (:class:`StopRequests`), and the loop stops
at the next step boundary, where the state is whole; a second signal, once a moment has passed
(an impatient double press is not a decision to lose work), stops at once. Writes
that must not be cut short run under :func:`deferred_signals`, which holds a signal until the
write is done and then delivers it.

Python delivers signals to the main thread only, so off it both are no-ops.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopNow(KeyboardInterrupt):
    """A second signal: stop at once, mid-step, without writing a checkpoint."""


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class StopRequests:
    """While active, the first SIGINT or SIGTERM sets :attr:`requested` (the loop polls it at
    step boundaries); one more, ``patience_s`` or later after it, raises :class:`StopNow`.

    Args:
        enabled: off, the signals keep their handlers (DDP: each process would stop at its own
            step and leave the others waiting in a collective).
    """

    def __init__(self, enabled: bool = True, patience_s: float = 2.0) -> None:
        self.enabled = enabled and _on_main_thread()
        self.patience_s = patience_s
        self.requested = False
        self._first = 0.0
        self._pid = os.getpid()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if self.enabled:
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:  # a DataLoader worker forked before it could ignore it
            return
        if self.requested:
            if time.monotonic() - self._first >= self.patience_s:
                raise StopNow
            return
        self.requested, self._first = True, time.monotonic()
        print(
            "\ntraining: stopping after this step to save it (if it hangs, Ctrl-C again stops "
            "at once, losing the steps since the last checkpoint)",
            file=sys.stderr,
        )


def ignore_stop_signals(worker_id: int = 0) -> None:
    """A DataLoader worker's ``worker_init_fn``: the terminal's Ctrl-C reaches the whole
    process group, and only the main process decides when to stop (workers end with it)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


@contextmanager
def deferred_signals(deliver: bool = True) -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them to the handlers that
    were in place (so a checkpoint or log write is never left half done); ``deliver=False``
    drops them (the last save of a run already stopping: more presses change nothing)."""
    if not _on_main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, f: received.append(s)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for sig in dict.fromkeys(received) if deliver else ():  # each once, in the order it came
        handler = previous[sig]
        if callable(handler):
            handler(sig, None)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(sig)
