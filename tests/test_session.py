"""Persistent sessions: state between runs, interrupts, timeouts and recovery from a dead driver."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator

import pytest

from sandbox_kernel import DockerSandbox, Limits
from sandbox_kernel.engine.rich import RichOutput
from sandbox_kernel.engine.session import SandboxSession


@pytest.fixture
def python(sandbox: DockerSandbox) -> Iterator[SandboxSession]:
    with sandbox.session("python") as session:
        yield session


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def interrupt_soon(session: SandboxSession, delay: float = 0.7) -> None:
    threading.Timer(delay, session.interrupt).start()


def test_python_state_value_and_exception(python: SandboxSession) -> None:
    assert python.run("x = 41\ndef f(n):\n    return n + 1").exit_code == 0
    result = python.run("f(x)")
    assert result.value == "42" and result.exit_code == 0
    failed = python.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\n1/0")
    assert (failed.stdout, failed.stderr, failed.exit_code) == ("out\n", "err\n", 1)
    assert failed.error is not None and failed.error["ename"] == "ZeroDivisionError"
    # IPython's traceback of the cell's own lines, as ipykernel shows it; no driver frame.
    lines = [ANSI.sub("", line) for line in failed.error["traceback"]]
    assert lines[-1].strip() == "ZeroDivisionError: division by zero"
    assert any(re.search(r"Cell In ?\[\d+\], line 4", line) for line in lines)
    assert not any("python_driver" in line or "<string>" in line or "interactiveshell" in line
                   for line in lines)


def test_system_exit_ends_the_cell_not_the_session(python: SandboxSession) -> None:
    """As in IPython: ``SystemExit`` fails the cell with its own name and keeps the state."""
    first = python.container_id
    python.run("kept = 'yes'")
    result = python.run("import sys; sys.exit(3)")
    assert result.error is not None and result.error["ename"] == "SystemExit"
    assert result.error["evalue"] == "3" and not result.state_lost
    assert python.run("kept").value == "'yes'" and python.container_id == first


@pytest.mark.parametrize(
    ("language", "cells", "expected"),
    [
        ("bash",
         ["x=5; cd /tmp; f() { echo f$1; }; export E=exported",
          "echo $x; pwd; f 2; bash -c 'echo $E'"],
         "5\n/tmp\nf2\nexported\n"),
        ("node",
         ["var x = 40; globalThis.y = 2; function f(a) { return a + y; }", "console.log(f(x))"],
         "42\n"),
    ],
)
def test_bash_and_node_keep_state(
    sandbox: DockerSandbox, language: str, cells: list[str], expected: str
) -> None:
    with sandbox.session(language) as session:
        for cell in cells[:-1]:
            assert session.run(cell).exit_code == 0
        assert session.run(cells[-1]).stdout == expected


def test_cells_cost_no_new_container(python: SandboxSession) -> None:
    python.run("pass")
    container = python.container_id
    started = time.monotonic()
    for i in range(20):
        assert python.run(f"{i}").value == str(i)
    assert python.container_id == container
    assert time.monotonic() - started < 5


def test_interrupt_raises_keyboard_interrupt_and_keeps_state(python: SandboxSession) -> None:
    python.run("kept = 'yes'")
    interrupt_soon(python)
    result = python.run("import time\nwhile True:\n    time.sleep(0.05)", timeout=20)
    assert result.interrupted and not result.timed_out
    assert result.error is not None and result.error["ename"] == "KeyboardInterrupt"
    assert python.run("kept").value == "'yes'"


def test_bash_interrupt_stops_the_cell_and_keeps_state(sandbox: DockerSandbox) -> None:
    with sandbox.session("bash") as bash:
        bash.run("kept=yes")
        interrupt_soon(bash)
        loop = "f() { while true; do sleep 0.1; done; }; f; echo not-reached"
        result = bash.run(loop, timeout=20)
        assert result.exit_code == 130 and result.interrupted
        assert "not-reached" not in result.stdout
        assert bash.run("echo $kept").stdout == "yes\n"


def test_a_late_answer_to_an_interrupted_read_does_not_feed_the_next_cell(
    sandbox: DockerSandbox,
) -> None:
    """The answer (here end of input) that comes after its cell was interrupted belongs to that
    cell: the next cell's read asks again and gets its own answer."""
    with sandbox.session("bash") as bash:
        def stall(prompt: str, password: bool) -> str | None:
            interrupt_soon(bash, 0.5)
            time.sleep(2.5)  # the cell ends while its caller still thinks
            return None

        result = bash.execute('read v; echo "after-read $?"', 30, on_input=stall)
        assert result.exit_code == 130 and result.stdout == ""
        fresh = bash.execute('read v; echo "[$v]"', 30, on_input=lambda p, pw: "fresh")
        assert fresh.stdout == "[fresh]\n", (fresh.stdout, fresh.stderr)


def test_node_interrupt_breaks_loops_and_pending_promises(sandbox: DockerSandbox) -> None:
    with sandbox.session("node") as node:
        node.run("var kept = 'yes'")
        for cell in ("while (true) {}", "await new Promise(() => {})"):
            interrupt_soon(node)
            result = node.run(cell, timeout=20)
            assert result.error is not None and result.error["ename"] == "KeyboardInterrupt"
        assert node.run("kept").value == "'yes'"


def test_node_awaiting_the_unsettleable_survives_garbage_collection(sandbox: DockerSandbox) -> None:
    """A cell awaiting a promise nothing references while the heap churns: V8 would collect the
    awaited promise and the inspector answer from inside the collector, a fatal error (the
    sandbox lost). The driver holds a cell's pending promises; the interrupt ends the cell."""
    with sandbox.session("node") as node:
        node.run("var kept = 'yes'")
        interrupt_soon(node, 3.0)
        result = node.run("setInterval(() => { const a = []; for (let i = 0; i < 1e5; i++)"
                          " a.push({ i }); }, 10);\nawait new Promise(() => {})", timeout=20)
        assert result.error is not None and result.error["ename"] == "KeyboardInterrupt", result
        assert not result.state_lost
        assert node.run("kept").value == "'yes'"


def test_timeout_interrupts_and_keeps_state(python: SandboxSession) -> None:
    python.run("kept = 1")
    started = time.monotonic()
    result = python.run("while True: pass", timeout=1)
    assert result.timed_out and not result.state_lost
    assert time.monotonic() - started < 3
    assert python.run("kept").value == "1"


def test_timeout_that_ignores_interrupts_replaces_the_sandbox(python: SandboxSession) -> None:
    python.run("kept = 1")
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass"
    started = time.monotonic()
    result = python.run(code, timeout=1)
    assert result.timed_out and result.state_lost
    assert time.monotonic() - started < 1 + 2 + 2
    after = python.run("print('fresh')")
    assert after.stdout == "fresh\n"
    assert after.notice is not None and "state from earlier cells was lost" in after.notice
    assert python.run("kept").error is not None


@pytest.mark.parametrize(
    ("language", "code"),
    [("python", "import os; os._exit(3)"), ("bash", "exit 3"), ("node", "process.exit(3)")],
)
def test_exit_in_a_cell_reports_the_status_and_restarts(
    sandbox: DockerSandbox, language: str, code: str
) -> None:
    with sandbox.session(language) as session:
        first = session.container_id
        result = session.run(code)
        assert result.exit_code == 3 and result.state_lost
        again = session.run("1" if language != "bash" else "true")
        assert again.notice is not None and "exit status 3" in again.notice
        assert session.container_id != first


def test_out_of_memory_in_a_session(python: SandboxSession) -> None:
    result = python.run("hog = bytearray(600 * 1024 * 1024)")
    assert result.oom_killed and result.exit_code == 137 and result.state_lost
    after = python.run("1 + 1")
    assert after.value == "2"
    assert after.notice is not None and "out of memory, limit 256 MiB" in after.notice


def test_input_is_forwarded_or_eof(python: SandboxSession) -> None:
    prompts: list[str] = []

    def answer(prompt: str, password: bool) -> str:
        prompts.append(prompt)
        return "bob"

    result = python.execute("name = input('name? ')\nprint('hi', name)", on_input=answer)
    assert result.stdout == "hi bob\n" and prompts == ["name? "]
    started = time.monotonic()
    refused = python.execute("input('again? ')")
    assert refused.error is not None and refused.error["ename"] == "EOFError"
    assert time.monotonic() - started < 2


def test_live_output_arrives_before_the_cell_ends(python: SandboxSession) -> None:
    arrivals: list[tuple[float, str]] = []
    started = time.monotonic()
    code = "import time\nfor i in range(3):\n    print(i)\n    time.sleep(0.5)"
    python.execute(code, on_output=lambda s, t: arrivals.append((time.monotonic() - started, t)))
    assert "".join(text for _, text in arrivals) == "0\n1\n2\n"
    assert arrivals[0][0] < 0.8


def test_completion_from_the_live_namespace(python: SandboxSession) -> None:
    python.run("import os\nmy_variable = 1")
    reply = python.complete("my_var", 6)
    assert "my_variable" in reply["matches"] and reply["cursor_start"] == 0
    attribute = python.complete("x = os.pa", 9)
    start = attribute["cursor_start"]
    assert "x = os.path" in ["x = os.pa"[:start] + match for match in attribute["matches"]]


def test_session_output_is_capped_per_cell(python: SandboxSession) -> None:
    result = python.run("import sys\nsys.stdout.write('y' * 5_000_000)\nprint('tail')")
    assert result.truncated and "more bytes dropped" in result.stdout
    assert len(result.stdout) < 1024 * 1024 + 200
    assert python.run("print('next')").stdout == "next\n"


def test_close_removes_the_container(sandbox: DockerSandbox) -> None:
    session = sandbox.session("python")
    session.start()
    container = session.container_id
    session.close()
    assert not sandbox.backend.api.containers(all=True, filters={"id": container})


def test_close_does_not_wait_for_a_running_cell(sandbox: DockerSandbox) -> None:
    session = sandbox.session("python")
    session.start()
    outcome: dict[str, object] = {}
    worker = threading.Thread(
        target=lambda: outcome.update(result=session.run("import time; time.sleep(30)", 60)))
    worker.start()
    time.sleep(1)
    started = time.monotonic()
    session.close()
    worker.join(10)
    assert time.monotonic() - started < 5
    result = outcome["result"]
    assert getattr(result, "state_lost", False) is True


def test_python_top_level_await(python: SandboxSession) -> None:
    python.run("import asyncio\n"
               "async def twice(x):\n    await asyncio.sleep(0.01)\n    return 2 * x")
    assert python.run("await twice(21)").value == "42"


def test_node_driver_names_do_not_clash_with_cells(sandbox: DockerSandbox) -> None:
    with sandbox.session("node") as node:
        assert node.run("const fs = require('fs'); const util = require('util')").error is None
        assert node.run("typeof send + ' ' + typeof TOKEN").value == "'undefined undefined'"


def test_an_image_without_ipython_runs_plain_python() -> None:
    """The ``python-minimal`` image has no IPython: cells run as plain Python, and IPython syntax
    fails with an error that says the image lacks IPython."""
    sandbox = DockerSandbox(images={"python": "sandbox-kernel-python-minimal:latest"})
    try:
        with sandbox.session("python") as session:
            assert session.run("x = 6\nx * 7").value == "42"
            assert session.run("True.__class__").value == "<class 'bool'>"
            for code in ("%timeit 1", "!ls", "print?"):
                result = session.run(code)
                assert result.error is not None and result.error["ename"] == "SyntaxError"
                assert "lacks IPython" in result.error["evalue"], result.error
    finally:
        sandbox.cleanup_all()


@pytest.mark.parametrize("language, code, expected", [
    ("bash", "read -r who; echo \"hello $who\"", "hello Ada\n"),
    ("node", "const rl = require('readline').createInterface({ input: process.stdin });\n"
             "const who = await new Promise((r) => rl.question('', r)); rl.close();\n"
             "console.log('hello ' + who)", "hello Ada\n"),
])
def test_reads_go_to_the_on_input_callback(
    sandbox: DockerSandbox, language: str, code: str, expected: str
) -> None:
    asked: list[tuple[str, bool]] = []

    def on_input(prompt: str, password: bool) -> str | None:
        asked.append((prompt, password))
        return "Ada"

    with sandbox.session(language) as session:
        result = session.execute(code, 30, on_input=on_input)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == expected
        assert asked == [("", False)]
        # Without a callback the read ends at once (end of input).
        started = time.monotonic()
        eof = session.execute("read -r x || echo eof" if language == "bash" else
                              "let n = 0; for await (const l of require('readline')"
                              ".createInterface({ input: process.stdin })) n++; n", 30)
        assert time.monotonic() - started < 10
        assert eof.stdout == "eof\n" if language == "bash" else eof.value == "0"


LATE = "import threading\nthreading.Timer(0.5, lambda: print('late', flush=True)).start()"


def test_output_after_a_cell_goes_to_on_late_output_at_once(sandbox: DockerSandbox) -> None:
    """Text written after the cell's reply reaches ``on_late_output`` as it is written (issue
    15.5), from the session's reader thread, not the next run."""
    arrived: list[tuple[str, str, float]] = []
    with sandbox.session("python") as session:
        session.on_late_output = lambda name, text: arrived.append(
            (name, text, time.monotonic()))
        assert session.run(LATE, timeout=30).exit_code == 0
        ended = time.monotonic()
        deadline = ended + 3
        while "late\n" not in "".join(t for _, t, _ in arrived) and time.monotonic() < deadline:
            time.sleep(0.05)
        # print writes its "\n" apart: one or two chunks
        assert {name for name, _, _ in arrived} == {"stdout"}
        assert "".join(text for _, text, _ in arrived) == "late\n"
        assert arrived[0][2] - ended < 3
        assert session.run("print('next')", timeout=30).stdout == "next\n"


def test_without_on_late_output_the_next_run_gets_it(python: SandboxSession) -> None:
    """The documented default: text after a cell waits (bounded) for the next run."""
    assert python.run(LATE, timeout=30).exit_code == 0
    time.sleep(1.5)
    assert python.run("print('next')", timeout=30).stdout == "late\nnext\n"


def test_output_after_a_cell_is_capped_until_the_next_cell(sandbox: DockerSandbox) -> None:
    """At most ``max_output`` bytes per stream between two cells, then one note on stderr; the
    next period between cells starts with a fresh cap."""
    limits = Limits(max_output=4096)
    flood = ("import threading\n"
             "threading.Timer(0.3, lambda: print('y' * 20000, flush=True)).start()")
    arrived: list[tuple[str, str]] = []
    with sandbox.session("python", limits) as session:
        session.on_late_output = lambda name, text: arrived.append((name, text))
        for _ in range(2):
            arrived.clear()
            assert session.run(flood, timeout=30).exit_code == 0
            time.sleep(1.5)
            out = "".join(text for name, text in arrived if name == "stdout")
            err = "".join(text for name, text in arrived if name == "stderr")
            assert out == "y" * 4096
            assert err == ("[sandbox-kernel: output after the cell over 4 KiB per stream was "
                           "dropped until the next cell]\n")


def test_displays_after_a_cell_go_to_on_late_display_at_once(sandbox: DockerSandbox) -> None:
    """Displays a cell's timer makes after the cell ended reach ``on_late_display`` at once,
    policed (an HTML script is removed, a disallowed MIME type dropped with a note through
    ``on_late_output``), even after a completion request in between; without the callback they
    are dropped and counted, never given to the next run."""
    code = ("import threading\nfrom IPython.display import HTML, display\n"
            "def later():\n"
            "    display(HTML('<i>late</i><script>alert(1)</script>'), display_id='d1')\n"
            "    display({'text/plain': 'v1', 'application/x-evil': 'e'}, raw=True,\n"
            "            display_id='d1', update=True)\n"
            "threading.Timer(0.8, later).start()")
    displays: list[tuple[RichOutput, float]] = []
    text: list[tuple[str, str]] = []
    with sandbox.session("python") as session:
        session.on_late_display = lambda output: displays.append((output, time.monotonic()))
        session.on_late_output = lambda name, chunk: text.append((name, chunk))
        assert session.run(code, timeout=30).exit_code == 0
        ended = time.monotonic()
        assert session.complete("pri", 3)["matches"]  # a request between: not a run
        deadline = ended + 5
        while len(displays) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [output for output, _ in displays] == [
            RichOutput("display_data", {"text/plain": "<IPython.core.display.HTML object>",
                                        "text/html": "<i>late</i>"}, {}, "d1"),
            RichOutput("update_display_data", {"text/plain": "v1"}, {}, "d1")]
        assert displays[0][1] - ended < 3
        assert text == [("stderr", "[sandbox-kernel] dropped application/x-evil: this MIME "
                                   "type is not allowed\n")]
        after = session.run("print('next')", timeout=30)
        assert (after.stdout, after.displays) == ("next\n", [])
        dropped = session.dropped_messages
        session.on_late_display = None
        assert session.run(code, timeout=30).exit_code == 0
        time.sleep(2)
        assert len(displays) == 2
        assert session.dropped_messages == dropped + 2
        assert session.run("print('next')", timeout=30).displays == []


# -- messages over the host's cap (Limits.max_message) ---------------------------------------------

def test_a_display_over_the_message_cap_becomes_a_note(python: SandboxSession) -> None:
    """A 20 MB display: the driver drops it with a visible note instead of sending a frame the
    host would drop (or, before, show as raw protocol text); the rest of the cell is intact."""
    result = python.run(
        "from IPython.display import HTML, display\nprint('before')\n"
        "display(HTML('<b><script>alert(1)</script>' + 'y' * 20_000_000 + '</b>'))\n"
        "print('after')", timeout=60)
    assert (result.exit_code, result.stdout, result.displays) == (0, "before\nafter\n", [])
    assert "[sandbox-kernel] dropped a display_data output" in result.stderr
    assert "larger than 4.0 MiB" in result.stderr
    assert "\x1e" not in result.stderr and "<script>" not in result.stderr
    assert not result.truncated and not result.state_lost


@pytest.mark.parametrize("language, setup, code, check, ename", [
    ("python", "kept = 'yes'", "raise ValueError('E' * 3_000_000)", "print(kept)", "ValueError"),
    ("node", "globalThis.kept = 'yes'", "throw new Error('E'.repeat(3_000_000))",
     "console.log(kept)", "Error"),
])
def test_an_error_over_the_message_cap_is_truncated_and_keeps_state(
    sandbox: DockerSandbox, language: str, setup: str, code: str, check: str, ename: str
) -> None:
    """The cell's `done` would be over the cap: its error is truncated with a marker, the cell
    fails at once (before: no `done`, a timeout, the sandbox replaced and the state lost)."""
    with sandbox.session(language) as session:
        assert session.run(setup, timeout=30).exit_code == 0
        first = session.container_id
        started = time.monotonic()
        failed = session.run(code, timeout=30)
        assert time.monotonic() - started < 15
        assert not failed.timed_out and not failed.state_lost and failed.exit_code == 1
        assert failed.error is not None and failed.error["ename"] == ename
        assert failed.error["evalue"].startswith("EEEE")
        assert "[sandbox-kernel: truncated, " in failed.error["evalue"]
        assert len(failed.error["evalue"]) < 3_000_000
        assert any("[sandbox-kernel: truncated, " in line for line in failed.error["traceback"])
        after = session.run(check, timeout=30)
        assert (after.stdout, session.container_id) == ("yes\n", first)


@pytest.mark.parametrize("language, code", [
    ("python", "raise ValueError('E' * 100_000)"),
    ("node", "throw new Error('E'.repeat(100_000))"),
])
def test_the_driver_bounds_its_messages_to_the_cap_the_host_gives(
    language: str, code: str
) -> None:
    """With a 64 KiB cap (instead of 4 MiB), a 100 KB error is truncated by the driver itself
    and the cell fails at once: the driver learned the cap from the host."""
    engine = DockerSandbox(warm=False)
    with engine.session(language, limits=Limits(max_message=64 * 1024)) as session:
        result = session.run(code, timeout=30)
        assert result.exit_code == 1 and not result.timed_out and result.error is not None
        assert "[sandbox-kernel: truncated, " in result.error["evalue"]
        assert len(result.error["evalue"]) < 64 * 1024
        assert "from the sandbox was dropped" not in result.stderr
        if language == "python":
            value = session.run("'v' * 100_000", timeout=30)
            assert (value.exit_code, value.value, value.displays) == (0, None, [])
            assert re.search(r"\[sandbox-kernel\] dropped an execute_result output "
                             r"\(9\d\.\d KiB\): the message is larger than 64\.0 KiB",
                             value.stderr), value.stderr


# -- introspection that overruns its time ---------------------------------------------------------

@pytest.mark.parametrize("language, setup, word, check", [
    ("python", "x = 41", "x" * 100_000, "print(x + 1)"),
    ("bash", "x=41", "x" * 1_000_000, "echo $((x + 1))"),
])
def test_a_pathological_completion_keeps_the_session(
    sandbox: DockerSandbox, language: str, setup: str, word: str, check: str
) -> None:
    """Completing a huge word (before: the driver stayed busy for minutes, later completions
    waited 5 s each, the next cell timed out and the state was lost): the host sends a bounded
    window around the cursor, so the answer is quick, and the next cell runs normally."""
    with sandbox.session(language) as session:
        assert session.run(setup, timeout=30).exit_code == 0
        first = session.container_id
        for _ in range(2):
            started = time.monotonic()
            reply = session.complete(word, len(word), timeout=5)
            assert time.monotonic() - started < 5
            assert reply["cursor_end"] == len(word)
        started = time.monotonic()
        after = session.run(check, timeout=10)
        assert (after.stdout, after.exit_code, after.notice) == ("42\n", 0, None)
        assert time.monotonic() - started < 5 and session.container_id == first


def test_a_bash_completion_stays_within_the_cap_and_the_session_survives() -> None:
    """A Bash completion whose matches would go over the message cap (1,000 variables with
    100-character names, a 64 KiB cap): the driver sends as many as fit (it gets the cap when
    it starts), so the reply arrives at once, nothing is dropped and the sandbox stays."""
    engine = DockerSandbox(warm=False)
    with engine.session("bash", limits=Limits(max_message=64 * 1024)) as session:
        setup = ('for i in $(seq 1000); do printf -v "v_${i}_$(printf "%0100d" 0)" 1; done; '
                 "kept=yes")
        assert session.run(setup, timeout=30).exit_code == 0
        first = session.container_id
        started = time.monotonic()
        matches = session.complete("echo $v_", 8, timeout=10)["matches"]
        assert time.monotonic() - started < 5
        assert 10 < len(matches) < 1000 and all(m.startswith("$v_") for m in matches)
        assert len(json.dumps(matches)) < 64 * 1024
        assert session.dropped_messages == 0
        after = session.run("echo $kept", timeout=30)
        assert (after.stdout, after.notice, session.container_id) == ("yes\n", None, first)


def test_a_completion_that_overruns_is_interrupted_and_the_session_survives(
    python: SandboxSession,
) -> None:
    """A completion stuck in user code (a `__dir__` that sleeps) is interrupted after its
    timeout, as a cell would be; its late answer is discarded and the state stays."""
    python.run("import time\nclass Slow:\n    def __dir__(self):\n        time.sleep(60)\n"
               "        return []\nslow = Slow()\nkept = 'yes'")
    first = python.container_id
    started = time.monotonic()
    reply = python.complete("slow.", 5, timeout=2)
    assert reply["matches"] == [] and time.monotonic() - started < 2 + 5
    started = time.monotonic()
    assert python.complete("kep", 3, timeout=5)["matches"] == ["kept"]
    after = python.run("print(kept)", timeout=10)
    assert (after.stdout, after.exit_code, after.notice) == ("yes\n", 0, None)
    assert time.monotonic() - started < 5 and python.container_id == first
