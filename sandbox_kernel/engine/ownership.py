"""Labels that mark our containers, and the janitor that removes orphans.

Every container carries ``sandbox-kernel`` (so ``docker ps --filter label=sandbox-kernel`` lists
exactly ours) and the identity of the process that owns it: a container whose owner is gone
(a kernel killed with SIGKILL, say) is an orphan the janitor may remove.
"""

from __future__ import annotations

import os
import socket
from typing import Any

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


def find_ours(api: Any, owner: str | None = None) -> list[dict[str, Any]]:
    wanted = f"{OWNER_LABEL}={owner}" if owner else LABEL
    return list(api.containers(all=True, filters={"label": [wanted]}))


def reap_orphans(api: Any) -> list[str]:
    """Remove containers of ours whose owner process is gone; return their IDs."""
    removed = []
    for info in find_ours(api):
        owner = (info.get("Labels") or {}).get(OWNER_LABEL, "")
        if not owner_is_alive(owner):
            try:
                api.remove_container(info["Id"], force=True)
                removed.append(info["Id"])
            except Exception:  # noqa: BLE001 - already gone or being removed: nothing to do
                pass
    return removed
