"""JupyterLab in a real browser: the server, Debian's chromium driven by Playwright, and helpers.

Everything stays on this machine: JupyterLab listens on 127.0.0.1 only (a free port, a random
token, a temporary root directory) and chromium is Debian's ``/usr/bin/chromium`` launched by
Playwright through ``executable_path`` (``playwright install`` is never needed). Playwright gives
every launch a fresh temporary profile (``--user-data-dir``) and deletes it afterwards.

The server sees only the kernelspecs installed in this virtual environment (``sandbox-python``,
``sandbox-bash``, ``sandbox-node`` by ``python -m sandbox_kernel install --sys-prefix``, and
ipykernel's ``python3``): the user's Jupyter directories are replaced by temporary ones,
``JUPYTER_PATH`` is dropped and the allowed kernelspecs are listed explicitly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from playwright.sync_api import Locator, Page, expect

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "e2e"
CHROMIUM = Path(os.environ.get("SANDBOX_KERNEL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # chromium runs as root here
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-quic",
]
SANDBOX_KERNELS = {
    "sandbox-python": "Sandbox (Python)",
    "sandbox-bash": "Sandbox (Bash)",
    "sandbox-node": "Sandbox (Node.js)",
}
ALLOWED_KERNELS = [*SANDBOX_KERNELS, "python3"]

# Time limits, in milliseconds for Playwright and seconds for the rest.
UI_TIMEOUT_MS = 20_000  # a click, a dialog, a rendered output that is already there
LOAD_TIMEOUT_MS = 60_000  # JupyterLab's first load on 2 cores
CELL_TIMEOUT_MS = 60_000  # one cell, including a sandbox's start
SERVER_START_S = 60.0
SERVER_STOP_S = 20.0

# JupyterLab user settings: no news or update checks (no network), no toast to dismiss.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(home: Path) -> dict[str, str]:
    """The server's environment: private Jupyter dirs, no stray kernel paths or sandbox settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"JUPYTER_PATH", "JUPYTER_CONFIG_PATH"}
           and not k.startswith("SANDBOX_KERNEL_")}
    dirs = {
        "JUPYTER_CONFIG_DIR": "config",  # no user jupyter_server / jupyter_sandbox config
        "JUPYTER_DATA_DIR": "data",  # hides ~/.local/share/jupyter/kernels
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
    }
    for var, name in dirs.items():
        (home / name).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / name)
    env["JUPYTER_PREFER_ENV_PATH"] = "1"  # sys.prefix before any user-level directory
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    for name, values in LAB_SETTINGS.items():
        path = home / "lab-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return env


@dataclass
class JupyterLab:
    """A JupyterLab server started by :meth:`start`; :meth:`stop` shuts it and its kernels down."""

    url: str
    token: str
    root: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @classmethod
    def start(cls, home: Path, log_path: Path) -> JupyterLab:
        root = home / "notebooks"
        root.mkdir(parents=True, exist_ok=True)
        port, token = free_port(), secrets.token_hex(24)
        env = server_env(home)
        command = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_remote_access=False",
            f"--KernelSpecManager.allowed_kernelspecs={json.dumps(ALLOWED_KERNELS)}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("wb")
        process = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        lab = cls(f"http://127.0.0.1:{port}", token, root, env, process, log_path, log)
        try:
            lab._wait_ready()
        except BaseException:
            lab.stop()
            raise
        return lab

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with status {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                self.api("/api/status")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.25)
        raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_S:g} s:\n"
                           f"{self.log_tail()}")

    def api(self, path: str, method: str = "GET", timeout: float = 10) -> Any:
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        # No proxy: the server is on 127.0.0.1 and nothing else may be contacted.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def lab_url(self, workspace: str) -> str:
        """JupyterLab in a new, empty workspace (the default layout: a launcher)."""
        return f"{self.url}/lab/workspaces/{workspace}?reset&token={self.token}"

    def shutdown_kernels(self) -> None:
        """Shut down every session's kernel (each one removes its sandbox)."""
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", method="DELETE", timeout=30)
        for kernel in self.api("/api/kernels"):
            self.api(f"/api/kernels/{kernel['id']}", method="DELETE", timeout=30)

    def kernelspec_dirs(self) -> dict[str, Path]:
        """``name -> resource dir`` of the kernelspecs the server sees (same env, same filter)."""
        out = subprocess.run(
            [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
            env=self.env, capture_output=True, text=True, check=True, timeout=60,
        ).stdout
        specs = json.loads(out)["kernelspecs"]
        return {name: Path(spec["resource_dir"]) for name, spec in specs.items()
                if name in ALLOWED_KERNELS}

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Shut the server down through its API (it shuts its kernels down), then make sure."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.api("/api/shutdown", method="POST")
            try:
                self.process.wait(SERVER_STOP_S)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGTERM)
                try:
                    self.process.wait(SERVER_STOP_S / 2)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    self.process.wait(5)
        self._log.close()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


def chromium_missing() -> str | None:
    """Why the browser cannot run here, or ``None``."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return (f"Debian's chromium is not installed at {CHROMIUM} "
                "(apt-get install -y chromium; scripts/bootstrap.sh does it)")
    return None


class Screenshots:
    """Numbered screenshots (the 1400x900 viewport) of one test in ``artifacts/e2e/<test>/``."""

    def __init__(self, page: Page, directory: Path) -> None:
        self.page = page
        self.directory = directory
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        self.count = 0

    def __call__(self, name: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        self.page.screenshot(path=str(path), timeout=UI_TIMEOUT_MS)
        return path


# -- JupyterLab UI -------------------------------------------------------------------------------


def open_lab(page: Page, lab: JupyterLab) -> None:
    """Load JupyterLab in a new workspace (not the last test's layout); wait for its launcher."""
    page.goto(lab.lab_url(f"e2e-{secrets.token_hex(4)}"), wait_until="domcontentloaded",
              timeout=LOAD_TIMEOUT_MS)
    expect(page.locator(".jp-Launcher")).to_be_visible(timeout=LOAD_TIMEOUT_MS)


def launcher_card(page: Page, label: str) -> Locator:
    """The launcher's notebook card named exactly ``label``."""
    def exactly(text: str) -> re.Pattern[str]:
        return re.compile(rf"^\s*{re.escape(text)}\s*$")

    section = page.locator(".jp-Launcher-section").filter(
        has=page.locator(".jp-Launcher-sectionTitle", has_text=exactly("Notebook")))
    return section.locator(".jp-LauncherCard").filter(
        has=page.locator(".jp-LauncherCard-label", has_text=exactly(label)))


class Notebook:
    """The notebook panel that is open in JupyterLab's main area."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.panel = page.locator(".jp-NotebookPanel")  # one notebook per page

    @classmethod
    def from_launcher(cls, page: Page, label: str) -> Notebook:
        launcher_card(page, label).click(timeout=UI_TIMEOUT_MS)
        notebook = cls(page)
        expect(notebook.panel).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        notebook.wait_idle(LOAD_TIMEOUT_MS)
        return notebook

    # -- state ----------------------------------------------------------------------------------

    def kernel_name(self) -> Locator:
        """The toolbar's kernel name button (the kernel's display name)."""
        return self.panel.locator(".jp-NotebookPanel-toolbar .jp-KernelName")

    def kernel_status(self) -> Locator:
        """The status bar's ``<display name> | <status>`` of the current notebook's kernel.

        Unlike the toolbar's execution indicator, which starts out as "idle", it reads "Idle"
        only once the kernel is connected and idle.
        """
        return self.page.locator(
            '#jp-main-statusbar .jp-StatusBar-TextItem[title^="Change kernel"]')

    def wait_idle(self, timeout: float = CELL_TIMEOUT_MS) -> None:
        expect(self.kernel_status()).to_have_text(re.compile(r"\| Idle$"), timeout=timeout)

    def cell(self, index: int) -> Locator:
        return self.panel.locator(".jp-Notebook .jp-Cell").nth(index)

    def prompt(self, index: int) -> Locator:
        return self.cell(index).locator(".jp-InputArea-prompt")

    def outputs(self, index: int) -> Locator:
        return self.cell(index).locator(".jp-OutputArea-output")

    def output_text(self, index: int) -> str:
        area = self.cell(index).locator(".jp-OutputArea")
        return area.inner_text(timeout=UI_TIMEOUT_MS) if area.count() else ""

    def stdout_output(self, index: int) -> Locator:
        """A cell's rendered stdout (consecutive stdout messages are merged into one output)."""
        return self.cell(index).locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]')

    def stderr_output(self, index: int) -> Locator:
        """A cell's rendered errors and stderr (JupyterLab renders both as this mime type)."""
        return self.cell(index).locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')

    # -- actions --------------------------------------------------------------------------------

    def type_cell(self, index: int, code: str) -> None:
        """Put ``code`` into cell ``index`` (inserted as is, without auto-indent)."""
        editor = self.cell(index).locator(".cm-content")
        editor.click(timeout=UI_TIMEOUT_MS)
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.insert_text(code)
        expect(editor).to_have_text(code.replace("\n", ""), timeout=UI_TIMEOUT_MS)

    def start_cell(self, index: int, code: str) -> None:
        """Type ``code`` into cell ``index`` and run it (Shift+Enter) without waiting."""
        self.type_cell(index, code)
        self.page.keyboard.press("Shift+Enter")

    def run_cell(self, index: int, code: str, timeout: float = CELL_TIMEOUT_MS) -> str:
        """Run ``code`` in cell ``index``, wait until it finished; return its rendered output."""
        self.start_cell(index, code)
        self.wait_done(index, timeout)
        return self.output_text(index)

    def wait_done(self, index: int, timeout: float = CELL_TIMEOUT_MS) -> None:
        """Wait until cell ``index`` has an execution count (``[n]:``, not ``[*]:``)."""
        expect(self.prompt(index)).to_have_text(re.compile(r"\[\d+\]"), timeout=timeout)

    def toolbar_button(self, command: str) -> Locator:
        return self.panel.locator(
            f'.jp-NotebookPanel-toolbar jp-button[data-command="{command}"]')

    def interrupt(self) -> None:
        """Click the toolbar's stop button."""
        self.toolbar_button("notebook:interrupt-kernel").click(timeout=UI_TIMEOUT_MS)

    def restart(self, shot: Callable[[str], Path] | None = None) -> None:
        """Restart the kernel from the toolbar, accept the dialog, wait until it is idle."""
        self.toolbar_button("notebook:restart-kernel").click(timeout=UI_TIMEOUT_MS)
        dialog = self.page.locator(".jp-Dialog")
        expect(dialog).to_be_visible(timeout=UI_TIMEOUT_MS)
        if shot is not None:
            shot("restart-dialog")
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click(timeout=UI_TIMEOUT_MS)
        expect(dialog).to_be_hidden(timeout=UI_TIMEOUT_MS)
        self.wait_idle()
