"""Finds the driver's frames inside one stream of hostile output, in linear time and bounded memory.

A sandbox shares its stdout and stderr with the driver (``drivers/PROTOCOL.md``), so whatever
separates replies from user output must cope with anything: headers cut at every byte, fake
headers, a header announcing gigabytes, tens of MiB with no terminator. ``FrameScanner`` is a
state machine fed chunk by chunk that looks at every byte a bounded number of times and holds at
most a header's worth of bytes plus one frame body (at most ``max_message`` bytes):

* text: searched for the frame header with one compiled pattern; what precedes it is user output;
* header: ``RS US NONCE US SIZE US`` (32 lowercase hex digits, 1 to 12 decimal digits); a header cut
  by the end of a chunk is held back (at most ``MAX_HEADER - 1`` bytes) until the next chunk
  decides; anything that cannot be a header is text;
* body: SIZE bytes, then LF. A body over ``max_message``, or whose nonce is not the one expected,
  is skipped as it arrives (never buffered) and counted in ``dropped``. SIZE may announce far
  more than ``max_message`` (up to 12 digits, more than any sandbox's memory holds), so that a
  driver's over-size message is recognised as a frame and dropped: read as text, it would show
  its header (and nonce) and its unchecked body to the user.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

RS = 0x1E
US = 0x1F
NONCE_LENGTH = 32
MAX_SIZE_DIGITS = 12
"""Digits of SIZE: a frame announcing up to ~1 TB is still a frame (dropped when over the cap)."""
MAX_HEADER = 2 + NONCE_LENGTH + 1 + MAX_SIZE_DIGITS + 1
"""Longest possible header: RS US, the nonce, US, SIZE, US."""

_HEADER = re.compile(rb"\x1e\x1f([0-9a-f]{32})\x1f([0-9]{1,%d})\x1f" % MAX_SIZE_DIGITS)
# A complete header is found by _HEADER; this says whether the tail of a chunk could still grow
# into one (a proper prefix), so that it is held back rather than given out as text.
_HEADER_PREFIX = re.compile(
    rb"\x1e(?:\x1f(?:[0-9a-f]{0,32}|[0-9a-f]{32}\x1f[0-9]{0,%d}))?" % MAX_SIZE_DIGITS)


@dataclass(frozen=True)
class Text:
    """User output between frames (never empty)."""

    data: bytes


@dataclass(frozen=True)
class Frame:
    """A well-formed frame carrying the expected nonce; ``body`` is the JSON, unparsed."""

    nonce: str
    body: bytes


class FrameScanner:
    """Splits one stream (stdout or stderr of a driver) into ``Text`` and ``Frame`` items.

    ``expected`` is the nonce (32 hex digits, ``str``) whose frames are wanted, and ``also`` a
    second one (a one-shot run's display frames, ``drivers/PROTOCOL.md``); frames with any other
    nonce, or with none expected, are dropped and counted. ``expected`` may be changed between
    ``feed`` calls (by another thread: a plain attribute, read once per frame header).

    Counters: ``dropped`` frames in all (``oversized`` of them were over ``max_message``,
    ``unexpected`` carried another nonce, ``unterminated`` lacked their final LF).
    """

    def __init__(
        self, max_message: int, expected: str | None = None, also: str | None = None
    ) -> None:
        if not 0 < max_message < 10**MAX_SIZE_DIGITS:
            raise ValueError(f"max_message must be between 1 and {10**MAX_SIZE_DIGITS - 1}")
        self.max_message = max_message
        self.expected = expected
        self.also = also
        self.oversized = 0
        self.oversized_expected = 0
        """Of ``oversized``, those with the expected nonce (or ``also``): output it lost."""
        self.unexpected = 0
        self.unterminated = 0
        self._held = b""  # a possible header cut by the end of the previous chunk
        self._body: bytearray | None = None  # the body being collected, when kept
        self._nonce = ""
        self._remaining = 0  # body bytes still to come (kept or skipped)
        self._await_lf = False  # the body is complete; its LF comes next

    @property
    def dropped(self) -> int:
        return self.oversized + self.unexpected + self.unterminated

    @property
    def holding(self) -> int:
        """Bytes held between ``feed`` calls (bounded by ``MAX_HEADER + max_message``)."""
        return len(self._held) + (len(self._body) if self._body is not None else 0)

    def feed(self, chunk: bytes) -> Iterator[Text | Frame]:
        """Scan the next chunk of the stream; yields items in stream order."""
        if self._held:
            # At most MAX_HEADER - 1 bytes: copying them in front of the chunk keeps this linear.
            data, self._held = self._held + chunk, b""
        else:
            data = chunk
        pos, end = 0, len(data)
        while pos < end:
            if self._remaining or self._await_lf:
                pos, frame = self._continue_body(data, pos)
                if frame is not None:
                    yield frame
                continue
            match = _HEADER.search(data, pos)
            if match is None:
                tail = self._incomplete_header_start(data, pos)
                if tail > pos:
                    yield Text(data[pos:tail])
                self._held = data[tail:]
                return
            if match.start() > pos:
                yield Text(data[pos:match.start()])
            pos = match.end()
            self._start_body(match.group(1).decode("ascii"), int(match.group(2)))

    def drain(self) -> bytes:
        """The stream has ended: a held possible header is text after all; a frame cut short is
        dropped and counted."""
        held, self._held = self._held, b""
        if self._body is not None:
            self.unterminated += 1
        self._body, self._remaining, self._await_lf = None, 0, False
        return held

    def _incomplete_header_start(self, data: bytes, pos: int) -> int:
        """Where a header that the chunk's end cut short starts (``len(data)`` if none)."""
        end = len(data)
        start = data.rfind(b"\x1e", max(pos, end - MAX_HEADER + 1))
        if start >= 0 and _HEADER_PREFIX.fullmatch(data, start):
            return start
        return end

    def _start_body(self, nonce: str, size: int) -> None:
        self._nonce = nonce
        self._remaining = size
        self._await_lf = False
        if size > self.max_message:
            self.oversized += 1
            self.oversized_expected += nonce == self.expected or (
                self.also is not None and nonce == self.also)
            self._body = None
        elif nonce != self.expected and (self.also is None or nonce != self.also):
            self.unexpected += 1
            self._body = None
        else:
            self._body = bytearray()
        if size == 0:
            self._await_lf = True

    def _continue_body(self, data: bytes, pos: int) -> tuple[int, Frame | None]:
        if self._remaining:
            take = min(self._remaining, len(data) - pos)
            if self._body is not None:
                self._body += data[pos:pos + take]
            self._remaining -= take
            pos += take
            if not self._remaining:
                self._await_lf = True
            return pos, None
        # The body is complete: the next byte must be its LF.
        self._await_lf = False
        body, self._body = self._body, None
        if data[pos] != 0x0A:
            if body is not None:
                self.unterminated += 1
            return pos, None  # that byte is scanned again, as text or a header
        if body is None:
            return pos + 1, None
        return pos + 1, Frame(self._nonce, bytes(body))
