"""Labels that mark our containers, and the janitor that removes orphans.

Every container carries ``sandbox-kernel`` (so ``docker ps --filter label=sandbox-kernel`` lists
exactly ours) and the identity of the process that owns it: a container whose owner is gone
(a kernel killed with SIGKILL, say) is an orphan the janitor may remove.
"""

from __future__ import annotations

import os
import socket

from sandbox_kernel.backends import Backend, ContainerInfo

LABEL = "sandbox-kernel"
OWNER_LABEL = "sandbox-kernel.owner"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot; pid + start time survives pid reuse."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()
    except (OSError, IndexError):
        return None


def owner_id(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or '?'}"


def labels(role: str) -> dict[str, str]:
    return {LABEL: role, OWNER_LABEL: owner_id()}


def owner_is_alive(owner: str) -> bool:
    """Whether the process named by an owner label still runs (unknown hosts count as alive)."""
    try:
        host, pid_text, start = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True
    return _start_time(pid) == start


def find_ours(backend: Backend, owner: str | None = None) -> list[ContainerInfo]:
    """Our containers: all of them, or those whose owner label is ``owner``."""
    if owner:
        return backend.list_ours(OWNER_LABEL, owner)
    return backend.list_ours(LABEL)


def reap_orphans(backend: Backend) -> list[str]:
    """Remove containers of ours whose owner process is gone; return their IDs."""
    removed = []
    for info in find_ours(backend):
        if not owner_is_alive(info.labels.get(OWNER_LABEL, "")) and backend.remove(info.id):
            removed.append(info.id)
    return removed
