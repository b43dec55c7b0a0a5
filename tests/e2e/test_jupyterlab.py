"""JupyterLab end to end in headless chromium: the launcher, sandbox notebooks, the magic.

Every assertion is on what the browser renders. Screenshots of each step are kept in
``artifacts/e2e/<test name>/`` (see README, Tests).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from e2e_support import (
    CELL_TIMEOUT_MS,
    REPO,
    SANDBOX_KERNELS,
    JupyterLab,
    Notebook,
    Screenshots,
    launcher_card,
    open_lab,
)
from playwright.sync_api import Page, expect

LOGOS = ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg")

# Prints a counter every 0.2 s for 10 minutes, unless interrupted.
LOOP = """\
import time
for i in range(1, 3001):
    counter = i
    print(f"tick {i}", flush=True)
    time.sleep(0.2)
"""


def test_server_sees_the_venv_kernelspecs(lab: JupyterLab) -> None:
    """Exactly the venv's kernelspecs, installed from this checkout's ``kernelspec/``."""
    served = lab.api("/api/kernelspecs")["kernelspecs"]
    assert set(served) == {*SANDBOX_KERNELS, "python3"}, sorted(served)
    for name, label in SANDBOX_KERNELS.items():
        assert served[name]["spec"]["display_name"] == label
    specs = lab.kernelspec_dirs()
    assert set(specs) == set(served), specs
    installed_dir = Path(sys.prefix) / "share" / "jupyter" / "kernels"
    for name in SANDBOX_KERNELS:
        assert specs[name] == installed_dir / name, f"{name} is not the venv's: {specs[name]}"
        for logo in LOGOS:
            installed, source = specs[name] / logo, REPO / "kernelspec" / name / logo
            assert installed.is_file() and installed.read_bytes() == source.read_bytes(), (
                f"{installed} is missing or stale: python -m sandbox_kernel install --sys-prefix")


def test_launcher_shows_sandbox_kernels_with_logos(
    page: Page, lab: JupyterLab, shot: Screenshots
) -> None:
    open_lab(page, lab)
    for name, label in SANDBOX_KERNELS.items():
        card = launcher_card(page, label)
        expect(card).to_have_count(1)
        expect(card.locator(".jp-LauncherCard-noKernelIcon")).to_have_count(0)  # no letter "S"
        icon = card.locator(".jp-LauncherCard-icon img")
        expect(icon).to_have_count(1)
        expect(icon).to_have_attribute("src", re.compile(rf"/kernelspecs/{name}/logo-"))
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=icon.element_handle())
        # The image the browser shows is the kernelspec's logo file, byte for byte.
        src = icon.get_attribute("src") or ""
        response = page.request.get(lab.url + src)
        assert response.ok, (src, response.status)
        logo = REPO / "kernelspec" / name / src.rsplit("/", 1)[-1].split("?")[0]
        assert response.body() == logo.read_bytes(), f"{src} is not {logo}"
    shot("launcher")


def test_python_sandbox_notebook(page: Page, lab: JupyterLab, shot: Screenshots) -> None:
    open_lab(page, lab)
    nb = Notebook.from_launcher(page, "Sandbox (Python)")
    expect(nb.kernel_name()).to_have_text("Sandbox (Python)")
    shot("opened")

    assert "hello from the sandbox" in nb.run_cell(0, "print('hello from the sandbox')")
    assert "state: 43" in nb.run_cell(1, "answer = 6 * 7\nprint('state:', answer + 1)")
    assert "answer is 42" in nb.run_cell(2, "print('answer is', answer)")
    shot("print-and-state")

    nb.run_cell(3, "1 / 0")
    expect(nb.stderr_output(3).last).to_contain_text("ZeroDivisionError: division by zero")
    shot("error")

    # The loop's output streams into the page while the cell still runs ([*]), then the
    # toolbar's stop button interrupts it and the kernel reports the interrupt as an error.
    nb.start_cell(4, LOOP)
    expect(nb.outputs(4).first).to_contain_text("tick 5", timeout=CELL_TIMEOUT_MS)
    expect(nb.prompt(4)).to_have_text("[*]:")
    shot("loop-streaming")
    nb.interrupt()
    nb.wait_done(4)
    nb.wait_idle()
    expect(nb.stderr_output(4).last).to_contain_text("KeyboardInterrupt")
    last_tick = int(re.findall(r"tick (\d+)", nb.output_text(4))[-1])
    shot("loop-interrupted")

    # State survived the interrupt: a variable from before the loop, and the loop's counter.
    out = nb.run_cell(5, "print('after interrupt:', answer, counter)")
    match = re.search(r"after interrupt: 42 (\d+)", out)
    assert match, out
    assert int(match.group(1)) in (last_tick, last_tick + 1), (out, last_tick)
    shot("state-survived-interrupt")

    nb.restart(shot)
    nb.run_cell(6, "print(answer)")
    expect(nb.prompt(6)).to_have_text("[1]:")  # the first cell of a new kernel
    expect(nb.stderr_output(6).last).to_contain_text("NameError: name 'answer' is not defined")
    shot("state-gone-after-restart")


def test_bash_sandbox_notebook(page: Page, lab: JupyterLab, shot: Screenshots) -> None:
    open_lab(page, lab)
    nb = Notebook.from_launcher(page, "Sandbox (Bash)")
    expect(nb.kernel_name()).to_have_text("Sandbox (Bash)")

    assert "hello from bash" in nb.run_cell(0, "echo hello from bash")
    nb.run_cell(1, "GREETING=kept; cd /tmp")
    assert "kept in /tmp" in nb.run_cell(2, 'echo "$GREETING in $(pwd)"')
    shot("state")

    nb.run_cell(3, "echo before; ls /no/such/dir")
    # stdout and stderr are separate streams: their relative order is not asserted.
    expect(nb.stdout_output(3)).to_have_text("before")
    expect(nb.stderr_output(3).first).to_contain_text("No such file or directory")
    expect(nb.stderr_output(3).last).to_contain_text("exit status 2")
    shot("failing-command")


def test_node_sandbox_notebook(page: Page, lab: JupyterLab, shot: Screenshots) -> None:
    open_lab(page, lab)
    nb = Notebook.from_launcher(page, "Sandbox (Node.js)")
    expect(nb.kernel_name()).to_have_text("Sandbox (Node.js)")

    assert "hello from node" in nb.run_cell(0, "console.log('hello from node')")
    nb.run_cell(1, "let total = 40 + 2")
    assert "total is 42" in nb.run_cell(2, "console.log('total is', total)")
    nb.run_cell(3, "null.x")
    expect(nb.stderr_output(3).last).to_contain_text("TypeError")
    shot("node")


def test_python3_notebook_with_sandbox_magic(
    page: Page, lab: JupyterLab, shot: Screenshots
) -> None:
    open_lab(page, lab)
    nb = Notebook.from_launcher(page, "Python 3 (ipykernel)")
    nb.run_cell(0, "%load_ext sandbox_kernel")
    expect(nb.outputs(0)).to_have_count(0)

    code = "%%sandbox python\nimport sys\nprint('sandboxed', 6 * 7, sys.version_info[0])"
    assert "sandboxed 42 3" in nb.run_cell(1, code)

    nb.run_cell(2, "%%sandbox bash\necho partial; exit 3")
    expect(nb.stdout_output(2)).to_have_text("partial")
    expect(nb.stderr_output(2).last).to_contain_text("exit status 3")
    shot("magic")
