"""The programs that run inside containers (``sandbox_kernel/drivers/``), read once per process.

They are package data, not host code: the host sends them to a container (a session driver on
stdin, the one-shot wrapper and ``doctor``'s probe as a command or program). Reading them once
keeps file I/O off the path of every one-shot launch.
"""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def driver_file(name: str) -> bytes:
    """The bytes of ``sandbox_kernel/drivers/<name>``; ``FileNotFoundError`` if there is none."""
    return resources.files("sandbox_kernel.drivers").joinpath(name).read_bytes()


def driver_text(name: str) -> str:
    """``driver_file`` decoded as UTF-8."""
    return driver_file(name).decode("utf-8")
