"""The engine against a real daemon: results, limits, isolation, output handling, errors."""

from __future__ import annotations

import math
import os
import threading
import time

import psutil
import pytest

from sandbox_kernel import DockerSandbox, Limits, SandboxUnavailable
from sandbox_kernel.limits import MiB

HELLO = {
    "python": "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\nsys.exit(3)",
    "bash": "echo hello; echo oops >&2; exit 3",
    "node": "console.log('hello'); console.error('oops'); process.exit(3)",
}


@pytest.mark.parametrize("language", sorted(HELLO))
def test_hello_world_exit_code_and_separate_stderr(sandbox: DockerSandbox, language: str) -> None:
    result = sandbox.run(language, HELLO[language])
    assert result.stdout == "hello\n"
    assert result.stderr == "oops\n"
    assert result.exit_code == 3
    assert not result.timed_out and not result.oom_killed and not result.truncated
    assert 0 < result.execution_time < 30_000


def test_shorthands_succeed(sandbox: DockerSandbox) -> None:
    assert sandbox.run_python("print(6 * 7)").stdout == "42\n"
    assert sandbox.run_bash("echo $((6 * 7))").stdout == "42\n"
    assert sandbox.run_node("console.log(6 * 7)").stdout == "42\n"
    assert sandbox.run_python("pass").exit_code == 0


def test_timeout_kills_code_that_traps_signals_and_closes_its_output(
    sandbox: DockerSandbox,
) -> None:
    code = (
        "trap '' TERM INT HUP\n"
        "echo started\n"
        "exec 1>&- 2>&-\n"
        "while :; do :; done\n"
    )
    started = time.monotonic()
    result = sandbox.run("bash", code, timeout=1.5)
    elapsed = time.monotonic() - started
    assert result.timed_out
    assert result.exit_code is None
    assert result.stdout == "started\n"
    assert elapsed < 1.5 + 2.0


def test_background_process_does_not_hold_the_run_open(sandbox: DockerSandbox) -> None:
    started = time.monotonic()
    result = sandbox.run("bash", "nohup sleep 60 >/dev/null 2>&1 &\necho spawned", timeout=20)
    assert result.stdout == "spawned\n"
    assert not result.timed_out
    assert time.monotonic() - started < 10


def test_out_of_memory_is_reported(sandbox: DockerSandbox) -> None:
    result = sandbox.run("python", "x = bytearray(512 * 1024 * 1024)\nprint('survived')")
    assert result.oom_killed
    assert result.exit_code == 137
    assert "survived" not in result.stdout


def test_fork_bomb_is_contained_and_the_next_run_is_healthy(sandbox: DockerSandbox) -> None:
    bomb = "b() { b | b & }; b; sleep 2; echo done"
    result = sandbox.run("bash", bomb, timeout=10)
    assert result.timed_out or result.exit_code is not None
    after = sandbox.run("bash", "echo healthy")
    assert after.stdout == "healthy\n" and after.exit_code == 0


def test_root_filesystem_is_read_only_and_tmp_is_writable(sandbox: DockerSandbox) -> None:
    result = sandbox.run(
        "bash",
        "touch /etc/evil 2>/dev/null && echo root-writable || echo root-read-only\n"
        "echo data > /tmp/f && cat /tmp/f\n"
        "echo work > ./w && cat ./w && pwd\n"
        "id -u",
    )
    assert result.stdout.split() == ["root-read-only", "data", "work", "/workspace", "65534"]


def test_concurrent_runs_do_not_see_each_others_tmp(sandbox: DockerSandbox) -> None:
    results: dict[int, str] = {}

    def write_then_list(index: int) -> None:
        code = f"echo {index} > /tmp/mine-{index}; sleep 1; ls /tmp | grep mine- | tr '\\n' ' '"
        results[index] = sandbox.run("bash", code).stdout.strip()

    threads = [threading.Thread(target=write_then_list, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: f"mine-{i}" for i in range(3)}


def test_only_loopback_inside_and_names_do_not_resolve(sandbox: DockerSandbox) -> None:
    code = (
        "import os, socket\n"
        "print(sorted(os.listdir('/sys/class/net')))\n"
        "try:\n"
        "    socket.getaddrinfo('example.com', 80)\n"
        "    print('resolved')\n"
        "except OSError:\n"
        "    print('no-dns')\n"
    )
    result = sandbox.run("python", code)
    assert result.stdout == "['lo']\nno-dns\n"


def test_host_environment_secrets_are_invisible(
    sandbox: DockerSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_TEST_SECRET", "hunter2-secret-value")
    result = sandbox.run("bash", "env; cat /proc/1/environ | tr '\\0' '\\n'")
    assert "hunter2-secret-value" not in result.stdout
    assert "SANDBOX_TEST_SECRET" not in result.stdout
    assert "HOME=/workspace" in result.stdout


def test_output_flood_is_capped_and_our_memory_stays_flat(sandbox: DockerSandbox) -> None:
    process = psutil.Process()
    before = process.memory_info().rss
    result = sandbox.run("bash", "head -c 400000000 /dev/zero | tr '\\0' 'x'; echo err >&2",
                         timeout=60)
    grown = process.memory_info().rss - before
    assert result.exit_code == 0
    assert result.truncated
    assert result.stdout.startswith("x" * 1000)
    assert len(result.stdout) < 1 * MiB + 200
    assert "truncated at 1 MiB; 398951424 more bytes dropped" in result.stdout
    assert result.stderr == "err\n"
    assert grown < 64 * MiB


def test_invalid_utf8_is_replaced_not_raised(sandbox: DockerSandbox) -> None:
    result = sandbox.run("bash", r"printf 'ok \xff\xfe \xc3\x28 end\n'")
    assert result.stdout == "ok \ufffd\ufffd \ufffd( end\n"


def test_five_megabyte_cell_runs(sandbox: DockerSandbox) -> None:
    filler = "# " + "x" * 98 + "\n"
    code = filler * (5 * 1024 * 1024 // len(filler)) + "print('big cell ran')\n"
    assert len(code.encode()) > 5_000_000
    result = sandbox.run("python", code)
    assert result.stdout == "big cell ran\n"


def test_output_can_be_followed_live(sandbox: DockerSandbox) -> None:
    seen: list[tuple[float, str, str]] = []
    started = time.monotonic()
    code = "import time, sys\nprint('first', flush=True)\ntime.sleep(1.5)\nprint('second')"
    result = sandbox.run("python", code,
                         on_output=lambda s, t: seen.append((time.monotonic() - started, s, t)))
    assert "".join(text for _, _, text in seen) == result.stdout == "first\nsecond\n"
    first_at = next(at for at, _, text in seen if "first" in text)
    assert first_at < result.execution_time / 1000.0 - 1.0


# -- input validation happens before Docker is contacted ------------------------------------


@pytest.fixture
def unreachable() -> DockerSandbox:
    """An engine pointed at a daemon that does not exist: any Docker call would fail."""
    return DockerSandbox(base_url="unix:///nonexistent/docker.sock")


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, -math.inf, 120.5, 1e9, True, "5"])
def test_bad_timeouts_raise_value_error(unreachable: DockerSandbox, timeout: object) -> None:
    with pytest.raises(ValueError, match="timeout"):
        unreachable.run("python", "print(1)", timeout=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", ["cobol", "", None, 3, "python4"])
def test_unknown_languages_raise_value_error(unreachable: DockerSandbox, language: object) -> None:
    with pytest.raises(ValueError, match="language"):
        unreachable.run(language, "print(1)")  # type: ignore[arg-type]


def test_bad_code_raises_value_error(unreachable: DockerSandbox) -> None:
    with pytest.raises(ValueError, match="NUL"):
        unreachable.run("python", "print(1)\x00")
    with pytest.raises(ValueError, match="over the limit"):
        unreachable.run("python", "x" * (10 * MiB + 1))
    with pytest.raises(ValueError, match="str or bytes"):
        unreachable.run("python", 42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "limits",
    [
        {"memory": 0}, {"memory": -5}, {"memory": "lots"}, {"cpus": 0}, {"cpus": math.nan},
        {"cpus": 10_000}, {"pids": 0}, {"pids": 2.5}, {"max_output": 0}, {"timeout": 500},
        {"max_timeout": math.inf}, {"network": "yes"},
    ],
)
def test_bad_limits_raise_value_error(limits: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Limits(**limits)  # type: ignore[arg-type]


def test_limits_of_the_wrong_type_raise_value_error(unreachable: DockerSandbox) -> None:
    with pytest.raises(ValueError, match="Limits"):
        unreachable.run("python", "print(1)", limits={"memory": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown limit"):
        Limits().with_overrides(gpus=1)


# -- a daemon or image that is not there --------------------------------------------------------


def test_dead_docker_host_gives_sandbox_unavailable_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/no-such-docker.sock")
    started = time.monotonic()
    with pytest.raises(SandboxUnavailable, match="cannot reach the Docker daemon") as caught:
        DockerSandbox().run("python", "print(1)")
    assert time.monotonic() - started < 5
    assert "bootstrap.sh" in str(caught.value)


def test_missing_image_names_the_build_command() -> None:
    engine = DockerSandbox(images={"python": "sandbox-kernel-no-such-image:never"})
    with pytest.raises(SandboxUnavailable, match="sandbox-kernel images build"):
        engine.run("python", "print(1)")


def test_cleanup_all_removes_this_process_containers() -> None:
    engine = DockerSandbox()
    session = engine.session("bash")
    session.start()
    container_id = session.container_id
    api = engine.backend.api
    assert container_id is not None
    labels = api.inspect_container(container_id)["Config"]["Labels"]
    assert "sandbox-kernel" in labels
    assert labels["sandbox-kernel.owner"].split(":")[1] == str(os.getpid())
    assert container_id in engine.cleanup_all()
    assert not api.containers(all=True, filters={"id": container_id})


def test_finished_containers_are_not_kept_on_the_removal_list() -> None:
    """Docker removes an exited container itself (AutoRemove) while the engine asks for the same:
    the engine must count it as gone, not keep it (and its exit record) to retry until exit."""
    from sandbox_kernel.engine import sandbox as engine_module

    engine = DockerSandbox()
    try:
        for _ in range(8):
            assert engine.run("python", "print(1)", timeout=30).stdout == "1\n"
        with engine.session("python") as session:
            assert session.run("import os; os._exit(3)", timeout=30).exit_code == 3
        engine_module._removals.join()
        warm = {launched.container_id for queue in engine._pool._ready.values()  # type: ignore
                for launched in queue}
        with engine_module._live_lock:
            tracked = {container_id for container_id, backend
                       in engine_module._live_containers.items() if backend is engine.backend}
        assert tracked <= warm, tracked - warm
        assert set(engine.backend._exits._ends) <= warm  # type: ignore[attr-defined]
    finally:
        engine.close()


def test_janitor_removes_containers_of_dead_owners_only(
    sandbox: DockerSandbox, orphan: str
) -> None:
    with sandbox.session("bash") as mine:
        removed = sandbox.reap_orphans()
        assert orphan in removed
        assert mine.container_id not in removed
        assert mine.run("echo alive").stdout == "alive\n"


def test_any_image_with_the_interpreter_works(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing the engine needs is baked into our images: Bash runs in the Python image."""
    engine = DockerSandbox(images={"bash": "sandbox-kernel-python:latest"}, warm=False)
    assert engine.run("bash", "command -v python3 && echo ok").stdout == "/usr/bin/python3\nok\n"
    with engine.session("bash") as session:
        session.run("x=1")
        assert session.run("echo $x").stdout == "1\n"
    # The image is chosen by environment too; one without the interpreter fails visibly.
    monkeypatch.setenv("SANDBOX_KERNEL_NODE_IMAGE", "sandbox-kernel-python:latest")
    result = DockerSandbox(warm=False).run("node", "console.log(1)")
    assert result.exit_code == 127 and "node" in result.stderr
