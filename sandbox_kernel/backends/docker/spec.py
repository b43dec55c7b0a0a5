"""How the Docker backend maps a neutral ``ContainerSpec`` onto ``create_container`` arguments.

Every field of the spec has its line here (``docs/architecture.md`` lists them side by side).
"""

from __future__ import annotations

from typing import Any

import docker
from docker.types import LogConfig, Ulimit

from sandbox_kernel.backends import ContainerSpec, TmpfsMount
from sandbox_kernel.engine.hardening import is_gvisor

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


def gvisor_host_pids(pids: int) -> int:
    """The host pids cgroup limit of a gVisor sandbox whose user may have ``pids`` tasks."""
    return pids * GVISOR_HOST_TASKS_PER_PID + GVISOR_HOST_TASKS_BASE


def tmpfs_options(mount: TmpfsMount) -> str:
    """Docker's option string for one tmpfs mount (``nosuid`` and ``nodev`` always)."""
    options = ["rw", "nosuid", "nodev", "exec" if mount.exec else "noexec"]
    if mount.uid is not None:
        options += [f"uid={mount.uid}", f"gid={mount.uid}"]
    options += [f"mode={mount.mode:o}", f"size={mount.size}"]
    return ",".join(options)


def create_kwargs(api: docker.APIClient, spec: ContainerSpec) -> dict[str, Any]:
    """Arguments for ``APIClient.create_container`` that apply every item of ``spec``."""
    if not (spec.read_only_root and spec.drop_all_capabilities and spec.no_new_privileges):
        raise ValueError("the Docker backend only creates hardened containers")
    ulimits = [
        Ulimit(name="nofile", soft=spec.nofile, hard=spec.nofile),
        Ulimit(name="fsize", soft=spec.max_file_size, hard=spec.max_file_size),
        Ulimit(name="core", soft=0, hard=0),
    ]
    pids = spec.pids
    if is_gvisor(spec.runtime):
        ulimits.append(Ulimit(name="nproc", soft=spec.pids, hard=spec.pids))
        pids = gvisor_host_pids(spec.pids)
    if spec.msgqueue_bytes is not None:
        ulimits.append(Ulimit(name="msgqueue", soft=spec.msgqueue_bytes,
                              hard=spec.msgqueue_bytes))
    security_opt = ["no-new-privileges"]
    if spec.seccomp_profile is not None:
        security_opt.append(f"seccomp={spec.seccomp_profile}")
    host_config = api.create_host_config(
        mem_limit=spec.memory,
        memswap_limit=spec.memory,
        mem_swappiness=0,
        nano_cpus=int(spec.cpus * 1e9),
        pids_limit=pids,
        cap_drop=["ALL"],
        security_opt=security_opt,
        read_only=True,
        tmpfs={mount.path: tmpfs_options(mount) for mount in spec.tmpfs},
        init=spec.init,
        network_mode="bridge" if spec.network else "none",
        ulimits=ulimits,
        runtime=spec.runtime,
        ipc_mode="private",
        shm_size=spec.shm_size,
        auto_remove=spec.auto_remove,
        # Output is read from the attach stream only. Docker's default json-file driver would
        # also write every byte to the host's disk (uncapped: a flood of 100 MB/s for the whole
        # life of a session) and parse it line by line in dockerd: no log is kept at all.
        log_config=LogConfig(type=LogConfig.types.NONE if not spec.keep_logs else "json-file"),
    )
    if spec.masked_paths:
        host_config["MaskedPaths"] = list(spec.masked_paths)
    return {
        "name": spec.name,
        "image": spec.image,
        "command": list(spec.command),
        "user": spec.user,
        "environment": dict(spec.environment),
        "working_dir": spec.workdir,
        "hostname": spec.hostname,
        "stdin_open": True,
        # docker-py sets StdinOnce (and AttachStdin) for a container that is not detached.
        "detach": not spec.stdin_once,
        "tty": False,
        "labels": dict(spec.labels),
        "network_disabled": not spec.network,
        "host_config": host_config,
    }
