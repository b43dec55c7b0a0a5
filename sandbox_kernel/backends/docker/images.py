"""Build the sandbox images from Debian packages, with no container registry.

The base image is a minimal Debian made by ``debootstrap`` and loaded with ``docker import``
(recipe ``recipes/base/rootfs.sh``); each language image is a small Dockerfile on top of it
(``recipes/<language>/Dockerfile``). Every image carries the labels ``sandbox-kernel.image=1`` and
``sandbox-kernel.recipe=<sha256 of its recipe text, base recipe included>``, so an image built from
the current recipes is not rebuilt unless forced. Nothing the engine needs is baked in: any image
with the interpreter works.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from docker.errors import APIError, DockerException, NotFound

from sandbox_kernel.backends.docker.client import connect
from sandbox_kernel.config import load_config
from sandbox_kernel.errors import SandboxError, SandboxUnavailable
from sandbox_kernel.languages import LANGUAGES, Language, resolve_language

BASE_TAG = "sandbox-kernel-base:bookworm"
IMAGE_LABEL = "sandbox-kernel.image"
RECIPE_LABEL = "sandbox-kernel.recipe"
RECIPES = Path(__file__).with_name("recipes")
BUILD_COMMAND = "sandbox-kernel images build"
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")

Progress = Callable[[str], None]
DockerAPI = Any  # docker.APIClient; docker-py ships no type information


def recipe_text(language: str | None = None) -> str:
    """The recipe of the base image (``None``) or of a language image, base recipe included."""
    base = (RECIPES / "base" / "rootfs.sh").read_text(encoding="utf-8")
    if language is None:
        return base
    dockerfile = (RECIPES / language / "Dockerfile").read_text(encoding="utf-8")
    return f"{base}\n# --- {language}/Dockerfile ---\n{dockerfile}"


def recipe_hash(language: str | None = None) -> str:
    """sha256 of :func:`recipe_text`: the value of the ``sandbox-kernel.recipe`` label."""
    return hashlib.sha256(recipe_text(language).encode("utf-8")).hexdigest()


def image_status() -> dict[str, str]:
    """Language name -> ``"ok"``, ``"missing"`` or ``"stale"`` (built from older recipes).

    An image configured through ``SANDBOX_KERNEL_<NAME>_IMAGE`` is not ours to judge: it is "ok"
    when present locally and "missing" otherwise.
    """
    api = _client()
    status: dict[str, str] = {}
    for name, lang in LANGUAGES.items():
        if _is_override(lang):
            image = load_config().image_for(lang)
            status[name] = "missing" if _labels(api, image) is None else "ok"
        else:
            status[name] = _state(api, lang.default_image, recipe_hash(name))
    return status


def build_images(
    languages: list[str] | None = None, force: bool = False, progress: Progress = print
) -> list[str]:
    """Build the images of ``languages`` (default: all) unless up to date; return their tags.

    A language whose image is overridden through ``SANDBOX_KERNEL_<NAME>_IMAGE`` is not built: asked
    for by name, that is a :class:`SandboxError`; otherwise it is skipped with a message.
    """
    if languages is None:
        wanted = list(LANGUAGES.values())
    else:
        wanted = list(dict.fromkeys(resolve_language(name) for name in languages))
    todo: list[Language] = []
    for lang in wanted:
        if not _is_override(lang):
            todo.append(lang)
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
    stale = [lang for lang in todo
             if force or _state(api, lang.default_image, recipe_hash(lang.name)) != "ok"]
    for lang in todo:
        if lang not in stale:
            progress(f"{lang.name}: {lang.default_image} is up to date")
    if not stale:
        return [lang.default_image for lang in todo]
    replaced: list[str | None] = []
    if force or _state(api, BASE_TAG, recipe_hash()) != "ok":
        replaced.append(_image_id(api, BASE_TAG))
        _build_base(api, progress)
    for lang in stale:
        replaced.insert(0, _image_id(api, lang.default_image))
        _build_language(api, lang, nocache=force, progress=progress)
    _remove_replaced(api, replaced, progress)
    return [lang.default_image for lang in todo]


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


def _state(api: DockerAPI, image: str, wanted_hash: str) -> str:
    labels = _labels(api, image)
    if labels is None:
        return "missing"
    return "ok" if labels.get(RECIPE_LABEL) == wanted_hash else "stale"


def _image_labels(recipe_sha: str) -> dict[str, str]:
    return {IMAGE_LABEL: "1", RECIPE_LABEL: recipe_sha}


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
    labels = " ".join(f"{key}={value}" for key, value in _image_labels(recipe_hash()).items())
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


def _build_language(api: DockerAPI, lang: Language, nocache: bool, progress: Progress) -> None:
    tag = lang.default_image
    dockerfile = (RECIPES / lang.name / "Dockerfile").read_bytes()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    context.seek(0)
    progress(f"{lang.name}: building {tag} from {BASE_TAG}")
    started = time.monotonic()
    try:
        for chunk in api.build(fileobj=context, custom_context=True, tag=tag, pull=False,
                               rm=True, forcerm=True, nocache=nocache, decode=True, timeout=900,
                               labels=_image_labels(recipe_hash(lang.name))):
            if chunk.get("error"):
                raise SandboxError(f"building {tag} failed: {str(chunk['error']).strip()}")
            for line in str(chunk.get("stream") or chunk.get("status") or "").splitlines():
                if line.strip():
                    progress(f"[{lang.name}] {line.rstrip()}")
    except (DockerException, OSError) as exc:
        raise SandboxError(f"building {tag} failed: {exc}") from exc
    if _state(api, tag, recipe_hash(lang.name)) != "ok":
        raise SandboxError(f"building {tag} did not produce an image with the current recipe")
    progress(f"{lang.name}: {tag} built in {time.monotonic() - started:.0f} s")


def _remove_replaced(api: DockerAPI, old_ids: Iterable[str | None], progress: Progress) -> None:
    """Best effort: drop the images our rebuilds replaced, if ours and nothing uses them."""
    current = {_image_id(api, lang.default_image) for lang in LANGUAGES.values()}
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
