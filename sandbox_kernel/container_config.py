"""The hardened container configuration, in one place for one-shot runs and sessions alike."""

from __future__ import annotations

from typing import Any

import docker
from docker.types import LogConfig, Ulimit

from sandbox_kernel.limits import Limits
from sandbox_kernel.security import seccomp
from sandbox_kernel.security.masked_paths import MASKED_PATHS

WORKDIR = "/workspace"
SANDBOX_USER = "65534:65534"
HOSTNAME = "sandbox"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The only environment a sandbox sees: nothing of the host's environment is passed through.
BASE_ENVIRONMENT = {
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

# gVisor (runsc) runs the user's processes inside its own kernel, the Sentry. On the host they
# are Sentry threads plus, on the ptrace platform, one stub process per address space with a
# thread for every Sentry thread that ever entered it, so the host's pids cgroup counts many more
# tasks than the user has: runsc does not even start under a cgroup limit of 50, and a fork bomb
# held to 50 processes inside drives the host count past 2,000 in 10 s (5,000 in 100 s). So:
# * RLIMIT_NPROC = pids holds the user: gVisor counts every task (threads included) of the sandbox
#   user in its own kernel and fails clone() beyond it (tests/security/test_resources.py proves it);
# * the host cgroup gets pids * GVISOR_HOST_TASKS_PER_PID + GVISOR_HOST_TASKS_BASE tasks: room for
#   any workload within the limit, and a bound on what one sandbox can take from the host's pid
#   space (pid_max is often 32768). A sustained fork bomb reaches it and gVisor stops the sandbox.
GVISOR_HOST_TASKS_PER_PID = 16
GVISOR_HOST_TASKS_BASE = 1024


def is_gvisor(runtime: str | None) -> bool:
    return bool(runtime) and "runsc" in str(runtime)


def gvisor_host_pids(pids: int) -> int:
    """The host pids cgroup limit of a gVisor sandbox whose user may have ``pids`` tasks."""
    return pids * GVISOR_HOST_TASKS_PER_PID + GVISOR_HOST_TASKS_BASE


def create_kwargs(
    api: docker.APIClient,
    image: str,
    command: list[str],
    limits: Limits,
    labels: dict[str, str],
    runtime: str | None = None,
) -> dict[str, Any]:
    """Arguments for ``APIClient.create_container`` that apply every limit of the sandbox."""
    ulimits = [
        Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile),
        Ulimit(name="fsize", soft=limits.max_file_size, hard=limits.max_file_size),
        Ulimit(name="core", soft=0, hard=0),
        # No POSIX message queue: RLIMIT_MSGQUEUE is counted per host uid, shared by all sandboxes.
        Ulimit(name="msgqueue", soft=0, hard=0),
    ]
    pids = limits.pids
    gvisor = is_gvisor(runtime)
    if gvisor:
        ulimits.append(Ulimit(name="nproc", soft=limits.pids, hard=limits.pids))
        pids = gvisor_host_pids(limits.pids)
    tmpfs_opts = "rw,nosuid,nodev,mode=1777"
    host_config = api.create_host_config(
        mem_limit=limits.memory,
        memswap_limit=limits.memory,
        mem_swappiness=0,
        nano_cpus=int(limits.cpus * 1e9),
        pids_limit=pids,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges", seccomp.profile(gvisor).security_opt],
        read_only=True,
        tmpfs={
            "/tmp": f"{tmpfs_opts},size={limits.tmp_size}",
            # Docker resets the mode of a tmpfs that is also the working directory, so the
            # sandbox user gets it by ownership; exec lets users run their own scripts there.
            WORKDIR: f"rw,nosuid,nodev,exec,uid=65534,gid=65534,mode=0700,"
                     f"size={limits.workdir_size}",
        },
        init=True,
        network_mode="bridge" if limits.network else "none",
        ulimits=ulimits,
        runtime=runtime,
        ipc_mode="private",
        shm_size=16 * 1024 * 1024,
        # Output is read from the attach stream only. Docker's default json-file driver would
        # also write every byte to the host's disk (uncapped: a flood of 100 MB/s for the whole
        # life of a session) and parse it line by line in dockerd: no log is kept at all.
        log_config=LogConfig(type=LogConfig.types.NONE),
    )
    host_config["MaskedPaths"] = list(MASKED_PATHS)  # docker-py has no parameter for it
    return {
        "image": image,
        "command": command,
        "user": SANDBOX_USER,
        "environment": dict(BASE_ENVIRONMENT),
        "working_dir": WORKDIR,
        "hostname": HOSTNAME,
        "stdin_open": True,
        "tty": False,
        "labels": labels,
        "network_disabled": not limits.network,
        "host_config": host_config,
    }
