"""``sandbox-kernel mcp``: serve the ``sandbox_exec`` tool to an MCP client over stdio.

Everything a client's configuration may need to pin (limits, languages, the concurrency cap, the
audit file) is a flag, because an MCP client starts the server with a fixed command line and,
often, a minimal environment.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from sandbox_kernel.cli.limit_options import add_limit_options, limits_from_args
from sandbox_kernel.config import load_config
from sandbox_kernel.languages import LANGUAGES

if TYPE_CHECKING:
    from sandbox_kernel.mcp.runner import ServerConfig

EXIT_USAGE = 2


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
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
                        help="named sessions kept alive at once, 0 disables them (default 8; "
                             "environment: SANDBOX_KERNEL_MAX_SESSIONS)")
    parser.add_argument("--audit-log", default=None, metavar="PATH",
                        help="append one JSON line per execution to PATH ('-' for stderr; "
                             "default $SANDBOX_KERNEL_MCP_AUDIT_LOG, else stderr)")
    add_limit_options(parser)
    parser.add_argument("--runtime", default=None,
                        help="OCI runtime, e.g. runsc for gVisor "
                             "(default: $SANDBOX_KERNEL_RUNTIME or the daemon's)")
    parser.add_argument("--image", action="append", metavar="LANGUAGE=IMAGE", default=[],
                        help="run LANGUAGE in IMAGE (a flavour such as python-minimal, or an "
                             "image from `sandbox-kernel images build`); repeatable")
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The server configuration the flags ask for; ``ValueError`` for impossible values.

    Imported late: the server modules come with the ``mcp`` extra; ``--help`` works without it.
    """
    from sandbox_kernel.mcp.runner import DEFAULT_MAX_CONCURRENT, ServerConfig

    config = load_config()
    limits = limits_from_args(args)
    return ServerConfig(
        limits=limits,
        languages=tuple(args.language or LANGUAGES),
        max_concurrent=(DEFAULT_MAX_CONCURRENT if args.max_concurrent is None
                        else args.max_concurrent),
        max_sessions=config.max_sessions if args.max_sessions is None else args.max_sessions,
        audit_log=args.audit_log or config.audit_log,
        runtime=args.runtime or config.runtime,
        images=dict(_image_option(item) for item in args.image),
    )


def _image_option(item: str) -> tuple[str, str]:
    language, sep, image = item.partition("=")
    if not sep or not image.strip():
        raise ValueError(f"--image needs LANGUAGE=IMAGE, not {item!r}")
    return language, image.strip()


def run(args: argparse.Namespace) -> int:
    try:
        from sandbox_kernel.mcp.server import serve
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
