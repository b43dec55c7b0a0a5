"""Live output: forward a cell's stdout and stderr to the frontend as it is printed.

The engine calls back once per chunk it reads, which can be once per ``print``; sending one
Jupyter message per chunk would flood a browser with a tight printing loop. ``StreamBatcher``
sends the first chunk at once and then at most one message per stream every ``interval`` seconds,
keeping the order of stdout and stderr as they arrived.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

SendStream = Callable[[str, str], None]
"""Publishes ``(stream_name, text)``; called from the batcher's thread or from ``flush``."""


class StreamBatcher:
    """Coalesces ``write`` calls from any thread into few ordered ``send`` calls."""

    def __init__(self, send: SendStream, interval: float = 0.05) -> None:
        self._send = send
        self._interval = interval
        self._pending: list[tuple[str, str]] = []
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sandbox-output", daemon=True)
        self._thread.start()

    def write(self, name: str, text: str) -> None:
        if not text:
            return
        with self._cond:
            if self._pending and self._pending[-1][0] == name:
                self._pending[-1] = (name, self._pending[-1][1] + text)
            else:
                self._pending.append((name, text))
            self._cond.notify()

    def flush(self) -> None:
        """Send everything written so far, now (e.g. before asking the user for input)."""
        with self._send_lock:
            with self._cond:
                batch, self._pending = self._pending, []
            for name, text in batch:
                self._send(name, text)

    def close(self) -> None:
        """Send what is left and stop; everything written before returns has been sent."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        self.flush()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
            self.flush()
            with self._cond:
                # Collect what arrives during the interval into the next message; close() ends
                # the wait at once so a finished cell does not pay for the interval.
                self._cond.wait_for(lambda: self._closed, timeout=self._interval)
