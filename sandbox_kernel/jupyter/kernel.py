"""``SandboxKernel``: a Jupyter wrapper kernel whose cells run in a Docker sandbox.

The kernel process itself never runs notebook code. It forwards each cell to a sandbox (by
default one persistent container per kernel, see ``runner``), streams the output back while the
cell runs, and turns the result into Jupyter messages (``outcome``). A cell blocks a worker
thread, not the kernel's event loop; interrupt and shutdown requests arrive on ipykernel's
control thread and act on the sandbox directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from functools import partial
from typing import Any

from ipykernel._version import kernel_protocol_version
from ipykernel.kernelbase import Kernel
from jupyter_client.session import Session
from traitlets import Enum, TraitError

from sandbox_kernel._version import __version__
from sandbox_kernel.engine.lifecycle import STOP
from sandbox_kernel.engine.rich import DisplayCallback, RichOutput
from sandbox_kernel.engine.sandbox import DockerSandbox
from sandbox_kernel.engine.session import InputCallback
from sandbox_kernel.engine.workspace import TransferError
from sandbox_kernel.errors import SandboxError
from sandbox_kernel.files import host
from sandbox_kernel.files.globs import check_pattern, selects
from sandbox_kernel.files.rules import TransferRules
from sandbox_kernel.jupyter.directives import Cell, parse_cell
from sandbox_kernel.jupyter.history import CellHistory
from sandbox_kernel.jupyter.outcome import CellFailure, classify, restart_reason
from sandbox_kernel.jupyter.rich import iopub_message
from sandbox_kernel.jupyter.runner import CellRunner, FreshRunner, SessionRunner
from sandbox_kernel.jupyter.settings import SandboxSettings
from sandbox_kernel.jupyter.specs import FLAVOURS
from sandbox_kernel.jupyter.stdin import InputForwarder
from sandbox_kernel.jupyter.streaming import StreamBatcher
from sandbox_kernel.limits import Limits, format_size
from sandbox_kernel.outcome import describe_status
from sandbox_kernel.output_policy import OutputPolicy, terminal_text
from sandbox_kernel.result import ExecutionResult


class SandboxKernel(SandboxSettings, Kernel):
    """Runs each cell in a hardened sandbox of one language (``--language``)."""

    implementation = "sandbox-kernel"
    implementation_version = __version__

    language = Enum(
        list(FLAVOURS), default_value="python",
        help="The language of this kernel's sandbox: python, bash or node.",
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        flavour = FLAVOURS[self.language]
        self.language_info = dict(flavour.language_info)
        self.history = CellHistory()
        self._receipts: dict[str, dict[str, Any]] = {}
        self._interrupted = threading.Event()
        self._killed = threading.Event()
        self._cell_lock = threading.Lock()
        self._running_cell: int | None = None  # serial of the cell that runs, if one does
        self._cell_serial = 0
        self._cancel_input = threading.Event()
        self._pending_notice: str | None = None
        self._execute_ident: Any = None
        # One batcher for the kernel's lifetime, pointed at each cell in turn: what a cell's
        # threads, timers or background jobs print after it ended goes out at once with that
        # cell's parent header, until the next execute_request (as ipykernel's streams do).
        self._output = StreamBatcher(partial(self._publish_stream, {}))
        self._late_parent: dict[str, Any] = {}
        """The last execute_request, whose threads' late displays go out under it."""
        self.runner: CellRunner | None = None
        self.config_error: str | None = None
        self.sandbox_limits = Limits()
        self.sandbox_mode = "session"
        try:
            self.sandbox_limits = self.limits()
            self.sandbox_mode = self.mode
            # A session never uses the warm pool; fresh mode does, so a cell need not wait for
            # Docker to start its container.
            fresh = self.sandbox_mode != "session"
            sandbox = DockerSandbox(self.sandbox_limits, images=self.images(),
                                    runtime=self.runtime, warm=fresh)
            runner_class = SessionRunner if self.sandbox_mode == "session" else FreshRunner
            self.runner = runner_class(
                sandbox, flavour.language, self.sandbox_limits,
                start_files=self._start_files if self.upload_on_start else None,
                on_late_output=self._output.write, on_late_display=self._publish_late_display)
        except (TraitError, ValueError) as exc:
            self.config_error = f"invalid sandbox configuration: {exc}"
            self.log.error("%s", self.config_error)
        self.banner = self._describe(flavour.display_name)

    # -- files --------------------------------------------------------------------------------

    @property
    def host_root(self) -> str:
        """The host directory that %upload reads from and %download writes to."""
        return os.path.abspath(self.files_root or os.getcwd())

    def _start_files(self) -> dict[str, bytes]:
        """``upload_on_start``'s files, read afresh for every new sandbox."""
        return host.gather_all(self.upload_on_start, os.getcwd(), self.host_root,
                               TransferRules.from_limits(self.sandbox_limits), skip_missing=True)

    def _uploads(self, cell: Cell) -> dict[str, bytes]:
        """The host files a cell's ``%upload`` lines name, read and checked (``ValueError``)."""
        rules = TransferRules.from_limits(self.sandbox_limits)
        files: dict[str, bytes] = {}
        for transfer in cell.uploads:
            files.update(host.gather(transfer.path, os.getcwd(), self.host_root, rules,
                                     transfer.dest))
        return rules.check_files(files)

    def _save_downloads(self, cell: Cell, collected: dict[str, bytes],
                        output: StreamBatcher) -> None:
        """Write what a cell's ``%download`` lines asked for; report one line per directive."""
        for transfer in cell.downloads:
            pattern = check_pattern(transfer.path)
            chosen = {name: data for name, data in collected.items()
                      if selects(pattern, name)}
            if not chosen:
                raise TransferError(f"%download: no file in the sandbox matches "
                                    f"{transfer.path!r}")
            host.save(chosen, os.getcwd(), self.host_root, transfer.dest)
            output.write("stdout", host.describe("downloaded", chosen) + "\n")

    def _describe(self, display_name: str) -> str:
        """The banner: what a cell runs in, with the limits actually in force."""
        if self.config_error:
            return f"{display_name}: {self.config_error}"
        limits = self.sandbox_limits
        mode = self.sandbox_mode
        state = "state persists between cells" if mode == "session" else "no state is kept"
        runtime = f", runtime {self.runtime}" if self.runtime else ""
        return (f"{display_name}: every cell runs in a locked-down container "
                f"({mode} mode: {state}). Limits: memory {format_size(limits.memory)}, "
                f"{limits.cpus:g} CPUs, {limits.pids} processes, timeout {limits.timeout:g} s, "
                f"output {format_size(limits.max_output)} per stream, "
                f"{'network on' if limits.network else 'no network'}{runtime}.")

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        super().start()  # type: ignore[no-untyped-call]
        if self.runner is not None:
            self.runner.start()  # in the background: kernel_info is answered meanwhile

    def close_sandbox(self) -> None:
        """Remove the sandbox at once (shutdown, restart, SIGTERM); safe to call twice."""
        runner, self.runner = self.runner, None
        if runner is None:
            return
        try:
            runner.close()
        except SandboxError as exc:
            self.log.warning("could not remove the sandbox: %s", exc)

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        self._cancel_input.set()
        await asyncio.to_thread(self.close_sandbox)
        self._output.flush()
        return {"status": "ok", "restart": restart}

    @property
    def kernel_info(self) -> dict[str, Any]:
        # Built here rather than by ipykernel, whose version imports the debugger (debugpy,
        # 100-190 ms of kernel start-up) only to learn what we answer anyway: no debugger (we
        # cannot debug inside the sandbox) and no subshells (one cell at a time).
        return {
            "protocol_version": kernel_protocol_version,
            "implementation": self.implementation,
            "implementation_version": self.implementation_version,
            "language_info": self.language_info,
            "banner": self.banner,
            "help_links": self.help_links,
            "supported_features": [],
            "debugger": False,
        }

    def set_parent(self, ident: Any, parent: dict[str, Any], channel: str = "shell") -> None:
        """Remember the identity of the current execute request, to route ``input_request``."""
        super().set_parent(ident, parent, channel)  # type: ignore[no-untyped-call]
        if channel == "shell" and parent.get("header", {}).get("msg_type") == "execute_request":
            self._execute_ident = ident

    # -- interrupt ------------------------------------------------------------------------------

    async def interrupt_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """The interrupt button (``interrupt_mode: message``): stop the sandbox's running cell.

        As the magic does (``engine/lifecycle.py``, ``STOP``): SIGINT first; if the cell still
        runs ``STOP.grace`` seconds later, or at a second interrupt, the sandbox is killed (its
        state is lost, the reply says so, and the next cell starts a fresh sandbox)."""
        with self._cell_lock:
            serial = self._running_cell
            again = serial is not None and self._interrupted.is_set()
        self._interrupted.set()
        runner = self.runner
        if runner is not None and not again:
            # SIGINT before the pending input request is given up: a read that was waiting for
            # the answer is interrupted (Bash `read`: status 130, Python: KeyboardInterrupt),
            # not ended by the end of input that giving up sends (status 1, EOFError).
            await asyncio.to_thread(runner.interrupt)
        self._cancel_input.set()
        if runner is not None:
            if again:
                await asyncio.to_thread(self._escalate, serial)
            elif serial is not None:
                timer = threading.Timer(STOP.grace, self._escalate, (serial,))
                timer.daemon = True
                timer.start()
        self._session().send(stream, "interrupt_reply", {"status": "ok"}, parent, ident=ident)

    def _escalate(self, serial: int | None) -> None:
        """Kill the sandbox if cell ``serial`` still runs (it ignored the interrupt).

        The lock is held through the kill, so a cell that has just ended is never mistaken for
        the one to kill (its end waits for the lock)."""
        with self._cell_lock:
            runner = self.runner
            if (serial is None or self._running_cell != serial or self._killed.is_set()
                    or runner is None):
                return
            self._killed.set()
            try:
                runner.kill()
            except SandboxError as exc:
                self.log.warning("could not kill the interrupted sandbox: %s", exc)

    # -- execute --------------------------------------------------------------------------------

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: dict[str, Any] | None = None,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        parent: dict[str, Any] = self.get_parent("shell")  # type: ignore[no-untyped-call]
        count = self.execution_count
        if store_history and not silent:
            self.history.record(count, code)
        elif not silent:
            # As ipykernel (IPython numbers only the cells it stores): kernelbase counted this
            # cell when it published execute_input; a store_history=False cell takes no number,
            # and its reply carries the last stored cell's.
            self.execution_count -= 1
        reply_count = self.execution_count
        with self._cell_lock:
            self._interrupted.clear()
            self._killed.clear()
            self._cell_serial += 1
            self._running_cell = self._cell_serial
        self._cancel_input.clear()
        output = self._output
        output.retarget(partial(self._publish_stream, parent))
        self._late_parent = parent
        shown: set[str] = set()

        def on_display(item: RichOutput) -> None:
            if silent and item.kind == "execute_result":
                return
            output.flush()  # a display comes after the text printed before it
            msg_type, content = iopub_message(item, count)
            shown.add(msg_type)
            self._session().send(self.iopub_socket, msg_type, content, parent)

        notice, self._pending_notice = self._pending_notice, None
        if notice:
            output.write("stderr", notice + "\n")
        try:
            try:
                failure, result, timeout = await self._run(code, allow_stdin, parent, output,
                                                           on_display, user_expressions)
            finally:
                with self._cell_lock:
                    self._running_cell = None
            if result is not None:
                # A failed transfer after a cell that ran is still the cell's failure.
                failure = self._report(result, timeout, output, notice is not None) or failure
        finally:
            output.flush()  # the cell's text goes before its result, error and reply
        self._receipts[parent["header"]["msg_id"]] = self._receipt(result)
        if failure is not None:
            content = failure.content()
            self._session().send(self.iopub_socket, "error", content, parent)
            return {"status": "error", "execution_count": reply_count, **content}
        if (result is not None and result.value is not None and not silent
                and "execute_result" not in shown):  # a driver that reports a bare value
            self._session().send(self.iopub_socket, "execute_result",
                              {"execution_count": count,
                               "data": {"text/plain": terminal_text(
                                   result.value, OutputPolicy.max_output_bytes)},
                               "metadata": {}}, parent)
        payload = result.payload if result is not None else []
        expressions = result.user_expressions if result is not None else {}
        return {"status": "ok", "execution_count": reply_count, "payload": payload,
                "user_expressions": expressions}

    async def _run(
        self,
        code: str,
        allow_stdin: bool,
        parent: dict[str, Any],
        output: StreamBatcher,
        on_display: DisplayCallback,
        user_expressions: dict[str, Any] | None = None,
    ) -> tuple[CellFailure | None, ExecutionResult | None, float]:
        """Run one cell; a failure before the sandbox ran it comes back as a ``CellFailure``."""
        runner = self.runner
        timeout = self.sandbox_limits.timeout
        if runner is None:
            reason = self.config_error or "the kernel is shutting down"
            return CellFailure("SandboxError", reason), None, timeout
        try:
            cell = parse_cell(code)
            timeout = self.sandbox_limits.check_timeout(cell.timeout)
            uploads = self._uploads(cell)
            collect = [transfer.path for transfer in cell.downloads]
        except ValueError as exc:
            return CellFailure("ValueError", str(exc)), None, timeout
        on_input: InputCallback | None = None
        if allow_stdin:
            forwarder = InputForwarder(self._session(), self.stdin_socket, self._execute_ident,
                                       parent, self._cancel_input, time.monotonic() + timeout)

            def on_input(prompt: str, password: bool) -> str | None:
                output.flush()  # the prompt comes after what the cell printed before it
                return forwarder.ask(prompt, password)

        try:
            result = await asyncio.to_thread(runner.execute, cell.code, timeout, output.write,
                                             on_input, on_display, uploads, collect,
                                             user_expressions)
            if uploads:
                output.write("stdout", host.describe("uploaded", uploads) + "\n")
            if cell.downloads and result.ok:
                self._save_downloads(cell, result.files, output)
        except TransferError as exc:
            return CellFailure("TransferError", str(exc)), exc.result, timeout
        except (SandboxError, ValueError, OSError) as exc:
            return CellFailure(type(exc).__name__, str(exc)), None, timeout
        except Exception as exc:  # a bug of ours must still end in a reply, not a hung cell
            self.log.exception("the sandbox failed")
            return CellFailure("SandboxError", f"{type(exc).__name__}: {exc}"), None, timeout
        return None, result, timeout

    def _report(
        self,
        result: ExecutionResult,
        timeout: float,
        output: StreamBatcher,
        notice_shown: bool,
    ) -> CellFailure | None:
        """Classify the result and add the notes that belong to the cell's output."""
        if result.notice and not notice_shown:
            output.write("stderr", result.notice + "\n")
        if result.truncated:
            output.write("stderr", f"\n[sandbox-kernel: output over "
                                   f"{format_size(self.sandbox_limits.max_output)} per stream "
                                   "was dropped]\n")
        failure = classify(result, timeout=timeout, limits=self.sandbox_limits,
                           user_interrupted=self._interrupted.is_set(),
                           fresh=self.sandbox_mode == "fresh",
                           killed=self._killed.is_set())
        reason = restart_reason(result, self.sandbox_limits)
        if reason is not None:
            self._pending_notice = (f"The sandbox was restarted ({reason}); "
                                    "state from earlier cells was lost.")
            if failure is None:
                output.write("stderr", f"The sandbox process exited "
                                       f"({describe_status(result.exit_code)}); the next cell "
                                       "starts in a fresh sandbox.\n")
        return failure

    def _receipt(self, result: ExecutionResult | None) -> dict[str, Any]:
        """What the execute reply's metadata says about the sandbox run."""
        receipt: dict[str, Any] = {
            "exit_code": None, "execution_time_ms": None, "timed_out": False,
            "oom_killed": False, "truncated": False, "peak_memory": None, "state_lost": False,
        }
        if result is not None:
            receipt.update(
                exit_code=result.exit_code, execution_time_ms=round(result.execution_time, 3),
                timed_out=result.timed_out, oom_killed=result.oom_killed,
                truncated=result.truncated, peak_memory=result.peak_memory,
                state_lost=result.state_lost,
            )
        runner = self.runner
        receipt["sandbox"] = {"language": self.language, "mode": self.sandbox_mode,
                              "container_id": runner.container_id if runner else None}
        return receipt

    def finish_metadata(
        self, parent: dict[str, Any], metadata: dict[str, Any], reply_content: dict[str, Any]
    ) -> dict[str, Any]:
        metadata = dict(metadata)
        metadata.update(self._receipts.pop(parent["header"]["msg_id"], {}))
        metadata["status"] = reply_content.get("status")
        return metadata

    def _publish_stream(self, parent: dict[str, Any], name: str, text: str) -> None:
        """Send one ``stream`` message; any thread may call this (iopub is thread-safe).

        The sandbox's text is made safe here (``output_policy.terminal_text``: colours kept, other
        escape sequences and control characters removed), on whole batches, so that fewer escape
        sequences are cut in two."""
        self._session().send(self.iopub_socket, "stream",
                             {"name": name, "text": terminal_text(text)}, parent)

    def _publish_late_display(self, item: RichOutput) -> None:
        """Send a display that a cell's thread or timer made after the cell ended (already
        policed, ``SandboxSession.on_late_display``) with the last execute_request's parent
        header, as ipykernel does; called from the session's reader thread."""
        self._output.flush()  # after the text printed before it
        msg_type, content = iopub_message(item, self.execution_count)
        self._session().send(self.iopub_socket, msg_type, content, self._late_parent)

    def _session(self) -> Session:
        """The Jupyter message session (set by the kernel app before any message arrives)."""
        assert self.session is not None
        return self.session

    # -- introspection --------------------------------------------------------------------------

    async def do_complete(self, code: str, cursor_pos: int | None) -> dict[str, Any]:
        position = len(code) if cursor_pos is None else cursor_pos
        reply: dict[str, Any] = {"matches": [], "cursor_start": position,
                                 "cursor_end": position}
        runner = self.runner
        if runner is not None:
            with contextlib.suppress(SandboxError):
                reply = await asyncio.to_thread(runner.complete, code, position)
        return {"status": "ok", "metadata": {}, **_clean_completion(reply)}

    async def do_inspect(
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> dict[str, Any]:
        """Shift-Tab: IPython's ``object_inspect`` of the name at the cursor, in the sandbox."""
        reply: dict[str, Any] = {"found": False, "data": {}, "metadata": {}}
        runner = self.runner
        if runner is not None:
            with contextlib.suppress(SandboxError):
                reply = await asyncio.to_thread(runner.inspect, code, cursor_pos, detail_level)
        return {"status": "ok", "metadata": {}, **reply}

    async def do_is_complete(self, code: str) -> dict[str, Any]:
        if self.language != "python":
            return await self._driver_is_complete(code)
        from IPython.core.inputtransformer2 import TransformerManager

        try:
            body = parse_cell(code).code
        except ValueError:
            return {"status": "invalid"}
        manager = TransformerManager()  # type: ignore[no-untyped-call]
        status, indent = manager.check_complete(body)
        if status == "incomplete":
            return {"status": status, "indent": " " * (indent or 0)}
        return {"status": status}

    async def _driver_is_complete(self, code: str) -> dict[str, Any]:
        """Bash and Node.js: the sandbox's own parser answers (drivers/PROTOCOL.md)."""
        try:
            body = parse_cell(code).code
        except ValueError:
            return {"status": "invalid"}
        runner = self.runner
        reply: dict[str, Any] = {"status": "unknown"}
        if runner is not None:
            with contextlib.suppress(SandboxError):
                reply = await asyncio.to_thread(runner.is_complete, body)
        if reply.get("status") != "incomplete":
            return {"status": reply.get("status", "unknown")}
        # A console prints the indent before the next line: blanks only, a few of them.
        indent = "".join(c for c in str(reply.get("indent", "")) if c in " \t")[:80]
        return {"status": "incomplete", "indent": indent}

    async def do_history(
        self,
        hist_access_type: str,
        output: bool,
        raw: bool,
        session: int | None = None,
        start: int | None = None,
        stop: int | None = None,
        n: int | None = None,
        pattern: str | None = None,
        unique: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        history = self.history.query(hist_access_type, output=output, session=session,
                                     start=start, stop=stop, n=n, pattern=pattern, unique=unique)
        return {"status": "ok", "history": history}


def _clean_completion(reply: dict[str, Any]) -> dict[str, Any]:
    """A complete reply whose sandbox text (matches, and the text, type and signature of
    IPython's experimental details) went through ``terminal_text``: a console prints them."""
    cleaned = dict(reply)
    cleaned["matches"] = [terminal_text(str(match)) for match in reply.get("matches", [])]
    metadata = reply.get("metadata")
    if isinstance(metadata, dict):
        details = metadata.get("_jupyter_types_experimental")
        if isinstance(details, list):
            cleaned["metadata"] = {"_jupyter_types_experimental": [
                {key: terminal_text(value) if isinstance(value, str) else value
                 for key, value in item.items()}
                for item in details if isinstance(item, dict)]}
    return cleaned
