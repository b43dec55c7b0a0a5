"""Jupyter kernels ``sandbox-python``, ``sandbox-bash`` and ``sandbox-node``.

``SandboxKernel`` is the kernel class; ``python -m sandbox_kernel.jupyter`` launches it. The class
is imported lazily: the command line reads ``specs`` from here and should not pay for ipykernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox_kernel.jupyter.kernel import SandboxKernel

__all__ = ["SandboxKernel"]


def __getattr__(name: str) -> Any:
    if name == "SandboxKernel":
        from sandbox_kernel.jupyter.kernel import SandboxKernel

        return SandboxKernel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
