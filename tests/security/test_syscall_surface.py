"""The kernel surface a sandbox reaches: our seccomp profile, masked /proc files, no message queues.

Every attack here used to work under Debian's Docker 20.10 default profile (issue 16, section 1).
Network rule of the suite: AF_VSOCK sockets are only *created* (and must fail); nothing is ever
connected, bound or sent over vsock.

Under gVisor the profile is applied by runsc's --oci-seccomp only: the cases that need it take
the `seccomp_in_force` fixture, which fails them with the fix when the daemon lacks the flag.
"""

from __future__ import annotations

import re
import subprocess
import sys

from attack_helpers import assert_healthy, lines_of

from sandbox_kernel import DockerSandbox
from sandbox_kernel.engine.hardening import is_gvisor
from sandbox_kernel.security import seccomp

# Prints "NAME ERRNO-NAME" (or "NAME ALLOWED") for each attempt.
PROBE_PRELUDE = r"""
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
AF_VSOCK, AF_NETLINK = 40, 16

def report(name, call):
    # call() raises OSError, or returns a raw syscall's result (-1 and errno on failure).
    try:
        result = call()
    except OSError as exc:
        print(name, errno.errorcode.get(exc.errno, exc.errno))
        return
    if isinstance(result, int) and result < 0:
        print(name, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
        return
    print(name, "ALLOWED")

def sock(family, kind, protocol=0):
    socket.socket(family, kind, protocol).close()

def raw_socket(family, kind, protocol):
    return libc.syscall(41, ctypes.c_long(family), ctypes.c_long(kind), ctypes.c_long(protocol))

def io_uring_setup():
    params = (ctypes.c_char * 120)()  # struct io_uring_params, zeroed
    return libc.syscall(425, 4, params)  # x86_64
"""


def _probe(engine: DockerSandbox, body: str) -> dict[str, str]:
    result = engine.run("python", PROBE_PRELUDE + body, timeout=60)
    assert result.exit_code == 0, result
    return lines_of(result)


def test_vsock_sockets_cannot_be_created(engine: DockerSandbox, runtime: str | None) -> None:
    """vsock is not network-namespaced: on a VM host it reaches the hypervisor side. Only the
    creation is attempted; the (1 << 32) variant is what a deny-list of ranges lets through."""
    found = _probe(engine, r"""
report("vsock", lambda: sock(AF_VSOCK, socket.SOCK_STREAM))
report("vsock_dgram", lambda: sock(AF_VSOCK, socket.SOCK_DGRAM))
report("vsock_high_bits", lambda: raw_socket((1 << 32) | AF_VSOCK, socket.SOCK_STREAM, 0))
""")
    # runc: our profile (EPERM). gVisor has no vsock at all (EAFNOSUPPORT) unless the profile
    # refuses it first.
    refusals = {"EPERM"} if runtime is None else {"EPERM", "EAFNOSUPPORT"}
    for name in ("vsock", "vsock_dgram", "vsock_high_bits"):
        assert found[name] in refusals, found
    assert_healthy(engine)


def test_io_uring_cannot_be_set_up(
    engine: DockerSandbox, seccomp_in_force: str | None
) -> None:
    found = _probe(engine, r"""
report("io_uring_setup", io_uring_setup)
report("io_uring_enter", lambda: libc.syscall(426, 0, 0, 0, 0, None, 0))
report("io_uring_register", lambda: libc.syscall(427, 0, 0, None, 0))
""")
    assert found == {"io_uring_setup": "EPERM", "io_uring_enter": "EPERM",
                     "io_uring_register": "EPERM"}, found
    assert_healthy(engine)


def test_host_uevents_netlink_is_refused_and_netlink_route_still_works(
    engine: DockerSandbox, seccomp_in_force: str | None
) -> None:
    """NETLINK_KOBJECT_UEVENT would deliver the host's uevents (disks, loop devices, modules);
    NETLINK_ROUTE stays: getifaddrs, if_nameindex and getaddrinfo(AI_ADDRCONFIG) use it."""
    found = _probe(engine, r"""
NETLINK_KOBJECT_UEVENT, NETLINK_SOCK_DIAG = 15, 4
report("uevent", lambda: sock(AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT))
report("uevent_raw", lambda: sock(AF_NETLINK, socket.SOCK_RAW, NETLINK_KOBJECT_UEVENT))
report("sock_diag", lambda: sock(AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG))
report("route", lambda: sock(AF_NETLINK, socket.SOCK_RAW, 0))
print("if_nameindex", ",".join(name for _, name in socket.if_nameindex()) or "none")
""")
    assert (found["uevent"], found["uevent_raw"], found["sock_diag"]) == ("EPERM",) * 3, found
    assert found["route"] == "ALLOWED"
    assert found["if_nameindex"] == "lo", found
    # Node's os.networkInterfaces() is getifaddrs(), over NETLINK_ROUTE.
    node = engine.run("node", "console.log('interfaces', "
                      "Object.keys(require('os').networkInterfaces()).join(','))", timeout=30)
    assert lines_of(node)["interfaces"] == "lo", node
    assert_healthy(engine, "node")


MASKED = ("/proc/config.gz", "/proc/key-users", "/proc/interrupts", "/proc/keys",
          "/proc/timer_list", "/proc/sched_debug", "/proc/kcore", "/proc/latency_stats")


def test_masked_proc_and_sys_files_reveal_nothing(engine: DockerSandbox) -> None:
    """Docker 20.10 left /proc/config.gz (the host kernel's build configuration) and
    /proc/key-users (key quotas of every uid on the host) readable; /proc/interrupts is masked
    by current Docker only. Each reads as empty or cannot be opened."""
    code = f"""
import errno, os
for path in {MASKED!r} + ("/proc/cpuinfo", "/proc/self/status"):
    try:
        with open(path, "rb") as f:
            print(path, "bytes", len(f.read(65536)))
    except OSError as exc:
        print(path, errno.errorcode[exc.errno])
for path in ("/sys/firmware", "/proc/acpi", "/proc/scsi"):
    try:
        print(path, "entries", len(os.listdir(path)))
    except OSError as exc:
        print(path, errno.errorcode[exc.errno])
"""
    result = engine.run("python", code, timeout=30)
    found = lines_of(result)
    # The probe does read /proc: the files that are not masked have content.
    assert found["/proc/cpuinfo"] != "bytes 0" and found["/proc/self/status"] != "bytes 0", result
    for path in MASKED:
        assert found[path] == "bytes 0" or not found[path].startswith("bytes"), (path, result)
    for path in ("/sys/firmware", "/proc/acpi", "/proc/scsi"):
        assert found[path] == "entries 0" or not found[path].startswith("entries"), (path, result)
    bash = engine.run("bash", "zcat /proc/config.gz 2>/dev/null | head -c 100 | wc -c; "
                      "wc -c < /proc/key-users 2>/dev/null || echo 0", timeout=30)
    assert bash.stdout.split() == ["0", "0"], bash
    assert_healthy(engine)


MQUEUE_HOG = r"""
import ctypes, errno, os, resource
rt = ctypes.CDLL("librt.so.1", use_errno=True)
print("rlimit", *resource.getrlimit(resource.RLIMIT_MSGQUEUE))
held, outcome = [], "limit"
while len(held) < 64:
    fd = rt.mq_open(f"/hog{len(held)}".encode(), os.O_CREAT | os.O_RDWR, 0o600, None)
    if fd < 0:
        outcome = errno.errorcode[ctypes.get_errno()]
        break
    held.append(fd)
print("held", len(held), outcome)
"""
MQUEUE_VICTIM = r"""
import ctypes, errno, os
rt = ctypes.CDLL("librt.so.1", use_errno=True)
fd = rt.mq_open(b"/victim", os.O_CREAT | os.O_RDWR, 0o600, None)
print("victim", "ok" if fd >= 0 else errno.errorcode[ctypes.get_errno()])
import multiprocessing
with multiprocessing.Pool(2) as pool:
    print("pool", sum(pool.map(abs, range(-10, 0))))
queue = multiprocessing.Queue()
queue.put("through")
print("queue", queue.get(timeout=10))
"""


def test_posix_message_queues_have_no_quota_to_exhaust(
    engine: DockerSandbox, runtime: str | None
) -> None:
    """RLIMIT_MSGQUEUE is counted per host uid, and every runc sandbox is uid 65534: each gets a
    quota of 0, so mq_open(O_CREAT) fails with EMFILE and no sandbox can use up the others'.
    gVisor gives each sandbox its own kernel, hence its own quota. multiprocessing (semaphores
    and pipes, no message queues) works either way."""
    with engine.session("python") as hog:
        holding = lines_of(hog.run(MQUEUE_HOG, timeout=30))
        victim = engine.run("python", MQUEUE_VICTIM, timeout=60)
    assert holding["rlimit"] == "0 0", holding
    found = lines_of(victim)
    assert (found["pool"], found["queue"]) == ("55", "through"), victim
    if is_gvisor(runtime):
        assert found["victim"] == "ok", (holding, victim)
    else:
        assert holding["held"] == "0 EMFILE", holding
        assert found["victim"] == "EMFILE", victim


def test_new_user_namespaces_are_refused(
    engine: DockerSandbox, seccomp_in_force: str | None
) -> None:
    """Under gVisor (runsc of 2022), a process that unshared a user namespace got raw and packet
    sockets and could create a TUN device. No sandbox may create a user namespace; raw sockets,
    packet sockets and TUN devices stay out of reach."""
    bash = engine.run("bash", "unshare -Ur id -u; echo status $?", timeout=30)
    assert lines_of(bash)["status"] != "0" and "Operation not permitted" in bash.stderr, bash
    found = _probe(engine, r"""
import fcntl, struct
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
report("unshare_user", lambda: libc.unshare(CLONE_NEWUSER))
report("unshare_user_net", lambda: libc.unshare(CLONE_NEWUSER | CLONE_NEWNET))
def clone_newuser():
    pid = libc.syscall(56, ctypes.c_long(CLONE_NEWUSER | 17), 0, 0, 0, 0)  # SIGCHLD, fork-like
    if pid == 0:
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
    return pid
report("clone_newuser", clone_newuser)
def clone3_newuser():
    # struct clone_args: flags = CLONE_NEWUSER, exit_signal = SIGCHLD, the rest 0.
    args = ctypes.create_string_buffer(struct.pack("8Q", CLONE_NEWUSER, 0, 0, 0, 17, 0, 0, 0))
    pid = libc.syscall(435, args, 64)
    if pid == 0:
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
    return pid
report("clone3_newuser", clone3_newuser)
# If an unshare above had worked, these would run inside the new user namespace.
report("raw", lambda: sock(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
report("packet", lambda: sock(17, socket.SOCK_RAW, 0))
def tun():
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", b"sk0", 0x0001))  # TUNSETIFF, IFF_TUN
    finally:
        os.close(fd)
report("tun", tun)
""")
    assert found["unshare_user"] == found["unshare_user_net"] == "EPERM", found
    assert found["clone_newuser"] == "EPERM", found
    # runc: the profile (ENOSYS, so that libcs fall back to clone); gVisor does not implement it.
    assert found["clone3_newuser"] == "ENOSYS", found
    assert (found["raw"], found["packet"]) == ("EPERM", "EPERM"), found
    assert found["tun"] != "ALLOWED", found
    assert_healthy(engine)


IN_FORCE_PROBE = r"""
with open("/proc/self/status") as f:
    print("seccomp", [l.split()[1] for l in f if l.startswith("Seccomp:")][0])
report("io_uring_setup", io_uring_setup)  # Docker 20.10's default allows it
report("sock_diag", lambda: sock(AF_NETLINK, socket.SOCK_DGRAM, 4))  # every Docker's does
report("vsock_high_bits", lambda: raw_socket((1 << 32) | AF_VSOCK, 1, 0))  # current upstream's does
report("unix", lambda: sock(socket.AF_UNIX, socket.SOCK_STREAM))
report("inet6", lambda: sock(socket.AF_INET6, socket.SOCK_DGRAM))
import threading  # pthread_create: clone3 must fail with ENOSYS for glibc to fall back to clone
thread = threading.Thread(target=print, args=("thread", "started"))
thread.start()
thread.join()
"""


def test_the_profile_in_force_is_ours_in_runs_and_sessions(
    engine: DockerSandbox, seccomp_in_force: str | None
) -> None:
    """Each refusal below distinguishes our profile from a default the daemon could have applied
    instead: Docker 20.10's allows io_uring, every Docker default allows NETLINK_SOCK_DIAG, and
    the current upstream's range deny-list lets AF_VSOCK with high bits set through."""
    with engine.session("python") as session:
        in_session = session.run(PROBE_PRELUDE + IN_FORCE_PROBE, timeout=60)
    for found in (_probe(engine, IN_FORCE_PROBE), lines_of(in_session)):
        assert found == {"seccomp": "2", "io_uring_setup": "EPERM", "sock_diag": "EPERM",
                         "vsock_high_bits": "EPERM", "unix": "ALLOWED",
                         "inet6": "ALLOWED", "thread": "started"}, found


def test_doctor_shows_the_profile_in_force(
    runtime: str | None, seccomp_in_force: str | None
) -> None:
    """Whatever else doctor finds on the machine, its seccomp rows are ok."""
    args = ["doctor"] + (["--runtime", runtime] if runtime else [])
    done = subprocess.run([sys.executable, "-m", "sandbox_kernel", *args], capture_output=True,
                          text=True, timeout=180)
    rows = {m[1]: (m[2], m[3]) for m in re.finditer(r"(?m)^(\S.*?)\s{2,}(ok|warn|FAIL)\s{2,}(.*)$",
                                                     done.stdout)}
    status, value = rows["seccomp profile"]
    assert status == "ok" and seccomp.profile().sha256[:16] in value, done.stdout + done.stderr
    assert "moby/profiles" in value
    # doctor probes inside only with an up-to-date bash image (else: `sandbox-kernel images build`).
    assert "inside: seccomp" in rows, done.stdout
    assert rows["inside: seccomp"] == ("ok", "2"), done.stdout
    assert rows["inside: userns"] == ("ok", "refused"), done.stdout
    if runtime:
        status, value = rows[f"seccomp under {runtime}"]
        assert status == "ok" and value.startswith("applied (--oci-seccomp)"), done.stdout
