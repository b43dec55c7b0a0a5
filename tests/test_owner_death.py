"""A session's driver ends when its owner dies, even while a cell is busy (drivers/PROTOCOL.md).

The owner's attach connection closing closes the container's stdin (StdinOnce); the driver's
control reader sees end of file and kills the driver, so the container stops by itself, without
any janitor; so do one-shot containers (oneshot.sh's stdin watcher) and warm ones (their read
fails). (Their removal by Docker, AutoRemove, is not done yet: the tests remove them.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

import docker
import pytest
from docker_support import docker_api

BUSY = {"python": "while True:\n    pass", "bash": "while :; do :; done", "node": "while (true) {}"}
OWNER = """
import sys
from sandbox_kernel import DockerSandbox
session = DockerSandbox(warm=False).session(sys.argv[1])
session.start()
print(session.container_id, flush=True)
session.run(sys.argv[2], timeout=100)
"""


def running(api: Any, container_id: str) -> bool:
    """Whether the container runs (another process's janitor may have removed it already)."""
    try:
        return bool(api.inspect_container(container_id)["State"]["Running"])
    except docker.errors.NotFound:
        return False


def remove(api: Any, container_id: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        api.remove_container(container_id, force=True)


@pytest.mark.parametrize("language", sorted(BUSY))
def test_sigkilled_owner_leaves_no_running_session(language: str) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, language, BUSY[language]],
                             stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    container_id = owner.stdout.readline().strip()
    assert container_id, "the owner did not start its session"
    api = docker_api()
    try:
        time.sleep(1.5)  # the busy cell is running
        assert api.inspect_container(container_id)["State"]["Running"]
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        deadline = time.monotonic() + 10
        while running(api, container_id):
            assert time.monotonic() < deadline, "the container still runs 10 s after its owner died"
            time.sleep(0.2)
    finally:
        remove(api, container_id)


ONE_SHOT_OWNER = """
import sys, threading, time
from sandbox_kernel import DockerSandbox
engine = DockerSandbox()  # with its warm pool: a started container waits for the next run
started = []
threading.Thread(target=engine.run, args=("python", "while True:\\n    pass"),
                 kwargs={"timeout": 100, "on_start": started.append}, daemon=True).start()
while not started or engine._pool is None or not any(engine._pool._ready.values()):
    time.sleep(0.05)
warm = [launched.container_id for queue in engine._pool._ready.values() for launched in queue]
print(started[0], *warm, flush=True)
time.sleep(100)
"""


def test_sigkilled_owner_leaves_no_running_one_shot_or_warm_container() -> None:
    owner = subprocess.Popen([sys.executable, "-c", ONE_SHOT_OWNER], stdout=subprocess.PIPE,
                             text=True)
    assert owner.stdout is not None
    containers = owner.stdout.readline().split()
    assert len(containers) >= 2, f"expected a running one-shot and a warm container: {containers}"
    api = docker_api()
    try:
        time.sleep(1.0)  # the program is busy
        assert all(api.inspect_container(c)["State"]["Running"] for c in containers)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        deadline = time.monotonic() + 10
        while still := [c for c in containers if running(api, c)]:
            assert time.monotonic() < deadline, f"running 10 s after the owner died: {still}"
            time.sleep(0.2)
    finally:
        for container_id in containers:
            remove(api, container_id)
