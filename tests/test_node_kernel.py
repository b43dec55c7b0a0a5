"""The Node.js kernel behaves like Node's REPL (issue 15): a real sandbox-node kernel through
jupyter_client, cells run in a real container."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kernel_support import Cell, Kernel, execute, is_complete, running_kernel


@pytest.fixture(scope="module")
def node() -> Iterator[Kernel]:
    with running_kernel("sandbox-node", {"timeout": "20"}) as kernel:
        yield kernel


def ok(cell: Cell) -> Cell:
    assert cell.content["status"] == "ok", cell.outputs
    return cell


def test_top_level_await_and_dynamic_import(node: Kernel) -> None:
    _, kc = node
    assert ok(execute(kc, "await Promise.resolve(5)")).value == "5"
    assert ok(execute(kc, "const os = await import('os'); typeof os.cpus")).value == "'function'"
    assert ok(execute(kc, "(await import('path')).sep")).value == "'/'"
    # Not awaited, the import is a promise, as in Node's REPL.
    assert str(ok(execute(kc, "import('os')")).value).startswith("Promise")


def test_let_const_and_class_can_be_declared_again(node: Kernel) -> None:
    _, kc = node
    ok(execute(kc, "let a = 1; const c = 1; class K {}"))
    assert ok(execute(kc, "let a = 2; const c = 3; class K { get v() { return 7 } }; a + c")
              ).value == "5"
    assert ok(execute(kc, "new K().v")).value == "7"


def test_rejection_during_the_cell_fails_it_without_driver_frames(node: Kernel) -> None:
    _, kc = node
    cell = execute(kc, "Promise.reject(new Error('boom')); 'after'")
    assert cell.content["status"] == "error", cell.outputs
    assert cell.content["evalue"] == "boom"
    assert cell.value is None
    trace = "\n".join(cell.content["traceback"])
    assert "node:" not in trace and "sandbox-kernel" not in trace and "[eval]" not in trace
    assert ok(execute(kc, "1 + 1")).text("stderr") == ""  # nothing left for the next cell


def test_promise_callbacks_print_under_their_own_cell(node: Kernel) -> None:
    _, kc = node
    cell = ok(execute(kc, "Promise.resolve().then(() => console.log('later'))"))
    assert cell.text("stdout") == "later\n"


def test_output_before_process_exit_arrives_whole(node: Kernel) -> None:
    _, kc = node
    cell = execute(kc, "process.stdout.write('x'.repeat(300000) + 'END\\n'); process.exit(0)")
    out = cell.text("stdout")
    assert out.endswith("END\n"), len(out)
    assert len(out) == 300_004
    assert cell.metadata["truncated"] is False


def test_driver_names_do_not_show(node: Kernel) -> None:
    _, kc = node
    keys = ok(execute(kc, "Object.getOwnPropertyNames(globalThis).filter((k) => "
                          "/sandbox|TOKEN|nonce|send|pump|runCell/i.test(k))")).value
    assert keys == "[]"
    cell = execute(kc, "function f() { throw new Error('deep') }\nf()")
    trace = "\n".join(cell.content["traceback"])
    assert "at f " in trace and "runCell" not in trace and "node:" not in trace


def test_readline_input_through_the_stdin_channel(node: Kernel) -> None:
    _, kc = node
    requests: list[dict[str, Any]] = []

    def answer(msg: dict[str, Any]) -> None:
        requests.append(msg["content"])
        kc.input("Ada")

    code = ("const rl = require('readline').createInterface({ input: process.stdin });\n"
            "const name = await new Promise((r) => rl.question('name? ', r)); rl.close();\n"
            "`got [${name}]`")
    cell = ok(execute(kc, code, allow_stdin=True, stdin_hook=answer))
    assert cell.value == "'got [Ada]'"
    assert len(requests) == 1
    # Without stdin, reading ends at once; the next cells are not disturbed.
    code = ("const lines = [];\n"
            "for await (const l of require('readline').createInterface({ input: process.stdin }))"
            " lines.push(l);\nlines.length")
    assert ok(execute(kc, code, timeout=30)).value == "0"
    assert ok(execute(kc, "6 * 7")).value == "42"


def test_introspection_sees_cell_bindings(node: Kernel) -> None:
    _, kc = node
    ok(execute(kc, "const table = { alpha: 1, beta: 2 };\nfunction greet(who) { return who }"))
    reply = kc.complete("table.al", 8, reply=True)["content"]
    assert reply["matches"] == ["alpha"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (6, 8)
    assert "table" in kc.complete("tab", 3, reply=True)["content"]["matches"]
    found = kc.inspect("greet", 5, reply=True)["content"]
    assert found["found"] is True
    assert "function greet(who)" in found["data"]["text/plain"]
    assert is_complete(kc, "if (table) {")["status"] == "incomplete"
