"""Byte plumbing: Docker frame demultiplexing and capped streams (frames: tests/unit)."""

from __future__ import annotations

import struct

from sandbox_kernel.backends.docker.attach import FrameDemuxer
from sandbox_kernel.engine.streams import CappedStream


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def test_demuxer_reassembles_frames_split_anywhere() -> None:
    data = frame(1, b"hello ") + frame(2, b"oops") + frame(1, b"world")
    for size in (1, 3, 7, len(data)):
        demuxer = FrameDemuxer()
        got: dict[int, bytes] = {1: b"", 2: b""}
        for start in range(0, len(data), size):
            for stream, payload in demuxer.feed(data[start:start + size]):
                got[stream] += payload
        assert got == {1: b"hello world", 2: b"oops"}


def test_capped_stream_keeps_the_head_and_counts_the_rest() -> None:
    stream = CappedStream("stdout", 1024)
    live = stream.feed(b"a" * 1000) + stream.feed(b"b" * 100) + stream.feed(b"c" * 10)
    assert live == "a" * 1000 + "b" * 24
    assert stream.truncated and stream.dropped == 86
    assert stream.text().startswith("a" * 1000 + "b" * 24)
    assert "truncated at 1 KiB; 86 more bytes dropped" in stream.text()


def test_capped_stream_never_splits_a_character_live() -> None:
    stream = CappedStream("stdout", 1 << 20)
    encoded = "héllo ✓".encode()
    pieces = [stream.feed(encoded[i:i + 1]) for i in range(len(encoded))]
    assert "".join(pieces) == "héllo ✓"
    assert all("\ufffd" not in piece for piece in pieces)


def test_a_stream_that_does_not_retain_only_counts() -> None:
    """Text between cells goes straight to a callback: capped, decoded, not kept."""
    stream = CappedStream("stdout", 5, retain=False)
    assert stream.feed("hé".encode()[:2]) == "h"  # é cut in two
    assert stream.feed("é!!!".encode()[1:]) == "é!!"
    assert (stream.size, stream.dropped, bytes(stream.kept)) == (5, 1, b"")
