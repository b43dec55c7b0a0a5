"""The kernel application: ipykernel's ``IPKernelApp`` launching a ``SandboxKernel``.

On top of ipykernel it adds ``--language``, reads ``jupyter_sandbox_config.py`` from the Jupyter
config path, and removes the sandbox when the kernel is terminated with SIGTERM (SIGKILL leaves
it to the janitor, which reaps containers whose owner process is gone).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from ipykernel.kernelapp import IPKernelApp, kernel_aliases
from jupyter_core.paths import jupyter_config_path
from traitlets import Dict, default
from traitlets.config import Application

from sandbox_kernel.jupyter.kernel import SandboxKernel

CONFIG_FILE = "jupyter_sandbox_config"


class SandboxKernelApp(IPKernelApp):
    name = "sandbox-kernel"
    description = "A Jupyter kernel that runs every cell in a hardened Docker sandbox."
    aliases = Dict({**kernel_aliases, "language": "SandboxKernel.language"})
    classes = [*IPKernelApp.classes, SandboxKernel]

    @default("kernel_class")
    def _default_kernel_class(self) -> type:
        return SandboxKernel

    def load_config_file(self, *args: Any, **kwargs: Any) -> None:
        """IPython's profile config, then ``jupyter_sandbox_config.py`` (user dir first)."""
        super().load_config_file(*args, **kwargs)  # type: ignore[no-untyped-call]
        Application.load_config_file(self, CONFIG_FILE, path=jupyter_config_path())

    def start(self) -> None:
        """Run the kernel; when it stops, let the control thread finish before exiting.

        ipykernel 7 stops the iopub thread in an atexit hook. The control thread may still be
        publishing the "idle" status of the shutdown request by then, and blocks forever on a
        pipe nobody reads; the kernel then hangs until it is killed (and the next kernel start
        waits for that). Joining the control thread here, while iopub still runs, avoids it.
        """
        try:
            super().start()  # type: ignore[no-untyped-call]
        finally:
            thread = self.control_thread
            if thread is not None and thread.is_alive():
                thread.stop()
                thread.join(timeout=5)

    def init_signal(self) -> None:
        super().init_signal()  # type: ignore[no-untyped-call]
        signal.signal(signal.SIGTERM, self._terminate)

    def _terminate(self, signum: int, frame: FrameType | None) -> None:
        kernel = self.kernel
        if isinstance(kernel, SandboxKernel):
            kernel.close_sandbox()
        sys.exit(128 + signum)
