"""Nothing a sandbox displays can run in the browser or load a URL (issue 12, point 3).

A notebook of ``sandbox-python`` cells, each making IPython in the sandbox send one payload of the
hostile corpus (``tests/corpus/hostile_outputs.py``: HTML, Markdown, SVG, LaTeX, ``_repr_*_``
methods, ``update_display`` on an id, metadata tricks, very long outputs), runs in JupyterLab in
headless Chromium. No payload may run script (the flag they all try to set stays unset, no dialog
opens) and the page may request no URL but the Jupyter server's; the legitimate outputs (a styled
HTML table, a matplotlib PNG, an SVG plot, Markdown with a table, LaTeX) still render.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import nbformat
from e2e_support import LOAD_TIMEOUT_MS, JupyterLab, Notebook, Screenshots
from playwright.sync_api import Locator, Page, expect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from corpus.hostile_outputs import PAYLOADS, Payload, as_code  # noqa: E402

LEGIT = Path(__file__).resolve().parents[1] / "corpus" / "legit"
RUN_ALL_TIMEOUT_MS = 240_000

LEGIT_CELLS = [
    ("styled-table", "from IPython.display import HTML, display\n"
                     f"display(HTML({(LEGIT / 'dataframe_styled.html').read_text()!r}))"),
    ("matplotlib-png", "import matplotlib.pyplot as plt\nplt.plot(range(1000));"),
    ("svg-plot", "from IPython.display import SVG, display\n"
                 f"display(SVG({(LEGIT / 'plot.svg').read_text()!r}))"),
    ("markdown-table", "from IPython.display import Markdown, display\n"
                       "display(Markdown('| a | b |\\n|---|---|\\n| 1 | 2 |'))"),
    ("latex", "from IPython.display import Math, display\ndisplay(Math(r'\\frac{a}{b} + x^2'))"),
]


def payload_cell(payload: Payload) -> str:
    """The payload's code; one that IPython itself refuses (a malformed bundle) must not stop
    the notebook, so it runs in ``try`` (a value for ``execute_result`` must stay top-level)."""
    code = as_code(payload)
    if payload.msg_type == "execute_result":
        return code
    return ("try:\n" + textwrap.indent(code, "    ")
            + "except Exception as exc:\n    print('IPython refused it:', type(exc).__name__)\n")


def corpus_notebook(root: Path) -> Path:
    cells = [nbformat.v4.new_code_cell(payload_cell(p), metadata={"name": p.name})
             for p in PAYLOADS]
    cells += [nbformat.v4.new_code_cell(code, metadata={"name": name})
              for name, code in LEGIT_CELLS]
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "sandbox-python", "display_name": "Sandbox (Python)",
                       "language": "python"}})
    path = root / "corpus.ipynb"
    nbformat.write(notebook, path)
    return path


def test_hostile_outputs_do_nothing_in_the_browser(
    page: Page, lab: JupyterLab, shot: Screenshots
) -> None:
    assert len(PAYLOADS) >= 40
    path = corpus_notebook(lab.root)
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"{lab.url}/lab/tree/{path.name}?token={lab.token}", wait_until="domcontentloaded",
              timeout=LOAD_TIMEOUT_MS)
    nb = Notebook(page)
    expect(nb.panel).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    nb.wait_idle(LOAD_TIMEOUT_MS)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    last = len(PAYLOADS) + len(LEGIT_CELLS) - 1
    nb.wait_done(last, RUN_ALL_TIMEOUT_MS)
    nb.wait_idle()
    page.wait_for_timeout(2000)  # late loads, MathJax typesetting
    shot("corpus-ran")

    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == []
    foreign = [url for url in requests
               if not url.startswith((lab.url, "data:", "blob:", "about:"))]
    assert foreign == []

    def output(name: str) -> Locator:
        index = len(PAYLOADS) + next(i for i, (n, _) in enumerate(LEGIT_CELLS) if n == name)
        nb.cell(index).scroll_into_view_if_needed()  # the notebook renders cells in view only
        return nb.outputs(index)

    expect(output("styled-table").locator("table")).to_have_count(1)
    png = output("matplotlib-png").locator('img[src^="data:image/png"]')
    expect(png).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth > 100",
                           arg=png.element_handle())
    expect(output("svg-plot").locator('svg, img[src^="data:image/svg+xml"]')).not_to_have_count(0)
    expect(output("markdown-table").locator("table td")).to_have_count(2)
    expect(output("latex").locator("mjx-container, .MathJax")).not_to_have_count(0)
    shot("legit-outputs")
