"""The MCP server as a client sees it: the official SDK client spawns ``python -m sandbox_kernel
mcp`` over stdio, exactly as Claude Desktop or any ``mcpServers`` entry would.

Each test starts its own server, and leaving a test checks that every container that server
created is gone (other processes' containers are none of our business, so the check is by owner).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from docker_support import docker_api as connect
from docker_support import find_ours
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_types import CallToolResult, ImageContent, TextContent

from sandbox_kernel.cli import mcp as mcp_command
from sandbox_kernel.engine import ownership
from sandbox_kernel.languages import LANGUAGES
from sandbox_kernel.limits import MiB

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent
SERVER = [sys.executable, "-m", "sandbox_kernel", "mcp"]
RESULT_FIELDS = {"output", "error", "exitCode", "executionTime", "timedOut", "oomKilled",
                 "truncated"}
AUDIT_FIELDS = {"time", "outcome", "label", "language", "session", "code_sha256", "code_bytes",
                "limits", "exit_code", "duration_ms", "timed_out", "oom_killed", "truncated",
                "started", "queued_ms", "concurrent"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Server:
    client: ClientSession
    pid: int
    owner: str
    stderr: Path

    async def run(self, **arguments: Any) -> CallToolResult:
        return await self.client.call_tool("sandbox_exec", arguments)

    def containers(self) -> list[dict[str, Any]]:
        return find_ours(connect(), self.owner)

    def stderr_text(self) -> str:
        return self.stderr.read_text()


def _server_pid() -> int:
    children = [child for child in psutil.Process().children(recursive=True)
                if "mcp" in child.cmdline()]
    assert len(children) == 1, children
    return int(children[0].pid)


@asynccontextmanager
async def mcp_server(tmp_path: Path, *args: str, env: dict[str, str] | None = None
                     ) -> AsyncIterator[Server]:
    """A server for one test; on the way out, none of its containers may be left."""
    stderr = tmp_path / "server-stderr.txt"
    params = StdioServerParameters(command=SERVER[0], args=[*SERVER[1:], *args],
                                   env={**os.environ, **(env or {})}, cwd=str(REPO))
    with stderr.open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), \
                ClientSession(read, write) as client:
            await client.initialize()
            pid = _server_pid()
            server = Server(client, pid, ownership.owner_id(pid), stderr)
            yield server
    assert server.containers() == [], server.stderr_text()


def structured(result: CallToolResult) -> dict[str, Any]:
    """The structured result, checked against the text copy older clients read."""
    assert not result.is_error, result.content
    assert result.structured_content is not None
    text = result.content[0]
    assert isinstance(text, TextContent)
    assert json.loads(text.text) == result.structured_content
    content: dict[str, Any] = result.structured_content
    assert set(content) >= RESULT_FIELDS
    return content


def error_text(result: CallToolResult) -> str:
    assert result.is_error
    text = result.content[0]
    assert isinstance(text, TextContent)
    return text.text


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def when(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def exited(process: psutil.Process) -> bool:
    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


async def wait_until(predicate: Any, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await anyio.sleep(0.1)


# -- the tool's contract ------------------------------------------------------------------------


async def test_lists_the_tool_with_language_enum_and_timeout_bounds(tmp_path: Path) -> None:
    async with mcp_server(tmp_path) as server:
        tools = (await server.client.list_tools()).tools
    assert [tool.name for tool in tools] == ["sandbox_exec"]
    schema, output = tools[0].input_schema, tools[0].output_schema
    props = schema["properties"]
    assert props["language"]["enum"] == list(LANGUAGES)
    assert props["timeout"]["type"] == "number"
    assert (props["timeout"]["default"], props["timeout"]["maximum"]) == (30, 120)
    assert props["timeout"]["exclusiveMinimum"] == 0
    assert {"code", "label", "session"} <= set(props)
    assert sorted(schema["required"]) == ["code", "language"]
    assert output is not None and set(output["properties"]) >= RESULT_FIELDS


async def test_runs_every_language_and_audits_each_run(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    programs = {
        "python": ("import sys; print('py', 6 * 7); print('warn', file=sys.stderr)", "py 42\n"),
        "bash": ("echo sh $((6 * 7)); exit 3", "sh 42\n"),
        "node": ("console.log('js', 6 * 7)", "js 42\n"),
    }
    async with mcp_server(tmp_path, env={"SANDBOX_KERNEL_MCP_AUDIT_LOG": str(audit)}) as server:
        for language, (code, expected) in programs.items():
            result = structured(await server.run(language=language, code=code,
                                                 label=f"try {language}"))
            assert result["output"] == expected
            assert result["timedOut"] is result["oomKilled"] is result["truncated"] is False
            assert result["executionTime"] > 0
            assert "session" not in result
    assert result["exitCode"] == 0
    lines = audit_lines(audit)
    assert [line["language"] for line in lines] == list(programs)
    for line, (language, (code, _)) in zip(lines, programs.items(), strict=True):
        assert set(line) >= AUDIT_FIELDS
        assert line["code_sha256"] == hashlib.sha256(code.encode()).hexdigest()
        assert line["label"] == f"try {language}" and line["session"] is None
        assert line["limits"] == {"memory": 256 * MiB, "cpus": 0.5, "pids": 50, "timeout": 30,
                                  "max_output": MiB, "network": False}
        assert line["duration_ms"] > 0 and line["timed_out"] is line["oom_killed"] is False
        assert when(line["started"]) <= when(line["time"])
    assert [line["exit_code"] for line in lines] == [0, 3, 0]
    assert [line["outcome"] for line in lines] == ["ok", "error", "ok"]
    assert "removed" in server.stderr_text()


async def test_timeout_oom_and_truncation_are_results(tmp_path: Path) -> None:
    async with mcp_server(tmp_path, "--memory", "64m") as server:
        began = time.monotonic()
        result = structured(await server.run(language="python", code="while True: pass",
                                             timeout=1))
        elapsed = time.monotonic() - began
        assert result["timedOut"] is True and result["exitCode"] is None
        assert elapsed < 15, elapsed  # the deadline is 1 s; far below the default 30 s
        oom = structured(await server.run(language="python", code="b = b'x' * (200 << 20)"))
        assert oom["oomKilled"] is True and oom["exitCode"] == 137
        big = structured(await server.run(language="python", code="print('y' * 3_000_000)"))
        assert big["truncated"] is True and big["exitCode"] == 0
        assert MiB <= len(big["output"]) < MiB + 1000 and "truncated" in big["output"][-200:]


async def test_a_missing_image_is_a_tool_error_for_that_language_only(tmp_path: Path) -> None:
    env = {"SANDBOX_KERNEL_NODE_IMAGE": "sandbox-kernel-test-missing:latest"}
    async with mcp_server(tmp_path, env=env) as server:
        message = error_text(await server.run(language="node", code="1"))
        assert "sandbox-kernel-test-missing:latest" in message and "missing" in message
        message = error_text(await server.run(language="node", code="1", session="n"))
        assert "missing" in message
        assert structured(await server.run(language="python", code="print(1)"))["output"] == "1\n"


async def test_bad_input_is_a_tool_error_and_the_server_lives_on(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    bad: list[tuple[dict[str, Any], str]] = [
        ({"language": "cobol", "code": "x"}, "unknown language 'cobol'"),
        ({"language": "python", "code": "x", "timeout": 0}, "timeout must be positive"),
        ({"language": "python", "code": "x", "timeout": 500}, "at most 120"),
        ({"language": "python", "code": "x" * (10 * MiB + 1)}, "over the limit of 10 MiB"),
        ({"language": "python", "code": "a\x00b"}, "NUL"),
        ({"language": "bash", "code": "x", "session": "../etc"}, "a session name is"),
        ({"language": "bash", "code": "x", "label": "L" * 201}, "label must be"),
        ({"language": "python"}, "code"),
    ]
    async with mcp_server(tmp_path, "--audit-log", str(audit)) as server:
        for arguments, message in bad:
            assert message in error_text(await server.run(**arguments)), arguments
        result = structured(await server.run(language="bash", code="echo alive"))
    assert result["output"] == "alive\n"
    lines = audit_lines(audit)
    # Every call that reached our checks is audited; the missing argument never got that far.
    assert [line["outcome"] for line in lines] == ["rejected"] * (len(bad) - 1) + ["ok"]
    assert lines[0]["language"] == "cobol" and "unknown language" in lines[0]["error"]
    big = lines[3]
    assert big["code_bytes"] == 10 * MiB + 1
    assert big["code_sha256"] == hashlib.sha256(b"x" * (10 * MiB + 1)).hexdigest()


# -- concurrency, sessions, shutdown ------------------------------------------------------------


async def test_calls_beyond_the_cap_wait_their_turn(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    results: dict[int, dict[str, Any]] = {}
    async with mcp_server(tmp_path, "--max-concurrent", "2", "--audit-log", str(audit)) as server:

        async def call(n: int) -> None:
            results[n] = structured(await server.run(language="bash", code=f"sleep 1; echo {n}",
                                                     label=f"call {n}"))

        async with anyio.create_task_group() as tasks:
            for n in range(4):
                tasks.start_soon(call, n)
    assert {n: r["output"] for n, r in results.items()} == {n: f"{n}\n" for n in range(4)}
    runs = sorted(audit_lines(audit), key=lambda line: when(line["started"]))
    spans = [(when(line["started"]), when(line["time"])) for line in runs]
    # The server's own count of sandboxes in flight never went over the cap, and reached it.
    assert max(line["concurrent"] for line in runs) == 2
    # Independent of that count: no start fell inside more than one other run...
    for start, _ in spans:
        assert sum(1 for s, end in spans if s <= start < end) <= 2
    # ...the first two did overlap (two really ran at once)...
    assert spans[1][0] < spans[0][1]
    # ...and the later two only started once an earlier run had finished: they were queued.
    first_finish = min(end for _, end in spans[:2])
    assert spans[2][0] >= first_finish and spans[3][0] >= first_finish
    assert min(line["queued_ms"] for line in runs[2:]) > max(line["queued_ms"] for line in runs[:2])


async def test_sessions_keep_state_per_name_and_language(tmp_path: Path) -> None:
    async with mcp_server(tmp_path) as server:
        first = structured(await server.run(language="python", code="x = 41\nopen('f', 'w')"
                                            ".write('kept')", session="work"))
        assert first["session"] == "work" and first["exitCode"] == 0
        second = structured(await server.run(language="python", code="print(open('f').read())"
                                             "\nx + 1", session="work"))
        assert (second["output"], second["value"]) == ("kept\n", "42")
        other = structured(await server.run(language="python", code="x", session="other"))
        assert other["exitCode"] != 0 and "NameError" in other["error"]
        structured(await server.run(language="bash", code="cd /tmp; V=7", session="work"))
        shell = structured(await server.run(language="bash", code="echo $V $PWD",
                                            session="work"))
        assert shell["output"] == "7 /tmp\n"
        fresh = structured(await server.run(language="python", code="print('x' in dir())"))
        assert fresh["output"] == "False\n"
        assert len([c for c in server.containers() if c["Labels"][ownership.LABEL] == "session"
                    ]) == 3
    assert "stopped (end of input)" in server.stderr_text()


async def test_sigterm_removes_running_sandboxes_before_exit(tmp_path: Path) -> None:
    async with mcp_server(tmp_path) as server:
        errors: list[BaseException] = []

        async def call(**arguments: Any) -> None:
            try:
                await server.run(**arguments)
            except Exception as exc:  # the connection dies with the server
                errors.append(exc)

        def sessions() -> int:
            return sum(1 for c in server.containers()
                       if c["Labels"][ownership.LABEL] == "session")

        async with anyio.create_task_group() as tasks:
            # A session cell holds the session's lock for its whole run: shutdown must not wait.
            tasks.start_soon(lambda: call(language="python", code="import time; time.sleep(90)",
                                          session="s", timeout=100))
            tasks.start_soon(lambda: call(language="bash", code="sleep 90", timeout=100))
            await wait_until(lambda: sessions() == 1)
            await anyio.sleep(1)  # let the cells start; not an assertion
            process = psutil.Process(server.pid)
            os.kill(server.pid, signal.SIGTERM)
            await wait_until(lambda: exited(process), limit=10)
            # Gone by the time the process is: nothing relied on the client's own clean-up.
            assert server.containers() == []
        assert "stopped (SIGTERM)" in server.stderr_text()


async def test_closing_stdin_mid_call_removes_its_sandbox(tmp_path: Path) -> None:
    async with mcp_server(tmp_path) as server, anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: server.run(language="bash", code="sleep 90", timeout=100))
        # The run's container plus the warm one the pool starts to replace it.
        await wait_until(lambda: len(server.containers()) >= 2)
        await anyio.sleep(0.5)  # let the run start; not an assertion
        tasks.cancel_scope.cancel()
    # Leaving closes stdin: the SDK cancels the call, and the server removes its sandbox.
    assert "stopped (end of input)" in server.stderr_text()


# -- the command line ---------------------------------------------------------------------------


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    mcp_command.add_parser(parser.add_subparsers())
    return parser.parse_args(["mcp", *argv])


def test_flags_become_the_server_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_KERNEL_MCP_AUDIT_LOG", "/tmp/from-env.jsonl")
    config = mcp_command.config_from_args(_parse(
        "-l", "python", "-l", "py", "--max-timeout", "10", "--memory", "128m",
        "--max-concurrent", "3", "--max-sessions", "0"))
    assert config.languages == ("python",)
    assert (config.limits.timeout, config.limits.max_timeout) == (10, 10)
    assert config.limits.memory == 128 * MiB
    assert (config.max_concurrent, config.max_sessions) == (3, 0)
    assert config.audit_log == "/tmp/from-env.jsonl"
    assert mcp_command.config_from_args(_parse("--audit-log", "a.jsonl")).audit_log == "a.jsonl"
    for bad in (["--max-concurrent", "0"], ["-l", "cobol"], ["--timeout", "500"]):
        with pytest.raises(ValueError):
            mcp_command.config_from_args(_parse(*bad))


async def test_plots_come_back_as_images_and_html_as_sanitized_text(tmp_path: Path) -> None:
    """A Python session call that draws a plot returns it as MCP image content; HTML it
    displays comes back sanitized, as text in the structured result."""
    async with mcp_server(tmp_path) as server:
        raw = await server.run(
            language="python", session="plots",
            code="import matplotlib.pyplot as plt\nplt.plot(range(1000))\nplt.show()\n"
                 "from IPython.display import HTML, display\n"
                 "display(HTML('<table><tr><td onclick=\"steal()\">cell</td></tr></table>'\n"
                 "             '<script>steal()</script>'))\nprint('drawn')")
        result = structured(raw)
        assert result["output"] == "drawn\n" and result["images"] == 1
        images = [block for block in raw.content if isinstance(block, ImageContent)]
        assert len(images) == 1 and images[0].mime_type == "image/png"
        assert base64.b64decode(images[0].data)[:8] == b"\x89PNG\r\n\x1a\n"
        (html,) = result["html"]
        assert "<td>cell</td>" in html and "steal" not in html


async def test_a_one_shot_call_returns_its_plots_as_images(tmp_path: Path) -> None:
    """Without a session, plt.show() in a plain Python program still comes back as images."""
    async with mcp_server(tmp_path) as server:
        raw = await server.run(
            language="python",
            code="import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.figure()\n"
                 "plt.plot([1])\nplt.show()\nprint('drawn')")
        result = structured(raw)
        assert result["output"] == "drawn\n" and result["images"] == 2
        images = [block for block in raw.content if isinstance(block, ImageContent)]
        assert len(images) == 2 and {image.mime_type for image in images} == {"image/png"}
        assert all(base64.b64decode(image.data)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
