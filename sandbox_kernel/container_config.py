"""The hardened container configuration, in one place for one-shot runs and sessions alike."""

from __future__ import annotations

from typing import Any

import docker
from docker.types import Ulimit

from sandbox_kernel.limits import Limits

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

# gVisor runs its own sentry threads inside the container's pids cgroup, so a low cgroup limit
# stops runsc from starting; there the cgroup gets head-room and RLIMIT_NPROC (which gVisor counts
# per sandbox) holds the user's processes to the configured number.
GVISOR_PIDS_HEADROOM = 512


def is_gvisor(runtime: str | None) -> bool:
    return bool(runtime) and "runsc" in str(runtime)


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
    ]
    pids = limits.pids
    if is_gvisor(runtime):
        ulimits.append(Ulimit(name="nproc", soft=limits.pids, hard=limits.pids))
        pids = limits.pids + GVISOR_PIDS_HEADROOM
    tmpfs_opts = "rw,nosuid,nodev,mode=1777"
    host_config = api.create_host_config(
        mem_limit=limits.memory,
        memswap_limit=limits.memory,
        mem_swappiness=0,
        nano_cpus=int(limits.cpus * 1e9),
        pids_limit=pids,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
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
    )
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
