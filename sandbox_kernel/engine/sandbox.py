"""``DockerSandbox``: run code in a fresh, locked-down container and report what happened."""

from __future__ import annotations

import atexit
import json
import os
import queue
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, cast

import docker
import requests.exceptions

from sandbox_kernel.backends.docker.attach import AttachPump
from sandbox_kernel.backends.docker.client import connect, open_attach_socket, translate
from sandbox_kernel.backends.docker.spec import create_kwargs, is_gvisor
from sandbox_kernel.engine import ownership
from sandbox_kernel.engine.framing import FrameScanner, Text
from sandbox_kernel.engine.protocol import new_nonce
from sandbox_kernel.engine.streams import STDERR, STDOUT, CappedStream
from sandbox_kernel.engine.warm_pool import FrameRouter, Launched, WarmPool
from sandbox_kernel.errors import SandboxError
from sandbox_kernel.languages import Language, resolve_language
from sandbox_kernel.limits import Limits
from sandbox_kernel.result import ExecutionResult

if TYPE_CHECKING:
    from sandbox_kernel.engine.session import SandboxSession

PoolKey = tuple[str, str, Limits, "str | None"]
"""What makes two one-shot containers interchangeable: language, image, limits, runtime."""

OutputCallback = Callable[[str, str], None]
"""Receives ``(stream_name, text)`` as output arrives; called from a background thread."""

# How long after the deadline we allow for the kill and the last bytes of output.
KILL_GRACE = 1.5
# Looks at the container's state (spread over one second) before calling an exit 137 a kill.
OOM_CHECKS = 10

_live_lock = threading.Lock()
_live_containers: dict[str, docker.APIClient] = {}
_janitor_done = False


def _track(api: docker.APIClient, container_id: str) -> None:
    with _live_lock:
        _live_containers[container_id] = api


def _untrack(container_id: str) -> None:
    with _live_lock:
        _live_containers.pop(container_id, None)


def remove_container(api: docker.APIClient, container_id: str) -> None:
    """Remove one of our containers by ID, whatever state it is in."""
    try:
        api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except (docker.errors.APIError, requests.exceptions.RequestException):
        # "removal already in progress" or a daemon gone away: keep it on the list so that
        # cleanup_all() or the exit hook tries again; the janitor covers a crash.
        return
    with _live_lock:
        _live_containers.pop(container_id, None)


def _remove_in_background() -> None:
    while True:
        api, container_id = _removals.get()
        remove_container(api, container_id)
        _removals.task_done()


# Removing a container takes Docker ~10 ms: finished runs hand theirs to this worker and return.
_removals: queue.Queue[tuple[docker.APIClient, str]] = queue.Queue()
# A few workers: removing a gVisor sandbox full of processes can take seconds, and the removals
# queued behind it should not wait for it.
for _worker in range(4):
    threading.Thread(target=_remove_in_background, daemon=True, name="sandbox-remover").start()
_pools: weakref.WeakSet[WarmPool] = weakref.WeakSet()


def _remove_leftovers() -> None:
    _removals.join()
    with _live_lock:
        leftovers = list(_live_containers.items())
    for container_id, api in leftovers:
        remove_container(api, container_id)


@atexit.register
def shutdown() -> None:
    """Remove every container this process still has: warm ones, finished runs, sessions."""
    for pool in list(_pools):
        pool.close()
    _remove_leftovers()


# gVisor's pipes accept part of a large write and Python's unbuffered stdout drops the rest; under
# gVisor a one-shot Python program gets this sitecustomize, which retries short writes.
_WHOLE_WRITES_SITE = """import io, os, sys
os.environ.pop("PYTHONPATH", None)
sys.path[:] = [p for p in sys.path if p != "/tmp/.sandbox-site"]
class _WholeWrites(io.RawIOBase):
    def __init__(self, fd): self._fd = fd
    def writable(self): return True
    def fileno(self): return self._fd
    def write(self, data):
        view = memoryview(data).cast("B"); total = len(view)
        while view: view = view[os.write(self._fd, view):]
        return total
for _n, _fd in (("stdout", 1), ("stderr", 2)):
    setattr(sys, _n, io.TextIOWrapper(_WholeWrites(_fd), encoding="utf-8",
                                      errors="backslashreplace", write_through=True))
"""


def one_shot_command(language: Language, runtime: str | None = None) -> list[str]:
    """Wait for "SIZE TOKEN\\n" and SIZE bytes of program on stdin, save them in /tmp, run them.

    The code never appears on a command line or in a host file, the program itself gets an empty
    stdin, and the container can be started before the code is known (see ``warm_pool``). Only
    ``sh``, ``head`` and ``printf`` are needed, so any image with the interpreter works. When the
    program ends, ``sh`` writes TOKEN and its status on both streams: the run is over as soon as
    both arrive, without waiting ~60 ms for Docker to notice that the container exited.
    """
    program = f"/tmp/.sandbox-cell{language.suffix}"
    interpreter = " ".join(language.interpreter)
    # One protocol frame (drivers/PROTOCOL.md): RS US NONCE US SIZE US {"status":N,"oom":0|1} LF.
    marker = "'\\036\\037%s\\037%d\\037%s\\n' \"$token\" \"${#body}\" \"$body\""
    # After a SIGKILL, the cgroup's own count of OOM kills (v1 and v2) says whether it was the
    # OOM killer: Docker's OOMKilled flag is sometimes never set when several run out at once.
    oom_check = ("oom=0; if [ $status = 137 ]; then for f in "
                 "/sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do "
                 '[ -r "$f" ] && while read -r key value; do '
                 '[ "$key" = oom_kill ] && [ "$value" != 0 ] && oom=1; done < "$f"; done; fi; ')
    prelude = ""
    if language.name == "python" and is_gvisor(runtime):
        prelude = (f"mkdir -p /tmp/.sandbox-site && cat > /tmp/.sandbox-site/sitecustomize.py "
                   f"<<'EOF'\n{_WHOLE_WRITES_SITE}EOF\n")
        interpreter = f"PYTHONPATH=/tmp/.sandbox-site {interpreter}"
    script = (f'{prelude}read -r size token && head -c "$size" > {program} && '
              f"{{ {interpreter} {program} </dev/null; status=$?; {oom_check}"
              f"""body='{{"status":'$status',"oom":'$oom'}}'; """
              f"printf {marker}; printf {marker} >&2; exit $status; }}")
    return ["sh", "-c", script]


class RunOutput:
    """Collects a one-shot run's output: capped streams, live callbacks, and the exit markers.

    The markers are frames of the driver protocol carrying the run's nonce, found by the same
    linear, bounded ``FrameScanner`` as a session's replies; anything else is the program's output.
    """

    MAX_MARKER = 1024
    """Largest exit marker accepted; a bigger frame is dropped unread."""

    def __init__(self, nonce: str, limits: Limits, on_output: OutputCallback | None) -> None:
        self.streams = {STDOUT: CappedStream("stdout", limits.max_output),
                        STDERR: CappedStream("stderr", limits.max_output)}
        self._scanners = {STDOUT: FrameScanner(self.MAX_MARKER, nonce),
                          STDERR: FrameScanner(self.MAX_MARKER, nonce)}
        self._on_output = on_output
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
            marker = _exit_marker(item.body)
            if marker is not None and stream_id not in self._statuses:
                self._statuses[stream_id] = marker[0]
                self.oom_counted = self.oom_counted or marker[1]
                if len(self._statuses) == 2:
                    self.settled.set()

    def on_eof(self) -> None:
        self.settled.set()

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
        for stream in self.streams.values():
            tail = stream.flush()
            if tail and self._on_output is not None:
                self._on_output(stream.name, tail)
        result.stdout = self.streams[STDOUT].text()
        result.stderr = self.streams[STDERR].text()
        result.truncated = any(s.truncated for s in self.streams.values())
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

    ``runtime`` picks Docker's runtime (``"runsc"`` for gVisor); by default the
    ``SANDBOX_KERNEL_RUNTIME`` environment variable, else the daemon's default (runc).
    ``warm`` keeps one started container per language and limits ready for the next ``run``
    (each still serves one run only); turn it off for a process that runs once and exits.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        images: dict[str, str] | None = None,
        runtime: str | None = None,
        base_url: str | None = None,
        warm: bool = True,
    ) -> None:
        if limits is not None and not isinstance(limits, Limits):
            raise ValueError(f"limits must be a Limits instance, not {type(limits).__name__}")
        self.limits = limits or Limits()
        self.images = {resolve_language(k).name: v for k, v in (images or {}).items()}
        self.runtime = runtime or os.environ.get("SANDBOX_KERNEL_RUNTIME") or None
        self.base_url = base_url
        self._api: docker.APIClient | None = None
        self._api_lock = threading.Lock()
        self._sessions: set[SandboxSession] = set()
        self._pool = WarmPool(self._launch, self._discard) if warm else None
        if self._pool is not None:
            _pools.add(self._pool)

    # -- plumbing -------------------------------------------------------------------------------

    def api(self) -> docker.APIClient:
        """The daemon connection, opened on first use (raises ``SandboxUnavailable``)."""
        global _janitor_done
        with self._api_lock:
            if self._api is None:
                self._api = connect(self.base_url)
                if not _janitor_done:
                    _janitor_done = True
                    ownership.reap_orphans(self._api)
            return self._api

    def image_for(self, language: Language) -> str:
        return self.images.get(language.name) or language.image

    def resolve_limits(self, limits: Limits | None) -> Limits:
        if limits is None:
            return self.limits
        if not isinstance(limits, Limits):
            raise ValueError(f"limits must be a Limits instance, not {type(limits).__name__}")
        return limits

    def create_container(
        self, language: Language, command: list[str], limits: Limits, role: str
    ) -> str:
        api = self.api()
        image = self.image_for(language)
        kwargs = create_kwargs(api, image, command, limits, ownership.labels(role), self.runtime)
        # Named by us and tracked before the request, so an interrupt that lands while Docker
        # creates it cannot leave a container nobody knows about.
        name = f"sandbox-kernel-{language.name}-{role}-{secrets.token_hex(8)}"
        _track(api, name)
        try:
            container_id = str(api.create_container(name=name, **kwargs)["Id"])
        except Exception as exc:
            _untrack(name)
            raise translate(exc, image) from None
        except BaseException:
            remove_container(api, name)
            raise
        _untrack(name)
        _track(api, container_id)
        return container_id

    def close(self) -> None:
        """Stop this engine's warm pool, close its sessions and its connections to the daemon.

        Other engines are untouched; this one can still be used (it reconnects on demand).
        """
        if self._pool is not None:
            self._pool.close()
            _pools.discard(self._pool)
            self._pool = None
        for session in list(self._sessions):
            session.close()
        _removals.join()
        with self._api_lock:
            if self._api is not None:
                self._api.close()

    # -- one-shot runs --------------------------------------------------------------------------

    def _launch(self, key: Hashable) -> Launched:
        """Create, attach and start a one-shot container that waits for its program."""
        name, image, limits, _ = cast(PoolKey, key)
        lang = resolve_language(name)
        command = one_shot_command(lang, self.runtime)
        container_id = self.create_container(lang, command, limits, "run")
        api = self.api()
        router = FrameRouter()
        pump: AttachPump | None = None
        try:
            pump = AttachPump(open_attach_socket(api, container_id), router, "run",
                              on_eof=router.eof)
            pump.start()
            api.start(container_id)
        except BaseException as exc:
            if pump is not None:
                pump.close()
            remove_container(api, container_id)
            if isinstance(exc, Exception):
                raise translate(exc, image) from None
            raise
        return Launched(container_id, pump, router)

    def _discard(self, launched: Launched) -> None:
        launched.pump.close()
        _removals.put((self.api(), launched.container_id))

    def run(
        self,
        language: str,
        code: str | bytes,
        timeout: float | None = None,
        limits: Limits | None = None,
        *,
        on_output: OutputCallback | None = None,
        on_start: Callable[[str], None] | None = None,
    ) -> ExecutionResult:
        """Run ``code`` in a new container and remove it; never raises for what the code does.

        ``on_start`` receives the container's ID just before the program is sent, so a caller
        can signal it (``api().kill(container_id, "SIGINT")``) to interrupt this run only.
        """
        lang = resolve_language(language)
        limits = self.resolve_limits(limits)
        seconds = limits.check_timeout(timeout)
        data = limits.check_code(code)
        token = new_nonce()
        output = RunOutput(token, limits, on_output)
        key: PoolKey = (lang.name, self.image_for(lang), limits, self.runtime)
        launched: Launched | None = None
        try:
            launched = self._pool.take(key) if self._pool is not None else None
            if launched is None:
                launched = self._launch(key)
                if self._pool is not None:
                    self._pool.refill(key)
            launched.router.attach(output.on_frame, output.on_eof)
            api, container_id, pump = self.api(), launched.container_id, launched.pump
            if on_start is not None:
                on_start(container_id)
            started = time.monotonic()
            deadline = started + seconds
            pump.send(f"{len(data)} {token}\n".encode() + data, seconds)
            exit_code = self._wait_for_exit(api, container_id, output, deadline)
            elapsed = (time.monotonic() - started) * 1000.0
            timed_out = exit_code is None
            if timed_out:
                remove_container(api, container_id)
                pump.finished.wait(KILL_GRACE)
            oom = exit_code == 137 and (output.oom_counted
                                        or self._oom_killed(api, container_id))
        finally:
            if launched is not None:
                self._discard(launched)
        result = ExecutionResult(exit_code=exit_code, execution_time=elapsed,
                                 timed_out=timed_out, oom_killed=oom)
        return output.finish(result)

    @staticmethod
    def _wait_for_exit(
        api: docker.APIClient, container_id: str, output: RunOutput, deadline: float
    ) -> int | None:
        """The exit status, or ``None`` if the deadline passed first."""
        if not output.settled.wait(max(0.0, deadline - time.monotonic())):
            return None
        status_from_markers = output.exit_status
        if status_from_markers is not None and status_from_markers != 137:
            return status_from_markers
        try:
            # The program ended (or its shell was killed, or it may have been OOM-killed): the
            # container is exiting, so this returns at once.
            status = api.wait(container_id, timeout=max(deadline - time.monotonic(), 0) + 2.0)
        except requests.exceptions.ReadTimeout:
            return None
        except (docker.errors.APIError, requests.exceptions.ConnectionError) as exc:
            raise translate(exc) from None
        code = status.get("StatusCode")
        return int(code) if code is not None else None

    def oom_killed(self, container_id: str) -> bool:
        """Whether the kernel's OOM killer ended this (exited) container of ours."""
        return self._oom_killed(self.api(), container_id)

    @staticmethod
    def _oom_killed(api: docker.APIClient, container_id: str) -> bool:
        # Docker records OOMKilled from the kernel's OOM event, which can land after the exit
        # event (seen with several sandboxes running out together): look again for up to 1 s.
        for _ in range(OOM_CHECKS):
            try:
                state: dict[str, Any] = api.inspect_container(container_id)["State"]
            except Exception:  # noqa: BLE001 - removed already: 137 alone cannot tell
                return False
            if state.get("OOMKilled"):
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
            api = self.api()
        except SandboxError:
            return removed
        _remove_leftovers()
        for info in ownership.find_ours(api, ownership.owner_id()):
            remove_container(api, info["Id"])
            removed.append(info["Id"])
        return removed

    def reap_orphans(self) -> list[str]:
        """Remove containers of ours whose owning process is gone (``sandbox-kernel cleanup``)."""
        return ownership.reap_orphans(self.api())
