"""The project's own exceptions.

Invalid input is always a plain ``ValueError`` (raised before Docker is contacted), so callers can
separate "you asked for something impossible" from "the sandbox machinery failed".
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every error raised by the sandbox machinery itself."""


class SandboxUnavailable(SandboxError):
    """The Docker daemon cannot be reached or a sandbox image is missing.

    The message always ends with the command that fixes it, because the person reading it is
    usually in a notebook and not in the project's README.
    """
