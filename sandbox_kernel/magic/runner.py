"""Run one ``%%sandbox`` cell so that the kernel stays in charge while the sandbox works.

Interrupting the kernel raises ``KeyboardInterrupt`` in its main thread, wherever that thread is.

* A one-shot run (``DockerSandbox.run``) is safe to interrupt: its try/finally removes the
  container, which is exactly "stop the program". It runs in the main thread (``run_here``);
  its output arrives on the engine's reader thread and is written from there.
* A session is not: ``SandboxSession.execute`` interrupted in its read loop leaves the cell
  running in the container, and the cell's late output and reply are then read as the next
  cell's. So a session cell runs in a worker thread, which never sees signals, while the main
  thread moves its output into the cell and waits (``run_in_worker``), with SIGINT turned into
  a message for that wait rather than an exception. The interrupt then becomes what the
  sandbox understands: SIGINT to the cell (Python raises ``KeyboardInterrupt`` and keeps its
  state, Bash stops the cell), then, if the cell does not stop within a grace period, the
  container is killed (the state is lost).
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from sandbox_kernel.engine.lifecycle import STOP
from sandbox_kernel.engine.rich import RichOutput
from sandbox_kernel.engine.sandbox import OutputCallback
from sandbox_kernel.engine.session import SandboxSession
from sandbox_kernel.result import ExecutionResult

POLL = 0.2
"""How often the main thread wakes up while waiting, so a pending interrupt is acted on soon."""

Work = Callable[[OutputCallback], ExecutionResult]
OutputSink = Callable[[str, str], None]



class Stopper:
    """How to stop the program of one cell: gently (``interrupt``) or for sure (``kill``)."""

    def interrupt(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError


class SessionStopper(Stopper):
    """Interrupts a session's cell; killing the container loses the session's state."""

    def __init__(self, session: SandboxSession) -> None:
        self.session = session

    def interrupt(self) -> None:
        self.session.interrupt()

    def kill(self) -> None:
        # SIGKILL, not removal: the session then reads the exit status (137) and reports that
        # its state was lost, and starts a fresh container on its next cell.
        self.session.kill()


@dataclass
class Outcome:
    """What became of a cell run in the worker thread."""

    result: ExecutionResult | None = None
    error: BaseException | None = None
    """An exception from the engine (Docker unreachable, image missing, ...)."""
    interrupted: bool = False
    """The user interrupted the kernel while the cell ran (a one-shot container is then gone)."""
    killed: bool = False
    """A session's cell ignored the interrupt and its container was killed."""
    abandoned: bool = False
    """The engine did not return even after the kill; the worker thread was left behind."""
    output: dict[str, list[str]] = field(default_factory=lambda: {"stdout": [], "stderr": []})
    """Every piece of output seen, per stream (for ``--out``/``--err`` when there is no result)."""
    rich: list[RichOutput] = field(default_factory=list)
    """Rich outputs (after the output policy) not shown as they came, in order; session cells
    only."""
    value: RichOutput | None = None
    """The cell's ``execute_result``, when its rich outputs were shown as they came."""


def run_here(work: Work, sink: OutputSink) -> Outcome:
    """Run a one-shot cell in the calling thread; an interrupt ends it (the engine cleans up).

    The engine calls ``on_output`` from its reader thread, so writes are serialised here and
    stop once the cell is over: a late chunk must not land in the next cell's output. A failing
    ``sink`` must not break the engine's reader either (it would take it for the end of output).
    """
    outcome = Outcome()
    lock = threading.Lock()
    open_for_output = True

    def on_output(stream: str, text: str) -> None:
        with lock:
            if not open_for_output:
                return
            outcome.output.setdefault(stream, []).append(text)
            with contextlib.suppress(Exception):
                sink(stream, text)

    try:
        outcome.result = work(on_output)
    except KeyboardInterrupt:
        outcome.interrupted = True
    except Exception as exc:  # noqa: BLE001 - reported by the magic, without host frames
        outcome.error = exc
    finally:
        with lock:
            open_for_output = False
    return outcome


Item = tuple[str, Any]
"""What the worker thread hands the main thread: ``("output", (stream, text))``,
``("display", RichOutput)``, ``("input", Question)``, or ``_INTERRUPT``."""

_INTERRUPT: Item = ("interrupt", None)
"""Queued by the SIGINT handler: the main thread's wait wakes up and acts on it."""


Asking = Callable[[], contextlib.AbstractContextManager[None]]
"""Gives a context in which SIGINT raises ``KeyboardInterrupt`` again (while the user is asked
for input, which only an exception can end)."""


@contextlib.contextmanager
def interrupts_as_messages(chunks: queue.SimpleQueue[Item | None]) -> Iterator[Asking]:
    """While inside, SIGINT queues ``_INTERRUPT`` instead of raising ``KeyboardInterrupt``.

    An exception raised asynchronously can surface at any bytecode, including the jump back
    to the top of a wait loop, which lies outside any ``try`` in that loop: catching
    ``KeyboardInterrupt`` there would miss some. A handler that only queues a message cannot be
    missed. ``SimpleQueue.put`` is safe to call from a signal handler. Signal handlers can only
    be installed from the main thread; elsewhere (an ipykernel subshell) no SIGINT arrives.
    Yields ``Asking``.
    """
    if threading.current_thread() is not threading.main_thread():
        yield contextlib.nullcontext
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):
        yield contextlib.nullcontext  # interrupts are off: keep them off
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        chunks.put(_INTERRUPT)

    @contextlib.contextmanager
    def asking() -> Iterator[None]:
        signal.signal(signal.SIGINT, previous)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, handler)

    signal.signal(signal.SIGINT, handler)
    try:
        yield asking
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class Question:
    """An input request of the cell, answered by the main thread through ``answer``."""

    prompt: str
    password: bool
    answer: queue.SimpleQueue[str | None] = field(default_factory=queue.SimpleQueue)


class Relay:
    """The session cell's callbacks, called in the worker thread; each hands its item to the
    main thread, which shows it in the cell (``run_in_worker``)."""

    def __init__(self, chunks: queue.SimpleQueue[Item | None]) -> None:
        self._chunks = chunks

    def output(self, stream: str, text: str) -> None:
        self._chunks.put(("output", (stream, text)))

    def display(self, item: RichOutput) -> None:
        self._chunks.put(("display", item))

    def input(self, prompt: str, password: bool) -> str | None:
        """Blocks until the main thread has asked the user; ``None`` is end of input."""
        question = Question(prompt, password)
        self._chunks.put(("input", question))
        return question.answer.get()


SessionWork = Callable[[Relay], ExecutionResult]
Show = Callable[[RichOutput], None]
Ask = Callable[[str, bool], "str | None"]


def run_in_worker(
    work: SessionWork,
    stopper: Stopper,
    sink: OutputSink,
    *,
    show: Show | None = None,
    ask: Ask | None = None,
    grace: float = STOP.grace,
) -> Outcome:
    """Run ``work`` in a worker thread; deliver what it relays from the calling thread.

    Output goes to ``sink``, rich outputs to ``show`` (as they come, so a plot appears while the
    cell still runs, in order with the text around it; without ``show`` they are kept in
    ``outcome.rich``), input requests to ``ask`` (without it, or when it raises, the cell reads
    end of input). All of these run in the calling (main) thread, so writes reach the cell's own
    output and ``%%capture`` or anything else that swaps ``sys.stdout`` sees them. A first
    interrupt asks the program to stop (an interrupt while ``ask`` waits for the user also ends
    that input); a second one, or the grace period running out, kills it. Returns once the
    engine has returned (or, in a pathological case, gave up on it).
    """
    outcome = Outcome()
    chunks: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
    relay = Relay(chunks)
    escalate_at: float | None = None
    give_up_at: float | None = None

    def target() -> None:
        try:
            outcome.result = work(relay)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread to report
            outcome.error = exc
        finally:
            chunks.put(None)

    def interrupt() -> None:
        nonlocal escalate_at
        if not outcome.interrupted:
            outcome.interrupted = True
            escalate_at = time.monotonic() + grace
            stopper.interrupt()
        elif not outcome.killed:
            escalate_at = time.monotonic()  # asked again: stop waiting for it

    worker = threading.Thread(target=target, name="sandbox-magic-cell", daemon=True)
    with interrupts_as_messages(chunks) as asking:
        worker.start()
        while True:
            now = time.monotonic()
            if escalate_at is not None and now >= escalate_at:
                escalate_at = None
                outcome.killed = True
                give_up_at = now + STOP.kill_wait
                stopper.kill()
            if give_up_at is not None and now >= give_up_at:
                outcome.abandoned = True
                break
            try:
                item = chunks.get(timeout=POLL)
            except queue.Empty:
                continue
            if item is None:
                break
            kind, payload = item
            if kind == "interrupt":
                interrupt()
            elif kind == "input":
                answer: str | None = None
                if ask is not None and not outcome.interrupted:
                    try:
                        with asking():
                            answer = ask(payload.prompt, payload.password)
                    except KeyboardInterrupt:
                        interrupt()
                    except Exception:  # noqa: BLE001 - no stdin here (nbclient): end of input
                        answer = None
                payload.answer.put(answer)
            elif kind == "display":
                if show is None:
                    outcome.rich.append(payload)
                else:
                    with contextlib.suppress(Exception):
                        show(payload)
            else:
                stream, text = payload
                outcome.output.setdefault(stream, []).append(text)
                with contextlib.suppress(Exception):  # a broken sys.stdout must not strand it
                    sink(stream, text)
    worker.join(0 if outcome.abandoned else 1.0)
    return outcome
