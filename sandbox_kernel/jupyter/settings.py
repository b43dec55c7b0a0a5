"""The kernels' configuration: traitlets whose defaults come from ``sandbox_kernel.config``.

Precedence, highest first: the kernel's command line (``--SandboxKernel.timeout=5``), a
``jupyter_sandbox_config.py`` in the Jupyter config path, an environment variable
(``SANDBOX_KERNEL_TIMEOUT=5``), and finally ``Limits()``, the project's single source of defaults.
Values are checked by ``Limits`` itself, so the kernels accept exactly what the engine accepts.
"""

from __future__ import annotations

from traitlets import Dict, Enum, Float, Int, List, TraitError, Unicode, Union, default
from traitlets.config import Configurable

from sandbox_kernel.config import MODES, Config, load_config
from sandbox_kernel.languages import resolve_language
from sandbox_kernel.limits import Limits

_DEFAULTS = Limits()


def _config() -> Config:
    """The environment's settings (``sandbox_kernel.config``); a bad variable is a TraitError."""
    try:
        return load_config()
    except ValueError as exc:
        raise TraitError(str(exc)) from None


class SandboxSettings(Configurable):
    """Limits and behaviour of a sandbox kernel (mixed into ``SandboxKernel``)."""

    mode = Enum(
        MODES,
        default_value="session",
        help="'session' keeps one sandbox for the whole notebook, so state persists between "
             "cells; 'fresh' runs every cell in a new sandbox, with no state. "
             "Environment: SANDBOX_KERNEL_MODE.",
    ).tag(config=True)

    memory = Union(
        [Int(), Unicode()],
        default_value=_DEFAULTS.memory,
        help="Memory of the sandbox: bytes or a size like '512m' (no swap). "
             f"Default {_DEFAULTS.memory // 2**20} MiB. Environment: SANDBOX_KERNEL_MEMORY.",
    ).tag(config=True)

    cpus = Float(
        _DEFAULTS.cpus,
        help=f"CPUs the sandbox may use (default {_DEFAULTS.cpus:g}). "
             "Environment: SANDBOX_KERNEL_CPUS.",
    ).tag(config=True)

    pids = Int(
        _DEFAULTS.pids,
        help=f"Maximum number of processes in the sandbox (default {_DEFAULTS.pids}). "
             "Environment: SANDBOX_KERNEL_PIDS.",
    ).tag(config=True)

    timeout = Float(
        _DEFAULTS.timeout,
        help=f"Default timeout of one cell in seconds (default {_DEFAULTS.timeout:g}, at most "
             f"{_DEFAULTS.max_timeout:g}). A cell may start with '%%timeout S' to change it "
             "for that cell. Environment: SANDBOX_KERNEL_TIMEOUT.",
    ).tag(config=True)

    max_output = Union(
        [Int(), Unicode()],
        default_value=_DEFAULTS.max_output,
        help="Cap per stream (stdout, stderr) per cell: bytes or a size like '2m'; the rest is "
             "dropped. Environment: SANDBOX_KERNEL_MAX_OUTPUT.",
    ).tag(config=True)

    image = Dict(
        value_trait=Unicode(),
        help="Image per language, e.g. {'python': 'my-python:1'}; the default is the built "
             "sandbox-kernel-<language>:latest, or SANDBOX_KERNEL_<LANGUAGE>_IMAGE.",
    ).tag(config=True)

    runtime = Unicode(
        None,
        allow_none=True,
        help="Docker runtime for the sandboxes, e.g. 'runsc' for gVisor; the daemon's default "
             "when unset. Environment: SANDBOX_KERNEL_RUNTIME.",
    ).tag(config=True)

    files_root = Unicode(
        None,
        allow_none=True,
        help="The host directory %upload may read from and %download may write to (symlinks "
             "leading outside it are refused); default: the kernel's working directory, i.e. "
             "the notebook's folder. Environment: SANDBOX_KERNEL_FILES_ROOT.",
    ).tag(config=True)

    upload_on_start = List(
        Unicode(),
        help="Host globs (relative to the kernel's working directory) copied into every new "
             "sandbox: at start and after each restart, so that 'Run all' works on notebooks "
             "that read data files next to them, e.g. ['data/**']. Patterns matching nothing "
             "are skipped. Environment: SANDBOX_KERNEL_UPLOAD_ON_START (separated by ':').",
    ).tag(config=True)

    max_files = Int(
        _DEFAULTS.max_files,
        help=f"Files per transfer (%upload, %download, upload_on_start), default "
             f"{_DEFAULTS.max_files}. Environment: SANDBOX_KERNEL_MAX_FILES.",
    ).tag(config=True)

    @default("files_root")
    def _default_files_root(self) -> str | None:
        return _config().files_root

    @default("upload_on_start")
    def _default_upload_on_start(self) -> list[str]:
        return list(_config().upload_on_start)

    @default("max_files")
    def _default_max_files(self) -> int:
        return _config().limits.max_files

    max_timeout = Float(
        _DEFAULTS.max_timeout,
        help=f"The operator's ceiling on one cell's timeout in seconds (default "
             f"{_DEFAULTS.max_timeout:g}); '%%timeout' cannot exceed it. "
             "Environment: SANDBOX_KERNEL_MAX_TIMEOUT.",
    ).tag(config=True)

    @default("mode")
    def _default_mode(self) -> str:
        return _config().mode

    @default("memory")
    def _default_memory(self) -> int | str:
        return _config().limits.memory

    @default("cpus")
    def _default_cpus(self) -> float:
        return _config().limits.cpus

    @default("pids")
    def _default_pids(self) -> int:
        return _config().limits.pids

    @default("timeout")
    def _default_timeout(self) -> float:
        return _config().limits.timeout

    @default("max_timeout")
    def _default_max_timeout(self) -> float:
        return _config().limits.max_timeout

    @default("max_output")
    def _default_max_output(self) -> int | str:
        return _config().limits.max_output

    @default("runtime")
    def _default_runtime(self) -> str | None:
        return _config().runtime

    def limits(self) -> Limits:
        """The configured limits; ``ValueError`` or ``TraitError`` says what is wrong."""
        return _config().limits.with_overrides(
            memory=self.memory, cpus=self.cpus, pids=self.pids, max_timeout=self.max_timeout,
            timeout=self.timeout, max_output=self.max_output, max_files=self.max_files,
        )

    def images(self) -> dict[str, str]:
        """The configured images, keyed by engine language name (aliases accepted)."""
        images = dict(_config().images)
        images.update((resolve_language(name).name, image) for name, image in self.image.items())
        return images
