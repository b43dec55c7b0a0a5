"""The notebooks in notebooks/ that use a sandbox kernel run to the end, with the outputs they
promise (the README's main job runs the same notebooks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kernel_support
import nbformat
import pytest
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

from sandbox_kernel.jupyter.specs import KERNEL_NAMES

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def sandbox_notebooks() -> list[Path]:
    """Every notebook whose kernel is one of ours (others, e.g. the magic's, are tested apart)."""
    found = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        kernel = notebook.metadata.get("kernelspec", {}).get("name")
        if kernel in KERNEL_NAMES:
            found.append(path)
    return found


def outputs(cell: Any, kind: str) -> list[dict[str, Any]]:
    return [o for o in cell.get("outputs", []) if o["output_type"] == kind]


def text(cell: Any, name: str) -> str:
    return "".join(o["text"] for o in outputs(cell, "stream") if o["name"] == name)


def value(cell: Any) -> str:
    results = outputs(cell, "execute_result")
    assert len(results) == 1, cell
    return str(results[0]["data"]["text/plain"])


def error(cell: Any) -> dict[str, Any]:
    errors = outputs(cell, "error")
    assert len(errors) == 1, cell
    return errors[0]


def check_demo_python(cells: list[Any]) -> None:
    assert text(cells[0], "stdout").startswith("Python 3.")
    assert value(cells[2]) == "'hello Ada, visitor number 1'"
    assert value(cells[3]) == "'hello Grace, visitor number 2'"
    assert text(cells[4], "stdout") == "step 0\nstep 1\nstep 2\n"
    assert text(cells[4], "stderr") == "something went sideways\n"
    assert "notes.txt" in value(cells[5])
    assert value(cells[6]) == "'kept between cells'"
    assert value(cells[7]) == "{'squares': [0, 1, 4, 9, 16, 25], 'visits': 2}"


def check_demo_bash(cells: list[Any]) -> None:
    assert text(cells[0], "stdout").startswith("bash 5")
    assert text(cells[2], "stdout") == "hello, world\nstill in /tmp\n"
    assert text(cells[3], "stdout") == "line 1\nline 2\nline 3\n"
    assert text(cells[3], "stderr") == "a warning\n"
    assert text(cells[4], "stdout").startswith("kept between cells\n")
    assert text(cells[5], "stdout") == "1\n"


def check_demo_node(cells: list[Any]) -> None:
    assert text(cells[0], "stdout").startswith("Node v")
    assert value(cells[2]) == "'hello Ada, visitor number 1'"
    assert value(cells[3]) == "'hello Grace, visitor number 2'"
    assert text(cells[4], "stdout") == "step 0\nstep 1\nstep 2\n"
    assert text(cells[4], "stderr") == "something went sideways\n"
    assert value(cells[5]) == "'kept between cells'"
    assert value(cells[6]) == "{ squares: [ 0, 1, 4, 9, 16, 25 ], visits: 2 }"


def check_errors_timeouts_oom(cells: list[Any]) -> None:
    assert value(cells[0]) == "'state from an early cell'"
    exception = error(cells[1])
    assert (exception["ename"], exception["evalue"]) == ("ZeroDivisionError", "division by zero")
    assert any("ratio" in line for line in exception["traceback"])

    timeout = error(cells[2])
    assert timeout["ename"] == "TimeoutError"
    assert "timed out after 2 s" in timeout["evalue"] and "state was kept" in timeout["evalue"]
    assert text(cells[2], "stdout").startswith("working... 0\n")
    assert value(cells[3]) == "'state from an early cell'"

    oom = error(cells[4])
    assert oom["ename"] == "OutOfMemoryError"
    assert "out of memory, limit 256 MiB" in oom["evalue"]
    assert "exit status 137" in oom["evalue"]
    assert text(cells[5], "stdout") == "False\n"
    assert "The sandbox was restarted (killed: out of memory" in text(cells[5], "stderr")

    exited = error(cells[6])
    assert exited["ename"] == "SandboxExit" and "exit status 3" in exited["evalue"]
    assert text(cells[7], "stdout") == "back in a fresh sandbox\n"
    assert "exit status 3" in text(cells[7], "stderr")


CHECKS: dict[str, Callable[[list[Any]], None]] = {
    "demo-python.ipynb": check_demo_python,
    "demo-bash.ipynb": check_demo_bash,
    "demo-node.ipynb": check_demo_node,
    "errors-timeouts-oom.ipynb": check_errors_timeouts_oom,
}


def test_the_demo_notebooks_are_all_here() -> None:
    assert {p.name for p in sandbox_notebooks()} >= set(CHECKS)


@pytest.mark.parametrize("path", sandbox_notebooks(), ids=lambda p: p.name)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(notebook, timeout=120, kernel_name=notebook.metadata.kernelspec.name,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=kernel_support.kernel_env())
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for cell in cells:
        expects_error = "raises-exception" in cell.metadata.get("tags", [])
        errors = outputs(cell, "error")
        assert len(errors) == (1 if expects_error else 0), cell
        for err in errors:
            assert err["ename"] and err["evalue"] and err["traceback"], err
    check = CHECKS.get(path.name)
    if check is not None:
        check(cells)


def test_output_after_the_last_cell_is_sent_under_it_for_a_batch_runner(tmp_path: Path) -> None:
    """nbclient reads a cell's messages up to its idle status and shuts the kernel down after the
    last cell: output that a timer prints later is never read, by design (with ipykernel too).
    The kernel does publish it, under the cell that started the timer: a runner that goes on
    reading iopub (here nbclient's own message handling, after its last cell) saves it there."""
    notebook = nbformat.v4.new_notebook(  # type: ignore[no-untyped-call]
        cells=[nbformat.v4.new_code_cell("x = 1"),  # type: ignore[no-untyped-call]
               nbformat.v4.new_code_cell(  # type: ignore[no-untyped-call]
                   "import threading\n"
                   "threading.Timer(0.5, lambda: print('late', flush=True)).start()")],
        metadata={"kernelspec": {"name": "sandbox-python", "display_name": "Sandbox (Python)",
                                 "language": "python"}})
    msg_ids: dict[int, str] = {}

    def executed(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        msg_ids[cell_index] = execute_reply["parent_header"]["msg_id"]

    client = NotebookClient(notebook, timeout=60, kernel_name="sandbox-python",
                            resources={"metadata": {"path": str(tmp_path)}},
                            on_cell_executed=executed)
    last = len(notebook.cells) - 1
    with client.setup_kernel(env=kernel_support.kernel_env()):
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        assert text(notebook.cells[last], "stdout") == ""  # nbclient saw the idle before it
        assert client.kc is not None
        get_iopub_msg = run_sync(client.kc.get_iopub_msg)
        deadline = time.monotonic() + 3
        while text(notebook.cells[last], "stdout") != "late\n":
            msg = get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_ids[last]:
                client.process_message(msg, notebook.cells[last], last)
    saved = tmp_path / "late.ipynb"
    nbformat.write(notebook, saved)  # type: ignore[no-untyped-call]
    cells = nbformat.read(saved, as_version=4).cells  # type: ignore[no-untyped-call]
    assert text(cells[last], "stdout") == "late\n"
    assert text(cells[0], "stdout") == ""
