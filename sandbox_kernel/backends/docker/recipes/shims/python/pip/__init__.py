"""sandbox-kernel's stand-in for pip inside a sandbox image.

A sandbox has no network, so ``pip install`` could only wait for name resolution and fail. This
package shadows pip (it sits earlier on ``sys.path`` than Debian's) and ends at once with a message
that says how packages are added: at image build time. ``pip list`` and ``pip freeze`` still work,
from the installed distributions' metadata.
"""

import sys
from importlib import metadata

MESSAGE = (
    "pip cannot install packages in a sandbox: it has no network.\n"
    "Build an image with the packages, then run with it by name:\n"
    "  sandbox-kernel images build python --requirements requirements.txt --tag NAME\n"
    "  (or --wheels DIR to install from a local wheelhouse), then use --image NAME\n"
)


def _distributions():
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in found:
            found[name.lower()] = (name, dist.version)
    return sorted(found.values(), key=lambda item: item[0].lower())


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in args if not arg.startswith("-")), "")
    if command == "list":
        for name, version in _distributions():
            print(f"{name} {version}")
        return 0
    if command == "freeze":
        for name, version in _distributions():
            print(f"{name}=={version}")
        return 0
    if not command and ("--version" in args or "-V" in args):
        print("pip (sandbox-kernel stand-in: no installs in a sandbox)")
        return 0
    sys.stderr.write(f"ERROR: pip {command or ''}".rstrip() + ": not available here.\n" + MESSAGE)
    return 1
