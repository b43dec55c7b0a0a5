"""Attacks on the driver protocol (drivers/PROTOCOL.md): forged and flooding frames, desync.

A cell may forge anything about itself; what it must never achieve: exhaust the host process
with frames, make a cell that did not run look like a success, or reach another session.
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

import kernel_support
import psutil
from attack_helpers import NONCE_FINDER
from test_output import RSS_BUDGET, peak_rss_growth

from sandbox_kernel import DockerSandbox, Limits
from sandbox_kernel.limits import MiB

# Finds every 32-hex string in the driver's frames: the nonces a Python cell can learn.
NONCES = NONCE_FINDER + """
def write(fd, data):  # whole writes: gVisor's pipes take part of a large write
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
"""

FORGED_BETWEEN_CELLS = NONCES + """
known = sorted(nonces())
display = b'{"type":"display","data":{"text/plain":"' + b'x' * 4000 + b'"}}'
def flood():
    time.sleep(0.5)  # the cell is over: nobody is reading a request
    guesses = [os.urandom(16).hex() for _ in range(64)]
    block = b''.join(frame(n, display) for n in known + guesses)
    sent, deadline = 0, time.time() + 4
    while sent < 300 * 1024 * 1024 and time.time() < deadline:
        write(1, block)
        write(2, frame(guesses[0], b'{"type":"flush"}'))
        write(1, frame(guesses[1], b'{"type":"done","status":0}'))
        sent += len(block)
    os.write(1, b'flood over\\n')
threading.Thread(target=flood, daemon=True).start()
"""


def test_forged_frames_between_cells_are_dropped_not_queued(engine: DockerSandbox) -> None:
    """A thread floods well-formed frames (stale and guessed nonces) between cells for 4 s (up to
    300 MB). Its frames are not atomic writes: had it kept writing during the next cell, it could
    swallow that cell's replies, which code in a session may do to its own session (README)."""
    process = psutil.Process()
    with engine.session("python") as session, peak_rss_growth() as growth:
        cpu_before = sum(process.cpu_times()[:2])
        assert session.run(FORGED_BETWEEN_CELLS, timeout=30).exit_code == 0
        time.sleep(6)  # the flood goes on with nobody reading a cell
        started = time.monotonic()
        after = session.run("print('next')", timeout=60)
        waited = time.monotonic() - started
        assert (after.exit_code, after.stdout.splitlines()[-1:]) == (0, ["next"]), after
        assert waited < 10, f"the next cell waited {waited:.1f} s behind the flood"
        assert growth() < RSS_BUDGET, f"our RSS grew by {growth() / MiB:.0f} MiB"
        assert session.dropped_messages > 1000
        cpu = sum(process.cpu_times()[:2]) - cpu_before
        print(f"forged frames between cells: RSS +{growth() / MiB:.1f} MiB, "
              f"CPU {cpu:.1f} s, {session.dropped_messages} frames dropped, "
              f"next cell {waited:.2f} s")


PREFIX_THEN_NOTHING = NONCES + """
known = sorted(nonces())
chunk = b'x' * (1024 * 1024)
for nonce in known:
    os.write(1, b'\\x1e\\x1f' + nonce.encode() + b'\\x1f4194304\\x1f')
    break
for _ in range(50):
    os.write(1, chunk)
"""


def test_marker_prefix_then_50_mib_costs_bounded_cpu_and_memory(engine: DockerSandbox) -> None:
    """A header announcing the largest body allowed, then 50 MiB without a terminator, in a
    session cell; and the same prefix followed by 50 MiB in a one-shot run."""
    process = psutil.Process()
    with peak_rss_growth() as growth:
        cpu_before = sum(process.cpu_times()[:2])
        with engine.session("python") as session:
            result = session.run(PREFIX_THEN_NOTHING, timeout=20)
            # The cell's own header swallowed its done: it ends by its deadline or its driver's
            # reply, never as a success built from the flood.
            assert session.run("print('next')", timeout=60).stdout.endswith("next\n")
        one_shot = engine.run(
            "python",
            # Buffered writes: a raw os.write of 1 MiB may be partial (gVisor's pipes).
            "import os, sys\nos.write(1, b'\\x1e\\x1f' + b'a' * 32 + b'\\x1f9\\x1f')\n"
            "for _ in range(50):\n    sys.stdout.buffer.write(b'x' * (1024 * 1024))\n", timeout=60)
        cpu = sum(process.cpu_times()[:2]) - cpu_before
    assert one_shot.exit_code == 0 and one_shot.truncated
    assert growth() < RSS_BUDGET, f"our RSS grew by {growth() / MiB:.0f} MiB"
    assert cpu < 20, f"{cpu:.1f} s of host CPU for 100 MiB"
    print(f"prefix + 50 MiB (session) and prefix + 50 MiB (one-shot): RSS +{growth() / MiB:.1f}"
          f" MiB, CPU {cpu:.1f} s; session cell exit {result.exit_code}")


def test_bash_cell_after_a_huge_environment_runs(engine: DockerSandbox) -> None:
    """An environment no external program can start with (E2BIG) must not break the protocol."""
    with engine.session("bash") as bash:
        big = bash.run("export BIG=$(head -c 140000 /dev/zero | tr '\\0' x)", timeout=30)
        assert big.exit_code == 0
        nxt = bash.run("echo next ${#BIG}", timeout=30)
        assert (nxt.stdout, nxt.exit_code) == ("next 140000\n", 0)
        failing = bash.run("echo still; false", timeout=30)
        assert (failing.stdout, failing.exit_code) == ("still\n", 1)
        assert not failing.state_lost


def test_a_wrong_receipt_fails_the_cell_and_replaces_the_sandbox(engine: DockerSandbox) -> None:
    """The cell patches the driver's digest: the next cell's ack no longer matches what was sent.
    That cell must fail with a clear error, never succeed; the sandbox is replaced."""
    with engine.session("python") as session:
        first = session.container_id
        patch = ("import hashlib\n_real = hashlib.sha256\n"
                 "hashlib.sha256 = lambda data=b'': _real(bytes(data) + b'!')\n")
        assert session.run(patch, timeout=30).exit_code == 0
        victim = session.run("print('ran')", timeout=30)
        assert victim.exit_code != 0 and not victim.ok
        assert victim.error is not None and victim.error["ename"] == "ProtocolError"
        size = len(b"print('ran')")
        assert f"{size} bytes" in victim.error["evalue"]
        assert victim.state_lost
        fresh = session.run("print('fresh')", timeout=30)
        assert (fresh.stdout, fresh.exit_code) == ("fresh\n", 0)
        assert session.container_id != first and fresh.notice


FORGE_LATER_DONE = NONCES + """
def forge():
    deadline = time.time() + 8
    while time.time() < deadline:
        for _ in range(200):
            guess = os.urandom(16).hex()
            os.write(2, frame(guess, b'{"type":"flush"}'))
            os.write(1, frame(guess, b'{"type":"ack","size":0}'))
            os.write(1, frame(guess, b'{"type":"done","status":0}'))
        time.sleep(0.01)
threading.Thread(target=forge, daemon=True).start()
"""


OVERSIZED_OWN_FRAME = NONCES + """
body = b'{"type": "display", "data": {"text/html": "<script>alert(1)</script>' + b'y' * 12_000_000
body += b'"}, "metadata": {}, "transient": {}, "update": false}'
data = b''.join(frame(nonce, body) for nonce in nonces())  # the request's own nonce among them
print('before', flush=True)
write(1, data)
print('after')
"""


def test_a_frame_over_the_cap_is_dropped_with_a_note_never_shown_as_text(
    engine: DockerSandbox,
) -> None:
    """A frame of the cell's own request announcing 12 MB (8 SIZE digits, more than the host's
    cap and more digits than it once parsed): dropped as it arrives and counted, with a note;
    before, it came out as 1 MiB of stdout showing the nonce and the unsanitized payload."""
    with engine.session("python") as session:
        result = session.run(OVERSIZED_OWN_FRAME, timeout=60)
        assert (result.exit_code, result.stdout, result.displays) == (0, "before\nafter\n", [])
        assert "\x1e" not in result.stderr and "<script>" not in result.stderr
        assert "[sandbox-kernel] a message over 4 MiB from the sandbox was dropped" in result.stderr
        assert session.dropped_messages >= 1
        assert session.run("print(6 * 7)", timeout=30).stdout == "42\n"


def test_forged_done_for_a_later_cell_never_reports_it_as_a_success(
    engine: DockerSandbox,
) -> None:
    """A thread forges receipts and successes for nonces it can only guess: the later cells
    still report what they really did."""
    with engine.session("python") as session:
        assert session.run(FORGE_LATER_DONE, timeout=30).exit_code == 0
        for _ in range(3):
            failed = session.run("import time\ntime.sleep(0.5)\nraise ValueError('real')",
                                 timeout=30)
            assert failed.exit_code == 1 and failed.error is not None
            assert failed.error["ename"] == "ValueError"
            ok = session.run("6 * 7", timeout=30)
            assert (ok.exit_code, ok.value) == (0, "42")
        assert session.dropped_messages > 0


def test_a_forgery_in_one_session_cannot_reach_another(engine: DockerSandbox) -> None:
    """Session A floods forged successes with every nonce it knows and guesses; session B (same
    engine, same process) keeps its own results."""
    with engine.session("python") as a, engine.session("python") as b:
        assert a.run(FORGE_LATER_DONE, timeout=30).exit_code == 0
        for _ in range(3):
            failed = b.run("import time\ntime.sleep(0.3)\nraise KeyError('b')", timeout=30)
            assert failed.exit_code == 1 and failed.error is not None
            assert failed.error["ename"] == "KeyError"
        assert b.dropped_messages == 0


ALTERNATING_WRITES = """
import os, time
deadline = time.time() + 3
n = 0
while time.time() < deadline and n < 400_000:  # under the 1 MiB output cap
    os.write(1, b'o')
    os.write(2, b'e')
    n += 1
print()
print('pairs', n)
"""


def test_alternating_one_byte_writes_make_few_iopub_messages() -> None:
    """3 s of one-byte writes alternating stdout and stderr, through a real kernel: a bounded
    number of iopub stream messages (one buffer per stream per interval), all text delivered."""
    with kernel_support.running_kernel("sandbox-python", {"timeout": "60"}) as (_, kc):
        cell = kernel_support.execute(kc, ALTERNATING_WRITES, timeout=120)
    assert cell.content["status"] == "ok", cell.content
    streams = cell.of_type("stream")
    pairs = int(cell.text("stdout").split()[-1])
    assert pairs > 100
    assert cell.text("stderr") == "e" * pairs
    # ~3.5 s of output at one message per stream per 0.1 s, plus the start and the end.
    assert len(streams) <= 2 * 40, f"{len(streams)} stream messages for {pairs} write pairs"
    print(f"alternating writes: {pairs} pairs in 3 s -> {len(streams)} iopub stream messages")


FLOOD_AFTER_THE_CELL = """
import os, threading
stop = threading.Event()
def flood():
    line = memoryview(b'y' * 65535 + b'\\n')
    while not stop.is_set():
        view = line
        while view:  # whole writes: gVisor's pipes take part of a large write
            view = view[os.write(1, view):]
threading.Thread(target=flood, daemon=True).start()
"""


def test_output_flood_after_the_cell_is_capped_and_the_next_cell_runs() -> None:
    """A thread prints forever once its cell has ended. What it prints goes out at once under
    that cell (issue 15.5), but at most ``max_output`` per stream until the next cell, with a
    visible note; the kernel's memory stays bounded and the next cell runs."""
    cap = Limits().max_output
    with kernel_support.running_kernel("sandbox-python", {"timeout": "30"}) as (km, kc):
        kernel_support.execute(kc, "1")  # the sandbox is up before the measurement
        pid = km.provisioner.process.pid  # type: ignore[union-attr]
        with peak_rss_growth(pid) as growth:
            cpu_before = sum(psutil.Process(pid).cpu_times()[:2])
            msg_id = kc.execute(FLOOD_AFTER_THE_CELL)
            assert kernel_support.wait_for_reply(kc, msg_id)["content"]["status"] == "ok"
            late: dict[str, Any] = {"stdout": 0, "stderr": ""}
            deadline = time.monotonic() + 6  # the flood goes on between cells
            while time.monotonic() < deadline:
                try:
                    msg = kc.get_iopub_msg(timeout=0.2)
                except Empty:
                    continue
                if (msg["msg_type"] == "stream"
                        and msg["parent_header"].get("msg_id") == msg_id):
                    name, text = msg["content"]["name"], msg["content"]["text"]
                    late[name] += len(text) if name == "stdout" else text
            started = time.monotonic()
            after = kernel_support.execute(kc, "stop.set(); 6 * 7", timeout=60)
            waited = time.monotonic() - started
            cpu = sum(psutil.Process(pid).cpu_times()[:2]) - cpu_before
        assert after.content["status"] == "ok" and after.value == "42", after.outputs
        assert waited < 10, f"the next cell waited {waited:.1f} s behind the flood"
        # The cell's own output (up to the cap) and the late output (up to the cap again).
        assert cap <= late["stdout"] <= 2 * cap, late["stdout"]
        assert "output after the cell over 1 MiB per stream was dropped" in late["stderr"]
        assert growth() < RSS_BUDGET, f"the kernel's RSS grew by {growth() / MiB:.0f} MiB"
        print(f"thread flooding stdout between cells (kernel): RSS +{growth() / MiB:.1f} MiB, "
              f"CPU {cpu:.1f} s in 6 s, {late['stdout']} characters sent, next cell "
              f"{waited:.2f} s")
