"""Hostile arguments are refused with ValueError before Docker is contacted.

"Before Docker is contacted" is proved by pointing the engine at a socket that does not exist: a
valid call there raises SandboxUnavailable (the positive control below), so every ValueError seen
with the same engine was raised before any connection attempt.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from sandbox_kernel import DockerSandbox, Limits, SandboxUnavailable
from sandbox_kernel.limits import MAX_TIMEOUT, MiB

NOWHERE = "unix:///nonexistent/sandbox-kernel-test.sock"


@pytest.fixture
def unreachable(runtime: str | None) -> DockerSandbox:
    return DockerSandbox(runtime=runtime, base_url=NOWHERE, warm=False)


def test_positive_control_valid_input_reaches_for_the_missing_daemon(
    unreachable: DockerSandbox,
) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxUnavailable, match="cannot reach the Docker daemon"):
        unreachable.run("python", "print(1)", timeout=5)
    with pytest.raises(SandboxUnavailable), unreachable.session("bash") as session:
        session.run("echo 1")
    assert time.monotonic() - started < 10


BAD_TIMEOUTS: list[Any] = [
    0, 0.0, -0.0, -1, -1e-9, math.nan, math.inf, -math.inf, MAX_TIMEOUT + 0.001, 1e9,
    pytest.param(10**400, id="10**400"), True, False, "5", b"5", [5], 1j, object(),
]


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS, ids=repr)
def test_bad_timeout_is_value_error_without_docker(
    unreachable: DockerSandbox, timeout: Any
) -> None:
    with pytest.raises(ValueError):
        unreachable.run("python", "print(1)", timeout=timeout)
    session = unreachable.session("python")
    with pytest.raises(ValueError):
        session.run("print(1)", timeout=timeout)
    session.close()


BAD_LANGUAGES: list[Any] = [
    "cobol", "", "   ", "python\x00", "python;rm -rf /", "../python", None, 3, b"python",
    ["python"],
]


@pytest.mark.parametrize("language", BAD_LANGUAGES, ids=repr)
def test_bad_language_is_value_error_without_docker(
    unreachable: DockerSandbox, language: Any
) -> None:
    with pytest.raises(ValueError):
        unreachable.run(language, "print(1)", timeout=5)
    with pytest.raises(ValueError):
        unreachable.session(language)


BAD_CODE: list[Any] = [
    "print(1)\x00", b"\x00", "x" * (10 * MiB + 1), "\ud800", None, 42, bytearray(b"print(1)"),
    memoryview(b"print(1)"),
]


@pytest.mark.parametrize("code", BAD_CODE, ids=lambda c: repr(c)[:40])
def test_bad_code_is_value_error_without_docker(unreachable: DockerSandbox, code: Any) -> None:
    with pytest.raises(ValueError):
        unreachable.run("python", code, timeout=5)
    session = unreachable.session("python")
    with pytest.raises(ValueError):
        session.run(code, timeout=5)
    session.close()


BAD_LIMITS: list[Any] = [
    {"memory": -1}, {"memory": 0}, {"memory": "lots"}, {"memory": "-5m"}, {"memory": math.nan},
    {"memory": True}, pytest.param({"memory": 10**400}, id="memory=10**400"),
    pytest.param({"memory": "9" * 400}, id="memory='9'*400"), {"memory": 2**70},
    {"cpus": 0}, {"cpus": -1}, {"cpus": math.nan}, {"cpus": math.inf}, {"cpus": 1000},
    {"cpus": "0.5"}, {"pids": 0}, {"pids": 7}, {"pids": 2.5}, {"pids": "50"}, {"pids": 10**9},
    {"timeout": 0}, {"timeout": MAX_TIMEOUT + 1}, {"max_timeout": math.nan},
    {"max_output": 0}, {"max_code": -1}, {"tmp_size": "1t"}, {"workdir_size": 1},
    {"nofile": 1}, {"nofile": 2**40}, {"max_file_size": "1e3"}, {"network": "yes"},
    {"network": 1},
]


@pytest.mark.parametrize("fields", BAD_LIMITS, ids=repr)
def test_bad_limits_are_value_error_without_docker(
    unreachable: DockerSandbox, fields: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        Limits(**fields)
    with pytest.raises(ValueError):
        Limits().with_overrides(**fields)


@pytest.mark.parametrize("limits", ["256m", {"memory": 1}, 42, Limits], ids=repr)
def test_limits_of_the_wrong_type_are_value_error_without_docker(
    unreachable: DockerSandbox, runtime: str | None, limits: Any
) -> None:
    with pytest.raises(ValueError):
        unreachable.run("python", "print(1)", timeout=5, limits=limits)
    with pytest.raises(ValueError):
        unreachable.session("python", limits=limits)
    with pytest.raises(ValueError):
        DockerSandbox(limits, runtime=runtime, base_url=NOWHERE)
