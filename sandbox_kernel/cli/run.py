"""``sandbox-kernel run LANGUAGE [FILE|-]``: run a program in a fresh sandbox, like ``docker run``.

The exit status is the program's, so the command composes in shell scripts; failures of our own
use Docker's conventions (125 for the daemon, 124 for a timeout, as ``timeout(1)`` does).
``--file`` puts host files in the sandbox's working directory first, ``--collect`` brings the
files the program wrote back into ``--out-dir``, never replacing one without ``--force``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from sandbox_kernel.cli.limit_options import (
    add_engine_options,
    add_limit_options,
    limits_from_args,
)
from sandbox_kernel.errors import SandboxError
from sandbox_kernel.output_policy import terminal_text

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
    parser.add_argument("--file", action="append", default=[], metavar="PATH", dest="files",
                        help="copy this host file or directory (globs allowed) into the "
                             "sandbox's working directory first, under its path relative to "
                             "the current directory (its name if it lies elsewhere); repeatable")
    parser.add_argument("--collect", action="append", default=[], metavar="GLOB",
                        help="after the run, copy the sandbox's files matching GLOB (relative "
                             "to its working directory, e.g. 'out/*') into --out-dir; "
                             "repeatable")
    parser.add_argument("--out-dir", default=".", metavar="DIR",
                        help="where collected files go, under their sandbox names "
                             "(default: the current directory)")
    parser.add_argument("--max-files", type=int, default=None, metavar="N",
                        help="files per transfer (--file, --collect), default 1000")
    parser.add_argument("--force", action="store_true",
                        help="replace existing files in --out-dir (never done otherwise)")
    return parser


def _write(stream_name: str, text: str) -> None:
    """The program's output as it comes; on a terminal, cleaned first (``terminal_text``: no
    escape sequence but colour, no control character), so that a sandbox cannot clear the
    screen, retitle it or write the clipboard (OSC 52). Into a pipe or a file it passes as is."""
    target = sys.stdout if stream_name == "stdout" else sys.stderr
    if _is_terminal(target):
        text = terminal_text(text)
    target.write(text)
    target.flush()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _read_files(patterns: list[str], limits: Any) -> dict[str, bytes]:
    """The ``--file`` arguments as ``{sandbox name: bytes}``; the user names them, so any host
    path is allowed (``/`` is the root), and the engine's rules check names and sizes."""
    from sandbox_kernel.files import host
    from sandbox_kernel.files.rules import TransferRules

    rules = TransferRules.from_limits(limits)
    files: dict[str, bytes] = {}
    for pattern in patterns:
        files.update(host.gather(pattern, os.getcwd(), os.sep, rules))
    return rules.check_files(files)


def _save(files: dict[str, bytes], out_dir: str, force: bool) -> None:
    from sandbox_kernel.files import host

    os.makedirs(out_dir, exist_ok=True)
    host.save(files, out_dir, out_dir, overwrite=force)
    print(f"sandbox-kernel: {host.describe('collected', files)} into {out_dir}",
          file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from sandbox_kernel.engine.sandbox import DockerSandbox
    from sandbox_kernel.engine.workspace import TransferError

    try:
        if args.file == "-":
            code = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as source:
                code = source.read()
        limits = limits_from_args(args).with_overrides(max_files=args.max_files)
        images = {args.language: args.image} if args.image else None
        files = _read_files(args.files, limits)
        sandbox = DockerSandbox(limits, images=images, runtime=args.runtime, warm=False)
        try:
            result = sandbox.run(args.language, code, timeout=args.timeout,
                                 on_output=None if args.json else _write, files=files,
                                 collect=args.collect)
        except TransferError as exc:
            if exc.result is None:
                raise
            print(f"sandbox-kernel run: collecting files failed: {exc}", file=sys.stderr)
            return EXIT_SANDBOX
    except (ValueError, OSError) as exc:
        print(f"sandbox-kernel run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SandboxError as exc:
        print(f"sandbox-kernel run: {exc}", file=sys.stderr)
        return EXIT_SANDBOX
    if args.collect:
        try:
            _save(result.files, args.out_dir, args.force)
        except (ValueError, OSError) as exc:
            # The program ran; what failed is the host side of --out-dir/--force: a usage error.
            print(f"sandbox-kernel run: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.json:
        record = result.to_dict()
        record["files"] = {name: len(data) for name, data in sorted(result.files.items())}
        record["displays"] = result.displays
        print(json.dumps(record, indent=2))
    else:
        if result.truncated:
            print("sandbox-kernel: output was truncated at the per-stream cap", file=sys.stderr)
        if result.displays:
            print(f"sandbox-kernel: {len(result.displays)} display(s) not shown (--json "
                  "includes them)", file=sys.stderr)
    if result.timed_out:
        print(f"sandbox-kernel: {result.describe_failure()}", file=sys.stderr)
        return EXIT_TIMEOUT
    if result.oom_killed:
        print(f"sandbox-kernel: {result.describe_failure()}", file=sys.stderr)
    return result.exit_code if result.exit_code is not None else EXIT_SANDBOX
