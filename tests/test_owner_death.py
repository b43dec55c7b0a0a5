"""A session's driver ends when its owner dies, even while a cell is busy (drivers/PROTOCOL.md).

The owner's attach connection closing closes the container's stdin (StdinOnce); the driver's
control reader sees end of file and kills the driver, so the container stops by itself, without
any janitor. (Its removal by Docker, AutoRemove, is not done yet: the test removes it.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

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
        while api.inspect_container(container_id)["State"]["Running"]:
            assert time.monotonic() < deadline, "the container still runs 10 s after its owner died"
            time.sleep(0.2)
    finally:
        api.remove_container(container_id, force=True)
