"""The working side of the MCP server: validation, the concurrency cap, named sessions, shutdown.

Nothing here knows about the MCP protocol, so the rules can be read (and tested) on their own;
``mcp_server`` only turns them into a tool. The engine blocks, so each execution runs in a worker
thread of a pool sized to the cap: the pool is both the limit and a FIFO queue, and a worker stays
busy until its sandbox is gone even when the client cancelled the request, so a cancelled call can
never let more sandboxes run than the cap allows.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import NotRequired, TypedDict

from sandbox_kernel.config import DEFAULT_MAX_SESSIONS
from sandbox_kernel.engine import ownership
from sandbox_kernel.engine.registry import SessionRegistry, check_session_name
from sandbox_kernel.engine.sandbox import DockerSandbox
from sandbox_kernel.engine.session import SandboxSession
from sandbox_kernel.engine.workspace import TransferError
from sandbox_kernel.errors import SandboxError
from sandbox_kernel.files.globs import check_patterns
from sandbox_kernel.files.rules import TransferRules
from sandbox_kernel.languages import LANGUAGES, resolve_language
from sandbox_kernel.limits import Limits
from sandbox_kernel.mcp.audit import AuditLog, code_sha256, limits_record, timestamp
from sandbox_kernel.mcp.displays import display_content
from sandbox_kernel.mcp.files import (
    CollectedFile,
    audit_files,
    decode_files,
    mcp_limits,
    shape_files,
)
from sandbox_kernel.output_policy import error_text, plain_text
from sandbox_kernel.result import ExecutionResult

MAX_LABEL = 200
DEFAULT_MAX_CONCURRENT = 4
SHUTDOWN_WAIT = 1.5
"""Seconds shutdown waits for runs it killed: MCP clients SIGKILL 2 s after SIGTERM."""


class ExecOutput(TypedDict):
    """What ``sandbox_exec`` returns; the camelCase names are the tool's published contract."""

    output: str
    error: str
    exitCode: int | None
    executionTime: float
    timedOut: bool
    oomKilled: bool
    truncated: bool
    session: NotRequired[str]
    value: NotRequired[str]
    notice: NotRequired[str]
    files: NotRequired[list[CollectedFile]]
    """The collected files (``collect``), text or base64, each with MIME type and SHA-256."""
    filesError: NotRequired[str]
    """Why collecting failed (over a limit, a link): the run itself is still reported."""
    html: NotRequired[list[str]]
    """Sanitized HTML the call displayed (e.g. a DataFrame), in order."""
    images: NotRequired[int]
    """How many images (plots) the call displayed, returned as MCP image content."""
    displaysDropped: NotRequired[int]
    """Displays left out by the size caps."""


@dataclass(frozen=True)
class ToolReply:
    """The structured result and the images returned beside it (``(mime_type, base64)``)."""

    output: ExecOutput
    images: list[tuple[str, str]]


@dataclass(frozen=True)
class ServerConfig:
    """Everything the command line can change; checked here so a bad flag fails at start-up."""

    limits: Limits = field(default_factory=Limits)
    languages: tuple[str, ...] = tuple(LANGUAGES)
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    max_sessions: int = DEFAULT_MAX_SESSIONS
    audit_log: str | None = None
    runtime: str | None = None
    images: dict[str, str] = field(default_factory=dict)
    """Image per language (a flavour name, a derived image's tag, ...); the built one otherwise."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", {
            resolve_language(name).name: image for name, image in self.images.items()})
        names = tuple(dict.fromkeys(resolve_language(name).name for name in self.languages))
        if not names:
            raise ValueError("at least one language must be enabled")
        object.__setattr__(self, "languages", names)
        if isinstance(self.max_concurrent, bool) or not 1 <= self.max_concurrent <= 256:
            raise ValueError(f"max_concurrent must be between 1 and 256, not {self.max_concurrent}")
        SessionRegistry(self.max_sessions)  # the cap's own check: ValueError when out of range


@dataclass(frozen=True)
class ExecRequest:
    """One tool call as the client sent it, before any validation."""

    language: str
    code: str
    timeout: float | None = None
    label: str | None = None
    session: str | None = None
    files: dict[str, str] | None = None
    files_base64: bool = False
    collect: list[str] | None = None


@dataclass(frozen=True)
class _Job:
    request: ExecRequest
    language: str
    timeout: float
    received: float
    """``time.monotonic()`` when the call arrived: the queue wait is measured from here."""
    files: dict[str, bytes] = field(default_factory=dict)
    collect: list[str] = field(default_factory=list)


@dataclass
class _NamedSession:
    key: tuple[str, str]
    """(language, name)"""
    session: SandboxSession
    lock: asyncio.Lock
    """Held while a cell is queued or running, so a second call waits without taking a worker."""


def shape_output(result: ExecutionResult, session: str | None = None,
                 collected: bool = False, files_error: str | None = None) -> ExecOutput:
    """The tool result. An exception in a session cell is only in ``result.error``: the agent
    reads ``error``, so its traceback is appended there, after whatever the cell wrote to stderr.
    Text is plain (``plain_text``): no escape sequence at all, colour included."""
    error = plain_text(result.stderr)
    if result.error:
        lines = error_text("", "", result.error.get("traceback") or [
            f"{result.error.get('ename', 'Error')}: {result.error.get('evalue', '')}"])[2]
        if error and not error.endswith("\n"):
            error += "\n"
        error += plain_text("\n".join(lines)) + "\n"
    output: ExecOutput = {
        "output": plain_text(result.stdout),
        "error": error,
        "exitCode": result.exit_code,
        "executionTime": round(result.execution_time, 1),
        "timedOut": result.timed_out,
        "oomKilled": result.oom_killed,
        "truncated": result.truncated,
    }
    if session is not None:
        output["session"] = session
    if result.value is not None:
        output["value"] = plain_text(result.value)
    if result.notice:
        output["notice"] = result.notice
    if collected:
        output["files"] = shape_files(result.files)
    if files_error is not None:
        output["filesError"] = files_error
    return output


def tool_reply(result: ExecutionResult, session: str | None = None, collected: bool = False,
               files_error: str | None = None) -> ToolReply:
    """``shape_output`` plus what the call displayed: images apart, HTML as text, counts."""
    output = shape_output(result, session, collected, files_error)
    shown = display_content(result.displays)
    if shown.html:
        output["html"] = shown.html
    if shown.images:
        output["images"] = len(shown.images)
    if shown.dropped:
        output["displaysDropped"] = shown.dropped
    return ToolReply(output, shown.images)


def _outcome(result: ExecutionResult) -> str:
    return result.verdict.audit_name


def _clip(value: object) -> object:
    """Agent-supplied strings go into the audit log; a megabyte "label" must not."""
    if isinstance(value, str) and len(value) > MAX_LABEL:
        return value[:MAX_LABEL] + "..."
    return value


class ExecService:
    """Runs ``sandbox_exec`` calls: one-shot sandboxes or named sessions, at most N at a time."""

    def __init__(
        self,
        config: ServerConfig,
        sandbox: DockerSandbox | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.config = config
        self.limits = mcp_limits(config.limits)
        """The configured limits, transfers capped to what one MCP message carries."""
        self.sandbox = sandbox or DockerSandbox(self.limits, images=config.images,
                                                 runtime=config.runtime)
        self.audit = audit or AuditLog(config.audit_log)
        self._pool = ThreadPoolExecutor(config.max_concurrent, thread_name_prefix="sandbox-exec")
        self._futures: set[Future[tuple[ExecutionResult, str | None]]] = set()
        self._sessions: SessionRegistry[tuple[str, str], _NamedSession] = SessionRegistry(
            config.max_sessions, lambda key: f"{key[1]!r} ({key[0]})")
        self._count_lock = threading.Lock()
        self._running = 0
        self._closing = threading.Event()
        self._shutdown_lock = threading.Lock()
        self._shut_down = False

    # -- the tool call --------------------------------------------------------------------------

    async def execute(self, request: ExecRequest) -> ToolReply:
        """Validate, queue for a slot, run, audit. Bad input is a ``ValueError`` (and is audited
        as rejected); a sandbox that cannot run is a ``SandboxError``; the program's own failure
        is a normal result."""
        try:
            job = self._validate(request)
            named = self._named_session(job) if request.session is not None else None
        except ValueError as exc:
            self._audit(request, None, outcome="rejected", error=str(exc))
            raise
        collected = bool(job.collect)
        if named is None:
            result, files_error = await self._submit(job, None)
            return tool_reply(result, None, collected, files_error)
        async with named.lock:
            try:
                result, files_error = await self._submit(job, named.session)
            except SandboxError:
                if named.session.starts == 0:  # never started: it must not take a session slot
                    self._sessions.pop(named.key)
                    named.session.close()
                raise
        return tool_reply(result, request.session, collected, files_error)

    def _validate(self, request: ExecRequest) -> _Job:
        received = time.monotonic()
        try:
            language: str | None = resolve_language(request.language).name
        except ValueError:
            language = None
        if language not in self.config.languages:
            raise ValueError(f"unknown language {_clip(request.language)!r}; this server runs: "
                             f"{', '.join(self.config.languages)}")
        limits = self.config.limits
        timeout = limits.check_timeout(request.timeout)
        limits.check_code(request.code)
        if request.label is not None and (
                not isinstance(request.label, str) or len(request.label) > MAX_LABEL):
            raise ValueError(f"label must be a string of at most {MAX_LABEL} characters")
        if request.session is not None:
            check_session_name(request.session)
        rules = TransferRules.from_limits(self.limits)
        files = rules.check_files(decode_files(request.files, request.files_base64)
                                  ) if request.files else {}
        collect = check_patterns(request.collect) if request.collect else []
        return _Job(request, language, timeout, received, files, collect)

    def _named_session(self, job: _Job) -> _NamedSession:
        """Sessions are per (language, name): "work" in Python and "work" in Bash are two."""
        assert job.request.session is not None
        key = (job.language, job.request.session)
        named = self._sessions.get(key)
        if named is not None:
            return named
        named = _NamedSession(key, self.sandbox.session(job.language, self.limits),
                              asyncio.Lock())
        return self._sessions.add(key, named)

    async def _submit(
        self, job: _Job, session: SandboxSession | None
    ) -> tuple[ExecutionResult, str | None]:
        if self._closing.is_set():
            raise SandboxError("the MCP server is shutting down")
        try:
            future = self._pool.submit(self._run_job, job, session)
        except RuntimeError:  # the pool was shut down between the check and here
            raise SandboxError("the MCP server is shutting down") from None
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        # Cancelling the await (the client gave up) drops a queued job; a running one finishes.
        return await asyncio.wrap_future(future)

    def _run_job(
        self, job: _Job, session: SandboxSession | None
    ) -> tuple[ExecutionResult, str | None]:
        """Runs in a worker thread: the slot is this thread, held until the sandbox is gone."""
        started = time.time()
        queued_ms = (time.monotonic() - job.received) * 1000.0
        timing: dict[str, Any] = {"started": timestamp(started), "queued_ms": round(queued_ms, 1)}
        if self._closing.is_set():
            self._audit(job.request, job, outcome="cancelled", error="server shutting down",
                        **timing)
            raise SandboxError("the MCP server is shutting down")
        with self._count_lock:
            self._running += 1
            timing["concurrent"] = self._running
        files_error: str | None = None
        try:
            try:
                if session is None:
                    result = self.sandbox.run(job.language, job.request.code, job.timeout,
                                              files=job.files, collect=job.collect)
                else:
                    result = session.run(job.request.code, job.timeout, files=job.files,
                                         collect=job.collect)
            except TransferError as exc:
                if exc.result is None:
                    raise
                result, files_error = exc.result, str(exc)
        except Exception as exc:
            self._audit(job.request, job, outcome="failed", error=str(exc), **timing)
            raise
        finally:
            with self._count_lock:
                self._running -= 1
        self._audit(job.request, job, result=result, outcome=_outcome(result),
                    files_error=files_error, **timing)
        return result, files_error

    def _audit(
        self,
        request: ExecRequest,
        job: _Job | None,
        *,
        outcome: str,
        result: ExecutionResult | None = None,
        error: str | None = None,
        files_error: str | None = None,
        **timing: Any,
    ) -> None:
        code = request.code if isinstance(request.code, str) else ""
        record: dict[str, Any] = {
            "time": timestamp(),
            "outcome": outcome,
            "label": _clip(request.label),
            "language": job.language if job else _clip(request.language),
            "session": _clip(request.session),
            "code_sha256": code_sha256(code),
            "code_bytes": len(code.encode("utf-8", "surrogatepass")),
            "limits": limits_record(self.config.limits, job.timeout if job else None),
            "exit_code": result.exit_code if result else None,
            "duration_ms": round(result.execution_time, 1) if result else None,
            "timed_out": result.timed_out if result else False,
            "oom_killed": result.oom_killed if result else False,
            "truncated": result.truncated if result else False,
            "started": None,
            "queued_ms": None,
            "concurrent": None,
        }
        record.update(timing)
        if job is not None and job.files:
            record["files_in"] = audit_files(job.files)
        if result is not None and result.files:
            record["files_out"] = audit_files(result.files)
        if files_error is not None:
            record["files_error"] = files_error
        if error is not None:
            record["error"] = error
        self.audit.write(record)

    # -- life cycle -----------------------------------------------------------------------------

    def connect(self) -> None:
        """Reach the daemon now (and reap orphans of crashed servers) rather than on the first
        call; a daemon that is down is reported on stderr, and each call says so again."""
        try:
            self.sandbox.connect()
        except SandboxError as exc:
            print(f"sandbox-kernel mcp: warning: {exc}", file=sys.stderr)

    def shutdown(self, reason: str = "shutdown") -> None:
        """Stop taking work and remove every container this process created; idempotent.

        Containers are killed first, without the engine's locks: a session's lock is held for
        the whole cell, so ``cleanup_all`` alone would wait for a running cell (up to the
        timeout); once its container is gone, every run returns at once.
        """
        with self._shutdown_lock:
            if self._shut_down:
                return
            self._closing.set()
            self._pool.shutdown(wait=False)
            removed = set(self._kill_sandboxes())
            for named in self._sessions.values():
                named.session.close()
            pending = [future for future in list(self._futures) if not future.done()]
            if pending:
                wait(pending, timeout=SHUTDOWN_WAIT)
            try:
                # Also catches a container created during the kill, and the warm pool's.
                removed.update(self.sandbox.cleanup_all())
            except Exception as exc:  # noqa: BLE001 - a daemon gone away must not stop the exit
                print(f"sandbox-kernel mcp: cleanup failed: {exc}", file=sys.stderr)
            self._shut_down = True
        print(f"sandbox-kernel mcp: stopped ({reason}); removed {len(removed)} container(s)",
              file=sys.stderr, flush=True)

    def _kill_sandboxes(self) -> list[str]:
        try:
            ours = [info.id for info in self.sandbox.containers(ownership.owner_id())]
        except Exception:  # noqa: BLE001 - no daemon, no containers to remove
            return []
        if ours:
            with ThreadPoolExecutor(min(8, len(ours))) as pool:
                list(pool.map(self.sandbox.remove, ours))
        return ours
