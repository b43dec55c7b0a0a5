"""Stream batching of the kernels' live output (no daemon needed)."""

from __future__ import annotations

import threading
import time

from sandbox_kernel.jupyter.streaming import StreamBatcher


def test_alternating_one_byte_writes_become_few_messages() -> None:
    """3 s of one-byte writes alternating stdout and stderr: at most one message per stream per
    interval (ipykernel sends a couple per 200 ms), each stream's text whole and in order."""
    sent: list[tuple[str, str]] = []
    lock = threading.Lock()

    def send(name: str, text: str) -> None:
        with lock:
            sent.append((name, text))

    interval = 0.1
    batcher = StreamBatcher(send, interval)
    written = {"stdout": [], "stderr": []}  # type: dict[str, list[str]]
    deadline = time.monotonic() + 3.0
    n = 0
    while time.monotonic() < deadline:
        for name in ("stdout", "stderr"):
            char = chr(ord("a") + n % 26)
            batcher.write(name, char)
            written[name].append(char)
        n += 1
    batcher.close()
    assert n > 1000
    intervals = 3.0 / interval
    assert len(sent) <= 2 * (intervals + 2), f"{len(sent)} messages for {n} write pairs"
    for name in ("stdout", "stderr"):
        assert "".join(t for s, t in sent if s == name) == "".join(written[name])


def test_first_chunk_goes_out_at_once_and_order_follows_arrival() -> None:
    sent: list[tuple[str, str]] = []
    batcher = StreamBatcher(lambda name, text: sent.append((name, text)), 0.5)
    batcher.write("stderr", "first")
    time.sleep(0.2)
    assert sent == [("stderr", "first")]
    batcher.write("stdout", "a")
    batcher.write("stderr", "b")
    batcher.write("stdout", "c")
    batcher.close()
    assert sent == [("stderr", "first"), ("stdout", "ac"), ("stderr", "b")]


def test_retarget_sends_what_was_written_before_with_the_old_target() -> None:
    """A kernel points its one batcher at each new cell: text written before goes out with the
    previous cell's parent, text written after with the new one's, in order."""
    sent: list[tuple[str, str, str]] = []
    batcher = StreamBatcher(lambda name, text: sent.append(("first", name, text)), 10.0)
    batcher.write("stdout", "a")  # sent at once: the first chunk
    time.sleep(0.2)
    batcher.write("stdout", "late")  # held for the interval...
    batcher.retarget(lambda name, text: sent.append(("second", name, text)))
    assert sent == [("first", "stdout", "a"), ("first", "stdout", "late")]  # ...but sent now
    batcher.write("stderr", "own")
    batcher.close()
    assert sent[2:] == [("second", "stderr", "own")]
