"""The driver protocol's messages (``drivers/PROTOCOL.md``): requests we send, replies we accept.

Replies come from inside the sandbox, where user code can forge them, so every field is checked
for its type and bounds before the session reads it: a message that fails any check is dropped
(``parse_message`` returns ``None``) and the caller counts it. Whatever a forged message says,
the worst it gets is a wrong report about its own cell, never an exception on the host.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]
"""A validated driver message: ``type`` plus that type's fields, normalised (see PROTOCOL.md)."""

MAX_ARG = 64
"""Longest request argument or verb we send, in characters."""

_INT32 = (-(2**31), 2**31 - 1)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMPLETENESS = ("complete", "incomplete", "invalid", "unknown")


WINDOW_BEFORE = 64 * 1024
"""Characters of a cell before the cursor that a ``complete`` or ``inspect`` request carries."""
WINDOW_LINE = 4 * 1024
"""Of those, at most this many on the cursor's own line: completers scan the line before the
cursor with patterns that cost quadratic time in its length (IPython's dict-key matcher, Bash's
``${var%word}``), so a huge line would keep the driver busy for minutes."""
WINDOW_AFTER = 4 * 1024
"""Characters after the cursor a request carries."""


def code_window(code: str, cursor_pos: int) -> tuple[int, str, int]:
    """The part of a cell a ``complete`` or ``inspect`` request sends: ``(offset, text, cursor)``.

    ``text`` is ``code[offset:offset + len(text)]``: from a line start at most ``WINDOW_BEFORE``
    characters before the cursor (or the cursor's line cut to its last ``WINDOW_LINE``
    characters) to at most ``WINDOW_AFTER`` characters after it; ``cursor`` is the cursor's
    position in ``text``. Positions a driver answers in ``text`` are ``offset`` more in ``code``.
    ``cursor_pos`` is clamped to ``0..len(code)`` (Jupyter positions are in code points).
    """
    cursor = min(max(cursor_pos, 0), len(code))
    line_start = code.rfind("\n", 0, cursor) + 1
    if cursor - line_start > WINDOW_LINE:
        start = cursor - WINDOW_LINE
    elif cursor > WINDOW_BEFORE:
        start = code.find("\n", cursor - WINDOW_BEFORE, line_start) + 1 or line_start
    else:
        start = 0
    text = code[start:cursor + WINDOW_AFTER]
    return start, text, cursor - start


class Invalid(Exception):
    """A field of a driver message has the wrong type or is out of bounds."""


def new_nonce() -> str:
    """A fresh request nonce: 32 lowercase hex digits."""
    return secrets.token_hex(16)


def request(verb: str, nonce: str, payload: bytes, *args: str) -> bytes:
    """One request: ``VERB SP NONCE SP SIZE [SP ARG]... LF`` then the payload."""
    words = [verb, nonce, str(len(payload)), *args]
    if any(not word or len(word) > MAX_ARG or not word.isascii() or " " in word
           or "\n" in word for word in words[:1] + words[3:]):
        raise ValueError(f"malformed request words: {words!r}")
    return " ".join(words).encode("ascii") + b"\n" + payload


def ack_mismatch(ack: Message, sent: bytes) -> str | None:
    """Why ``ack`` does not confirm ``sent`` (sizes or digest differ), or ``None`` if it does."""
    if ack["size"] != len(sent):
        return (f"the sandbox received {ack['size']} bytes of the cell, "
                f"{len(sent)} bytes were sent")
    if ack["sha256"] is not None and ack["sha256"] != hashlib.sha256(sent).hexdigest():
        return (f"the sandbox received {ack['size']} bytes of the cell ({len(sent)} bytes were "
                "sent) but their SHA-256 differs")
    return None


# -- field checks -------------------------------------------------------------------------------

def _int(value: Any, low: int = _INT32[0], high: int = _INT32[1]) -> int:
    if type(value) is not int or not low <= value <= high:
        raise Invalid
    return value


def _optional_int(value: Any, low: int = 0, high: int = 2**63 - 1) -> int | None:
    return None if value is None else _int(value, low, high)


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise Invalid
    return value


def _str(value: Any) -> str:
    if type(value) is not str:
        raise Invalid
    return value


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise Invalid
    return value


def _strings(value: Any) -> list[str]:
    if type(value) is not list or any(type(item) is not str for item in value):
        raise Invalid
    return value


def _bundle(value: Any) -> dict[str, Any]:
    """A MIME bundle: MIME type -> str, or JSON for ``*json`` types (checked by the policy)."""
    bundle = _object(value)
    for mime, content in bundle.items():
        if "/" not in mime or len(mime) > 255:
            raise Invalid
        if type(content) is not str and not mime.endswith("json"):
            raise Invalid
    return bundle


def _error(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    error = _object(value)
    return {"ename": _str(error.get("ename", "Error")) or "Error",
            "evalue": _str(error.get("evalue", "")),
            "traceback": _strings(error.get("traceback", []))}


def _payload_item(value: Any) -> dict[str, Any]:
    item = _object(value)
    source = _str(item.get("source"))
    if source == "page":
        return {"source": source, "data": _bundle(item.get("data")),
                "start": _int(item.get("start", 0), 0)}
    if source == "ask_exit":
        return {"source": source, "keepkernel": _bool(item.get("keepkernel", False))}
    if source == "set_next_input":
        return {"source": source, "text": _str(item.get("text")),
                "replace": _bool(item.get("replace", False))}
    raise Invalid


# -- message types ------------------------------------------------------------------------------

def _ready(m: dict[str, Any]) -> Message:
    return {"pid": _int(m.get("pid"), 0), "ipython": _bool(m.get("ipython", False)),
            "version": _str(m.get("version", ""))}


def _ack(m: dict[str, Any]) -> Message:
    digest = m.get("sha256")
    if digest is not None and (type(digest) is not str or not _SHA256.fullmatch(digest)):
        raise Invalid
    return {"size": _int(m.get("size"), 0, 2**63 - 1), "sha256": digest}


def _display(m: dict[str, Any]) -> Message:
    transient = _object(m.get("transient", {}))
    display_id = transient.get("display_id")
    transient = {"display_id": _str(display_id)} if display_id is not None else {}
    return {"data": _bundle(m.get("data")), "metadata": _object(m.get("metadata", {})),
            "transient": transient, "update": _bool(m.get("update", False))}


def _execute_result(m: dict[str, Any]) -> Message:
    return {"data": _bundle(m.get("data")), "metadata": _object(m.get("metadata", {})),
            "execution_count": _optional_int(m.get("execution_count"))}


def _clear_output(m: dict[str, Any]) -> Message:
    return {"wait": _bool(m.get("wait", False))}


def _input(m: dict[str, Any]) -> Message:
    return {"prompt": _str(m.get("prompt", "")), "password": _bool(m.get("password", False))}


def _flush(m: dict[str, Any]) -> Message:
    return {}


def _done(m: dict[str, Any]) -> Message:
    payload = m.get("payload", [])
    if type(payload) is not list:
        raise Invalid
    return {"status": _int(m.get("status")), "error": _error(m.get("error")),
            "execution_count": _optional_int(m.get("execution_count")),
            "peak_memory": _optional_int(m.get("peak_memory")),
            "payload": [_payload_item(item) for item in payload],
            # Policed by engine/expressions.py; a malformed value is no answer, not a broken done.
            "user_expressions": (m["user_expressions"] if type(m.get("user_expressions")) is dict
                                 else None)}


def _complete(m: dict[str, Any]) -> Message:
    return {"matches": _strings(m.get("matches", [])),
            "cursor_start": _int(m.get("cursor_start"), 0),
            "cursor_end": _int(m.get("cursor_end"), 0),
            "metadata": _object(m.get("metadata", {}))}


def _inspect(m: dict[str, Any]) -> Message:
    return {"found": _bool(m.get("found")), "data": _bundle(m.get("data", {})),
            "metadata": _object(m.get("metadata", {}))}


def _is_complete(m: dict[str, Any]) -> Message:
    status = _str(m.get("status"))
    if status not in _COMPLETENESS:
        raise Invalid
    return {"status": status, "indent": _str(m.get("indent", ""))}


_TYPES: dict[str, Callable[[dict[str, Any]], Message]] = {
    "ready": _ready, "ack": _ack, "display": _display, "execute_result": _execute_result,
    "clear_output": _clear_output, "input": _input, "flush": _flush, "done": _done,
    "complete": _complete, "inspect": _inspect, "is_complete": _is_complete,
}


def parse_message(body: bytes) -> Message | None:
    """The message in one frame's JSON body, validated and normalised, or ``None``.

    The result always has ``type`` (one of PROTOCOL.md's types) and exactly that type's fields,
    optional ones filled with their defaults. The body is at most ``Limits.max_message`` bytes
    (the scanner dropped bigger frames), which bounds every string and list in it.
    """
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if type(raw) is not dict:
        return None
    kind = raw.get("type")
    check = _TYPES.get(kind) if type(kind) is str else None
    if check is None:
        return None
    try:
        message = check(raw)
    except Invalid:
        return None
    message["type"] = kind
    return message
