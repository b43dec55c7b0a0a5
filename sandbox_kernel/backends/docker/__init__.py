"""The Docker backend: the only package that imports docker-py or requests.

``backend`` implements the ``Backend`` protocol, ``spec`` maps a ``ContainerSpec`` onto Docker's
create arguments, ``attach`` reads the multiplexed attach stream, ``client`` connects and
translates errors, ``images`` builds the sandbox images.
"""

from __future__ import annotations

from sandbox_kernel.backends.docker.backend import DockerBackend

__all__ = ["DockerBackend", "create_backend"]


def create_backend(base_url: str | None = None) -> DockerBackend:
    """The factory ``sandbox_kernel.backends.load_backend("docker")`` calls."""
    return DockerBackend(base_url)
