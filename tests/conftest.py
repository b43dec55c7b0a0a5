"""Shared fixtures. The suite runs against a real Docker daemon and fails loudly without one."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from docker_support import docker_api as connect

from sandbox_kernel import DockerSandbox, SandboxError
from sandbox_kernel.engine import ownership
from sandbox_kernel.engine.ownership import LABEL, OWNER_LABEL

UNIT_TIER = os.path.join(os.path.dirname(__file__), "unit") + os.sep


def pytest_collection_finish(session: pytest.Session) -> None:
    """Every test outside ``tests/unit/`` needs the daemon: without one, stop at once, loudly."""
    if all(str(item.path).startswith(UNIT_TIER) for item in session.items):
        return
    try:
        connect()
    except SandboxError as exc:
        pytest.exit(f"the test suite needs a Docker daemon: {exc}", returncode=3)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the whole suite, no container labelled sandbox-kernel may be left behind.

    Left behind means: owned by this process or one it started (a kernel, a server), or by a
    process that is gone. Containers of unrelated live processes are not this suite's.

    This process's own warm and finished containers are removed by ``engine.shutdown`` at
    interpreter exit; it runs here first so that what remains is a real leak (of a kernel, say).
    """
    from sandbox_kernel.engine import sandbox as engine

    engine.shutdown()
    try:
        api = connect()
    except SandboxError:
        return
    mine = {os.getpid()} | {child.pid for child in psutil.Process().children(recursive=True)}

    def left_behind() -> list[dict[str, Any]]:
        return [
            container for container in api.containers(all=True, filters={"label": [LABEL]})
            if not ownership.owner_is_alive(container["Labels"].get(OWNER_LABEL, ""))
            or _owner_pid(container) in mine
        ]

    # Removals end asynchronously (Docker's AutoRemove, or ours answered "already in progress"):
    # a container still on its way out gets a few seconds before it counts as left behind.
    deadline = time.monotonic() + 15
    while (left := left_behind()) and time.monotonic() < deadline:
        time.sleep(0.25)
    if left:
        names = ", ".join(f"{c['Id'][:12]} {c['State']} {c['Labels']}" for c in left)
        print(f"\nFAILED: containers left behind after the suite: {names}")
        for container in left:
            with contextlib.suppress(Exception):
                api.remove_container(container["Id"], force=True)
        session.exitstatus = 1


def _owner_pid(container: dict[str, Any]) -> int:
    try:
        return int(container["Labels"].get(OWNER_LABEL, "").rsplit(":", 2)[1])
    except (IndexError, ValueError):
        return -1


@pytest.fixture(scope="session")
def sandbox() -> Iterator[DockerSandbox]:
    engine = DockerSandbox()
    yield engine
    engine.cleanup_all()


@pytest.fixture
def orphan(sandbox: DockerSandbox) -> Iterator[str]:
    """A container labelled as ours whose owner process is gone: what a SIGKILLed kernel leaves."""
    api = sandbox.backend.api  # type: ignore[attr-defined]
    dead_owner = f"{ownership.owner_id().rsplit(':', 2)[0]}:999999999:1"
    container_id = str(api.create_container(
        "sandbox-kernel-bash:latest", ["true"],
        labels={ownership.LABEL: "run", OWNER_LABEL: dead_owner})["Id"])
    yield container_id
    if api.containers(all=True, filters={"id": container_id}):
        api.remove_container(container_id, force=True)
