"""A persistent sandbox: one container whose driver process keeps state between runs.

A small driver, injected over stdin when the container starts, runs each cell inside one
interpreter and talks to us over the container's attach stream: a cell costs one round trip on a
socket, no new container and no ``docker exec``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from sandbox_kernel.backends import Attachment
from sandbox_kernel.engine.driver_files import driver_file
from sandbox_kernel.engine.expressions import (
    check_expressions,
    police,
    run_payload,
    unsupported,
)
from sandbox_kernel.engine.framing import FrameScanner, Text
from sandbox_kernel.engine.hardening import start_cpus
from sandbox_kernel.engine.lifecycle import STOP
from sandbox_kernel.engine.protocol import (
    Message,
    ack_mismatch,
    code_window,
    new_nonce,
    parse_message,
    request,
)
from sandbox_kernel.engine.rich import (
    POLICY,
    DisplayCallback,
    DisplayLog,
    payloads,
    police_bundle,
    rejected_notes,
    rich_output,
)
from sandbox_kernel.engine.sandbox import OOM_CHECKS, OutputCallback, remove_container
from sandbox_kernel.engine.streams import STDERR, STDOUT, CappedStream
from sandbox_kernel.engine.workspace import TransferError, Workspace
from sandbox_kernel.errors import SandboxError
from sandbox_kernel.files.globs import check_patterns
from sandbox_kernel.files.host import read_tree
from sandbox_kernel.files.names import check_name
from sandbox_kernel.files.rules import TransferRules
from sandbox_kernel.languages import Language
from sandbox_kernel.limits import Limits, MiB, format_size
from sandbox_kernel.output_policy import OutputBudget
from sandbox_kernel.result import ExecutionResult

if TYPE_CHECKING:
    from sandbox_kernel.engine.sandbox import DockerSandbox

InputCallback = Callable[[str, bool], "str | None"]
"""Asked ``(prompt, password)`` when the cell reads input; ``None`` means no input (EOF)."""

RICH_MESSAGES = ("display", "execute_result", "clear_output")
"""Driver messages that carry rich output; ``engine.rich`` puts them through the output policy."""

MAX_INSPECT = 64 * 1024
"""Characters of an ``inspect`` reply kept (a function's source can be long)."""
MAX_INDENT = 80

START_TIMEOUT = 30.0
DRIVER_START_MEMORY = {"python": 40 * MiB, "node": 20 * MiB}
"""Peak memory of a session driver that has just run a first cell (measured: the IPython driver
~38 MiB, the Node.js driver ~19 MiB, Bash ~4 MiB); under it a start failure names the limit."""
MESSAGE_BACKLOG = 4
"""Driver messages may wait in the queue up to this many times ``Limits.max_message`` bytes."""
FLUSH_WAIT = 1.0
MAX_MATCHES = 1000

OOM_KEPT = ("The OOM killer ended a process during this cell (out of memory, limit {limit}); "
            "the session's state was kept.")
"""The notice of a cell in which the OOM killer acted but the session's driver survived."""

LATE_NOTE = ("[sandbox-kernel: output after the cell over {cap} per stream was dropped "
             "until the next cell]\n")
"""Sent once per stream and period between cells, when the text after a cell reached its cap."""

LATE_DISPLAY_TYPES = ("display", "clear_output")
"""Driver messages a cell's threads and timers may send after the cell ended (``display`` is
``display_data`` or ``update_display_data``): published at once, as ipykernel does."""

LATE_DISPLAY_NOTE = ("[sandbox-kernel: displays after the cell over {count} messages or {size} "
                     "were dropped until the next cell]\n")
"""Sent once per period between cells, when the displays after a cell reached the caps of one
cell's outputs (``OutputPolicy.max_outputs_per_cell`` messages, updates and clears counted too,
and ``OutputPolicy.max_cell_bytes`` of frames)."""

# $1: the driver source's size, $2: the boot nonce, $3: the message cap (bytes). Python and Node:
# the nonce is the last argument, the cap the one before; Bash: the nonce is $1, the cap $2.
_BOOT = {
    "python": ("python3", "-u", "-c", '"$(head -c "$1")"', '"$3"', '"$2"'),
    # Node cannot move a descriptor itself: the shell puts the control channel on 3.
    "node": ("node", "-e", '"$(head -c "$1")"', '"$3"', '"$2"', "3<&0", "</dev/null"),
    "bash": ("bash", "-c", '"$(head -c "$1")"', "bash", '"$2"', '"$3"'),
}


INTERRUPTIBLE_REQUESTS = frozenset({"python"})
"""Languages whose driver stops a ``complete``/``inspect``/``is_complete`` request on SIGINT (and
answers it empty). Others are not interrupted (Bash answers in its supervisor, which ignores
SIGINT; Node.js answers synchronously): an overrun request is waited for during the grace period."""

MESSAGES = 0
"""The backlog's account of driver messages (stdout and stderr text have their own)."""


class OutputBacklog:
    """Bounds, in bytes, what waits in the queue between the reader thread and the consumer.

    Past ``cap`` unconsumed bytes per stream (``message_cap`` for driver messages, counted by
    their JSON size before they are parsed), what arrives is dropped and counted; the next
    cell's result reports dropped text as truncated, ``SandboxSession.dropped_messages`` counts
    dropped messages. A cell being collected consumes as fast as it arrives, and its own text cap
    is the same, so nothing it would have kept is lost.
    """

    def __init__(self, cap: int, message_cap: int | None = None) -> None:
        self.cap = cap
        self._caps = {STDOUT: cap, STDERR: cap, MESSAGES: message_cap or cap}
        self._pending = {STDOUT: 0, STDERR: 0, MESSAGES: 0}
        self._dropped = {STDOUT: 0, STDERR: 0, MESSAGES: 0}
        self._lock = threading.Lock()

    def admit(self, stream_id: int, size: int) -> bool:
        with self._lock:
            if stream_id not in self._pending:
                return False
            if self._pending[stream_id] + size > self._caps[stream_id]:
                self._dropped[stream_id] += size
                return False
            self._pending[stream_id] += size
            return True

    def release(self, stream_id: int, size: int) -> None:
        with self._lock:
            self._pending[stream_id] -= size

    def dropped(self, stream_id: int) -> int:
        with self._lock:
            return self._dropped[stream_id]

    def take_dropped(self, stream_id: int) -> int:
        with self._lock:
            dropped, self._dropped[stream_id] = self._dropped[stream_id], 0
            return dropped


def _completion_details(item: dict[str, Any], offset: int) -> dict[str, Any]:
    """One entry of ``_jupyter_types_experimental``: its plain fields, positions moved by
    ``offset`` (the driver saw a window of the cell starting there)."""
    kept: dict[str, Any] = {}
    for key in ("start", "end", "text", "type", "signature"):
        value = item.get(key)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            continue
        if key in ("start", "end"):
            if not isinstance(value, int):
                continue
            value += offset
        kept[key] = value
    return kept


def driver_command(
    language: Language, token: str, max_message: int
) -> tuple[list[str], bytes]:
    """The container command and the driver source it expects on stdin.

    ``max_message`` (bytes, ``Limits.max_message``) tells the driver the largest message the host
    accepts: the driver bounds every message it sends to it (drivers/PROTOCOL.md, "Start")."""
    source = driver_file(language.driver)
    script = "exec " + " ".join(_BOOT[language.name])
    return ["sh", "-c", script, "sh", str(len(source)), token, str(max_message)], source


@dataclass
class LateDisplays:
    """What a period between cells has sent to ``on_late_display`` (counted before parsing)."""

    budget: OutputBudget = field(default_factory=lambda: POLICY.budget(reset_on_clear=False))
    messages: int = 0
    size: int = 0
    full: bool = False

    def admit(self, size: int) -> bool:
        """Whether one more frame of ``size`` bytes fits the period's caps."""
        if self.full or self.messages >= POLICY.max_outputs_per_cell or (
                self.size + size > POLICY.max_cell_bytes):
            self.full = True
            return False
        self.messages += 1
        self.size += size
        return True


class SandboxSession:
    """A container that keeps a language's state between ``run`` calls.

    One cell runs at a time. A cell that kills the interpreter (exit, out of memory, a timeout
    that ignores interrupts) loses the state; the next run starts a fresh container and says so in
    ``ExecutionResult.notice``.

    Output after a cell: text that threads, timers, promises or background jobs of a cell write
    once the cell has ended goes to ``on_late_output`` at once, when it is set (the Jupyter
    kernels send it with the finished cell's parent header, as ipykernel's streams do). Without
    it, the text waits (bounded by the backlog) and comes out as the next run's output, as it
    would in a terminal. Text written while a cell runs is that cell's output, whichever cell's
    code wrote it: the sandbox's stdout does not say (ipykernel, too, gives a thread's output to
    the request being served). Displays (``display_data``, ``update_display_data``,
    ``clear_output``) that a cell's threads or timers send after it ended go to
    ``on_late_display`` at once, through the output policy, when it is set; other driver
    messages between cells, and those displays without the callback, are dropped and counted
    (``dropped_messages``).
    """

    def __init__(self, sandbox: DockerSandbox, language: Language, limits: Limits) -> None:
        self.sandbox = sandbox
        self.language = language
        self.limits = limits
        self.container_id: str | None = None
        self._pump: Attachment | None = None
        self._events: queue.Queue[tuple[str, int, Any]] = queue.Queue()
        self._backlog = OutputBacklog(limits.max_output)
        self._lock = threading.RLock()
        self._dead_reason: str | None = None
        self._closed = False
        self._scanners: dict[int, FrameScanner] = {}
        self._invalid_messages = 0
        self._rejected_before = (0, 0)
        """``_rejected_messages()`` when the running cell was sent: its own are counted since."""
        self._expression_answer: object = None  # done.user_expressions of the last cell
        self._dropped_before = 0
        self.on_late_output: OutputCallback | None = None
        """Called ``(stream_name, text)`` with the text the sandbox writes while no cell is read
        (after a cell's reply, before the next one is sent), from the session's reader thread
        and at once: it must not block (the Jupyter kernel appends to its stream batcher). At
        most ``Limits.max_output`` bytes per stream between two cells, then one ``LATE_NOTE`` on
        stderr and the rest is dropped. An exception it raises is ignored. Set it before the
        session starts; ``None`` (the default): the next run gets that text."""
        self.on_late_display: DisplayCallback | None = None
        """Called with each display (a policed ``RichOutput``: ``display_data``,
        ``update_display_data`` or ``clear_output``) that the last cell's threads or timers send
        after the cell ended, from the session's reader thread and at once: it must not block.
        The frames carry the nonce of the last ``run`` (``drivers/PROTOCOL.md``); they go through
        the output policy with one budget per period between cells, and at most
        ``OutputPolicy.max_outputs_per_cell`` messages or ``max_cell_bytes`` of them per period
        are parsed, then one ``LATE_DISPLAY_NOTE`` goes to ``on_late_output`` (stderr) and the
        rest is dropped (counted in ``dropped_messages``). The policy's notes go to
        ``on_late_output`` as stderr too. An exception it raises is ignored. ``None`` (the
        default): such displays are dropped and counted, as any message between cells."""
        self._late_nonce: str | None = None
        """The nonce of the last ``run`` whose late displays are accepted (``None``: none)."""
        self._late_displays = LateDisplays()
        self._late_dropped = 0
        self._routing = threading.Lock()
        """Held while text is routed: to ``on_late_output`` (between cells) or to the queue."""
        self._collecting = True
        self._late = self._late_streams()
        self.starts = 0
        self.on_start: Callable[[SandboxSession], object] | None = None
        """Called after every start of a container (the first and each restart), e.g. to put
        the notebook's data files in place; an exception it raises fails the start."""

    # -- life cycle -----------------------------------------------------------------------------

    def __enter__(self) -> SandboxSession:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self.container_id is not None and self._dead_reason is None

    def start(self) -> None:
        """Start the container and its driver, unless it already runs."""
        with self._lock:
            if self._closed:
                raise SandboxError("this session was closed")
            if self.alive:
                return
            self._discard_container()
            backend = self.sandbox.backend
            nonce = new_nonce()
            self._dropped_before += sum(s.dropped for s in self._scanners.values())
            scanners = {STDOUT: FrameScanner(self.limits.max_message, nonce),
                        STDERR: FrameScanner(self.limits.max_message, nonce)}
            self._scanners = scanners
            self._late_nonce = None
            events: queue.Queue[tuple[str, int, Any]] = queue.Queue()
            self._events = events

            backlog = self._backlog = OutputBacklog(self.limits.max_output,
                                                    MESSAGE_BACKLOG * self.limits.max_message)

            def on_frame(stream_id: int, payload: bytes) -> None:
                scanner = scanners.get(stream_id)
                if scanner is None:
                    return
                oversized = scanner.oversized_expected
                for item in scanner.feed(payload):
                    if isinstance(item, Text):
                        with self._routing:  # a cell's end cannot slip between test and put
                            if not self._collecting and self.on_late_output is not None:
                                self._deliver_late(stream_id, item.data)
                            elif backlog.admit(stream_id, len(item.data)):
                                events.put(("text", stream_id, item.data))
                        continue
                    if item.nonce == scanner.also and item.nonce != scanner.expected:
                        with self._routing:  # a display of the last cell's threads
                            self._deliver_late_display(item.body)
                        continue
                    if not backlog.admit(MESSAGES, len(item.body)):
                        continue
                    message = parse_message(item.body)
                    if message is None:
                        backlog.release(MESSAGES, len(item.body))
                        self._invalid_messages += 1
                    else:
                        message["nonce"] = item.nonce
                        events.put(("msg", len(item.body) << 2 | stream_id, message))
                if scanner.oversized_expected != oversized:
                    # A reply of the current request was over the cap: its answer will not come.
                    events.put(("dropped", stream_id, scanner.expected))

            self._read_cell(True)  # the start's own output is read below, for its error
            command, source = driver_command(self.language, nonce, self.limits.max_message)
            # The driver starts (imports IPython) with a CPU to itself; the limit is applied
            # once it is ready, before any request (so before any code of a cell) is sent.
            boost = start_cpus(self.limits, self.sandbox.runtime)
            container_id = self.sandbox.create_container(
                self.language, command, self.limits, "session", cpus=boost
            )
            self.container_id = container_id
            self._dead_reason = None
            try:
                pump = backend.attach(container_id, on_frame,
                                      lambda: events.put(("eof", 0, None)), "session")
                self._pump = pump
                backend.start(container_id)
            except BaseException:
                self._discard_container()
                raise
            pump.send(source, START_TIMEOUT)
            early: list[bytes] = []
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                try:
                    kind, stream_id, data = self._take(events,
                        max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    kind, data = "timeout", None
                if kind == "msg" and data["type"] == "ready" and data["nonce"] == nonce:
                    break
                if kind == "text":
                    early.append(data)
                    continue
                if kind in ("msg", "dropped"):
                    continue
                hint = self._start_memory_hint(container_id, kind)
                self._discard_container()
                output = b"".join(early).decode("utf-8", "replace")[-2000:]
                raise SandboxError(
                    f"the {self.language.display_name} sandbox did not start ({kind}); "
                    f"its output: {output or '(none)'}{hint}"
                )
            if boost is not None:
                try:
                    backend.set_cpus(container_id, self.limits.cpus)
                except BaseException:
                    self._discard_container()
                    raise
            self._expect(None)
            self._read_cell(False)
            self.starts += 1
            if self.on_start is not None:
                self.on_start(self)

    def _start_memory_hint(self, container_id: str, kind: str) -> str:
        """Why a driver that died while starting probably did: a memory limit under what the
        driver needs (``DRIVER_START_MEMORY``) or the OOM killer; ``""`` when neither."""
        if kind != "eof":
            return ""
        try:
            oom = self.sandbox.oom_killed(container_id)
        except Exception:  # noqa: BLE001 - already gone: judge by the limit alone
            oom = False
        needs = DRIVER_START_MEMORY.get(self.language.name)
        if not oom and (needs is None or self.limits.memory >= needs):
            return ""
        cause = "It ran out of memory" if oom else "The memory limit is probably too small"
        about = (f"; the {self.language.display_name} driver needs about {format_size(needs)}"
                 if needs else "")
        return (f". {cause} ({format_size(self.limits.memory)}{about}): raise "
                f"SANDBOX_KERNEL_MEMORY (or the front-end's memory option), e.g. to 128m")

    def _take(
        self, events: queue.Queue[tuple[str, int, Any]], timeout: float
    ) -> tuple[str, int, Any]:
        """The next event, its bytes given back to the backlog (raises ``queue.Empty``)."""
        kind, tag, data = events.get(timeout=timeout)
        if kind == "text":
            self._backlog.release(tag, len(data))
        elif kind == "msg":  # tagged with the frame's size, so its bytes can be released
            self._backlog.release(MESSAGES, tag >> 2)
            tag &= 3
        return kind, tag, data

    def _late_streams(self) -> dict[int, CappedStream]:
        """The caps of one period between cells (counted, not kept)."""
        cap = self.limits.max_output
        return {STDOUT: CappedStream("stdout", cap, retain=False),
                STDERR: CappedStream("stderr", cap, retain=False)}

    def _read_cell(self, collecting: bool) -> None:
        """Route the sandbox's text to the queue (a cell is read) or to ``on_late_output``.

        At a cell's end, the text the reader queued after the cell's last reply is late output
        too: it goes to the callback now, before any text that follows it; an ``eof`` stays
        queued for the next cell to report. A new period between cells starts with fresh caps.
        """
        with self._routing:
            self._collecting = collecting
            if collecting:
                for stream in self._late.values():  # a character cut at the period's end
                    self._send_late(stream.name, stream.flush())
                return
            self._late = self._late_streams()
            self._late_displays = LateDisplays()
            if self.on_late_output is None and self.on_late_display is None:
                return
            keep: list[tuple[str, int, Any]] = []
            while True:
                try:
                    kind, tag, data = self._events.get_nowait()
                except queue.Empty:
                    break
                if kind == "text" and self.on_late_output is not None:
                    self._backlog.release(tag, len(data))
                    self._deliver_late(tag, data)
                elif kind == "msg":  # for the request that just ended: stale, as in _collect
                    self._backlog.release(MESSAGES, tag >> 2)
                    if data["nonce"] == self._late_nonce and self._late_display_admitted(tag >> 2):
                        self._show_late_display(data)
                elif kind != "dropped":  # counted already
                    keep.append((kind, tag, data))
            for event in keep:
                self._events.put(event)

    def _deliver_late(self, stream_id: int, data: bytes) -> None:
        """Give text written between cells to ``on_late_output`` within the period's cap
        (called with ``_routing`` held)."""
        stream = self._late[stream_id]
        already_dropped = stream.dropped
        self._send_late(stream.name, stream.feed(data))
        if stream.dropped and not already_dropped:
            self._send_late("stderr", LATE_NOTE.format(cap=format_size(stream.cap)))

    def _deliver_late_display(self, body: bytes) -> None:
        """Give a display frame of the last cell, sent after it ended, to ``on_late_display``
        (called with ``_routing`` held): counted against the period's caps before it is parsed,
        then validated and policed as a cell's displays are."""
        if self._late_display_admitted(len(body)):
            message = parse_message(body)
            if message is None:
                self._invalid_messages += 1
            else:
                self._show_late_display(message)

    def _late_display_admitted(self, size: int) -> bool:
        """Whether a late display frame of ``size`` bytes is parsed; past the period's caps, one
        ``LATE_DISPLAY_NOTE`` and the rest is dropped and counted."""
        late = self._late_displays
        was_full = late.full
        if self.on_late_display is not None and late.admit(size):
            return True
        self._late_dropped += 1
        if late.full and not was_full:
            note = LATE_DISPLAY_NOTE.format(count=POLICY.max_outputs_per_cell,
                                            size=format_size(POLICY.max_cell_bytes))
            self._deliver_late(STDERR, note.encode())
        return False

    def _show_late_display(self, message: Message) -> None:
        if message["type"] not in LATE_DISPLAY_TYPES:
            self._late_dropped += 1  # a done, an input, ...: only displays outlive their cell
            return
        output = rich_output(message, self._late_displays.budget)
        for note in self._late_displays.budget.take_notes():
            self._deliver_late(STDERR, (note + "\n").encode())
        callback = self.on_late_display
        if output is not None and callback is not None:
            with contextlib.suppress(Exception):  # the reader thread must go on reading
                callback(output)

    def _send_late(self, name: str, text: str) -> None:
        callback = self.on_late_output
        if text and callback is not None:
            with contextlib.suppress(Exception):  # the reader thread must go on reading
                callback(name, text)

    def _expect(self, nonce: str | None) -> None:
        """Accept frames carrying ``nonce`` only (``None``: between requests, accept none)."""
        for scanner in self._scanners.values():
            scanner.expected = nonce

    def _accept_late(self, nonce: str | None) -> None:
        """Also accept frames carrying ``nonce``, the last cell's, as late displays (``None``:
        while a cell runs, and without ``on_late_display``)."""
        self._late_nonce = nonce
        for scanner in self._scanners.values():
            scanner.also = nonce

    def _rejected_messages(self) -> tuple[int, int]:
        """Frames of this session's own requests it could not use: ``(oversized, malformed)``."""
        return (sum(s.oversized_expected for s in self._scanners.values()),
                self._invalid_messages)

    @property
    def dropped_messages(self) -> int:
        """Driver frames dropped since the session started: sent between requests or with a
        stale nonce, over ``Limits.max_message``, unterminated, or failing validation."""
        return (self._dropped_before + sum(s.dropped for s in self._scanners.values())
                + self._invalid_messages + self._backlog.dropped(MESSAGES) + self._late_dropped)

    def close(self) -> None:
        """Remove the container; the session cannot be used afterwards.

        The container goes first, without waiting for the lock a running cell holds, so closing
        never waits for a cell to finish: the cell ends at once as if its process had died.
        """
        self._closed = True
        container_id = self.container_id
        if container_id is not None:
            remove_container(self.sandbox.backend, container_id)
        with self._lock:
            self._closed = True
            self._discard_container()
            self.sandbox.forget_session(self)

    def restart(self) -> None:
        """Replace the container with a fresh one (all state is lost)."""
        with self._lock:
            self._discard_container()
            self.start()

    def _discard_container(self) -> None:
        if self._pump is not None:
            self._pump.close()
            self._pump = None
        if self.container_id is not None:
            remove_container(self.sandbox.backend, self.container_id)
            self.container_id = None

    def interrupt(self) -> None:
        """Send SIGINT to the running cell's process group (Python raises KeyboardInterrupt)."""
        container_id = self.container_id
        if container_id is None:
            return
        self.sandbox.signal(container_id, "SIGINT")

    # -- files --------------------------------------------------------------------------------

    @property
    def rules(self) -> TransferRules:
        """The limits of one transfer (from this session's ``Limits``)."""
        return TransferRules.from_limits(self.limits)

    def workspace(self) -> Workspace:
        """The running container's working directory (started first if needed)."""
        with self._lock:
            if not self.alive:
                self.start()
            assert self.container_id is not None
            return Workspace(self.sandbox, self.container_id, self.rules)

    def upload(self, src: bytes | str | os.PathLike[str], dest: str | None = None) -> list[str]:
        """Copy ``src`` into the working directory as ``dest``; return the names written.

        ``src`` is bytes (``dest`` required) or a host path: a file, or a directory whose
        regular files are copied below ``dest`` (symlinks are not followed). ``dest`` defaults
        to the path's last component. Bad names or sizes over the limits raise ``ValueError``
        before the container is touched; a failure in the sandbox (its working directory full,
        say) raises ``TransferError`` and leaves the session running.
        """
        if isinstance(src, (bytes, bytearray, memoryview)):
            if dest is None:
                raise ValueError("dest is required when src is bytes")
            files = {check_name(dest): bytes(src)}
        elif isinstance(src, (str, os.PathLike)):
            path = os.fspath(src)
            target = check_name(dest if dest is not None
                                else os.path.basename(os.path.normpath(path)))
            files = {check_name(f"{target}/{name}") if name else target: data
                     for name, data in read_tree(path, self.rules).items()}
        else:
            raise ValueError(f"src must be bytes or a path, not {type(src).__name__}")
        checked = self.rules.check_files(files)
        self.workspace().put(checked)
        return sorted(checked)

    def put_files(self, files: Mapping[str, bytes]) -> list[str]:
        """Write several files (relative name to bytes) at once; rules as in ``upload``."""
        checked = self.rules.check_files(files)
        self.workspace().put(checked)
        return sorted(checked)

    def download(self, path: str) -> bytes:
        """The content of the regular file ``path`` (relative to the working directory).

        Raises ``ValueError`` for a bad name, ``FileNotFoundError`` when there is no such file,
        ``TransferError`` for a link, a directory or a file over the limits.
        """
        check_name(path)
        return self.workspace().download(path)

    def collect(self, patterns: Sequence[str]) -> dict[str, bytes]:
        """The regular files matching the glob ``patterns``, within the limits."""
        return self.workspace().collect(check_patterns(patterns))

    def list_files(self, path: str = ".") -> list[str]:
        """Relative names of the regular files at or below ``path``, sorted."""
        check_name(path, "path", allow_root=True)
        return self.workspace().list_files(path)

    def kill(self) -> None:
        """SIGKILL the container: a running cell ends at once, reports the kill (exit status 137)
        and that the state was lost; the next cell starts a fresh sandbox."""
        container_id = self.container_id
        if container_id is not None:
            self.sandbox.signal(container_id, "SIGKILL")

    # -- running cells --------------------------------------------------------------------------

    def run(
        self,
        code: str,
        timeout: float | None = None,
        *,
        files: Mapping[str, bytes] | None = None,
        collect: Sequence[str] = (),
    ) -> ExecutionResult:
        return self.execute(code, timeout, files=files, collect=collect)

    def execute(
        self,
        code: str,
        timeout: float | None = None,
        *,
        on_output: OutputCallback | None = None,
        on_input: InputCallback | None = None,
        on_display: DisplayCallback | None = None,
        files: Mapping[str, bytes] | None = None,
        collect: Sequence[str] = (),
        user_expressions: Mapping[str, str] | None = None,
    ) -> ExecutionResult:
        """Run one cell; output goes to ``on_output`` live and into the result, capped.

        Rich outputs (displays, the value of the last expression, ``clear_output``) go through
        the output policy, then to ``on_display`` live and into ``result.displays``; an
        ``execute_result``'s ``text/plain`` also becomes ``ExecutionResult.value``. A cell whose
        receipt (``ack``) does not match what was sent, or whose replies break the protocol's
        order, fails with a ``ProtocolError`` and the sandbox is replaced: it is never reported
        as a success (drivers/PROTOCOL.md).
        ``files`` and ``collect`` as in ``DockerSandbox.run``: files are written before the cell,
        the regular files matching the globs are read into ``result.files`` after it (unless the
        sandbox was lost). Bad names or sizes raise ``ValueError`` before anything runs; a
        collection over the limits raises ``TransferError`` carrying the cell's ``result``.
        ``user_expressions`` (``{name: expression}``, Jupyter's): evaluated after a cell that
        succeeded, results in ``result.user_expressions`` (``engine/expressions.py``); Bash and
        Node.js sessions give an error entry per expression.
        """
        seconds = self.limits.check_timeout(timeout)
        data = self.limits.check_code(code)
        expressions = check_expressions(user_expressions)
        evaluates = bool(expressions) and self.language.name == "python"
        run_args = ("1",) if evaluates else ()
        if evaluates:
            data = self.limits.check_code(run_payload(code, expressions))
        uploads = self.rules.check_files(files) if files else {}
        patterns = check_patterns(collect)
        with self._lock:
            notice = None
            if not self.alive:
                if self.starts and self._dead_reason:
                    notice = (f"The sandbox was restarted ({self._dead_reason}); "
                              "state from earlier cells was lost.")
                self.start()
            if uploads:
                self.workspace().put(uploads)
            nonce = new_nonce()
            flag = "1" if on_input is not None else "0"
            started = time.monotonic()
            assert self._pump is not None
            self._accept_late(None)
            self._expect(nonce)
            self._read_cell(True)
            ooms_before = self._oom_count()
            try:
                # Before the request: a fast cell's frames can arrive before collection starts.
                self._rejected_before = self._rejected_messages()
                self._pump.send(request("run", nonce, data, flag, *run_args), seconds)
                result = self._collect(nonce, data, started + seconds, on_output, on_input,
                                       on_display)
            finally:
                # Late displays first: no frame of this cell falls between the two.
                self._accept_late(nonce if self.on_late_display is not None else None)
                self._expect(None)
                self._read_cell(False)
            result.execution_time = (time.monotonic() - started) * 1000.0
            if not result.state_lost and self._ran_out_of_memory(ooms_before, result.exit_code):
                result.oom_killed = True
                kept = OOM_KEPT.format(limit=format_size(self.limits.memory))
                notice = f"{notice} {kept}" if notice else kept
            result.notice = notice
            if expressions and not evaluates:
                result.user_expressions = unsupported(
                    expressions, f"user_expressions are not supported by the "
                                 f"{self.language.display_name} sandbox")
            elif evaluates and result.error is None and result.exit_code == 0:
                result.user_expressions = police(self._expression_answer, expressions, POLICY,
                                                 POLICY.budget())
            result.settle(self.limits.memory, seconds)
            if patterns and self.alive:
                try:
                    result.files = self.workspace().collect(patterns)
                except TransferError as exc:
                    exc.result = result
                    raise
            return result

    def _collect(
        self,
        nonce: str,
        sent: bytes,
        deadline: float,
        on_output: OutputCallback | None,
        on_input: InputCallback | None,
        on_display: DisplayCallback | None,
    ) -> ExecutionResult:
        streams = {STDOUT: CappedStream("stdout", self.limits.max_output),
                   STDERR: CappedStream("stderr", self.limits.max_output)}
        result = ExecutionResult()
        acked = False
        displays = DisplayLog()
        budget = POLICY.budget()
        done: dict[str, Any] | None = None
        flushed = False
        interrupted_at: float | None = None
        while done is None or not flushed:
            now = time.monotonic()
            if done is not None:
                wait = FLUSH_WAIT  # the stderr flush marker follows the reply at once
            elif interrupted_at is None:
                wait = deadline - now
            else:
                wait = interrupted_at + STOP.grace - now
            try:
                kind, stream_id, data = self._take(self._events, max(0.0, wait))
            except KeyboardInterrupt:
                # The caller was interrupted (Ctrl-C in a magic cell, say): pass it on to the
                # cell, and give up on the sandbox if it is interrupted again.
                if interrupted_at is None:
                    interrupted_at = time.monotonic()
                    result.interrupted = True
                    self.interrupt()
                    continue
                self._abandon(result, "the cell was interrupted twice")
                break
            except queue.Empty:
                if done is not None:
                    break
                if interrupted_at is None:
                    result.timed_out = True
                    interrupted_at = time.monotonic()
                    self.interrupt()
                    continue
                cause = "timed out" if result.timed_out else "was interrupted"
                self._abandon(result, f"the cell {cause} and did not stop when interrupted")
                break
            if kind == "text":
                text = streams[stream_id].feed(data)
                if text and on_output is not None:
                    on_output(streams[stream_id].name, text)
                continue
            if kind == "eof":
                self._finish_dead_container(result)
                break
            if kind == "dropped":
                continue  # counted by its scanner, noted below
            message: Message = data
            if message["nonce"] != nonce:
                continue  # queued for an earlier request just before it ended
            kind_of = message["type"]
            if stream_id == STDERR:
                # stderr carries only the flush marker; Docker reads the two streams apart, so
                # it may overtake the receipt on stdout.
                flushed = flushed or kind_of == "flush"
            elif kind_of == "ack" and not acked:
                mismatch = ack_mismatch(message, sent)
                if mismatch is not None:
                    self._desynchronised(result, mismatch)
                    break
                acked = True
            elif not acked or kind_of in ("ack", "ready"):
                # Anything before the receipt (or a second receipt): the driver is not running
                # the cell we sent, whatever it says.
                self._desynchronised(result, f"a {kind_of!r} message arrived before the "
                                             "sandbox confirmed it received the cell")
                break
            elif kind_of == "done" and done is None:
                done = message
            elif kind_of == "input":
                self._answer_input(nonce, message, on_input)
            elif kind_of in RICH_MESSAGES:
                output = rich_output(message, budget)
                self._show_notes(budget, streams[STDERR], on_output)
                if output is not None:
                    displays.add(output)
                    if on_display is not None:
                        on_display(output)
        self._expression_answer = None if done is None else done.get("user_expressions")
        if done is not None:
            result.payload = payloads(done["payload"], budget)
            self._show_notes(budget, streams[STDERR], on_output)
        oversized, invalid = (got - had for got, had in
                              zip(self._rejected_messages(), self._rejected_before, strict=True))
        for note in rejected_notes(oversized, invalid, self.limits.max_message):
            streams[STDERR].feed(note.encode())
            if on_output is not None:
                on_output("stderr", note)
        for stream_id, stream in streams.items():
            stream.dropped += self._backlog.take_dropped(stream_id)
            tail = stream.flush()
            if tail and on_output is not None:
                on_output(stream.name, tail)
        result.stdout, result.stderr = streams[STDOUT].text(), streams[STDERR].text()
        result.truncated = any(s.truncated for s in streams.values())
        result.displays = displays.items
        result.value = displays.value
        if done is not None and result.error is None:
            result.exit_code = done["status"]
            result.execution_count = done["execution_count"]
            result.error = done["error"]
            result.peak_memory = done["peak_memory"]
            result.interrupted = result.interrupted or result.exit_code == 130 or bool(
                result.error and result.error.get("ename") == "KeyboardInterrupt")
        return result

    @staticmethod
    def _show_notes(budget: OutputBudget, stderr: CappedStream,
                    on_output: OutputCallback | None) -> None:
        """The output policy's notes about what it dropped, shown as the cell's stderr."""
        for note in budget.take_notes():
            text = stderr.feed((note + "\n").encode())
            if text and on_output is not None:
                on_output(stderr.name, text)

    def _desynchronised(self, result: ExecutionResult, reason: str) -> None:
        """The driver and the host disagree about the cell: fail it and replace the sandbox."""
        result.exit_code = None
        result.value = None
        result.error = {"ename": "ProtocolError",
                        "evalue": f"protocol desynchronised: {reason}; the cell did not run as "
                                  "sent and the sandbox was replaced",
                        "traceback": []}
        self._abandon(result, "the driver protocol was desynchronised")

    def _answer_input(
        self, nonce: str, message: Message, on_input: InputCallback | None
    ) -> None:
        reply = None
        if on_input is not None:
            reply = on_input(message["prompt"], message["password"])
        body = (reply or "").replace("\x00", "").encode("utf-8", "replace")
        if self._pump is not None:
            self._pump.send(request("input", nonce, body, "0" if reply is None else "1"), 10.0)

    def _oom_count(self) -> int | None:
        """Docker's count of OOM kills in this session's container so far (``None``: unknown)."""
        if self.container_id is None:
            return None
        try:
            return self.sandbox.backend.oom_count(self.container_id)
        except Exception:  # noqa: BLE001 - gone or unknown: nothing to compare
            return None

    def _ran_out_of_memory(self, before: int | None, exit_code: int | None) -> bool:
        """Whether the OOM killer acted in the container during a cell whose driver survived
        (a child process, or a process left running, was killed): the count of Docker's ``oom``
        events rose. The event can land after the cell's reply; when the cell ended with 137
        (its last command was SIGKILLed), look again for up to 1 s, as ``DockerSandbox`` does
        for a one-shot run. Otherwise one look: the cell went on after the kill, which has
        always been long enough for the event to arrive (never missed in the tests)."""
        if before is None:
            return False
        looks = OOM_CHECKS if exit_code == 137 else 1
        for look in range(looks):
            now = self._oom_count()
            if now is not None and now > before:
                return True
            if look + 1 < looks:
                time.sleep(1.0 / OOM_CHECKS)
        return False

    def _finish_dead_container(self, result: ExecutionResult) -> None:
        """The driver exited (exit, out of memory, killed): report how, drop the container."""
        assert self.container_id is not None
        try:
            result.exit_code = self.sandbox.backend.wait(self.container_id, 10.0)
            result.oom_killed = result.exit_code == 137 and self.sandbox.oom_killed(
                self.container_id)
        except Exception:  # noqa: BLE001 - removed under us: the status is unknown
            result.exit_code = None
        result.state_lost = True
        lost = result.settle(self.limits.memory).outcome
        self._abandon(result, lost.lost_reason if lost and lost.lost_reason else "it exited")

    def _mark_dead(self, reason: str) -> None:
        self._dead_reason = reason

    def _abandon(self, result: ExecutionResult, reason: str) -> None:
        """Give up on this container: the next cell starts a fresh one and says why."""
        self._mark_dead(reason)
        self._discard_container()
        result.state_lost = True

    def complete(self, code: str, cursor_pos: int, timeout: float = 5.0) -> dict[str, Any]:
        """Completions from the live namespace: ``matches``, ``cursor_start``, ``cursor_end``,
        ``metadata``; empty while a cell runs or when the sandbox does not answer in time."""
        offset, window, cursor = code_window(code, cursor_pos)
        empty: dict[str, Any] = {"matches": [], "cursor_start": offset + cursor,
                                 "cursor_end": offset + cursor, "metadata": {}}
        answer = self._ask("complete", {"code": window, "cursor_pos": cursor}, timeout)
        if answer is None:
            return empty
        metadata = answer.get("metadata")
        details = (metadata.get("_jupyter_types_experimental")
                   if isinstance(metadata, dict) else None)
        start, end = answer["cursor_start"], answer["cursor_end"]
        if not 0 <= start <= end <= len(window):
            return empty
        reply = {"matches": answer["matches"][:MAX_MATCHES], "cursor_start": offset + start,
                 "cursor_end": offset + end, "metadata": {}}
        if isinstance(details, list):
            reply["metadata"]["_jupyter_types_experimental"] = [
                _completion_details(item, offset)
                for item in details[:MAX_MATCHES] if isinstance(item, dict)]
        return reply

    def inspect(self, code: str, cursor_pos: int, detail_level: int = 0,
                timeout: float = 5.0) -> dict[str, Any]:
        """What the sandbox knows about the name at the cursor (IPython's ``object_inspect``):
        ``found`` and a policed MIME bundle ``data``; not found while a cell runs."""
        _, window, cursor = code_window(code, cursor_pos)
        answer = self._ask("inspect", {"code": window, "cursor_pos": cursor,
                                       "detail_level": 1 if detail_level else 0}, timeout)
        policed = police_bundle(answer.get("data"), {}) if answer else None
        if answer is None or answer.get("found") is not True or policed is None:
            return {"found": False, "data": {}, "metadata": {}}
        return {"found": True, "data": policed[0], "metadata": {}}

    def is_complete(self, code: str, timeout: float = 5.0) -> dict[str, Any]:
        """Whether ``code`` is a whole cell, by the sandbox's own parser (``is_complete_reply``).

        ``{"status": "complete" | "incomplete" | "invalid" | "unknown", "indent": str}``;
        ``unknown`` while a cell runs or without an answer in time.
        """
        reply = self._ask("is_complete", {"code": code}, timeout)
        if reply is None:
            return {"status": "unknown", "indent": ""}
        indent = reply["indent"]
        return {"status": reply["status"],
                "indent": indent[:MAX_INDENT] if not indent.strip() else ""}

    def _ask(self, verb: str, body: dict[str, Any], timeout: float) -> Message | None:
        """Send one introspection request (``complete``, ``inspect``, ``is_complete``) and wait
        for its answer; ``None`` while a cell runs (the lock is only tried) or after
        ``timeout`` seconds.

        A request that overruns ``timeout`` is stopped as a cell is: interrupted (drivers in
        ``INTERRUPTIBLE_REQUESTS``), then its answer is awaited for ``STOP.grace`` seconds and
        discarded, so that the driver is idle again and the next cell runs at once. A driver
        that still does not answer is replaced (the next cell says so), never left busy."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if not self.alive or self._pump is None:
                return None
            nonce = new_nonce()
            self._expect(nonce)
            self._pump.send(request(verb, nonce, json.dumps(body).encode()), timeout)
            answered, answer = self._await_answer(verb, nonce, time.monotonic() + timeout)
            if answered or not self.alive:
                return answer
            if self.language.name in INTERRUPTIBLE_REQUESTS:
                self.interrupt()
            answered, _ = self._await_answer(verb, nonce, time.monotonic() + STOP.grace)
            if not answered and self.alive:
                self._mark_dead(f"a {verb} request did not stop when interrupted")
                self._discard_container()
            return None
        finally:
            self._expect(None)
            self._lock.release()

    def _await_answer(
        self, verb: str, nonce: str, deadline: float
    ) -> tuple[bool, Message | None]:
        """Wait until ``deadline`` (monotonic) for the answer to the request ``nonce``:
        ``(answered, message)``. ``answered`` is also true when the answer was over the message
        cap (dropped; the driver is idle again) or the driver exited; ``message`` is ``None``
        then."""
        while True:
            try:
                kind, _, data = self._take(self._events, max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False, None
            if kind == "eof":
                self._mark_dead("the process exited")
                return True, None
            if kind == "dropped" and data == nonce:
                return True, None
            if kind == "msg" and data["type"] == verb and data["nonce"] == nonce:
                return True, cast(Message, data)
