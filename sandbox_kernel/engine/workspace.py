"""File transfer into and out of a running sandbox's working directory.

The bytes do not travel over the driver protocol (whose framing belongs to the drivers) nor
through Docker's archive API (which cannot write into the tmpfs the working directory is): each
operation is one short-lived ``exec`` of ``tar`` or ``find`` in the container, as the sandbox
user, with a tar stream on its stdin or stdout (``DockerSandbox.exec``). A listing comes first
for downloads, so that limits are checked before any data moves, and only regular files that
``find`` reached without following a symlink are ever asked of ``tar``.

What remains: ``tar`` opens the names it is given by path, so code still running in the sandbox
could swap a listed directory for a symlink between the listing and the read. The worst that
gives is a file the sandbox user can read anyway, and which that code could copy into the
working directory itself; nothing on the host is reachable that way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox_kernel.errors import SandboxError
from sandbox_kernel.files.archive import archive_cap, pack, unpack
from sandbox_kernel.files.globs import has_magic, matches, selects
from sandbox_kernel.files.names import check_name, is_inside
from sandbox_kernel.files.rules import TransferRules
from sandbox_kernel.limits import MiB

if TYPE_CHECKING:
    from sandbox_kernel.backends import ExecOutput
    from sandbox_kernel.engine.sandbox import DockerSandbox
    from sandbox_kernel.result import ExecutionResult

LISTING_CAP = 16 * MiB
"""Bytes of ``find`` output read for one listing (about 300,000 names)."""
TRANSFER_TIMEOUT = 60.0
"""Seconds one exec may take; 64 MiB move in about a second."""
STATUS_CAP = 64 * 1024

# find prints "<type> <size> <name>\0" for everything below the working directory; it never
# follows a symlink (-P is its default), so a link shows up as type "l", not as its target.
LIST_COMMAND = ["find", ".", "-mindepth", "1", "-printf", "%y %s %P\\0"]
# Names come on stdin, NUL-separated and taken verbatim (a name may start with "-").
ARCHIVE = "tar -cf - --no-recursion --null --verbatim-files-from -T -"
EXTRACT = "tar -xf - --no-same-owner --no-same-permissions"


def _fed(command: str, size: int) -> list[str]:
    """``command`` reading exactly ``size`` bytes of stdin: ``head`` ends its input, as the end
    of the exec's stdin does not reach the process under every runtime (gVisor's exec)."""
    return ["sh", "-c", f'head -c "$1" | {command}', "sh", str(size)]


class TransferError(SandboxError, ValueError):
    """A transfer failed in or because of the sandbox (over a limit, a link, a missing file).

    Both a ``SandboxError`` and a ``ValueError``; the message names the file and the rule.
    After a one-shot run, ``result`` holds the run's result (without its files).
    """

    result: ExecutionResult | None = None


@dataclass(frozen=True)
class Entry:
    """One entry of the working directory, as ``find`` saw it."""

    name: str
    kind: str
    """``f`` regular file, ``d`` directory, ``l`` symbolic link, others as ``find -printf %y``."""
    size: int


def parse_listing(data: bytes) -> list[Entry]:
    """Entries from ``LIST_COMMAND``'s output; malformed or non-UTF-8 records are skipped."""
    entries = []
    for record in data.split(b"\0"):
        kind, _, rest = record.partition(b" ")
        size, _, raw_name = rest.partition(b" ")
        if len(kind) != 1 or not size.isdigit() or not raw_name:
            continue
        try:
            name = check_name(raw_name.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        entries.append(Entry(name, kind.decode(), int(size)))
    return entries


def select(entries: Sequence[Entry], patterns: Iterable[str]) -> list[Entry]:
    """The regular files ``patterns`` (checked) bring (``files.globs.selects``: a directory
    stands for the files below it, hidden names only where a pattern spells their dot).

    A pattern without glob characters that names a link or a special file raises
    ``TransferError``: naming a link never returns what it points to. Globs skip such entries.
    """
    chosen: dict[str, Entry] = {}
    for pattern in patterns:
        for entry in entries:
            if entry.kind == "f":
                if selects(pattern, entry.name):
                    chosen.setdefault(entry.name, entry)
            elif entry.kind != "d" and not has_magic(pattern) and matches(pattern, entry.name):
                what = "a symbolic link" if entry.kind == "l" else "not a regular file"
                raise TransferError(f"{entry.name!r} is {what} in the sandbox; links are never "
                                    "followed")
    return sorted(chosen.values(), key=lambda e: e.name)


class Workspace:
    """The working directory of one running container: list, put, get and collect files."""

    def __init__(self, sandbox: DockerSandbox, container_id: str, rules: TransferRules) -> None:
        self.sandbox = sandbox
        self.container_id = container_id
        self.rules = rules

    def put(self, files: Mapping[str, bytes]) -> None:
        """Write ``files`` (already checked with ``TransferRules.check_files``) into the sandbox.

        Parent directories are created. Raises ``TransferError`` when ``tar`` fails there (the
        working directory is full, a name is taken by a directory, ...).
        """
        if not files:
            return
        archive = pack(files)
        out = self._exec(_fed(EXTRACT, len(archive)), archive, STATUS_CAP)
        if out.exit_code != 0:
            raise TransferError(f"writing {len(files)} file(s) into the sandbox failed: "
                                f"{_reason(out.stderr, out.timed_out)}")

    def entries(self) -> list[Entry]:
        """Everything below the working directory (links and special files included)."""
        out = self._exec(LIST_COMMAND, b"", LISTING_CAP)
        if out.overflowed:
            raise TransferError(f"the working directory holds too many files to list (over "
                                f"{LISTING_CAP // MiB} MiB of names)")
        # Status 1 with output: some directory was unreadable; the rest is listed.
        if out.exit_code not in (0, 1) or (out.exit_code == 1 and not out.stdout):
            raise TransferError(f"listing the working directory failed: "
                                f"{_reason(out.stderr, out.timed_out)}")
        return parse_listing(out.stdout)

    def list_files(self, path: str = ".") -> list[str]:
        """Names of the regular files at or below ``path``, sorted."""
        where = check_name(path, "path", allow_root=True)
        return sorted(e.name for e in self.entries() if e.kind == "f" and is_inside(e.name, where))

    def get(self, wanted: Sequence[Entry]) -> dict[str, bytes]:
        """The content of listed regular files, within the limits; ``TransferError`` otherwise."""
        self._check(wanted)
        if not wanted:
            return {}
        names = [entry.name for entry in wanted]
        stdin = b"".join(name.encode() + b"\0" for name in names)
        out = self._exec(_fed(ARCHIVE, len(stdin)), stdin, archive_cap(self.rules, len(names)))
        if out.timed_out:
            raise TransferError(f"reading {len(names)} file(s) from the sandbox failed: "
                                f"{_reason(out.stderr, True)}")
        try:
            files = unpack(out.stdout, self.rules, names)
        except ValueError as exc:
            raise TransferError(str(exc)) from None
        if out.overflowed:
            raise TransferError(f"the files grew past the limit of {self.rules.max_total} bytes "
                                "while they were read")
        if out.exit_code != 0 and not _only_grew(out.exit_code, out.stderr):
            raise TransferError(f"reading {len(names)} file(s) from the sandbox failed: "
                                f"{_reason(out.stderr, out.timed_out)}")
        missing = [name for name in names if name not in files]
        if missing:
            raise TransferError(f"{missing[0]!r} disappeared while it was read")
        return files

    def download(self, path: str) -> bytes:
        """One regular file's content; ``FileNotFoundError`` when there is none by that name."""
        name = check_name(path)
        entry = next((e for e in self.entries() if e.name == name), None)
        if entry is None:
            raise FileNotFoundError(f"no file {name!r} in the sandbox's working directory")
        if entry.kind != "f":
            what = {"l": "a symbolic link", "d": "a directory"}.get(entry.kind,
                                                                    "not a regular file")
            raise TransferError(f"{name!r} is {what} in the sandbox; only regular files are "
                                "downloaded and links are never followed")
        return self.get([entry])[name]

    def collect(self, patterns: Sequence[str]) -> dict[str, bytes]:
        """The regular files matching ``patterns`` (checked), within the limits."""
        if not patterns:
            return {}
        return self.get(select(self.entries(), patterns))

    def _exec(self, command: list[str], stdin: bytes, cap: int) -> ExecOutput:
        """One bounded exec; a container that is gone (the program ended it, or a restart)
        is a ``TransferError`` too."""
        try:
            return self.sandbox.exec(self.container_id, command, stdin, stdout_cap=cap,
                                     timeout=TRANSFER_TIMEOUT)
        except TransferError:
            raise
        except SandboxError as exc:
            raise TransferError(f"the sandbox cannot transfer files now: {exc}") from None

    def _check(self, wanted: Sequence[Entry]) -> None:
        try:
            self.rules.check_count(len(wanted))
            total = 0
            for entry in wanted:
                total += entry.size
                self.rules.check_size(entry.name, entry.size, total)
        except ValueError as exc:
            raise TransferError(str(exc)) from None


def _only_grew(status: int | None, stderr: bytes) -> bool:
    """tar's status 1 when files grew while read: each one's first bytes came, a prefix."""
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return status == 1 and bool(lines) and all("file changed as we read it" in line
                                               or "Exiting with failure status" in line
                                               for line in lines)


def _reason(stderr: bytes, timed_out: bool) -> str:
    if timed_out:
        return f"no answer within {TRANSFER_TIMEOUT:g} s"
    text = stderr.decode("utf-8", "replace").strip()
    return text.splitlines()[0][:300] if text else "the sandbox gave no reason"
