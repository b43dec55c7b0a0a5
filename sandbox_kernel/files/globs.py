"""Glob patterns over names in the working directory, as ``collect`` and ``--download`` take them.

Shell rules, segment by segment: ``*``, ``?`` and ``[...]`` never cross a ``/``; a segment ``**``
matches any number of directories (zero included). Matching happens on the host, against a
listing the sandbox produced, so the sandbox's shell never expands anything we send.

Hidden names (a segment starting with ``.``) are the sandbox's choice, and some of them run code
where they land on the host (``.bashrc``, ``.ipython/profile_default/startup/``,
``.git/hooks/``): as in the shell, a wildcard never matches a leading ``.`` and ``**`` never
enters a hidden directory, and a directory brought whole (its name matched) brings none of the
hidden names below it. A hidden name comes only when the pattern spells its dot
(``.config/*``, ``sub/.env``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from sandbox_kernel.files.names import check_name

_MAGIC = re.compile(r"[*?\[]")


def has_magic(pattern: str) -> bool:
    """Whether ``pattern`` contains glob characters (else it names one path literally)."""
    return _MAGIC.search(pattern) is not None


def check_pattern(pattern: object) -> str:
    """A normalised pattern; ``ValueError`` under the same rules as names (``check_name``)."""
    return check_name(pattern, "pattern")


def _segment(segment: str) -> str:
    """A regular expression for one segment: ``*``, ``?`` and ``[...]`` never match ``/``, nor
    a leading ``.`` (unless the segment starts with a literal one)."""
    out, i = [] if segment.startswith(".") else [r"(?!\.)"], 0
    while i < len(segment):
        char = segment[i]
        i += 1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            j = i + 1 if i < len(segment) and segment[i] in "!^" else i
            j = j + 1 if j < len(segment) and segment[j] == "]" else j
            close = segment.find("]", j)
            if close < 0:
                out.append(re.escape(char))
                continue
            body = segment[i:close]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\").replace("/", "")
            out.append(f"[{'^/' if negate else ''}{body}]" if body else "(?!)")
            i = close + 1
        else:
            out.append(re.escape(char))
    return "".join(out)


def check_patterns(patterns: object) -> list[str]:
    """A list of checked patterns; ``ValueError`` for a bare string or a bad pattern."""
    if isinstance(patterns, (str, bytes)):
        raise ValueError("collect must be a list of glob patterns, not a single string")
    if not isinstance(patterns, (list, tuple)):
        raise ValueError(f"collect must be a list of glob patterns, not {type(patterns).__name__}")
    return [check_pattern(pattern) for pattern in patterns]


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    regex = ""
    segments = pattern.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex += r"(?:[^/.][^/]*(?:/[^/.][^/]*)*)?" if last else r"(?:[^/.][^/]*/)*"
        else:
            regex += _segment(segment) + ("" if last else "/")
    return re.compile(regex, re.DOTALL)


def selects(pattern: str, name: str) -> bool:
    """Whether ``pattern`` brings the file ``name``: it matches it, or a directory above it and
    nothing below that directory is hidden."""
    return matches(pattern, name) or any(
        matches(pattern, name[:i]) and not _hidden(name[i + 1:])
        for i, char in enumerate(name) if char == "/")


def _hidden(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))


def matches(pattern: str, name: str) -> bool:
    """Whether normalised ``name`` matches normalised ``pattern``."""
    if not has_magic(pattern):
        return name == pattern
    return _compile(pattern).fullmatch(name) is not None
