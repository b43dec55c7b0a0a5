"""Files in and out of a sandbox: names, globs, limits and tar archives (no container code).

The engine moves the bytes (``sandbox_kernel.engine.workspace``); the front-ends reach host files
through ``host``. Everything here is pure logic with fast tests in ``tests/unit``.
"""
