"""An in-memory history of the cells one kernel ran, answering ``history_request``.

The sandbox holds no history of its own and the kernel keeps nothing on disk (a sandbox's code may
be sensitive), so history lives as long as the kernel process: session number 1 is "this kernel".
"""

from __future__ import annotations

import fnmatch
from typing import Any

SESSION = 1


class CellHistory:
    def __init__(self) -> None:
        self._cells: list[tuple[int, str]] = []

    def record(self, line: int, code: str) -> None:
        self._cells.append((line, code))

    def query(
        self,
        hist_access_type: str,
        output: bool = False,
        session: int | None = None,
        start: int | None = None,
        stop: int | None = None,
        n: int | None = None,
        pattern: str | None = None,
        unique: bool = False,
    ) -> list[tuple[int, int, Any]]:
        """Entries ``(session, line, input)``, or ``(session, line, (input, None))`` with
        ``output``: outputs are not kept, they can be large."""
        cells = self._cells
        if hist_access_type == "tail":
            cells = cells[-n:] if n else cells
        elif hist_access_type == "range":
            if session not in (None, 0, SESSION):
                cells = []  # earlier sessions are not kept
            cells = [c for c in cells
                     if (start is None or c[0] >= start) and (stop is None or c[0] < stop)]
        elif hist_access_type == "search":
            glob = pattern or "*"
            cells = [c for c in cells if fnmatch.fnmatchcase(c[1], glob)]
            if unique:
                seen: set[str] = set()
                kept = []
                for cell in reversed(cells):
                    if cell[1] not in seen:
                        seen.add(cell[1])
                        kept.append(cell)
                cells = kept[::-1]
            if n:
                cells = cells[-n:]
        else:
            cells = []
        if output:
            return [(SESSION, line, (code, None)) for line, code in cells]
        return [(SESSION, line, code) for line, code in cells]
