"""A short-lived ``docker exec`` into a running sandbox, with bounded output.

File transfer needs a channel that works for every language and image and that sees the
container's tmpfs mounts (Docker's archive API cannot write into a tmpfs): a process started
with ``exec`` runs in the container's mount namespace, as the sandbox user, under the
container's own no-new-privileges, dropped capabilities and cgroup limits. Its stdin gets the
bytes we send, its stdout is kept up to a cap; past the cap, or past the deadline, the connection
is closed and the exec's output is reported as cut.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping

import docker
import docker.errors
import requests.exceptions

from sandbox_kernel.backends import STDERR, STDOUT, ExecOutput
from sandbox_kernel.backends.docker.attach import FrameDemuxer
from sandbox_kernel.backends.docker.client import translate
from sandbox_kernel.errors import SandboxError

STDERR_CAP = 64 * 1024
"""Bytes of an exec's stderr kept for error messages; the rest is read and dropped."""


def run_exec(
    api: docker.APIClient,
    container_id: str,
    command: list[str],
    stdin: bytes = b"",
    *,
    user: str,
    workdir: str,
    environment: Mapping[str, str],
    stdout_cap: int,
    timeout: float,
) -> ExecOutput:
    """Run ``command`` in the container as ``user``, feed ``stdin``, collect its output.

    ``stdout_cap`` bounds what is kept in memory (bytes); ``timeout`` (seconds) bounds the whole
    exchange. Raises ``SandboxError`` when Docker refuses the exec (container gone, say).
    """
    try:
        exec_id = api.exec_create(container_id, command, stdin=True, stdout=True, stderr=True,
                                  tty=False, user=user, workdir=workdir,
                                  environment=dict(environment), privileged=False)["Id"]
        raw = api.exec_start(exec_id, socket=True)
    except (docker.errors.APIError, requests.exceptions.RequestException, OSError) as exc:
        raise translate(exc) from None
    sock = getattr(raw, "_sock", raw)
    if not isinstance(sock, socket.socket):
        raise SandboxError(f"unsupported exec transport {type(raw).__name__}")
    deadline = time.monotonic() + timeout
    sender = threading.Thread(target=_send, args=(sock, stdin, timeout), daemon=True,
                              name="sandbox-exec-stdin")
    sender.start()
    out, err = bytearray(), bytearray()
    overflowed = timed_out = False
    demuxer = FrameDemuxer()
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            sock.settimeout(remaining)
            try:
                data = sock.recv(256 * 1024)
            except TimeoutError:
                timed_out = True
                break
            except OSError:
                break
            if not data:
                break
            for stream_id, payload in demuxer.feed(data):
                if stream_id == STDOUT:
                    out += payload
                elif stream_id == STDERR and len(err) < STDERR_CAP:
                    err += payload[: STDERR_CAP - len(err)]
            if len(out) > stdout_cap:
                overflowed = True
                del out[stdout_cap:]
                break
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sender.join(1.0)
        with contextlib.suppress(OSError):
            sock.close()
    exit_code = None
    if not (overflowed or timed_out):
        exit_code = _exit_code(api, exec_id)
    return ExecOutput(exit_code, bytes(out), bytes(err), overflowed, timed_out)


def _send(sock: socket.socket, data: bytes, timeout: float) -> None:
    """Write ``data`` to the exec's stdin, then close our writing half so it sees EOF."""
    with contextlib.suppress(OSError):
        sock.settimeout(timeout)
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)


def _exit_code(api: docker.APIClient, exec_id: str) -> int | None:
    # The stream ends when the process closes its output; Docker records the exit a moment later.
    for _ in range(50):
        try:
            info = api.exec_inspect(exec_id)
        except (docker.errors.APIError, requests.exceptions.RequestException):
            return None
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        time.sleep(0.01)
    return None
