"""cli.limit_options: options generated from Limits, defaults and help from the environment."""

from __future__ import annotations

import argparse

import pytest

from sandbox_kernel.cli.limit_options import CLI_LIMITS, add_limit_options, limits_from_args
from sandbox_kernel.limits import GiB, MiB


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog="x")
    add_limit_options(made)
    return made


def test_help_shows_the_live_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_KERNEL_MEMORY", "1g")
    text = parser().format_help()
    assert "default 1 GiB; environment: SANDBOX_KERNEL_MEMORY" in " ".join(text.split())
    for name in CLI_LIMITS:
        assert "--" + name.replace("_", "-") in text


def test_options_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_KERNEL_MEMORY", "1g")
    monkeypatch.setenv("SANDBOX_KERNEL_CPUS", "0.25")
    limits = limits_from_args(parser().parse_args(["--memory", "128m"]))
    assert (limits.memory, limits.cpus) == (128 * MiB, 0.25)
    assert limits_from_args(parser().parse_args([])).memory == 1 * GiB


def test_a_lower_ceiling_lowers_the_default_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANDBOX_KERNEL_TIMEOUT", raising=False)
    limits = limits_from_args(parser().parse_args(["--max-timeout", "5"]))
    assert (limits.timeout, limits.max_timeout) == (5, 5)


def test_impossible_values_are_value_errors() -> None:
    with pytest.raises(ValueError, match="timeout"):
        limits_from_args(parser().parse_args(["--timeout", "500"]))
