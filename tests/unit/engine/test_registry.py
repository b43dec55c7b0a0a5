"""engine.registry: one name rule and one cap for named sessions (magic and MCP)."""

from __future__ import annotations

import pytest

from sandbox_kernel.engine.registry import SessionRegistry, check_session_name


@pytest.mark.parametrize("name", ["a", "work", "A-1.b_c", "9" * 64])
def test_good_names(name: str) -> None:
    assert check_session_name(name) == name


@pytest.mark.parametrize("name", ["", "../etc", "-x", ".x", "a b", "a/b", "x" * 65, "é", None, 3])
def test_bad_names_say_the_rule(name: object) -> None:
    with pytest.raises(ValueError, match="1 to 64 letters"):
        check_session_name(name)


def test_the_cap_is_enforced_and_names_the_sessions() -> None:
    registry: SessionRegistry[str, int] = SessionRegistry(2)
    registry.add("a", 1)
    registry.add("b", 2)
    with pytest.raises(ValueError, match=r"at most 2 sessions .*'a', 'b'"):
        registry.add("c", 3)
    assert registry.pop("a") == 1 and registry.pop("a") is None
    registry.add("c", 3)
    assert registry.keys() == ["b", "c"] and len(registry) == 2 and "c" in registry


def test_zero_turns_sessions_off_and_bad_caps_are_refused() -> None:
    with pytest.raises(ValueError, match="turned off"):
        SessionRegistry[str, int](0).add("a", 1)
    for cap in (-1, 257, True, 1.5):
        with pytest.raises(ValueError):
            SessionRegistry[str, int](cap)  # type: ignore[arg-type]


def test_clear_hands_back_every_session() -> None:
    registry: SessionRegistry[tuple[str, str], str] = SessionRegistry(
        4, lambda key: f"{key[1]!r} ({key[0]})")
    registry.add(("python", "w"), "p")
    registry.add(("bash", "w"), "b")
    assert sorted(registry.clear()) == ["b", "p"] and not registry
