"""``notebooks/ipython-idioms.ipynb`` gives the same outputs under ``sandbox-python`` as under a
native ipykernel (``python3``), apart from addresses, timings and image bytes (issue 12).

Both kernels run the notebook through nbclient. Outputs are compared after normalising what
legitimately differs: memory addresses, ``%timeit`` figures, the bytes of PNGs (matplotlib
versions differ), the formatting of tracebacks (IPython versions differ; the error's name and
message must match) and IPython's own file paths in warnings. The kernel reports a cell's error
when the cell is over, so the error is compared as the cell's last output.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kernel_support
import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "ipython-idioms.ipynb"
ADDRESS = re.compile(r"0x[0-9a-f]{6,16}")
IPYTHON_PATH = re.compile(r"\S*/IPython/core/(\w+\.py):\d+")
TIMING = re.compile(r"[\d.]+ \S+ ± [\d.]+ \S+ per loop")


def run(kernel_name: str, workdir: Path) -> list[Any]:
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    notebook = copy.deepcopy(notebook)
    client = NotebookClient(notebook, timeout=120, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute(env=kernel_support.kernel_env())
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def normalised(output: dict[str, Any]) -> dict[str, Any]:
    kind = output["output_type"]
    if kind == "stream":
        text = TIMING.sub("<timing>", ADDRESS.sub("<address>", output["text"]))
        text = IPYTHON_PATH.sub(r"IPython/core/\1", text)
        return {"stream": output["name"], "text": text.replace("\r\n", "\n")}
    if kind == "error":
        return {"error": output["ename"], "evalue": output["evalue"]}
    data = {mime: ("<image>" if mime.startswith("image/") else
                   ADDRESS.sub("<address>", value) if isinstance(value, str) else value)
            for mime, value in output["data"].items()}
    return {kind: data}


def merged(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive stream outputs of one stream joined (frontends show them as one)."""
    joined: list[dict[str, Any]] = []
    for output in map(normalised, outputs):
        if joined and "stream" in output and joined[-1].get("stream") == output["stream"]:
            joined[-1] = {**joined[-1], "text": joined[-1]["text"] + output["text"]}
        else:
            joined.append(output)
    return [o for o in joined if "error" not in o] + [o for o in joined if "error" in o]


def test_idioms_match_a_native_ipykernel(tmp_path: Path) -> None:
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "native").mkdir()
    sandbox = run("sandbox-python", tmp_path / "sandbox")
    native = run("python3", tmp_path / "native")
    assert len(sandbox) == len(native) > 20
    for ours, theirs in zip(sandbox, native, strict=True):
        assert merged(ours.outputs) == merged(theirs.outputs), ours.source
    # Not vacuous: the notebook exercises values, magics, displays, plots and errors.
    kinds = {kind for cell in sandbox for output in merged(cell.outputs) for kind in output}
    assert {"stream", "execute_result", "display_data", "error"} <= kinds
