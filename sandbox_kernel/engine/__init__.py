"""The engine: one-shot runs, sessions, the driver protocol, output capping, the warm pool.

It never imports a container library: containers are reached through a ``Backend``
(``sandbox_kernel.backends``). Front-ends reach containers only through the engine's public
methods.
"""
