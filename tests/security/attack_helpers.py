"""Helpers shared by the attack modules (imported as a plain module: tests/ is not a package)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from sandbox_kernel import DockerSandbox, ExecutionResult

HEALTH_CHECK = {
    "python": "print(6 * 7)",
    "bash": "echo $((6 * 7))",
    "node": "console.log(6 * 7)",
}


def assert_healthy(engine: DockerSandbox, language: str = "python") -> None:
    """The next run on the same engine works normally."""
    result = engine.run(language, HEALTH_CHECK[language], timeout=60)
    assert (result.stdout, result.exit_code, result.timed_out) == ("42\n", 0, False), result


def lines_of(result: ExecutionResult) -> dict[str, str]:
    """``KEY value`` lines of a probe's stdout as a dict (later lines win)."""
    found = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        found[key] = value
    return found


@contextmanager
def host_listener() -> Iterator[tuple[socket.socket, int]]:
    """A TCP listener on the host's 127.0.0.1, opened by the test; nothing may reach it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.setblocking(False)
    yield server, server.getsockname()[1]
    server.close()


def accepted_any(server: socket.socket) -> bool:
    try:
        conn, _ = server.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


NONCE_FINDER = """
import os, re, sys, threading, time
def nonces():
    found, frame = set(), sys._getframe()
    while frame is not None:
        for scope in (frame.f_locals, frame.f_globals):
            for value in list(scope.values()):
                for item in list(value.values()) if isinstance(value, dict) else [value]:
                    if isinstance(item, str) and re.fullmatch('[0-9a-f]{32}', item):
                        found.add(item)
        frame = frame.f_back
    return found
def frame(nonce, body):
    return b'\\x1e\\x1f%s\\x1f%d\\x1f%s\\n' % (nonce.encode(), len(body), body)
"""
"""Python that a cell runs to learn every nonce the driver's frames hold (``nonces()``) and to
build a protocol frame (``frame(nonce, body)``): what a forging cell can do."""
