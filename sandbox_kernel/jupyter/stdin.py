"""``input()`` in a sandbox, answered by the notebook user over Jupyter's stdin channel.

ipykernel's own ``raw_input`` waits for the reply with no way out but a KeyboardInterrupt in the
main thread. Our cells run in a worker thread and are interrupted through the control channel,
so this waits in short polls and gives up (as end of input) when the cell is interrupted or its
deadline passes; the sandbox then sees EOF.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import zmq
from jupyter_client.session import Session

from sandbox_kernel.output_policy import MAX_PROMPT_BYTES, PROMPT_MARKER, terminal_text

POLL_MS = 100


class InputForwarder:
    """Asks the frontend for one line of input on behalf of one execute request."""

    def __init__(
        self,
        session: Session,
        socket: zmq.Socket[Any],
        ident: Any,
        parent: dict[str, Any],
        cancelled: threading.Event,
        deadline: float,
    ) -> None:
        self.session = session
        self.socket = socket
        self.ident = ident
        self.parent = parent
        self.cancelled = cancelled
        self.deadline = deadline

    def ask(self, prompt: str, password: bool) -> str | None:
        """The user's answer, or ``None`` (end of input) if none came in time.

        The sandbox's ``prompt`` is made safe and cut to ``MAX_PROMPT_BYTES`` (with a marker)."""
        self._drop_stale_replies()
        shown = terminal_text(prompt, MAX_PROMPT_BYTES, PROMPT_MARKER)
        self.session.send(self.socket, "input_request",
                          {"prompt": shown, "password": password is True}, self.parent,
                          ident=self.ident)
        while not self.cancelled.is_set() and time.monotonic() < self.deadline:
            if not self.socket.poll(POLL_MS):
                continue
            _, reply = self.session.recv(self.socket)
            if reply is None or reply.get("msg_type") != "input_reply":
                continue
            value = reply.get("content", {}).get("value", "")
            # "\x04" is what frontends send for Ctrl-D (end of input).
            return None if value == "\x04" else str(value)
        return None

    def _drop_stale_replies(self) -> None:
        """A reply to an earlier, abandoned request must not answer this one."""
        while True:
            try:
                self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
