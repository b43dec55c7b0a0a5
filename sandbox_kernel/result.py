"""What a run reports back, whatever happened inside the sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ExecutionResult:
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    """The program's exit status; ``None`` when it never finished (timeout)."""
    execution_time: float = 0.0
    """Wall time in milliseconds from start to the end of output."""
    timed_out: bool = False
    oom_killed: bool = False
    truncated: bool = False
    """True when stdout or stderr went over the cap and was cut."""
    error: dict[str, Any] | None = field(default=None, repr=False)
    """For session runs: ``ename``, ``evalue`` and ``traceback`` of an exception in the cell."""
    value: str | None = None
    """For session runs: the representation of the cell's last expression, if any."""
    peak_memory: int | None = None
    """Peak memory of the sandbox in bytes, where its cgroup tells it."""
    state_lost: bool = False
    """For session runs: the sandbox died or was replaced during this run; its state is gone."""
    notice: str | None = None
    """For session runs: something the user should be told, e.g. that state was reset."""
    interrupted: bool = False
    files: dict[str, bytes] = field(default_factory=dict, repr=False)
    """Files collected after a one-shot run (``collect``): relative name to content."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed

    def describe_failure(self) -> str:
        """One sentence naming the exit status and its cause, for error messages."""
        if self.timed_out:
            return "timed out (killed)"
        if self.oom_killed:
            return f"killed: out of memory (exit status {self.exit_code})"
        if self.error:
            return f"{self.error.get('ename', 'Error')}: {self.error.get('evalue', '')}"
        if self.exit_code is not None and self.exit_code > 128:
            return f"exit status {self.exit_code} (killed by signal {self.exit_code - 128})"
        return f"exit status {self.exit_code}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stdout": self.stdout,
            "stderr": self.stderr,
            "exit_code": self.exit_code,
            "execution_time": self.execution_time,
            "timed_out": self.timed_out,
            "oom_killed": self.oom_killed,
            "truncated": self.truncated,
        }
