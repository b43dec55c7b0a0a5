"""sandbox-kernel: run untrusted notebook code in hardened per-language Docker sandboxes.

Importing the package imports no container library and starts no thread: the engine loads its
backend (docker-py) on first use.
"""

from sandbox_kernel._version import __version__ as __version__
from sandbox_kernel.engine.sandbox import DockerSandbox
from sandbox_kernel.errors import SandboxError, SandboxUnavailable
from sandbox_kernel.limits import Limits
from sandbox_kernel.result import ExecutionResult

__all__ = [
    "DockerSandbox",
    "ExecutionResult",
    "Limits",
    "SandboxError",
    "SandboxUnavailable",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext sandbox_kernel``: registers the ``%%sandbox`` magics."""
    from sandbox_kernel.magic.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    from sandbox_kernel.magic.magics import unload_ipython_extension as unload

    unload(ipython)
