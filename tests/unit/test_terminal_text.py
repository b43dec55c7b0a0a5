"""The one text rule (``output_policy.terminal_text`` and ``error_text``). No daemon.

Everything a front-end builds from sandbox text (stream text, ``error`` fields, input prompts,
``text/plain``, the magic's output, MCP text results) goes through these two functions; the
kernel-level tests (``tests/test_kernel_behaviour.py``) show that they are applied there.
"""

from __future__ import annotations

import re
import time

from hypothesis import given
from hypothesis import strategies as st

from sandbox_kernel.output_policy import (
    MAX_ENAME_BYTES,
    MAX_EVALUE_BYTES,
    MAX_FRAME_BYTES,
    MAX_FRAMES,
    MAX_PROMPT_BYTES,
    PROMPT_MARKER,
    error_text,
    terminal_text,
)

SGR = re.compile(r"\x1b\[[0-9;]*m")


def only_safe(text: str) -> bool:
    """No escape but SGR, no control character but \\b \\t \\n \\r."""
    rest = SGR.sub("", text)
    return not any((ord(c) < 32 and c not in "\b\t\n\r") or 0x7F <= ord(c) <= 0x9F
                   for c in rest)


def test_colours_and_layout_characters_stay() -> None:
    text = "\x1b[1;31mred\x1b[0m\tcol\r\nline\bX\x1b[m"
    assert terminal_text(text) == text


def test_every_other_escape_sequence_goes_whole() -> None:
    cases = {
        "\x1b]0;TITLE\x07 \x1b[2J": " ",                   # title change (OSC, BEL), clear
        "a\x1b]52;c;aGk=\x1b\\b": "ab",                    # OSC 52 clipboard, ST terminator
        "a\x1b[?1049hb\x1b[10;20Hc": "abc",                # alternate screen, cursor move
        "a\x1bPq#0;2;0;0;0\x1b\\b": "ab",                  # DCS (sixel)
        "a\x1b_apc\x07\x1b^pm\x1b\\\x1bXsos\x1b\\b": "ab",  # APC, PM, SOS
        "a\x1bcb\x1b7c\x1b(0d": "abcd",                    # reset, save cursor, charset (nF)
        "a\x1b]8;;https://x\x07link\x1b]8;;\x07b": "alinkb",  # OSC 8 hyperlink
        "a\x9b2Jb\x9d0;t\x9cc\x90d": "a2Jb0;tcd",          # C1 introducers dropped
        "a\x00\x07\x0b\x0c\x7fb": "ab",                    # C0 controls and DEL
        "unterminated \x1b]0;title": "unterminated ",
        "lone \x1b": "lone ",
        "\x1b[" + "9" * 100 + "m": "",                     # not a short SGR: a CSI, dropped
    }
    for raw, expected in cases.items():
        assert terminal_text(raw) == expected, repr(raw)


def test_bidirectional_overrides_go() -> None:
    """U+202E and friends reorder the text after them on screen ("Trojan Source")."""
    text = "a\u202ecod.exe\u2066b\u2069\u202a\u202b\u202c\u202d\u2067\u2068 \u200e"
    assert terminal_text(text) == "acod.exeb \u200e"  # a plain direction mark is harmless


def test_lone_surrogates_are_replaced() -> None:
    assert terminal_text("a\ud800b") == "a\ufffd\ufffd\ufffdb"  # as valid_text does


def test_bounds_with_the_default_marker_and_a_given_one() -> None:
    text = terminal_text("x" * 10_000, 1000)
    assert len(text.encode()) <= 1000
    assert re.search(r"\[sandbox-kernel: output truncated, \d+ bytes not shown\]$", text)
    prompt = terminal_text("\x1b]52;c;aGk=\x07" + "p" * 3_000_000, MAX_PROMPT_BYTES, PROMPT_MARKER)
    assert len(prompt.encode()) <= MAX_PROMPT_BYTES and prompt.endswith(PROMPT_MARKER)
    assert prompt.startswith("ppp") and "\x1b" not in prompt
    assert terminal_text("é" * 100, 51, "...") == "é" * 24 + "..."
    assert terminal_text("short", 100, "...") == "short"


def test_error_text_bounds_every_part() -> None:
    ename, evalue, traceback = error_text(
        "\x1b[2JEvil" * 1000, "\x1b]0;t\x07v" * 100_000,
        ["\x1b[31mframe\x1b[0m\x1b[2J" * 20_000] * (MAX_FRAMES + 50))
    assert ename.startswith("EvilEvil") and ename.endswith("...")
    assert len(ename.encode()) <= MAX_ENAME_BYTES
    assert "\x1b" not in ename
    assert len(evalue.encode()) <= MAX_EVALUE_BYTES and evalue.startswith("vvv")
    assert len(traceback) == MAX_FRAMES
    assert traceback[0] == "[sandbox-kernel: 51 traceback lines not shown]"
    assert all(len(line.encode()) <= MAX_FRAME_BYTES for line in traceback)
    assert traceback[1].startswith("\x1b[31mframe\x1b[0m\x1b[31mframe")
    assert error_text(None, 3, "a\nb") == ("None", "3", ["a", "b"])


@given(st.text(alphabet=st.sampled_from(
    ["\x1b", "[", "]", "P", "m", "0", "1", ";", "2", "J", "\x07", "\\", "\x9b", "\x9c", "a", "\n",
     "\b", "\x00", "é"])))
def test_nothing_unsafe_survives_any_input(text: str) -> None:
    cleaned = terminal_text(text)
    assert only_safe(cleaned)
    assert terminal_text(cleaned) == cleaned  # idempotent: the output is already clean


@given(st.lists(st.text(alphabet=st.sampled_from(["\x1b", "[", "]", "3", "1", "m", "J", "\x07",
                                                   "x"])), max_size=6))
def test_concatenated_cleaned_chunks_are_safe(chunks: list[str]) -> None:
    # A stream is cleaned batch by batch; what a terminal sees is their concatenation.
    assert only_safe("".join(terminal_text(chunk) for chunk in chunks))


def test_linear_time_on_adversarial_input() -> None:
    for unit in ("\x1b[", "\x1b]", "\x1b[0;", "\x1bP", "\x1b" * 2, "\x1b[1;2;3"):
        started = time.perf_counter()
        terminal_text(unit * (4 * 1024 * 1024 // len(unit)))
        assert time.perf_counter() - started < 5.0, unit
