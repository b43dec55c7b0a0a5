"""Fuzzing: no input makes the engine raise anything but ValueError or SandboxError, and no byte
sequence, however it is chunked, breaks the decoding of a sandbox's output.

Validation is fuzzed against an engine pointed at a socket that does not exist, so no example
starts a container: invalid input must be a ValueError, valid input reaches for the daemon and is
a SandboxUnavailable. A handful of real runs then push fuzzed bytes through a live sandbox.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox_kernel import DockerSandbox, Limits, SandboxError, SandboxUnavailable
from sandbox_kernel.backends.docker.attach import FrameDemuxer
from sandbox_kernel.engine.framing import FrameScanner, Text
from sandbox_kernel.engine.streams import CappedStream
from sandbox_kernel.languages import ALIASES, LANGUAGES
from sandbox_kernel.limits import _SIZE_RE

NOWHERE = "unix:///nonexistent/sandbox-kernel-fuzz.sock"
LIMIT_FIELDS = ["memory", "cpus", "pids", "timeout", "max_timeout", "max_output", "max_code",
                "tmp_size", "workdir_size", "nofile", "max_file_size", "network"]

# Numbers at the edges: huge and tiny, negative, non-finite, bool, and numbers as text.
hostile_numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.from_regex(_SIZE_RE, fullmatch=True),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.just(complex(1, 1)),
)
languages = st.one_of(
    st.sampled_from(sorted(LANGUAGES) + sorted(ALIASES)),
    st.sampled_from(["Python", " bash ", "NODE", "cobol", "", "python\x00"]),
    st.text(max_size=12), st.none(), st.integers(), st.binary(max_size=8),
)
timeouts = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400), st.booleans(), st.none(),
    st.text(max_size=8),
)
codes = st.one_of(st.text(max_size=200), st.binary(max_size=200), st.none(), st.integers(),
                  st.just("x" * (10 * 1024 * 1024 + 1)))
limit_overrides = st.dictionaries(st.sampled_from(LIMIT_FIELDS), hostile_numbers, max_size=4)

ALLOWED = (ValueError, SandboxError)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(language=languages, timeout=timeouts, code=codes, overrides=limit_overrides)
def test_engine_input_is_value_error_or_sandbox_unavailable_only(
    language: Any, timeout: Any, code: Any, overrides: dict[str, Any]
) -> None:
    try:
        limits: Limits | None = Limits(**overrides)
    except ValueError:
        limits = None
    engine = DockerSandbox(base_url=NOWHERE, warm=False)
    for path in ("run", "session"):
        try:
            if path == "run":
                engine.run(language, code, timeout=timeout, limits=limits)
            else:
                engine.session(language, limits=limits).run(code, timeout=timeout)
        except SandboxUnavailable:
            # Only valid input may get as far as the daemon.
            effective = limits or Limits()
            assert isinstance(code, (str, bytes))
            effective.check_timeout(timeout)
            effective.check_code(code)
        except ALLOWED:
            pass
        else:
            pytest.fail("a run against a missing daemon returned")


@settings(max_examples=300, deadline=None)
@given(overrides=limit_overrides)
def test_limits_raise_value_error_only(overrides: dict[str, Any]) -> None:
    try:
        limits = Limits(**overrides)
    except ValueError:
        return
    for name in LIMIT_FIELDS:
        value = getattr(limits, name)
        assert not isinstance(value, str)
        assert name == "network" or math.isfinite(value)


# -- streams -------------------------------------------------------------------------------------

def chunked(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """``data`` cut at the given offsets (any order, duplicates and out-of-range ignored)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    start = 0
    for point in points:
        yield data[start:point]
        start = point
    yield data[start:]


def frame(stream_id: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream_id, len(payload)) + payload


frames = st.lists(st.tuples(st.sampled_from([0, 1, 2, 3]), st.binary(max_size=300)),
                  max_size=12)
cut_points = st.lists(st.integers(min_value=0, max_value=5000), max_size=40)


@settings(max_examples=300, deadline=None)
@given(frames=frames, cuts=cut_points)
def test_demuxer_reassembles_any_chunking(
    frames: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    wire = b"".join(frame(stream_id, payload) for stream_id, payload in frames)
    demuxer = FrameDemuxer()
    got: dict[int, bytes] = {}
    for chunk in chunked(wire, cuts):
        for stream_id, payload in demuxer.feed(chunk):
            got[stream_id] = got.get(stream_id, b"") + payload
    expected: dict[int, bytes] = {}
    for stream_id, payload in frames:
        if payload:
            expected[stream_id] = expected.get(stream_id, b"") + payload
    assert {k: v for k, v in got.items() if v} == expected


@settings(max_examples=200, deadline=None)
@given(frames=frames)
def test_demuxer_fed_byte_by_byte_equals_one_chunk(frames: list[tuple[int, bytes]]) -> None:
    wire = b"".join(frame(stream_id, payload) for stream_id, payload in frames)
    whole = b"".join(p for _, p in FrameDemuxer().feed(wire))
    demuxer = FrameDemuxer()
    by_byte = b"".join(p for i in range(len(wire)) for _, p in demuxer.feed(wire[i:i + 1]))
    assert by_byte == whole == b"".join(p for _, p in frames)


utf8ish = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(st.sampled_from([b"\xe2\x82\xac", b"\xf0\x9f\x92\xa3", b"\xc3", b"\xff", b"\x00",
                              b"\xed\xa0\x80", b"\x1b[31m", b"a", b"\n", b"\xe2\x82"]),
             max_size=80).map(b"".join),
)


@settings(max_examples=400, deadline=None)
@given(data=utf8ish, cap=st.integers(min_value=1, max_value=500), cuts=cut_points)
def test_capped_stream_live_text_equals_final_text_for_any_chunking(
    data: bytes, cap: int, cuts: list[int]
) -> None:
    stream = CappedStream("stdout", cap)
    live = "".join(stream.feed(chunk) for chunk in chunked(data, cuts)) + stream.flush()
    kept = data[:cap]
    assert bytes(stream.kept) == kept
    assert stream.dropped == len(data) - len(kept)
    assert live == kept.decode("utf-8", errors="replace")
    assert stream.text() == live + (stream.marker() if len(data) > cap else "")
    assert stream.truncated == (len(data) > cap)


@settings(max_examples=200, deadline=None)
@given(data=utf8ish)
def test_capped_stream_byte_by_byte_equals_one_chunk(data: bytes) -> None:
    whole = CappedStream("stdout", 1 << 20)
    one = whole.feed(data) + whole.flush()
    split = CappedStream("stdout", 1 << 20)
    by_byte = "".join(split.feed(data[i:i + 1]) for i in range(len(data))) + split.flush()
    assert by_byte == one == data.decode("utf-8", errors="replace")


NONCE = "0123456789abcdef" * 2
HEADER = b"\x1e\x1f" + NONCE.encode() + b"\x1f"
# Text may contain any byte, header look-alikes included, but never a whole frame header.
texts = st.one_of(
    st.binary(max_size=120),
    st.lists(st.sampled_from([b"\x1e", b"\x1f", b"\x1e\x1f", HEADER[:-1], HEADER[:10], b"0",
                              b"\n", b"x", b"\x1e\x1f0123", HEADER + b"12", HEADER + b"x\x1f"]),
             max_size=20).map(b"".join),
)
messages = st.binary(max_size=80)
ANY_HEADER = re.compile(rb"\x1e\x1f[0-9a-f]{32}\x1f[0-9]{1,7}\x1f")


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.tuples(texts, messages), max_size=8), tail=texts, cuts=cut_points)
def test_frame_scanner_separates_messages_from_any_text_under_any_chunking(
    parts: list[tuple[bytes, bytes]], tail: bytes, cuts: list[int]
) -> None:
    def frame(body: bytes) -> bytes:
        return HEADER + str(len(body)).encode() + b"\x1f" + body + b"\n"

    wire = b"".join(text + frame(message) for text, message in parts) + tail
    if any(ANY_HEADER.search(text) for text in [t for t, _ in parts] + [tail]):
        return  # the text formed a header itself: not user text
    scanner = FrameScanner(1 << 20, NONCE)
    text_out, bodies = b"", []
    for chunk in chunked(wire, cuts):
        for item in scanner.feed(chunk):
            if isinstance(item, Text):
                text_out += item.data
            else:
                bodies.append(item.body)
    text_out += scanner.drain()
    assert bodies == [message for _, message in parts]
    assert text_out == b"".join(text for text, _ in parts) + tail


# -- a few real runs -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def warm_engine() -> Iterator[DockerSandbox]:
    engine = DockerSandbox()
    yield engine
    engine.cleanup_all()


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=utf8ish)
def test_fuzzed_bytes_through_a_real_sandbox_decode_like_python(
    warm_engine: DockerSandbox, data: bytes
) -> None:
    code = (f"import sys\nsys.stdout.buffer.write(bytes.fromhex('{data.hex()}'))\n"
            f"sys.stderr.buffer.write(bytes.fromhex('{data.hex()}'))\n")
    result = warm_engine.run("python", code, timeout=30)
    expected = data.decode("utf-8", errors="replace")
    assert (result.stdout, result.stderr, result.exit_code) == (expected, expected, 0)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(code=st.binary(min_size=1, max_size=300).map(lambda b: b.replace(b"\x00", b"")),
       language=st.sampled_from(sorted(LANGUAGES)))
def test_fuzzed_programs_end_as_results_not_engine_errors(
    warm_engine: DockerSandbox, code: bytes, language: str
) -> None:
    result = warm_engine.run(language, code, timeout=10)
    assert result.timed_out or result.exit_code is not None
    assert isinstance(result.stdout, str) and isinstance(result.stderr, str)
