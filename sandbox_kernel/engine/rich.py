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

from sandbox_kernel.limits import format_size
from sandbox_kernel.output_policy import NOTE_PREFIX, OutputBudget, OutputPolicy

KINDS = ("display_data", "update_display_data", "execute_result", "clear_output")
MAX_PAYLOAD_ITEMS = 16
POLICY = OutputPolicy()
"""The policy every front-end's rich output goes through (``output_policy.py``)."""


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


def rich_output(message: dict[str, Any], budget: OutputBudget) -> RichOutput | None:
    """The ``RichOutput`` a driver message describes after the output policy, or ``None``.

    Accepts the protocol's ``display`` (``data``, ``metadata``, ``transient``, ``update``),
    ``execute_result`` (``data``, ``metadata``) and ``clear_output`` (``wait``); what the policy
    drops leaves a note in ``budget`` (the caller shows it as stderr).
    """
    kind = message.get("type")
    content: dict[str, Any] = {"data": message.get("data"), "metadata": message.get("metadata")}
    if kind == "clear_output":
        msg_type, content = "clear_output", {"wait": message.get("wait")}
    elif kind == "execute_result":
        msg_type = "execute_result"
    elif kind == "display":
        msg_type = "update_display_data" if message.get("update") is True else "display_data"
        content["transient"] = message.get("transient")
    else:
        return None
    safe = POLICY.message(msg_type, content, budget)
    if safe is None:
        return None
    if safe.display is None:
        return RichOutput("clear_output", wait=safe.content.get("wait") is True)
    shown = safe.display
    return RichOutput(safe.msg_type, dict(shown.data), dict(shown.metadata), shown.display_id)


def rejected_notes(
    oversized: int, malformed: int, max_message: int, where: str = "this cell"
) -> list[str]:
    """The stderr notes (each ending in LF) for a cell's (or a one-shot run's: ``where``) own
    driver messages that were dropped: ``oversized`` over ``max_message`` bytes
    (``Limits.max_message``), ``malformed`` failing validation. Never silent: the user sees that
    the output was not shown in full."""
    notes = []
    if oversized:
        notes.append(f"{NOTE_PREFIX}a message over {format_size(max_message)} "
                     f"from the sandbox was dropped ({oversized} in {where})\n")
    if malformed:
        notes.append(f"{NOTE_PREFIX}dropped {malformed} malformed message(s) from the "
                     "sandbox\n")
    return notes


def police_bundle(
    data: object, metadata: object, budget: OutputBudget | None = None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A MIME bundle that is not a cell output (a pager page, an inspect reply) after the
    policy: ``(data, metadata)``, or ``None`` when nothing of it may be shown."""
    shown = POLICY.display(data, metadata, budget or POLICY.budget(), counted=False)
    if shown is None:
        return None
    return dict(shown.data), dict(shown.metadata)


def payloads(value: object, budget: OutputBudget | None = None) -> list[dict[str, Any]]:
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
            policed = police_bundle(item.get("data"), {}, budget)
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

