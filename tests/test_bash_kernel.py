"""The Bash kernel's cell handling and introspection (issue 15): a real sandbox-bash kernel
through jupyter_client, cells run in a real container."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kernel_support import Kernel, execute, is_complete, running_kernel


@pytest.fixture(scope="module")
def bash() -> Iterator[Kernel]:
    with running_kernel("sandbox-bash", {"timeout": "20"}) as kernel:
        yield kernel


def test_windows_line_endings_run(bash: Kernel) -> None:
    _, kc = bash
    cell = execute(kc, "x=1\r\nif [ $x = 1 ]; then\r\n  echo yes\r\nfi\r\n")
    assert cell.content["status"] == "ok", cell.outputs
    assert cell.text("stdout") == "yes\n"
    assert "\\r" not in cell.text("stderr") and "command not found" not in cell.text("stderr")


def test_completion_and_inspection_see_the_live_shell(bash: Kernel) -> None:
    _, kc = bash
    cell = execute(kc, "greet_user() { echo \"hi $1\"; }\nsk_counter=3\nmkdir -p dir_one")
    assert cell.content["status"] == "ok", cell.outputs
    assert kc.complete("greet_u", 7, reply=True)["content"]["matches"] == ["greet_user"]
    reply = kc.complete("echo $sk_cou", 12, reply=True)["content"]
    assert reply["matches"] == ["$sk_counter"] and reply["cursor_start"] == 5
    assert kc.complete("cd dir_o", 8, reply=True)["content"]["matches"] == ["dir_one/"]
    found = kc.inspect("greet_user", 10, reply=True)["content"]
    assert found["found"] is True
    assert "greet_user is a function" in found["data"]["text/plain"]
    assert "echo \"hi $1\"" in found["data"]["text/plain"]
    assert kc.inspect("no_such_command_here", 5, reply=True)["content"]["found"] is False


def test_is_complete_parses_without_running(bash: Kernel) -> None:
    _, kc = bash
    assert is_complete(kc, "for i in 1 2 3; do")["status"] == "incomplete"
    reply = is_complete(kc, "touch never_created")
    assert reply["status"] == "complete"
    cell = execute(kc, "ls never_created 2>&1 || echo absent")
    assert cell.text("stdout").endswith("absent\n")


def test_shell_options_and_redirections_stay_in_their_cell(bash: Kernel) -> None:
    _, kc = bash
    cell = execute(kc, "set -x\necho traced")
    # One level of indirection ("+"), as bash reading a script traces.
    assert cell.text("stderr") == "+ echo traced\n"
    cell = execute(kc, "echo again")
    assert cell.text("stdout") == "again\n"
    assert cell.text("stderr") == "+ echo again\n"  # the user's trace, none of the driver's
    execute(kc, "set +x; set -v")
    cell = execute(kc, "echo shown")
    assert cell.text("stderr") == "echo shown\n"
    execute(kc, "set +v")
    cell = execute(kc, "exec >/dev/null 2>&1\necho hidden")
    assert cell.content["status"] == "ok" and cell.text("stdout") == ""
    cell = execute(kc, "echo visible; echo to-stderr >&2")
    assert (cell.text("stdout"), cell.text("stderr")) == ("visible\n", "to-stderr\n")
    cell = execute(kc, "declare -F; trap -p DEBUG")
    assert "__sk" not in cell.text("stdout").replace("declare -f __sk", "")  # no DEBUG trap
    assert "DEBUG" not in cell.text("stdout")


def test_read_gets_its_line_through_an_input_request(bash: Kernel) -> None:
    _, kc = bash
    requests: list[dict[str, Any]] = []

    def answer(msg: dict[str, Any]) -> None:
        requests.append(msg["content"])
        kc.input(["Ada", "line two"][len(requests) - 1])

    code = "read -p 'name? ' name; echo \"got [$name]\"; x=$(head -n 1); echo \"then [$x]\""
    cell = execute(kc, code, allow_stdin=True, stdin_hook=answer)
    assert cell.content["status"] == "ok", cell.outputs
    assert cell.text("stdout") == "got [Ada]\nthen [line two]\n"
    assert len(requests) == 2 and requests[0]["password"] is False
    # A cell that reads nothing asks nothing; without stdin, reading ends at once.
    requests.clear()
    assert execute(kc, "sleep 0.3; echo quiet", allow_stdin=True, stdin_hook=answer
                   ).text("stdout") == "quiet\n"
    assert requests == []
    cell = execute(kc, "read -r line || echo 'end of input'", timeout=30)
    assert cell.text("stdout") == "end of input\n"


def test_messages_name_bash_and_the_cells_own_line(bash: Kernel) -> None:
    _, kc = bash
    cell = execute(kc, "cd /tmp\necho ok\nno_such_command_xyz")
    assert cell.text("stderr") == "bash: line 3: no_such_command_xyz: command not found\n"
    cell = execute(kc, "echo \"$PWD\"; cd - >/dev/null; echo \"$PWD\"; cd /tmp")
    assert cell.text("stdout") == "/tmp\n/workspace\n"  # the cell's cwd and OLDPWD are the user's
    cell = execute(kc, "echo x )")
    assert cell.text("stderr").startswith("bash: line 1: syntax error near unexpected token")
    assert execute(kc, "pwd; shopt -p sourcepath").text("stdout") == "/tmp\nshopt -s sourcepath\n"


def test_an_interrupted_read_reports_the_interrupt(bash: Kernel) -> None:
    km, kc = bash
    execute(kc, "kept=yes")

    def interrupt(msg: dict[str, Any]) -> None:  # the input request is left unanswered
        threading.Timer(1.0, km.interrupt_kernel).start()

    cell = execute(kc, 'read v; echo "after-read $?"', allow_stdin=True, stdin_hook=interrupt,
                   timeout=30)
    assert cell.content["status"] == "error" and cell.content["ename"] == "KeyboardInterrupt"
    assert "exit status 130" in cell.content["evalue"], cell.content["evalue"]
    assert "state was kept" in cell.content["evalue"]
    assert "after-read" not in cell.text("stdout")
    # The state is kept and the next read gets its own answer.
    cell = execute(kc, 'read v; echo "[$kept] [$v]"', allow_stdin=True,
                   stdin_hook=lambda msg: kc.input("fresh"))
    assert cell.text("stdout") == "[yes] [fresh]\n", cell.outputs
