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
from sandbox_kernel.security.seccomp import gvisor_applies_seccomp

GVISOR = "runsc"
RUNSC_ENTRY = (
    '{"runtimes": {"runsc": {"path": "/usr/bin/runsc", '
    '"runtimeArgs": ["--network=none", "--oci-seccomp"]}}}'
)
REGISTER_RUNSC = (
    f"merge {RUNSC_ENTRY} into /etc/docker/daemon.json and restart dockerd, or reload it with "
    "`kill -HUP $(pidof dockerd)` (`bash scripts/bootstrap.sh setup` does this when it starts "
    "the daemon itself)"
)


@pytest.fixture(scope="session", params=[None, GVISOR], ids=["runc", "runsc"])
def runtime(request: pytest.FixtureRequest) -> str | None:
    """Docker's runtime for the sandboxes of one pass of the suite: None (runc) or "runsc"."""
    return request.param  # type: ignore[no-any-return]


@functools.cache
def registered_runtimes() -> tuple[str, ...]:
    return tuple(sorted(connect().info().get("Runtimes") or {}))


@functools.cache
def runtime_args(runtime: str) -> tuple[str, ...]:
    config = (connect().info().get("Runtimes") or {}).get(runtime) or {}
    return tuple(config.get("runtimeArgs") or ())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """A gVisor case fails (in its call phase, so it counts as failed) when runsc is missing, or
    when it needs our seccomp profile (`seccomp_in_force`) and runsc runs without --oci-seccomp."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("runtime") == GVISOR:
        registered = registered_runtimes()
        if GVISOR not in registered:
            pytest.fail(
                f"gVisor is not available: the Docker daemon has no runtime {GVISOR!r} "
                f"(it has {', '.join(registered) or 'none'}); {REGISTER_RUNSC}",
                pytrace=False,
            )
        args = runtime_args(GVISOR)
        if "seccomp_in_force" in getattr(item, "fixturenames", ()) and not (
            gvisor_applies_seccomp(args)
        ):
            pytest.fail(f"the daemon runs {GVISOR} with {list(args)}, without --oci-seccomp, so "
                        f"gVisor ignores the seccomp profile; {REGISTER_RUNSC}", pytrace=False)


@pytest.fixture
def seccomp_in_force(runtime: str | None) -> str | None:
    """For tests that need our seccomp profile in force: under gVisor that takes runsc's
    --oci-seccomp, a global flag (no per-container setting exists), and without it runsc ignores
    every container's profile. `pytest_runtest_call` fails such a case (never skips it) then."""
    return runtime


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
