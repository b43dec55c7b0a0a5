"""``user_expressions``: request checks and the policing of the driver's answer. No daemon."""

from __future__ import annotations

import json

import pytest

from sandbox_kernel.engine.expressions import (
    MAX_EXPRESSIONS,
    check_expressions,
    police,
    run_payload,
    unsupported,
)
from sandbox_kernel.output_policy import MAX_ENAME_BYTES, OutputPolicy

POLICY = OutputPolicy()


def test_requests_are_checked() -> None:
    assert check_expressions(None) == {}
    assert check_expressions({"a": "1"}) == {"a": "1"}
    for bad in ({"a": 1}, {1: "a"}, ["a"], {str(i): "1" for i in range(MAX_EXPRESSIONS + 1)}):
        with pytest.raises(ValueError, match="user_expressions"):
            check_expressions(bad)
    assert json.loads(run_payload("x = 1", {"y": "x"})) == {"code": "x = 1",
                                                            "user_expressions": {"y": "x"}}


def test_answers_are_policed_for_exactly_the_requested_names() -> None:
    answer = {
        "ok": {"status": "ok", "data": {"text/plain": "\x1b]0;t\x07\x1b[31m42\x1b[0m",
                                        "text/html": "<b onclick=x()>b</b><script>1</script>",
                                        "application/javascript": "alert(1)"},
               "metadata": {"isolated": True}},
        "err": {"status": "error", "ename": "\x1b[2JEvil" * 100, "evalue": "v\x1b]52;c;x\x07",
                "traceback": ["\x1b[31mline\x1b[0m\x1b[2J"]},
        "extra": {"status": "ok", "data": {"text/plain": "not asked"}, "metadata": {}},
        "junk": "not a dict",
    }
    found = police(answer, {"ok": "", "err": "", "junk": "", "missing": ""}, POLICY,
                   POLICY.budget())
    assert set(found) == {"ok", "err", "junk", "missing"}
    assert found["ok"]["status"] == "ok" and found["ok"]["metadata"] == {}
    assert found["ok"]["data"]["text/plain"] == "\x1b[31m42\x1b[0m"
    assert found["ok"]["data"]["text/html"] == "<b>b</b>"
    assert "application/javascript" not in found["ok"]["data"]
    err = found["err"]
    assert err["status"] == "error" and err["evalue"] == "v"
    assert len(err["ename"].encode()) <= MAX_ENAME_BYTES and "\x1b" not in err["ename"]
    assert err["traceback"] == ["\x1b[31mline\x1b[0m"]
    for name in ("junk", "missing"):
        assert found[name]["status"] == "error" and "no result" in found[name]["evalue"]
    assert police(None, {"a": "1"}, POLICY, POLICY.budget())["a"]["status"] == "error"


def test_unsupported_is_an_error_per_expression() -> None:
    found = unsupported({"a": "1", "b": "2"}, "not supported here")
    assert set(found) == {"a", "b"}
    assert all(e["status"] == "error" and e["evalue"] == "not supported here"
               for e in found.values())
