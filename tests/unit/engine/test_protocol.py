"""Validation of driver messages and the requests we send (no daemon needed)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox_kernel.engine.protocol import (
    WINDOW_AFTER,
    WINDOW_BEFORE,
    WINDOW_LINE,
    ack_mismatch,
    code_window,
    new_nonce,
    parse_message,
    request,
)


def parse(**fields: Any) -> dict[str, Any] | None:
    return parse_message(json.dumps(fields).encode())


def test_every_type_is_normalised_with_its_defaults() -> None:
    assert parse(type="ready", pid=7) == {"type": "ready", "pid": 7, "ipython": False,
                                          "version": ""}
    assert parse(type="done", status=1) == {
        "type": "done", "status": 1, "error": None, "execution_count": None,
        "peak_memory": None, "payload": [], "user_expressions": None}
    # user_expressions are policed later (engine/expressions.py); a bad one is no answer.
    assert parse(type="done", status=0, user_expressions={"y": {}})["user_expressions"] == {
        "y": {}}
    assert parse(type="done", status=0, user_expressions=[1])["user_expressions"] is None
    assert parse(type="execute_result", data={"text/plain": "42"}, execution_count=3) == {
        "type": "execute_result", "data": {"text/plain": "42"}, "metadata": {},
        "execution_count": 3}
    assert parse(type="display", data={"application/json": {"a": [1]}},
                 transient={"display_id": "d"}, update=True)["transient"] == {"display_id": "d"}
    assert parse(type="flush") == {"type": "flush"}
    assert parse(type="is_complete", status="incomplete", indent="  ")["indent"] == "  "
    assert parse(type="complete", matches=["a"], cursor_start=0, cursor_end=1)["matches"] == ["a"]


@pytest.mark.parametrize("fields", [
    {"type": "done", "status": "0"},
    {"type": "done", "status": True},
    {"type": "done", "status": 2**40},
    {"type": "done", "status": 0, "error": "boom"},
    {"type": "done", "status": 0, "error": {"ename": 1}},
    {"type": "done", "status": 0, "peak_memory": -1},
    {"type": "done", "status": 0, "payload": [{"source": "evil"}]},
    {"type": "ack", "size": -1},
    {"type": "ack", "size": 3, "sha256": "not hex"},
    {"type": "display", "data": {"text/html": {"nested": 1}}},
    {"type": "display", "data": {"notamime": "x"}},
    {"type": "display", "data": {}, "transient": {"display_id": 5}},
    {"type": "input", "prompt": None},
    {"type": "is_complete", "status": "maybe"},
    {"type": "complete", "matches": [1], "cursor_start": 0, "cursor_end": 0},
    {"type": "unknown"},
    {"type": 5},
    {"no": "type"},
])
def test_wrong_types_and_bounds_are_rejected(fields: dict[str, Any]) -> None:
    assert parse(**fields) is None


@given(st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_arbitrary_bodies_never_raise(body: bytes) -> None:
    message = parse_message(body)
    assert message is None or isinstance(message["type"], str)


def test_deep_nesting_is_rejected_not_raised() -> None:
    assert parse_message(b'{"type":"display","data":' + b"[" * 100_000 + b"]" * 100_000 + b"}") \
        is None


def test_requests_and_receipts() -> None:
    nonce = new_nonce()
    assert len(nonce) == 32 and int(nonce, 16) >= 0 and nonce != new_nonce()
    assert request("run", nonce, b"x = 1", "0") == f"run {nonce} 5 0\n".encode() + b"x = 1"
    with pytest.raises(ValueError):
        request("run", nonce, b"", "bad arg")
    code = b"print(1)"
    good = {"size": len(code), "sha256": hashlib.sha256(code).hexdigest()}
    assert ack_mismatch(good, code) is None
    assert ack_mismatch({"size": 8, "sha256": None}, code) is None
    short = ack_mismatch({"size": 3, "sha256": None}, code)
    assert short is not None and "3 bytes" in short and "8 bytes" in short
    assert ack_mismatch({"size": 8, "sha256": "0" * 64}, code) is not None


def test_the_queue_backlog_bounds_messages_in_bytes() -> None:
    from sandbox_kernel.engine.session import MESSAGES, STDOUT, OutputBacklog

    backlog = OutputBacklog(1024, message_cap=100)
    assert backlog.admit(MESSAGES, 60) and not backlog.admit(MESSAGES, 60)
    assert backlog.dropped(MESSAGES) == 60
    assert backlog.admit(STDOUT, 1000)  # text has its own account
    backlog.release(MESSAGES, 60)
    assert backlog.admit(MESSAGES, 100)


# -- the window of a cell that complete and inspect requests carry ------------------------------

@settings(max_examples=300, deadline=None)
@given(code=st.lists(st.integers(0, 3 * WINDOW_LINE), max_size=40).map(
    lambda lengths: "\n".join("a" * n for n in lengths)), cursor=st.integers(-5, 200_000))
def test_the_window_is_a_bounded_slice_around_the_cursor(code: str, cursor: int) -> None:
    offset, text, at = code_window(code, cursor)
    clamped = min(max(cursor, 0), len(code))
    assert code[offset:offset + len(text)] == text and offset + at == clamped
    assert at <= WINDOW_BEFORE and len(text) - at <= WINDOW_AFTER
    line = text[:at].rsplit("\n", 1)[-1]
    assert len(line) <= WINDOW_LINE
    # It starts at a line start unless the cursor's line itself had to be cut.
    if offset and len(code[:clamped].rsplit("\n", 1)[-1]) <= WINDOW_LINE:
        assert code[offset - 1] == "\n"
    if clamped <= WINDOW_BEFORE and len(code[:clamped].rsplit("\n", 1)[-1]) <= WINDOW_LINE:
        assert offset == 0


def test_a_huge_word_is_cut_to_the_line_window() -> None:
    code = "import os\n" + "x" * 1_000_000
    offset, text, at = code_window(code, len(code))
    assert (len(text), at, offset) == (WINDOW_LINE, WINDOW_LINE, len(code) - WINDOW_LINE)
    small = "d = {'alpha': 1}\nd['al"
    assert code_window(small, len(small)) == (0, small, len(small))
