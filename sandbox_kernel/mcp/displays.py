"""What a call displayed (plots, HTML), as MCP content beside the text result.

The engine has already put every display through the output policy. Images become MCP image
content (base64 as the sandbox's PNG/JPEG/GIF formatter produced it), capped in number and
bytes so that one call cannot flood the agent's context; HTML stays text (sanitized by the policy).
Anything dropped is counted in the structured result, so the agent knows.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from sandbox_kernel.limits import MiB

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
MAX_IMAGES = 8
MAX_IMAGE_BYTES = 2 * MiB
"""Decoded bytes of one image; a larger one is dropped."""
MAX_TOTAL_IMAGE_BYTES = 4 * MiB
MAX_HTML = 256 * 1024
"""Characters of HTML returned per call, all displays together."""


@dataclass
class DisplayContent:
    """``images``: ``(mime_type, base64)`` pairs in display order; ``html``: sanitized HTML
    strings; ``dropped``: displays left out by the caps."""

    images: list[tuple[str, str]] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    dropped: int = 0


def display_content(displays: list[dict[str, Any]]) -> DisplayContent:
    """Split ``ExecutionResult.displays`` into images and HTML for an MCP reply, within caps."""
    content = DisplayContent()
    image_bytes = html_chars = 0
    for item in displays:
        data = item.get("data") or {}
        mime = next((m for m in IMAGE_TYPES if isinstance(data.get(m), str)), None)
        if mime is not None:
            size = _decoded_size(data[mime])
            if (size is None or size > MAX_IMAGE_BYTES or len(content.images) >= MAX_IMAGES
                    or image_bytes + size > MAX_TOTAL_IMAGE_BYTES):
                content.dropped += 1
                continue
            image_bytes += size
            content.images.append((mime, "".join(data[mime].split())))
        elif isinstance(data.get("text/html"), str):
            html = data["text/html"]
            if html_chars + len(html) > MAX_HTML:
                content.dropped += 1
                continue
            html_chars += len(html)
            content.html.append(html)
    return content


def _decoded_size(text: str) -> int | None:
    """Bytes of a base64 payload, or ``None`` if it is not valid base64."""
    try:
        return len(base64.b64decode("".join(text.split()), validate=True))
    except (binascii.Error, ValueError):
        return None
