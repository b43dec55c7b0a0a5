"""Tar archives to and from a sandbox, built and read in memory.

``tar`` is in every image (Debian minbase), reads and writes streams, and never follows a
symlink it archives. What comes back from a sandbox is hostile: ``unpack`` reads members into
memory (never onto a disk) after checking each header against the extraction rules of Python's
``data`` filter (no absolute names, no ``..``, no links, no devices) and against our limits,
before reading the member's data.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterable, Mapping

from sandbox_kernel.files.names import check_name
from sandbox_kernel.files.rules import TransferRules

SANDBOX_UID = 65534

BLOCK = 512
OVERHEAD_PER_FILE = 3 * BLOCK
"""Header, GNU long-name header and padding: the most ``tar -c`` adds around one file's data."""
OVERHEAD_ARCHIVE = 20 * BLOCK
"""The end-of-archive blocks, padded to GNU tar's default record of 10 KiB."""


def archive_cap(rules: TransferRules, count: int) -> int:
    """The most bytes a ``tar -c`` of ``count`` files within ``rules`` can produce."""
    return rules.max_total + (count + 1) * OVERHEAD_PER_FILE + OVERHEAD_ARCHIVE


def pack(files: Mapping[str, bytes]) -> bytes:
    """A tar of ``files`` (checked names), owned by the sandbox user, mode 0644."""
    buffer = io.BytesIO()
    now = int(time.time())  # a whole second: no pax header for the time
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = now
            info.uid = info.gid = SANDBOX_UID
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class ArchiveError(ValueError):
    """A tar from the sandbox broke a rule; the message names the member and the rule."""


def _check_member(member: tarfile.TarInfo) -> str:
    try:
        name = check_name(member.name, "archive member")
    except ValueError as exc:
        raise ArchiveError(str(exc)) from None
    if member.issym() or member.islnk():
        raise ArchiveError(f"{name!r} is a link (to {member.linkname!r}); links are never "
                           "followed out of the sandbox")
    if not (member.isreg() or member.isdir()):
        raise ArchiveError(f"{name!r} is not a regular file")
    try:
        tarfile.data_filter(member, "/nonexistent-destination")
    except tarfile.FilterError as exc:
        raise ArchiveError(f"{name!r}: {exc}") from None
    return name


def unpack(
    data: bytes, rules: TransferRules, wanted: Iterable[str] | None = None
) -> dict[str, bytes]:
    """``{name: bytes}`` of the regular files in ``data`` (directories are skipped).

    ``wanted``: the only names allowed (``None``: any). Raises ``ArchiveError`` (a
    ``ValueError``) naming the member for a bad name, a link, a device, an unwanted member, a
    member or a total over ``rules``, and for a malformed archive.
    """
    allowed = set(wanted) if wanted is not None else None
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            while (member := archive.next()) is not None:
                name = _check_member(member)
                if member.isdir():
                    continue
                if allowed is not None and name not in allowed:
                    raise ArchiveError(f"the sandbox sent {name!r}, which was not asked for")
                if name in files:
                    raise ArchiveError(f"the sandbox sent {name!r} twice")
                rules.check_count(len(files) + 1)
                total += member.size
                rules.check_size(name, member.size, total)
                reader = archive.extractfile(member)
                assert reader is not None  # a regular file always has a reader
                content = reader.read(member.size)
                if len(content) != member.size:
                    raise ArchiveError(f"{name!r} was cut short in the archive")
                files[name] = content
    except tarfile.TarError as exc:
        raise ArchiveError(f"the sandbox sent a malformed archive ({exc})") from None
    return files
