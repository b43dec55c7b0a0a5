"""Containers started ahead of need.

Starting a container costs Docker about 100 ms, most of a one-shot run. A warm container is
created, attached and started in the background, then waits in ``read`` for its program: a run
that takes one only pays for sending the code and for the program itself. Each container still
serves exactly one run and is removed afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from sandbox_kernel.backends import Attachment


class FrameRouter:
    """Hands frames to whichever run owns the container (none while it waits in the pool)."""

    def __init__(self) -> None:
        self._on_frame: Callable[[int, bytes], None] | None = None
        self._on_eof: Callable[[], None] | None = None
        self._ended = False
        self._lock = threading.Lock()

    def attach(self, on_frame: Callable[[int, bytes], None], on_eof: Callable[[], None]) -> None:
        with self._lock:
            self._on_frame, self._on_eof = on_frame, on_eof
            ended = self._ended
        if ended:  # the container died while it waited: tell the new owner at once
            on_eof()

    def __call__(self, stream_id: int, payload: bytes) -> None:
        target = self._on_frame
        if target is not None:
            target(stream_id, payload)

    def eof(self) -> None:
        with self._lock:
            self._ended = True
            target = self._on_eof
        if target is not None:
            target()


@dataclass
class Launched:
    container_id: str
    pump: Attachment
    router: FrameRouter = field(default_factory=FrameRouter)


class WarmPool:
    """At most ``size`` started containers per key (language, image, limits, runtime)."""

    def __init__(
        self,
        launch: Callable[[Hashable], Launched],
        discard: Callable[[Launched], None],
        size: int = 2,
    ) -> None:
        self._launch = launch
        self._discard = discard
        self._size = size
        self._ready: dict[Hashable, list[Launched]] = {}
        self._filling: dict[Hashable, list[threading.Thread]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def take(self, key: Hashable) -> Launched | None:
        """A started container for ``key``, or None; a refill is started either way."""
        with self._lock:
            ready = self._ready.get(key, [])
            launched = ready.pop() if ready else None
        self.refill(key)
        if launched is not None and launched.pump.finished.is_set():
            # It died while waiting (daemon restart, say): never hand out a dead container.
            self._discard(launched)
            return None
        return launched

    def refill(self, key: Hashable) -> None:
        """Start filling ``key`` back up to ``size``, in the background."""
        with self._lock:
            if self._closed:
                return
            filling = self._filling.setdefault(key, [])
            missing = self._size - len(self._ready.get(key, [])) - len(filling)
            threads = [threading.Thread(target=self._fill, args=(key,), daemon=True,
                                        name="sandbox-warm-pool") for _ in range(missing)]
            filling.extend(threads)
        for thread in threads:
            thread.start()

    def _fill(self, key: Hashable) -> None:
        try:
            launched = self._launch(key)
        except Exception:  # noqa: BLE001 - the next run starts cold and reports the problem
            launched = None
        with self._lock:
            self._filling[key].remove(threading.current_thread())
            keep = launched is not None and not self._closed
            if keep and launched is not None:
                self._ready.setdefault(key, []).append(launched)
        if launched is not None and not keep:
            self._discard(launched)

    def close(self, wait: float = 10.0) -> None:
        """Stop refilling, wait for fills under way, and discard every waiting container."""
        with self._lock:
            self._closed = True
            filling = [thread for threads in self._filling.values() for thread in threads]
        for thread in filling:
            thread.join(wait)
        with self._lock:
            waiting = [item for items in self._ready.values() for item in items]
            self._ready.clear()
        for launched in waiting:
            self._discard(launched)
