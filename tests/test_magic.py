"""The ``%%sandbox`` magic, exercised the way notebooks use it: in a real ``python3`` kernel.

Whole notebooks run through nbclient (what CI and "Run all" do); finer checks (live output,
interrupts, the magic's own errors) share one kernel driven through jupyter_client, to keep the
suite quick on a small machine.
"""

from __future__ import annotations

import base64
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from docker_support import docker_api as connect
from magic_kernel import KernelProbe
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook

from sandbox_kernel.engine.ownership import LABEL, OWNER_LABEL
from sandbox_kernel.limits import Limits
from sandbox_kernel.magic.magics import SandboxMagics, _parser, split_line_magic
from sandbox_kernel.magic.report import failure_cause
from sandbox_kernel.result import ExecutionResult

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "notebooks" / "magic-demo.ipynb"

HOST_FRAMES = ("sandbox_kernel/", "magic.py", "site-packages", "engine.py")


# -- helpers ------------------------------------------------------------------------------------


def containers_of(pid: int) -> list[dict[str, Any]]:
    """Our containers whose owner label names process ``pid`` on this host."""
    prefix = f"{socket.gethostname()}:{pid}:"
    return [c for c in connect().containers(all=True, filters={"label": [LABEL]})
            if (c.get("Labels") or {}).get(OWNER_LABEL, "").startswith(prefix)]


PROGRAM = re.compile(r"^(\S+ /tmp/\.sandbox-cell\.\w+|sleep 60)")


def programs_of(pid: int) -> list[str]:
    """Sandboxed programs (one-shot cells) still running in containers of process ``pid``.

    Warm containers wait in ``sh -c 'read ...'``; a cell's program runs as
    ``INTERPRETER /tmp/.sandbox-cell.EXT`` (and the tests' programs sleep 60).
    """
    api = connect()
    found = []
    for container in containers_of(pid):
        try:
            top = api.top(container["Id"])
        except Exception:  # noqa: BLE001 - removed while we looked
            continue
        found += [proc[-1] for proc in top.get("Processes") or [] if PROGRAM.match(proc[-1])]
    return found


def wait_until(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())


def run_notebook(cells: list[str]) -> tuple[nbformat.NotebookNode, CellExecutionError | None]:
    nb = new_notebook(cells=[new_code_cell(source) for source in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    client = NotebookClient(nb, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(ROOT)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        return nb, exc
    return nb, None


def streams(cell: nbformat.NotebookNode, name: str) -> str:
    return "".join(o["text"] for o in cell.outputs
                   if o["output_type"] == "stream" and o["name"] == name)


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelProbe]:
    probe = KernelProbe()
    try:
        reply = probe.execute("%load_ext sandbox_kernel")
        assert reply.status == "ok", reply
        yield probe
    finally:
        probe.shutdown()


# -- whole notebooks through nbclient ---------------------------------------------------------


def test_notebook_languages_session_failure_and_cleanup() -> None:
    """Per-language runs, a session, a failing cell (CellExecutionError), no container left."""
    nb, error = run_notebook([
        "%load_ext sandbox_kernel",
        "%%sandbox python\nimport sys\nprint('py', 6 * 7)\nprint('py-err', file=sys.stderr)",
        "%%sandbox bash\necho \"bash $((6 * 7))\"\necho bash-err >&2",
        "%%sandbox node\nconsole.log('node', 6 * 7); console.error('node-err')",
        "%sandbox python print('line', 6 * 7)",
        "%%sandbox python --session s\nx = 41",
        "%%sandbox python --session s\nprint('session', x + 1)",
        "import os\nos.getpid()",
        "%%sandbox bash\necho before-failure\nexit 3",
        "print('not reached')",
    ])
    cells = nb.cells
    assert streams(cells[1], "stdout") == "py 42\n"
    assert streams(cells[1], "stderr") == "py-err\n"
    assert streams(cells[2], "stdout") == "bash 42\n"
    assert streams(cells[2], "stderr") == "bash-err\n"
    assert streams(cells[3], "stdout") == "node 42\n"
    assert streams(cells[3], "stderr") == "node-err\n"
    assert streams(cells[4], "stdout") == "line 42\n"
    assert streams(cells[6], "stdout") == "session 42\n"
    assert streams(cells[8], "stdout") == "before-failure\n"
    assert cells[9].outputs == []

    assert error is not None, "the failing cell must raise CellExecutionError"
    text = str(error)
    assert "SandboxCellError" in text and "exit status 3" in text
    assert not any(frame in text for frame in HOST_FRAMES), text

    kernel_pid = int(cells[7].outputs[0]["data"]["text/plain"])
    assert wait_until(lambda: not containers_of(kernel_pid), 10), containers_of(kernel_pid)


def test_demo_notebook_executes() -> None:
    nb = nbformat.read(DEMO, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    client = NotebookClient(nb, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(DEMO.parent)}})
    client.execute()
    text = "\n".join(streams(cell, "stdout") + streams(cell, "stderr")
                     for cell in nb.cells if cell.cell_type == "code")
    assert "Python 3" in text and "uid=65534" in text and "squares: 1, 4, 9, 16" in text
    assert "exit status 3" in text and "timed out after 2 s" in text
    assert "out of memory" in text


# -- one kernel, many checks ----------------------------------------------------------------------


def test_output_streams_live(kernel: KernelProbe) -> None:
    for options in ("", "--session live"):
        arrivals: list[tuple[float, str]] = []

        def on_stream(name: str, text: str, log: list[tuple[float, str]] = arrivals) -> None:
            log.append((time.monotonic(), text))

        started = time.monotonic()
        reply = kernel.execute(
            f"%%sandbox python {options}\nimport sys, time\nprint('first', flush=True)\n"
            "print('warn', file=sys.stderr, flush=True)\ntime.sleep(2)\nprint('second')",
            on_stream=on_stream)
        assert reply.status == "ok", reply
        assert reply.stdout == "first\nsecond\n" and reply.stderr == "warn\n"
        first = next(t for t, text in arrivals if "first" in text) - started
        assert first < reply.seconds - 1.0, (first, reply.seconds)
    kernel.execute("%sandbox_stop live")


def test_capture_out_err_result(kernel: KernelProbe) -> None:
    reply = kernel.execute(
        "%%sandbox python --out o --err e --result r\n"
        "import sys\nprint('captured out')\nprint('captured err', file=sys.stderr)")
    assert reply.status == "ok" and reply.stdout == "" and reply.stderr == "", reply
    check = kernel.execute("print(repr(o), repr(e), type(r).__name__, r.exit_code, r.ok)")
    assert check.stdout == "'captured out\\n' 'captured err\\n' ExecutionResult 0 True\n"

    # Capturing one stream leaves the other in the cell; a failure still stores first.
    reply = kernel.execute("%%sandbox bash --out o2 --result r2\necho hidden; echo shown >&2; "
                           "exit 5")
    assert reply.status == "error" and reply.stderr == "shown\n" and reply.stdout == ""
    check = kernel.execute("print(repr(o2), r2.exit_code)")
    assert check.stdout == "'hidden\\n' 5\n"


def test_session_keeps_state_and_shows_value(kernel: KernelProbe) -> None:
    assert kernel.execute("%%sandbox python --session keep\ncounter = 41").status == "ok"
    reply = kernel.execute("%sandbox python --session keep counter + 1")
    assert reply.status == "ok" and reply.results == ["42"], reply
    kernel.execute("%%sandbox bash --session sh\ncd /tmp; greeting=hello")
    reply = kernel.execute("%sandbox bash --session sh echo $greeting from $PWD")
    assert reply.stdout == "hello from /tmp\n", reply
    # The session is still the same container, not the host: the kernel has no such variable.
    assert kernel.execute("counter").ename == "NameError"
    kernel.execute("%sandbox_stop keep sh")


def test_no_raise_error(kernel: KernelProbe) -> None:
    reply = kernel.execute("%%sandbox bash --no-raise-error --result r\necho oops >&2; exit 4")
    assert reply.status == "ok", reply
    assert "oops" in reply.stderr and "exit status 4" in reply.stderr
    assert kernel.execute("print(r.exit_code)").stdout == "4\n"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("%%sandbox bash\nexit 3", "exit status 3"),
        ("%%sandbox python\nimport os\nos.kill(os.getpid(), 9)", "killed by SIGKILL"),
        ("%%sandbox python --memory 64m\nblob = bytearray(400 * 1024 * 1024)",
         "out of memory, limit 64 MiB (exit status 137)"),
        ("%%sandbox node --session js\nnull.x", "TypeError"),
    ],
)
def test_failures_name_exit_status_and_cause(kernel: KernelProbe, cell: str,
                                             expected: str) -> None:
    reply = kernel.execute(cell)
    assert reply.status == "error" and reply.ename == "SandboxCellError", reply
    assert expected in reply.evalue and "exit status" in reply.evalue, reply.evalue
    assert not any(frame in reply.error_text for frame in HOST_FRAMES), reply.error_text
    kernel.execute("%sandbox_stop --all")


def test_session_exception_shows_sandbox_traceback(kernel: KernelProbe) -> None:
    reply = kernel.execute("%%sandbox python --session tb\ndef f():\n    return 1 / 0\nf()")
    assert reply.ename == "SandboxCellError"
    assert "ZeroDivisionError: division by zero (exit status 1)" in reply.evalue
    text = re.sub(r"\x1b\[[0-9;]*m", "", reply.error_text)  # IPython's coloured traceback
    assert "return 1 / 0" in text and re.search(r"Cell In ?\[1\], line 2", text)
    assert not any(frame in text for frame in HOST_FRAMES), text
    kernel.execute("%sandbox_stop tb")


def test_timeout_is_enforced(kernel: KernelProbe) -> None:
    reply = kernel.execute("%%sandbox python --timeout 1\nwhile True:\n    pass")
    assert reply.ename == "SandboxCellError" and "timed out after 1 s" in reply.evalue
    assert reply.seconds < 8, reply.seconds
    # In a session the cell is interrupted and the state survives.
    kernel.execute("%%sandbox python --session slow\nkept = 'yes'")
    reply = kernel.execute("%%sandbox python --session slow --timeout 1\nwhile True:\n    pass")
    assert "timed out after 1 s" in reply.evalue and reply.seconds < 8, reply
    assert kernel.execute("%sandbox python --session slow kept").results == ["'yes'"]
    kernel.execute("%sandbox_stop slow")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%%sandbox cobol\nx", "unknown language"),
        ("%%sandbox\nx", "language"),
        ("%%sandbox python --bogus\nx", "unrecognized arguments: --bogus"),
        ("%%sandbox python --timeout abc\nx", "invalid float value"),
        ("%%sandbox python --timeout 0\nx", "timeout must be positive"),
        ("%%sandbox python --timeout 1000\nx", "at most 120"),
        ("%%sandbox python --timeout nan\nx", "finite"),
        ("%%sandbox python --memory lots\nx", "memory"),
        ("%%sandbox python --cpus -1\nx", "cpus"),
        ("%%sandbox python --out 1x\nx", "--out needs a Python variable name"),
        ("%%sandbox python --result class\nx", "--result needs a Python variable name"),
        ("%%sandbox python --session 'a b'\nx", "--session: a session name is"),
        ("%%sandbox python --image ''\nx", "is not a Docker image name"),
        ("%%sandbox python --image 'a b'\nx", "is not a Docker image name"),
        ("%sandbox_config --image 'python=x y'", "is not a Docker image name"),
        ('%%sandbox python --image "unclosed\nx', "cannot parse the options"),
        ("%sandbox python", "needs code"),
        ("%sandbox", "needs a language"),
        ("%sandbox_config --memory 1k", "memory"),
        ("%sandbox_config --image cobol=x", "unknown language"),
        ("%sandbox_config --image python", "LANGUAGE=IMAGE"),
        ("%sandbox_config --runtime no-such-runtime", "no runtime"),
        ("%sandbox_stop", "needs a session name"),
        ("%sandbox_stop nobody", "no sandbox session 'nobody'"),
        ("%sandbox_sessions extra", "takes no arguments"),
    ],
)
def test_bad_options_are_usage_errors(kernel: KernelProbe, line: str, message: str) -> None:
    reply = kernel.execute(line)
    assert reply.status == "error" and reply.ename == "UsageError", reply
    assert message in reply.evalue, reply.evalue


def test_session_settings_conflicts_are_usage_errors(kernel: KernelProbe) -> None:
    assert kernel.execute("%%sandbox python --session fixed --memory 128m\nx = 1").status == "ok"
    reply = kernel.execute("%%sandbox bash --session fixed\necho")
    assert reply.ename == "UsageError" and "runs python, not bash" in reply.evalue
    reply = kernel.execute("%%sandbox python --session fixed --memory 256m\nx")
    assert reply.ename == "UsageError" and "--memory" in reply.evalue
    # The same value is not a conflict; the timeout may change per cell.
    reply = kernel.execute("%%sandbox python --session fixed --memory 128m --timeout 5\nx")
    assert reply.results == ["1"], reply
    kernel.execute("%sandbox_stop fixed")


def test_sessions_listed_and_stopped(kernel: KernelProbe) -> None:
    kernel.execute("%%sandbox python --session alpha\na = 1")
    kernel.execute("%%sandbox bash --session beta\nb=2")
    listing = kernel.execute("%sandbox_sessions").stdout
    rows = {line.split()[0]: line.split() for line in listing.splitlines()[1:]}
    assert set(rows) >= {"alpha", "beta"}, listing
    assert rows["alpha"][1:3] == ["python", "running"] and rows["beta"][1] == "bash"
    alpha_container = rows["alpha"][3]
    assert any(c["Id"].startswith(alpha_container) for c in containers_of(kernel.pid))

    reply = kernel.execute("%sandbox_stop alpha")
    assert reply.stdout == "Stopped sandbox session 'alpha'.\n", reply
    assert not any(c["Id"].startswith(alpha_container) for c in containers_of(kernel.pid))
    listing = kernel.execute("%sandbox_sessions").stdout
    assert "alpha" not in listing and "beta" in listing
    # A stopped name starts afresh: the old variable is gone.
    reply = kernel.execute("%%sandbox python --session alpha --no-raise-error\na")
    assert "NameError" in reply.stderr, reply
    kernel.execute("%sandbox_stop --all")
    assert "No sandbox sessions" in kernel.execute("%sandbox_sessions").stdout


def test_config_sets_defaults_for_later_cells(kernel: KernelProbe) -> None:
    shown = kernel.execute("%sandbox_config").stdout
    assert "timeout       30 s (at most 120 s)" in shown and "memory        256 MiB" in shown
    try:
        shown = kernel.execute("%sandbox_config --timeout 1 --memory 96m --image bash=").stdout
        assert "timeout       1 s" in shown and "memory        96 MiB" in shown, shown
        reply = kernel.execute(
            "%%sandbox python\nimport time\nfor p in ('/sys/fs/cgroup/memory.max',\n"
            "          '/sys/fs/cgroup/memory/memory.limit_in_bytes'):\n"
            "    try: print(open(p).read().strip()); break\n"
            "    except OSError: pass\ntime.sleep(5)")
        assert reply.stdout == f"{96 * 1024 * 1024}\n", reply
        assert "timed out after 1 s" in (reply.evalue or ""), reply
        # An explicit option still wins over the default.
        assert kernel.execute("%%sandbox bash --timeout 5\nsleep 1.5").status == "ok"
    finally:
        shown = kernel.execute("%sandbox_config --reset").stdout
    assert "timeout       30 s" in shown


def test_image_runtime_and_missing_image(kernel: KernelProbe) -> None:
    reply = kernel.execute("%%sandbox python --image sandbox-kernel-python:latest\nprint('ok')")
    assert reply.stdout == "ok\n", reply
    reply = kernel.execute("%%sandbox python --image sandbox-kernel-missing:none\nprint(1)")
    assert reply.ename == "SandboxMagicError", reply
    assert "missing" in reply.evalue and "images build" in reply.evalue, reply.evalue
    assert not any(frame in reply.error_text for frame in HOST_FRAMES), reply.error_text
    try:
        shown = kernel.execute("%sandbox_config --runtime runc").stdout
        assert "runtime       runc" in shown, shown
        assert kernel.execute("%sandbox bash echo runc-ok").stdout == "runc-ok\n"
    finally:
        shown = kernel.execute("%sandbox_config --runtime default").stdout
    assert "runtime       Docker's default" in shown, shown


def test_help_is_available(kernel: KernelProbe) -> None:
    reply = kernel.execute("print(get_ipython().find_cell_magic('sandbox').__doc__)")
    for option in ("--timeout S", "--memory M", "--cpus C", "--image IMG", "--session NAME",
                   "--out VAR", "--err VAR", "--result VAR", "--no-raise-error"):
        assert option in reply.stdout, option
    reply = kernel.execute("%%sandbox?\n")
    assert reply.status == "ok"


def interrupt_when(kernel: KernelProbe, marker: str) -> Any:
    fired: list[bool] = []

    def on_stream(name: str, text: str) -> None:
        if marker in text and not fired:
            fired.append(True)
            kernel.interrupt()

    return on_stream


@pytest.mark.parametrize("language", ["python", "bash"])
def test_interrupt_stops_a_one_shot_program(kernel: KernelProbe, language: str) -> None:
    code = {"python": "import time\nprint('started', flush=True)\ntime.sleep(60)",
            "bash": "echo started; sleep 60"}[language]
    reply = kernel.execute(f"%%sandbox {language}\n{code}",
                           on_stream=interrupt_when(kernel, "started"))
    assert reply.ename == "SandboxCellError" and "interrupted" in reply.evalue, reply
    assert reply.seconds < 10, reply.seconds
    assert wait_until(lambda: not programs_of(kernel.pid), 5), programs_of(kernel.pid)
    # The kernel is fine afterwards.
    assert kernel.execute("%sandbox python print('after')").stdout == "after\n"


@pytest.mark.parametrize(
    ("language", "setup", "cell", "check", "expected"),
    [
        ("python", "x = 41", "import time\nprint('started', flush=True)\ntime.sleep(60)",
         "x + 1", ["42"]),
        ("bash", "x=41", "echo started; sleep 60", "echo $((x + 1))", "42\n"),
    ],
)
def test_interrupt_keeps_session_state(kernel: KernelProbe, language: str, setup: str,
                                       cell: str, check: str, expected: Any) -> None:
    name = f"int-{language}"
    assert kernel.execute(f"%%sandbox {language} --session {name}\n{setup}").status == "ok"
    reply = kernel.execute(f"%%sandbox {language} --session {name}\n{cell}",
                           on_stream=interrupt_when(kernel, "started"))
    assert reply.ename == "SandboxCellError", reply
    assert "interrupted by the user (exit status 130)" in reply.evalue, reply.evalue
    assert reply.seconds < 10, reply.seconds
    after = kernel.execute(f"%sandbox {language} --session {name} {check}")
    assert (after.results if isinstance(expected, list) else after.stdout) == expected, after
    kernel.execute(f"%sandbox_stop {name}")


def test_interrupt_kills_a_session_cell_that_ignores_it(kernel: KernelProbe) -> None:
    kernel.execute("%%sandbox python --session stubborn\nx = 1")
    reply = kernel.execute(
        "%%sandbox python --session stubborn\nimport signal, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('started', flush=True)\n"
        "time.sleep(60)", on_stream=interrupt_when(kernel, "started"))
    assert reply.ename == "SandboxCellError", reply
    assert "its container was killed" in reply.evalue and "state was lost" in reply.evalue
    assert reply.seconds < 15, reply.seconds
    # The next cell gets a fresh sandbox and is told so.
    after = kernel.execute("%%sandbox python --session stubborn --no-raise-error\nprint(x)")
    assert "restarted" in after.stderr and "NameError" in after.stderr, after
    kernel.execute("%sandbox_stop stubborn")


def test_unload_removes_sessions(kernel: KernelProbe) -> None:
    kernel.execute("%%sandbox python --session gone\ny = 1")
    container = kernel.execute("%sandbox_sessions").stdout.splitlines()[1].split()[3]
    try:
        assert kernel.execute("%unload_ext sandbox_kernel").status == "ok"
        assert not any(c["Id"].startswith(container) for c in containers_of(kernel.pid))
        assert kernel.execute("%sandbox_sessions").ename == "UsageError"  # magic is gone
    finally:
        assert kernel.execute("%load_ext sandbox_kernel").status == "ok"
    assert "No sandbox sessions" in kernel.execute("%sandbox_sessions").stdout


# -- pure functions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "options", "code"),
    [
        ('python print("hi")', "python ", 'print("hi")'),
        ("--timeout 5 python print(1)", "--timeout 5 python ", "print(1)"),
        ("python --session s x + 1", "python --session s ", "x + 1"),
        ("bash ls -la /", "bash ", "ls -la /"),
        ("bash --out=o -- --version", "bash --out=o ", "--version"),
        ("--time 3 bash --no-raise-error exit 3", "--time 3 bash --no-raise-error ", "exit 3"),
        ("js console.log({a: 1})", "js ", "console.log({a: 1})"),
    ],
)
def test_split_line_magic(line: str, options: str, code: str) -> None:
    assert split_line_magic(_parser(SandboxMagics.sandbox), line) == (options, code)


def test_failure_cause_names_status_and_cause() -> None:
    limits = Limits()

    def cause(**fields: Any) -> str | None:
        return failure_cause(ExecutionResult(**fields).settle(limits.memory, 2), timeout=2)

    assert cause(exit_code=0) is None
    assert cause(exit_code=2) == "exit status 2"
    assert cause(exit_code=None, timed_out=True) == (
        "timed out after 2 s; its container was killed (no exit status)")
    assert cause(exit_code=137, oom_killed=True) == (
        "killed: out of memory, limit 256 MiB (exit status 137)")
    assert cause(exit_code=143) == "killed by SIGTERM (exit status 143)"
    assert cause(exit_code=1, error={"ename": "ValueError", "evalue": "bad"},
                 state_lost=False) == "ValueError: bad (exit status 1)"
    assert failure_cause(None, timeout=1, interrupted=True) == (
        "interrupted by the user; its container was removed (no exit status)")


def test_rich_output_of_a_session_cell_is_shown_in_the_notebook(kernel: KernelProbe) -> None:
    """Plots and displays of ``%%sandbox python`` reach the host notebook, display ids confined
    to the session; the value keeps its rich bundle."""
    reply = kernel.execute(
        "%%sandbox python --session rich\nimport matplotlib.pyplot as plt\n"
        "from IPython.display import display, update_display\n"
        "display({'n': 1}, display_id='box')\nupdate_display({'n': 2}, display_id='box')\n"
        "plt.plot(range(1000));\nplt.show()\nTrue.__class__")
    assert reply.status == "ok", reply
    first, update, figure = reply.displays
    assert first["msg_type"] == "display_data" and first["data"]["text/plain"] == "{'n': 1}"
    assert first["transient"] == {"display_id": "sandbox-rich-box"}
    assert update["msg_type"] == "update_display_data" and update["transient"] == first["transient"]
    assert base64.b64decode(figure["data"]["image/png"])[:4] == b"\x89PNG"
    assert reply.results == ["bool"]
    kernel.execute("%sandbox_stop rich")


def test_a_session_cell_reads_input_through_the_notebook(kernel: KernelProbe) -> None:
    """``read`` in a ``%%sandbox bash`` session cell becomes the host kernel's input request
    (issue #15.2), answered by the frontend; without stdin the cell reads end of input at once."""
    cell = "%%sandbox bash --session ask\nread -p 'name? ' name; echo \"got [$name] $?\""
    reply = kernel.execute(cell, answers=["Ada"])
    assert reply.status == "ok", reply
    assert len(reply.prompts) == 1  # (bash shows read's prompt only when stdin is a terminal)
    assert "got [Ada] 0" in reply.stdout
    started = time.monotonic()
    reply = kernel.execute(cell)  # allow_stdin False, as nbclient sends
    assert reply.status == "ok" and "got [] 1" in reply.stdout, reply
    assert time.monotonic() - started < 10
    kernel.execute("%sandbox_stop ask")


def test_rich_output_of_a_session_cell_shows_while_it_runs(kernel: KernelProbe) -> None:
    """A display comes out in order with the text around it, before the cell ends."""
    reply = kernel.execute(
        "%%sandbox python --session live\nimport time\nprint('before', flush=True)\n"
        "display({'n': 1})\ntime.sleep(1.5)\nprint('after')")
    assert reply.status == "ok", reply
    assert reply.order.index("stream:before\n") < reply.order.index("display_data") < \
        reply.order.index("stream:after\n"), reply.order
    kernel.execute("%sandbox_stop live")
