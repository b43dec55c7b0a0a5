"""The one place that reads the environment: ``SANDBOX_KERNEL_*`` variables into a ``Config``.

Every front-end (kernels, magic, CLI, MCP) starts from :func:`load_config`, so a variable means the
same everywhere: ``SANDBOX_KERNEL_MEMORY=512m`` gives 512 MiB sandboxes to a kernel, a ``%%sandbox``
cell, ``sandbox-kernel run`` and the MCP server alike. Front-end settings (traitlets, magic
options, command-line flags) override it; invalid values are ``ValueError`` naming the variable.

Variables: ``SANDBOX_KERNEL_<LIMIT>`` for each field of ``Limits`` except ``network`` (MEMORY,
CPUS, PIDS, TIMEOUT, MAX_TIMEOUT, MAX_OUTPUT, ...), ``SANDBOX_KERNEL_RUNTIME``,
``SANDBOX_KERNEL_<LANGUAGE>_IMAGE``, ``SANDBOX_KERNEL_MODE`` (kernels: ``session`` or ``fresh``),
``SANDBOX_KERNEL_MCP_AUDIT_LOG`` and ``SANDBOX_KERNEL_MAX_SESSIONS`` (named sessions kept at once
by the magic or an MCP server, default 8), ``SANDBOX_KERNEL_FILES_ROOT`` and
``SANDBOX_KERNEL_UPLOAD_ON_START`` (kernels: the host directory ``%upload``/``%download`` are
confined to, and ``:``-separated globs copied into every new sandbox).
``SANDBOX_KERNEL_MAX_TIMEOUT`` is the operator's ceiling on any one run (default 120 s): users can
lower their timeout, never exceed it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from sandbox_kernel.languages import LANGUAGES, Language
from sandbox_kernel.limits import SIZE_FIELDS, Limits

ENV_PREFIX = "SANDBOX_KERNEL_"
DEFAULT_MAX_SESSIONS = 8
MODES = ("session", "fresh")
NOT_FROM_ENVIRONMENT = frozenset({"network"})
"""Limits no variable may change: network access is for trusted code, asked for in code."""


def limit_variable(name: str) -> str:
    """The environment variable of one ``Limits`` field: ``memory`` -> ``SANDBOX_KERNEL_MEMORY``."""
    return ENV_PREFIX + name.upper()


def image_variable(language: str) -> str:
    return f"{ENV_PREFIX}{language.upper()}_IMAGE"


@dataclass(frozen=True)
class Config:
    """Settings shared by every front-end, as the environment gives them."""

    limits: Limits = field(default_factory=Limits)
    runtime: str | None = None
    images: Mapping[str, str] = field(default_factory=dict)
    """Language name -> image, for languages whose image the environment overrides."""
    mode: str = "session"
    audit_log: str | None = None
    max_sessions: int = DEFAULT_MAX_SESSIONS
    """Named sessions one front-end keeps at once (magic, MCP); 0 turns them off."""
    files_root: str | None = None
    """Kernels: the host directory file directives may use (default: the working directory)."""
    upload_on_start: tuple[str, ...] = ()
    """Kernels: host globs copied into every new sandbox."""

    def image_for(self, language: Language) -> str:
        """The image of ``language``: the environment's override, else the built one."""
        return self.images.get(language.name) or language.default_image


def _number(variable: str, text: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{variable}={text!r} is not a valid {kind.__name__}") from None


def limits_from_environ(environ: Mapping[str, str], base: Limits | None = None) -> Limits:
    """``base`` (default ``Limits()``) with every ``SANDBOX_KERNEL_<LIMIT>`` variable applied."""
    base = base or Limits()
    overrides: dict[str, Any] = {}
    for item in fields(Limits):
        variable = limit_variable(item.name)
        text = environ.get(variable, "").strip()
        if not text or item.name in NOT_FROM_ENVIRONMENT:
            continue
        if item.name in SIZE_FIELDS:
            overrides[item.name] = text
        elif isinstance(getattr(base, item.name), int):
            overrides[item.name] = _number(variable, text, int)
        else:
            overrides[item.name] = _number(variable, text, float)
    if "max_timeout" in overrides and "timeout" not in overrides:
        # A lower ceiling lowers the default timeout with it.
        overrides["timeout"] = min(base.timeout, overrides["max_timeout"])
    try:
        return base.with_overrides(**overrides)
    except ValueError as exc:
        names = ", ".join(limit_variable(name) for name in sorted(overrides))
        hint = ""
        ceiling = overrides.get("max_timeout", base.max_timeout)
        if "timeout" in overrides and overrides["timeout"] > ceiling:
            hint = (f"; {limit_variable('timeout')} may not exceed the operator's ceiling "
                    f"{limit_variable('max_timeout')} ({ceiling:g} s): raise that too")
        raise ValueError(f"invalid sandbox limits from the environment ({names}): {exc}{hint}"
                         ) from None


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read the environment (``os.environ`` by default) into a ``Config``."""
    environ = os.environ if environ is None else environ
    mode = environ.get(ENV_PREFIX + "MODE", "").strip().lower() or "session"
    if mode not in MODES:
        raise ValueError(f"{ENV_PREFIX}MODE must be one of {', '.join(MODES)}, not {mode!r}")
    images = {name: environ[image_variable(name)].strip() for name in LANGUAGES
              if environ.get(image_variable(name), "").strip()}
    return Config(
        limits=limits_from_environ(environ),
        runtime=environ.get(ENV_PREFIX + "RUNTIME", "").strip() or None,
        images=images,
        mode=mode,
        audit_log=environ.get(ENV_PREFIX + "MCP_AUDIT_LOG", "").strip() or None,
        max_sessions=int(_number(ENV_PREFIX + "MAX_SESSIONS",
                                 environ.get(ENV_PREFIX + "MAX_SESSIONS", "").strip()
                                 or str(DEFAULT_MAX_SESSIONS), int)),
        files_root=environ.get(ENV_PREFIX + "FILES_ROOT", "").strip() or None,
        upload_on_start=tuple(p for p in environ.get(ENV_PREFIX + "UPLOAD_ON_START", "")
                              .split(":") if p.strip()),
    )
