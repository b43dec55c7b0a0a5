"""The shipped seccomp profile and masked paths, checked without a daemon.

The rule evaluator below follows Docker's profile format as runc hands it to libseccomp: rules
for the same syscall are alternatives (any matching ALLOW allows), the comparisons of one rule
must all hold, and values are compared on all 64 bits of the register.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import docker
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox_kernel.backends.docker.spec import create_kwargs
from sandbox_kernel.engine.hardening import container_spec, is_gvisor
from sandbox_kernel.limits import Limits
from sandbox_kernel.security import seccomp
from sandbox_kernel.security.masked_paths import MASKED_PATHS

ROOT = Path(__file__).resolve().parents[2]
PROFILE = json.loads(seccomp.profile().text)
RULES: list[dict[str, Any]] = PROFILE["syscalls"]
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_ALG, AF_VSOCK = 1, 2, 10, 16, 17, 38, 40
NETLINK_ROUTE, NETLINK_SOCK_DIAG, NETLINK_KOBJECT_UEVENT = 0, 4, 15
# What Debian's Docker 20.10 masks by default (moby v20.10.24 oci/defaults.go): setting
# MaskedPaths replaces that list, so none of it may go missing.
DOCKER_20_10_MASKED = {
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
}
# Keys and values Docker 20.10's profile loader understands (profiles/seccomp/seccomp.go).
KNOWN_RULE_KEYS = {"names", "action", "args", "comment", "includes", "excludes", "errnoRet"}
KNOWN_OPS = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
             "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}


def _holds(arg: dict[str, Any], args: tuple[int, ...]) -> bool:
    value = args[arg["index"]]
    op = arg["op"]
    if op == "SCMP_CMP_MASKED_EQ":
        return value & arg["value"] == arg.get("valueTwo", 0)
    compare = {"SCMP_CMP_EQ": value == arg["value"], "SCMP_CMP_NE": value != arg["value"],
               "SCMP_CMP_LT": value < arg["value"], "SCMP_CMP_LE": value <= arg["value"],
               "SCMP_CMP_GT": value > arg["value"], "SCMP_CMP_GE": value >= arg["value"]}
    return compare[op]


def allowed(name: str, *args: int) -> bool:
    """Whether the profile allows ``name(*args)`` on x86_64 for a container with no capability."""
    padded = tuple(args) + (0,) * (6 - len(args))
    for rule in RULES:
        if name not in rule["names"] or rule["action"] != "SCMP_ACT_ALLOW":
            continue
        includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
        if includes.get("caps") or (includes.get("arches") and "amd64" not in includes["arches"]):
            continue  # needs a capability we drop, or another architecture
        if "amd64" in (excludes.get("arches") or []):
            continue
        if all(_holds(arg, padded) for arg in rule.get("args") or []):
            return True
    return False


def test_profile_is_dockers_format_with_eperm_for_everything_not_allowed() -> None:
    assert PROFILE["defaultAction"] == "SCMP_ACT_ERRNO" and PROFILE["defaultErrnoRet"] == 1
    x86 = [a for a in PROFILE["archMap"] if a["architecture"] == "SCMP_ARCH_X86_64"]
    assert x86 and set(x86[0]["subArchitectures"]) == {"SCMP_ARCH_X86", "SCMP_ARCH_X32"}
    assert "moby/profiles" in PROFILE["upstream"] and PROFILE["upstream"] in PROFILE["comment"]
    for rule in RULES:
        assert set(rule) <= KNOWN_RULE_KEYS, rule
        # Denials return an errno; nothing kills or traps the sandboxed program.
        assert rule["action"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"), rule
        assert {arg["op"] for arg in rule.get("args") or []} <= KNOWN_OPS, rule


def test_profile_keeps_the_structure_of_dockers_default() -> None:
    for name in ("read", "write", "openat", "execve", "mmap", "futex", "wait4", "socketpair",
                 "connect", "bind", "listen", "accept4", "epoll_wait", "getrandom", "memfd_create",
                 "pidfd_open", "mseal", "arch_prctl", "modify_ldt"):
        assert allowed(name), name
    # Docker's namespace rules: clone without any CLONE_NEW* flag, clone3 is ENOSYS (so libcs
    # fall back to clone), unshare/setns/mount only with CAP_SYS_ADMIN.
    clone_newuser, sigchld = 0x10000000, 17
    assert allowed("clone", sigchld) and not allowed("clone", sigchld | clone_newuser)
    clone3 = [r for r in RULES if r["names"] == ["clone3"]]
    assert clone3 and clone3[0]["action"] == "SCMP_ACT_ERRNO" and clone3[0]["errnoRet"] == 38
    for name in ("unshare", "setns", "mount", "umount2", "bpf", "perf_event_open",
                 "kexec_load", "init_module", "add_key", "keyctl", "userfaultfd", "reboot"):
        assert not allowed(name), name
    assert allowed("personality", 0) and not allowed("personality", 0x0040000)  # ADDR_NO_RANDOMIZE


def test_io_uring_and_socketcall_are_never_allowed() -> None:
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register", "socketcall"):
        assert not any(name in r["names"] for r in RULES if r["action"] == "SCMP_ACT_ALLOW")


def test_socket_families_are_an_allow_list() -> None:
    assert allowed("socket", AF_UNIX, 1, 0) and allowed("socket", AF_INET, 2, 17)
    assert allowed("socket", AF_INET6, 1, 6) and allowed("socket", AF_NETLINK, 3, NETLINK_ROUTE)
    for family, protocol in ((AF_VSOCK, 0), (AF_PACKET, 0), (AF_ALG, 0),
                             (AF_NETLINK, NETLINK_KOBJECT_UEVENT), (AF_NETLINK, NETLINK_SOCK_DIAG),
                             ((1 << 32) | AF_VSOCK, 0), ((1 << 32) | AF_UNIX, 0),
                             (AF_NETLINK, (1 << 32) | NETLINK_ROUTE)):
        assert not allowed("socket", family, 1, protocol), (family, protocol)


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_socket_is_allowed_exactly_for_the_listed_families(
    family: int, kind: int, protocol: int
) -> None:
    expected = family in (AF_UNIX, AF_INET, AF_INET6) or (
        family == AF_NETLINK and protocol == NETLINK_ROUTE)
    assert allowed("socket", family, kind, protocol) == expected


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_seccomp_profile", ROOT / "scripts" / "make_seccomp_profile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_profile_is_what_the_generator_makes() -> None:
    """Running the generator over the shipped profile changes nothing: no hand edits."""
    upstream = {k: v for k, v in PROFILE.items() if k not in ("comment", "upstream")}
    assert _generator().build(upstream, PROFILE["upstream"]) == PROFILE


@pytest.mark.parametrize("socket_rules", [
    [{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_NE"}]}],
    [],  # socket in the main list, unconditionally (Docker 20.10)
], ids=["deny-list", "unconditional"])
def test_generator_replaces_upstream_socket_rules(socket_rules: list[dict[str, Any]]) -> None:
    main = ["read", "io_uring_setup", "socketcall", "io_uring_enter"]
    main += [] if socket_rules else ["socket"]
    upstream = {"defaultAction": "SCMP_ACT_ERRNO", "archMap": [],
                "syscalls": [{"names": main, "action": "SCMP_ACT_ALLOW"}, *socket_rules]}
    made = _generator().build(upstream, "test")["syscalls"]
    assert made[0]["names"] == ["read"]
    sockets = [r for r in made if "socket" in r["names"]]
    assert all(r["args"][0]["op"] == "SCMP_CMP_EQ" for r in sockets)
    families = sorted(r["args"][0]["value"] for r in sockets)
    assert families == [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK]


def test_loader_gives_the_text_its_digest_and_the_security_opt() -> None:
    shipped = seccomp.profile()
    path = ROOT / "sandbox_kernel" / "security" / "seccomp.json"
    assert shipped.text == path.read_text(encoding="utf-8")
    assert shipped.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert shipped.security_opt == "seccomp=" + shipped.text


def test_gvisor_variant_differs_only_in_letting_clone3_through_to_the_sentry() -> None:
    variant = json.loads(seccomp.profile(gvisor=True).text)
    assert seccomp.profile(gvisor=True).sha256 != seccomp.profile().sha256
    changed = [(a, b) for a, b in zip(RULES, variant["syscalls"], strict=True) if a != b]
    assert [(a["names"], a["action"], a["errnoRet"]) for a, _ in changed] == [
        (["clone3"], "SCMP_ACT_ERRNO", 38)]
    assert changed[0][1] == {**{k: v for k, v in changed[0][0].items() if k != "errnoRet"},
                             "action": "SCMP_ACT_ALLOW"}
    assert {k: v for k, v in variant.items() if k != "syscalls"} == {
        k: v for k, v in PROFILE.items() if k != "syscalls"}


@pytest.mark.parametrize(("args", "applies"), [
    (["--network=none", "--oci-seccomp"], True),
    (["--oci-seccomp=true"], True),
    (["--network=none"], False),
    ([], False),
])
def test_gvisor_applies_the_profile_only_with_oci_seccomp(args: list[str], applies: bool) -> None:
    assert seccomp.gvisor_applies_seccomp(args) is applies


def test_masked_paths_keep_dockers_and_add_ours() -> None:
    assert set(MASKED_PATHS) >= DOCKER_20_10_MASKED
    assert {"/proc/config.gz", "/proc/key-users", "/proc/interrupts",
            "/sys/devices/virtual/powercap"} <= set(MASKED_PATHS)


@pytest.mark.parametrize("runtime", [None, "runsc"])
def test_every_container_gets_the_profile_masked_paths_and_no_message_queue(
    runtime: str | None
) -> None:
    api = docker.APIClient(version="1.41")  # builds the request only: no daemon is contacted
    spec = container_spec(name="n", image="image", command=["true"], limits=Limits(),
                          labels={"sandbox-kernel": "1"}, runtime=runtime)
    kwargs = create_kwargs(api, spec)
    host_config = kwargs["host_config"]
    assert "no-new-privileges" in host_config["SecurityOpt"]
    assert seccomp.profile(is_gvisor(runtime)).security_opt in host_config["SecurityOpt"]
    assert host_config["MaskedPaths"] == list(MASKED_PATHS)
    assert {"Name": "msgqueue", "Soft": 0, "Hard": 0} in host_config["Ulimits"]
