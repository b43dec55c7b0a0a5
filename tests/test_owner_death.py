"""Nothing is left behind when the process owning sandboxes is SIGKILLed (issue 16, section 4).

The owner's attach connection closing closes the container's stdin (StdinOnce): a session's
driver sees end of file on its control channel and kills the sandbox even while a cell is busy
(drivers/PROTOCOL.md), the one-shot wrapper's watcher does the same for a program in flight, a
warm container's ``read`` fails. The container exits, and Docker removes it (AutoRemove), so it
is gone from ``docker ps -a`` within seconds. These tests only watch: they never remove a
container. No janitor can remove them either: the owners label their containers with a process the
test keeps alive (``owner_site/sitecustomize.py``), so no engine of any process on this machine
takes them for orphans (the janitor stays a backstop: ``test_engine.py``'s orphan tests).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_support import docker_api, exists, find_ours
from kernel_support import execute, running_kernel, wait_for_stream

from sandbox_kernel.engine import ownership

OWNER_SITE = Path(__file__).parent / "owner_site"
GONE_WITHIN = 15.0
"""Seconds after the SIGKILL by which every container must be gone (measured: 0.05 to 0.4 s under
runc and gVisor on a 2-core machine shared with other test runs; the rest is headroom)."""

BUSY = {"python": "while True:\n    pass", "bash": "while :; do :; done", "node": "while (true) {}"}
OWNER = """
import sys, time
from sandbox_kernel import DockerSandbox
language, runtime, code = sys.argv[1], sys.argv[2] or None, sys.argv[3]
session = DockerSandbox(warm=False, runtime=runtime).session(language)
session.start()
print(session.container_id, flush=True)
if code:
    session.run(code, timeout=100)
time.sleep(100)
"""


@pytest.fixture
def owner_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Makes processes started from now on (owners, kernels) label their containers with the
    owner label of a live stand-in process; yields that label."""
    stand_in = subprocess.Popen(["sleep", "300"])
    label = ownership.owner_id(stand_in.pid)
    path = os.pathsep.join(p for p in (str(OWNER_SITE), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("SANDBOX_KERNEL_TEST_OWNER", label)
    try:
        yield label
    finally:
        stand_in.kill()
        stand_in.wait()


def auto_removed(api: Any, container_id: str, owner: str) -> bool:
    """Created with AutoRemove, and labelled with the live stand-in owner (no janitor's prey)."""
    config = api.inspect_container(container_id)
    assert config["Config"]["Labels"][ownership.OWNER_LABEL] == owner
    return bool(config["HostConfig"]["AutoRemove"])


def kill_and_wait_until_gone(owner: subprocess.Popen[str] | int, containers: list[str]) -> float:
    """SIGKILL the owner; return how many seconds its containers took to disappear."""
    api = docker_api()
    pid = owner if isinstance(owner, int) else owner.pid
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    if not isinstance(owner, int):
        owner.wait(10)
    while left := [c[:12] for c in containers if exists(api, c)]:
        elapsed = time.monotonic() - killed
        assert elapsed < GONE_WITHIN, f"in docker ps -a {elapsed:.1f} s after the kill: {left}"
        time.sleep(0.05)
    elapsed = time.monotonic() - killed
    print(f"gone {elapsed:.2f} s after the SIGKILL")
    return elapsed


def start_owner(label: str, language: str, code: str, runtime: str | None = None) -> tuple[
        subprocess.Popen[str], str]:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, language, runtime or "", code],
                             stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    container_id = owner.stdout.readline().strip()
    assert container_id, "the owner did not start its session"
    assert auto_removed(docker_api(), container_id, label)
    return owner, container_id


@pytest.mark.parametrize("language", sorted(BUSY))
def test_sigkilled_owner_of_a_busy_session_leaves_nothing(owner_env: str, language: str) -> None:
    owner, container_id = start_owner(owner_env, language, BUSY[language])
    time.sleep(1.5)  # the busy cell is running
    assert docker_api().inspect_container(container_id)["State"]["Running"]
    kill_and_wait_until_gone(owner, [container_id])


def test_sigkilled_owner_of_an_idle_session_leaves_nothing(owner_env: str) -> None:
    owner, container_id = start_owner(owner_env, "python", "")
    kill_and_wait_until_gone(owner, [container_id])


def test_sigkilled_owner_of_a_busy_gvisor_session_leaves_nothing(owner_env: str) -> None:
    owner, container_id = start_owner(owner_env, "python", BUSY["python"], "runsc")
    time.sleep(1.5)
    state = docker_api().inspect_container(container_id)
    assert state["State"]["Running"] and state["HostConfig"]["Runtime"] == "runsc"
    kill_and_wait_until_gone(owner, [container_id])


ONE_SHOT_OWNER = """
import sys, threading, time
from sandbox_kernel import DockerSandbox
engine = DockerSandbox(warm=True)  # its warm pool: started containers wait for the next run
started = []
threading.Thread(target=engine.run, args=("python", "while True:\\n    pass"),
                 kwargs={"timeout": 100, "on_start": started.append}, daemon=True).start()
while not started or engine._pool is None or not any(engine._pool._ready.values()):
    time.sleep(0.05)
warm = [launched.container_id for queue in engine._pool._ready.values() for launched in queue]
print(started[0], *warm, flush=True)
time.sleep(100)
"""


def test_sigkilled_owner_of_a_one_shot_run_and_warm_containers_leaves_nothing(
    owner_env: str,
) -> None:
    owner = subprocess.Popen([sys.executable, "-c", ONE_SHOT_OWNER], stdout=subprocess.PIPE,
                             text=True)
    assert owner.stdout is not None
    containers = owner.stdout.readline().split()
    assert len(containers) >= 2, f"expected a running one-shot and a warm container: {containers}"
    api = docker_api()
    time.sleep(1.0)  # the program is busy
    assert all(api.inspect_container(c)["State"]["Running"] for c in containers)
    assert all(auto_removed(api, c, owner_env) for c in containers)
    kill_and_wait_until_gone(owner, containers)


def test_sigkilled_jupyter_kernel_leaves_nothing(owner_env: str) -> None:
    """nbval's way of stopping a kernel: SIGKILL to the kernel process, mid-cell."""
    api = docker_api()
    with running_kernel("sandbox-python") as (km, kc):
        kernel = km.provisioner.process  # type: ignore[union-attr]
        assert execute(kc, "x = 6 * 7\nprint(x)").text("stdout") == "42\n"
        msg_id = kc.execute("print('busy', flush=True)\nwhile True:\n    pass")
        wait_for_stream(kc, msg_id, "busy")
        containers = [c["Id"] for c in find_ours(api, owner_env)]
        assert containers and all(auto_removed(api, c, owner_env) for c in containers)
        kill_and_wait_until_gone(kernel.pid, containers)
        kernel.wait(10)


COLLECTING_OWNER = """
import time
from sandbox_kernel import DockerSandbox
from sandbox_kernel.engine import workspace

def collect(self, patterns):  # the owner is SIGKILLed while it collects the run's files
    print(self.container_id, flush=True)
    time.sleep(100)

workspace.Workspace.collect = collect
DockerSandbox(warm=False).run("python", "open('out.txt', 'w').write('x')", timeout=30,
                              collect=["*.txt"])
"""


def test_sigkilled_owner_collecting_a_runs_files_leaves_nothing(owner_env: str) -> None:
    """The one-shot wrapper keeps the container after the program for the collection
    (drivers/oneshot.sh, "keep"), until its stdin ends: then too it goes away by itself."""
    owner = subprocess.Popen([sys.executable, "-c", COLLECTING_OWNER], stdout=subprocess.PIPE,
                             text=True)
    assert owner.stdout is not None
    container_id = owner.stdout.readline().strip()
    assert container_id, "the owner did not reach the collection"
    time.sleep(0.5)
    api = docker_api()
    assert api.inspect_container(container_id)["State"]["Running"]
    assert auto_removed(api, container_id, owner_env)
    kill_and_wait_until_gone(owner, [container_id])
