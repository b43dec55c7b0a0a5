"""Cleanup touches only our own containers, and warm containers share nothing between runs."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import docker
import pytest
from attack_helpers import assert_healthy

from sandbox_kernel import DockerSandbox
from sandbox_kernel.backends.docker.client import connect
from sandbox_kernel.engine import ownership
from sandbox_kernel.languages import LANGUAGES


@pytest.fixture
def foreign_containers() -> Iterator[dict[str, str]]:
    """Containers this suite did not create through the engine, named and built like ours.

    * ``unlabelled``: from our image (so with its image labels), named ``sandbox-kernel-...``,
      but without the ``sandbox-kernel`` label: not ours at all;
    * ``other_host``: labelled ours but owned by a process on another machine that shares the
      daemon: only that machine may decide it is an orphan.
    """
    api = connect()
    tag = secrets.token_hex(4)
    image = LANGUAGES["python"].default_image
    specs = {
        "unlabelled": {},
        "other_host": {ownership.LABEL: "run",
                       ownership.OWNER_LABEL: f"another-host-{tag}:1:12345"},
    }
    created = {}
    try:
        for kind, labels in specs.items():
            container = api.create_container(
                image, ["sleep", "300"], name=f"sandbox-kernel-{kind.replace('_', '-')}-{tag}",
                labels=labels, host_config=api.create_host_config(network_mode="none"))
            api.start(container["Id"])
            created[kind] = container["Id"]
        yield created
    finally:
        for container_id in created.values():
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(container_id, force=True)


def test_cleanup_and_janitor_leave_containers_we_did_not_create(
    engine: DockerSandbox, foreign_containers: dict[str, str]
) -> None:
    api = connect()
    assert engine.run("python", "print('ours')", timeout=30).stdout == "ours\n"
    with engine.session("bash") as session:
        assert session.run("echo ours", timeout=30).stdout == "ours\n"
        session_container = session.container_id
        removed = engine.cleanup_all()
        assert session_container in removed
    removed += engine.reap_orphans()
    for kind, container_id in foreign_containers.items():
        assert container_id not in removed, kind
        assert api.inspect_container(container_id)["State"]["Running"], kind
    assert_healthy(engine, "python")


def test_warm_containers_share_nothing_between_runs(runtime: str | None) -> None:
    """With the warm pool on, the next run's container was started before this run ended; a run
    that leaves files and a daemon behind must not be seen by the next one."""
    warm = DockerSandbox(runtime=runtime, warm=True)
    try:
        plant = warm.run("bash", "echo planted > /tmp/planted; echo planted > /workspace/planted\n"
                         "setsid sleep 300 >/dev/null 2>&1 </dev/null &\necho done", timeout=30)
        assert plant.stdout == "done\n", plant
        for _ in range(3):
            look = warm.run("bash", "ls /tmp /workspace\nsleeps=0\nfor f in /proc/[0-9]*/comm; do "
                            "read -r c < $f; [[ $c == sleep ]] && sleeps=$((sleeps + 1)); done\n"
                            "echo sleeps $sleeps", timeout=30)
            assert "planted" not in look.stdout, look
            assert look.stdout.split()[-2:] == ["sleeps", "0"], look
    finally:
        warm.cleanup_all()
