"""Container backends: the only code that talks to a container engine.

The engine describes the container it wants with a neutral :class:`ContainerSpec` that already
carries every hardening decision (limits, user, read-only root, tmpfs mounts, capabilities,
seccomp, no network) and drives it through the small :class:`Backend` protocol. A backend maps
each field onto its engine's terms (``backends/docker/spec.py`` for Docker) and must refuse to run
a spec it cannot honour in full rather than drop an item silently. A second backend (rootless
Podman, Kubernetes pods) is one new package here; :func:`load_backend` finds it by name, the way
jupyter_client's provisioner factory finds provisioners, so the engine never imports one.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

STDOUT = 1
STDERR = 2

FrameHandler = Callable[[int, bytes], None]
"""Receives ``(stream_id, payload)`` for each chunk of output (``STDOUT`` or ``STDERR``)."""


@dataclass(frozen=True)
class TmpfsMount:
    """A private in-memory file system, the only writable places of a sandbox."""

    path: str
    size: int
    """Bytes."""
    mode: int = 0o1777
    uid: int | None = None
    """Owner (with gid equal); ``None`` keeps root's ownership with ``mode``."""
    exec: bool = False
    """Whether programs stored there may be executed (``nosuid`` and ``nodev`` always apply)."""


@dataclass(frozen=True)
class ContainerSpec:
    """Everything a backend needs to create one sandbox, every hardening item explicit.

    Built by :func:`sandbox_kernel.engine.hardening.container_spec`; a backend maps each field and
    adds nothing that weakens it. Sizes are bytes, ``cpus`` is a fraction of one CPU.
    """

    name: str
    image: str
    command: tuple[str, ...]
    labels: Mapping[str, str]
    user: str
    workdir: str
    hostname: str
    environment: Mapping[str, str]
    memory: int
    """Memory limit; swap is not allowed (memory + swap = memory)."""
    cpus: float
    pids: int
    nofile: int
    max_file_size: int
    tmpfs: tuple[TmpfsMount, ...]
    shm_size: int
    network: bool = False
    read_only_root: bool = True
    drop_all_capabilities: bool = True
    no_new_privileges: bool = True
    init: bool = True
    """A minimal init as PID 1 that reaps zombies and forwards signals to the process group."""
    seccomp_profile: str | None = None
    """A seccomp profile as JSON text (Docker's format); ``None`` is the engine's default."""
    masked_paths: tuple[str, ...] = ()
    """Paths made unreadable inside the sandbox, on top of the engine's own list."""
    msgqueue_bytes: int | None = 0
    """RLIMIT_MSGQUEUE: bytes of POSIX message queues (0: none)."""
    keep_logs: bool = False
    """Whether the engine may store the container's output (it never should: we read it live)."""
    runtime: str | None = None
    """OCI runtime (``runsc`` for gVisor); ``None`` is the engine's default."""
    auto_remove: bool = False
    """The engine removes the container once it exits (``wait`` and ``oom_killed`` still
    answer for it)."""
    stdin_once: bool = True
    """The container's stdin closes when the attached client disconnects."""


@dataclass(frozen=True)
class ContainerInfo:
    """One of our containers as listed by a backend."""

    id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    state: str = ""


@dataclass
class ExecOutput:
    """What one ``Backend.exec`` produced: its status (``None`` if unknown) and capped streams."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    overflowed: bool = False
    """stdout went over the cap: the exec's output was cut and ``stdout`` holds its first bytes."""
    timed_out: bool = False


@runtime_checkable
class Attachment(Protocol):
    """A live connection to a container's stdin, stdout and stderr."""

    finished: threading.Event
    """Set once the output stream has ended and ``on_eof`` was called."""

    def send(self, data: bytes, timeout: float) -> None:
        """Write to stdin; a container that died mid-write is not an error here."""

    def close(self) -> None:
        """End the stream; the reader finishes and calls ``on_eof``."""


@runtime_checkable
class Backend(Protocol):
    """What the engine needs from a container engine. Errors are ``SandboxError`` subclasses:
    ``SandboxUnavailable`` (with the command to run) when the engine or the image is missing."""

    name: str

    def create(self, spec: ContainerSpec) -> str:
        """Create (not start) a container; return its ID."""

    def attach(self, container_id: str, on_frame: FrameHandler,
               on_eof: Callable[[], None] | None = None, name: str = "attach") -> Attachment:
        """Attach to a created container and start reading its output in the background."""

    def start(self, container_id: str) -> None: ...

    def exec(self, container_id: str, command: list[str], stdin: bytes, *, user: str,
             workdir: str, environment: Mapping[str, str], stdout_cap: int,
             timeout: float) -> ExecOutput:
        """Run ``command`` in the running container (its mounts, limits, no-new-privileges and
        capabilities) as ``user`` in ``workdir``; send ``stdin`` then EOF; keep ``stdout_cap``
        bytes of stdout (more: stop reading, ``overflowed``) and the first 64 KiB of stderr;
        give up after ``timeout`` s (``timed_out``). Used for file transfer."""

    def signal(self, container_id: str, signal: str) -> None:
        """Send a signal (``"SIGINT"``, ``"SIGKILL"``) to the container's init; gone is fine."""

    def wait(self, container_id: str, timeout: float) -> int | None:
        """The exit status once the container has exited, or ``None`` after ``timeout`` s or
        when it is unknown. Must hold for a container the engine removed by itself when it
        exited (``auto_remove``): the backend learns the status as it happens, from creation
        on, never by asking afterwards (a removed container would 404)."""

    def oom_killed(self, container_id: str) -> bool:
        """Whether the engine reported an OOM kill in this container (one look); like
        ``wait``, answered even after an ``auto_remove`` removal."""

    def oom_count(self, container_id: str) -> int | None:
        """How many times the engine reported that the OOM killer acted in this container so
        far (one look; a child process killed while the main process lives counts), or
        ``None`` when unknown (not created by this backend, or no longer watched). Compared
        before and after a session's cell to tell that the cell ran out of memory."""

    def set_cpus(self, container_id: str, cpus: float) -> None:
        """Change a running container's CPU limit (a fraction of one CPU, as in
        ``ContainerSpec.cpus``); ``SandboxError`` when the engine cannot (gVisor's runsc)."""

    def remove(self, container_id: str) -> bool:
        """Remove whatever its state; ``True`` when it is gone, ``False`` to retry later."""

    def list_ours(self, label: str, value: str | None = None) -> list[ContainerInfo]:
        """Containers carrying ``label`` (with ``value`` when given), running or not."""

    def runtimes(self) -> list[str]:
        """Names of the OCI runtimes the engine offers."""

    def describe(self) -> dict[str, Any]:
        """Engine facts for ``doctor``: ``version``, ``endpoint``, ``runtimes``,
        ``runtime_args`` (name: the arguments the engine starts that runtime with), ``cgroup``."""

    def image_labels(self, image: str) -> dict[str, str] | None:
        """The labels of a local image, or ``None`` when it is missing."""

    def close(self) -> None: ...


BackendFactory = Callable[..., Backend]


def load_backend(name: str = "docker", **options: Any) -> Backend:
    """The backend called ``name`` (the package ``sandbox_kernel.backends.<name>``).

    Imported by name, so the engine never imports a container library. ``options`` go to the
    package's ``create_backend`` (Docker: ``base_url``). Raises ``ValueError`` for an unknown name.
    """
    if not name.isidentifier():
        raise ValueError(f"unknown backend {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            raise ValueError(f"unknown backend {name!r}") from None
        raise
    factory: BackendFactory = module.create_backend
    return factory(**options)
