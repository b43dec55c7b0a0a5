"""Rich outputs a sandbox reports: ``display``, ``execute_result``, ``clear_output`` and payloads.

A driver sends them as protocol messages (``drivers/PROTOCOL.md``); user code can forge any of
them, so every field is checked here and every MIME bundle goes through the output policy before
a front-end (kernel, magic, API, MCP) sees it. Front-ends get ``RichOutput`` values and build
their own messages from them; nothing the sandbox sent is forwarded as is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox_kernel.limits import MiB

KINDS = ("display_data", "update_display_data", "execute_result", "clear_output")
MAX_DISPLAY_ID = 256
MAX_PAYLOAD_ITEMS = 16


@dataclass(frozen=True)
class RichOutput:
    """One rich output of a cell, after the output policy.

    ``kind`` is the Jupyter message type it becomes (one of ``KINDS``); ``data`` and ``metadata``
    are the policed MIME bundle and its metadata (empty for ``clear_output``); ``display_id`` is
    the ``transient.display_id`` of a display, ``wait`` the flag of ``clear_output``.
    """

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    display_id: str | None = None
    wait: bool = False

    def bundle(self) -> dict[str, Any]:
        """``{"data": ..., "metadata": ...}``, the shape of ``ExecutionResult.displays``."""
        return {"data": dict(self.data), "metadata": dict(self.metadata)}


DisplayCallback = Callable[[RichOutput], None]
"""Called in order, from the thread that collects the cell, for every rich output."""


def rich_output(message: dict[str, Any]) -> RichOutput | None:
    """The ``RichOutput`` a driver message describes, or ``None`` if it is not a valid one.

    Accepts the protocol's ``display`` (``data``, ``metadata``, ``transient``, ``update``),
    ``execute_result`` (``data``, ``metadata``) and ``clear_output`` (``wait``).
    """
    kind = message.get("type")
    if kind == "clear_output":
        return RichOutput("clear_output", wait=message.get("wait") is True)
    if kind not in ("display", "execute_result"):
        return None
    policed = police_bundle(message.get("data"), message.get("metadata"))
    if policed is None:
        return None
    data, metadata = policed
    if kind == "execute_result":
        return RichOutput("execute_result", data, metadata)
    transient = message.get("transient")
    display_id = transient.get("display_id") if isinstance(transient, dict) else None
    if not isinstance(display_id, str) or not 0 < len(display_id) <= MAX_DISPLAY_ID:
        display_id = None
    update = message.get("update") is True and display_id is not None
    return RichOutput("update_display_data" if update else "display_data", data, metadata,
                      display_id)


def payloads(value: object) -> list[dict[str, Any]]:
    """The execute reply payloads of a ``done`` message that are valid, rebuilt field by field.

    Known sources: ``page`` (``data`` policed like a display, ``start``), ``ask_exit``
    (``keepkernel``) and ``set_next_input`` (``text``, ``replace``); anything else is dropped.
    """
    if not isinstance(value, list):
        return []
    kept: list[dict[str, Any]] = []
    for item in value[:MAX_PAYLOAD_ITEMS]:
        if not isinstance(item, dict):
            continue
        source = item.get("source")
        if source == "page":
            policed = police_bundle(item.get("data"), {})
            start = item.get("start")
            if policed is not None:
                kept.append({"source": "page", "data": policed[0],
                             "start": start if type(start) is int and start >= 0 else 0})
        elif source == "ask_exit":
            kept.append({"source": "ask_exit", "keepkernel": item.get("keepkernel") is True})
        elif source == "set_next_input" and isinstance(item.get("text"), str):
            kept.append({"source": "set_next_input", "text": item["text"],
                         "replace": item.get("replace") is True})
    return kept


class DisplayLog:
    """``ExecutionResult.displays`` of one cell: displays and results in order.

    An update replaces the data of the earlier display with the same id (as a notebook shows it);
    ``clear_output`` empties the list, as it empties a notebook's output area.
    """

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.value: str | None = None
        """The ``text/plain`` of the cell's ``execute_result``, if it had one."""
        self._ids: dict[str, list[int]] = {}

    def add(self, output: RichOutput) -> None:
        if output.kind == "execute_result":
            text = output.data.get("text/plain")
            self.value = text if isinstance(text, str) else None
        if output.kind == "clear_output":
            self.items.clear()
            self._ids.clear()
        elif output.kind == "update_display_data":
            for index in self._ids.get(output.display_id or "", []):
                self.items[index] = output.bundle()
        else:
            if output.display_id is not None:
                self._ids.setdefault(output.display_id, []).append(len(self.items))
            self.items.append(output.bundle())



# Until the output policy module lands: a strict stand-in that keeps only inert types.
_INERT = ("text/plain", "image/png", "image/jpeg", "image/gif", "application/json")
_MAX_ITEM = 4 * MiB


def police_bundle(data: object, metadata: object) -> tuple[dict[str, Any], dict[str, Any]] | None:
    if not isinstance(data, dict):
        return None
    kept = {mime: value for mime, value in data.items()
            if mime in _INERT and (isinstance(value, str) and len(value) <= _MAX_ITEM
                                   or mime == "application/json")}
    if not kept:
        return None
    meta = metadata if isinstance(metadata, dict) else {}
    return kept, {mime: meta[mime] for mime in kept if isinstance(meta.get(mime), dict)}
