"""Execute the demo notebooks in notebooks/ with real kernels and print what each cell showed.

This is the "main job" of the README's first command: it proves, on this machine, that the
sandbox kernels and the %%sandbox magic run code and report errors, timeouts and OOM.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def render_output(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return f"[{output['name']}] {output['text']}"
    if kind in ("execute_result", "display_data"):
        return f"[result] {output.get('data', {}).get('text/plain', '')}\n"
    if kind == "error":
        return f"[error] {output['ename']}: {output['evalue']}\n"
    return f"[{kind}]\n"


def run_notebook(path: Path) -> bool:
    notebook = nbformat.read(path, as_version=4)
    kernel = notebook.metadata.get("kernelspec", {}).get("name", "python3")
    print(f"\n=== {path.name}  (kernel: {kernel})")
    started = time.monotonic()
    client = NotebookClient(notebook, timeout=180, kernel_name=kernel,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()
        ok = True
    except Exception as exc:  # noqa: BLE001 - report and go on with the next notebook
        print(f"!!! {type(exc).__name__}: {str(exc)[-500:]}")
        ok = False
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        print(textwrap.indent(cell.source, "  >>> ", lambda _line: True))
        for output in cell.get("outputs", []):
            print(textwrap.indent(render_output(output).rstrip("\n"), "      "))
    print(f"--- {path.name}: {'ok' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s")
    return ok


def main() -> int:
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if not paths:
        print(f"no notebooks in {NOTEBOOKS}")
        return 1
    results = {path.name: run_notebook(path) for path in paths}
    print("\nsummary:")
    for name, ok in results.items():
        print(f"  {'ok    ' if ok else 'FAILED'}  {name}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
