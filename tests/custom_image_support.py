"""Inputs of the derived-image tests, made deterministic so that their builds are reused between
runs (same inputs, same hash label: the second build is a no-op)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

TINY_REQUIREMENT = "tabulate==0.9.0"
"""A small pure-Python package from PyPI with no dependencies, absent from the default image."""
TINY_NPM = "is-number@7.0.0"
"""A small npm package with no dependencies."""
WHEEL_MODULE = "skwheelhouse_probe"


def write_wheel(directory: Path, version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, byte-for-byte the same on every call (fixed zip dates)."""
    name = f"{WHEEL_MODULE}-{version}"
    files = {
        f"{WHEEL_MODULE}.py": f"VERSION = {version!r}\n",
        f"{name}.dist-info/METADATA": (f"Metadata-Version: 2.1\nName: {WHEEL_MODULE}\n"
                                       f"Version: {version}\n"),
        f"{name}.dist-info/WHEEL": ("Wheel-Version: 1.0\nGenerator: sandbox-kernel-tests\n"
                                    "Root-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{name}.dist-info/RECORD"] = "\n".join([*record, f"{name}.dist-info/RECORD,,"]) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{name}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return wheel
