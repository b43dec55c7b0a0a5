"""``DockerSandbox``: run code in a fresh, locked-down container and report what happened.

The engine decides what a sandbox is (``hardening``), how a run is framed and bounded and when a
container goes away; a ``Backend`` (Docker by default) carries it out. Nothing here imports a
container library: the backend is loaded by name on first use.
"""

from __future__ import annotations

import atexit
import json
import queue
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from sandbox_kernel.backends import Backend, ContainerInfo, ExecOutput, load_backend
from sandbox_kernel.config import ENV_PREFIX, image_variable, load_config
from sandbox_kernel.engine import ownership
from sandbox_kernel.engine.driver_files import driver_text
from sandbox_kernel.engine.framing import FrameScanner, Text
from sandbox_kernel.engine.hardening import (
    BASE_ENVIRONMENT,
    SANDBOX_USER,
    WORKDIR,
    container_spec,
    is_gvisor,
)
from sandbox_kernel.engine.lifecycle import STOP
from sandbox_kernel.engine.protocol import new_nonce, parse_message
from sandbox_kernel.engine.rich import POLICY, DisplayLog, rejected_notes, rich_output
from sandbox_kernel.engine.streams import STDERR, STDOUT, CappedStream
from sandbox_kernel.engine.warm_pool import FrameRouter, Launched, WarmPool
from sandbox_kernel.engine.workspace import TransferError, Workspace
from sandbox_kernel.errors import SandboxError, SandboxUnavailable, UnknownRuntime
from sandbox_kernel.files.globs import check_patterns
from sandbox_kernel.files.rules import TransferRules
from sandbox_kernel.flavours import image_reference
from sandbox_kernel.languages import Language, resolve_language
from sandbox_kernel.limits import Limits
from sandbox_kernel.result import ExecutionResult

if TYPE_CHECKING:
    from sandbox_kernel.engine.session import SandboxSession

PoolKey = tuple[str, str, Limits, "str | None"]
"""What makes two one-shot containers interchangeable: language, image, limits, runtime."""

OutputCallback = Callable[[str, str], None]
"""Receives ``(stream_name, text)`` as output arrives; called from a background thread."""

KILL_GRACE = STOP.output_grace
"""How long after the deadline we allow for the kill and the last bytes of output."""
# Looks at the container's state (spread over one second) before calling an exit 137 a kill.
OOM_CHECKS = 10

_live_lock = threading.Lock()
_live_containers: dict[str, Backend] = {}
"""Every container this process created and has not seen removed, with its backend."""
_janitor_done = False


def _track(backend: Backend, container_id: str) -> None:
    with _live_lock:
        _live_containers[container_id] = backend


def _untrack(container_id: str) -> None:
    with _live_lock:
        _live_containers.pop(container_id, None)


def remove_container(backend: Backend, container_id: str) -> None:
    """Remove one of our containers by ID, whatever state it is in.

    One that cannot be removed now (removal in progress, daemon gone) stays on the list, so
    ``cleanup_all()`` or the exit hook tries again; the janitor covers a crash.
    """
    if backend.remove(container_id):
        _untrack(container_id)


# Removing a container takes Docker ~10 ms: finished runs hand theirs to these workers and return.
# A few workers: removing a gVisor sandbox full of processes can take seconds, and the removals
# queued behind it should not wait for it. Started on first use, never at import.
REMOVER_THREADS = 4
_removals: queue.Queue[tuple[Backend, str]] = queue.Queue()
_removers_started = False


def _remove_in_background() -> None:
    while True:
        backend, container_id = _removals.get()
        remove_container(backend, container_id)
        _removals.task_done()


def start_removers() -> None:
    """Start the process's fixed pool of ``REMOVER_THREADS`` removers, once."""
    global _removers_started
    with _live_lock:
        if not _removers_started:
            _removers_started = True
            for _ in range(REMOVER_THREADS):
                threading.Thread(target=_remove_in_background, daemon=True,
                                 name="sandbox-remover").start()


def remove_later(backend: Backend, container_id: str) -> None:
    """Queue a container for removal by the background removers (started on first use)."""
    start_removers()
    _removals.put((backend, container_id))


_pools: weakref.WeakSet[WarmPool] = weakref.WeakSet()


def _remove_leftovers() -> None:
    _removals.join()
    with _live_lock:
        leftovers = list(_live_containers.items())
    for container_id, backend in leftovers:
        remove_container(backend, container_id)


@atexit.register
def shutdown() -> None:
    """Remove every container this process still has: warm ones, finished runs, sessions."""
    for pool in list(_pools):
        pool.close()
    _remove_leftovers()


def one_shot_command(language: Language, runtime: str | None = None) -> list[str]:
    """The command of a one-shot container: ``drivers/oneshot.sh`` and its arguments.

    The code never appears on a command line or in a host file: it arrives on stdin after the
    container started, so the warm pool can start containers before the code is known. Under
    gVisor a Python program also gets ``drivers/whole_writes_site.py`` as its sitecustomize.
    A Python program gets ``drivers/oneshot_plots.py`` as its default matplotlib backend, whose
    ``show()`` sends figures as display frames (``drivers/PROTOCOL.md``, "One-shot runs").
    """
    site = plots = ""
    if language.name == "python":
        plots = driver_text("oneshot_plots.py")
        if is_gvisor(runtime):
            site = driver_text("whole_writes_site.py")
    program = f"/tmp/.sandbox-cell{language.suffix}"
    return ["sh", "-c", driver_text("oneshot.sh"), "sh", program, site, plots,
            *language.interpreter]


class RunOutput:
    """Collects a one-shot run's output: capped streams, live callbacks, the exit markers and
    the displays.

    The markers are frames of the driver protocol carrying the run's nonce (``token``), which
    only the wrapper knows; the displays are ``display`` frames on stdout carrying
    ``display_token``, which the program knows (``drivers/oneshot_plots.py``), so they are
    hostile: each is at most ``Limits.max_message`` bytes, validated (``parse_message``), and put
    through the output policy with one ``OutputBudget`` per run, as a session cell's are; dropped
    ones leave notes on stderr. Both are found by the same linear, bounded ``FrameScanner`` as a
    session's replies; anything else is the program's output.
    """

    MAX_MARKER = 1024
    """Largest exit marker accepted; a bigger one is dropped."""

    def __init__(self, token: str, limits: Limits, on_output: OutputCallback | None,
                 display_token: str | None = None) -> None:
        self.streams = {STDOUT: CappedStream("stdout", limits.max_output),
                        STDERR: CappedStream("stderr", limits.max_output)}
        cap = max(self.MAX_MARKER, limits.max_message) if display_token else self.MAX_MARKER
        self._max_message = limits.max_message
        self._token = token
        self._scanners = {STDOUT: FrameScanner(cap, token, display_token),
                          STDERR: FrameScanner(cap, token)}
        self._on_output = on_output
        self._displays = DisplayLog()
        self._budget = POLICY.budget()
        self._malformed = 0
        self._statuses: dict[int, int] = {}
        self.oom_counted = False
        """The sandbox's cgroup counted an OOM kill (where the sandbox can read its cgroup)."""
        self.settled = threading.Event()
        """Set when both exit markers arrived or the attach stream ended."""

    def on_frame(self, stream_id: int, payload: bytes) -> None:
        scanner = self._scanners.get(stream_id)
        if scanner is None:
            return
        for item in scanner.feed(payload):
            if isinstance(item, Text):
                self._emit(stream_id, item.data)
                continue
            if item.nonce != self._token:
                self._display(item.body)
                continue
            marker = _exit_marker(item.body) if len(item.body) <= self.MAX_MARKER else None
            if marker is not None and stream_id not in self._statuses:
                self._statuses[stream_id] = marker[0]
                self.oom_counted = self.oom_counted or marker[1]
                if len(self._statuses) == 2:
                    self.settled.set()

    def on_eof(self) -> None:
        self.settled.set()

    def _display(self, body: bytes) -> None:
        """One frame of the plots backend (``display`` only), through the output policy."""
        message = parse_message(body)
        if message is None or message["type"] != "display":
            self._malformed += 1
            return
        output = rich_output(message, self._budget)
        for note in self._budget.take_notes():
            self._emit(STDERR, (note + "\n").encode())
        if output is not None:
            self._displays.add(output)

    def _emit(self, stream_id: int, data: bytes) -> None:
        stream = self.streams[stream_id]
        text = stream.feed(data)
        if text and self._on_output is not None:
            self._on_output(stream.name, text)

    @property
    def exit_status(self) -> int | None:
        """The program's status from the markers, if both arrived."""
        return self._statuses.get(STDOUT) if len(self._statuses) == 2 else None

    def finish(self, result: ExecutionResult) -> ExecutionResult:
        for stream_id, scanner in self._scanners.items():
            held = scanner.drain()
            if held:
                self._emit(stream_id, held)
        oversized = self._scanners[STDOUT].oversized_expected
        for note in rejected_notes(oversized, self._malformed, self._max_message, "this run"):
            self._emit(STDERR, note.encode())
        for stream in self.streams.values():
            tail = stream.flush()
            if tail and self._on_output is not None:
                self._on_output(stream.name, tail)
        result.stdout = self.streams[STDOUT].text()
        result.stderr = self.streams[STDERR].text()
        result.truncated = any(s.truncated for s in self.streams.values())
        result.displays = self._displays.items
        return result


def _exit_marker(body: bytes) -> tuple[int, bool] | None:
    """``(status, oom_counted)`` from the wrapper's exit marker, or ``None`` if malformed."""
    try:
        fields = json.loads(body)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    status, oom = fields.get("status"), fields.get("oom")
    if type(status) is not int or not 0 <= status <= 255 or oom not in (0, 1):
        return None
    return status, oom == 1


class DockerSandbox:
    """The engine: every ``run`` gets a fresh container; ``session`` keeps one for many runs.

    ``runtime`` picks the OCI runtime (``"runsc"`` for gVisor) and ``images`` the image per
    language; by default ``SANDBOX_KERNEL_RUNTIME`` and ``SANDBOX_KERNEL_<LANGUAGE>_IMAGE``
    (``sandbox_kernel.config``), else the daemon's default runtime and the built images.
    ``limits`` default to ``Limits()``: front-ends pass ``load_config().limits``.
    ``warm`` keeps one started container per language and limits ready for the next ``run``
    (each still serves one run only); turn it off for a process that runs once and exits.
    ``backend`` is a ``Backend`` or the name of one (default ``"docker"``, whose daemon is
    ``base_url`` or ``DOCKER_HOST``); it is connected on first use, not here.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        images: dict[str, str] | None = None,
        runtime: str | None = None,
        base_url: str | None = None,
        warm: bool = True,
        backend: Backend | str = "docker",
    ) -> None:
        if limits is not None and not isinstance(limits, Limits):
            raise ValueError(f"limits must be a Limits instance, not {type(limits).__name__}")
        self.config = load_config()
        self.limits = limits or Limits()
        self.images = {resolve_language(k).name: v for k, v in (images or {}).items()}
        self.runtime = runtime or self.config.runtime
        self._runtime_checked = False
        self.base_url = base_url
        self._backend_choice = backend
        self._backend: Backend | None = None
        self._backend_lock = threading.Lock()
        self._reaped: list[str] = []
        """Orphans the janitor removed when this engine connected, for ``reap_orphans``."""
        self._sessions: set[SandboxSession] = set()
        self._pool = WarmPool(self._launch, self._discard) if warm else None
        if self._pool is not None:
            _pools.add(self._pool)

    # -- plumbing -------------------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The backend, connected on first use (raises ``SandboxUnavailable``).

        The first engine of a process to connect also removes orphans: containers of ours whose
        owning process is gone.
        """
        global _janitor_done
        with self._backend_lock:
            if self._backend is None:
                choice = self._backend_choice
                if isinstance(choice, str):
                    options = {"base_url": self.base_url} if choice == "docker" else {}
                    backend = load_backend(choice, **options)
                else:
                    backend = choice
                backend.describe()  # proves the engine answers; SandboxUnavailable otherwise
                self._backend = backend
                if not _janitor_done:
                    _janitor_done = True
                    self._reaped = ownership.reap_orphans(backend)
            return self._backend

    def connect(self) -> None:
        """Reach the container engine now rather than on the first run (and reap orphans)."""
        _ = self.backend

    def check_runtime(self, runtime: str | None = None, source: str | None = None) -> None:
        """Raise ``UnknownRuntime`` (listing the engine's runtimes) unless the engine has
        ``runtime`` (default: this engine's). ``source`` names where the choice came from, for
        the message (default: ``SANDBOX_KERNEL_RUNTIME`` when it set it)."""
        runtime = runtime or self.runtime
        if runtime is None:
            return
        known = sorted(self.runtimes())
        if runtime in known:
            return
        if source is None:
            source = (f"{ENV_PREFIX}RUNTIME" if runtime == self.config.runtime
                      else "the runtime setting")
        raise UnknownRuntime(
            f"the Docker daemon has no runtime {runtime!r} (chosen by {source}); it has: "
            f"{', '.join(known)}. Choose one of those, or unset {source} for Docker's default",
            runtime, known)

    def image_source(self, language: Language) -> str | None:
        """What chose a language's image when it is not the built default: the environment
        variable, or this engine's ``images`` setting; ``None`` for the default image."""
        chosen = self.images.get(language.name)
        from_env = self.config.images.get(language.name)
        if chosen is not None and chosen != from_env:
            return "the image option (%%sandbox --image, the kernels' image setting, images=)"
        if (chosen or from_env) is not None:
            return image_variable(language.name)
        return None

    def _explain_missing_image(self, language: Language, error: SandboxUnavailable) -> SandboxError:
        """A missing image that ``images build`` will not make: say what chose it."""
        source = self.image_source(language)
        image = self.image_for(language)
        if source is None or image == image_reference(language.default_image):
            return error
        try:
            present = self.backend.image_labels(image) is not None
        except SandboxError:
            return error
        if present:
            return error
        return SandboxUnavailable(
            f"the image {image!r} is missing from this Docker host; it was chosen by {source}, "
            f"which `sandbox-kernel images build` does not build: build or pull that image "
            f"(e.g. `docker pull {image}`), or unset it to use the default image "
            f"{image_reference(language.default_image)!r}")

    def image_for(self, language: Language) -> str:
        """The image a sandbox of ``language`` runs; a flavour name stands for its tag."""
        return image_reference(self.images.get(language.name) or self.config.image_for(language))

    def resolve_limits(self, limits: Limits | None) -> Limits:
        if limits is None:
            return self.limits
        if not isinstance(limits, Limits):
            raise ValueError(f"limits must be a Limits instance, not {type(limits).__name__}")
        return limits

    def create_container(
        self, language: Language, command: list[str], limits: Limits, role: str,
        cpus: float | None = None,
    ) -> str:
        """Create (not start) a hardened container of ours for ``language``; return its ID.

        ``cpus`` starts it with another CPU limit than ``limits.cpus`` (``hardening.start_cpus``:
        the caller must apply ``limits.cpus`` with ``backend.set_cpus`` before any user code).
        """
        backend = self.backend
        if self.runtime is not None and not self._runtime_checked:
            self.check_runtime()  # a clear error, not Docker's "Unknown runtime specified"
            self._runtime_checked = True
        # Named by us and tracked before the request, so an interrupt that lands while the
        # engine creates it cannot leave a container nobody knows about.
        name = f"sandbox-kernel-{language.name}-{role}-{secrets.token_hex(8)}"
        spec = container_spec(name=name, image=self.image_for(language), command=command,
                              limits=limits, labels=ownership.labels(role), runtime=self.runtime,
                              cpus=cpus)
        _track(backend, name)
        try:
            container_id = backend.create(spec)
        except SandboxUnavailable as exc:
            _untrack(name)
            raise self._explain_missing_image(language, exc) from None
        except Exception:
            _untrack(name)
            raise
        except BaseException:
            remove_container(backend, name)
            raise
        _untrack(name)
        _track(backend, container_id)
        return container_id

    def exec(
        self, container_id: str, command: list[str], stdin: bytes, *, stdout_cap: int,
        timeout: float,
    ) -> ExecOutput:
        """Run ``command`` in a running container of ours, as the sandbox user in its working
        directory, with ``stdin``; keep ``stdout_cap`` bytes of stdout (file transfer)."""
        return self.backend.exec(container_id, command, stdin, user=SANDBOX_USER,
                                 workdir=WORKDIR, environment=BASE_ENVIRONMENT,
                                 stdout_cap=stdout_cap, timeout=timeout)

    def signal(self, container_id: str, signal: str) -> None:
        """Send ``signal`` (``"SIGINT"``, ``"SIGKILL"``) to one of our containers; gone is fine."""
        try:
            backend = self.backend
        except SandboxError:
            return
        backend.signal(container_id, signal)

    def remove(self, container_id: str) -> None:
        """Remove one of our containers now, whatever it is doing (a failed try is retried at
        ``cleanup_all`` or exit)."""
        remove_container(self.backend, container_id)

    def runtimes(self) -> list[str]:
        """The OCI runtimes the container engine offers (``runc``, ``runsc``, ...)."""
        return self.backend.runtimes()

    def describe(self) -> dict[str, Any]:
        """Facts about the container engine, for ``doctor``."""
        return self.backend.describe()

    def image_labels(self, image: str) -> dict[str, str] | None:
        """The labels of a local image, or ``None`` when it is missing."""
        return self.backend.image_labels(image)

    def containers(self, owner: str | None = None) -> list[ContainerInfo]:
        """Our containers: all of them, or those of one owner (``ownership.owner_id()``)."""
        return ownership.find_ours(self.backend, owner)

    def close(self) -> None:
        """Stop this engine's warm pool, close its sessions and its connection to the backend.

        Other engines are untouched; this one can still be used (it reconnects on demand).
        """
        if self._pool is not None:
            self._pool.close()
            _pools.discard(self._pool)
            self._pool = None
        for session in list(self._sessions):
            session.close()
        _removals.join()
        with self._backend_lock:
            if self._backend is not None:
                self._backend.close()

    # -- one-shot runs --------------------------------------------------------------------------

    def _launch(self, key: Hashable) -> Launched:
        """Create, attach and start a one-shot container that waits for its program."""
        name, _image, limits, _ = cast(PoolKey, key)
        lang = resolve_language(name)
        command = one_shot_command(lang, self.runtime)
        container_id = self.create_container(lang, command, limits, "run")
        backend = self.backend
        router = FrameRouter()
        try:
            attachment = backend.attach(container_id, router, router.eof, "run")
        except BaseException:
            remove_container(backend, container_id)
            raise
        try:
            backend.start(container_id)
        except BaseException:
            attachment.close()
            remove_container(backend, container_id)
            raise
        return Launched(container_id, attachment, router)

    def _discard(self, launched: Launched) -> None:
        launched.pump.close()
        remove_later(self.backend, launched.container_id)

    def run(
        self,
        language: str,
        code: str | bytes,
        timeout: float | None = None,
        limits: Limits | None = None,
        *,
        on_output: OutputCallback | None = None,
        on_start: Callable[[str], None] | None = None,
        files: Mapping[str, bytes] | None = None,
        collect: Sequence[str] = (),
    ) -> ExecutionResult:
        """Run ``code`` in a new container and remove it; never raises for what the code does.

        ``on_start`` receives the container's ID just before the program is sent, so a caller
        can ``signal(container_id, "SIGINT")`` to interrupt this run only.
        ``files`` (relative name to bytes) are placed in the working directory before the code
        runs; afterwards the regular files matching the ``collect`` globs come back in
        ``result.files`` (see ``engine.workspace``). Bad names, patterns or sizes raise
        ``ValueError`` before any container is touched; a collection the sandbox's files break
        (over a limit, a named link) raises ``TransferError`` whose ``result`` is the run's.
        """
        lang = resolve_language(language)
        limits = self.resolve_limits(limits)
        seconds = limits.check_timeout(timeout)
        data = limits.check_code(code)
        rules = TransferRules.from_limits(limits)
        uploads = rules.check_files(files) if files else {}
        patterns = check_patterns(collect)
        token, display_token = new_nonce(), new_nonce()
        output = RunOutput(token, limits, on_output,
                           display_token if lang.name == "python" else None)
        key: PoolKey = (lang.name, self.image_for(lang), limits, self.runtime)
        launched: Launched | None = None
        try:
            launched = self._pool.take(key) if self._pool is not None else None
            if launched is None:
                launched = self._launch(key)
                if self._pool is not None:
                    self._pool.refill(key)
            launched.router.attach(output.on_frame, output.on_eof)
            backend, container_id, pump = self.backend, launched.container_id, launched.pump
            workspace = Workspace(self, container_id, rules)
            workspace.put(uploads)
            if on_start is not None:
                on_start(container_id)
            started = time.monotonic()
            deadline = started + seconds
            keep = " keep" if patterns else ""
            header = f"{len(data)} {token} {display_token} {limits.max_message}{keep}\n"
            pump.send(header.encode() + data, seconds)
            exit_code = self._wait_for_exit(backend, container_id, output, deadline,
                                            exited=not patterns)
            elapsed = (time.monotonic() - started) * 1000.0
            timed_out = exit_code is None
            if timed_out:
                remove_container(backend, container_id)
                pump.finished.wait(KILL_GRACE)
            oom = exit_code == 137 and (output.oom_counted
                                        or self._oom_killed(backend, container_id))
            result = output.finish(ExecutionResult(
                exit_code=exit_code, execution_time=elapsed, timed_out=timed_out,
                oom_killed=oom)).settle(limits.memory, seconds)
            if patterns and not timed_out and exit_code != 137:
                try:
                    result.files = workspace.collect(patterns)
                except TransferError as exc:
                    exc.result = result
                    raise
        finally:
            if launched is not None:
                self._discard(launched)
        return result

    @staticmethod
    def _wait_for_exit(
        backend: Backend, container_id: str, output: RunOutput, deadline: float,
        exited: bool = True,
    ) -> int | None:
        """The exit status, or ``None`` if the deadline passed first.

        ``exited=False``: the wrapper keeps the container running after the program (to collect
        its files), so the markers' status is the answer.
        """
        if not output.settled.wait(max(0.0, deadline - time.monotonic())):
            return None
        status_from_markers = output.exit_status
        if status_from_markers is not None and (status_from_markers != 137 or not exited):
            return status_from_markers
        # The program ended (or its shell was killed, or it may have been OOM-killed): the
        # container is exiting, so this returns at once.
        return backend.wait(container_id, max(deadline - time.monotonic(), 0) + 2.0)

    def oom_killed(self, container_id: str) -> bool:
        """Whether the kernel's OOM killer ended this (exited) container of ours."""
        return self._oom_killed(self.backend, container_id)

    @staticmethod
    def _oom_killed(backend: Backend, container_id: str) -> bool:
        # The backend hears of an OOM kill from the engine's OOM event, which can land after the
        # exit event (seen with several sandboxes running out together): look again for up to
        # 1 s.
        for _ in range(OOM_CHECKS):
            if backend.oom_killed(container_id):
                return True
            time.sleep(1.0 / OOM_CHECKS)
        return False

    def run_python(self, code: str, timeout: float | None = None) -> ExecutionResult:
        return self.run("python", code, timeout)

    def run_bash(self, command: str, timeout: float | None = None) -> ExecutionResult:
        return self.run("bash", command, timeout)

    def run_node(self, code: str, timeout: float | None = None) -> ExecutionResult:
        return self.run("node", code, timeout)

    # -- sessions and cleanup -------------------------------------------------------------------

    def session(self, language: str, limits: Limits | None = None) -> SandboxSession:
        """A persistent sandbox: use as a context manager; state survives between ``run`` calls."""
        from sandbox_kernel.engine.session import SandboxSession

        lang = resolve_language(language)
        session = SandboxSession(self, lang, self.resolve_limits(limits))
        self._sessions.add(session)
        return session

    def forget_session(self, session: SandboxSession) -> None:
        self._sessions.discard(session)

    def cleanup_all(self) -> list[str]:
        """Remove every container this process created (sessions included); return their IDs."""
        if self._pool is not None:
            self._pool.close()
            self._pool = WarmPool(self._launch, self._discard)
            _pools.add(self._pool)
        removed = []
        for session in list(self._sessions):
            if session.container_id is not None:
                removed.append(session.container_id)
            session.close()
        try:
            backend = self.backend
        except SandboxError:
            return removed
        _remove_leftovers()
        for info in ownership.find_ours(backend, ownership.owner_id()):
            remove_container(backend, info.id)
            removed.append(info.id)
        return removed

    def reap_orphans(self) -> list[str]:
        """Remove containers of ours whose owning process is gone (``sandbox-kernel cleanup``)."""
        backend = self.backend
        reaped, self._reaped = self._reaped, []
        return reaped + ownership.reap_orphans(backend)
