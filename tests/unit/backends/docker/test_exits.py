"""backends/docker/exits.py: Docker's die and oom events, kept per registered container (no
daemon: the events are fed as docker-py decodes them; the real stream is exercised by
tests/security/test_lifecycle.py and tests/test_owner_death.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import docker.errors
import pytest
import requests

from sandbox_kernel.backends.docker.backend import removal_in_progress
from sandbox_kernel.backends.docker.exits import ExitMonitor, parse_event


def event(action: str, container_id: str = "c1", **attributes: str) -> dict[str, Any]:
    return {"Type": "container", "Action": action, "status": action,
            "Actor": {"ID": container_id, "Attributes": {"name": "n", **attributes}}}


@pytest.mark.parametrize(("raw", "parsed"), [
    (event("die", exitCode="3"), ("c1", "die", 3)),
    (event("die", exitCode="137"), ("c1", "die", 137)),
    (event("oom"), ("c1", "oom", None)),
    (event("die"), ("c1", "die", None)),  # no status: unknown, never 0
    (event("die", exitCode="-1"), ("c1", "die", None)),
    (event("die", exitCode="256"), ("c1", "die", None)),
    (event("die", exitCode="9" * 40), ("c1", "die", None)),
    (event("die", exitCode="٣"), ("c1", "die", None)),  # a non-ASCII digit
    (event("kill", signal="15"), ("c1", "kill", 15)),
    (event("kill", signal="SIGTERM"), ("c1", "kill", None)),
    (event("start"), None),
    ({"Action": "die", "Actor": {"ID": 7}}, None),
    ({"Action": "die", "Actor": "c1"}, None),
    ("die", None),
    (None, None),
])
def test_parse_event(raw: object, parsed: object) -> None:
    assert parse_event(raw) == parsed


class FedStream:
    """A stream of decoded events that the test feeds and ends, like docker-py's."""

    def __init__(self) -> None:
        self._items: list[object] = []
        self._ready = threading.Condition()
        self._ended = False

    def feed(self, *items: object) -> None:
        with self._ready:
            self._items.extend(items)
            self._ready.notify_all()

    def close(self) -> None:
        with self._ready:
            self._ended = True
            self._ready.notify_all()

    def __iter__(self) -> Iterator[object]:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._items or self._ended)
                if not self._items:
                    return
                item = self._items.pop(0)
            yield item


def monitor() -> tuple[ExitMonitor, FedStream, list[float]]:
    stream, opened = FedStream(), []

    def open_stream(since: float) -> FedStream:
        opened.append(since)
        return stream

    watcher = ExitMonitor(open_stream)
    watcher.ensure_listening()
    return watcher, stream, opened


def test_die_and_oom_of_registered_containers_only() -> None:
    watcher, stream, opened = monitor()
    watcher.register("c1")
    stream.feed(event("oom", "other"), event("die", "other", exitCode="0"), event("oom"),
                event("die", exitCode="137"), event("die", exitCode="0"))
    end = watcher.wait("c1", 5)
    assert end is not None and (end.exited, end.status, end.ooms) == (True, 137, 1)
    assert watcher.wait("other", 0) is None and watcher.oom_count("other") is None
    watcher.ensure_listening()
    assert len(opened) == 1  # one stream for every container


def test_a_sigterm_before_the_death_marks_it_stopped_from_outside() -> None:
    """SIGTERM is never the engine's (it interrupts with SIGINT and kills with SIGKILL): a
    container sent one before it died was stopped by ``docker stop`` or a daemon shutting down."""
    watcher, stream, _ = monitor()
    for name in ("ours", "stopped", "late"):
        watcher.register(name)
    watcher.note_signal("ours")  # DockerSandbox.signal(container_id, "SIGTERM") by a caller
    stream.feed(event("kill", "ours", signal="15"), event("kill", "ours", signal="9"),
                event("die", "ours", exitCode="137"),
                event("kill", "stopped", signal="15"), event("die", "stopped", exitCode="143"),
                event("die", "late", exitCode="0"), event("kill", "late", signal="15"))
    assert [watcher.wait(name, 5).stopped for name in ("ours", "stopped", "late")] == [  # type: ignore[union-attr]
        False, True, False]


def test_a_late_oom_still_counts() -> None:
    watcher, stream, _ = monitor()
    watcher.register("c1")
    stream.feed(event("die", exitCode="137"))
    assert watcher.wait("c1", 5).status == 137  # type: ignore[union-attr]
    assert watcher.oom_count("c1") == 0
    stream.feed(event("oom"))
    assert wait_for_count(watcher, "c1", 1)


def wait_for_count(watcher: ExitMonitor, container_id: str, count: int) -> bool:
    for _ in range(500):
        if watcher.oom_count(container_id) == count:
            return True
        threading.Event().wait(0.01)
    return False


def test_oom_events_are_counted_per_container_while_it_runs() -> None:
    """A session compares the count before and after a cell: each OOM kill of a child (the
    container lives on) adds one, other containers' events never do."""
    watcher, stream, _ = monitor()
    watcher.register("c1")
    watcher.register("c2")
    assert (watcher.oom_count("c1"), watcher.oom_count("c2")) == (0, 0)
    stream.feed(event("oom"), event("oom", "c2"), event("oom"), event("oom", "unknown"))
    assert wait_for_count(watcher, "c1", 2) and wait_for_count(watcher, "c2", 1)
    end = watcher.wait("c1", 0)
    assert end is not None and not end.exited  # still running: a child was killed
    stream.feed(event("oom"), event("die", exitCode="137"))
    assert wait_for_count(watcher, "c1", 3)
    assert watcher.oom_count("unknown") is None


def test_a_count_heard_before_the_stream_ended_is_kept() -> None:
    watcher, stream, _ = monitor()
    watcher.register("c1")
    watcher.register("c2")
    stream.feed(event("oom"))
    assert wait_for_count(watcher, "c1", 1)
    stream.close()
    assert watcher.wait("c2", 5).watched is False  # type: ignore[union-attr]
    assert watcher.oom_count("c1") == 1  # heard: at least one, whatever came after
    assert watcher.oom_count("c2") is None  # none heard and no longer watched: unknown


def test_wait_gives_up_at_the_timeout_while_the_container_runs() -> None:
    watcher, _, _ = monitor()
    watcher.register("c1")
    end = watcher.wait("c1", 0.05)
    assert end is not None and not end.exited and end.watched


def test_an_ended_stream_leaves_its_containers_unwatched_and_the_next_create_reopens_it() -> None:
    watcher, stream, opened = monitor()
    watcher.register("c1")
    stream.close()
    end = watcher.wait("c1", 5)
    assert end is not None and not end.exited and not end.watched
    assert watcher.oom_count("c1") is None  # unknown: the backend asks Docker instead
    watcher.ensure_listening()
    assert len(opened) == 2
    watcher.register("c2")
    watcher.forget("c1")
    assert watcher.wait("c1", 0) is None


def test_forgotten_containers_are_not_kept() -> None:
    watcher, stream, _ = monitor()
    watcher.register("c1")
    watcher.forget("c1")
    stream.feed(event("die", exitCode="0"))
    assert watcher.wait("c1", 0) is None


def api_error(status: int, explanation: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError("refused", response=response, explanation=explanation)


def test_a_removal_docker_already_does_counts_as_done() -> None:
    """Our removal after a run races with AutoRemove's: Docker's 409 says it is going anyway."""
    assert removal_in_progress(api_error(
        409, "removal of container 0123abcd is already in progress"))
    assert not removal_in_progress(api_error(409, "You cannot remove a running container"))
    assert not removal_in_progress(api_error(500, "removal is already in progress"))
