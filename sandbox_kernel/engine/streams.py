"""Byte-level plumbing between a container's attach socket and our callers.

Docker multiplexes stdout and stderr of a non-TTY container into frames; a sandbox may print
gigabytes, so everything here works incrementally and keeps memory bounded.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Iterator

from sandbox_kernel.limits import format_size

STDOUT = 1
STDERR = 2
_HEADER = struct.Struct(">BxxxL")


class FrameDemuxer:
    """Splits Docker's multiplexed attach stream into ``(stream_id, payload)`` pieces."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._stream = 0
        self._remaining = 0

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        view = memoryview(data)
        while view:
            if self._remaining:
                take = view[: self._remaining]
                self._remaining -= len(take)
                view = view[len(take):]
                yield self._stream, bytes(take)
                continue
            need = _HEADER.size - len(self._pending)
            self._pending += view[:need]
            view = view[need:]
            if len(self._pending) == _HEADER.size:
                self._stream, self._remaining = _HEADER.unpack(self._pending)
                self._pending.clear()


class CappedStream:
    """Keeps the first ``cap`` bytes of one stream, counts and drops the rest.

    ``feed`` returns the newly kept text, decoded incrementally so live consumers never see a
    character split across two chunks; invalid UTF-8 becomes U+FFFD instead of raising.
    """

    def __init__(self, name: str, cap: int) -> None:
        self.name = name
        self.cap = cap
        self.kept = bytearray()
        self.dropped = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        room = self.cap - len(self.kept)
        if room <= 0:
            self.dropped += len(data)
            return ""
        keep = data[:room]
        self.dropped += len(data) - len(keep)
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
