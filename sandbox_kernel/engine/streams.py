"""Byte-level plumbing between a container's attach socket and our callers.

Docker multiplexes stdout and stderr of a non-TTY container into frames; a sandbox may print
gigabytes, so everything here works incrementally and keeps memory bounded.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator

from sandbox_kernel.limits import format_size

STDOUT = 1
STDERR = 2


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


class MarkerScanner:
    """Finds driver messages (``TOKEN json \\n``) inside a stream of user output.

    ``feed`` yields ``("text", bytes)`` for user output and ``("marker", bytes)`` for the JSON of
    a message. Bytes that might be the start of a token are held back until the next chunk decides.
    """

    MAX_MESSAGE = 64 * 1024 * 1024

    def __init__(self, token: bytes) -> None:
        self.token = token
        self._buf = b""

    def feed(self, data: bytes) -> Iterator[tuple[str, bytes]]:
        buf = self._buf + data if self._buf else data
        token = self.token
        while buf:
            idx = buf.find(token)
            if idx < 0:
                keep = self._partial_token_suffix(buf)
                if len(buf) > keep:
                    yield "text", buf[: len(buf) - keep]
                buf = buf[len(buf) - keep:] if keep else b""
                break
            if idx:
                yield "text", buf[:idx]
            end = buf.find(b"\n", idx + len(token))
            if end < 0:
                if len(buf) - idx > self.MAX_MESSAGE:
                    yield "text", buf[idx:]
                    buf = b""
                else:
                    buf = buf[idx:]
                break
            yield "marker", buf[idx + len(token): end]
            buf = buf[end + 1:]
        self._buf = buf

    def _partial_token_suffix(self, buf: bytes) -> int:
        first = self.token[:1]
        start = buf.rfind(first, max(0, len(buf) - len(self.token) + 1))
        while start >= 0:
            if self.token.startswith(buf[start:]):
                return len(buf) - start
            start = buf.find(first, start + 1)
        return 0

    def drain(self) -> bytes:
        """Whatever is held back, as plain text (the stream has ended)."""
        rest, self._buf = self._buf, b""
        return rest
