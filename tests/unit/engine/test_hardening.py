"""The CPU limit a session container starts with (engine.hardening.start_cpus)."""

from __future__ import annotations

from sandbox_kernel.engine.hardening import START_CPUS, container_spec, start_cpus
from sandbox_kernel.limits import Limits


def test_a_runc_session_under_one_cpu_starts_with_one() -> None:
    assert start_cpus(Limits(cpus=0.5), None) == START_CPUS == 1.0


def test_no_boost_at_one_cpu_or_more_or_under_gvisor() -> None:
    assert start_cpus(Limits(cpus=1.0), None) is None
    assert start_cpus(Limits(cpus=2.0), None) is None
    # runsc cannot change a running container's limits: it starts at the limit itself.
    assert start_cpus(Limits(cpus=0.5), "runsc") is None


def test_the_spec_takes_the_start_limit_only_when_asked() -> None:
    common = {"name": "n", "image": "i", "command": ["c"], "limits": Limits(cpus=0.5),
              "labels": {}}
    assert container_spec(**common).cpus == 0.5  # type: ignore[arg-type]
    assert container_spec(**common, cpus=1.0).cpus == 1.0  # type: ignore[arg-type]
