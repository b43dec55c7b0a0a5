"""How a cell's outcome is reported to Jupyter: success, or an error with a cause.

The engine decides the outcome (``sandbox_kernel.outcome``); this module only words it.

Every failure becomes an ``error`` (ename, evalue, traceback) whose evalue names the cause and,
where there is one, the exit status, so that a notebook read later still says what happened.
Exceptions raised inside the sandbox keep their own name, message and traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sandbox_kernel.limits import Limits, format_size
from sandbox_kernel.outcome import describe_status
from sandbox_kernel.output_policy import error_text
from sandbox_kernel.result import ExecutionResult

_PY_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))"
                           r"(?::\s?(.*))?$")


@dataclass(frozen=True)
class CellFailure:
    ename: str
    evalue: str
    traceback: list[str] = field(default_factory=list)

    def content(self) -> dict[str, object]:
        """The ``ename``/``evalue``/``traceback`` part of an execute reply or iopub error, with
        the sandbox's text made safe and bounded (``output_policy.error_text``)."""
        ename, evalue, traceback = error_text(
            self.ename, self.evalue, self.traceback or [f"{self.ename}: {self.evalue}"])
        return {"ename": ename, "evalue": evalue, "traceback": traceback}


def restart_reason(result: ExecutionResult, limits: Limits) -> str | None:
    """Why the sandbox's state was lost in this cell, or ``None`` if it was kept."""
    return result.verdict.lost_reason if result.state_lost else None


def classify(
    result: ExecutionResult,
    *,
    timeout: float,
    limits: Limits,
    user_interrupted: bool,
    fresh: bool,
    killed: bool = False,
) -> CellFailure | None:
    """The failure to report for this cell, or ``None`` when it succeeded.

    ``killed``: the user interrupted the cell and, as it did not stop (``STOP.grace``, or a
    second interrupt), the kernel killed its sandbox."""
    kind = result.verdict.kind
    lost = "; the next cell starts in a fresh sandbox (state was lost)" if result.state_lost else ""
    inner = list(result.error.get("traceback") or []) if result.error else []
    if kind == "timeout":
        if fresh:
            evalue = f"cell timed out after {timeout:g} s (the sandbox was killed)"
        elif result.state_lost:
            evalue = (f"cell timed out after {timeout:g} s (interrupted; it did not stop, so the "
                      "sandbox was replaced and state was lost)")
        else:
            evalue = (f"cell timed out after {timeout:g} s (interrupted, "
                      f"{describe_status(result.exit_code, False)}; state was kept)")
        return _failure("TimeoutError", evalue, inner)
    if kind == "oom":
        # A session whose driver survived: the OOM killer ended another process (a child).
        kept = "" if result.state_lost or fresh else (
            "; the OOM killer ended a process of the cell, the session's state was kept")
        evalue = (f"killed: out of memory, limit {format_size(limits.memory)} "
                  f"({describe_status(result.exit_code)}){kept}{lost}")
        return _failure("OutOfMemoryError", evalue, inner)
    if user_interrupted and killed:
        evalue = ("interrupted by the user; the cell did not stop, so its sandbox was killed "
                  f"({describe_status(result.exit_code, False)}){lost or '; state was lost'}")
        return _failure("KeyboardInterrupt", evalue, inner)
    if user_interrupted and (result.error or result.exit_code != 0):
        # Whatever the cell died of once interrupted (KeyboardInterrupt, or EOFError when the
        # interrupt ended an input() prompt), the cause is the interrupt.
        kept = "" if result.state_lost else "; state was kept"
        evalue = (f"interrupted by the user ({describe_status(result.exit_code, False)})"
                  f"{kept}{lost}")
        return _failure("KeyboardInterrupt", evalue, inner)
    if result.error:
        return _sandbox_exception(result, inner)
    if kind == "lost":
        return None  # a clean exit: the kernel only notes that state is gone
    if result.state_lost:
        return _failure("SandboxExit",
                        f"the sandbox process exited with {describe_status(result.exit_code)}"
                        f"{lost}", [])
    if kind == "ok":
        return None
    if fresh and result.exit_code is not None:
        found = _python_exception(result.stderr)
        if found is not None:
            ename, message = found
            status = describe_status(result.exit_code)
            return _failure(ename, f"{message} ({status})" if message else status, [])
    if result.exit_code is None:
        return _failure("SandboxError", "the sandbox stopped without an exit status", [])
    return _failure("ExitStatus", describe_status(result.exit_code), [])


def _sandbox_exception(result: ExecutionResult, inner: list[str]) -> CellFailure:
    """An exception raised in the cell: its own name, message and traceback."""
    assert result.error is not None
    ename = str(result.error.get("ename") or "Error")
    evalue = str(result.error.get("evalue") or "")
    if ename == "KeyboardInterrupt":  # raised by the code itself, or a signal from inside
        evalue = f"interrupted ({describe_status(result.exit_code, False)})"
        return _failure(ename, evalue, inner)
    # The exception keeps its own name, message and traceback; one last line states the status.
    status = f"[sandbox] the cell failed: {ename} ({describe_status(result.exit_code, False)})"
    return CellFailure(ename, evalue, (inner or [f"{ename}: {evalue}"]) + [status])


def _failure(ename: str, evalue: str, inner: list[str]) -> CellFailure:
    """The traceback ends with ``ename: evalue``, replacing the inner one's bare last line."""
    last = inner[-1].strip() if inner else ""
    if last == ename or last.startswith(f"{ename}:"):
        inner = inner[:-1]
    return CellFailure(ename, evalue, inner + [f"{ename}: {evalue}"])


def _python_exception(stderr: str) -> tuple[str, str] | None:
    """``(ename, message)`` of an uncaught Python exception at the end of ``stderr``."""
    if "Traceback (most recent call last):" not in stderr:
        return None
    lines = [line for line in stderr.splitlines() if line.strip()]
    match = _PY_EXCEPTION.match(lines[-1]) if lines else None
    if match is None:
        return None
    return match.group(1).rsplit(".", 1)[-1], match.group(2) or ""
