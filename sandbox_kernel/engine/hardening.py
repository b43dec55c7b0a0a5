"""The hardened container every sandbox gets, decided once, for one-shot runs and sessions alike.

This module turns ``Limits`` into a neutral ``ContainerSpec`` (``sandbox_kernel.backends``); each
backend maps it onto its engine (``docs/architecture.md`` has the table). Nothing here knows a
container library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sandbox_kernel.backends import ContainerSpec, TmpfsMount
from sandbox_kernel.limits import Limits, MiB
from sandbox_kernel.security import seccomp
from sandbox_kernel.security.masked_paths import MASKED_PATHS

WORKDIR = "/workspace"
SANDBOX_UID = 65534
SANDBOX_USER = f"{SANDBOX_UID}:{SANDBOX_UID}"
HOSTNAME = "sandbox"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SHM_SIZE = 16 * MiB

# The only environment a sandbox sees: nothing of the host's environment is passed through.
BASE_ENVIRONMENT: Mapping[str, str] = {
    "PATH": PATH,
    "HOME": WORKDIR,
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    # docker-init (tini) forwards signals to the whole process group, so an interrupt reaches the
    # program a cell started, not only the driver.
    "TINI_KILL_PROCESS_GROUP": "1",
}


START_CPUS = 1.0
"""The CPU limit of a session container while its driver starts (our code only: IPython's import
is single-threaded, so one CPU is all it can use); the session applies ``Limits.cpus`` before the
driver says it is ready, so no code of a cell ever runs with more."""


def start_cpus(limits: Limits, runtime: str | None) -> float | None:
    """The CPU limit to start a session container with, or ``None`` to start it at
    ``limits.cpus`` (already one CPU or more, or gVisor, whose runsc cannot change a running
    container's limits)."""
    if limits.cpus >= START_CPUS or is_gvisor(runtime):
        return None
    return START_CPUS


def is_gvisor(runtime: str | None) -> bool:
    """Whether ``runtime`` names gVisor (``runsc``, or a variant registered under that name)."""
    return bool(runtime) and "runsc" in str(runtime)


def container_spec(
    *,
    name: str,
    image: str,
    command: Sequence[str],
    limits: Limits,
    labels: Mapping[str, str],
    runtime: str | None = None,
    cpus: float | None = None,
) -> ContainerSpec:
    """The spec of one sandbox: every limit of ``limits`` and every hardening item applied;
    ``cpus`` replaces ``limits.cpus`` (see ``start_cpus``)."""
    return ContainerSpec(
        name=name,
        image=image,
        command=tuple(command),
        labels=dict(labels),
        user=SANDBOX_USER,
        workdir=WORKDIR,
        hostname=HOSTNAME,
        environment=dict(BASE_ENVIRONMENT),
        memory=limits.memory,
        cpus=limits.cpus if cpus is None else cpus,
        pids=limits.pids,
        nofile=limits.nofile,
        max_file_size=limits.max_file_size,
        tmpfs=(
            TmpfsMount("/tmp", limits.tmp_size),
            # The working directory belongs to the sandbox user (Docker resets the mode of a
            # tmpfs that is also the working directory); exec lets users run their own scripts.
            TmpfsMount(WORKDIR, limits.workdir_size, mode=0o700, uid=SANDBOX_UID, exec=True),
        ),
        shm_size=SHM_SIZE,
        network=limits.network,
        # Ours, not the daemon's default (sandbox_kernel/security/seccomp.py says why).
        seccomp_profile=seccomp.profile(is_gvisor(runtime)).text,
        masked_paths=MASKED_PATHS,
        runtime=runtime,
        # Gone by itself once it exits: a container whose owner was SIGKILLed ends when its
        # stdin closes (stdin_once) and leaves nothing behind (the janitor is only a backstop).
        auto_remove=True,
    )
