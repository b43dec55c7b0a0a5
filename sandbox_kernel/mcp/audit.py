"""The MCP server's audit log: one JSON object per line, per execution or rejected request.

An agent runs code nobody reviewed, so whoever operates the server needs a record of what ran,
when, under which limits and how it ended, without keeping the code itself (it may hold secrets
the agent pasted): the log stores the code's SHA-256, which can be matched against a copy later.
Lines are written with a single ``write`` on an ``O_APPEND`` descriptor, so several servers can
share one file without interleaving, and nothing is buffered that a SIGKILL could lose.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sandbox_kernel.limits import Limits

AUDIT_ENV = "SANDBOX_KERNEL_MCP_AUDIT_LOG"
"""Environment variable naming the audit file when ``--audit-log`` is not given."""

STDERR = "-"
"""Audit target meaning standard error, which MCP clients usually keep in their server logs."""


def code_sha256(code: str) -> str:
    """Digest of the code as the sandbox receives it (UTF-8); lone surrogates cannot break it."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def timestamp(epoch: float | None = None) -> str:
    """ISO 8601 in UTC with milliseconds: sortable, and readable by ``datetime.fromisoformat``."""
    moment = datetime.now(timezone.utc) if epoch is None else datetime.fromtimestamp(
        epoch, timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def limits_record(limits: Limits, timeout: float | None) -> dict[str, Any]:
    """The limits that applied to one execution; the timeout is the call's, not the default."""
    return {
        "memory": limits.memory,
        "cpus": limits.cpus,
        "pids": limits.pids,
        "timeout": timeout,
        "max_output": limits.max_output,
        "network": limits.network,
    }


class AuditLog:
    """Appends JSON lines to a file (created ``0600``: labels may be sensitive) or to stderr."""

    def __init__(self, target: str | None) -> None:
        self.target = target or STDERR
        self._lock = threading.Lock()
        self._fd: int | None = None
        if self.target != STDERR:
            path = Path(self.target).expanduser()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                                   0o600)
            except OSError as exc:
                raise OSError(f"cannot open the audit log {path}: {exc.strerror or exc}") from None

    def write(self, record: dict[str, Any]) -> None:
        """Write one record; a full disk must not fail the execution, so errors go to stderr."""
        line = json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            try:
                if self._fd is None:
                    sys.stderr.write(line)
                    sys.stderr.flush()
                else:
                    os.write(self._fd, line.encode("ascii"))
            except (OSError, ValueError) as exc:
                print(f"sandbox-kernel mcp: cannot write the audit log: {exc}", file=sys.stderr)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
