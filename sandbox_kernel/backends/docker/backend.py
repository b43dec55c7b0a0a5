"""``DockerBackend``: the ``Backend`` protocol over docker-py's low-level ``APIClient``.

Every Docker call of the project goes through here (images aside, ``images.py``), so "daemon
unreachable" and "image missing" always surface as ``SandboxUnavailable`` with what to run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import docker
import docker.errors
import requests.exceptions

from sandbox_kernel.backends import (
    Attachment,
    ContainerInfo,
    ContainerSpec,
    ExecOutput,
    FrameHandler,
)
from sandbox_kernel.backends.docker.attach import AttachPump
from sandbox_kernel.backends.docker.client import (
    START_DAEMON_HINT,
    connect,
    open_attach_socket,
    translate,
)
from sandbox_kernel.backends.docker.exec import run_exec
from sandbox_kernel.backends.docker.exits import EVENT_FILTERS, EventStream, ExitMonitor
from sandbox_kernel.backends.docker.spec import create_kwargs
from sandbox_kernel.errors import SandboxUnavailable

_GONE = (docker.errors.NotFound,)
_TRANSIENT = (docker.errors.APIError, requests.exceptions.RequestException)


def removal_in_progress(exc: docker.errors.APIError) -> bool:
    """Whether Docker refused a removal because the container is being removed already."""
    return exc.status_code == 409 and "already in progress" in str(exc.explanation or "")


class DockerBackend:
    """One connection to a Docker daemon (``DOCKER_HOST`` honoured, or ``base_url``).

    The connection opens on first use; ``api`` is docker-py's client, for this package only.
    Exit statuses and OOM kills are heard from Docker's event stream (``exits.py``), because
    Docker removes a container with ``AutoRemove`` as soon as it exits.
    """

    name = "docker"

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = base_url
        self._api: docker.APIClient | None = None
        self._lock = threading.Lock()
        self._exits = ExitMonitor(self._open_events)

    @property
    def api(self) -> docker.APIClient:
        """The daemon connection, opened (and checked) on first use."""
        with self._lock:
            if self._api is None:
                self._api = connect(self.base_url)
            return self._api

    def _open_events(self, since: float) -> EventStream:
        stream: EventStream = self.api.events(since=since, filters=EVENT_FILTERS, decode=True)
        return stream

    def create(self, spec: ContainerSpec) -> str:
        api = self.api
        try:
            # Listening before the container exists: its end cannot be missed (exits.py).
            self._exits.ensure_listening()
            container_id = str(api.create_container(**create_kwargs(api, spec))["Id"])
        except Exception as exc:
            raise translate(exc, spec.image) from None
        self._exits.register(container_id)
        return container_id

    def attach(self, container_id: str, on_frame: FrameHandler,
               on_eof: Callable[[], None] | None = None, name: str = "attach") -> Attachment:
        try:
            sock = open_attach_socket(self.api, container_id)
        except Exception as exc:
            raise translate(exc) from None
        pump = AttachPump(sock, on_frame, name, on_eof=on_eof)
        pump.start()
        return pump

    def start(self, container_id: str) -> None:
        try:
            self.api.start(container_id)
        except Exception as exc:
            raise translate(exc) from None

    def exec(self, container_id: str, command: list[str], stdin: bytes, *, user: str,
             workdir: str, environment: Mapping[str, str], stdout_cap: int,
             timeout: float) -> ExecOutput:
        return run_exec(self.api, container_id, command, stdin, user=user, workdir=workdir,
                        environment=environment, stdout_cap=stdout_cap, timeout=timeout)

    def signal(self, container_id: str, signal: str) -> None:
        # Not running any more (or being removed): nothing to signal.
        self._exits.note_signal(container_id)
        with contextlib.suppress(*_TRANSIENT):
            self.api.kill(container_id, signal=signal)

    def wait(self, container_id: str, timeout: float) -> int | None:
        started = time.monotonic()
        end = self._exits.wait(container_id, timeout)
        if end is not None and end.exited and end.stopped:
            raise SandboxUnavailable(
                "Docker stopped this sandbox from outside (docker stop, or the daemon shutting "
                f"down), so the program did not finish; if the daemon is down, {START_DAEMON_HINT}")
        if end is not None and end.exited:
            return end.status  # None when Docker's exitCode was malformed: unknown
        if end is not None and end.watched:
            return None  # still running at the timeout
        # Not heard (created by another connection, or the event stream broke): ask Docker,
        # which answers only while the container exists; once it is gone the status is unknown.
        try:
            status = self.api.wait(container_id,
                                   timeout=max(timeout - (time.monotonic() - started), 0.0))
        except requests.exceptions.ReadTimeout:
            return None
        except docker.errors.NotFound:
            return None
        except (docker.errors.APIError, requests.exceptions.ConnectionError) as exc:
            raise translate(exc) from None
        code = status.get("StatusCode")
        return int(code) if code is not None else None

    def oom_count(self, container_id: str) -> int | None:
        return self._exits.oom_count(container_id)

    def oom_killed(self, container_id: str) -> bool:
        heard = self._exits.oom_count(container_id)
        if heard is not None:
            return heard > 0
        try:
            state: dict[str, Any] = self.api.inspect_container(container_id)["State"]
        except Exception:  # noqa: BLE001 - removed already: nothing recorded
            return False
        return bool(state.get("OOMKilled"))

    def set_cpus(self, container_id: str, cpus: float) -> None:
        # docker-py's update_container has no NanoCpus, which is how create_kwargs sets the limit
        # (and the daemon refuses a CPU period next to it): the same endpoint, called directly.
        api = self.api
        try:
            response = api._post_json(api._url("/containers/{0}/update", container_id),
                                      data={"NanoCpus": int(cpus * 1e9)})
            api._raise_for_status(response)
        except Exception as exc:
            raise translate(exc) from None

    def remove(self, container_id: str) -> bool:
        try:
            self.api.remove_container(container_id, force=True)
        except _GONE:
            self._exits.forget(container_id)
            return True
        except docker.errors.APIError as exc:
            if not removal_in_progress(exc):
                return False  # another refusal: the caller retries later
            # Docker is removing it already (AutoRemove, as it exited): it is going, and should
            # that removal fail, cleanup_all() and the janitor still find it by its labels.
            self._exits.forget(container_id)
            return True
        except _TRANSIENT:
            # a daemon gone away: the caller retries later
            return False
        except Exception:  # noqa: BLE001 - no daemon at all (SandboxUnavailable): retry later
            return False
        self._exits.forget(container_id)
        return True

    def list_ours(self, label: str, value: str | None = None) -> list[ContainerInfo]:
        wanted = f"{label}={value}" if value is not None else label
        try:
            found = self.api.containers(all=True, filters={"label": [wanted]})
        except Exception as exc:
            raise translate(exc) from None
        return [ContainerInfo(str(c["Id"]), dict(c.get("Labels") or {}), str(c.get("State", "")))
                for c in found]

    def runtimes(self) -> list[str]:
        return sorted(self.describe()["runtimes"])

    def describe(self) -> dict[str, Any]:
        api = self.api
        try:
            info = api.info()
        except Exception as exc:
            raise translate(exc) from None
        return {
            "version": info.get("ServerVersion"),
            "endpoint": api.base_url,
            "runtimes": sorted((info.get("Runtimes") or {}).keys()),
            "runtime_args": {name: list((config or {}).get("runtimeArgs") or [])
                             for name, config in (info.get("Runtimes") or {}).items()},
            "default_runtime": info.get("DefaultRuntime"),
            "cgroup": info.get("CgroupVersion"),
            "security_options": info.get("SecurityOptions") or [],
        }

    def image_labels(self, image: str) -> dict[str, str] | None:
        try:
            config = self.api.inspect_image(image).get("Config") or {}
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.NotFound:
            return None
        except Exception as exc:
            raise translate(exc, image) from None
        return dict(config.get("Labels") or {})

    def close(self) -> None:
        self._exits.close()
        with self._lock:
            if self._api is not None:
                self._api.close()
                self._api = None


