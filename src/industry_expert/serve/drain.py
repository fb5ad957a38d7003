"""A graceful stop: on SIGTERM (or SIGINT) uvicorn stops accepting and gives in-flight requests
``serve.grace_s`` before it cancels them. A stream cancelled that way would end without a word and
be logged 200; instead, a little before the limit, every generation still running or waiting ends
itself with an error event (503 ``shutting_down``), which the request log records."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Drain:
    """When the server was told to stop, and until when generations may go on."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.deadline: float | None = None  # time.monotonic() by which generations must end

    def begin(self) -> None:
        """The stop signal arrived: generations end before uvicorn's grace period does."""
        if self.deadline is None:
            margin = min(1.0, self.grace_s / 2)
            self.deadline = time.monotonic() + max(0.0, self.grace_s - margin)

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def watch(self) -> None:
        """Hear the stop signals too (called once the server runs: its own handlers are set by
        then, and are still called). Only the main thread may set handlers; elsewhere (a test
        client's thread) nothing is watched."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            signal.signal(sig, self._handler(previous))

    def _handler(self, previous: Any) -> Any:
        def handle(sig: int, frame: Any) -> None:
            self.begin()
            if callable(previous):
                previous(sig, frame)
            elif previous == signal.SIG_DFL:  # what would have happened without this handler
                signal.signal(sig, signal.SIG_DFL)
                signal.raise_signal(sig)

        return handle
