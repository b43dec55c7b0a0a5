"""Rich outputs from a driver (engine/rich.py): forged or malformed messages, the output policy
applied to every bundle, payloads rebuilt field by field, ``ExecutionResult.displays``."""

from __future__ import annotations

from typing import Any

from sandbox_kernel.engine.rich import POLICY, DisplayLog, payloads, rich_output
from sandbox_kernel.jupyter.rich import iopub_message


def output(message: dict[str, Any]) -> Any:
    return rich_output(message, POLICY.budget())


def test_display_update_result_and_clear_become_jupyter_kinds() -> None:
    shown = output({"type": "display", "data": {"text/plain": "a"}, "metadata": {},
                    "transient": {"display_id": "box"}, "update": False})
    update = output({"type": "display", "data": {"text/plain": "b"}, "metadata": {},
                     "transient": {"display_id": "box"}, "update": True})
    value = output({"type": "execute_result", "data": {"text/plain": "42"}, "metadata": {}})
    clear = output({"type": "clear_output", "wait": True})
    assert (shown.kind, shown.display_id) == ("display_data", "box")
    assert (update.kind, update.display_id) == ("update_display_data", "box")
    assert iopub_message(value, 7) == ("execute_result", {
        "data": {"text/plain": "42"}, "metadata": {}, "execution_count": 7})
    assert iopub_message(clear, 7) == ("clear_output", {"wait": True})
    assert iopub_message(shown, 7)[1]["transient"] == {"display_id": "box"}


def test_hostile_and_malformed_messages_are_dropped_or_cleaned() -> None:
    budget = POLICY.budget()
    assert rich_output({"type": "display", "data": "not a bundle"}, budget) is None
    assert rich_output({"type": "comm_open", "data": {}}, budget) is None
    assert rich_output({"type": "display", "data": {"application/javascript": "x()"}},
                       budget) is None
    assert any("application/javascript" in note for note in budget.take_notes())
    # An update needs a display id; "wait" is true only as the boolean true.
    assert output({"type": "display", "data": {"text/plain": "x"}, "update": True}) is None
    assert output({"type": "clear_output", "wait": "yes"}).wait is False
    html = output({"type": "display", "data": {
        "text/html": "<img src=x onerror=alert(1)><script>alert(2)</script><i>ok</i>"}})
    assert "<i>ok</i>" in html.data["text/html"]
    assert "alert" not in html.data["text/html"] and "onerror" not in html.data["text/html"]


def test_payloads_are_rebuilt_and_pages_policed() -> None:
    kept = payloads([
        {"source": "page", "data": {"text/html": "<script>x</script>", "text/plain": "doc"},
         "start": -3},
        {"source": "ask_exit", "keepkernel": "no", "extra": 1},
        {"source": "set_next_input", "text": 5},
        {"source": "edit_magic", "filename": "/etc/passwd"},
        "junk",
    ])
    assert kept[0]["source"] == "page" and kept[0]["start"] == 0
    assert kept[0]["data"]["text/plain"] == "doc" and "script" not in str(kept[0]["data"])
    assert kept[1:] == [{"source": "ask_exit", "keepkernel": False}]
    assert payloads("not a list") == [] and len(payloads([{"source": "ask_exit"}] * 100)) == 16


def test_display_log_is_the_api_view_of_a_cells_outputs() -> None:
    log = DisplayLog()
    for message in (
        {"type": "display", "data": {"text/plain": "old"}, "transient": {"display_id": "d"}},
        {"type": "display", "data": {"text/plain": "new"}, "transient": {"display_id": "d"},
         "update": True},
        {"type": "execute_result", "data": {"text/plain": "42"}},
    ):
        log.add(output(message))
    assert log.items == [{"data": {"text/plain": "new"}, "metadata": {}},
                         {"data": {"text/plain": "42"}, "metadata": {}}]
    assert log.value == "42"
    log.add(output({"type": "clear_output"}))
    assert log.items == []
