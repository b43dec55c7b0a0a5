"""Per-cell options written as a first line such as ``%%timeout 5``.

The first line is replaced by an empty one rather than removed, so line numbers in tracebacks
still match the cell. ``%%`` cannot begin a valid first line in Python or JavaScript and is an
unlikely one in Bash (a job spec), so the syntax does not take anything away from the languages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_DIRECTIVE = re.compile(r"^%%timeout(?:\s+(\S*))?\s*$")


@dataclass(frozen=True)
class Cell:
    code: str
    timeout: float | None = None
    """Seconds, from ``%%timeout S``; ``None`` means the kernel's configured timeout."""


def parse_cell(code: str) -> Cell:
    """Split the directive line off ``code``; ``ValueError`` for a malformed one."""
    first, newline, rest = code.partition("\n")
    match = _DIRECTIVE.match(first.rstrip("\r"))
    if match is None:
        return Cell(code)
    text = match.group(1) or ""
    try:
        seconds = float(text.rstrip("s"))
    except ValueError:
        raise ValueError(f"%%timeout needs a number of seconds, e.g. '%%timeout 5', not {first!r}"
                         ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"%%timeout must be a positive number of seconds, not {text!r}")
    return Cell(newline + rest, seconds)
