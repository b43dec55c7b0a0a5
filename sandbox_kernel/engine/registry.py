"""Named sessions: one name rule and one cap, for every front-end that keeps sessions by name.

The magic (``%%sandbox --session NAME``) and the MCP server (``session`` argument) both let users
keep sandboxes alive under a name. Each front-end keeps its own registry (its sessions are its
own), but the rule for names and the bound on how many sandboxes a name-giver can keep alive are
the same everywhere: ``SANDBOX_KERNEL_MAX_SESSIONS`` (default 8) through ``sandbox_kernel.config``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

from sandbox_kernel.config import DEFAULT_MAX_SESSIONS

SESSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""1 to 64 letters, digits, ``_``, ``.`` or ``-``, starting with a letter or digit."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def check_session_name(name: object) -> str:
    """``name`` if it follows the rule; ``ValueError`` saying the rule otherwise."""
    if not isinstance(name, str) or not SESSION_NAME.fullmatch(name):
        shown = name[:80] + "..." if isinstance(name, str) and len(name) > 80 else name
        raise ValueError("a session name is 1 to 64 letters, digits, '_', '.' or '-', starting "
                         f"with a letter or digit, not {shown!r}")
    return name


class SessionRegistry(Generic[K, V]):
    """Named sessions of one front-end, at most ``cap`` of them (0 turns sessions off).

    Keys are whatever identifies a session to the front-end (a name, or a language and a name);
    ``describe`` renders a key in error messages. Thread-safe.
    """

    def __init__(self, cap: int = DEFAULT_MAX_SESSIONS,
                 describe: Callable[[K], str] = repr) -> None:
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= 256:
            raise ValueError(f"the session cap must be between 0 and 256, not {cap!r}")
        self.cap = cap
        self._describe = describe
        self._entries: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._entries.get(key)

    def add(self, key: K, value: V) -> V:
        """Register a new session; ``ValueError`` when sessions are off or the cap is reached."""
        with self._lock:
            if key in self._entries:
                raise ValueError(f"session {self._describe(key)} exists already")
            if self.cap == 0:
                raise ValueError("named sessions are turned off here")
            if len(self._entries) >= self.cap:
                names = ", ".join(self._describe(k) for k in self._entries)
                raise ValueError(f"at most {self.cap} sessions are kept at once ({names}); reuse "
                                 "or stop one of them, or run without a session")
            self._entries[key] = value
            return value

    def pop(self, key: K) -> V | None:
        with self._lock:
            return self._entries.pop(key, None)

    def clear(self) -> list[V]:
        """Forget every session; return them (the caller closes them)."""
        with self._lock:
            values, self._entries = list(self._entries.values()), {}
            return values

    def keys(self) -> list[K]:
        with self._lock:
            return list(self._entries)

    def values(self) -> list[V]:
        with self._lock:
            return list(self._entries.values())

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())

    def __bool__(self) -> bool:
        return len(self) > 0
