"""Chaos and faults: hundreds of runs and cells mixing timeouts, OOMs, interrupts, floods and
crashes leave no container, temp file, process, thread or socket of ours behind; a SIGKILLed
kernel's container is reaped; a Docker daemon restart is a SandboxUnavailable, then recovery.
"""

from __future__ import annotations

import gc
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import psutil
import pytest
from docker_support import docker_api as connect
from docker_support import find_ours
from kernel_support import execute, running_kernel, wait_for_reply, wait_for_stream

from sandbox_kernel import DockerSandbox, ExecutionResult, Limits, SandboxUnavailable
from sandbox_kernel.engine import ownership
from sandbox_kernel.engine import sandbox as engine_module
from sandbox_kernel.engine.session import SandboxSession
from sandbox_kernel.limits import MiB

SMALL = Limits(memory=48 * MiB, max_output=64 * 1024)
Check = Callable[[ExecutionResult], bool]

# (language, code, timeout, limits, what the result must show)
ONE_SHOTS: dict[str, tuple[str, str, float, Limits | None, Check]] = {
    "ok-python": ("python", "print('ok')", 30, None, lambda r: r.stdout == "ok\n" and r.ok),
    "ok-bash": ("bash", "echo ok", 30, None, lambda r: r.stdout == "ok\n" and r.ok),
    "ok-node": ("node", "console.log('ok')", 30, None, lambda r: r.stdout == "ok\n" and r.ok),
    "exit": ("bash", "echo bye >&2; exit 7", 30, None,
             lambda r: r.exit_code == 7 and r.stderr == "bye\n"),
    "exception": ("python", "raise SystemError('boom')", 30, None,
                  lambda r: r.exit_code == 1 and "SystemError: boom" in r.stderr),
    "timeout": ("python", "import time\nprint('tick', flush=True)\ntime.sleep(30)", 0.7, None,
                lambda r: r.timed_out and r.exit_code is None),
    # 137 only: under load Docker may flag OOMKilled too late for the engine (see
    # tests/security/test_resources.py::test_every_oom_is_reported_when_sandboxes_run_out_together)
    "oom": ("python", "x = b'x' * (200 << 20)", 30, SMALL, lambda r: r.exit_code == 137),
    "flood": ("bash", "head -c 3000000 /dev/zero | tr '\\0' x", 30, SMALL,
              lambda r: r.truncated and r.exit_code == 0 and len(r.stdout) > 64 * 1024),
    "daemon": ("bash", "setsid sleep 300 >/dev/null 2>&1 </dev/null &\necho started", 30, None,
               lambda r: r.stdout == "started\n" and r.exit_code == 0),
}
MIX = {"ok-python": 40, "ok-bash": 30, "ok-node": 20, "exit": 15, "exception": 15,
       "timeout": 15, "oom": 15, "flood": 15, "daemon": 15}  # 180 one-shot runs


def session_script(session: SandboxSession, rng: random.Random, cells: int) -> list[str]:
    """Runs ``cells`` cells of mixed fates in one session; returns the failures it saw."""
    failures = []
    for number in range(cells):
        fate = rng.choice(["state", "state", "state", "timeout", "interrupt", "oom", "exit"])
        if fate == "state":
            result = session.run(f"n = globals().get('n', 0) + 1\nprint('cell', {number})", 30)
            good = result.stdout == f"cell {number}\n" and result.exit_code == 0
        elif fate == "timeout":
            result = session.run("import time\ntime.sleep(30)", 0.5)
            good = result.timed_out
        elif fate == "interrupt":
            result = interrupted_cell(session)
            good = result.interrupted and result.exit_code == 130
        elif fate == "oom":
            result = session.run("x = b'x' * (200 << 20)", 30)
            good = result.exit_code == 137 and result.state_lost
        else:
            # A real process exit: sys.exit keeps the session's state, as in IPython.
            result = session.run("import os\nos._exit(3)", 30)
            good = result.state_lost and result.exit_code == 3
        if not good:
            failures.append(f"{fate}: {result!r}"[:400])
    return failures


def interrupted_cell(session: SandboxSession) -> ExecutionResult:
    """A sleeping cell, interrupted 0.2 s after its first output (not while the sandbox starts)."""
    timers: list[threading.Timer] = []

    def interrupt_once_running(stream: str, text: str) -> None:
        if "sleeping" in text and not timers:
            timers.append(threading.Timer(0.2, session.interrupt))
            timers[0].start()

    result = session.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(30)", 30,
                             on_output=interrupt_once_running)
    for timer in timers:
        timer.join()
    return result


@contextmanager
def nothing_of_ours_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Snapshots what this process owns; afterwards, every new container, temp file, child
    process, thread and file descriptor must be gone."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    # Engines of earlier tests may still be filling their warm pools (each fill opens an attach
    # socket): stop them first, so the snapshot counts only what this process holds at rest.
    engine_module.shutdown()
    # The removers are a fixed pool started on first use, not per run: count them as at rest.
    engine_module.start_removers()
    me = psutil.Process()
    api = connect()
    owner = ownership.owner_id()
    containers = {c["Id"] for c in find_ours(api, owner)}
    tmp_before = set(os.listdir("/tmp"))
    children = {p.pid for p in me.children(recursive=True)}
    threads = set(threading.enumerate())
    fds = me.num_fds()
    yield private_tmp
    gc.collect()  # engines that went out of scope close their Docker connections
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        left = {c["Id"] for c in find_ours(api, owner)} - containers
        extra_threads = [t for t in threading.enumerate() if t not in threads]
        if not left and not extra_threads:
            break
        time.sleep(0.2)
    assert not left, f"containers left: {[c[:12] for c in left]}"
    assert not extra_threads, "threads left:\n" + "\n".join(
        f"{t.name}: {''.join(traceback.format_stack(sys._current_frames()[t.ident]))}"
        for t in extra_threads if t.ident in sys._current_frames())
    assert list(private_tmp.iterdir()) == []
    new_tmp = {name for name in set(os.listdir("/tmp")) - tmp_before
               if "sandbox" in name and not name.startswith("sandbox-kernelspecs-")}
    assert not new_tmp, f"temp files left in /tmp: {new_tmp}"
    assert {p.pid for p in me.children(recursive=True)} <= children
    assert me.num_fds() <= fds + 8, f"file descriptors: {fds} before, {me.num_fds()} after"


def test_hundreds_of_mixed_runs_and_cells_leave_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(20261126)
    jobs = [name for name, count in MIX.items() for _ in range(count)]
    rng.shuffle(jobs)
    failures: list[str] = []
    with nothing_of_ours_left(tmp_path, monkeypatch):
        run_the_mix(jobs, failures)
        assert failures == []


def run_the_mix(jobs: list[str], failures: list[str]) -> None:
    """180 one-shot runs and 80 cells under runc, 6 runs and 12 cells under gVisor, 5 at a time."""
    engine = DockerSandbox()  # warm pool on, as users get it
    gvisor = DockerSandbox(runtime="runsc")

    def one_shot(name: str, sandbox: DockerSandbox) -> None:
        language, code, timeout, limits, check = ONE_SHOTS[name]
        result = sandbox.run(language, code, timeout, limits)
        if not check(result):
            failures.append(f"{name} ({sandbox.runtime or 'runc'}): {result!r}"[:400])

    def sessions(sandbox: DockerSandbox, seed: int, cells: int) -> None:
        # IPython and its traceback machinery need more than 64 MiB under gVisor's accounting.
        with sandbox.session("python", Limits(memory=128 * MiB)) as session:
            failures.extend(f"session ({sandbox.runtime or 'runc'}) {failure}"
                            for failure in session_script(session, random.Random(seed), cells))

    tasks: list[Callable[[], None]] = [partial(one_shot, name, engine) for name in jobs]
    tasks += [partial(one_shot, name, gvisor)
              for name in ["ok-python", "timeout", "oom", "daemon", "ok-node", "exit"]]
    for index, seed in enumerate(range(4)):  # sessions start early, spread among the runs
        tasks.insert(index * 10, partial(sessions, engine, seed, 20))
    tasks.insert(5, partial(sessions, gvisor, 99, 12))
    with ThreadPoolExecutor(max_workers=5) as pool:
        for future in [pool.submit(task) for task in tasks]:
            future.result()
    engine.close()
    gvisor.close()


def test_sigkilled_kernel_leaves_nothing_behind() -> None:
    api = connect()
    with running_kernel("sandbox-python", {"timeout": "5"}) as (km, kc):
        kernel = km.provisioner.process  # type: ignore[union-attr]
        assert execute(kc, "x = 6 * 7\nprint(x)").text("stdout") == "42\n"
        msg_id = kc.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(60)")
        wait_for_stream(kc, msg_id, "sleeping")
        km.interrupt_kernel()
        wait_for_reply(kc, msg_id)
        assert execute(kc, "print(x)").text("stdout") == "42\n"
        (container,) = find_ours(api, ownership.owner_id(kernel.pid))
        os.kill(kernel.pid, signal.SIGKILL)
        kernel.wait(10)
        # The owner's death closes the attach stream: the sandbox stops by itself and Docker
        # removes it (AutoRemove; issue 16, section 4), with no janitor in between.
        deadline = time.monotonic() + 15
        while [c for c in find_ours(api) if c["Id"] == container["Id"]]:
            assert time.monotonic() < deadline, "the SIGKILLed kernel's container is still there"
            time.sleep(0.2)


# -- the Docker daemon goes away ------------------------------------------------------------------

DOCKERD_LOG = "/var/log/sandbox-kernel-dockerd.log"  # where scripts/bootstrap.sh logs it too


def _the_docker_daemon() -> psutil.Process:
    daemons = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "dockerd"]
    assert len(daemons) == 1, f"expected one dockerd on this machine, found {daemons}"
    return daemons[0]


def _daemon_answers() -> bool:
    try:
        connect()
    except SandboxUnavailable:
        return False
    return True


def _start_daemon_like(argv: list[str], cwd: str, env: dict[str, str], systemd: bool) -> None:
    """Start dockerd the way it was started: systemd's unit, or the same argv, detached."""
    if systemd:
        subprocess.run(["systemctl", "start", "docker"], check=True, timeout=120)
        return
    with open(DOCKERD_LOG, "ab") as log:
        subprocess.run(["setsid", "-f", *argv], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                       stdout=log, stderr=log, check=True, timeout=30)


def test_docker_daemon_restart_is_sandbox_unavailable_then_the_next_run_succeeds() -> None:
    """Stops the shared Docker daemon (SIGTERM), checks that an in-flight run and new runs get
    SandboxUnavailable quickly, starts the daemon again exactly as it was started, and checks that
    the same engine and a new one run code again. Every container on the machine is stopped."""
    daemon = _the_docker_daemon()
    argv, cwd, env = daemon.cmdline(), daemon.cwd(), daemon.environ()
    with open(f"/proc/{daemon.pid}/cgroup") as cgroup:
        systemd = "docker.service" in cgroup.read()
    engine = DockerSandbox()
    assert engine.run("python", "print('before')", 30).stdout == "before\n"
    running = threading.Event()
    in_flight: dict[str, object] = {}

    def run_across_the_restart() -> None:
        try:
            in_flight["result"] = engine.run(
                "python", "import time\nprint('running', flush=True)\ntime.sleep(60)", 90,
                on_output=lambda stream, text: running.set())
        except Exception as exc:  # noqa: BLE001 - inspected below
            in_flight["error"] = exc

    runner = threading.Thread(target=run_across_the_restart)
    runner.start()
    unavailable_after: list[float] = []
    try:
        assert running.wait(30)
        if systemd:
            subprocess.run(["systemctl", "stop", "docker"], check=True, timeout=120)
        else:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(120)
        runner.join(60)
        for sandbox in (engine, DockerSandbox(warm=False)):
            started = time.monotonic()
            with pytest.raises(SandboxUnavailable, match="bootstrap.sh setup"):
                sandbox.run("python", "print('while down')", 30)
            unavailable_after.append(time.monotonic() - started)
    finally:
        if not _daemon_answers():
            _start_daemon_like(argv, cwd, env, systemd)
        deadline = time.monotonic() + 90
        while not _daemon_answers() and time.monotonic() < deadline:
            time.sleep(0.5)
    assert _daemon_answers(), f"dockerd did not come back; see {DOCKERD_LOG}"
    assert not runner.is_alive()
    assert isinstance(in_flight.get("error"), SandboxUnavailable), in_flight
    assert max(unavailable_after) < 10, unavailable_after
    assert engine.run("python", "print('after')", 60).stdout == "after\n"
    assert DockerSandbox(warm=False).run("bash", "echo after", 60).stdout == "after\n"
    new = _the_docker_daemon()
    assert new.cmdline() == argv and new.pid != daemon.pid
    engine.cleanup_all()  # containers stopped by the restart are removed now, not at exit
