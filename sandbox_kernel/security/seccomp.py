"""Our seccomp profile, shipped in the package so that no sandbox depends on the daemon's default.

Docker applies its built-in default profile when a container names none, and that default is as
old as the daemon: Debian's Docker 20.10 still allows io_uring and every socket family (AF_VSOCK,
NETLINK_KOBJECT_UEVENT, ...). `seccomp.json` is Docker's current upstream default with our changes
(see its `comment` and `scripts/make_seccomp_profile.py`, which generates it); every container
names it (`engine/hardening.py`, `ContainerSpec.seccomp_profile`). runc applies it; runsc applies
it only when it runs with `--oci-seccomp` (`gvisor_applies_seccomp`), and then in a variant
(`gvisor_variant`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

PROFILE_FILE = "seccomp.json"
OCI_SECCOMP_FLAG = "--oci-seccomp"


@dataclass(frozen=True)
class SeccompProfile:
    text: str
    """The profile as Docker's JSON format, exactly as shipped (about 15 KB)."""
    sha256: str
    """Hex digest of ``text`` encoded as UTF-8: names the profile in force (``doctor``)."""
    upstream: str
    """The Docker default it is based on: repository, tag and commit (the JSON's ``upstream``)."""

    @property
    def security_opt(self) -> str:
        """The ``security_opt`` entry that applies the profile: ``seccomp=<json text>``."""
        return f"seccomp={self.text}"


@functools.cache
def profile(gvisor: bool = False) -> SeccompProfile:
    """The profile a container gets: the shipped one, or for runsc (``gvisor``) its
    `gvisor_variant`. Read once. Raises ``FileNotFoundError`` if the package is broken."""
    text = resources.files(__package__).joinpath(PROFILE_FILE).read_text(encoding="utf-8")
    if gvisor:
        text = json.dumps(gvisor_variant(json.loads(text)), indent="\t") + "\n"
    upstream = str(json.loads(text)["upstream"])
    return SeccompProfile(text, hashlib.sha256(text.encode("utf-8")).hexdigest(), upstream)


def gvisor_variant(shipped: dict[str, Any]) -> dict[str, Any]:
    """``shipped`` as runsc can apply it: the rule that makes clone3 fail with ENOSYS allows it.

    Docker's profile answers clone3 with ENOSYS so that C libraries fall back to clone, whose flags
    a filter can see. runsc (Debian's of 2022, measured) ignores ``errnoRet`` and returns EPERM,
    on which glibc gives up: no thread could start. Its Sentry does not implement clone3 and
    answers ENOSYS itself, so the variant lets the call through to it
    (tests/security/test_syscall_surface.py proves clone3 still fails and threads work).
    """
    def allow(rule: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in rule.items() if k != "errnoRet"}, "action": "SCMP_ACT_ALLOW"}

    syscalls = [allow(r) if r["names"] == ["clone3"] else r for r in shipped["syscalls"]]
    return {**shipped, "syscalls": syscalls}


def gvisor_applies_seccomp(runtime_args: Sequence[str]) -> bool:
    """Whether a runsc runtime started with ``runtime_args`` applies the OCI seccomp profile.

    ``runtime_args`` are the runtime's ``runtimeArgs`` in the daemon's configuration (``docker
    info``'s ``Runtimes``). runsc ignores the container's profile unless it runs with
    ``--oci-seccomp`` (a global flag: only the daemon's ``runtimeArgs`` can set it).
    """
    return any(arg in (OCI_SECCOMP_FLAG, f"{OCI_SECCOMP_FLAG}=true") for arg in runtime_args)
