"""What an image holds: its interpreter's version and installed packages, seen from inside.

``sandbox-kernel doctor --image NAME [--packages]`` shows it, so that a user can check what a
flavour or a derived image (``sandbox-kernel images build ... --requirements``) offers before
running code in it. The listing runs in a sandbox like any other code, with the default limits,
and its output is parsed as hostile input: bounded, type-checked, truncated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sandbox_kernel.errors import SandboxError
from sandbox_kernel.flavours import LANGUAGE_LABEL, image_reference
from sandbox_kernel.languages import resolve_language

MAX_PACKAGES = 20_000
MAX_FIELD = 200
"""Characters kept of a package name, a version or the interpreter line."""

# Each probe prints one JSON object: {"interpreter": str, "packages": [[name, version], ...]}.
PROBES = {
    "python": r"""
import importlib.metadata, json, platform
found = {}
for dist in importlib.metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        found.setdefault(name.lower(), [name, dist.version])
print(json.dumps({"interpreter": "Python " + platform.python_version(),
                  "packages": sorted(found.values(), key=lambda item: item[0].lower())}))
""",
    "node": r"""
const fs = require('fs');
const path = require('path');
const roots = new Set([...(process.env.NODE_PATH || '').split(':').filter(Boolean),
                       '/usr/local/lib/node_modules']);
const packages = [];
const read = (dir) => { try { return fs.readdirSync(dir); } catch (e) { return []; } };
for (const root of roots) {
  for (const name of read(root)) {
    const names = name.startsWith('@') ? read(path.join(root, name)).map((n) => name + '/' + n)
                                       : [name];
    for (const full of names) {
      try {
        const meta = JSON.parse(fs.readFileSync(path.join(root, full, 'package.json'), 'utf8'));
        packages.push([String(meta.name || full), String(meta.version || '?')]);
      } catch (e) { /* not a package */ }
    }
  }
}
packages.sort((a, b) => a[0].localeCompare(b[0]));
console.log(JSON.stringify({interpreter: 'Node.js ' + process.version, packages}));
""",
    "bash": r"""
version="$(bash --version | head -n 1 | tr -d '"\\')"
printf '{"interpreter": "%s", "packages": [' "$version"
dpkg-query -W -f '["${Package}", "${Version}"]\n' | tr -d '\\' | paste -sd, -
printf ']}\n'
""",
}


@dataclass(frozen=True)
class Inventory:
    """An image's ``language``, ``interpreter`` line (e.g. "Python 3.11.2") and ``packages``,
    ``(name, version)`` pairs sorted by name: Python distributions, global npm packages, or (for
    bash) Debian packages."""

    image: str
    language: str
    interpreter: str
    packages: tuple[tuple[str, str], ...]


def image_language(image: str) -> str | None:
    """The language an image was built for (its ``sandbox-kernel.language`` label), if any.

    Raises :class:`SandboxError` (``SandboxUnavailable``) when the image or the daemon is missing.
    """
    from sandbox_kernel.engine.sandbox import DockerSandbox
    from sandbox_kernel.errors import SandboxUnavailable

    labels = DockerSandbox(warm=False).image_labels(image_reference(image))
    if labels is None:
        raise SandboxUnavailable(f"the image {image!r} is missing; build it with "
                                 "`sandbox-kernel images build`")
    return labels.get(LANGUAGE_LABEL)


def take_inventory(image: str, language: str | None = None,
                   runtime: str | None = None) -> Inventory:
    """Run the language's probe in ``image`` and parse what it prints.

    ``language`` defaults to the image's label; an image without one needs it given
    (``ValueError`` otherwise). A probe that fails or prints something else raises
    :class:`SandboxError`.
    """
    from sandbox_kernel.engine.sandbox import DockerSandbox

    name = language or image_language(image)
    if not name:
        raise ValueError(f"{image} does not say which language it is for; give --language")
    lang = resolve_language(name)
    engine = DockerSandbox(images={lang.name: image}, runtime=runtime, warm=False)
    try:
        result = engine.run(lang.name, PROBES[lang.name], timeout=60)
    finally:
        engine.close()
    if result.exit_code != 0 or result.truncated:
        raise SandboxError(f"listing {image} failed: {result.describe_failure()} "
                           f"{result.stderr[-300:]}".rstrip())
    return parse_inventory(image_reference(image), lang.name, result.stdout)


def parse_inventory(image: str, language: str, output: str) -> Inventory:
    """Check and bound a probe's output (see :data:`PROBES`); ``SandboxError`` if malformed."""
    try:
        data = json.loads(output)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays
        raise SandboxError(f"listing {image} printed something else than its inventory") from None
    if not isinstance(data, dict) or not isinstance(data.get("interpreter"), str) \
            or not isinstance(data.get("packages"), list):
        raise SandboxError(f"listing {image} printed a malformed inventory")
    packages = []
    for item in data["packages"][:MAX_PACKAGES]:
        if (isinstance(item, list) and len(item) == 2
                and all(isinstance(field, str) for field in item)):
            packages.append((_clip(item[0]), _clip(item[1])))
    return Inventory(image, language, _clip(data["interpreter"]), tuple(packages))


def _clip(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text[:MAX_FIELD])
