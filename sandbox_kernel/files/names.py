"""Names of files in the sandbox's working directory: relative, inside it, representable.

The rule (issue 14, point 2): no absolute path, no ``..``, no NUL. A name that breaks it raises
``ValueError`` before a container is touched, in every front-end. Nor a control character or a
bidirectional override: such a name, listed by a sandbox, would reach the host's disk and
terminal as it is (an escape sequence in a file name runs in whoever lists it), and would show
as another name in our own messages; a listing skips it.
"""

from __future__ import annotations

import posixpath
import re

from sandbox_kernel.output_policy import BIDI_CONTROLS

MAX_NAME_BYTES = 4096
"""Linux's PATH_MAX; a longer name could not be opened in the sandbox anyway."""
_UNSHOWABLE = re.compile(f"[\x01-\x1f\x7f-\x9f{BIDI_CONTROLS}]")


def check_name(name: object, what: str = "file name", *, allow_root: bool = False) -> str:
    """``name`` as a normalised relative POSIX path (``a/./b//c`` -> ``a/b/c``).

    ``allow_root`` accepts ``"."`` (the working directory itself, for listings). Raises
    ``ValueError`` for a non-string, an empty, absolute or NUL-bearing name, one with a control
    character or a bidirectional override, any ``..`` component, or a name that is not valid
    UTF-8 or longer than ``MAX_NAME_BYTES``.
    """
    if not isinstance(name, str):
        raise ValueError(f"{what} must be a string, not {type(name).__name__}")
    if "\x00" in name:
        raise ValueError(f"{what} {name!r} contains a NUL byte")
    if _UNSHOWABLE.search(name):
        raise ValueError(f"{what} {name!r} contains a control character or a bidirectional "
                         "override")
    if name.startswith("/"):
        raise ValueError(f"{what} {name!r} is absolute; use a path relative to the working "
                         "directory")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {name!r} is not valid UTF-8") from None
    if len(encoded) > MAX_NAME_BYTES:
        raise ValueError(f"{what} is {len(encoded)} bytes long, over {MAX_NAME_BYTES}")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"{what} {name!r} contains '..'; names must stay inside the working "
                         "directory")
    if not parts:
        if allow_root and name.strip():
            return "."
        raise ValueError(f"{what} {name!r} does not name a file")
    return posixpath.join(*parts)


def is_inside(name: str, directory: str) -> bool:
    """Whether normalised ``name`` is ``directory`` or below it (``"."`` holds everything)."""
    return directory == "." or name == directory or name.startswith(directory + "/")
