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


class UnknownRuntime(SandboxError):
    """The chosen OCI runtime is not one the container engine has.

    Raised before any container is created; ``runtime`` is the name asked for, ``known`` the
    runtimes the engine offers, and the message names both and where the choice came from.
    """

    def __init__(self, message: str, runtime: str, known: list[str]) -> None:
        super().__init__(message)
        self.runtime = runtime
        self.known = known
