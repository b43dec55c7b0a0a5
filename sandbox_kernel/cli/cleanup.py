"""``sandbox-kernel cleanup``: remove sandbox containers left behind by dead processes."""

from __future__ import annotations

import argparse
from typing import Any

from sandbox_kernel.errors import SandboxError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cleanup",
        help="remove orphaned sandbox containers",
        description="Remove containers labelled sandbox-kernel whose owning process is gone "
                    "(a kernel killed with SIGKILL, say). With --all, remove every one of ours, "
                    "including those of running kernels.",
    )
    parser.add_argument("--all", action="store_true",
                        help="also remove containers whose owner still runs")
    return parser


def run(args: argparse.Namespace) -> int:
    from sandbox_kernel.engine.sandbox import DockerSandbox

    engine = DockerSandbox(warm=False)
    try:
        if args.all:
            removed = [info.id for info in engine.containers()]
            for container_id in removed:
                engine.remove(container_id)
        else:
            removed = engine.reap_orphans()
    except SandboxError as exc:
        print(f"sandbox-kernel cleanup: {exc}")
        return 1
    for container_id in removed:
        print(f"removed {container_id[:12]}")
    print(f"{len(removed)} container(s) removed")
    return 0
