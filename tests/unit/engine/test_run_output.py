"""``RunOutput``, the host side of a one-shot run's stream, fed by hand (no daemon needed).

A one-shot run's exit markers carry the run's token, which only the wrapper knows; its displays
(``drivers/oneshot_plots.py``) carry a second token the program knows, so they are hostile: they
must never count as an exit marker, must pass validation and the output policy, and what is
dropped leaves a visible note.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sandbox_kernel.engine.sandbox import RunOutput
from sandbox_kernel.engine.streams import STDERR, STDOUT
from sandbox_kernel.limits import Limits
from sandbox_kernel.result import ExecutionResult

TOKEN = "0123456789abcdef" * 2
DISPLAY = "fedcba9876543210" * 2
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()
EXIT = b'{"status":0,"oom":0}'


def frame(body: bytes | dict[str, Any], nonce: str) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return b"\x1e\x1f%s\x1f%d\x1f%s\n" % (nonce.encode(), len(data), data)


def display(data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "display", "data": data, "metadata": {}}


def finish(output: RunOutput) -> ExecutionResult:
    return output.finish(ExecutionResult())


def test_displays_are_collected_in_order_and_text_between_them_kept() -> None:
    output = RunOutput(TOKEN, Limits(), None, DISPLAY)
    output.on_frame(STDOUT, b"before\n" + frame(display({"image/png": PNG}), DISPLAY)
                    + b"middle\n" + frame(display({"text/plain": "two"}), DISPLAY) + b"after\n"
                    + frame(EXIT, TOKEN))
    output.on_frame(STDERR, frame(EXIT, TOKEN))
    result = finish(output)
    assert output.exit_status == 0 and output.settled.is_set()
    assert result.stdout == "before\nmiddle\nafter\n" and result.stderr == ""
    assert result.displays == [{"data": {"image/png": PNG}, "metadata": {}},
                               {"data": {"text/plain": "two"}, "metadata": {}}]


def test_the_display_token_never_makes_an_exit_marker() -> None:
    output = RunOutput(TOKEN, Limits(), None, DISPLAY)
    output.on_frame(STDOUT, frame(EXIT, DISPLAY))
    output.on_frame(STDERR, frame(EXIT, DISPLAY))
    assert output.exit_status is None and not output.settled.is_set()
    result = finish(output)
    assert result.displays == []
    assert "dropped 1 malformed message(s)" in result.stderr


def test_without_a_display_token_display_frames_are_dropped_unseen() -> None:
    """Languages other than Python get no display channel at all."""
    output = RunOutput(TOKEN, Limits(), None)
    output.on_frame(STDOUT, frame(display({"image/png": PNG}), DISPLAY) + b"x")
    result = finish(output)
    assert (result.stdout, result.stderr, result.displays) == ("x", "", [])


def test_oversized_malformed_and_policed_displays_leave_notes() -> None:
    output = RunOutput(TOKEN, Limits(max_message=4096), None, DISPLAY)
    output.on_frame(STDOUT, frame(display({"image/png": "A" * 5000}), DISPLAY)
                    + frame(b"{not json", DISPLAY)
                    + frame({"type": "done", "status": 0}, DISPLAY)
                    + frame(display({"application/x-unknown": "x"}), DISPLAY))
    result = finish(output)
    assert result.displays == []
    assert "a message over 4 KiB from the sandbox was dropped (1 in this run)" in result.stderr
    assert "dropped 2 malformed message(s)" in result.stderr
    assert "application/x-unknown" in result.stderr  # the output policy's own note


def test_an_exit_marker_over_its_own_cap_is_dropped() -> None:
    output = RunOutput(TOKEN, Limits(), None, DISPLAY)
    padded = b'{"status":0,"oom":0' + b" " * RunOutput.MAX_MARKER + b"}"
    output.on_frame(STDOUT, frame(padded, TOKEN))
    output.on_frame(STDERR, frame(padded, TOKEN))
    assert output.exit_status is None
