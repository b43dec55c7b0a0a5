"""sandbox_kernel.config: the one reader of the environment (no daemon needed)."""

from __future__ import annotations

import pytest

from sandbox_kernel.config import Config, limit_variable, load_config
from sandbox_kernel.languages import LANGUAGES
from sandbox_kernel.limits import Limits, MiB


def test_empty_environment_gives_the_project_defaults() -> None:
    assert load_config({}) == Config(limits=Limits())


def test_every_limit_variable_is_read() -> None:
    config = load_config({
        "SANDBOX_KERNEL_MEMORY": "512m", "SANDBOX_KERNEL_CPUS": "0.25",
        "SANDBOX_KERNEL_PIDS": "64", "SANDBOX_KERNEL_TIMEOUT": "10",
        "SANDBOX_KERNEL_MAX_OUTPUT": "2m", "SANDBOX_KERNEL_RUNTIME": "runsc",
        "SANDBOX_KERNEL_PYTHON_IMAGE": "mine:1", "SANDBOX_KERNEL_MODE": "fresh",
        "SANDBOX_KERNEL_MCP_AUDIT_LOG": "/tmp/audit.jsonl",
    })
    assert config.limits == Limits(memory=512 * MiB, cpus=0.25, pids=64, timeout=10,
                                   max_output=2 * MiB)
    assert config.runtime == "runsc" and config.mode == "fresh"
    assert config.image_for(LANGUAGES["python"]) == "mine:1"
    assert config.image_for(LANGUAGES["bash"]) == LANGUAGES["bash"].default_image
    assert config.audit_log == "/tmp/audit.jsonl"


def test_the_operators_ceiling_allows_long_timeouts() -> None:
    # Issue 16 section 5: SANDBOX_KERNEL_TIMEOUT=300 used to fail everywhere.
    config = load_config({"SANDBOX_KERNEL_TIMEOUT": "300", "SANDBOX_KERNEL_MAX_TIMEOUT": "600"})
    assert config.limits.timeout == 300 and config.limits.max_timeout == 600
    assert config.limits.check_timeout(600) == 600
    with pytest.raises(ValueError, match="at most 600"):
        config.limits.check_timeout(601)


def test_a_timeout_above_the_ceiling_names_the_variables() -> None:
    with pytest.raises(ValueError, match="SANDBOX_KERNEL_TIMEOUT") as raised:
        load_config({"SANDBOX_KERNEL_TIMEOUT": "1000"})
    # The ceiling that refused it, and the variable that raises it.
    assert "SANDBOX_KERNEL_MAX_TIMEOUT (120 s)" in str(raised.value)
    with pytest.raises(ValueError, match=r"SANDBOX_KERNEL_MAX_TIMEOUT \(600 s\)"):
        load_config({"SANDBOX_KERNEL_TIMEOUT": "1000", "SANDBOX_KERNEL_MAX_TIMEOUT": "600"})


def test_a_lower_ceiling_lowers_the_default_timeout() -> None:
    assert load_config({"SANDBOX_KERNEL_MAX_TIMEOUT": "10"}).limits.timeout == 10


@pytest.mark.parametrize("variable, value", [
    ("SANDBOX_KERNEL_MEMORY", "lots"), ("SANDBOX_KERNEL_CPUS", "half"),
    ("SANDBOX_KERNEL_PIDS", "1.5"), ("SANDBOX_KERNEL_MODE", "forever"),
    ("SANDBOX_KERNEL_MEMORY", "1k"),
])
def test_bad_values_are_value_errors_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        load_config({variable: value})


def test_network_cannot_be_turned_on_from_the_environment() -> None:
    assert load_config({limit_variable("network"): "1"}).limits.network is False
