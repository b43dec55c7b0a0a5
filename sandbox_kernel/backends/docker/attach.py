"""A background reader for one container's attach socket."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator

from sandbox_kernel.backends import FrameHandler

_HEADER = struct.Struct(">BxxxL")
"""Docker's multiplexed stream header: stream id, three zero bytes, payload length."""


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


class AttachPump(threading.Thread):
    """Reads the multiplexed attach stream until EOF and hands each payload to ``on_frame``.

    Reading happens while the program runs, so output is never left to pile up in the daemon, and
    a caller can stop waiting at its deadline whatever the program does with its streams.
    """

    def __init__(
        self,
        sock: socket.socket,
        on_frame: FrameHandler,
        name: str = "attach",
        on_eof: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=f"sandbox-{name}", daemon=True)
        self.sock = sock
        self.on_frame = on_frame
        self.on_eof = on_eof
        self.finished = threading.Event()
        self._closing = False

    def run(self) -> None:
        demuxer = FrameDemuxer()
        try:
            while True:
                try:
                    data = self.sock.recv(256 * 1024)
                except TimeoutError:
                    if self._closing:
                        break
                    continue
                except OSError:
                    break
                if not data:
                    break
                for stream_id, payload in demuxer.feed(data):
                    self.on_frame(stream_id, payload)
        finally:
            # Closed here, by the reading thread, never under it: a descriptor closed while
            # recv() waits on it could be reused by another connection and read from.
            with contextlib.suppress(OSError):
                self.sock.close()
            self.finished.set()
            if self.on_eof is not None:
                self.on_eof()

    def send(self, data: bytes, timeout: float) -> None:
        """Write to the container's stdin; a container that died mid-write is not an error here."""
        self.sock.settimeout(max(timeout, 0.05))
        with contextlib.suppress(OSError):
            self.sock.sendall(data)

    def close(self) -> None:
        """End the stream: the reading thread wakes up, finishes and closes the socket."""
        self._closing = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        if not self.is_alive() and self.ident is None:  # never started: nobody else will
            with contextlib.suppress(OSError):
                self.sock.close()
