"""Shared fixtures. The suite runs against a real Docker daemon and fails loudly without one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox_kernel import DockerSandbox, SandboxError
from sandbox_kernel.docker_api import connect
from sandbox_kernel.ownership import LABEL


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        connect()
    except SandboxError as exc:
        pytest.exit(f"the test suite needs a Docker daemon: {exc}", returncode=3)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the whole suite, no container labelled sandbox-kernel may be left behind."""
    try:
        api = connect()
    except SandboxError:
        return
    left = api.containers(all=True, filters={"label": [LABEL]})
    if left:
        names = ", ".join(f"{c['Id'][:12]} {c['Labels']}" for c in left)
        print(f"\nFAILED: containers left behind after the suite: {names}")
        for container in left:
            api.remove_container(container["Id"], force=True)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def sandbox() -> Iterator[DockerSandbox]:
    engine = DockerSandbox()
    yield engine
    engine.cleanup_all()
