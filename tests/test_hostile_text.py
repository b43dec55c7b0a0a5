"""Terminal escape sequences and unbounded text from a sandbox never reach a frontend.

``jupyter console`` prints stream text, errors and input prompts to the user's terminal: an OSC
sequence there changes the window title or writes the user's clipboard (OSC 52), a CSI clears
the screen. Every front-end passes what it builds from sandbox text through
``output_policy.terminal_text`` / ``error_text`` (unit tests: ``tests/unit/test_terminal_text.py``);
these tests show it on real messages: iopub and stdin messages of a real ``sandbox-python``
kernel, the ``%%sandbox`` magic in a real ``python3`` kernel, and the MCP tool's text result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from kernel_support import execute, running_kernel
from magic_kernel import KernelProbe

from sandbox_kernel import DockerSandbox
from sandbox_kernel.limits import Limits
from sandbox_kernel.mcp.runner import shape_output
from sandbox_kernel.output_policy import (
    MAX_ENAME_BYTES,
    MAX_EVALUE_BYTES,
    MAX_PROMPT_BYTES,
    PROMPT_MARKER,
)

SGR = re.compile(r"\x1b\[[0-9;]*m")

HOSTILE_PRINT = ("print('\\x1b]0;TITLE\\x07 \\x1b[2J\\x1b]52;c;aGk=\\x07"
                 "\\x1b[31mred\\x1b[0m\\tx\\b\\x00')")
SAFE_PRINTED = " \x1b[31mred\x1b[0m\tx\b\n"
EVIL_CLASS = ("E = type('\\x1b[2JEvil' * 1000, (Exception,), {})\n"
              "raise E('\\x1b]52;c;aGk=\\x07boom' + 'v' * 200_000)")


def only_safe(text: str) -> bool:
    """No escape but SGR colour, no control character but \\b \\t \\n \\r."""
    rest = SGR.sub("", text)
    return not any((ord(c) < 32 and c not in "\b\t\n\r") or 0x7F <= ord(c) <= 0x9F
                   for c in rest)


@pytest.fixture(scope="module")
def python() -> Iterator[Any]:
    with running_kernel("sandbox-python", {"timeout": "20"}) as kernel:
        yield kernel


def test_stream_text_keeps_colours_and_loses_terminal_commands(python: Any) -> None:
    _, kc = python
    cell = execute(kc, HOSTILE_PRINT + "\nimport sys; sys.stderr.write('\\x1b[2Jerr\\x1bc\\n')")
    assert cell.content["status"] == "ok", cell.outputs
    assert cell.text("stdout") == SAFE_PRINTED
    assert cell.text("stderr") == "err\n"


def test_error_fields_are_cleaned_and_bounded(python: Any) -> None:
    _, kc = python
    cell = execute(kc, EVIL_CLASS)
    assert cell.content["status"] == "error"
    for part in (cell.content, cell.error):
        assert part["ename"].startswith("EvilEvil"), part["ename"][:80]
        assert len(part["ename"].encode()) <= MAX_ENAME_BYTES
        assert only_safe(part["ename"]) and only_safe(part["evalue"])
        assert part["evalue"].startswith("boomvvv")
        assert len(part["evalue"].encode()) <= MAX_EVALUE_BYTES
        assert part["traceback"] and all(only_safe(line) for line in part["traceback"])
        assert any(SGR.search(line) for line in part["traceback"])  # IPython's colours stay


def test_a_value_and_a_display_keep_only_colours(python: Any) -> None:
    _, kc = python
    cell = execute(kc, "class R:\n    def __repr__(self):\n"
                       "        return '\\x1b]0;T\\x07\\x1b[32mgreen\\x1b[0m\\x1b[2J'\nR()")
    assert cell.value == "\x1b[32mgreen\x1b[0m"


def test_input_prompt_is_cleaned_and_bounded(python: Any) -> None:
    _, kc = python
    prompts: list[dict[str, Any]] = []

    def answer(msg: dict[str, Any]) -> None:
        prompts.append(msg["content"])
        kc.input("ok")

    cell = execute(kc, "print(input('\\x1b]52;c;aGk=\\x07' + 'p' * 3_000_000))",
                   allow_stdin=True, stdin_hook=answer)
    assert cell.content["status"] == "ok", cell.outputs
    assert cell.text("stdout") == "ok\n"
    (prompt,) = prompts
    assert len(prompt["prompt"].encode()) <= MAX_PROMPT_BYTES
    assert prompt["prompt"].startswith("ppp") and prompt["prompt"].endswith(PROMPT_MARKER)
    assert prompt["password"] is False


def test_magic_output_and_errors_are_cleaned() -> None:
    probe = KernelProbe()
    try:
        assert probe.execute("%load_ext sandbox_kernel").status == "ok"
        reply = probe.execute("%%sandbox python\n" + HOSTILE_PRINT)
        assert reply.status == "ok", reply
        assert reply.stdout == SAFE_PRINTED
        reply = probe.execute("%%sandbox python --session evil\n" + EVIL_CLASS)
        assert reply.status == "error" and reply.ename == "SandboxCellError"
        assert "EvilEvil" in reply.evalue and only_safe(reply.evalue)
        assert reply.traceback and all(only_safe(line) for line in reply.traceback)
        reply = probe.execute("%%sandbox python --session evil\n"
                              "print(input('\\x1b]52;c;aGk=\\x07' + 'p' * 10_000))",
                              answers=["typed"])
        assert reply.status == "ok" and reply.stdout.endswith("typed\n"), reply
        (prompt,) = reply.prompts
        assert len(prompt.encode()) <= MAX_PROMPT_BYTES and prompt.endswith(PROMPT_MARKER)
        assert prompt.startswith("ppp")
        probe.execute("%sandbox_stop evil")
    finally:
        probe.shutdown()


def test_mcp_text_results_are_cleaned() -> None:
    # The MCP tool's text result is built by shape_output from the run's ExecutionResult.
    sandbox = DockerSandbox(Limits(timeout=20))
    try:
        result = sandbox.run("python", HOSTILE_PRINT + "\nimport sys\n"
                             "sys.stderr.write('\\x1b]0;t\\x07e\\n')")
        with sandbox.session("python") as session:
            failed = session.execute(EVIL_CLASS)
    finally:
        sandbox.cleanup_all()
    shaped = shape_output(result)
    # An LLM reads it: plain text, not even colour (IPython's tracebacks would be noise).
    assert shaped["output"] == " red\tx\b\n" and shaped["error"] == "e\n"
    error = shape_output(failed)["error"]
    assert "EvilEvil" in error and only_safe(error) and "\x1b" not in error


def test_completions_are_cleaned(python: Any) -> None:
    # Path completion returns file names as they are; a console prints the matches.
    _, kc = python
    cell = execute(kc, "import os\nos.makedirs('/tmp/evil', exist_ok=True)\n"
                       "open('/tmp/evil/\\x1b]0;TITLE\\x07name\\x1b[2J', 'w').close()")
    assert cell.content["status"] == "ok", cell.outputs
    reply = kc.complete("open('/tmp/evil/", reply=True, timeout=30)["content"]
    assert reply["matches"], reply
    assert all(only_safe(match) and "\x1b" not in match for match in reply["matches"]), reply
    assert any("name" in match for match in reply["matches"]), reply
    details = reply["metadata"].get("_jupyter_types_experimental", [])
    assert all(only_safe(str(item.get("text", ""))) for item in details)
