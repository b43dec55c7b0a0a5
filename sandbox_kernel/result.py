"""What a run reports back, whatever happened inside the sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox_kernel.outcome import Outcome, judge


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
    displays: list[dict[str, Any]] = field(default_factory=list)
    """Rich outputs in order, each ``{"data": {mime: value}, "metadata": {...}}``, after the
    output policy (``engine/rich.py``); ``clear_output`` empties it, an update replaces the
    display with the same id. Empty when the cell displayed nothing. A one-shot run has them
    only from Python's ``matplotlib.pyplot.show()`` (one ``image/png`` per figure, see
    ``drivers/PROTOCOL.md``, "One-shot runs")."""
    payload: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """For session runs: Jupyter execute reply payloads (``page``, ``ask_exit``,
    ``set_next_input``), validated."""
    execution_count: int | None = None
    """For session runs: the interpreter's own count of this cell (IPython's ``In[n]``)."""
    user_expressions: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    """For session runs given ``user_expressions``: each name's result, as in Jupyter's
    execute reply (``{"status": "ok", "data", "metadata"}`` after the output policy, or
    ``{"status": "error", "ename", "evalue", "traceback"}``); empty after a failed cell."""
    outcome: Outcome | None = field(default=None, repr=False)
    """The verdict, decided once by the engine when the run is over (``settle``)."""
    files: dict[str, bytes] = field(default_factory=dict, repr=False)
    """Files collected after a run (``collect``): relative name to content."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed

    def settle(self, memory: int, timeout: float | None = None) -> ExecutionResult:
        """Decide ``outcome`` from the fields (the engine calls this once, at the end of a run).

        ``memory`` is the run's limit in bytes and ``timeout`` its deadline in seconds.
        """
        self.outcome = judge(exit_code=self.exit_code, timed_out=self.timed_out,
                             oom_killed=self.oom_killed, interrupted=self.interrupted,
                             error=self.error, state_lost=self.state_lost, memory=memory,
                             timeout=timeout)
        return self

    @property
    def verdict(self) -> Outcome:
        """``outcome``; decided now (the memory limit unknown) if no engine settled it."""
        if self.outcome is None:
            self.settle(memory=0)
        assert self.outcome is not None
        return self.outcome

    def describe_failure(self) -> str:
        """One phrase naming the cause and the exit status, for error messages."""
        outcome = self.verdict
        if outcome.kind in ("exception", "exit") and outcome.cause == outcome.status:
            return outcome.status
        return f"{outcome.cause} ({outcome.status})"

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
