"""Host files for uploads and downloads, confined to an allowed directory.

The rule (issue 14, point 2): on the host, never read or write through a symlink that leads
outside the allowed directory, and never write outside it. Paths are resolved (``realpath``) and
checked against the resolved root before use, files are opened with ``O_NOFOLLOW`` (so a link
swapped in afterwards is refused, not followed), and writes go to a temporary file in the target
directory that ``os.replace`` then renames: a reader never sees half a file, and an existing
symlink is never written through.
"""

from __future__ import annotations

import contextlib
import glob
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence

from sandbox_kernel.files.names import check_name
from sandbox_kernel.files.rules import TransferRules
from sandbox_kernel.limits import format_size


class NoMatch(ValueError):
    """A host glob matched nothing."""


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def confine(path: str, root: str) -> str:
    """``path`` resolved; ``ValueError`` unless it lies inside the resolved ``root``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if not _inside(real, real_root):
        raise ValueError(f"{path!r} is outside the allowed directory {real_root!r}"
                         + (" (through a symlink)" if os.path.islink(path) else ""))
    return real


def read_file(path: str, root: str, cap: int) -> bytes:
    """The content of the regular file ``path`` inside ``root``, at most ``cap`` bytes.

    ``ValueError`` for a path outside ``root``, a file that is not regular, or one over ``cap``.
    """
    real = confine(path, root)
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path!r} is not a regular file")
        data = handle.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"{path!r} is over the limit of {format_size(cap)} per file")
    return data


def read_tree(path: str, rules: TransferRules, root: str | None = None) -> dict[str, bytes]:
    """A file as ``{"": bytes}``, or a directory's regular files as ``{relative name: bytes}``.

    ``root`` (default: ``path`` itself, or its directory for a file) confines what is read:
    symlinks that lead outside it raise ``ValueError``; the walk never descends into a link.
    Counts and sizes are checked against ``rules`` while reading.
    """
    if root is None:
        root = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    if not os.path.lexists(path):
        raise ValueError(f"no such file or directory: {path!r}")
    real = confine(path, root)
    if not os.path.isdir(real):
        return {"": read_file(path, root, rules.max_file_size)}
    files: dict[str, bytes] = {}
    total = 0
    for directory, subdirs, names in os.walk(real, followlinks=False):
        subdirs.sort()
        for name in sorted(names) + [d for d in subdirs if os.path.islink(
                os.path.join(directory, d))]:
            full = os.path.join(directory, name)
            data = read_file(full, root, rules.max_file_size)
            relative = os.path.relpath(full, real).replace(os.sep, "/")
            rules.check_count(len(files) + 1)
            total += len(data)
            rules.check_size(relative, len(data), total)
            files[relative] = data
    return files


def expand(pattern: str, cwd: str, root: str) -> list[str]:
    """Host paths (relative to ``cwd``) matching the glob ``pattern``, sorted; ``**`` recurses.

    ``ValueError`` when nothing matches or a match lies outside ``root``.
    """
    if "\x00" in pattern:
        raise ValueError(f"path {pattern!r} contains a NUL byte")
    matched = sorted(glob.glob(pattern, root_dir=cwd, recursive=True))
    if not matched:
        raise NoMatch(f"no file matches {pattern!r} in {cwd}")
    for name in matched:
        confine(os.path.join(cwd, name), root)
    return matched


def gather(
    pattern: str, cwd: str, root: str, rules: TransferRules, dest: str | None = None
) -> dict[str, bytes]:
    """The files a ``%upload PATTERN [DEST]`` sends: ``{sandbox name: bytes}``, checked.

    Without ``dest`` a file keeps its path relative to ``cwd`` (its name if it lies above
    ``cwd``); with ``dest``, one file is renamed to it, and several go below it (a name ending
    in "/" is always a directory). Directories bring their regular files.
    """
    matched = expand(pattern, cwd, root)
    single = len(matched) == 1 and not (dest or "").endswith("/")
    files: dict[str, bytes] = {}
    for name in matched:
        base = os.path.normpath(name)
        relative = base if not base.startswith("..") and not os.path.isabs(base) \
            else os.path.basename(base)
        for inner, data in read_tree(os.path.join(cwd, name), rules, root).items():
            if dest is None:
                target = f"{relative}/{inner}" if inner else relative
            elif single:
                target = f"{dest}/{inner}" if inner else dest
            else:
                target = f"{dest}/{relative}/{inner}" if inner else f"{dest}/{relative}"
            files[check_name(target.replace(os.sep, "/"))] = data
    return rules.check_files(files)


def write_file(path: str, data: bytes, root: str, *, overwrite: bool) -> str:
    """Write ``data`` to ``path`` inside ``root`` atomically; return the resolved path.

    Missing parent directories are created. ``ValueError`` for a place outside ``root`` or an
    existing symlink or non-regular file there; ``FileExistsError`` for an existing file when
    ``overwrite`` is false.
    """
    real_root = os.path.realpath(root)
    parent = os.path.dirname(os.path.abspath(path))
    existing = parent
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    real_parent = os.path.join(confine(existing, real_root), os.path.relpath(parent, existing))
    real_parent = os.path.normpath(real_parent)
    if not _inside(real_parent, real_root):
        raise ValueError(f"{path!r} is outside the allowed directory {real_root!r}")
    os.makedirs(real_parent, exist_ok=True)
    target = os.path.join(real_parent, os.path.basename(path))
    if os.path.lexists(target):
        if os.path.islink(target) or not os.path.isfile(target):
            raise ValueError(f"{path!r} exists and is not a regular file; not replaced")
        if not overwrite:
            raise FileExistsError(f"{path!r} exists; not overwritten (use --force)")
    fd, temporary = tempfile.mkstemp(dir=real_parent, prefix=".sandbox-download-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except BaseException:
        _unlink(temporary)
        raise
    return target


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def save(
    files: Mapping[str, bytes], cwd: str, root: str, dest: str | None = None,
    *, overwrite: bool = True,
) -> list[str]:
    """Write downloaded ``{sandbox name: bytes}`` below ``cwd`` (or ``dest``); return paths.

    With ``dest``, a single file is written to it (or into it if it is a directory or ends in
    "/"), several files go below it under their sandbox names. Every name is checked again.
    All targets are checked before the first write.
    """
    plan: list[tuple[str, bytes]] = []
    single = len(files) == 1
    for name, data in files.items():
        clean = check_name(name)
        if dest is None:
            target = os.path.join(cwd, clean)
        else:
            base = os.path.join(cwd, dest)
            if single and not dest.endswith("/") and not os.path.isdir(base):
                target = base
            else:
                target = os.path.join(base, clean if not single else os.path.basename(clean))
        plan.append((target, data))
    for target, _ in plan:
        if not overwrite and os.path.lexists(target):
            raise FileExistsError(f"{target!r} exists; not overwritten (use --force)")
        confine(os.path.dirname(os.path.abspath(target)) if os.path.lexists(
            os.path.dirname(os.path.abspath(target))) else cwd, root)
    return [os.path.relpath(write_file(target, data, root, overwrite=overwrite), cwd)
            for target, data in plan]


def gather_all(
    patterns: Sequence[str], cwd: str, root: str, rules: TransferRules, *,
    skip_missing: bool = False,
) -> dict[str, bytes]:
    """``gather`` for several patterns (no ``dest``), checked together against ``rules``.

    ``skip_missing``: a pattern that matches nothing is left out instead of raising ``NoMatch``.
    """
    files: dict[str, bytes] = {}
    for pattern in patterns:
        try:
            files.update(gather(pattern, cwd, root, rules))
        except NoMatch:
            if not skip_missing:
                raise
    return rules.check_files(files)


def describe(verb: str, files: Mapping[str, bytes]) -> str:
    """The one-line report of a transfer: ``uploaded 2 files (12 KiB): a.csv, b.csv``."""
    total = sum(len(data) for data in files.values())
    names = sorted(files)
    shown = ", ".join(names[:5]) + (f", ... ({len(names) - 5} more)" if len(names) > 5 else "")
    plural = "file" if len(names) == 1 else "files"
    return f"{verb} {len(names)} {plural} ({_human(total)}): {shown}"


def _human(size: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"
