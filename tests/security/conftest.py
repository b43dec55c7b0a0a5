"""Fixtures of the attack suite: every attack runs once under runc and once under gVisor (runsc).

The `runtime` fixture is parametrized over Docker's default runtime (runc) and "runsc". When the
daemon has no runsc runtime the runsc cases fail (they are never skipped): gVisor is part of what
the project promises, and `bash scripts/bootstrap.sh setup` registers it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator

import pytest
from docker_support import docker_api as connect
from docker_support import find_ours

from sandbox_kernel import DockerSandbox
from sandbox_kernel.engine import ownership

GVISOR = "runsc"
REGISTER_RUNSC = (
    'merge {"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}}} '
    "into /etc/docker/daemon.json and restart dockerd (`bash scripts/bootstrap.sh setup` does "
    "this when it starts the daemon itself)"
)


@pytest.fixture(scope="session", params=[None, GVISOR], ids=["runc", "runsc"])
def runtime(request: pytest.FixtureRequest) -> str | None:
    """Docker's runtime for the sandboxes of one pass of the suite: None (runc) or "runsc"."""
    return request.param  # type: ignore[no-any-return]


@functools.cache
def registered_runtimes() -> tuple[str, ...]:
    return tuple(sorted(connect().info().get("Runtimes") or {}))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """A gVisor case fails (in its call phase, so it counts as failed) when runsc is missing."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("runtime") == GVISOR:
        registered = registered_runtimes()
        if GVISOR not in registered:
            pytest.fail(
                f"gVisor is not available: the Docker daemon has no runtime {GVISOR!r} "
                f"(it has {', '.join(registered) or 'none'}); {REGISTER_RUNSC}",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def engine(runtime: str | None) -> Iterator[DockerSandbox]:
    """A cold engine (no warm pool): every container a test sees was started by that test."""
    yield DockerSandbox(runtime=runtime, warm=False)


@pytest.fixture(autouse=True)
def no_container_survives_the_attack() -> Iterator[None]:
    """After each attack, every container the test started is gone (removal is asynchronous)."""
    owner = ownership.owner_id()
    api = connect()

    def ours() -> set[str]:
        return {c["Id"] for c in find_ours(api, owner)}

    before = ours()
    yield
    deadline = time.monotonic() + 60  # gVisor takes seconds to tear down a fork-bombed sandbox
    while (left := ours() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"containers of this test still exist: {sorted(c[:12] for c in left)}"
