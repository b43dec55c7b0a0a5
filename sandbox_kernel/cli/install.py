"""The ``install`` sub-command: install the kernelspecs sandbox-python, -bash and -node.

Each spec is copied from ``kernelspec/<name>`` (logos included) with the interpreter in its
``argv`` replaced by the absolute path of the running Python, so the kernels run in the
environment that installed them. With no flag the specs go where this Python's own Jupyter looks
first: into ``sys.prefix`` inside a virtual environment, otherwise into the user's Jupyter data
directory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from sandbox_kernel.jupyter.specs import FLAVOURS, KernelFlavour

LOGOS = ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "install",
        help="install the Jupyter kernelspecs sandbox-python, sandbox-bash, sandbox-node",
        description="Install the sandbox kernels for Jupyter, launched by this Python "
                    f"({sys.executable}). Default: --sys-prefix inside a virtual environment, "
                    "--user otherwise.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true",
                       help="install for the current user (~/.local/share/jupyter/kernels)")
    where.add_argument("--sys-prefix", action="store_true",
                       help=f"install into this Python's prefix ({sys.prefix})")
    where.add_argument("--prefix", metavar="DIR",
                       help="install into DIR/share/jupyter/kernels")
    parser.add_argument("--language", "-l", action="append", metavar="L",
                        choices=list(FLAVOURS),
                        help=f"install only this kernel (repeatable): {', '.join(FLAVOURS)}")
    return parser


def in_virtualenv() -> bool:
    return sys.prefix != getattr(sys, "base_prefix", sys.prefix)


def target(args: argparse.Namespace) -> tuple[bool, str | None, str]:
    """``(user, prefix, description)`` for ``KernelSpecManager.install_kernel_spec``."""
    if args.prefix:
        return False, str(Path(args.prefix).resolve()), f"prefix {args.prefix}"
    if args.sys_prefix or (not args.user and in_virtualenv()):
        return False, sys.prefix, f"sys.prefix {sys.prefix}"
    return True, None, "the user's Jupyter directory"


def spec_source(flavour: KernelFlavour) -> Path:
    """The committed ``kernelspec/<name>`` folder (or the copy shipped inside a wheel)."""
    repo = Path(__file__).resolve().parents[2] / "kernelspec" / flavour.kernel_name
    if repo.is_dir():
        return repo
    shipped = Path(sys.prefix) / "share" / "jupyter" / "kernels" / flavour.kernel_name
    if shipped.is_dir():
        return shipped
    raise FileNotFoundError(f"the kernelspec folder of {flavour.kernel_name} is missing "
                            f"(looked in {repo} and {shipped})")


def install(flavour: KernelFlavour, user: bool, prefix: str | None) -> str:
    """Install one kernelspec; return the directory it went to."""
    from jupyter_client.kernelspec import KernelSpecManager

    source = spec_source(flavour)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / flavour.kernel_name
        staged.mkdir()
        for logo in LOGOS:
            if (source / logo).is_file():
                shutil.copy(source / logo, staged / logo)
        spec = json.loads((source / "kernel.json").read_text())
        spec["argv"][0] = sys.executable
        (staged / "kernel.json").write_text(json.dumps(spec, indent=2) + "\n")
        return str(KernelSpecManager().install_kernel_spec(
            str(staged), flavour.kernel_name, user=user, prefix=prefix))


def run(args: argparse.Namespace) -> int:
    user, prefix, where = target(args)
    names = args.language or list(FLAVOURS)
    try:
        for name in names:
            path = install(FLAVOURS[name], user, prefix)
            print(f"installed {FLAVOURS[name].kernel_name} in {path}")
    except (OSError, ValueError) as exc:
        print(f"sandbox-kernel install: error: {exc}", file=sys.stderr)
        return 1
    print(f"kernels installed into {where}; they run {sys.executable}")
    return 0
