"""The paths of /proc and /sys a sandbox cannot read (OCI ``maskedPaths``).

Setting HostConfig ``MaskedPaths`` replaces the daemon's own list, so this is the whole list:
Docker's current default (moby's daemon/pkg/oci/defaults.go at master b985e2313a86; Debian's
Docker 20.10 lacks ``/proc/interrupts`` and ``/sys/devices/virtual/powercap``) plus what no Docker
masks and a sandbox has no business reading: the host kernel's build configuration and the key
quotas of every uid on the host. runc bind-mounts /dev/null over a masked file and an empty
read-only tmpfs over a masked directory; a path that does not exist is skipped.
"""

from __future__ import annotations

DOCKER_DEFAULT = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
)

OURS = (
    "/proc/config.gz",
    "/proc/key-users",
)

MASKED_PATHS: tuple[str, ...] = DOCKER_DEFAULT + OURS
