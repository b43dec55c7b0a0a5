"""engine.hardening and the Docker backend's mapping of it (no daemon: pure data)."""

from __future__ import annotations

import docker

from sandbox_kernel.backends.docker.spec import create_kwargs, gvisor_host_pids
from sandbox_kernel.engine.hardening import SANDBOX_USER, WORKDIR, container_spec
from sandbox_kernel.limits import Limits, MiB

OFFLINE = docker.APIClient(base_url="unix:///nonexistent/docker.sock", version="1.41")


def spec(runtime: str | None = None, **limits: object) -> dict[str, object]:
    made = container_spec(name="n", image="img", command=["sh"], limits=Limits(**limits),
                          labels={"sandbox-kernel": "run"}, runtime=runtime)
    return create_kwargs(OFFLINE, made)


def test_every_hardening_item_reaches_docker() -> None:
    kwargs = spec()
    host = kwargs["host_config"]
    assert kwargs["user"] == SANDBOX_USER and kwargs["working_dir"] == WORKDIR
    assert kwargs["network_disabled"] is True and host["NetworkMode"] == "none"
    assert host["Memory"] == host["MemorySwap"] == 256 * MiB
    assert host["NanoCpus"] == 500_000_000 and host["PidsLimit"] == 50
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
    assert host["ReadonlyRootfs"] is True and host["Init"] is True
    assert host["AutoRemove"] is True  # gone by itself when it exits (its owner died, say)
    assert host["LogConfig"]["Type"] == "none" and host["IpcMode"] == "private"
    assert set(host["Tmpfs"]) == {"/tmp", WORKDIR}
    assert "noexec" in host["Tmpfs"]["/tmp"] and "uid=65534" in host["Tmpfs"][WORKDIR]
    ulimits = {u["Name"]: u["Hard"] for u in host["Ulimits"]}
    assert ulimits["core"] == 0 and ulimits["nofile"] == 256
    assert kwargs["environment"]["HOME"] == WORKDIR and "HOSTNAME" not in kwargs["environment"]


def test_gvisor_gets_nproc_and_a_host_pids_bound() -> None:
    host = spec("runsc")["host_config"]
    assert host["PidsLimit"] == gvisor_host_pids(50)
    assert {u["Name"]: u["Hard"] for u in host["Ulimits"]}["nproc"] == 50


def test_network_is_only_on_when_asked() -> None:
    assert spec(network=True)["host_config"]["NetworkMode"] == "bridge"
