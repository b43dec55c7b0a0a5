"""A small driver for a real ``python3`` Jupyter kernel, for the ``%%sandbox`` magic's tests.

nbclient runs whole notebooks; these checks need more control (one kernel reused for many
cells, an interrupt in the middle of a cell, the kernel's pid for the container check), so they
talk to the kernel through jupyter_client directly.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import KernelManager


@dataclass
class CellReply:
    """What one execute request produced, gathered from the iopub and shell channels."""

    status: str = ""
    stdout: str = ""
    stderr: str = ""
    results: list[str] = field(default_factory=list)
    ename: str | None = None
    evalue: str = ""
    traceback: list[str] = field(default_factory=list)
    seconds: float = 0.0
    displays: list[dict[str, Any]] = field(default_factory=list)
    """``display_data`` and ``update_display_data`` contents, in order."""
    bundles: list[dict[str, Any]] = field(default_factory=list)
    """The MIME bundles of ``execute_result`` messages."""
    order: list[str] = field(default_factory=list)
    """Arrival order: ``stream:TEXT`` for each stream message, the message type for the rest."""
    prompts: list[str] = field(default_factory=list)
    """The prompts of the ``input_request`` messages answered."""

    @property
    def error_text(self) -> str:
        return "\n".join([*self.traceback, f"{self.ename}: {self.evalue}"])


class KernelProbe:
    """A running ``python3`` kernel (the venv's own IPython kernel) and a client to it."""

    def __init__(self, kernel_name: str = "python3") -> None:
        self.manager = KernelManager(kernel_name=kernel_name)
        self.manager.start_kernel()
        self.client = self.manager.blocking_client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    @property
    def pid(self) -> int:
        provisioner: Any = self.manager.provisioner
        return int(provisioner.process.pid)

    def execute(
        self,
        code: str,
        timeout: float = 90.0,
        on_stream: Callable[[str, str], None] | None = None,
        answers: list[str] | None = None,
    ) -> CellReply:
        """Run one cell and collect everything it sent until the kernel went idle.

        With ``answers``, the frontend allows stdin and answers input requests with them in order.
        """
        reply = CellReply()
        started = time.monotonic()
        msg_id = self.client.execute(code, allow_stdin=answers is not None)
        deadline = started + timeout
        idle = False
        while not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish in {timeout} s: {code[:80]!r}")
            if answers is not None:
                with contextlib.suppress(queue.Empty):
                    request = self.client.get_stdin_msg(timeout=0.05)
                    reply.prompts.append(request["content"]["prompt"])
                    self.client.input(answers.pop(0))
            try:
                msg = self.client.get_iopub_msg(timeout=min(remaining, 0.2 if answers else 1.0))
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            reply.order.append(f"stream:{content['text']}" if kind == "stream" else kind)
            if kind == "stream":
                if content["name"] == "stdout":
                    reply.stdout += content["text"]
                else:
                    reply.stderr += content["text"]
                if on_stream is not None:
                    on_stream(content["name"], content["text"])
            elif kind == "execute_result":
                reply.results.append(content["data"].get("text/plain", ""))
                reply.bundles.append(content["data"])
            elif kind in ("display_data", "update_display_data"):
                reply.displays.append(dict(content, msg_type=kind))
            elif kind == "error":
                reply.ename, reply.evalue = content["ename"], content["evalue"]
                reply.traceback = list(content["traceback"])
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        shell = self.client.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        while shell["parent_header"].get("msg_id") != msg_id:
            shell = self.client.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        reply.status = shell["content"]["status"]
        if reply.status == "error" and reply.ename is None:
            # IPython reports a UsageError on stderr only; the reply still names it.
            reply.ename = shell["content"].get("ename")
            reply.evalue = shell["content"].get("evalue") or ""
        reply.seconds = time.monotonic() - started
        return reply

    def interrupt(self) -> None:
        self.manager.interrupt_kernel()

    def shutdown(self) -> None:
        """A graceful shutdown, as a notebook server or nbclient does it."""
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=False)
