"""Where a kernel's cells run: one persistent sandbox (``session`` mode) or a new one per cell.

The kernel talks to a ``CellRunner`` only, so the two modes share the whole Jupyter side. Both are
used from worker threads: ``execute`` blocks, ``interrupt`` and ``close`` come from the control
thread while a cell runs.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from sandbox_kernel.engine.expressions import check_expressions, unsupported
from sandbox_kernel.engine.rich import DisplayCallback
from sandbox_kernel.engine.sandbox import DockerSandbox, OutputCallback
from sandbox_kernel.engine.session import InputCallback, SandboxSession
from sandbox_kernel.limits import Limits
from sandbox_kernel.result import ExecutionResult

StartFiles = Callable[[], Mapping[str, bytes]]
"""Gives the files every new sandbox starts with (the kernel's ``upload_on_start``)."""

COMPLETE_START_WAIT = 10.0
"""How long a completion request waits for the sandbox to start (it has no state before)."""


class CellRunner(Protocol):
    def start(self) -> None:
        """Prepare in the background so that the first cell does not wait (never blocks)."""

    def execute(
        self,
        code: str,
        timeout: float | None,
        on_output: OutputCallback,
        on_input: InputCallback | None,
        on_display: DisplayCallback | None = None,
        files: Mapping[str, bytes] | None = None,
        collect: Sequence[str] = (),
        user_expressions: Mapping[str, str] | None = None,
    ) -> ExecutionResult:
        """Run one cell; ``files`` go in first, ``collect`` globs come back in ``result.files``
        (see ``DockerSandbox.run``); ``user_expressions`` results in
        ``result.user_expressions`` (``engine/expressions.py``)."""

    def interrupt(self) -> None: ...

    def kill(self) -> None:
        """SIGKILL the running cell's container (state is lost; the next cell starts afresh)."""

    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]: ...

    def inspect(self, code: str, cursor_pos: int, detail_level: int) -> dict[str, Any]:
        """``found``, ``data``, ``metadata`` of an inspect reply (not found when unknown)."""

    def is_complete(self, code: str) -> dict[str, Any]: ...


    def close(self) -> None:
        """Remove every container at once, even while a cell runs."""

    @property
    def container_id(self) -> str | None: ...


class SessionRunner:
    """One ``SandboxSession`` for the kernel's lifetime; state persists between cells.

    ``on_late_output`` gets the text the sandbox writes between cells, at once, and
    ``on_late_display`` the displays a cell's threads send after it ended (see
    ``SandboxSession.on_late_output`` and ``on_late_display``)."""

    def __init__(self, sandbox: DockerSandbox, language: str, limits: Limits,
                 start_files: StartFiles | None = None,
                 on_late_output: OutputCallback | None = None,
                 on_late_display: DisplayCallback | None = None) -> None:
        self.session: SandboxSession = sandbox.session(language, limits)
        self.session.on_late_output = on_late_output
        self.session.on_late_display = on_late_display
        if start_files is not None:
            # Every start: the first one, and each restart after the sandbox was lost.
            self.session.on_start = lambda session: session.put_files(start_files())
        self._starter: threading.Thread | None = None
        self._start_error: BaseException | None = None
        self._closed = False

    @property
    def container_id(self) -> str | None:
        return self.session.container_id

    def start(self) -> None:
        if self._closed or (self._starter is not None and self._starter.is_alive()):
            return
        self._start_error = None
        self._starter = threading.Thread(target=self._start, name="sandbox-start", daemon=True)
        self._starter.start()

    def _start(self) -> None:
        try:
            self.session.start()
        except BaseException as exc:  # noqa: BLE001 - reported by the next cell
            self._start_error = exc

    def execute(
        self,
        code: str,
        timeout: float | None,
        on_output: OutputCallback,
        on_input: InputCallback | None,
        on_display: DisplayCallback | None = None,
        files: Mapping[str, bytes] | None = None,
        collect: Sequence[str] = (),
        user_expressions: Mapping[str, str] | None = None,
    ) -> ExecutionResult:
        self.wait_started()
        result = self.session.execute(code, timeout, on_output=on_output, on_input=on_input,
                                      on_display=on_display, files=files, collect=collect,
                                      user_expressions=user_expressions)
        if result.state_lost:
            self.start()  # get the next cell's sandbox ready while the user reads the error
        return result

    def wait_started(self) -> None:
        """Wait for a background start; its failure is raised once (the next cell retries)."""
        if self._starter is not None:
            self._starter.join()
        error, self._start_error = self._start_error, None
        if error is not None:
            raise error

    def interrupt(self) -> None:
        self.session.interrupt()

    def kill(self) -> None:
        # SIGKILL, not removal: the session reads the exit status (137), reports that its
        # state was lost, and the next cell starts a fresh container.
        self.session.kill()

    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        if not self._wait_alive():
            return {"matches": [], "cursor_start": cursor_pos, "cursor_end": cursor_pos}
        return self.session.complete(code, cursor_pos)

    def inspect(self, code: str, cursor_pos: int, detail_level: int) -> dict[str, Any]:
        if not self._wait_alive():
            return {"found": False, "data": {}, "metadata": {}}
        return self.session.inspect(code, cursor_pos, detail_level)

    def is_complete(self, code: str) -> dict[str, Any]:
        if not self._wait_alive():
            return {"status": "unknown", "indent": ""}
        return self.session.is_complete(code)

    def _wait_alive(self) -> bool:
        """Wait a little for a background start (a request right after the kernel started)."""
        starter = self._starter
        if starter is not None:
            starter.join(COMPLETE_START_WAIT)
        return self.session.alive

    def close(self) -> None:
        # SandboxSession.close() removes the container first, so a running cell ends at once.
        self._closed = True
        self.session.close()


class FreshRunner:
    """A new container for every cell (``DockerSandbox.run``): nothing survives a cell, so
    nothing writes after it (``on_late_output`` and ``on_late_display`` are never called)."""

    def __init__(self, sandbox: DockerSandbox, language: str, limits: Limits,
                 start_files: StartFiles | None = None,
                 on_late_output: OutputCallback | None = None,
                 on_late_display: DisplayCallback | None = None) -> None:
        self.sandbox = sandbox
        self.language = language
        self.limits = limits
        self.start_files = start_files
        self._running: str | None = None

    @property
    def container_id(self) -> str | None:
        return self._running

    def start(self) -> None:
        """Nothing to prepare but the daemon connection (which also reaps orphans)."""
        threading.Thread(target=self._connect, name="sandbox-connect", daemon=True).start()

    def _connect(self) -> None:
        with contextlib.suppress(Exception):  # the first cell reports it
            self.sandbox.connect()

    def execute(
        self,
        code: str,
        timeout: float | None,
        on_output: OutputCallback,
        on_input: InputCallback | None,
        on_display: DisplayCallback | None = None,
        files: Mapping[str, bytes] | None = None,
        collect: Sequence[str] = (),
        user_expressions: Mapping[str, str] | None = None,
    ) -> ExecutionResult:
        # Every cell is a new sandbox: it gets the start files too (the cell's own win).
        uploads = {**(self.start_files() if self.start_files else {}), **(files or {})}
        # One-shot programs get an empty stdin: input() sees EOF whatever the frontend allows.
        expressions = check_expressions(user_expressions)
        try:
            result = self.sandbox.run(self.language, code, timeout, self.limits,
                                      on_output=on_output, on_start=self._started,
                                      files=uploads, collect=collect)
        finally:
            self._running = None
        result.user_expressions = unsupported(
            expressions, "user_expressions are not supported in fresh mode (the cell's sandbox "
                         "is gone when it ends)")
        return result

    def _started(self, container_id: str) -> None:
        self._running = container_id

    def interrupt(self) -> None:
        self._signal_running("SIGINT")

    def kill(self) -> None:
        self._signal_running("SIGKILL")

    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        return {"matches": [], "cursor_start": cursor_pos, "cursor_end": cursor_pos}

    def inspect(self, code: str, cursor_pos: int, detail_level: int) -> dict[str, Any]:
        return {"found": False, "data": {}, "metadata": {}}

    def is_complete(self, code: str) -> dict[str, Any]:
        return {"status": "unknown", "indent": ""}

    def close(self) -> None:
        self._signal_running("SIGKILL")

    def _signal_running(self, signal: str) -> None:
        """Signal the running cell's container, if a cell runs."""
        container_id = self._running
        if container_id is None:
            return
        self.sandbox.signal(container_id, signal)
