"""The verdict on one run, decided once: what happened and why, for every front-end to render.

A run can end in one of a few ways (``Kind``); which one is decided here, in one order of
precedence (a timeout explains an exit 137 better than the status does; an out-of-memory kill
better than a plain SIGKILL), so the kernel's error message, the magic's exception, the CLI's exit
line and the MCP audit record always agree. Front-ends only choose their wording.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any, Literal

from sandbox_kernel.limits import format_size

Kind = Literal["ok", "timeout", "oom", "interrupted", "exception", "exit", "lost"]
"""``ok``; ``timeout`` (the deadline passed); ``oom`` (the OOM killer); ``interrupted`` (by the
user or a signal); ``exception`` (the cell raised, the sandbox lives); ``exit`` (a non-zero exit
status); ``lost`` (the sandbox's process ended cleanly in a session: its state is gone)."""


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9; ``signal 99`` for numbers this platform does not name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe_status(code: int | None, signalled: bool = True) -> str:
    """``exit status N``, naming the signal for 128+N (N a signal of this system: 1 to 64 on
    Linux) unless the program chose that status."""
    if code is None:
        return "no exit status"
    if code > 128 and signalled and code - 128 in signal.valid_signals():
        return f"exit status {code} (killed by signal {code - 128})"
    return f"exit status {code}"


@dataclass(frozen=True)
class Outcome:
    """How a run ended. ``cause`` is one phrase without the exit status, e.g. ``timed out after
    5 s``, ``killed: out of memory, limit 256 MiB``, ``ValueError: bad``, ``killed by SIGKILL``;
    ``lost_reason`` says why a session's state was lost, or is ``None`` when it was kept."""

    kind: Kind
    exit_code: int | None
    cause: str
    lost_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    @property
    def status(self) -> str:
        """The exit status in words (``exit status 137``); ``cause`` names any signal."""
        return describe_status(self.exit_code, signalled=False)

    @property
    def audit_name(self) -> str:
        """The outcome as audit logs record it: ``ok``, ``timeout``, ``oom`` or ``error``."""
        return self.kind if self.kind in ("ok", "timeout", "oom") else "error"


def judge(
    *,
    exit_code: int | None,
    timed_out: bool,
    oom_killed: bool,
    interrupted: bool,
    error: dict[str, Any] | None,
    state_lost: bool,
    memory: int,
    timeout: float | None = None,
) -> Outcome:
    """The outcome of a run from what the engine observed (``ExecutionResult``'s fields).

    ``memory`` is the run's memory limit in bytes and ``timeout`` its deadline in seconds, both
    quoted in the cause.
    """
    lost_reason = None
    if state_lost:
        if oom_killed:
            lost_reason = f"killed: out of memory, limit {format_size(memory)}"
        elif timed_out:
            lost_reason = "the cell timed out and did not stop when interrupted"
        else:
            lost_reason = f"the process exited with {describe_status(exit_code)}"
    if timed_out:
        after = f" after {timeout:g} s" if timeout is not None else ""
        return Outcome("timeout", exit_code, f"timed out{after}", lost_reason)
    if oom_killed:
        return Outcome("oom", exit_code, f"killed: out of memory, limit {format_size(memory)}",
                       lost_reason)
    ename = str(error.get("ename") or "Error") if error else None
    if interrupted or ename == "KeyboardInterrupt":
        return Outcome("interrupted", exit_code, "interrupted", lost_reason)
    if error:
        evalue = str(error.get("evalue") or "")
        return Outcome("exception", exit_code, f"{ename}: {evalue}".rstrip(": "), lost_reason)
    if state_lost and exit_code == 0:
        return Outcome("lost", exit_code, "the sandbox process exited", lost_reason)
    if exit_code == 0:
        return Outcome("ok", exit_code, "", lost_reason)
    if exit_code is not None and exit_code > 128:
        return Outcome("exit", exit_code, f"killed by {signal_name(exit_code - 128)}", lost_reason)
    return Outcome("exit", exit_code, describe_status(exit_code), lost_reason)
