"""The ``images`` sub-command: ``build [--language L ...] [--force]`` and ``list``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sandbox_kernel.config import load_config
from sandbox_kernel.errors import SandboxError
from sandbox_kernel.languages import LANGUAGES


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "images",
        help="build or list the sandbox images",
        description="Build the sandbox images from Debian packages (no registry needed), or list "
                    "their status.",
    )
    actions = parser.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="build the images that are missing or stale",
        description="Build the base image with debootstrap (needs root), then the language "
                    "images on top of it. Images built from the current recipes are kept.",
    )
    build.add_argument("--language", "-l", action="append", metavar="L",
                       help=f"build only this language (repeatable): {', '.join(LANGUAGES)}")
    build.add_argument("--force", action="store_true",
                       help="rebuild even the images that are up to date, base included")
    actions.add_parser("list", help="show each language's image and its status",
                       description="Show each language's image: ok, missing or stale.")
    return parser


def run(args: argparse.Namespace) -> int:
    from sandbox_kernel.backends.docker.images import build_images, image_status

    try:
        if args.images_command == "build":
            tags = build_images(args.language, force=args.force, progress=_say)
            _say(f"images ready: {', '.join(tags) if tags else 'none'}")
            return 0
        status = image_status()
    except (SandboxError, ValueError) as exc:
        print(f"sandbox-kernel images: error: {exc}", file=sys.stderr)
        return 1
    rows = [("LANGUAGE", "IMAGE", "STATUS")]
    config = load_config()
    rows += [(name, config.image_for(LANGUAGES[name]), state) for name, state in status.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for name, image, state in rows:
        print(f"{name:<{widths[0]}}  {image:<{widths[1]}}  {state}")
    for name, state in status.items():
        lang = LANGUAGES[name]
        if state != "ok" and config.image_for(lang) != lang.default_image:
            print(f"{name}: {config.image_for(lang)} comes from "
                  f"SANDBOX_KERNEL_{name.upper()}_IMAGE; provide it yourself or unset the variable")
    if any(state != "ok" for name, state in status.items()
           if config.image_for(LANGUAGES[name]) == LANGUAGES[name].default_image):
        print("run `sandbox-kernel images build` to build what is missing or stale")
    return 0


def _say(line: str) -> None:
    print(line, flush=True)
