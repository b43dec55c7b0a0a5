"""What Docker says about our containers' ends, heard before Docker removes them (AutoRemove).

Every container is created with ``AutoRemove``, so that one whose owner died (a kernel killed
with SIGKILL) goes away by itself. Docker removes it right after it exits, so an inspect after
the exit races with the removal and may 404: the exit status and the out-of-memory verdict must
be heard as they happen. One stream of Docker's events per backend (``GET /events``, ``die``
with its ``exitCode`` and ``oom``) is opened before the first container is created, so nothing
of a container we create can be missed; each container is registered when it is created and
forgotten when it is removed. Docker flushes the stream's headers before it subscribes, so the
stream asks for the recent past too (``since``): an event of that gap is replayed, not lost.

When the stream ends (the daemon restarted), the containers it watched are marked unwatched and
their callers fall back to asking Docker directly, which answers "unknown" once they are gone:
never a made-up status.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

EVENT_FILTERS = {"type": ["container"], "event": ["die", "oom", "kill"]}
"""The only events read: a container ended (``die``), the OOM killer acted in it (``oom``), it
was sent a signal (``kill``: SIGTERM is never ours, so it says the container was stopped from
outside: ``docker stop`` or the daemon shutting down)."""
SIGTERM = 15
REPLAY_SECONDS = 30.0
"""How far back the stream starts, to cover the gap between Docker's headers and its subscription
(and a daemon clock a little behind ours); older events are of containers we do not know yet."""
MAX_STATUS = 255


class EventStream(Protocol):
    """Docker's event stream as docker-py returns it: decoded events, and ``close``."""

    def __iter__(self) -> Iterator[Any]: ...

    def close(self) -> None: ...


OpenStream = Callable[[float], EventStream]
"""Opens the event stream from a Unix time (``since``), filtered by ``EVENT_FILTERS``."""


@dataclass
class ContainerEnd:
    """What was heard about one container: its exit status once it died, and its OOM kills."""

    status: int | None = None
    exited: bool = False
    ooms: int = 0
    """``oom`` events heard: each time the OOM killer acted in the container (a child process
    killed while the container's main process lives counts too)."""
    watched: bool = True
    """False once the stream that watched it ended: what it did since then is unknown here."""
    stopped: bool = False
    """Sent SIGTERM before it died, not by us: stopped from outside, so its status is not its
    program's."""
    own_signals: int = 0
    """Signals we sent (``note_signal``) whose ``kill`` events have not come yet."""


def parse_event(event: object) -> tuple[str, str, int | None] | None:
    """``(container_id, action, number)`` from one decoded event, or ``None`` if it is not
    a well-formed ``die``, ``oom`` or ``kill`` of a container (``number``: the exit status of a
    ``die``, the signal of a ``kill``)."""
    if not isinstance(event, Mapping):
        return None
    actor = event.get("Actor")
    if not isinstance(actor, Mapping):
        return None
    container_id, action = actor.get("ID"), event.get("Action")
    if not isinstance(container_id, str) or action not in ("die", "oom", "kill"):
        return None
    if action == "oom":
        return container_id, action, None
    attributes = actor.get("Attributes")
    key = "exitCode" if action == "die" else "signal"
    text = attributes.get(key) if isinstance(attributes, Mapping) else None
    status = (int(text) if isinstance(text, str) and text.isascii() and text.isdigit()
              and len(text) <= 3 else None)
    return container_id, action, status if status is not None and status <= MAX_STATUS else None


class ExitMonitor:
    """Keeps the ``die``, ``oom`` and ``kill`` events of the containers registered with it
    (``oom`` events counted per container)."""

    def __init__(self, open_stream: OpenStream) -> None:
        self._open_stream = open_stream
        self._ends: dict[str, ContainerEnd] = {}
        self._changed = threading.Condition()
        self._stream: EventStream | None = None

    def ensure_listening(self) -> None:
        """Open the stream unless it is open (raises what opening it raises)."""
        with self._changed:
            if self._stream is not None:
                return
            stream = self._open_stream(time.time() - REPLAY_SECONDS)
            self._stream = stream
        threading.Thread(target=self._read, args=(stream,), daemon=True,
                         name="sandbox-docker-events").start()

    def register(self, container_id: str) -> None:
        """Start keeping what happens to ``container_id`` (call before it starts)."""
        with self._changed:
            self._ends[container_id] = ContainerEnd(watched=self._stream is not None)

    def note_signal(self, container_id: str) -> None:
        """We are about to send the container a signal: its ``kill`` event is not from outside."""
        with self._changed:
            end = self._ends.get(container_id)
            if end is not None:
                end.own_signals += 1

    def forget(self, container_id: str) -> None:
        with self._changed:
            self._ends.pop(container_id, None)

    def wait(self, container_id: str, timeout: float) -> ContainerEnd | None:
        """The container's record (a copy) once it died or stopped being watched, or as it is
        after ``timeout`` seconds; ``None`` if it is not registered."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                end = self._ends.get(container_id)
                if end is None:
                    return None
                remaining = deadline - time.monotonic()
                if end.exited or not end.watched or remaining <= 0:
                    return replace(end)
                self._changed.wait(remaining)

    def oom_count(self, container_id: str) -> int | None:
        """How many ``oom`` events were heard for the container so far; ``None`` when it is not
        registered, or no longer watched with none heard (unknown)."""
        with self._changed:
            end = self._ends.get(container_id)
            if end is None or not (end.watched or end.exited or end.ooms):
                return None
            return end.ooms

    def close(self) -> None:
        """Close the stream; the reader marks what it watched as unwatched."""
        with self._changed:
            stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def _read(self, stream: EventStream) -> None:
        try:
            self._record(stream)
        except Exception:  # noqa: BLE001,S110 - a broken stream ends like a closed one
            pass
        finally:
            with self._changed:
                if self._stream is stream:
                    self._stream = None
                for end in self._ends.values():
                    end.watched = False
                self._changed.notify_all()

    def _record(self, events: Iterable[object]) -> None:
        for event in events:
            parsed = parse_event(event)
            if parsed is None:
                continue
            container_id, action, status = parsed
            with self._changed:
                end = self._ends.get(container_id)
                if end is None:
                    continue
                if action == "oom":
                    end.ooms += 1  # a late one (after ``die``) still counts
                elif action == "kill":
                    if end.own_signals:
                        end.own_signals -= 1
                    elif status == SIGTERM and not end.exited:
                        end.stopped = True
                elif not end.exited:
                    end.status, end.exited = status, True
                self._changed.notify_all()
