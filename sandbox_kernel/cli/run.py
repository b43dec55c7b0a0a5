"""``sandbox-kernel run LANGUAGE [FILE|-]``: run a program in a fresh sandbox, like ``docker run``.

The exit status is the program's, so the command composes in shell scripts; failures of our own
use Docker's conventions (125 for the daemon, 124 for a timeout, as ``timeout(1)`` does).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sandbox_kernel.cli.limit_options import (
    add_engine_options,
    add_limit_options,
    limits_from_args,
)
from sandbox_kernel.errors import SandboxError

EXIT_USAGE = 2
EXIT_TIMEOUT = 124
EXIT_SANDBOX = 125


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run a program in a fresh sandbox",
        description="Run a program in a fresh, locked-down container and exit with its status "
                    "(124 on timeout, 125 when the sandbox could not run).",
    )
    parser.add_argument("language", help="python, bash or node")
    parser.add_argument("file", nargs="?", default="-",
                        help="program file, or - (the default) to read it from stdin")
    add_limit_options(parser)
    add_engine_options(parser)
    parser.add_argument("--json", action="store_true",
                        help="print the whole result as JSON instead of streaming the output")
    return parser


def _write(stream_name: str, text: str) -> None:
    target = sys.stdout if stream_name == "stdout" else sys.stderr
    target.write(text)
    target.flush()


def run(args: argparse.Namespace) -> int:
    from sandbox_kernel.engine.sandbox import DockerSandbox

    try:
        if args.file == "-":
            code = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as source:
                code = source.read()
        limits = limits_from_args(args)
        images = {args.language: args.image} if args.image else None
        sandbox = DockerSandbox(limits, images=images, runtime=args.runtime, warm=False)
        result = sandbox.run(args.language, code, timeout=args.timeout,
                             on_output=None if args.json else _write)
    except (ValueError, OSError) as exc:
        print(f"sandbox-kernel run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SandboxError as exc:
        print(f"sandbox-kernel run: {exc}", file=sys.stderr)
        return EXIT_SANDBOX
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    elif result.truncated:
        print("sandbox-kernel: output was truncated at the per-stream cap", file=sys.stderr)
    if result.timed_out:
        print(f"sandbox-kernel: {result.describe_failure()}", file=sys.stderr)
        return EXIT_TIMEOUT
    if result.oom_killed:
        print(f"sandbox-kernel: {result.describe_failure()}", file=sys.stderr)
    return result.exit_code if result.exit_code is not None else EXIT_SANDBOX
