"""Output safety in the browser: hostile outputs of sandboxed cells run no script and load nothing.

JupyterLab trusts the outputs a notebook produces while it runs: a ``text/html`` output of the
running kernel is rendered without JupyterLab's sanitizer and its scripts run with the user's
Jupyter token. So this test is the output policy's proof where it matters, in a real JupyterLab in
Debian's chromium, with the real ``sandbox-python`` kernel and real containers:

- ``test_hostile_outputs_run_no_script_and_load_nothing``: a generated notebook has one cell per
  payload of :data:`corpus.hostile_outputs.PAYLOADS` (HTML, Markdown, SVG, LaTeX, ``_repr_*_``
  methods, ``update_display`` on an id, metadata tricks, very long outputs), each made by
  :func:`corpus.hostile_outputs.as_code` and run in the sandbox with "Run All Cells". Then no
  script ran (``window.__pwned`` is unset in every frame, ``alert``/``confirm``/``prompt`` were
  never called and no dialog opened), the page requested no URL outside the Jupyter server's
  origin (every request of the browser context is recorded and anything else is aborted), and the
  rendered DOM of every output holds no active content by the independent checker
  :func:`corpus.checks.active_content`.
- ``test_legitimate_outputs_render``: a pandas DataFrame (plain and styled), a matplotlib PNG, a
  matplotlib SVG, Markdown with a table and LaTeX still render as a person expects.

Screenshots go to ``artifacts/e2e/<test name>/``.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import time
import urllib.parse
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nbformat
import pytest
from corpus.checks import active_content
from corpus.hostile_outputs import PAYLOADS, Payload, as_code
from e2e_support import (
    LOAD_TIMEOUT_MS,
    UI_TIMEOUT_MS,
    JupyterLab,
    Notebook,
    Screenshots,
)
from playwright.sync_api import Dialog, Page, Request, Route, expect

# The whole notebook, sandbox start included, on a loaded 2-core machine.
RUN_ALL_TIMEOUT_MS = 300_000
# Cells whose code would be bigger than this carry it compressed (5 MiB of "A" is a 5 KiB cell).
INLINE_CODE_MAX = 8_000
# How the output policy's notes start (sandbox_kernel.output_policy.NOTE_PREFIX).
NOTE = "[sandbox-kernel] "
# Set by the init script when anything calls a dialog function; every payload's script sets it.
PWNED = "__pwned"

# In every frame, before any page script: every value a script gives the flag is kept (it reads
# back as their list), and a dialog function that is called sets the flag too (the native dialog
# still opens, so the page's "dialog" event records it as well).
INIT_SCRIPT = f"""
(() => {{
  const values = [];
  Object.defineProperty(window, "{PWNED}", {{
    get: () => values.length ? values.join(", ") : undefined,
    set: value => {{ values.push(String(value)); }},
  }});
  for (const name of ["alert", "confirm", "prompt", "print"]) {{
    const original = window[name];
    window[name] = function (...args) {{
      window.{PWNED} = "called " + name;
      return original.apply(this, args);
    }};
  }}
}})();
"""

# The outputs of a finished notebook: per cell, each rendered output as the checker should see
# it. The checker flags some markup that is the frontend's own, not the output's; it is removed
# from a copy first: MathJax 3 adds a hidden <math> copy of each formula for screen readers
# (<mjx-assistive-mml>), and JupyterLab's JSON viewer (React, which puts the JSON's keys and values
# in text nodes only) has a search <input> and inline styles of its theme.
COLLECT_OUTPUTS = """
nb => Array.from(nb.querySelectorAll(".jp-Notebook .jp-Cell")).map(cell => ({
  prompt: (cell.querySelector(".jp-InputArea-prompt") || {}).textContent || "",
  outputs: Array.from(cell.querySelectorAll(".jp-OutputArea-output")).map(output => {
    const copy = output.cloneNode(true);
    copy.querySelectorAll("mjx-assistive-mml").forEach(e => e.remove());
    if (copy.classList.contains("jp-RenderedJSON")) {
      copy.querySelectorAll(".jp-InputGroup").forEach(e => e.remove());
      copy.querySelectorAll("[style]").forEach(e => e.removeAttribute("style"));
    }
    return {
      mime: output.getAttribute("data-mime-type") || "",
      classes: output.className,
      typeset: output.querySelectorAll("mjx-container").length,
      html: copy.innerHTML,
    };
  }),
}))
"""
# Renderers that show text as text: MathJax never typesets them, so TeX macros in their text
# (the policy's notes name the macro they refused) are only text.
TEXT_RENDERERS = {
    "application/vnd.jupyter.stderr", "application/vnd.jupyter.stdout", "text/plain"}
# JupyterLab shows image/svg+xml as an <img> with a data:image/svg+xml URI; its SVG is checked as
# the document it is.
SVG_IMG = re.compile(r'<img src="(data:image/svg\+xml,[^"]*)"')


def hostile_payloads() -> list[Payload]:
    """The corpus, each would-be script written as setting :data:`PWNED` or calling a dialog."""
    return [replace(p, data=_pwn(p.data)) if isinstance(p.data, dict) else p for p in PAYLOADS]


def _pwn(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("alert(1)", f"window.{PWNED}=1")
    if isinstance(value, dict):
        return {key: _pwn(item) for key, item in value.items()}
    return value


def cell_code(payload: Payload) -> str:
    """``as_code(payload)`` as a notebook cell, compressed when it is big (INLINE_CODE_MAX)."""
    code = as_code(payload)
    if len(code) > INLINE_CODE_MAX:
        assert payload.msg_type != "execute_result", "an exec'd cell has no Out value"
        packed = base64.b64encode(zlib.compress(code.encode("utf-8", "surrogatepass"), 9))
        code = ("import base64, zlib\nexec(zlib.decompress(base64.b64decode(\n"
                f"    {packed.decode()!r})).decode('utf-8', 'surrogatepass'))\n")
    return f"# payload: {payload.name}\n{code}"


def write_notebook(path: Path, cells: list[str], kernel: str = "sandbox-python") -> None:
    """A sandbox-python notebook of ``cells``, each tagged ``raises-exception`` so that a cell
    that fails (some payloads are refused by IPython itself) does not stop "Run All Cells"."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(code, metadata={"tags": ["raises-exception"]})
                      for code in cells]
    nbformat.write(notebook, path)


@dataclass
class Watch:
    """Everything the browser context requested, what left the server's origin (aborted),
    every dialog and every new window."""

    origin: str
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    popups: list[str] = field(default_factory=list)

    def allowed(self, url: str) -> bool:
        if url.startswith(("data:", "blob:")):
            return True
        parts = urllib.parse.urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)
        if not self.allowed(request.url):
            self.foreign.append(request.url[:200])

    def on_route(self, route: Route) -> None:
        if self.allowed(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def on_page(self, page: Page) -> None:
        self.popups.append(page.url[:200])

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message[:200]}")
        dialog.dismiss()


@pytest.fixture(scope="module", autouse=True)
def every_cell_rendered(lab: JupyterLab) -> None:
    """JupyterLab 4 skips the rendering of notebook cells out of view by default (windowing mode
    "contentVisibility"); here every cell is attached and rendered as if on screen ("none"), so
    each payload meets the browser as a person scrolling through the notebook would let it."""
    settings = (Path(lab.env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "notebook-extension"
                / "tracker.jupyterlab-settings")
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"windowingMode": "none"}))


@pytest.fixture
def watch(page: Page, lab: JupyterLab) -> Iterator[Watch]:
    """Installed before the page loads anything: the init script, the request log, the route
    that aborts foreign requests, the dialog recorder."""
    watch = Watch(origin=lab.url)
    page.context.add_init_script(INIT_SCRIPT)
    page.context.on("request", watch.on_request)
    page.context.route("**/*", watch.on_route)
    page.on("dialog", watch.on_dialog)
    page.context.on("page", watch.on_page)  # a window.open() or target=_blank
    yield watch


def open_notebook(
    page: Page, lab: JupyterLab, name: str, kernel: str = "Sandbox (Python)"
) -> Notebook:
    """Open ``name`` (in the server's root) in a fresh workspace; wait for its idle kernel."""
    url = (f"{lab.url}/lab/workspaces/e2e-{secrets.token_hex(4)}/tree/{name}"
           f"?reset&token={lab.token}")
    page.goto(url, wait_until="domcontentloaded", timeout=LOAD_TIMEOUT_MS)
    notebook = Notebook(page)
    expect(notebook.panel).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    expect(notebook.kernel_name()).to_have_text(kernel, timeout=LOAD_TIMEOUT_MS)
    notebook.wait_idle(LOAD_TIMEOUT_MS)
    return notebook


def run_all(page: Page, notebook: Notebook, cells: int) -> float:
    """"Run All Cells" from the Run menu; wait until every cell has its execution count and the
    kernel is idle. Returns the seconds it took."""
    start = time.monotonic()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click(
        timeout=UI_TIMEOUT_MS)
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click(
        timeout=UI_TIMEOUT_MS)
    prompts = notebook.panel.locator(".jp-Notebook .jp-Cell .jp-InputArea-prompt")
    expect(prompts).to_have_count(cells, timeout=UI_TIMEOUT_MS)
    expect(prompts.last).to_have_text(re.compile(r"\[\d+\]"), timeout=RUN_ALL_TIMEOUT_MS)
    notebook.wait_idle(RUN_ALL_TIMEOUT_MS)
    return time.monotonic() - start


def collect_outputs(notebook: Notebook) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = notebook.panel.evaluate(COLLECT_OUTPUTS)
    return result


def output_problems(output: dict[str, Any]) -> list[str]:
    """:func:`active_content` of one rendered output (see COLLECT_OUTPUTS, TEXT_RENDERERS,
    SVG_IMG)."""
    markup = output["html"]
    problems: list[str] = []
    for match in SVG_IMG.finditer(markup):
        svg = urllib.parse.unquote(html.unescape(match.group(1)).split(",", 1)[1])
        problems.extend(f"in an SVG image: {p}" for p in active_content(svg))
    problems.extend(active_content(SVG_IMG.sub('<img src="#svg">', markup)))
    if output["mime"] in TEXT_RENDERERS:
        if output["typeset"]:
            problems.append(f"MathJax typeset a {output['mime']} output")
        problems = [p for p in problems if not p.startswith("MathJax macro")]
    return problems


def flags_in_frames(page: Page) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    for frame in page.frames:
        try:
            value = frame.evaluate(f"() => window.{PWNED}")
        except Exception as exc:  # a frame that went away holds no flag any more
            value = f"(not readable: {exc.__class__.__name__})"
        if value is not None:
            flags[frame.url[:120]] = value
    return flags


def test_hostile_outputs_run_no_script_and_load_nothing(
    page: Page, lab: JupyterLab, shot: Screenshots, watch: Watch
) -> None:
    payloads = hostile_payloads()
    assert len(payloads) >= 40
    write_notebook(lab.root / "hostile.ipynb", [cell_code(p) for p in payloads])

    notebook = open_notebook(page, lab, "hostile.ipynb")
    seconds = run_all(page, notebook, len(payloads))
    print(f"{len(payloads)} hostile cells ran in {seconds:.1f} s")
    # Give anything delayed (load events, MathJax typesetting, meta refresh) time to happen.
    page.wait_for_timeout(3_000)
    shot("hostile-top")

    skipped = notebook.panel.locator(".jp-Notebook .jp-Cell").evaluate_all(
        "cells => cells.filter(c => getComputedStyle(c).contentVisibility !== 'visible').length")
    assert skipped == 0, f"{skipped} cells are not rendered (windowing)"
    cells = collect_outputs(notebook)
    assert len(cells) == len(payloads)
    (shot.directory / "outputs.json").write_text(json.dumps(
        {p.name: c for p, c in zip(payloads, cells, strict=True)}, indent=1)[:50_000_000])
    problems: dict[str, list[str]] = {}
    unseen: dict[str, str] = {}
    for payload, cell in zip(payloads, cells, strict=True):
        assert re.fullmatch(r"\[\d+\]:", cell["prompt"].strip()), (payload.name, cell["prompt"])
        found = [p for output in cell["outputs"] for p in output_problems(output)]
        if found:
            problems[payload.name] = found
        why = unseen_reason(payload, cell["outputs"])
        if why:
            unseen[payload.name] = why
    for name in ("script", "img-remote", "md-image-remote", "svg-image-remote", "latex-href"):
        notebook.cell(next(i for i, p in enumerate(payloads) if p.name == name)) \
            .scroll_into_view_if_needed(timeout=UI_TIMEOUT_MS)
        shot(f"hostile-{name}")

    # Safety: nothing ran, nothing was fetched, nothing active is in the page.
    assert not watch.dialogs, f"a dialog opened: {watch.dialogs}"
    assert not watch.popups, f"a window opened: {watch.popups}"
    assert not flags_in_frames(page), f"script ran: {flags_in_frames(page)}"
    assert not watch.foreign, f"requests outside {watch.origin}: {watch.foreign}"
    assert watch.requests and all(watch.allowed(url) for url in watch.requests)
    assert not problems, "active content in the rendered outputs:\n" + json.dumps(
        problems, indent=1)[:20_000]
    # Visibility: every payload reached the policy, and what it dropped the user is told.
    assert not unseen, "payloads the user does not see handled:\n" + json.dumps(unseen, indent=1)
    # update_display_data replaced the output of its display id in place.
    updated = cells[next(i for i, p in enumerate(payloads) if p.name == "update-display-script")]
    assert [o["mime"] for o in updated["outputs"]] == ["text/html"], updated["outputs"]


def unseen_reason(payload: Payload, outputs: list[dict[str, Any]]) -> str | None:
    """Why the user cannot see what became of ``payload``, or ``None``: the cell failed in the
    sandbox (so the payload never reached the policy), shows nothing at all, or the policy
    dropped something (``payload.notes``) without its visible note on the cell's stderr."""
    if any("Traceback" in output["html"] for output in outputs):
        return "the cell failed in the sandbox"
    if not outputs:
        return "the cell shows nothing at all"
    if payload.notes and not any(
        output["mime"] == "application/vnd.jupyter.stderr" and NOTE in output["html"]
        for output in outputs
    ):
        return "something was dropped without a visible note"
    return None


# The harness's own proof: the same payloads, displayed by the native ipykernel (no policy), must
# trip every detector, else the test above could pass by not looking.
CONTROL = ["img-onerror", "img-remote", "mime-javascript", "md-image-remote"]


def test_detectors_catch_an_unpoliced_kernel(
    page: Page, lab: JupyterLab, shot: Screenshots, watch: Watch
) -> None:
    payloads = [p for p in hostile_payloads() if p.name in CONTROL]
    cells = [cell_code(p) for p in payloads]
    cells.append("from IPython.display import HTML\nHTML('<img src=x onerror=\"alert(7)\">')")
    write_notebook(lab.root / "control.ipynb", cells, kernel="python3")
    notebook = open_notebook(page, lab, "control.ipynb", kernel="Python 3 (ipykernel)")
    run_all(page, notebook, len(cells))
    page.wait_for_timeout(2_000)
    shot("unpoliced")

    assert watch.dialogs == ["alert: 7"], watch.dialogs
    flags = ", ".join(str(value) for value in flags_in_frames(page).values()).split(", ")
    assert "1" in flags and "called alert" in flags, f"a detector is blind: {flags}"
    assert any(url.startswith("https://evil.example/") for url in watch.foreign), watch.foreign
    outputs = collect_outputs(notebook)
    for payload, cell in zip(payloads, outputs, strict=False):
        found = [p for output in cell["outputs"] for p in output_problems(output)]
        if payload.name != "mime-javascript":  # its script leaves no markup behind
            assert found, f"{payload.name}: the checker saw nothing in {cell['outputs']}"


# -- legitimate outputs --------------------------------------------------------------------------

# A pandas Styler's HTML, made by tests/corpus/legit/make_fixtures.py (the image has pandas but
# not jinja2, which Styler needs): its colours are rules of a <style> element, which the policy
# drops, so only its table is asserted. Styling the policy keeps is in style attributes: INLINE.
LEGIT = Path(__file__).parents[1] / "corpus" / "legit"
STYLER = (LEGIT / "dataframe_styled.html").read_text()
INLINE = (
    '<table><caption>Inline</caption><tr><th style="text-align: left">name</th>'
    '<th style="text-align: right">value</th></tr>'
    '<tr><td>alpha</td><td style="background-color: #045d92; color: #f1f1f1">1.5</td></tr>'
    '<tr><td>beta</td><td style="background-color: #fff7fb; color: #000000;'
    ' font-weight: bold; border: 2px solid rgb(200, 0, 0)">2.25</td></tr></table>'
)
LEGIT_CELLS = {
    "dataframe": ("import pandas as pd\n"
                  "pd.DataFrame({'name': ['alpha', 'beta', 'gamma'], 'value': [1.5, 2.25, -3.0]})"),
    "styler": f"from IPython.display import HTML\nHTML({STYLER!r})",
    "inline": f"HTML({INLINE!r})",
    "png": ("%matplotlib inline\nimport numpy as np\nimport matplotlib.pyplot as plt\n"
            "x = np.linspace(0, 10, 200)\nplt.plot(x, np.sin(x), label='sin')\n"
            "plt.title('PNG plot')\nplt.legend()\nplt.show()"),
    "svg": ("%config InlineBackend.figure_formats = ['svg']\n"
            "plt.plot(x, np.cos(x), color='green')\nplt.title('SVG plot')\nplt.show()"),
    "markdown": ("from IPython.display import Markdown\nMarkdown('## Results\\n\\n"
                 "| name | value |\\n|---|---|\\n| alpha | 1.5 |\\n| beta | 2.25 |\\n\\n"
                 "*emphasis* and [a link](https://example.org/)')"),
    "latex": ("from IPython.display import Latex\n"
              "Latex(r'$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$')"),
}


def test_legitimate_outputs_render(
    page: Page, lab: JupyterLab, shot: Screenshots, watch: Watch
) -> None:
    names = list(LEGIT_CELLS)
    write_notebook(lab.root / "legit.ipynb", list(LEGIT_CELLS.values()))
    notebook = open_notebook(page, lab, "legit.ipynb")
    run_all(page, notebook, len(names))

    def output(name: str) -> Any:
        return notebook.cell(names.index(name)).locator(".jp-OutputArea-output")

    # pandas: the DataFrame's table, and the Styler's table with its cells' background colours.
    table = output("dataframe").locator("table")
    expect(table).to_be_visible()
    expect(table.locator("td")).to_have_count(6)
    expect(table).to_contain_text("gamma")
    styler = output("styler").locator("table")
    expect(styler).to_be_visible()
    expect(styler.locator("caption")).to_have_text("Styled")
    expect(styler.locator("td")).to_have_count(9)
    inline = output("inline").locator("td")
    expect(inline).to_have_count(4)
    styles = inline.evaluate_all("cells => cells.map(c => {const s = getComputedStyle(c);"
                                 " return [s.backgroundColor, s.color, s.fontWeight]})")
    assert styles[1][:2] == ["rgb(4, 93, 146)", "rgb(241, 241, 241)"], styles
    assert styles[3] == ["rgb(255, 247, 251)", "rgb(0, 0, 0)", "700"], styles
    shot("dataframes")

    # matplotlib PNG: an image the browser decoded.
    png = output("png").locator('img[src^="data:image/png"]')
    expect(png).to_be_visible()
    assert png.evaluate("img => img.complete && img.naturalWidth > 0 && img.naturalHeight > 0")

    # matplotlib SVG: JupyterLab shows image/svg+xml as an <img> of the SVG document; the
    # browser decoded it, and the document is the plot (an <svg> with paths).
    svg = output("svg").locator('img[src^="data:image/svg+xml"]')
    expect(svg).to_be_visible()
    notebook.cell(names.index("svg")).scroll_into_view_if_needed()
    assert svg.evaluate("img => img.complete && img.naturalWidth > 0 && img.naturalHeight > 0")
    document = urllib.parse.unquote((svg.get_attribute("src") or "").split(",", 1)[1])
    assert "<svg" in document and document.count("<path") >= 5, document[:300]
    shot("plots")

    # Markdown: a heading, a table, emphasis and a link that stays a link.
    markdown = output("markdown")
    expect(markdown.locator("h2")).to_have_text(re.compile("Results"))
    expect(markdown.locator("table td")).to_have_count(4)
    expect(markdown.locator("em")).to_have_text("emphasis")
    expect(markdown.locator('a[href="https://example.org/"]')).to_have_count(1)

    # LaTeX: typeset by MathJax.
    latex = output("latex").locator("mjx-container")
    expect(latex).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    notebook.cell(names.index("latex")).scroll_into_view_if_needed()
    shot("markdown-latex")

    stderr = notebook.panel.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
    assert stderr.count() == 0, f"notes or errors: {stderr.all_inner_texts()}"
    assert not watch.dialogs and not watch.popups and not flags_in_frames(page)
    assert not watch.foreign, f"requests outside {watch.origin}: {watch.foreign}"
