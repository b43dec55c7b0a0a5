"""``sandbox-kernel mcp``: serve the ``sandbox_exec`` tool to an MCP client over stdio.

Everything a client's configuration may need to pin (limits, languages, the concurrency cap, the
audit file) is a flag, because an MCP client starts the server with a fixed command line and,
often, a minimal environment.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from sandbox_kernel.languages import LANGUAGES
from sandbox_kernel.limits import Limits, parse_size

if TYPE_CHECKING:
    from sandbox_kernel.mcp_runner import ServerConfig

EXIT_USAGE = 2


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    defaults = Limits()
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "mcp",
        help="serve the sandbox_exec tool to an MCP client (stdio)",
        description="Run an MCP server on stdin/stdout with the tool sandbox_exec, which runs "
                    "code in a fresh sandbox (or a named session) and returns its output. "
                    "Meant to be started by an MCP client, e.g. Claude Desktop.",
    )
    parser.add_argument("--language", "-l", action="append", metavar="L",
                        help=f"offer only this language (repeatable; default all: "
                             f"{', '.join(LANGUAGES)})")
    parser.add_argument("--max-concurrent", type=int, default=None, metavar="N",
                        help="sandboxes running at once; further calls wait their turn "
                             "(default 4)")
    parser.add_argument("--max-sessions", type=int, default=None, metavar="N",
                        help="named sessions kept alive at once, 0 disables them (default 8)")
    parser.add_argument("--audit-log", default=None, metavar="PATH",
                        help="append one JSON line per execution to PATH ('-' for stderr; "
                             "default $SANDBOX_KERNEL_MCP_AUDIT_LOG, else stderr)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help=f"default timeout of a call in seconds (default "
                             f"{defaults.timeout:g})")
    parser.add_argument("--max-timeout", type=float, default=None, metavar="S",
                        help=f"largest timeout a call may ask for (default "
                             f"{defaults.max_timeout:g})")
    parser.add_argument("--memory", default=None, metavar="SIZE",
                        help="memory per sandbox, e.g. 128m or 1g (default 256m, no swap)")
    parser.add_argument("--cpus", type=float, default=None,
                        help=f"CPU share per sandbox (default {defaults.cpus:g})")
    parser.add_argument("--pids", type=int, default=None,
                        help=f"processes per sandbox (default {defaults.pids})")
    parser.add_argument("--runtime", default=None,
                        help="Docker runtime, e.g. runsc for gVisor (default: the daemon's)")
    parser.add_argument("--image", action="append", metavar="LANGUAGE=IMAGE", default=[],
                        help="run LANGUAGE in IMAGE (a flavour such as python-minimal, or an "
                             "image from `sandbox-kernel images build`); repeatable")
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The server configuration the flags ask for; ``ValueError`` for impossible values.

    Imported late: the server modules come with the ``mcp`` extra; ``--help`` works without it.
    """
    from sandbox_kernel.mcp_runner import (
        DEFAULT_MAX_CONCURRENT,
        DEFAULT_MAX_SESSIONS,
        ServerConfig,
    )

    defaults = Limits()
    timeout = args.timeout
    if timeout is None and args.max_timeout is not None:
        timeout = min(defaults.timeout, args.max_timeout)  # a lower maximum lowers the default
    limits = defaults.with_overrides(
        memory=parse_size(args.memory, "memory") if args.memory is not None else None,
        cpus=args.cpus, pids=args.pids, max_timeout=args.max_timeout, timeout=timeout,
    )
    return ServerConfig(
        limits=limits,
        languages=tuple(args.language or LANGUAGES),
        max_concurrent=(DEFAULT_MAX_CONCURRENT if args.max_concurrent is None
                        else args.max_concurrent),
        max_sessions=DEFAULT_MAX_SESSIONS if args.max_sessions is None else args.max_sessions,
        audit_log=args.audit_log or os.environ.get("SANDBOX_KERNEL_MCP_AUDIT_LOG") or None,
        runtime=args.runtime or os.environ.get("SANDBOX_KERNEL_RUNTIME") or None,
        images=dict(_image_option(item) for item in args.image),
    )


def _image_option(item: str) -> tuple[str, str]:
    language, sep, image = item.partition("=")
    if not sep or not image.strip():
        raise ValueError(f"--image needs LANGUAGE=IMAGE, not {item!r}")
    return language, image.strip()


def run(args: argparse.Namespace) -> int:
    try:
        from sandbox_kernel.mcp_server import serve
    except ImportError as exc:
        print(f"sandbox-kernel mcp: the MCP SDK is missing ({exc}); "
              "install it with: pip install 'sandbox-kernel[mcp]'", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"sandbox-kernel mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        serve(config)
    except OSError as exc:  # the audit log cannot be opened, typically
        print(f"sandbox-kernel mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
