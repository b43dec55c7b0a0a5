"""How much may cross the sandbox boundary in one transfer: bytes per file, in total, and files.

Defaults (issue 14): per file and in total, the size of the sandbox's working directory
(``Limits.workdir_size``), which is all a sandbox could hold anyway; ``Limits.max_files`` files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sandbox_kernel.files.names import check_name
from sandbox_kernel.limits import Limits, format_size


@dataclass(frozen=True)
class TransferRules:
    max_file_size: int
    """Bytes one file may have."""
    max_total: int
    """Bytes all files of one transfer may have together."""
    max_files: int
    """Files in one transfer."""

    @classmethod
    def from_limits(cls, limits: Limits) -> TransferRules:
        return cls(limits.transfer_file_size, limits.transfer_total, limits.max_files)

    def check_count(self, count: int, what: str = "files") -> None:
        if count > self.max_files:
            raise ValueError(f"{count} {what} is over the limit of {self.max_files} files "
                             "per transfer")

    def check_size(self, name: str, size: int, total: int) -> None:
        """``ValueError`` naming ``name`` and the limit; ``total`` includes ``size``."""
        if size > self.max_file_size:
            raise ValueError(f"{name!r} is {size} bytes, over the limit of "
                             f"{format_size(self.max_file_size)} per file")
        if total > self.max_total:
            raise ValueError(f"{name!r} brings the transfer to {total} bytes, over the limit of "
                             f"{format_size(self.max_total)} in total")

    def check_files(self, files: Mapping[str, bytes]) -> dict[str, bytes]:
        """Validated ``{normalised name: bytes}``; ``ValueError`` for a bad name, type or size."""
        if not isinstance(files, Mapping):
            raise ValueError(f"files must be a mapping of names to bytes, not "
                             f"{type(files).__name__}")
        self.check_count(len(files))
        checked: dict[str, bytes] = {}
        directories: set[str] = set()
        total = 0
        for name, data in files.items():
            clean = check_name(name)
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise ValueError(f"the content of {name!r} must be bytes, not "
                                 f"{type(data).__name__}")
            data = bytes(data)
            total += len(data)
            self.check_size(clean, len(data), total)
            parents = _parents(clean)
            if clean in checked or clean in directories or any(p in checked for p in parents):
                raise ValueError(f"{name!r} clashes with another file of the transfer")
            directories.update(parents)
            checked[clean] = data
        return checked


def _parents(name: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b"]``."""
    parts = name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
