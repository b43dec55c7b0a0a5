"""The sandbox kernels behave like notebook kernels should, through real kernels and Docker.

Kernels are shared within this module where a test leaves them usable (most tests start with the
state they need); tests that kill, restart or reconfigure a kernel start their own.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

import kernel_support
import psutil
import pytest
from docker_support import docker_api as connect
from docker_support import exists
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager
from kernel_support import Cell, execute, running_kernel, wait_for_reply, wait_for_stream

from sandbox_kernel.engine.ownership import OWNER_LABEL, owner_id

Kernel = tuple[KernelManager, BlockingKernelClient]

# Short enough to keep the suite quick, long enough for a container to start on a busy machine.
TIMEOUT = "2"


@pytest.fixture(scope="module")
def python() -> Iterator[Kernel]:
    with running_kernel("sandbox-python", {"timeout": TIMEOUT}) as kernel:
        yield kernel


@pytest.fixture(scope="module")
def bash() -> Iterator[Kernel]:
    with running_kernel("sandbox-bash", {"timeout": TIMEOUT}) as kernel:
        yield kernel


@pytest.fixture(scope="module")
def node() -> Iterator[Kernel]:
    with running_kernel("sandbox-node", {"timeout": TIMEOUT}) as kernel:
        yield kernel


@pytest.fixture(scope="module")
def api() -> Any:
    return connect()


def container_of(cell: Cell) -> str:
    container_id = cell.metadata["sandbox"]["container_id"]
    assert container_id, f"no container in {cell.metadata}"
    return str(container_id)


def wait_until_gone(api: Any, container_id: str, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not exists(api, container_id):
            return True
        time.sleep(0.1)
    return False


def assert_ok(cell: Cell) -> None:
    assert cell.content["status"] == "ok", cell.outputs


def assert_error(cell: Cell, ename: str, *evalue_parts: str) -> dict[str, Any]:
    """The reply is an error and the one iopub error matches it, with a real cause."""
    assert cell.content["status"] == "error", cell.outputs
    error = cell.error
    for part in (cell.content, error):
        assert part["ename"] == ename, part
        assert part["traceback"], part
        for text in evalue_parts:
            assert text in part["evalue"], part
    return error


# -- state, output, values ------------------------------------------------------------------------


@pytest.mark.parametrize("language, cells, expected", [
    ("python", ["counter = 40", "counter += 2", "print(counter)"], "42\n"),
    ("bash", ["counter=40", "counter=$((counter + 2)); cd /tmp", "echo $counter $PWD"],
     "42 /tmp\n"),
    ("node", ["let counter = 40", "counter += 2", "console.log(counter)"], "42\n"),
])
def test_state_persists_across_cells(
    request: pytest.FixtureRequest, language: str, cells: list[str], expected: str
) -> None:
    _, kc = request.getfixturevalue(language)
    for code in cells[:-1]:
        assert_ok(execute(kc, code))
    last = execute(kc, cells[-1])
    assert_ok(last)
    assert last.text("stdout") == expected


@pytest.mark.parametrize("language, code, value", [
    ("python", "x = 6\nx * 7", "42"),
    ("node", "const obj = {a: [1, 2]}; obj", "{ a: [ 1, 2 ] }"),
])
def test_last_expression_is_an_execute_result(
    request: pytest.FixtureRequest, language: str, code: str, value: str
) -> None:
    _, kc = request.getfixturevalue(language)
    cell = execute(kc, code)
    assert_ok(cell)
    assert cell.value == value
    assert cell.of_type("execute_result")[0]["execution_count"] == cell.content["execution_count"]


def test_history_of_a_bash_kernel(bash: Kernel) -> None:
    _, kc = bash
    assert_ok(execute(kc, "echo history-marker-one"))
    assert_ok(execute(kc, "echo history-marker-two"))
    tail = kc.history(hist_access_type="tail", n=2, output=False, raw=True, reply=True)
    sources = [entry[2] for entry in tail["content"]["history"]]
    assert sources == ["echo history-marker-one", "echo history-marker-two"]
    found = kc.history(hist_access_type="search", pattern="*marker-two*", output=False,
                       raw=True, reply=True)
    assert [entry[2] for entry in found["content"]["history"]] == ["echo history-marker-two"]


def test_stdout_and_stderr_are_streams(bash: Kernel) -> None:
    _, kc = bash
    cell = execute(kc, "echo out; echo err >&2")
    assert_ok(cell)
    assert cell.text("stdout") == "out\n"
    assert cell.text("stderr") == "err\n"


def test_output_is_streamed_while_the_cell_runs(python: Kernel) -> None:
    _, kc = python
    kernel_support.drain(kc)
    code = ("import time\nfor i in range(3):\n    print('line', i)\n    time.sleep(0.5)\n"
            "print('end')")
    msg_id = kc.execute(code)
    first = wait_for_stream(kc, msg_id, "line 0")
    assert not kc.shell_channel.msg_ready(), "the reply came before the first line"
    last = wait_for_stream(kc, msg_id, "end")
    assert last - first >= 0.6, "the lines arrived together, not as they were printed"
    assert wait_for_reply(kc, msg_id)["content"]["status"] == "ok"


# What a timer, thread or background job of each language prints half a second after its cell.
LATE_OUTPUT = {
    "python": "import threading\nthreading.Timer(0.5, lambda: print('late', flush=True)).start()",
    "bash": "(sleep 0.5; echo late) &",
    "node": "setTimeout(() => console.log('late'), 500)",
}


def iopub_until(kc: BlockingKernelClient, last: Any, timeout: float) -> list[dict[str, Any]]:
    """iopub messages in arrival order, up to the first for which ``last(msg)`` holds (included);
    raises if it does not come within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            msg: dict[str, Any] = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        except Empty:
            break
        seen.append(msg)
        if last(msg):
            return seen
    raise AssertionError(f"not within {timeout} s; got {[m['msg_type'] for m in seen]}")


def idle_of(msg_id: str) -> Any:
    return lambda msg: (msg["msg_type"] == "status" and msg["parent_header"].get("msg_id") == msg_id
                        and msg["content"]["execution_state"] == "idle")


def streamed(messages: list[dict[str, Any]], msg_id: str) -> str:
    return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream"
                   and m["parent_header"].get("msg_id") == msg_id)


@pytest.mark.parametrize("language", sorted(LATE_OUTPUT))
def test_output_after_the_cell_is_sent_at_once_under_that_cell(
    request: pytest.FixtureRequest, language: str
) -> None:
    """Issue 15.5, as ipykernel: what a cell's timer, thread or background job prints after the
    cell ended is published at once with that cell's parent header, not held for the next cell
    (no request is sent while the test waits)."""
    _, kc = request.getfixturevalue(language)
    kernel_support.drain(kc)
    msg_id = kc.execute(LATE_OUTPUT[language])
    assert wait_for_reply(kc, msg_id)["content"]["status"] == "ok"
    during = iopub_until(kc, idle_of(msg_id), 30)
    assert "late" not in streamed(during, msg_id), "the timer fired before the cell ended"
    ended = time.monotonic()
    text = ""

    def whole_line(msg: dict[str, Any]) -> bool:  # print may write its "\n" apart
        nonlocal text
        text += streamed([msg], msg_id)
        return "late\n" in text

    after = iopub_until(kc, whole_line, 3)
    assert streamed(after, msg_id) == "late\n"
    print(f"{language}: late output {time.monotonic() - ended:.2f} s after the cell's idle")


def test_output_while_the_next_cell_runs_is_that_cells(python: Kernel) -> None:
    """Once a new execute_request runs, every stream goes to it (ipykernel sets its streams'
    parent on each request): a timer of the first cell that fires during the second prints under
    the second, and nothing of the second goes under the first."""
    _, kc = python
    kernel_support.drain(kc)
    first = kc.execute("import threading\n"
                       "threading.Timer(0.8, lambda: print('late', flush=True)).start()")
    assert wait_for_reply(kc, first)["content"]["status"] == "ok"
    second = kc.execute("%%timeout 10\nimport time\nprint('own', flush=True)\ntime.sleep(2.5)")
    messages = iopub_until(kc, idle_of(second), 30)
    assert streamed(messages, second) == "own\nlate\n"
    assert streamed(messages, first) == ""
    assert wait_for_reply(kc, second)["content"]["status"] == "ok"


def displayed(messages: list[dict[str, Any]], msg_id: str,
              msg_type: str = "display_data") -> list[dict[str, Any]]:
    return [m["content"] for m in messages if m["msg_type"] == msg_type
            and m["parent_header"].get("msg_id") == msg_id]


def test_a_display_after_the_cell_is_sent_at_once_under_that_cell(python: Kernel) -> None:
    """Issue 15.5, as ipykernel: a display that a cell's timer makes after the cell ended is
    published at once, while the kernel is idle, as display_data with that cell's parent header,
    after the same output policy as a cell's displays (the script is removed)."""
    _, kc = python
    kernel_support.drain(kc)
    msg_id = kc.execute("import threading\nfrom IPython.display import HTML, display\n"
                        "threading.Timer(0.5, lambda: display(HTML("
                        "'<b>late</b><script>alert(1)</script>'))).start()")
    assert wait_for_reply(kc, msg_id)["content"]["status"] == "ok"
    during = iopub_until(kc, idle_of(msg_id), 30)
    assert displayed(during, msg_id) == [], "the timer fired before the cell ended"
    ended = time.monotonic()
    after = iopub_until(kc, lambda msg: msg["msg_type"] == "display_data", 3)
    (content,) = displayed(after, msg_id)
    assert content["data"]["text/html"] == "<b>late</b>"
    assert content["transient"] == {}
    print(f"late display {time.monotonic() - ended:.2f} s after the cell's idle")


def test_an_update_after_the_cell_is_sent_at_once_under_that_cell(python: Kernel) -> None:
    """A thread's ``update_display`` of a display the cell showed, after the cell ended: an
    update_display_data with the cell's parent header and the same display id."""
    _, kc = python
    kernel_support.drain(kc)
    msg_id = kc.execute("import threading, time\nfrom IPython.display import display\n"
                        "handle = display({'text/plain': 'v0'}, raw=True, display_id=True)\n"
                        "def later():\n    time.sleep(0.5)\n"
                        "    handle.update({'text/plain': 'v1'}, raw=True)\n"
                        "threading.Thread(target=later).start()")
    assert wait_for_reply(kc, msg_id)["content"]["status"] == "ok"
    during = iopub_until(kc, idle_of(msg_id), 30)
    (shown,) = displayed(during, msg_id)
    assert shown["data"] == {"text/plain": "v0"} and shown["transient"]["display_id"]
    assert displayed(during, msg_id, "update_display_data") == []
    after = iopub_until(kc, lambda msg: msg["msg_type"] == "update_display_data", 3)
    (update,) = displayed(after, msg_id, "update_display_data")
    assert update["data"] == {"text/plain": "v1"}
    assert update["transient"] == shown["transient"]


def test_a_flood_of_displays_after_the_cell_is_bounded(python: Kernel) -> None:
    """A thread that displays 300 MB after its cell ended: the kernel publishes what fits one
    cell's output caps (16 MiB of frames, OutputPolicy.max_cell_bytes), drops the rest unparsed
    with one note under that cell, its memory stays bounded, and the next cell answers at once."""
    km, kc = python
    kernel = psutil.Process(km.provisioner.process.pid)  # type: ignore[union-attr]
    kernel_support.drain(kc)
    before = kernel.memory_info().rss
    msg_id = kc.execute("import threading\nfrom IPython.display import display\n"
                        "def flood():\n    for _ in range(3000):\n"
                        "        display({'text/plain': 'x' * 100_000}, raw=True)\n"
                        "    print('flood done', flush=True)\n"
                        "threading.Timer(0.3, flood).start()")
    assert wait_for_reply(kc, msg_id)["content"]["status"] == "ok"
    peak = before
    text = ""

    def flood_done(msg: dict[str, Any]) -> bool:
        nonlocal text, peak
        peak = max(peak, kernel.memory_info().rss)
        text += streamed([msg], msg_id)
        return "flood done\n" in text

    messages = iopub_until(kc, flood_done, 120)
    shown = displayed(messages, msg_id)
    assert 100 < len(shown) < 200, len(shown)  # 16 MiB of ~100 KB frames
    assert all(d["data"] == {"text/plain": "x" * 100_000} for d in shown)
    assert text.count("[sandbox-kernel: displays after the cell over") == 1, text[-500:]
    growth = peak - before
    print(f"kernel RSS {before / 2**20:.0f} MiB, peak +{growth / 2**20:.0f} MiB during the flood")
    assert growth < 64 * 2**20  # RSS_BUDGET of tests/security/test_output.py
    started = time.monotonic()
    after = execute(kc, "print('next')")
    assert_ok(after)
    assert after.text("stdout") == "next\n"
    assert not after.of_type("display_data")
    assert time.monotonic() - started < 10


def test_receipt_in_reply_metadata(python: Kernel) -> None:
    _, kc = python
    cell = execute(kc, "data = bytearray(20 * 2**20)\nprint('x' * 10)")
    assert_ok(cell)
    md = cell.metadata
    assert md["exit_code"] == 0
    assert md["execution_time_ms"] > 0
    assert md["timed_out"] is False and md["oom_killed"] is False
    assert md["truncated"] is False and md["state_lost"] is False
    assert md["peak_memory"] >= 20 * 2**20
    assert md["sandbox"]["mode"] == "session" and md["sandbox"]["language"] == "python"


def test_output_cap_is_reported(python: Kernel) -> None:
    _, kc = python
    cell = execute(kc, "%%timeout 20\nimport sys\nsys.stdout.write('x' * (3 * 2**20))")
    assert_ok(cell)
    assert cell.metadata["truncated"] is True
    assert len(cell.text("stdout")) == 2**20
    assert "dropped" in cell.text("stderr")


# -- failures -------------------------------------------------------------------------------------


def test_python_exception_comes_from_the_sandbox(python: Kernel) -> None:
    _, kc = python
    error = assert_error(execute(kc, "def f():\n    return 1 / 0\nf()"), "ZeroDivisionError",
                         "division by zero")
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in error["traceback"]]
    assert any(re.match(r"Cell In ?\[\d+\], line 2, in f", line) for line in lines)
    assert not any("python_driver" in line for line in lines)
    assert "ZeroDivisionError: division by zero" in lines
    assert "exit status 1" in lines[-1]


def test_bash_nonzero_status_is_an_error(bash: Kernel) -> None:
    _, kc = bash
    cell = execute(kc, "echo before; ls /does-not-exist")
    assert_error(cell, "ExitStatus", "exit status 2")
    assert cell.text("stdout") == "before\n"
    assert "does-not-exist" in cell.text("stderr")
    assert cell.metadata["exit_code"] == 2


def test_node_throw_is_an_error(node: Kernel) -> None:
    _, kc = node
    error = assert_error(execute(kc, "throw new TypeError('bad thing')"), "TypeError",
                         "bad thing")
    assert any("bad thing" in line for line in error["traceback"])


@pytest.mark.parametrize("language, setup, code, check", [
    ("python", "kept = 1", "import os; os._exit(3)", "print('kept' in globals())"),
    ("bash", "kept=1", "exit 3", "echo ${kept:-False}"),
    ("node", "globalThis.kept = 1", "process.exit(3)",
     "console.log(typeof kept === 'number' ? 'True' : 'False')"),
])
def test_exit_in_a_cell_restarts_the_sandbox_with_a_notice(
    request: pytest.FixtureRequest, language: str, setup: str, code: str, check: str
) -> None:
    _, kc = request.getfixturevalue(language)
    assert_ok(execute(kc, setup))
    cell = execute(kc, code)
    assert_error(cell, "SandboxExit", "exit status 3", "state was lost")
    assert cell.metadata["state_lost"] is True and cell.metadata["exit_code"] == 3
    after = execute(kc, check)
    assert_ok(after)
    assert after.text("stdout") == "False\n"
    assert "The sandbox was restarted" in after.text("stderr")
    assert "exit status 3" in after.text("stderr")
    again = execute(kc, check)
    assert "restarted" not in again.text("stderr")


def test_timeout_interrupts_and_keeps_state(python: Kernel) -> None:
    _, kc = python
    assert_ok(execute(kc, "survivor = 'yes'"))
    started = time.monotonic()
    cell = execute(kc, "import time\nprint('started')\ntime.sleep(30)")
    assert time.monotonic() - started < 10
    assert_error(cell, "TimeoutError", "timed out after 2 s", "interrupted", "state was kept")
    assert cell.metadata["timed_out"] is True and cell.metadata["state_lost"] is False
    assert cell.text("stdout") == "started\n"
    after = execute(kc, "survivor")
    assert after.value == "'yes'"


def test_timeout_of_a_cell_that_ignores_interrupts_replaces_the_sandbox(python: Kernel) -> None:
    _, kc = python
    assert_ok(execute(kc, "survivor = 'yes'"))
    cell = execute(kc, "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                       "while True: time.sleep(0.1)")
    assert_error(cell, "TimeoutError", "timed out after 2 s", "state was lost")
    assert cell.metadata["state_lost"] is True
    after = execute(kc, "'survivor' in globals()")
    assert after.value == "False"
    assert "The sandbox was restarted" in after.text("stderr")


def test_cell_timeout_directive(python: Kernel) -> None:
    _, kc = python
    slow = execute(kc, "%%timeout 5\nimport time\ntime.sleep(2.5)\n'done'")
    assert_ok(slow)
    assert slow.value == "'done'"
    assert_error(execute(kc, "%%timeout 500\n1"), "ValueError", "at most 120")
    assert_error(execute(kc, "%%timeout 1\nimport time\ntime.sleep(5)"), "TimeoutError",
                 "after 1 s")


def test_out_of_memory_reports_the_limit_and_recovers(python: Kernel) -> None:
    _, kc = python
    assert_ok(execute(kc, "kept = 1"))
    cell = execute(kc, "%%timeout 30\nhog = bytearray(1024**3)")
    assert_error(cell, "OutOfMemoryError", "out of memory", "limit 256 MiB", "exit status 137")
    assert cell.metadata["oom_killed"] is True and cell.metadata["state_lost"] is True
    after = execute(kc, "print('kept' in globals())")
    assert_ok(after)
    assert after.text("stdout") == "False\n"
    assert "out of memory" in after.text("stderr")


def test_oom_of_a_child_is_an_error_and_the_state_is_kept(bash: Kernel) -> None:
    """The OOM killer ends a command of the cell while the Bash driver lives on (runc)."""
    _, kc = bash
    assert_ok(execute(kc, "kept=1"))
    cell = execute(kc, "%%timeout 30\ntail /dev/zero")
    assert_error(cell, "OutOfMemoryError", "out of memory", "limit 256 MiB", "exit status 137",
                 "state was kept")
    assert cell.metadata["oom_killed"] is True and cell.metadata["state_lost"] is False
    assert "state was kept" in cell.text("stderr")  # the session's notice
    after = execute(kc, "echo $kept")
    assert_ok(after)
    assert after.text("stdout") == "1\n"


# -- interrupt ------------------------------------------------------------------------------------


@pytest.mark.parametrize("language, setup, loop, check, expected", [
    ("python", "kept = 'still here'", "%%timeout 30\nimport time\nprint('looping')\n"
     "while True: time.sleep(0.05)", "print(kept)", "still here\n"),
    ("bash", "kept='still here'", "%%timeout 30\necho looping\nwhile true; do :; done",
     "echo $kept", "still here\n"),
])
def test_interrupt_stops_the_cell_and_keeps_state(
    request: pytest.FixtureRequest, language: str, setup: str, loop: str, check: str,
    expected: str,
) -> None:
    km, kc = request.getfixturevalue(language)
    assert_ok(execute(kc, setup))
    kernel_support.drain(kc)
    msg_id = kc.execute(loop)
    wait_for_stream(kc, msg_id, "looping")
    started = time.monotonic()
    km.interrupt_kernel()
    reply = wait_for_reply(kc, msg_id, timeout=10)
    assert time.monotonic() - started < 5
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert "interrupted" in reply["content"]["evalue"]
    assert "state was kept" in reply["content"]["evalue"]
    traceback = reply["content"]["traceback"]
    assert traceback and traceback[-1].startswith("KeyboardInterrupt: interrupted by the user")
    assert sum(line.strip().startswith("KeyboardInterrupt") for line in traceback) == 1
    assert reply["metadata"]["state_lost"] is False
    kernel_support.drain(kc)
    after = execute(kc, check)
    assert after.text("stdout") == expected


IGNORES_SIGINT = ("%%timeout 30\nimport signal, time\n"
                  "signal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('looping')\n"
                  "while True: time.sleep(0.1)")


@pytest.mark.parametrize("second_interrupt", [False, True])
def test_interrupt_of_a_cell_that_ignores_it_kills_the_sandbox(
    python: Kernel, second_interrupt: bool
) -> None:
    # As the magic does (engine/lifecycle.py STOP): SIGINT, then after STOP.grace (or at a
    # second interrupt) the sandbox is killed; the cell does not run on to its 30 s timeout.
    km, kc = python
    assert_ok(execute(kc, "survivor = 'yes'"))
    kernel_support.drain(kc)
    msg_id = kc.execute(IGNORES_SIGINT)
    wait_for_stream(kc, msg_id, "looping")
    started = time.monotonic()
    km.interrupt_kernel()
    if second_interrupt:
        time.sleep(0.5)
        km.interrupt_kernel()
    reply = wait_for_reply(kc, msg_id, timeout=25)
    elapsed = time.monotonic() - started
    assert elapsed < 15, elapsed  # the timeout (30 s) did not end it
    content = reply["content"]
    assert content["status"] == "error" and content["ename"] == "KeyboardInterrupt", content
    assert "sandbox was killed" in content["evalue"]
    assert "state was lost" in content["evalue"]
    assert reply["metadata"]["state_lost"] is True
    errors = [m["content"] for m in iopub_until(kc, idle_of(msg_id), 10)
              if m["msg_type"] == "error" and m["parent_header"].get("msg_id") == msg_id]
    assert [e["ename"] for e in errors] == ["KeyboardInterrupt"]
    after = execute(kc, "'survivor' in globals()")
    assert after.value == "False"
    assert "The sandbox was restarted" in after.text("stderr")


# -- user_expressions -----------------------------------------------------------------------------


def test_user_expressions_are_evaluated_after_the_cell(python: Kernel) -> None:
    # As ipykernel: IPython's InteractiveShell.user_expressions, results policed like displays.
    _, kc = python
    msg_id = kc.execute("x = 41", user_expressions={
        "y": "x+1", "bad": "1/0", "html": "__import__('IPython').display.HTML('<b>b</b>"
                                          "<script>alert(1)</script>')"})
    reply = wait_for_reply(kc, msg_id, timeout=30)["content"]
    assert reply["status"] == "ok", reply
    found = reply["user_expressions"]
    assert found["y"] == {"status": "ok", "data": {"text/plain": "42"}, "metadata": {}}
    assert found["bad"]["status"] == "error" and found["bad"]["ename"] == "ZeroDivisionError"
    assert found["bad"]["evalue"] and found["bad"]["traceback"]
    html = found["html"]["data"]["text/html"]
    assert "<b>b</b>" in html and "script" not in html
    # After a failed cell, as ipykernel: no results.
    msg_id = kc.execute("1/0", user_expressions={"y": "x+1"})
    reply = wait_for_reply(kc, msg_id, timeout=30)["content"]
    assert reply["status"] == "error"
    kernel_support.drain(kc)


@pytest.mark.parametrize("language", ["bash", "node"])
def test_user_expressions_elsewhere_are_an_error_per_expression(
    request: pytest.FixtureRequest, language: str
) -> None:
    _, kc = request.getfixturevalue(language)
    msg_id = kc.execute("true" if language == "bash" else "1", user_expressions={"a": "1"})
    reply = wait_for_reply(kc, msg_id, timeout=30)["content"]
    assert reply["status"] == "ok", reply
    entry = reply["user_expressions"]["a"]
    assert entry["status"] == "error" and "not supported" in entry["evalue"]
    kernel_support.drain(kc)


def test_cells_not_stored_in_history_take_no_execution_count(python: Kernel) -> None:
    # ipykernel: only cells run with store_history=True are numbered.
    _, kc = python
    kernel_support.drain(kc)
    first = wait_for_reply(kc, kc.execute("1"), timeout=30)["content"]["execution_count"]
    unstored = wait_for_reply(kc, kc.execute("2", store_history=False), timeout=30)["content"]
    assert unstored["status"] == "ok" and unstored["execution_count"] == first
    after = wait_for_reply(kc, kc.execute("3"), timeout=30)["content"]["execution_count"]
    assert after == first + 1
    kernel_support.drain(kc)


# -- input ----------------------------------------------------------------------------------------


def test_input_is_answered_through_the_stdin_channel(python: Kernel) -> None:
    _, kc = python
    prompts: list[dict[str, Any]] = []

    def answer(msg: dict[str, Any]) -> None:
        prompts.append(msg["content"])
        kc.input("Ada" if not msg["content"]["password"] else "secret")

    cell = execute(kc, "name = input('Your name: ')\nimport getpass\n"
                       "pw = getpass.getpass('Password: ')\nprint('hello', name, len(pw))",
                   allow_stdin=True, stdin_hook=answer)
    assert_ok(cell)
    assert prompts == [{"prompt": "Your name: ", "password": False},
                       {"prompt": "Password: ", "password": True}]
    assert cell.text("stdout") == "hello Ada 6\n"


def test_input_from_a_thread_after_its_cell_never_takes_the_next_cells_request(
    python: Kernel,
) -> None:
    """A thread that calls input() after its cell ended reads end of input (there is no cell to
    ask); the next cells run at once with their state, and their own input() is theirs."""
    _, kc = python
    asked: list[str] = []

    def answer(msg: dict[str, Any]) -> None:
        asked.append(msg["content"]["prompt"])
        kc.input("mine")

    assert_ok(execute(kc, "keep = 1\nimport threading, time\n"
                          "def late():\n    time.sleep(0.5)\n"
                          "    try:\n        print('thread got', repr(input('late? ')))\n"
                          "    except EOFError as exc:\n        print('thread: EOF', exc)\n"
                          "threading.Thread(target=late).start()",
                      allow_stdin=True, stdin_hook=answer))
    time.sleep(1.5)
    started = time.monotonic()
    cell = execute(kc, "print('next', keep)\nx = input('in cell: ')\nprint('cell got', x)",
                   allow_stdin=True, stdin_hook=answer)
    assert_ok(cell)
    assert "next 1\ncell got mine\n" in cell.text("stdout")
    assert asked == ["in cell: "] and time.monotonic() - started < 10


def test_interrupt_ends_an_input_prompt(python: Kernel) -> None:
    km, kc = python
    assert_ok(execute(kc, "kept = 'still here'"))
    kernel_support.drain(kc)
    msg_id = kc.execute("%%timeout 30\nanswer = input('waiting: ')", allow_stdin=True)
    request = kc.stdin_channel.get_msg(timeout=10)
    assert request["content"]["prompt"] == "waiting: "
    km.interrupt_kernel()
    reply = wait_for_reply(kc, msg_id, timeout=10)
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert reply["metadata"]["state_lost"] is False
    kernel_support.drain(kc)
    assert execute(kc, "kept").value == "'still here'"


def test_input_without_stdin_fails_at_once(python: Kernel) -> None:
    _, kc = python
    started = time.monotonic()
    cell = execute(kc, "input('Your name: ')", allow_stdin=False)
    assert_error(cell, "EOFError")  # not a TimeoutError: input() did not wait
    assert time.monotonic() - started < 5


# -- completion -----------------------------------------------------------------------------------


def test_completion_comes_from_the_live_namespace(python: Kernel) -> None:
    _, kc = python
    assert_ok(execute(kc, "sandbox_alpha = 1\nsandbox_beta = 2"))
    reply = kc.complete("x = sandbox_", reply=True)["content"]
    assert reply["status"] == "ok"
    assert set(reply["matches"]) == {"sandbox_alpha", "sandbox_beta"}
    assert (reply["cursor_start"], reply["cursor_end"]) == (4, 12)


@pytest.mark.parametrize("language, setup, word, check", [
    ("python", "x = 41", "x" * 100_000, "print(x + 1)"),
    ("bash", "x=41", "x" * 1_000_000, "echo $((x + 1))"),
])
def test_a_pathological_completion_keeps_the_kernel_state(
    request: pytest.FixtureRequest, language: str, setup: str, word: str, check: str
) -> None:
    """``complete`` of a huge word through the kernel (before: a 5 s wait per completion, the next
    cell timed out and the sandbox was replaced): quick, and the next cell has the state."""
    _, kc = request.getfixturevalue(language)
    assert_ok(execute(kc, setup))
    for _ in range(2):
        started = time.monotonic()
        reply = kc.complete(word, len(word), reply=True, timeout=30)["content"]
        assert reply["status"] == "ok" and reply["cursor_end"] == len(word)
        assert time.monotonic() - started < 5
    cell = execute(kc, check)
    assert_ok(cell)
    assert cell.text("stdout") == "42\n" and cell.metadata["state_lost"] is False


# -- messages over the host's cap -----------------------------------------------------------------


def test_a_display_over_the_message_cap_is_a_note_not_protocol_text(python: Kernel) -> None:
    """A 20 MB HTML display: a note on stderr, the rest of the cell intact; before, the user got
    1 MiB of raw protocol text (the request's nonce, the unsanitized `<script>`)."""
    _, kc = python
    cell = execute(kc, "%%timeout 30\nfrom IPython.display import HTML, display\nprint('before')\n"
                       "display(HTML('<script>alert(1)</script>' + 'y' * 20_000_000))\n"
                       "print('after')")
    assert_ok(cell)
    assert cell.text("stdout") == "before\nafter\n" and not cell.of_type("display_data")
    stderr = cell.text("stderr")
    assert "[sandbox-kernel] dropped a display_data output" in stderr
    assert "\x1e" not in stderr and "<script>" not in stderr


# -- life cycle -----------------------------------------------------------------------------------


def test_restart_and_shutdown_remove_the_container(api: Any) -> None:
    with running_kernel("sandbox-python") as (km, kc):
        first = execute(kc, "kept = 1")
        old = container_of(first)
        assert exists(api, old)
        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=60)
        assert wait_until_gone(api, old), "restart left the old container behind"
        after = execute(kc, "print('kept' in globals())")
        assert after.text("stdout") == "False\n"
        new = container_of(after)
        assert new != old
    assert wait_until_gone(api, new), "shutdown left the container behind"


def test_shutdown_during_a_running_cell_is_prompt(api: Any) -> None:
    with running_kernel("sandbox-python") as (km, kc):
        container = container_of(execute(kc, "1"))
        msg_id = kc.execute("%%timeout 60\nimport time\nprint('sleeping')\ntime.sleep(60)")
        wait_for_stream(kc, msg_id, "sleeping")
        started = time.monotonic()
        km.shutdown_kernel()
        assert time.monotonic() - started < 5
        assert not exists(api, container)


def test_killed_kernel_leaves_nothing_without_a_janitor(api: Any) -> None:
    """SIGKILL gives the kernel no chance to clean up: its container stops by itself (stdin
    closes) and Docker removes it (AutoRemove). No janitor runs here; the janitor's own
    reaping is tested in test_engine.py, and without any janitor in test_owner_death.py."""
    with running_kernel("sandbox-bash") as (km, kc):
        orphan = container_of(execute(kc, "true"))
        process = km.provisioner.process  # type: ignore[union-attr]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        assert wait_until_gone(api, orphan, 10)


def test_sigterm_removes_the_container(api: Any) -> None:
    with running_kernel("sandbox-bash") as (km, kc):
        container = container_of(execute(kc, "true"))
        process = km.provisioner.process  # type: ignore[union-attr]
        process.send_signal(signal.SIGTERM)
        process.wait(15)
        assert not exists(api, container)


def test_fresh_mode_keeps_no_state(api: Any) -> None:
    with running_kernel("sandbox-python", {"mode": "fresh", "timeout": TIMEOUT}) as (km, kc):
        owner = owner_id(km.provisioner.process.pid)  # type: ignore[union-attr]
        first = execute(kc, "x = 1\nprint('in a fresh sandbox')")
        assert_ok(first)
        assert first.text("stdout") == "in a fresh sandbox\n"
        assert first.metadata["sandbox"] == {"language": "python", "mode": "fresh",
                                             "container_id": None}
        assert_error(execute(kc, "print(x)"), "NameError", "exit status 1")
        assert_error(execute(kc, "import time; time.sleep(10)"), "TimeoutError", "after 2 s")

        kernel_support.drain(kc)
        msg_id = kc.execute("%%timeout 30\nimport time\nprint('looping', flush=True)\n"
                            "while True: time.sleep(0.05)")
        wait_for_stream(kc, msg_id, "looping")
        threading.Timer(0.2, km.interrupt_kernel).start()
        reply = wait_for_reply(kc, msg_id, timeout=10)
        assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert not api.containers(all=True, filters={"label": [f"{OWNER_LABEL}={owner}"]})


def test_configuration_file_command_line_and_environment(tmp_path: Path) -> None:
    """Precedence: command line, then jupyter_sandbox_config.py, then SANDBOX_KERNEL_*."""
    (tmp_path / "jupyter_sandbox_config.py").write_text(
        "c.SandboxKernel.timeout = 1.5\nc.SandboxKernel.memory = '128m'\n")
    with running_kernel("sandbox-python", {"timeout": "9", "cpus": "0.25"}, config_dir=tmp_path,
                        extra_arguments=["--SandboxKernel.memory=192m"]) as (_, kc):
        banner = kc.kernel_info(reply=True)["content"]["banner"]
        assert "timeout 1.5 s" in banner  # the file beats the environment
        assert "0.25 CPUs" in banner  # the environment beats the default
        assert "memory 192 MiB" in banner  # the command line beats the file
        assert_error(execute(kc, "import time; time.sleep(5)"), "TimeoutError", "after 1.5 s")
        inside = execute(kc, "import os\npaths = ['/sys/fs/cgroup/memory.max', "
                             "'/sys/fs/cgroup/memory/memory.limit_in_bytes']\n"
                             "int(open(next(filter(os.path.exists, paths))).read())")
        assert inside.value == str(192 * 2**20)


@pytest.mark.parametrize("name, value", [("memory", "lots"), ("mode", "bogus")])
def test_invalid_configuration_is_reported_in_the_cell(name: str, value: str) -> None:
    with running_kernel("sandbox-python", {name: value}) as (_, kc):
        assert "invalid sandbox configuration" in kc.kernel_info(reply=True)["content"]["banner"]
        cell = execute(kc, "1")
        error = assert_error(cell, "SandboxError", "invalid sandbox configuration")
        assert name in error["evalue"].lower() and value in error["evalue"]
