"""Jupyter iopub messages for a sandbox's rich outputs.

The kernel builds each message's content here from a policed ``RichOutput``
(``engine/rich.py``), field by field; nothing the sandbox sent reaches the frontend as is.
Message shapes are those of the Jupyter messaging spec (``display_data``,
``update_display_data``, ``execute_result``, ``clear_output``).
"""

from __future__ import annotations

from typing import Any

from sandbox_kernel.engine.rich import RichOutput


def iopub_message(output: RichOutput, execution_count: int) -> tuple[str, dict[str, Any]]:
    """``(msg_type, content)`` of the iopub message that shows ``output``.

    ``execution_count`` is the kernel's own count, used for ``execute_result``.
    """
    if output.kind == "clear_output":
        return "clear_output", {"wait": output.wait}
    content: dict[str, Any] = {"data": dict(output.data), "metadata": dict(output.metadata)}
    if output.kind == "execute_result":
        content["execution_count"] = execution_count
        return "execute_result", content
    content["transient"] = {} if output.display_id is None else {"display_id": output.display_id}
    return output.kind, content
