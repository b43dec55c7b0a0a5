"""The ``images`` sub-command: ``build [NAME ...] [--force]``, derived images (``build LANGUAGE
--requirements FILE | --apt PKG ... | --npm PKG ... | --wheels DIR [--tag NAME]``) and ``list``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sandbox_kernel.config import load_config
from sandbox_kernel.errors import SandboxError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from sandbox_kernel.flavours import DEFAULT_FLAVOURS, FLAVOURS

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "images",
        help="build or list the sandbox images",
        description="Build the sandbox images from Debian packages (no registry needed), build "
                    "derived images with extra packages, or list their status.",
    )
    actions = parser.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="build the images that are missing or stale, or a derived image",
        description="Build the base image with debootstrap (needs root), then the flavours on top "
                    f"of it (default: {', '.join(DEFAULT_FLAVOURS)}; also: "
                    f"{', '.join(sorted(set(FLAVOURS) - set(DEFAULT_FLAVOURS)))}). Images built "
                    "from the current recipes are kept. With --requirements, --apt, --npm or "
                    "--wheels, build a derived image of one flavour with those packages: only "
                    "the build has network, and it is redone only when its inputs change.",
    )
    build.add_argument("names", nargs="*", metavar="NAME",
                       help="a flavour or language (python, python-minimal, bash, node, "
                            "node-debian; aliases like py or js)")
    build.add_argument("--language", "-l", action="append", metavar="L",
                       help="same as NAME (repeatable)")
    build.add_argument("--force", action="store_true",
                       help="rebuild even the images that are up to date, base included")
    build.add_argument("--requirements", "-r", type=Path, metavar="FILE",
                       help="pip requirements file for a derived Python image")
    build.add_argument("--apt", nargs="+", metavar="PKG", default=[],
                       help="Debian packages for a derived image")
    build.add_argument("--npm", nargs="+", metavar="PKG", default=[],
                       help="npm packages for a derived Node.js image")
    build.add_argument("--wheels", type=Path, metavar="DIR",
                       help="install the *.whl files of this directory (or the requirements "
                            "from them) with no index and, from the python flavour, no network")
    build.add_argument("--tag", "-t", metavar="NAME",
                       help="name of the derived image (default: "
                            "sandbox-kernel-FLAVOUR-custom:INPUT_HASH)")
    actions.add_parser("list", help="show each flavour's image and its status",
                       description="Show each flavour's image: ok, missing, stale or fallback.")
    return parser


def run(args: argparse.Namespace) -> int:
    from sandbox_kernel.backends.docker.images import (
        DEFAULT_FLAVOURS,
        FLAVOURS,
        build_images,
        image_status,
    )
    from sandbox_kernel.languages import LANGUAGES

    try:
        if args.images_command == "build":
            names = [*args.names, *(args.language or [])]
            if args.requirements or args.apt or args.npm or args.wheels:
                return _build_custom(args, names)
            if args.tag:
                raise ValueError("--tag names a derived image: give --requirements, --apt, "
                                 "--npm or --wheels too")
            tags = build_images(names or None, force=args.force, progress=_say)
            _say(f"images ready: {', '.join(tags) if tags else 'none'}")
            return 0
        status = image_status()
    except (SandboxError, ValueError) as exc:
        print(f"sandbox-kernel images: error: {exc}", file=sys.stderr)
        return 1
    rows = [("FLAVOUR", "IMAGE", "STATUS")]
    config = load_config()
    for name, state in status.items():
        flavour = FLAVOURS[name]
        lang = LANGUAGES[flavour.language]
        image = config.image_for(lang) if name == lang.name else flavour.tag
        optional = name not in DEFAULT_FLAVOURS and state == "missing"
        rows.append((name, image, "not built (optional)" if optional else state))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for name, image, state in rows:
        print(f"{name:<{widths[0]}}  {image:<{widths[1]}}  {state}")
    for name, state in status.items():
        override = LANGUAGES.get(name)
        if override and state != "ok" and config.image_for(override) != override.default_image:
            print(f"{name}: {config.image_for(override)} comes from "
                  f"SANDBOX_KERNEL_{name.upper()}_IMAGE; provide it yourself or unset the variable")
    if any(state != "ok" for name, state in status.items() if name in DEFAULT_FLAVOURS):
        print("run `sandbox-kernel images build [NAME]` to build what is missing or stale")
    return 0


def _build_custom(args: argparse.Namespace, names: list[str]) -> int:
    from sandbox_kernel.backends.docker.custom_images import build_custom_image, custom_image

    if len(names) != 1:
        raise ValueError("a derived image needs exactly one flavour or language to start from, "
                         "e.g. `images build python --requirements requirements.txt`")
    image = custom_image(names[0], args.requirements, args.apt, args.npm, args.wheels)
    tag = build_custom_image(image, args.tag, force=args.force, progress=_say)
    _say(f"image ready: {tag}")
    _say(f"use it with: sandbox-kernel run {image.parent.language} --image {tag} FILE, "
         f"%%sandbox {image.parent.language} --image {tag}, or "
         f"SANDBOX_KERNEL_{image.parent.language.upper()}_IMAGE={tag}")
    return 0


def _say(line: str) -> None:
    print(line, flush=True)
