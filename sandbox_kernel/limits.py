"""Resource limits of one sandbox, their defaults and their validation.

This module is the single source of defaults: the engine, the kernels (through traitlets), the
magic, the CLI and the MCP server all start from ``Limits()``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, fields, replace
from typing import Any

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 120.0

SIZE_FIELDS = frozenset({"memory", "max_output", "max_code", "max_message", "tmp_size",
                         "workdir_size", "max_file_size", "max_transfer_file",
                         "max_transfer_total"})
"""Fields given in bytes, which also accept sizes like ``"256m"``."""

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": 1024 * GiB}


def parse_size(value: int | float | str, what: str = "size") -> int:
    """Read a byte count the way Docker users write it: ``268435456``, ``"256m"``, ``"1GiB"``."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number of bytes or a size like '256m', not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"{what} must be a whole number of bytes, not {value!r}")
        return int(value)
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            number, unit, _ = match.groups()
            size = float(number) * _UNITS[unit.lower()]
            if math.isfinite(size):
                return int(size)
    raise ValueError(f"{what} must be a number of bytes or a size like '256m', not {value!r}")


def format_size(size: int) -> str:
    """Render bytes the way error messages quote limits ("256 MiB")."""
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _check_number(name: str, value: Any, low: float, high: float, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if integer and not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, not {value!r}")


LIMIT_HELP: dict[str, str] = {
    "memory": "memory, e.g. 128m or 1g; no swap",
    "cpus": "CPUs, e.g. 0.5",
    "pids": "maximum number of processes and threads",
    "timeout": "seconds before the program is stopped",
    "max_timeout": "the operator's ceiling on any timeout, in seconds",
    "max_output": "cap per stream (stdout, stderr) per run, e.g. 1m; the rest is dropped",
    "max_code": "largest program or cell accepted, e.g. 10m",
    "tmp_size": "size of the private /tmp, e.g. 64m",
    "workdir_size": "size of the private working directory /workspace, e.g. 64m",
    "nofile": "maximum number of open files",
    "max_file_size": "largest file the program may write, e.g. 64m",
}
"""One line per user-settable limit: what it is and its unit (help texts of every front-end)."""


def describe_limit(limits: Limits, name: str) -> str:
    """A limit's current value as users write it: ``256 MiB``, ``0.5``, ``30 s``."""
    value = getattr(limits, name)
    if name in SIZE_FIELDS:
        return format_size(value)
    if name in ("timeout", "max_timeout"):
        return f"{value:g} s"
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Limits:
    """What one sandbox may use. Every field is validated when the object is built."""

    memory: int = 256 * MiB
    """Memory in bytes; swap is set equal, so there is no swap."""
    cpus: float = 0.5
    pids: int = 50
    timeout: float = DEFAULT_TIMEOUT
    """Default timeout of one run or cell, in seconds."""
    max_timeout: float = MAX_TIMEOUT
    max_output: int = 1 * MiB
    """Cap per stream (stdout, stderr) per run, in bytes; the rest is drained and dropped."""
    max_code: int = 10 * MiB
    max_message: int = 4 * MiB
    """Largest driver message (one protocol frame's JSON) the host parses, in bytes."""
    tmp_size: int = 64 * MiB
    workdir_size: int = 64 * MiB
    nofile: int = 256
    max_file_size: int = 64 * MiB
    network: bool = False
    """Off by default. True attaches Docker's default bridge: only for trusted code."""
    max_files: int = 1000
    """Files in one transfer in or out of the sandbox (upload, download, collect)."""
    max_transfer_file: int | None = None
    """Bytes of one transferred file; ``None``: ``workdir_size``."""
    max_transfer_total: int | None = None
    """Bytes of one transfer in total; ``None``: ``workdir_size``."""

    def __post_init__(self) -> None:
        for name in SIZE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str) or (isinstance(value, float) and math.isfinite(value)):
                object.__setattr__(self, name, parse_size(value, name))
        _check_number("memory", self.memory, 6 * MiB, 1024 * GiB, integer=True)
        _check_number("cpus", self.cpus, 0.01, float(os.cpu_count() or 1))
        _check_number("pids", self.pids, 8, 100_000, integer=True)
        _check_number("max_timeout", self.max_timeout, 0.001, 24 * 3600)
        _check_number("timeout", self.timeout, 0.001, self.max_timeout)
        _check_number("max_output", self.max_output, 1 * KiB, 1 * GiB, integer=True)
        _check_number("max_code", self.max_code, 1 * KiB, 256 * MiB, integer=True)
        # A frame's SIZE has at most 7 digits (drivers/PROTOCOL.md).
        _check_number("max_message", self.max_message, 1 * KiB, 8 * MiB, integer=True)
        _check_number("tmp_size", self.tmp_size, 1 * MiB, 64 * GiB, integer=True)
        _check_number("workdir_size", self.workdir_size, 1 * MiB, 64 * GiB, integer=True)
        _check_number("nofile", self.nofile, 16, 1_048_576, integer=True)
        _check_number("max_file_size", self.max_file_size, 1 * KiB, 64 * GiB, integer=True)
        _check_number("max_files", self.max_files, 1, 1_000_000, integer=True)
        for name in ("max_transfer_file", "max_transfer_total"):
            if getattr(self, name) is not None:
                _check_number(name, getattr(self, name), 1, 64 * GiB, integer=True)
        if not isinstance(self.network, bool):
            raise ValueError(f"network must be True or False, not {self.network!r}")

    @property
    def transfer_file_size(self) -> int:
        """Bytes one transferred file may have (``max_transfer_file``, else ``workdir_size``)."""
        return self.max_transfer_file if self.max_transfer_file is not None else self.workdir_size

    @property
    def transfer_total(self) -> int:
        """Bytes one transfer may move (``max_transfer_total``, else ``workdir_size``)."""
        return (self.max_transfer_total if self.max_transfer_total is not None
                else self.workdir_size)

    def with_overrides(self, **overrides: Any) -> Limits:
        """A copy with the given fields changed; ``None`` values mean "keep"."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def check_timeout(self, timeout: Any) -> float:
        """Validate a per-run timeout in seconds against this sandbox's maximum."""
        if timeout is None:
            return float(self.timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise ValueError(f"timeout must be a number of seconds, not {timeout!r}")
        if isinstance(timeout, float) and (math.isnan(timeout) or math.isinf(timeout)):
            raise ValueError(f"timeout must be finite, not {timeout!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        if timeout > self.max_timeout:
            raise ValueError(f"timeout must be at most {self.max_timeout:g} s, not {timeout!r}")
        return float(timeout)

    def check_code(self, code: Any) -> bytes:
        """Validate a piece of code and return it as UTF-8 bytes."""
        if isinstance(code, bytes):
            data = code
        elif isinstance(code, str):
            try:
                data = code.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(f"code is not encodable as UTF-8: {exc}") from None
        else:
            raise ValueError(f"code must be str or bytes, not {type(code).__name__}")
        if b"\x00" in data:
            raise ValueError("code must not contain NUL bytes")
        if len(data) > self.max_code:
            raise ValueError(
                f"code is {len(data)} bytes, over the limit of {format_size(self.max_code)}"
            )
        return data
