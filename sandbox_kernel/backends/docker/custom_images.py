"""Derived images: a flavour plus the user's packages, installed when the image is built.

A sandbox has no network, so packages cannot be installed at run time; ``sandbox-kernel images
build python --requirements FILE`` (or ``--apt PKG``, ``--npm PKG``, ``--wheels DIR``) builds them
into an image instead. Only that build reaches the network (PyPI, Debian's mirror, the npm
registry); with ``--wheels`` alone on the ``python`` flavour it runs with no network at all.

The generated Dockerfile installs apt packages in a first stage, pip or npm packages in a
throw-away second stage rooted at ``/sandbox-kernel-root``, and copies only that tree into the
result, so no build tool, cache or wheel file stays in the image. The image is labelled with the
sha256 of every input (the parent's recipe hash, the generated Dockerfile and script, the
requirements text, the package lists, the wheel files' hashes) and is rebuilt only when one of
them changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox_kernel.backends.docker.images import (
    FLAVOURS,
    HOST_CA,
    RECIPE_LABEL,
    ContextFile,
    Flavour,
    Progress,
    _base_state,
    _client,
    _labels,
    _state,
    build_images,
    docker_build,
    host_ca_bundle,
    image_labels,
    resolve_flavour,
)
from sandbox_kernel.errors import SandboxError

PARENT_LABEL = "sandbox-kernel.parent"
MAX_REQUIREMENTS = 1024 * 1024
"""Bytes of requirements text accepted (it is copied into the build context as it is)."""
# Debian package names (Policy 5.6.1), optionally =VERSION or /RELEASE.
_APT = re.compile(r"[a-z0-9][a-z0-9+.-]+(?:[=/][A-Za-z0-9.+:~_-]+)?")
# npm specs: name, @scope/name, with @version or tag; no URLs, paths or shell syntax.
_NPM = re.compile(r"(?:@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*(?:@[\w.^~<>=| *-]+)?", re.IGNORECASE)
# [registry[:port]/]name[/name...][:tag], as Docker accepts them (lower-case repository).
_TAG = re.compile(r"(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9][a-z0-9._/-]*(?::\w[\w.-]{0,127})?")
BUILD_ROOT = "/sandbox-kernel-root"
BUILD_DIR = "/sandbox-kernel-build"


@dataclass(frozen=True)
class CustomImage:
    """What a derived image is made of. ``wheels`` are host files (``*.whl``), hashed for the label.
    """

    parent: Flavour
    requirements: str = ""
    apt: tuple[str, ...] = ()
    npm: tuple[str, ...] = ()
    wheels: tuple[Path, ...] = ()

    @property
    def offline(self) -> bool:
        """Whether the build needs no network: wheels only, on a parent that has pip already."""
        return bool(self.wheels) and not self.apt and self.parent.name == "python"

    def context(self) -> dict[str, ContextFile]:
        """The build context: the Dockerfile, the install script and the user's files."""
        files: dict[str, ContextFile] = {"Dockerfile": self.dockerfile().encode()}
        script = self.install_script()
        if script:
            files["build/install.sh"] = script.encode()
            files[f"build/{HOST_CA}"] = host_ca_bundle()
        if self.requirements:
            files["build/requirements.txt"] = self.requirements.encode()
        for wheel in self.wheels:
            files[f"build/wheels/{wheel.name}"] = wheel
        return files

    def dockerfile(self) -> str:
        lines = [f"FROM {self.parent.tag} AS apt"]
        if self.apt:
            lines.append(
                "RUN apt-get update \\\n"
                " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
                + " ".join(shlex.quote(name) for name in self.apt) + " \\\n"
                " && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* "
                "/var/log/dpkg.log")
        if self.install_script():
            lines += ["FROM apt AS build",
                      f"COPY build/ {BUILD_DIR}/",
                      f"RUN sh {BUILD_DIR}/install.sh",
                      "FROM apt",
                      f"COPY --from=build {BUILD_ROOT}/ /"]
            if self.parent.language == "python":
                # a requirement may bring its own pip: put the stand-in back in front of it
                lines.append("RUN sh /usr/local/share/sandbox-kernel/python/install.sh")
        return "\n".join(lines) + "\n"

    def install_script(self) -> str:
        """The shell script that installs the pip or npm packages under :data:`BUILD_ROOT`."""
        if self.parent.language == "python" and (self.requirements or self.wheels):
            return _pip_script(bool(self.requirements), bool(self.wheels))
        if self.parent.language == "node" and self.npm:
            return _npm_script(self.npm)
        return ""

    def input_hash(self) -> str:
        """sha256 of every input; the ``sandbox-kernel.recipe`` label of the image."""
        from sandbox_kernel.backends.docker.images import recipe_hash

        inputs = {
            "parent": self.parent.name,
            "parent_recipe": recipe_hash(self.parent.name),
            "dockerfile": self.dockerfile(),
            "install": self.install_script(),
            "requirements": self.requirements,
            "apt": list(self.apt),
            "npm": list(self.npm),
            "wheels": sorted((wheel.name, _sha256(wheel)) for wheel in self.wheels),
        }
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()

    def default_tag(self) -> str:
        return f"sandbox-kernel-{self.parent.name}-custom:{self.input_hash()[:12]}"


# The image's CAs plus the host's (images.host_ca_bundle), for this build stage only.
_CA_SETUP = (f"cat /etc/ssl/certs/ca-certificates.crt {BUILD_DIR}/{HOST_CA} > /tmp/ca.pem "
             "2>/dev/null || true")


def _pip_script(requirements: bool, wheels: bool) -> str:
    # Debian's pip (python3-pip) is shadowed in the image by the stand-in; PYTHONPATH puts the
    # real one first. PIP_CONFIG_FILE=/dev/null drops the image's no-index configuration.
    targets = "-r requirements.txt" if requirements else "wheels/*.whl"
    index = "--no-index --find-links wheels" if wheels else ""
    return f"""set -eu
cd {BUILD_DIR}
export PYTHONPATH=/usr/lib/python3/dist-packages PIP_CONFIG_FILE=/dev/null \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
if ! python3 -c 'import pip._internal.cli.main' 2>/dev/null; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-pip
fi
{_CA_SETUP}
python3 -m pip install --cert /tmp/ca.pem --root {BUILD_ROOT} --no-cache-dir \\
    --break-system-packages --no-warn-script-location --progress-bar off {index} {targets}
mkdir -p {BUILD_ROOT}
"""


def _npm_script(packages: tuple[str, ...]) -> str:
    # The node flavour has the real npm behind its stand-in; node-debian gets Debian's npm here,
    # in the throw-away stage only. Both install into BUILD_ROOT/usr/local/lib/node_modules.
    names = " ".join(shlex.quote(name) for name in packages)
    return f"""set -eu
cli=/usr/local/lib/node_modules/npm/bin/npm-cli.js
if [ ! -f "$cli" ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm
    cli=/usr/share/nodejs/npm/bin/npm-cli.js
fi
{_CA_SETUP}
mkdir -p {BUILD_ROOT}/usr/local
node "$cli" install --cafile /tmp/ca.pem --global --prefix {BUILD_ROOT}/usr/local \\
    --userconfig /dev/null --offline=false --audit=false --fund=false \\
    --update-notifier=false --cache /tmp/npm-cache {names}
"""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def custom_image(
    parent: str,
    requirements: Path | None = None,
    apt: list[str] | None = None,
    npm: list[str] | None = None,
    wheels: Path | None = None,
) -> CustomImage:
    """Check the inputs of a derived image and read its files.

    Raises ``ValueError`` for a package list that does not fit its parent (``requirements`` and
    ``wheels`` need a Python flavour, ``npm`` a Node one), a malformed package name, an unreadable
    or oversized requirements file, or a wheel directory with no ``*.whl``.
    """
    flavour = resolve_flavour(parent)
    apt = list(apt or [])
    npm = list(npm or [])
    if not (requirements or apt or npm or wheels):
        raise ValueError("a derived image needs --requirements, --apt, --npm or --wheels")
    if (requirements or wheels) and flavour.language != "python":
        raise ValueError(f"--requirements and --wheels install Python packages; {flavour.name} "
                         "is not a Python image")
    if npm and flavour.language != "node":
        raise ValueError(f"--npm installs Node.js packages; {flavour.name} is not a Node image")
    for name in apt:
        if not _APT.fullmatch(name):
            raise ValueError(f"{name!r} is not a Debian package name")
    for name in npm:
        if not _NPM.fullmatch(name):
            raise ValueError(f"{name!r} is not an npm package name (NAME or @SCOPE/NAME, "
                             "optionally @VERSION)")
    text = ""
    if requirements is not None:
        try:
            data = requirements.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {requirements}: {exc.strerror}") from None
        if len(data) > MAX_REQUIREMENTS:
            raise ValueError(f"{requirements} is over {MAX_REQUIREMENTS} bytes")
        text = data.decode("utf-8", "replace")
    found: tuple[Path, ...] = ()
    if wheels is not None:
        if not wheels.is_dir():
            raise ValueError(f"--wheels {wheels}: not a directory")
        found = tuple(sorted(wheels.glob("*.whl")))
        if not found:
            raise ValueError(f"--wheels {wheels}: no *.whl files in it")
    return CustomImage(flavour, text, tuple(apt), tuple(npm), found)


def check_tag(tag: str) -> str:
    """A Docker image name for ``--tag``; ``:latest`` is added when no tag is given."""
    tag = tag.strip()
    if not _TAG.fullmatch(tag) or tag.startswith("sandbox-kernel-base"):
        raise ValueError(f"{tag!r} is not a usable image name (like name or name:tag)")
    if ":" not in tag.rpartition("/")[2]:
        tag += ":latest"
    if tag in {flavour.tag for flavour in FLAVOURS.values()}:
        raise ValueError(f"{tag} is the tag of a flavour; choose another --tag")
    return tag


def build_custom_image(
    image: CustomImage, tag: str | None = None, force: bool = False, progress: Progress = print
) -> str:
    """Build ``image`` as ``tag`` (default :meth:`CustomImage.default_tag`) unless an image of
    that name already has the same input hash; return the tag. The parent flavour is built first
    when missing or stale. Build failures raise :class:`SandboxError`.
    """
    tag = check_tag(tag) if tag else image.default_tag()
    api = _client()
    sha = image.input_hash()
    if not force and (_labels(api, tag) or {}).get(RECIPE_LABEL) == sha:
        progress(f"{tag} is up to date (inputs {sha[:12]})")
        return tag
    if _state(api, image.parent) != "ok" or _base_state(api) != "ok":
        build_images([image.parent.name], progress=progress)
    network = "none" if image.offline else None
    progress(f"building {tag} from {image.parent.tag}"
             + (" with no network" if network else ""))
    started = time.monotonic()
    labels = image_labels(sha, "custom", image.parent.language)
    labels[PARENT_LABEL] = image.parent.tag
    docker_build(api, tag, image.context(), "Dockerfile", labels, nocache=force,
                 progress=progress, prefix="[custom] ", network_mode=network)
    if (_labels(api, tag) or {}).get(RECIPE_LABEL) != sha:
        raise SandboxError(f"building {tag} did not produce an image with the current inputs")
    progress(f"{tag} built in {time.monotonic() - started:.0f} s")
    return tag
