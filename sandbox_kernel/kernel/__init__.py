"""Compatibility alias: kernelspecs installed before 0.2 run ``python -m sandbox_kernel.kernel``.

The kernel now lives in :mod:`sandbox_kernel.jupyter`; ``sandbox-kernel install`` writes
kernelspecs that name it directly.
"""
