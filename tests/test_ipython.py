"""sandbox-python behaves like IPython (issue 12): every example that failed under the plain
driver, through a real kernel, a real container and jupyter_client."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from kernel_support import Cell, execute, running_kernel

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def kc() -> Iterator[BlockingKernelClient]:
    with running_kernel("sandbox-python") as (_, client):
        yield client


def ok(kc: BlockingKernelClient, code: str) -> Cell:
    cell = execute(kc, code)
    assert cell.content["status"] == "ok", cell.outputs
    return cell


def kinds(cell: Cell) -> list[str]:
    """The message types of a cell's outputs in order, a stream split in pieces counted once."""
    found: list[str] = []
    for message in cell.outputs:
        if not (found and found[-1] == "stream" == message["msg_type"]):
            found.append(message["msg_type"])
    return found


def plain(lines: list[str]) -> list[str]:
    return [ANSI.sub("", line) for line in lines]


# -- magics, shell escapes, help --------------------------------------------------------------


def test_line_and_cell_magics_run_in_the_sandbox(kc: BlockingKernelClient) -> None:
    assert "per loop" in ok(kc, "%timeit -n 3 -r 2 sum(range(10))").text("stdout")
    assert ok(kc, "%%writefile made.py\nanswer = 42\n").text("stdout") == "Writing made.py\n"
    assert ok(kc, "import made\nmade.answer").value == "42"
    # The shell commands run inside the container: its hostname is the container's.
    listing = ok(kc, "!ls /").text("stdout").split()
    assert "proc" in listing and "usr" in listing
    assert ok(kc, "files = %sx ls\n'made.py' in files").value == "True"
    bash = ok(kc, "%%bash\necho from bash $((6 * 7)) $(id -un)")
    assert bash.text("stdout").startswith("from bash 42 ")
    host_name = ok(kc, "import socket\nsocket.gethostname()").value
    assert ok(kc, "!hostname").text("stdout").strip() == str(host_name).strip("'")


@pytest.mark.parametrize("code", ["print?", "x = 2\nx??"])
def test_help_is_a_pager_payload(kc: BlockingKernelClient, code: str) -> None:
    cell = ok(kc, code)
    (page,) = cell.content["payload"]
    assert page["source"] == "page" and page["start"] == 0
    text = ANSI.sub("", page["data"]["text/plain"])
    assert ("Docstring" in text or "Type:" in text) and not cell.outputs


def test_exit_and_quit_ask_the_frontend_to_exit(kc: BlockingKernelClient) -> None:
    ok(kc, "still_here = True")
    for code in ("exit", "quit"):
        assert ok(kc, code).content["payload"] == [{"source": "ask_exit", "keepkernel": False}]
    assert ok(kc, "still_here").value == "True"


# -- cell semantics ---------------------------------------------------------------------------


def test_trailing_semicolon_hides_the_value(kc: BlockingKernelClient) -> None:
    assert ok(kc, "x = 1 + 1;").value is None
    assert ok(kc, "x * 3;").value is None
    assert ok(kc, "x * 3").value == "6"


def test_indented_cell_is_dedented(kc: BlockingKernelClient) -> None:
    assert ok(kc, "  a = 1\n  a + 1").value == "2"


def test_future_flags_hold_in_later_cells(kc: BlockingKernelClient) -> None:
    ok(kc, "from __future__ import annotations")
    assert ok(kc, "def f(x: Undefined): pass\nf.__annotations__").value == "{'x': 'Undefined'}"


def test_values_use_the_pretty_printer(kc: BlockingKernelClient) -> None:
    assert ok(kc, "True.__class__").value == "bool"
    assert ok(kc, "list(range(30))").value == "[" + ",\n ".join(map(str, range(30))) + "]"
    assert ok(kc, "get_ipython().__class__.__name__").value == "'SandboxShell'"


def test_system_exit_fails_the_cell_and_keeps_the_state(kc: BlockingKernelClient) -> None:
    ok(kc, "survivor = 'yes'")
    for code in ("import sys; sys.exit(0)",
                 "import argparse\nargparse.ArgumentParser().parse_args(['--help'])"):
        cell = execute(kc, code)
        assert cell.content["status"] == "error" and cell.content["ename"] == "SystemExit"
        assert cell.error["ename"] == "SystemExit" and not cell.metadata["state_lost"]
    assert ok(kc, "survivor").value == "'yes'"


def test_tracebacks_show_the_cells_own_lines(kc: BlockingKernelClient) -> None:
    cell = execute(kc, "values = [1, 2]\nvalues[0] + values[5]")
    lines = plain(cell.error["traceback"])
    frame = next(line for line in lines if "Cell In" in line)
    assert "----> 2 values[0] + values[5]" in frame
    assert lines[-2] == "IndexError: list index out of range"  # then our status line
    assert not any("python_driver" in line or "interactiveshell.py" in line for line in lines)
    syntax = plain(execute(kc, "x = (1,\ny = 2 +").error["traceback"])
    assert not any("ast.py" in line for line in syntax)
    assert any("SyntaxError" in line for line in syntax)


# -- rich display -----------------------------------------------------------------------------


def test_display_update_and_clear_output(kc: BlockingKernelClient) -> None:
    cell = ok(kc, "from IPython.display import display, update_display, clear_output\n"
                  "display({'a': 1}, display_id='box')\n"
                  "update_display({'a': 2}, display_id='box')\n"
                  "clear_output(wait=True)\nprint('after')")
    assert kinds(cell) == ["display_data", "update_display_data", "clear_output", "stream"]
    shown, updated = cell.outputs[0]["content"], cell.outputs[1]["content"]
    assert shown["data"]["text/plain"] == "{'a': 1}"
    assert shown["transient"] == updated["transient"] == {"display_id": "box"}
    assert updated["data"]["text/plain"] == "{'a': 2}"
    assert cell.outputs[2]["content"] == {"wait": True}


def test_rich_reprs_pass_the_output_policy(kc: BlockingKernelClient) -> None:
    """``_repr_html_`` and ``HTML`` show as HTML, cleaned; script and JavaScript never arrive."""
    cell = ok(kc, "class Table:\n"
                  "    def _repr_html_(self):\n"
                  "        return '<table><tr><td onmouseover=\"alert(1)\">x</td></tr></table>'\n"
                  "from IPython.display import HTML, Javascript, display\n"
                  "display(HTML('<b>bold</b><script>window.pwned = 1</script>'))\n"
                  "display(Javascript('window.pwned = 1'))\n"
                  "Table()")
    html = cell.of_type("display_data")[0]["data"]["text/html"]
    assert "<b>bold</b>" in html and "script" not in html and "pwned" not in html
    assert not any("application/javascript" in d["data"] for d in cell.of_type("display_data"))
    assert "application/javascript" in cell.text("stderr")  # a visible note
    (value,) = cell.of_type("execute_result")
    assert "<td>x</td>" in value["data"]["text/html"] and "alert" not in value["data"]["text/html"]


def test_matplotlib_figures_are_inline_pngs(kc: BlockingKernelClient) -> None:
    cell = ok(kc, "import matplotlib.pyplot as plt\nplt.plot(range(1000));")
    (figure,) = cell.of_type("display_data")
    png = base64.b64decode(figure["data"]["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and cell.value is None
    shown = ok(kc, "plt.plot([1, 2]); plt.show()\nprint('after show')")
    assert kinds(shown) == ["display_data", "stream"]


# -- completion and inspection ----------------------------------------------------------------


@pytest.mark.parametrize(("code", "expected"), [
    ('d["al', "alpha"), ("import itert", "itertools"), ("zi", "zip"),
    ('open("/etc/pas', "/etc/passwd"),
])
def test_completion_from_ipython(kc: BlockingKernelClient, code: str, expected: str) -> None:
    ok(kc, "d = {'alpha': 1}")
    reply = kc.complete(code, len(code), reply=True)["content"]
    assert expected in reply["matches"]
    assert reply["cursor_end"] == len(code)


def test_inspect_gives_signature_and_docstring(kc: BlockingKernelClient) -> None:
    ok(kc, "def greet(name: str, excited: bool = False) -> str:\n"
           "    '''Say hello to someone.'''\n    return name")
    reply = kc.inspect("greet(", 5, reply=True)["content"]
    text = ANSI.sub("", reply["data"]["text/plain"])
    assert reply["found"] is True
    # Annotations are strings here: an earlier cell imported __future__.annotations.
    assert "greet(name: str, excited: bool = False) -> str" in text.replace("'", "")
    assert "Say hello to someone." in text
    assert kc.inspect("no_such_name", 5, reply=True)["content"]["found"] is False
