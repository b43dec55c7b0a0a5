"""Per-cell options handled by the kernel on the host, written as the cell's first lines.

* ``%%timeout SECONDS``: the cell's timeout;
* ``%upload PATH [DEST]``: host files (globs allowed) copied into the sandbox before the cell;
* ``%download PATH [DEST]``: sandbox files (globs allowed) copied to the host after the cell.

Directive lines are replaced by empty ones rather than removed, so line numbers in tracebacks
still match the cell. ``%%`` cannot begin a valid first line in Python or JavaScript and is an
unlikely one in Bash (a job spec), and the kernel takes ``%upload``/``%download`` lines before
IPython sees them, so the syntax takes nothing away from the languages. Paths follow shell
quoting (``%upload "my data.csv"``).
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass

_TIMEOUT = re.compile(r"^%%timeout(?:\s+(\S*))?\s*$")
_TRANSFER = re.compile(r"^%(upload|download)(?:\s+(.*))?$")


@dataclass(frozen=True)
class Transfer:
    """One ``%upload``/``%download`` line: ``path`` (a glob) and an optional ``dest``."""

    path: str
    dest: str | None = None


@dataclass(frozen=True)
class Cell:
    code: str
    timeout: float | None = None
    """Seconds, from ``%%timeout S``; ``None`` means the kernel's configured timeout."""
    uploads: tuple[Transfer, ...] = ()
    downloads: tuple[Transfer, ...] = ()


def _timeout(line: str, text: str) -> float:
    try:
        seconds = float(text.rstrip("s"))
    except ValueError:
        raise ValueError(f"%%timeout needs a number of seconds, e.g. '%%timeout 5', not {line!r}"
                         ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"%%timeout must be a positive number of seconds, not {text!r}")
    return seconds


def _transfer(verb: str, line: str, text: str) -> Transfer:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"%{verb}: {exc} in {line!r}") from None
    if not 1 <= len(words) <= 2:
        raise ValueError(f"%{verb} takes PATH [DEST], e.g. '%{verb} data/*.csv', not {line!r}")
    return Transfer(words[0], words[1] if len(words) == 2 else None)


def parse_cell(code: str) -> Cell:
    """Split the directive lines off the top of ``code``; ``ValueError`` for a malformed one."""
    lines = code.split("\n")
    timeout: float | None = None
    uploads: list[Transfer] = []
    downloads: list[Transfer] = []
    taken = 0
    for line in lines:
        stripped = line.rstrip("\r")
        timeout_match = _TIMEOUT.match(stripped)
        transfer_match = _TRANSFER.match(stripped.rstrip())
        if timeout_match is not None and timeout is None:
            timeout = _timeout(stripped, timeout_match.group(1) or "")
        elif transfer_match is not None:
            verb, text = transfer_match.group(1), transfer_match.group(2) or ""
            (uploads if verb == "upload" else downloads).append(
                _transfer(verb, stripped, text))
        else:
            break
        taken += 1
    if taken == 0:
        return Cell(code)
    body = "\n" * taken + "\n".join(lines[taken:]) if taken < len(lines) else "\n" * (taken - 1)
    return Cell(body, timeout, tuple(uploads), tuple(downloads))
