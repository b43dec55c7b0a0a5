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
    from sandbox_kernel.backends.docker.client import connect
    from sandbox_kernel.engine import ownership
    from sandbox_kernel.engine.sandbox import remove_container

    try:
        api = connect()
        if args.all:
            removed = [info["Id"] for info in ownership.find_ours(api)]
            for container_id in removed:
                remove_container(api, container_id)
        else:
            removed = ownership.reap_orphans(api)
    except SandboxError as exc:
        print(f"sandbox-kernel cleanup: {exc}")
        return 1
    for container_id in removed:
        print(f"removed {container_id[:12]}")
    print(f"{len(removed)} container(s) removed")
    return 0
