"""Shared set-up of the kernel tests: kernelspecs installed into a private prefix, kernel helpers.

Importing this module installs the three kernelspecs (with ``sandbox-kernel install --prefix``,
so the installer is exercised too) into a temporary directory and puts it first on
``JUPYTER_PATH``. The tests therefore run the kernels of this checkout, launched by this
interpreter, whatever is or is not installed in the user's or the venv's Jupyter directories,
and they never write there.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from sandbox_kernel.cli import install

PREFIX = Path(tempfile.mkdtemp(prefix="sandbox-kernelspecs-"))
CONFIG_DIR = PREFIX / "config"  # an empty Jupyter config dir: no user jupyter_sandbox_config.py
CONFIG_DIR.mkdir()
atexit.register(shutil.rmtree, PREFIX, ignore_errors=True)

if install.run(argparse.Namespace(prefix=str(PREFIX), user=False, sys_prefix=False,
                                   language=None)) != 0:
    raise RuntimeError("sandbox-kernel install --prefix failed")
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    p for p in (str(PREFIX / "share" / "jupyter"), os.environ.get("JUPYTER_PATH")) if p)

# Settings a developer may have exported; the tests set what they need explicitly.
_SETTINGS = ("MODE", "TIMEOUT", "MEMORY", "CPUS", "PIDS", "MAX_OUTPUT", "FILES_ROOT",
             "UPLOAD_ON_START", "MAX_FILES")


def kernel_env(**settings: str) -> dict[str, str]:
    """The environment of a test kernel: ours, minus stray settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items()
           if k not in {f"SANDBOX_KERNEL_{name}" for name in _SETTINGS}}
    env["JUPYTER_CONFIG_DIR"] = str(CONFIG_DIR)
    env.update({f"SANDBOX_KERNEL_{k.upper()}": v for k, v in settings.items()})
    return env


@contextmanager
def running_kernel(
    name: str,
    settings: dict[str, str] | None = None,
    *,
    extra_arguments: list[str] | None = None,
    config_dir: Path | None = None,
    cwd: Path | None = None,
) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    """A started kernel and its client; ``settings`` become SANDBOX_KERNEL_* variables; ``cwd``
    is the kernel's working directory (a notebook's folder)."""
    env = kernel_env(**(settings or {}))
    if config_dir is not None:
        env["JUPYTER_CONFIG_DIR"] = str(config_dir)
    extra: dict[str, Any] = {"cwd": str(cwd)} if cwd is not None else {}
    km, kc = start_new_kernel(kernel_name=name, startup_timeout=60, env=env,
                              extra_arguments=extra_arguments or [], **extra)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=not km.is_alive())


@dataclass
class Cell:
    """What one execute request produced, with the arrival time of every message."""

    reply: dict[str, Any]
    outputs: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @property
    def content(self) -> dict[str, Any]:
        return dict(self.reply["content"])

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.reply["metadata"])

    def text(self, name: str) -> str:
        return "".join(m["content"]["text"] for m in self.outputs
                       if m["msg_type"] == "stream" and m["content"]["name"] == name)

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.outputs if m["msg_type"] == msg_type]

    @property
    def value(self) -> str | None:
        results = self.of_type("execute_result")
        return str(results[0]["data"]["text/plain"]) if results else None

    @property
    def error(self) -> dict[str, Any]:
        errors = self.of_type("error")
        assert len(errors) == 1, f"expected one error message, got {self.outputs}"
        return dict(errors[0])


def execute(
    kc: BlockingKernelClient,
    code: str,
    timeout: float = 60,
    allow_stdin: bool = False,
    stdin_hook: Callable[[dict[str, Any]], None] | None = None,
) -> Cell:
    """Run one cell and collect its iopub outputs (stream, results, errors, displays)."""
    cell = Cell(reply={})

    def collect(msg: dict[str, Any]) -> None:
        if msg["msg_type"] in ("stream", "execute_result", "error", "display_data",
                               "update_display_data", "clear_output"):
            cell.outputs.append(msg)
            cell.times.append(time.monotonic())

    kwargs: dict[str, Any] = {}
    if stdin_hook is not None:
        kwargs["stdin_hook"] = stdin_hook
    cell.reply = kc.execute_interactive(code, timeout=timeout, output_hook=collect,
                                        allow_stdin=allow_stdin, **kwargs)
    return cell


def drain(kc: BlockingKernelClient) -> None:
    """Drop messages left over from earlier requests."""
    for channel in (kc.iopub_channel, kc.shell_channel, kc.stdin_channel):
        while True:
            try:
                channel.get_msg(timeout=0.05)
            except Empty:
                break


def wait_for_stream(kc: BlockingKernelClient, msg_id: str, needle: str,
                    timeout: float = 30) -> float:
    """Wait until the streamed output of request ``msg_id`` contains ``needle``.

    Returns the arrival time of the message that completed it (a ``print`` may be split over
    several messages). Messages read here are consumed.
    """
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            msg = kc.iopub_channel.get_msg(timeout=max(0.01, deadline - time.monotonic()))
        except Empty:
            break
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            text += msg["content"]["text"]
            if needle in text:
                return time.monotonic()
    raise AssertionError(f"no output containing {needle!r} within {timeout} s: {text!r}")


def wait_for_reply(kc: BlockingKernelClient, msg_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply: dict[str, Any] = kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


Kernel = tuple[KernelManager, BlockingKernelClient]
"""A running kernel and its client, as ``running_kernel`` yields them."""


def is_complete(kc: BlockingKernelClient, code: str) -> dict[str, Any]:
    """The content of the kernel's ``is_complete_reply`` for ``code``."""
    msg_id = kc.is_complete(code)
    reply: dict[str, Any] = wait_for_reply(kc, msg_id, timeout=30)
    return dict(reply["content"])
