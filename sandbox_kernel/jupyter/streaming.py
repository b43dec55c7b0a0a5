"""Live output: forward a cell's stdout and stderr to the frontend as it is printed.

The engine calls back once per chunk it reads, which can be once per ``print``; sending one
Jupyter message per chunk would flood a browser with a tight printing loop (alternating one-byte
writes to stdout and stderr made ~11,000 messages in 3 s). ``StreamBatcher`` keeps one buffer per
stream, sends the first chunk at once and then at most one message per stream every ``interval``
seconds, like ipykernel's ``OutStream``: the stream that started buffering first goes first.

A kernel keeps one batcher for its lifetime and points it at each new cell (``retarget``), as
ipykernel sets its streams' parent on every request: text that a cell's threads, timers or
background jobs write after the cell ended still goes out, with that cell's parent header, until
the next cell starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

SendStream = Callable[[str, str], None]
"""Publishes ``(stream_name, text)``; called from the batcher's thread or from ``flush``."""


class StreamBatcher:
    """Coalesces ``write`` calls from any thread into few ordered ``send`` calls."""

    def __init__(self, send: SendStream, interval: float = 0.1) -> None:
        self._send = send
        self._interval = interval
        self._pending: dict[str, list[str]] = {}  # one buffer per stream, in order of arrival
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sandbox-output", daemon=True)
        self._thread.start()

    def write(self, name: str, text: str) -> None:
        if not text:
            return
        with self._cond:
            self._pending.setdefault(name, []).append(text)
            self._cond.notify()

    def flush(self) -> None:
        """Send everything written so far, now (e.g. before asking the user for input)."""
        with self._send_lock:
            self._flush_locked()

    def retarget(self, send: SendStream) -> None:
        """Send what was written so far with the current ``send``, and later text with ``send``
        (a new cell's parent header); a write racing with this goes to either."""
        with self._send_lock:
            self._flush_locked()
            self._send = send

    def _flush_locked(self) -> None:
        with self._cond:
            batch, self._pending = self._pending, {}
        for name, pieces in batch.items():
            self._send(name, "".join(pieces))

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
