"""Byte-level plumbing between a container's attach socket and our callers.

Docker multiplexes stdout and stderr of a non-TTY container into frames; a sandbox may print
gigabytes, so everything here works incrementally and keeps memory bounded.
"""

from __future__ import annotations

import codecs

from sandbox_kernel.limits import format_size

STDOUT = 1
STDERR = 2


class CappedStream:
    """Keeps the first ``cap`` bytes of one stream, counts and drops the rest.

    ``feed`` returns the newly kept text, decoded incrementally so live consumers never see a
    character split across two chunks; invalid UTF-8 becomes U+FFFD instead of raising.
    ``retain=False`` only counts: the text is handed out by ``feed`` and not kept for ``text``
    (a session's output between cells, which goes straight to a callback).
    """

    def __init__(self, name: str, cap: int, *, retain: bool = True) -> None:
        self.name = name
        self.cap = cap
        self.kept = bytearray()
        self.size = 0
        """Bytes let through so far (``len(kept)`` when retained)."""
        self.dropped = 0
        self._retain = retain
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        room = self.cap - self.size
        if room <= 0:
            self.dropped += len(data)
            return ""
        keep = data[:room]
        self.dropped += len(data) - len(keep)
        self.size += len(keep)
        if self._retain:
            self.kept += keep
        return self._decoder.decode(keep)

    def flush(self) -> str:
        """Text still held by the incremental decoder (an incomplete trailing character)."""
        return self._decoder.decode(b"", final=True)

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def marker(self) -> str:
        return (
            f"\n[sandbox-kernel: {self.name} truncated at {format_size(self.cap)}; "
            f"{self.dropped} more bytes dropped]\n"
        )

    def text(self) -> str:
        text = bytes(self.kept).decode("utf-8", errors="replace")
        return text + self.marker() if self.truncated else text
