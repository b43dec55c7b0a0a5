"""Direct access to the Docker daemon for tests that check what the engine did.

The package reaches Docker only through its backend; tests look at the daemon themselves, so a
bug in the backend cannot hide what really happened.
"""

from __future__ import annotations

from typing import Any

import docker.errors

from sandbox_kernel.backends.docker.client import connect
from sandbox_kernel.engine.ownership import LABEL, OWNER_LABEL


def docker_api() -> Any:
    """A docker-py ``APIClient`` on the daemon the tests use."""
    return connect()


def find_ours(api: Any, owner: str | None = None) -> list[dict[str, Any]]:
    """Containers labelled ``sandbox-kernel`` (of one owner when given), as Docker lists them."""
    wanted = f"{OWNER_LABEL}={owner}" if owner else LABEL
    return list(api.containers(all=True, filters={"label": [wanted]}))


def exists(api: Any, container_id: str) -> bool:
    """Whether Docker still has the container, in any state (``docker ps -a``)."""
    try:
        api.inspect_container(container_id)
    except docker.errors.NotFound:
        return False
    return True
