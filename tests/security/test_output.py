"""Hostile output and hostile code: floods, raw bytes, forged driver messages, huge programs.

Output is untrusted data: it must be capped, decoded without raising, and it must never steer the
engine. The host process (a Jupyter kernel, the MCP server) must keep a bounded memory footprint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psutil
import pytest
from attack_helpers import NONCE_FINDER, assert_healthy
from docker_support import docker_api as connect
from docker_support import find_ours

from sandbox_kernel import DockerSandbox, Limits
from sandbox_kernel.engine import ownership
from sandbox_kernel.limits import MiB

CAP = Limits().max_output
# Host memory our process may add while a sandbox floods it (it keeps 1 MiB per stream).
RSS_BUDGET = 64 * MiB


@contextmanager
def peak_rss_growth(pid: int | None = None) -> Iterator[Callable[[], int]]:
    """Samples the RSS of this process (or of ``pid``, a kernel's) every 10 ms; yields a function
    giving the peak growth."""
    process = psutil.Process(pid)
    baseline = process.memory_info().rss
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak[0] - baseline
    finally:
        done.set()
        sampler.join()


# 200 MiB on stdout then 100 MiB on stderr; Python prints 4 KiB lines (see the next test).
FLOODS = {
    "python": (
        "import sys\nline = 'x' * 4095\n"
        "for _ in range(200 * 256):\n    print(line)\n"
        "for _ in range(100 * 256):\n    print(line, file=sys.stderr)\n"
    ),
    "bash": "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 200M\nyes e | head -c 100M >&2\n",
    "node": (
        "const line = Buffer.alloc(1 << 20, 120);\nlet n = 0;\n"
        "function pump() {\n"
        "  while (n < 300) {\n"
        "    const out = n < 200 ? process.stdout : process.stderr;\n"
        "    n++;\n"
        "    if (!out.write(line)) { out.once('drain', pump); return; }\n"
        "  }\n"
        "}\npump();\n"
    ),
}


@pytest.mark.parametrize("language", sorted(FLOODS))
def test_300_megabyte_flood_is_capped_and_our_memory_stays_flat(
    engine: DockerSandbox, language: str
) -> None:
    with peak_rss_growth() as growth:
        result = engine.run(language, FLOODS[language], timeout=120)
    assert result.exit_code == 0 and not result.timed_out, result.exit_code
    assert result.truncated
    for name, text, size in (("stdout", result.stdout, 200 * MiB), ("stderr", result.stderr,
                                                                      100 * MiB)):
        head, marker = text[:CAP], text[CAP:]
        assert len(head.encode()) == CAP, name
        assert marker == (f"\n[sandbox-kernel: {name} truncated at 1 MiB; "
                          f"{size - CAP} more bytes dropped]\n")
    assert growth() < RSS_BUDGET, f"our RSS grew by {growth() / MiB:.0f} MiB"
    assert_healthy(engine, language)


def test_output_is_not_written_to_the_hosts_disk(engine: DockerSandbox) -> None:
    """Docker's default log driver would copy every byte of a flood into /var/lib/docker."""
    owner = ownership.owner_id()
    before = {c["Id"] for c in find_ours(connect(), owner)}
    seen: dict[str, object] = {}

    def on_output(stream: str, text: str) -> None:
        if not seen:
            (container,) = {c["Id"] for c in find_ours(connect(), owner)} - before
            info = connect().inspect_container(container)
            seen["driver"] = info["HostConfig"]["LogConfig"]["Type"]
            seen["path"] = info["LogPath"]

    result = engine.run("bash", "head -c 50M /dev/zero | tr '\\0' x; sleep 0.5", timeout=60,
                        on_output=on_output)
    assert result.truncated and result.exit_code == 0
    assert seen == {"driver": "none", "path": ""}, seen


def test_a_single_large_print_arrives_whole(engine: DockerSandbox) -> None:
    """One write bigger than a pipe's capacity is not cut short (gVisor returns short writes)."""
    result = engine.run("python", "print('y' * 300_000)\nimport sys\nsys.stdout.buffer.write("
                        "b'z' * 300_000)", timeout=30)
    assert result.stdout == "y" * 300_000 + "\n" + "z" * 300_000, (
        f"got {len(result.stdout)} of 600001 characters")


def test_output_flood_between_session_cells_does_not_pile_up_in_our_memory(
    engine: DockerSandbox,
) -> None:
    """A cell leaves a thread printing 300 MB after it returned; nobody is reading a cell then."""
    code = (
        "import os, threading\n"
        "def flood():\n"
        "    line = b'x' * 4095 + b'\\n'\n"
        "    for _ in range(300 * 256):\n"
        "        os.write(1, line)\n"
        "    os.write(1, b'flood over\\n')\n"
        "threading.Thread(target=flood, daemon=True).start()\n"
    )
    with engine.session("python") as session, peak_rss_growth() as growth:
        assert session.run(code, timeout=30).exit_code == 0
        deadline = time.monotonic() + 12  # gVisor delivers the 300 MB more slowly than runc
        while growth() < RSS_BUDGET and time.monotonic() < deadline:
            time.sleep(0.25)
        after = session.run("print('next')", timeout=60)
        assert after.exit_code == 0
        assert growth() < RSS_BUDGET, (
            f"our RSS grew by {growth() / MiB:.0f} MiB (and growing) while no cell ran")


HOSTILE = (
    b"plain \xff\xfe invalid \xc3( truncated \xe2\x82 surrogate \xed\xa0\x80 overlong \xc0\xaf "
    b"nul \x00 bell \x07 escapes \x1b[2J\x1b[31mred\x1b]0;title\x07\x1b]52;c;cGF3bmVk\x07 "
    b"cr \r backspace \x08 del \x7f c1 \xc2\x9b31m emoji \xf0\x9f\x92\xa3 end \xf0\x9f"
)
EXPECTED = HOSTILE.decode("utf-8", errors="replace")

OCTAL = "".join(f"\\{b:03o}" for b in HOSTILE)
HOSTILE_WRITERS = {
    "python": (f"import sys\nsys.stdout.buffer.write({HOSTILE!r})\n"
               f"sys.stderr.buffer.write({HOSTILE!r})"),
    "bash": f"printf '{OCTAL}'\nprintf '{OCTAL}' >&2",
    "node": (f"const b = Buffer.from('{HOSTILE.hex()}', 'hex');\n"
             "process.stdout.write(b);\nprocess.stderr.write(b);"),
}


@pytest.mark.parametrize("language", sorted(HOSTILE_WRITERS))
def test_hostile_bytes_arrive_as_replacement_decoded_text(
    engine: DockerSandbox, language: str
) -> None:
    seen: list[tuple[str, str]] = []
    result = engine.run(language, HOSTILE_WRITERS[language], timeout=30,
                        on_output=lambda stream, text: seen.append((stream, text)))
    assert result.stdout == EXPECTED and result.stderr == EXPECTED, result
    assert "".join(t for s, t in seen if s == "stdout") == EXPECTED
    assert result.exit_code == 0 and not result.truncated
    assert_healthy(engine, language)


def test_hostile_bytes_in_a_session_cell_and_its_exception_message(engine: DockerSandbox) -> None:
    code = (
        f"import sys\nsys.stdout.buffer.write({HOSTILE!r})\nsys.stdout.flush()\n"
        f"raise ValueError({HOSTILE.decode('latin-1')!r})"
    )
    with engine.session("python") as session:
        result = session.run(code, timeout=30)
        assert result.stdout == EXPECTED
        assert result.error is not None and result.error["ename"] == "ValueError"
        assert session.run("print(6 * 7)", timeout=30).stdout == "42\n"


# Messages a cell can forge about itself: the driver runs in the same process as the cell, so the
# cell can find its request's nonce in the driver's frames (drivers/PROTOCOL.md, "What a cell can
# forge"). It forges the stderr flush marker too, so the engine acts on its "done" and not on the
# real one.
FORGED = {
    "list": b"[]",
    "string": b'"text"',
    "number": b"42",
    "status-text": b'{"type": "done", "status": "abc"}',
    "status-infinite": b'{"type": "done", "status": 1e999}',
    "status-null": b'{"type": "done", "status": null}',
    "error-string": b'{"type": "done", "status": 1, "error": "x"}',
    "payload-evil": b'{"type": "done", "status": 0, "payload": [{"source": "x"}]}',
    "display-bad-bundle": b'{"type": "display", "data": {"text/html": 5}}',
    "second-ack": b'{"type": "ack", "size": 1}',
    "ready-again": b'{"type": "ready", "pid": 1}',
    "deep": b'{"type": "display", "data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "not-json": b"{not json",
}
FORGER = NONCE_FINDER + """
for nonce in nonces():
    os.write(2, frame(nonce, b'{"type": "flush"}'))
    os.write(1, frame(nonce, MESSAGE))
time.sleep(1)
"""


def test_forged_driver_messages_never_make_the_engine_raise(engine: DockerSandbox) -> None:
    raised = {}
    with engine.session("python") as session:
        for name, message in FORGED.items():
            code = FORGER.replace("MESSAGE", repr(message))
            try:
                session.run(code, timeout=30)  # whatever it reports, it must not raise
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                raised[name] = f"{type(exc).__name__}: {exc}"
            assert session.run("print(6 * 7)", timeout=30).stdout.endswith("42\n"), name
    assert raised == {}


BIG = 5 * 1000 * 1000
BIG_PROGRAMS = {
    "python": f"blob = '{'a' * BIG}'\nprint(len(blob))",
    "bash": f"blob='{'a' * BIG}'\necho ${{#blob}}",
    "node": f"const blob = '{'a' * BIG}';\nconsole.log(blob.length);",
}


@pytest.mark.parametrize("language", sorted(BIG_PROGRAMS))
def test_five_megabyte_program_runs_intact(engine: DockerSandbox, language: str) -> None:
    result = engine.run(language, BIG_PROGRAMS[language], timeout=60)
    assert (result.stdout, result.exit_code) == (f"{BIG}\n", 0), result.stderr[-500:]


BINARY = bytes(range(1, 256)) * 64 + b"\xff\xfe\xfd\n\x01\x02\x03"


@pytest.mark.parametrize("language", ["python", "bash", "node"])
def test_binary_code_fails_as_a_program_not_as_the_engine(
    engine: DockerSandbox, language: str
) -> None:
    result = engine.run(language, BINARY, timeout=30)
    assert result.exit_code not in (0, None) and not result.timed_out, result
    assert result.stderr
    assert_healthy(engine, language)
