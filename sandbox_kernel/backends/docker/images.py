"""Build the sandbox images from Debian packages, with no container registry.

The base image is a minimal Debian made by ``debootstrap`` and loaded with ``docker import``
(recipe ``recipes/base/rootfs.sh``); each flavour is a small Dockerfile on top of it
(``recipes/<flavour>/Dockerfile``, whose ``COPY`` sources are files under ``recipes/``). A language
has a default flavour of the same name (``python``, ``bash``, ``node``) and may have others
(``python-minimal``, ``node-debian``). Every image carries the labels ``sandbox-kernel.image=1``,
``sandbox-kernel.flavour`` and ``sandbox-kernel.recipe=<sha256 of its recipe, base recipe and
copied files included>``, so an image built from the current recipes is not rebuilt unless forced.
Nothing the engine needs is baked in: any image with the interpreter works.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import ssl
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from docker.errors import APIError, DockerException, NotFound

from sandbox_kernel.backends.docker.client import connect
from sandbox_kernel.config import load_config
from sandbox_kernel.errors import SandboxError, SandboxUnavailable
from sandbox_kernel.flavours import (
    DEFAULT_FLAVOURS,
    FALLBACKS,
    FLAVOUR_LABEL,
    FLAVOURS,
    IMAGE_LABEL,
    LANGUAGE_LABEL,
    RECIPE_LABEL,
    Flavour,
    image_reference,
    resolve_flavour,
)
from sandbox_kernel.languages import LANGUAGES, Language

__all__ = ["DEFAULT_FLAVOURS", "FALLBACKS", "FLAVOURS", "Flavour", "image_reference",
           "IMAGE_LABEL", "RECIPE_LABEL", "FLAVOUR_LABEL", "LANGUAGE_LABEL", "BASE_TAG",
           "resolve_flavour", "build_images", "image_status", "recipe_files", "recipe_hash",
           "recipe_text", "docker_build", "host_ca_bundle", "image_labels"]

BASE_TAG = "sandbox-kernel-base:bookworm"
RECIPES = Path(__file__).with_name("recipes")
BUILD_COMMAND = "sandbox-kernel images build"
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
_COPY = re.compile(r"^\s*(?:COPY|ADD)\s+(.+)$", re.IGNORECASE)
HOST_CA = "host-ca.pem"
"""Context file with the CA certificates the host trusts (see :func:`host_ca_bundle`)."""
MAX_HOST_CA = 4 * 1024 * 1024

Progress = Callable[[str], None]
DockerAPI = Any  # docker.APIClient; docker-py ships no type information
ContextFile = bytes | Path
"""A build-context entry: its content, or a host file streamed into the context as it is."""


def recipe_files(flavour: str | None = None) -> dict[str, bytes]:
    """The files of a flavour's recipe, by path under ``recipes/``: its Dockerfile first, then
    every file its ``COPY`` lines take from ``recipes/`` (``COPY --from`` excluded)."""
    if flavour is None:
        return {"base/rootfs.sh": (RECIPES / "base" / "rootfs.sh").read_bytes()}
    dockerfile = f"{flavour}/Dockerfile"
    files = {dockerfile: (RECIPES / dockerfile).read_bytes()}
    copied: dict[str, bytes] = {}
    for line in files[dockerfile].decode("utf-8").splitlines():
        match = _COPY.match(line)
        if not match:
            continue
        words = [word for word in match.group(1).split() if not word.startswith("--")]
        if match.group(1).lstrip().startswith("--from"):
            continue
        for source in words[:-1]:
            if source == HOST_CA:
                continue  # given by the builder, not part of the recipe
            path = RECIPES / source
            found = sorted(path.rglob("*")) if path.is_dir() else [path]
            for item in found:
                if item.is_file() and "__pycache__" not in item.parts:
                    copied[item.relative_to(RECIPES).as_posix()] = item.read_bytes()
    return files | dict(sorted(copied.items()))


def host_ca_bundle() -> bytes:
    """The CA certificates this host trusts, as PEM (empty when none are found).

    Build stages that download over HTTPS add them to their own, so that a proxy that re-signs TLS
    (as company networks do) is trusted at build time as it is on the host. Only throw-away build
    stages see them; no image keeps them, and no recipe hash includes them (what is downloaded is
    pinned by hash or named by the user). Looked up in ``SANDBOX_KERNEL_BUILD_CA``,
    ``SSL_CERT_FILE``, then OpenSSL's default file.
    """
    candidates = [os.environ.get("SANDBOX_KERNEL_BUILD_CA"), os.environ.get("SSL_CERT_FILE"),
                  ssl.get_default_verify_paths().cafile]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            with open(candidate, "rb") as f:
                return f.read(MAX_HOST_CA)
    return b""


def recipe_text(flavour: str | None = None) -> str:
    """The recipe of the base image (``None``) or of a flavour, base recipe included."""
    base = recipe_files()["base/rootfs.sh"].decode("utf-8")
    if flavour is None:
        return base
    parts = [base]
    for path, content in recipe_files(flavour).items():
        parts.append(f"# --- {path} ---\n{content.decode('utf-8', 'replace')}")
    return "\n".join(parts)


def recipe_hash(flavour: str | None = None) -> str:
    """sha256 of :func:`recipe_text`: the value of the ``sandbox-kernel.recipe`` label."""
    return hashlib.sha256(recipe_text(flavour).encode("utf-8")).hexdigest()


def image_status() -> dict[str, str]:
    """Flavour name -> ``"ok"``, ``"missing"``, ``"stale"`` (built from older recipes) or
    ``"fallback"`` (the tag holds the fallback flavour, see :data:`FALLBACKS`).

    An image configured through ``SANDBOX_KERNEL_<LANGUAGE>_IMAGE`` replaces the language's
    default flavour and is not ours to judge: it is "ok" when present locally, else "missing".
    """
    api = _client()
    status: dict[str, str] = {}
    for name, flavour in FLAVOURS.items():
        lang = LANGUAGES[flavour.language]
        if name == lang.name and _is_override(lang):
            image = load_config().image_for(lang)
            status[name] = "missing" if _labels(api, image) is None else "ok"
        else:
            status[name] = _state(api, flavour)
    return status


def build_images(
    languages: list[str] | None = None, force: bool = False, progress: Progress = print
) -> list[str]:
    """Build the named flavours (languages name their default flavour; default:
    :data:`DEFAULT_FLAVOURS`) unless up to date; return their tags.

    A language whose image is overridden through ``SANDBOX_KERNEL_<NAME>_IMAGE`` is not built: asked
    for by name, that is a :class:`SandboxError`; otherwise it is skipped with a message. A flavour
    with a fallback (:data:`FALLBACKS`) that fails to build gets the fallback under its tag.
    """
    if languages is None:
        wanted = [FLAVOURS[name] for name in DEFAULT_FLAVOURS]
    else:
        wanted = list(dict.fromkeys(resolve_flavour(name) for name in languages))
    todo: list[Flavour] = []
    for flavour in wanted:
        lang = LANGUAGES[flavour.language]
        if flavour.name != lang.name or not _is_override(lang):
            todo.append(flavour)
            continue
        image = load_config().image_for(lang)
        message = (
            f"{lang.name}: not building {image}: it is configured by "
            f"SANDBOX_KERNEL_{lang.name.upper()}_IMAGE and sandbox-kernel only builds "
            f"{lang.default_image}; provide {image} yourself (any image with "
            f"{lang.interpreter[0]} works) or unset the variable"
        )
        if languages is not None:
            raise SandboxError(message)
        progress(message)
    api = _client()
    stale = [flavour for flavour in todo if force or _state(api, flavour) != "ok"]
    for flavour in todo:
        if flavour not in stale:
            progress(f"{flavour.name}: {flavour.tag} is up to date")
    if not stale:
        return [flavour.tag for flavour in todo]
    replaced: list[str | None] = []
    if force or _base_state(api) != "ok":
        replaced.append(_image_id(api, BASE_TAG))
        _build_base(api, progress)
    for flavour in stale:
        replaced.insert(0, _image_id(api, flavour.tag))
        try:
            _build_flavour(api, flavour, flavour.tag, nocache=force, progress=progress)
        except SandboxError as exc:
            if flavour.name not in FALLBACKS:
                raise
            _build_fallback(api, flavour.name, flavour.tag, exc, force, progress)
    _remove_replaced(api, replaced, progress)
    return [flavour.tag for flavour in todo]


def _build_fallback(api: DockerAPI, name: str, tag: str, error: SandboxError, force: bool,
                    progress: Progress) -> None:
    """Build flavour ``name``'s fallback and tag it ``tag``, after ``error`` from ``name``."""
    fallback = FLAVOURS[FALLBACKS[name]]
    progress(f"{name}: {error}")
    progress(f"{name}: falling back to the {fallback.name} flavour ({fallback.summary}); the "
             f"next `{BUILD_COMMAND}` tries {name} again")
    if force or _state(api, fallback) != "ok":
        _build_flavour(api, fallback, fallback.tag, nocache=force, progress=progress)
    repository, _, version = tag.rpartition(":")
    api.tag(fallback.tag, repository, version, force=True)


# --- Docker helpers ---------------------------------------------------------------------------

def _client() -> DockerAPI:
    return connect()


def _is_override(lang: Language) -> bool:
    return bool(load_config().image_for(lang) != lang.default_image)


def _labels(api: DockerAPI, image: str) -> dict[str, str] | None:
    try:
        info = api.inspect_image(image)
    except NotFound:
        return None
    return dict((info.get("Config") or {}).get("Labels") or {})


def _image_id(api: DockerAPI, image: str) -> str | None:
    try:
        return str(api.inspect_image(image)["Id"])
    except NotFound:
        return None


def _state(api: DockerAPI, flavour: Flavour) -> str:
    labels = _labels(api, flavour.tag)
    if labels is None:
        return "missing"
    if labels.get(RECIPE_LABEL) == recipe_hash(flavour.name):
        # an image from before flavours existed has the right recipe but not our labels yet
        return "ok" if labels.get(FLAVOUR_LABEL) == flavour.name else "stale"
    fallback = FALLBACKS.get(flavour.name)
    if fallback and labels.get(RECIPE_LABEL) == recipe_hash(fallback):
        return "fallback"
    return "stale"


def _base_state(api: DockerAPI) -> str:
    labels = _labels(api, BASE_TAG)
    if labels is None:
        return "missing"
    return "ok" if labels.get(RECIPE_LABEL) == recipe_hash() else "stale"


def image_labels(recipe_sha: str, flavour: str | None = None,
                 language: str | None = None) -> dict[str, str]:
    """The labels of an image we build (see the module docstring)."""
    labels = {IMAGE_LABEL: "1", RECIPE_LABEL: recipe_sha}
    if flavour:
        labels[FLAVOUR_LABEL] = flavour
    if language:
        labels[LANGUAGE_LABEL] = language
    return labels


def _build_base(api: DockerAPI, progress: Progress) -> None:
    if os.geteuid() != 0:
        raise SandboxError(f"building {BASE_TAG} runs debootstrap, which needs root: run "
                           f"`sudo {BUILD_COMMAND}`")
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    if shutil.which("debootstrap", path=path) is None:
        raise SandboxUnavailable("debootstrap is not installed: run `apt-get install -y "
                                 f"debootstrap`, then `{BUILD_COMMAND}`")
    recipe = recipe_text()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="sandbox-kernel-rootfs-"))
    try:
        rootfs = tmp / "rootfs"
        script = tmp / "rootfs.sh"
        script.write_text(recipe, encoding="utf-8")
        progress(f"base: debootstrap --variant=minbase bookworm into {rootfs}")
        _run(["sh", str(script), str(rootfs)], {**os.environ, "PATH": path}, "[base] ", progress)
        progress(f"base: importing {rootfs} as {BASE_TAG}")
        _import(api, rootfs, recipe, progress)
    finally:
        _remove_tree(tmp)
    progress(f"base: {BASE_TAG} built in {time.monotonic() - started:.0f} s")


def _run(argv: list[str], env: dict[str, str], prefix: str, progress: Progress) -> None:
    with subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            progress(prefix + line.rstrip())
    if proc.returncode != 0:
        raise SandboxError(f"`{' '.join(argv)}` failed with exit status {proc.returncode} (see "
                           "the lines above; is http://deb.debian.org reachable?)")


def _import(api: DockerAPI, rootfs: Path, recipe: str, progress: Progress) -> None:
    changes = [line[3:] for line in recipe.splitlines() if line.startswith("#@ ")]
    labels = " ".join(f"{key}={value}" for key, value in image_labels(recipe_hash()).items())
    changes.append(f"LABEL {labels}")
    repository, _, tag = BASE_TAG.rpartition(":")
    with subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", "-", "."],
                          stdout=subprocess.PIPE) as tar:
        assert tar.stdout is not None
        chunks = iter(lambda: tar.stdout.read(1 << 20) if tar.stdout else b"", b"")
        try:
            reply = api.import_image_from_data(chunks, repository=repository, tag=tag,
                                               changes=changes)
        except (DockerException, OSError) as exc:
            tar.kill()
            raise SandboxError(f"docker import of {BASE_TAG} failed: {exc}") from exc
    if tar.returncode != 0:
        raise SandboxError(f"tar of {rootfs} failed with exit status {tar.returncode}")
    for line in str(reply).splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("error"):
            raise SandboxError(f"docker import of {BASE_TAG} failed: {message['error']}")
        if isinstance(message, dict) and message.get("status"):
            progress(f"[base] {message['status']}")


def _build_flavour(api: DockerAPI, flavour: Flavour, tag: str, nocache: bool,
                   progress: Progress) -> None:
    files: dict[str, ContextFile] = dict(recipe_files(flavour.name))
    files[HOST_CA] = host_ca_bundle()
    progress(f"{flavour.name}: building {tag} from {BASE_TAG}")
    started = time.monotonic()
    sha = recipe_hash(flavour.name)
    docker_build(api, tag, files, f"{flavour.name}/Dockerfile",
                 image_labels(sha, flavour.name, flavour.language), nocache=nocache,
                 progress=progress, prefix=f"[{flavour.name}] ")
    if (_labels(api, tag) or {}).get(RECIPE_LABEL) != sha:
        raise SandboxError(f"building {tag} did not produce an image with the current recipe")
    progress(f"{flavour.name}: {tag} built in {time.monotonic() - started:.0f} s")


def docker_build(api: DockerAPI, tag: str, files: Mapping[str, ContextFile], dockerfile: str,
                 labels: Mapping[str, str], *, nocache: bool = False,
                 progress: Progress = print, prefix: str = "",
                 network_mode: str | None = None) -> None:
    """``docker build`` of a context made of ``files`` (path in the context -> content or host
    file), tagged ``tag``; Docker's output goes to ``progress``. Build failures, the daemon's and
    the Dockerfile's alike, raise :class:`SandboxError`. ``network_mode="none"`` builds offline.
    """
    with tempfile.TemporaryFile() as context:
        with tarfile.open(fileobj=context, mode="w") as tar:
            for name, content in files.items():
                if isinstance(content, Path):
                    tar.add(str(content), arcname=name, recursive=False)
                    continue
                info = tarfile.TarInfo(name)
                info.size = len(content)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(content))
        context.seek(0)
        try:
            for chunk in api.build(fileobj=context, custom_context=True, dockerfile=dockerfile,
                                   tag=tag, pull=False, rm=True, forcerm=True, nocache=nocache,
                                   decode=True, timeout=1800, labels=dict(labels),
                                   network_mode=network_mode):
                if chunk.get("error"):
                    error = str(chunk["error"]).strip()
                    raise SandboxError(f"building {tag} failed: {error}{_network_hint(error)}")
                for line in str(chunk.get("stream") or chunk.get("status") or "").splitlines():
                    if line.strip():
                        progress(prefix + line.rstrip())
        except (DockerException, OSError) as exc:
            raise SandboxError(f"building {tag} failed: {exc}") from exc


def _network_hint(error: str) -> str:
    """What to do about a build container that cannot join Docker's default bridge."""
    if "bridge docker0" not in error:
        return ""
    # dockerd deletes the docker0 interface when any daemon on the host starts with --bridge=none
    return ("; the interface docker0 of Docker's default bridge network is gone (another dockerd "
            "started with --bridge=none deletes it): restart the daemon, or recreate it with `ip "
            "link add docker0 type bridge && ip addr add 172.17.0.1/16 dev docker0 && ip link set "
            "docker0 up` (the address of `docker network inspect bridge`)")


def _remove_replaced(api: DockerAPI, old_ids: Iterable[str | None], progress: Progress) -> None:
    """Best effort: drop the images our rebuilds replaced, if ours and nothing uses them."""
    current = {_image_id(api, flavour.tag) for flavour in FLAVOURS.values()}
    current.add(_image_id(api, BASE_TAG))
    for old in old_ids:
        if old is None or old in current or IMAGE_LABEL not in (_labels(api, old) or {}):
            continue
        try:
            api.remove_image(old)
            progress(f"removed the replaced image {old[:19]}")
        except APIError:
            pass  # still used by a container, another tag or a child image: leave it


def _remove_tree(path: Path) -> None:
    """Remove a debootstrap target, first unmounting whatever an interrupted run left mounted."""
    real = os.path.realpath(path)

    def mounts() -> list[str]:
        found = []
        with open("/proc/self/mountinfo", encoding="utf-8") as info:
            for line in info:
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                               line.split()[4])
                if point == real or point.startswith(real + "/"):
                    found.append(point)
        return sorted(found, key=len, reverse=True)

    for point in mounts():
        subprocess.run(["umount", "-l", point], check=False)
    if left := mounts():
        raise SandboxError(f"{path} still has mounts ({', '.join(left)}); unmount them, then "
                           f"remove it with `rm -rf {path}`")
    shutil.rmtree(path, ignore_errors=True)
