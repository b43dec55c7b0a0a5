"""What the ``%%sandbox`` magics tell the user: errors, cell values and the status tables.

A failing sandboxed cell is the *sandboxed program's* failure, so the error shows what happened
in the sandbox (the exit status and its cause, and the program's own traceback where a session
reports one) and none of the host-side frames of the magic and the engine, which would only bury
the one line that matters.
"""

from __future__ import annotations

from typing import Any

from sandbox_kernel.engine.rich import RichOutput
from sandbox_kernel.languages import Language
from sandbox_kernel.limits import Limits, format_size
from sandbox_kernel.output_policy import MAX_EVALUE_BYTES, error_text, terminal_text
from sandbox_kernel.result import ExecutionResult


class SandboxMagicError(Exception):
    """An error of the ``%%sandbox`` magic shown as its message alone, without host frames.

    IPython calls ``_render_traceback_`` instead of formatting the Python traceback; ipykernel
    sends those lines as the ``error`` message's traceback, so nbclient's ``CellExecutionError``
    carries exactly them. The message and every line are sandbox text made safe and bounded
    (``output_policy.terminal_text`` / ``error_text``): ipykernel sends ``str(error)`` as the
    ``evalue``.
    """

    def __init__(self, message: str = "") -> None:
        super().__init__(terminal_text(str(message), MAX_EVALUE_BYTES))

    def traceback_lines(self) -> list[str]:
        """Lines shown above the summary; subclasses add the sandboxed program's traceback."""
        return []

    def _render_traceback_(self) -> list[str]:
        return error_text("", "", [*self.traceback_lines(), f"{type(self).__name__}: {self}"])[2]


class SandboxCellError(SandboxMagicError):
    """The sandboxed program of a cell failed: non-zero exit, timeout, OOM, interrupt, exception.

    ``result`` is the run's ``ExecutionResult`` (``None`` only if the engine itself failed after
    an interrupt); the message names the exit status and its cause.
    """

    def __init__(self, message: str, result: ExecutionResult | None = None) -> None:
        super().__init__(message)
        self.result = result

    @property
    def exit_code(self) -> int | None:
        return self.result.exit_code if self.result is not None else None

    def traceback_lines(self) -> list[str]:
        error = self.result.error if self.result is not None else None
        if not error:
            return []
        lines = error.get("traceback") or []
        if isinstance(lines, str):
            lines = lines.splitlines()
        return [str(line) for line in lines]


class SandboxValue:
    """The value of a session cell's last expression, shown like a local ``Out[n]``.

    The sandbox sends its ``repr`` as text; wrapping it keeps IPython from adding quotes around
    it, while ``.text`` (and ``str()``) give the plain text to code that wants it.
    """

    def __init__(self, text: str, bundle: RichOutput | None = None) -> None:
        self.text = text
        self.bundle = bundle
        """The value's policed MIME bundle, when the sandbox's display formatter made one."""

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if self.bundle is None:
            return None
        return dict(self.bundle.data), dict(self.bundle.metadata)

    def __repr__(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SandboxValue):
            return self.text == other.text
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)


def failure_cause(
    result: ExecutionResult | None,
    *,
    timeout: float,
    interrupted: bool = False,
    killed: bool = False,
) -> str | None:
    """The exit status and its cause in one phrase, or ``None`` if the run succeeded."""
    failed = interrupted or result is None or not result.ok or result.error is not None
    if not failed:
        return None
    code = result.exit_code if result is not None else None
    status = "no exit status" if code is None else f"exit status {code}"
    error = result.error if result is not None else None
    if interrupted:
        cause = "interrupted by the user"
        if killed:
            cause += "; it did not stop, so its container was killed"
        elif result is None:
            cause += "; its container was removed"
        elif error and error.get("ename") not in (None, "KeyboardInterrupt"):
            cause += f" ({error.get('ename')}: {error.get('evalue', '')})"
    elif result is None:
        cause = "the sandbox failed"
    elif result.verdict.kind == "timeout":
        cause = f"timed out after {timeout:g} s"
        cause += " and was stopped" if code is not None else "; its container was killed"
    elif result.verdict.kind in ("oom", "exception") or (code is not None and code > 128):
        cause = result.verdict.cause
    else:
        return status
    phrase = f"{cause} ({status})"
    if result is not None and result.state_lost:
        phrase += "; the session's state was lost"
    return phrase


def cell_label(language: Language, session: str | None) -> str:
    where = f" (session {session!r})" if session else ""
    return f"sandboxed {language.display_name} cell{where}"


def config_table(limits: Limits, images: dict[str, str], runtime: str | None) -> str:
    """The notebook's current defaults, as ``%sandbox_config`` prints them."""
    rows = [
        ("timeout", f"{limits.timeout:g} s (at most {limits.max_timeout:g} s)"),
        ("memory", f"{format_size(limits.memory)} (no swap)"),
        ("cpus", f"{limits.cpus:g}"),
        ("pids", str(limits.pids)),
        ("output cap", f"{format_size(limits.max_output)} per stream"),
        ("network", "on" if limits.network else "off"),
        ("runtime", runtime or "Docker's default"),
    ]
    rows += [(f"image {name}", image) for name, image in images.items()]
    width = max(len(name) for name, _ in rows)
    lines = ["%%sandbox defaults for the cells that follow:"]
    lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
    return "\n".join(lines)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: readable in a terminal, a notebook and a test's assertion alike."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
             for line in [headers, *rows]]
    return "\n".join(lines)
