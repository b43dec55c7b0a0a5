"""Command-line options for limits, generated from ``Limits`` so help shows the live defaults.

Each option's default is what the environment gives (``sandbox_kernel.config``), so
``SANDBOX_KERNEL_MEMORY=1g sandbox-kernel run --help`` says ``default 1 GiB``.
"""

from __future__ import annotations

import argparse
from typing import Any

from sandbox_kernel.config import limit_variable, load_config
from sandbox_kernel.limits import LIMIT_HELP, SIZE_FIELDS, Limits, describe_limit

CLI_LIMITS = ("timeout", "max_timeout", "memory", "cpus", "pids", "max_output")
"""The limits every command that starts sandboxes takes as ``--NAME``."""


def _defaults() -> Limits:
    try:
        return load_config().limits
    except ValueError:
        return Limits()  # reported when the command runs; --help still works


def add_limit_options(parser: argparse.ArgumentParser,
                      names: tuple[str, ...] = CLI_LIMITS) -> None:
    """Add ``--NAME`` for each limit in ``names``, with its help and the live default."""
    defaults = _defaults()
    for name in names:
        kind = str if name in SIZE_FIELDS else type(getattr(defaults, name))
        parser.add_argument(
            "--" + name.replace("_", "-"), dest=name, type=kind, default=None,
            help=f"{LIMIT_HELP[name]} (default {describe_limit(defaults, name)}; "
                 f"environment: {limit_variable(name)})")


def limits_from_args(args: argparse.Namespace, names: tuple[str, ...] = CLI_LIMITS) -> Limits:
    """The environment's limits with the options given applied; ``ValueError`` if impossible."""
    overrides: dict[str, Any] = {name: getattr(args, name, None) for name in names}
    base = load_config().limits
    ceiling = overrides.get("max_timeout")
    if ceiling is not None and overrides.get("timeout") is None:
        overrides["timeout"] = min(base.timeout, float(ceiling))  # a lower ceiling, a lower default
    return base.with_overrides(**overrides)


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """``--image`` and ``--runtime``, for commands that start sandboxes."""
    parser.add_argument("--image", default=None, help="image to use instead of the built one")
    parser.add_argument("--runtime", default=None,
                        help="OCI runtime, e.g. runsc for gVisor "
                             "(default: $SANDBOX_KERNEL_RUNTIME or the daemon's)")
