"""Files of a ``sandbox_exec`` call: decoding what the agent sends, shaping what comes back.

An agent sends files as JSON strings (text, or base64 with ``files_base64``); collected files
come back as text when they are UTF-8 and as base64 otherwise, each with its MIME type and
SHA-256, and images also as MCP image content the model can look at. The server's own caps
(``MCP_MAX_FILES``, ``MCP_MAX_BYTES``) bound a result so it fits in one JSON-RPC message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
from collections.abc import Mapping
from typing import Any

from typing_extensions import TypedDict

from sandbox_kernel.limits import Limits, MiB

MCP_MAX_FILES = 50
"""Files per call, in or out."""
MCP_MAX_BYTES = 4 * MiB
"""Bytes per call, in or out (base64 makes a third more on the wire)."""
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class CollectedFile(TypedDict, total=False):
    """One collected file in the tool's result: ``text`` or ``base64``, never both."""

    name: str
    size: int
    sha256: str
    mimeType: str
    text: str
    base64: str


def mcp_limits(limits: Limits) -> Limits:
    """``limits`` with the transfer caps lowered to what one MCP message may carry."""
    return limits.with_overrides(
        max_files=min(limits.max_files, MCP_MAX_FILES),
        max_transfer_file=min(limits.transfer_file_size, MCP_MAX_BYTES),
        max_transfer_total=min(limits.transfer_total, MCP_MAX_BYTES),
    )


def decode_files(files: object, encoded: bool) -> dict[str, bytes]:
    """``{name: bytes}`` from the tool's ``files`` argument; ``ValueError`` for a wrong shape or
    invalid base64 (names and sizes are checked later, by the engine's rules)."""
    if not isinstance(files, Mapping):
        raise ValueError("files must be an object mapping file names to contents")
    decoded: dict[str, bytes] = {}
    for name, content in files.items():
        if not isinstance(name, str) or not isinstance(content, str):
            raise ValueError("files must map file names to strings")
        if encoded:
            try:
                decoded[name] = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"the content of {name!r} is not valid base64") from None
        else:
            decoded[name] = content.encode("utf-8", "surrogatepass")
    return decoded


def mime_type(name: str, data: bytes) -> str:
    guessed = mimetypes.guess_type(name, strict=False)[0]
    if guessed:
        return guessed
    return "text/plain" if _text(data) is not None else "application/octet-stream"


def _text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def shape_files(files: Mapping[str, bytes]) -> list[CollectedFile]:
    """The ``files`` field of the tool's result, sorted by name."""
    shaped: list[CollectedFile] = []
    for name in sorted(files):
        data = files[name]
        entry: CollectedFile = {"name": name, "size": len(data),
                                "sha256": hashlib.sha256(data).hexdigest(),
                                "mimeType": mime_type(name, data)}
        text = _text(data) if not entry["mimeType"].startswith("image/") else None
        if text is not None:
            entry["text"] = text
        else:
            entry["base64"] = base64.b64encode(data).decode("ascii")
        shaped.append(entry)
    return shaped


def audit_files(files: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """Names, sizes and digests for the audit log (never the contents)."""
    return [{"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in sorted(files.items())]
