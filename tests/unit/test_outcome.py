"""outcome.judge: one verdict per run, in one order of precedence."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox_kernel.limits import MiB
from sandbox_kernel.outcome import describe_status, judge
from sandbox_kernel.result import ExecutionResult


def verdict(**fields: Any) -> Any:
    base: dict[str, Any] = dict(exit_code=0, timed_out=False, oom_killed=False,
                                interrupted=False, error=None, state_lost=False)
    base.update(fields)
    return judge(memory=256 * MiB, timeout=5, **base)


@pytest.mark.parametrize("fields, kind, cause", [
    ({}, "ok", ""),
    ({"exit_code": 3}, "exit", "exit status 3"),
    ({"exit_code": 143}, "exit", "killed by SIGTERM"),
    ({"exit_code": None, "timed_out": True}, "timeout", "timed out after 5 s"),
    ({"exit_code": 137, "timed_out": True, "oom_killed": True}, "timeout", "timed out after 5 s"),
    ({"exit_code": 137, "oom_killed": True}, "oom", "killed: out of memory, limit 256 MiB"),
    ({"exit_code": 1, "error": {"ename": "ValueError", "evalue": "bad"}}, "exception",
     "ValueError: bad"),
    ({"exit_code": 130, "error": {"ename": "KeyboardInterrupt", "evalue": ""}}, "interrupted",
     "interrupted"),
    ({"exit_code": 0, "state_lost": True}, "lost", "the sandbox process exited"),
])
def test_kinds_in_order_of_precedence(fields: dict[str, Any], kind: str, cause: str) -> None:
    outcome = verdict(**fields)
    assert (outcome.kind, outcome.cause) == (kind, cause)


def test_lost_state_says_why() -> None:
    assert verdict(exit_code=137, oom_killed=True, state_lost=True).lost_reason == (
        "killed: out of memory, limit 256 MiB")
    assert verdict(exit_code=1, state_lost=True).lost_reason == (
        "the process exited with exit status 1")
    assert verdict(exit_code=1).lost_reason is None


def test_audit_names_and_statuses() -> None:
    assert [verdict(**f).audit_name for f in ({}, {"exit_code": 2}, {"timed_out": True})] == [
        "ok", "error", "timeout"]
    assert describe_status(137) == "exit status 137 (killed by signal 9)"
    assert describe_status(137, signalled=False) == "exit status 137"
    # 128 + a number that is no signal (exit 200, 254): a status the program chose
    assert describe_status(200) == "exit status 200"
    assert describe_status(254) == "exit status 254"
    assert describe_status(None) == "no exit status"


def test_results_settle_once_and_describe_the_failure() -> None:
    result = ExecutionResult(exit_code=137, oom_killed=True).settle(64 * MiB, 2)
    assert result.outcome is not None and result.verdict is result.outcome
    assert result.describe_failure() == (
        "killed: out of memory, limit 64 MiB (exit status 137)")
    assert ExecutionResult(exit_code=137).describe_failure() == (
        "killed by SIGKILL (exit status 137)")
    assert ExecutionResult(exit_code=2).describe_failure() == "exit status 2"
