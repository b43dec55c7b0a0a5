"""A thin layer over docker-py's low-level client that turns Docker failures into our errors.

The engine talks to the daemon only through this module, so "daemon unreachable" and "image
missing" always surface as ``SandboxUnavailable`` with a message that says what to run.
"""

from __future__ import annotations

import socket
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.utils import kwargs_from_env

from sandbox_kernel.errors import SandboxError, SandboxUnavailable

API_VERSION = "1.41"
PING_TIMEOUT = 5.0
REQUEST_TIMEOUT = 60.0

START_DAEMON_HINT = (
    "start it with `bash scripts/bootstrap.sh setup` from the sandbox-kernel checkout "
    "(or `sudo systemctl start docker`), then check with `sandbox-kernel doctor`"
)
BUILD_IMAGES_HINT = "build the images with `sandbox-kernel images build`"


def connect(base_url: str | None = None) -> docker.APIClient:
    """Open a client to the daemon (``DOCKER_HOST`` honoured) and prove it answers, quickly."""
    kwargs: dict[str, Any] = kwargs_from_env()
    if base_url:
        kwargs["base_url"] = base_url
    where = kwargs.get("base_url") or "unix:///var/run/docker.sock"
    try:
        api = docker.APIClient(version=API_VERSION, timeout=REQUEST_TIMEOUT, **kwargs)
        response = api.get(api._url("/_ping"), timeout=PING_TIMEOUT)
        response.raise_for_status()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise SandboxUnavailable(
            f"cannot reach the Docker daemon at {where} ({exc.__class__.__name__}: {exc}); "
            + START_DAEMON_HINT
        ) from None
    return api


def translate(exc: BaseException, image: str | None = None) -> SandboxError:
    """Map an exception raised while talking to Docker onto our error types."""
    if isinstance(exc, docker.errors.ImageNotFound) or (
        image and isinstance(exc, docker.errors.NotFound) and "image" in str(exc).lower()
    ):
        return SandboxUnavailable(f"the image {image!r} is missing; {BUILD_IMAGES_HINT}")
    # APIError derives from OSError through requests: test it before the connection errors.
    if isinstance(exc, docker.errors.APIError):
        return SandboxError(f"Docker refused the request: {exc.explanation or exc}")
    if isinstance(exc, (requests.exceptions.ConnectionError, socket.error)):
        return SandboxUnavailable(f"lost the Docker daemon ({exc}); {START_DAEMON_HINT}")
    return SandboxError(f"{exc.__class__.__name__}: {exc}")


def open_attach_socket(api: docker.APIClient, container_id: str) -> socket.socket:
    """Attach to stdin, stdout and stderr of a created (not yet started) container."""
    params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
    raw = api.attach_socket(container_id, params=params)
    sock = getattr(raw, "_sock", raw)
    if not isinstance(sock, socket.socket):
        raise SandboxError(f"unsupported attach transport {type(raw).__name__}")
    return sock
