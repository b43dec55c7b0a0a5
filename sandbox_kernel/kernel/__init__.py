"""Jupyter kernels ``sandbox-python``, ``sandbox-bash`` and ``sandbox-node``.

``SandboxKernel`` is the kernel class; ``python -m sandbox_kernel.kernel`` launches it.
"""

from sandbox_kernel.kernel.kernel import SandboxKernel

__all__ = ["SandboxKernel"]
