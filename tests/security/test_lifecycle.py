"""Code that fights its own end: ignored signals, closed output, daemons, zombies.

The engine promises that a run returns within its timeout plus a short grace whatever the code
does, and that nothing the code started outlives its container.
"""

from __future__ import annotations

import secrets
import time

import psutil
import pytest
from attack_helpers import assert_healthy, lines_of

from sandbox_kernel import DockerSandbox
from sandbox_kernel.engine.sandbox import KILL_GRACE

# Slack on top of the engine's own grace for a loaded 2-core machine and gVisor's slower kill.
SLACK = 2.5

IGNORE_SIGNALS = {
    "python": (
        "import signal, sys\n"
        "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):\n"
        "    signal.signal(s, signal.SIG_IGN)\n"
        "print('armored', flush=True)\n"
        "while True:\n"
        "    pass\n"
    ),
    "bash": "trap '' TERM INT HUP QUIT\necho armored\nwhile :; do :; done\n",
    "node": (
        "for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => {});\n"
        "console.log('armored');\nfor (;;) {}\n"
    ),
}


@pytest.mark.parametrize("language", sorted(IGNORE_SIGNALS))
def test_code_that_ignores_sigterm_and_sigint_is_killed_at_the_timeout(
    engine: DockerSandbox, language: str
) -> None:
    started = time.monotonic()
    result = engine.run(language, IGNORE_SIGNALS[language], timeout=2)
    elapsed = time.monotonic() - started
    assert result.timed_out and result.exit_code is None, result
    assert result.stdout == "armored\n"
    assert elapsed < 2 + KILL_GRACE + SLACK
    assert_healthy(engine, language)


CLOSE_OUTPUT = {
    "python": "import os, time\nprint('bye', flush=True)\nos.close(1)\nos.close(2)\n",
    "bash": "echo bye\nexec 1>&- 2>&-\n",
    "node": ("const fs = require('fs');\nfs.writeSync(1, 'bye\\n');\n"
             "fs.closeSync(1);\nfs.closeSync(2);\n"),
}
THEN_HANG = {
    "python": "time.sleep(60)\n",
    "bash": "sleep 60\n",
    "node": "setTimeout(() => {}, 60000);\n",
}
THEN_EXIT = {"python": "os._exit(5)\n", "bash": "exit 5\n", "node": "process.exit(5);\n"}


@pytest.mark.parametrize("language", sorted(CLOSE_OUTPUT))
def test_closing_stdout_and_stderr_neither_hangs_nor_hides_the_exit(
    engine: DockerSandbox, language: str
) -> None:
    started = time.monotonic()
    hung = engine.run(language, CLOSE_OUTPUT[language] + THEN_HANG[language], timeout=2)
    assert hung.timed_out and hung.stdout == "bye\n", hung
    assert time.monotonic() - started < 2 + KILL_GRACE + SLACK
    exited = engine.run(language, CLOSE_OUTPUT[language] + THEN_EXIT[language], timeout=20)
    assert (exited.exit_code, exited.stdout, exited.timed_out) == (5, "bye\n", False), exited
    assert_healthy(engine, language)


def _host_processes_mentioning(marker: str) -> list[int]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if any(marker in part for part in process.info["cmdline"] or ()):
            found.append(process.info["pid"])
    return found


def _wait_until_gone(marker: str, seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _host_processes_mentioning(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


PYTHON_DAEMON = """
import os, sys, time
MARKER = "{marker}"
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.execv("/bin/sh", ["sh", "-c", "touch /tmp/daemon-up; sleep 1000; :", MARKER])
    os._exit(0)
while not os.path.exists("/tmp/daemon-up"):
    time.sleep(0.01)
print("daemon started", flush=True)
time.sleep(1)
"""


def test_double_forked_daemon_dies_with_the_run(
    engine: DockerSandbox, runtime: str | None
) -> None:
    marker = f"sk-daemon-{secrets.token_hex(6)}"
    seen_while_running: list[int] = []

    def on_output(stream: str, text: str) -> None:
        seen_while_running.extend(_host_processes_mentioning(marker))

    started = time.monotonic()
    result = engine.run("python", PYTHON_DAEMON.format(marker=marker), timeout=30,
                        on_output=on_output)
    assert (result.stdout, result.exit_code) == ("daemon started\n", 0), result
    assert time.monotonic() - started < 15
    if runtime is None:  # under runc the sandbox's processes are host processes: it did run
        assert seen_while_running
    assert _wait_until_gone(marker) == []
    after = engine.run("python", "import os; print(os.path.exists('/tmp/daemon-up'))", timeout=30)
    assert after.stdout == "False\n"


def test_nohup_setsid_daemon_from_bash_dies_with_the_run(engine: DockerSandbox) -> None:
    marker = f"sk-daemon-{secrets.token_hex(6)}"
    code = (f"setsid nohup sh -c 'sleep 1000; :' {marker} >/dev/null 2>&1 </dev/null &\n"
            "disown\necho ok")
    started = time.monotonic()
    result = engine.run("bash", code, timeout=30)
    assert (result.stdout, result.exit_code) == ("ok\n", 0), result
    assert time.monotonic() - started < 15
    assert _wait_until_gone(marker) == []
    assert_healthy(engine, "bash")


def test_daemon_started_in_a_session_lives_with_it_and_dies_at_close(
    engine: DockerSandbox, runtime: str | None
) -> None:
    marker = f"sk-daemon-{secrets.token_hex(6)}"
    with engine.session("bash") as session:
        first = session.run(
            f"setsid sh -c 'echo $$ > /tmp/daemon.pid; sleep 1000; :' {marker} "
            ">/dev/null 2>&1 </dev/null &\nsleep 0.5\necho started", timeout=30)
        assert first.stdout == "started\n", first
        alive = session.run("kill -0 $(cat /tmp/daemon.pid) && echo alive", timeout=30)
        assert alive.stdout == "alive\n", alive
        if runtime is None:  # under runc the sandbox's processes are host processes
            assert _host_processes_mentioning(marker)
    assert _wait_until_gone(marker) == []


def test_zombies_count_against_the_limit_and_orphans_are_reaped_by_init(
    engine: DockerSandbox,
) -> None:
    code = """
import os, time
def zombies():
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                count += f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            pass
    return count
children = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        children.append(pid)
except OSError:
    pass
time.sleep(0.3)
print("unreaped", len(children), zombies())
for pid in children:
    os.waitpid(pid, 0)
if os.fork() == 0:
    for _ in range(30):
        if os.fork() == 0:
            time.sleep(0.2)
            os._exit(0)
    os._exit(0)
os.wait()
time.sleep(1.5)
print("orphans_left", zombies())
spawned = 0
for _ in range(30):
    if os.fork() == 0:
        time.sleep(1)
        os._exit(0)
    spawned += 1
print("spawned_after", spawned)
"""
    result = engine.run("python", code, timeout=60)
    found = lines_of(result)
    made, zombies = map(int, found["unreaped"].split())
    assert 20 <= made < 50 and zombies >= made // 2, result
    assert found["orphans_left"] == "0"
    assert found["spawned_after"] == "30"
    assert_healthy(engine, "python")


def test_session_cell_that_ignores_interrupts_is_replaced_at_the_timeout(
    engine: DockerSandbox,
) -> None:
    with engine.session("python") as session:
        session.run("canary = 42", timeout=30)
        started = time.monotonic()
        result = session.run(IGNORE_SIGNALS["python"], timeout=2)
        assert time.monotonic() - started < 2 + 2.0 + KILL_GRACE + SLACK
        assert result.timed_out and result.state_lost, result
        after = session.run("print('canary' in globals())", timeout=60)
        assert after.stdout == "False\n" and after.notice, after


def test_session_cell_that_kills_its_interpreter_is_reported_and_replaced(
    engine: DockerSandbox,
) -> None:
    with engine.session("python") as session:
        result = session.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", timeout=30)
        assert result.state_lost and result.exit_code is not None and result.exit_code != 0
        after = session.run("print(6 * 7)", timeout=60)
        assert after.stdout == "42\n" and after.notice, after


# -- what Docker said about a container it already removed (AutoRemove) ---------------------------

OOM_BOMB = "b = []\nwhile True:\n    b.append(b'x' * (8 << 20) + bytes(len(b)))"


def _gone(engine: DockerSandbox, container_id: str) -> bool:
    api = engine.backend.api  # type: ignore[attr-defined]
    return not api.containers(all=True, filters={"id": container_id})


def _wait_until_removed(engine: DockerSandbox, container_id: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not _gone(engine, container_id):
        assert time.monotonic() < deadline, "the exited container was not removed"
        time.sleep(0.05)


@pytest.mark.parametrize(("code", "status", "oom"), [
    ("import os; os._exit(3)", 3, False),
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 137, False),
    (OOM_BOMB, 137, True),
], ids=["exit-3", "sigkill", "oom"])
def test_exit_status_and_oom_are_known_after_docker_removed_the_container(
    engine: DockerSandbox, code: str, status: int, oom: bool,
) -> None:
    """Every container is auto-removed when it exits: the backend must have heard its status
    and any OOM kill as they happened, since an inspect afterwards finds nothing."""
    from sandbox_kernel.languages import resolve_language
    from sandbox_kernel.limits import Limits, MiB

    backend = engine.backend
    container_id = engine.create_container(resolve_language("python"), ["python3", "-c", code],
                                           Limits(memory=64 * MiB), "run")
    backend.start(container_id)
    _wait_until_removed(engine, container_id)  # by Docker: nobody else removes it
    assert backend.wait(container_id, 10) == status
    assert backend.oom_killed(container_id) is oom
    engine.remove(container_id)


@pytest.mark.parametrize(("language", "code", "status"), [
    ("python", "import os; os._exit(3)", 3),
    ("bash", "kill -9 $$", 137),
    ("node", "process.kill(process.pid, 'SIGKILL')", 137),
])
def test_a_session_whose_driver_dies_reports_its_status_and_starts_afresh(
    engine: DockerSandbox, language: str, code: str, status: int,
) -> None:
    with engine.session(language) as session:
        session.start()
        first = session.container_id
        assert first is not None
        result = session.run(code, timeout=30)
        assert result.exit_code == status and result.state_lost and not result.oom_killed, result
        assert result.verdict.kind == "exit", result.verdict
        _wait_until_removed(engine, first)
        after = session.run({"python": "print(6 * 7)", "bash": "echo 42",
                             "node": "console.log(6 * 7)"}[language], timeout=60)
        assert after.stdout == "42\n" and after.notice and session.container_id != first, after


def test_a_one_shot_program_that_kills_its_wrapper_is_reported_as_killed(
    engine: DockerSandbox,
) -> None:
    """No exit marker arrives (the wrapper died first): the status is the container's own, heard
    from Docker before it removed the container; never a success, never an OOM."""
    result = engine.run("bash", "echo before\nkill -9 $PPID\nsleep 5", timeout=30)
    assert result.stdout == "before\n" and result.exit_code == 137, result
    assert not result.oom_killed and result.verdict.kind == "exit", result
