"""Command-line options for limits, shared by the sub-commands that start sandboxes."""

from __future__ import annotations

import argparse

from sandbox_kernel.limits import Limits, parse_size


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    defaults = Limits()
    parser.add_argument("--timeout", type=float, default=None,
                        help=f"seconds before the program is killed (default {defaults.timeout:g}, "
                             f"max {defaults.max_timeout:g})")
    parser.add_argument("--memory", default=None,
                        help="memory limit, e.g. 128m or 1g (default 256m, no swap)")
    parser.add_argument("--cpus", type=float, default=None,
                        help=f"CPU share (default {defaults.cpus:g})")
    parser.add_argument("--pids", type=int, default=None,
                        help=f"maximum number of processes (default {defaults.pids})")
    parser.add_argument("--image", default=None, help="image to use instead of the built one")
    parser.add_argument("--runtime", default=None,
                        help="Docker runtime, e.g. runsc for gVisor "
                             "(default: $SANDBOX_KERNEL_RUNTIME or the daemon's)")


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The limits the options ask for; raises ValueError for impossible values."""
    memory = parse_size(args.memory, "memory") if args.memory is not None else None
    return Limits().with_overrides(memory=memory, cpus=args.cpus, pids=args.pids)
