"""``sandbox-kernel mcp``: an MCP server on stdio whose tool ``sandbox_exec`` runs code.

This module is the protocol glue around ``mcp_runner.ExecService``: the tool's schema, the
mapping of failures to tool errors, and the server's life cycle. The schema advertises the
bounds (the language enum, the timeout range) so that clients and models see them, while the
checks themselves stay with the engine's rules, whose messages say what was wrong; pydantic is
left lenient on purpose, as its messages are written for programmers, not for a model.

Shutdown matters as much as serving: a stdio client closes stdin and, 2 s later, sends SIGTERM
(then SIGKILL). Both paths remove every container the process created before it exits.

No ``from __future__ import annotations`` here: the tool's annotations refer to values known only
at run time (the configured languages and limits), which the SDK must be able to evaluate.
"""

import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent, ToolAnnotations
from pydantic import Field, JsonValue

from sandbox_kernel._version import __version__
from sandbox_kernel.engine.registry import SESSION_NAME
from sandbox_kernel.errors import SandboxError
from sandbox_kernel.languages import LANGUAGES
from sandbox_kernel.limits import format_size
from sandbox_kernel.mcp.files import IMAGE_TYPES, MCP_MAX_BYTES, MCP_MAX_FILES
from sandbox_kernel.mcp.runner import (
    MAX_LABEL,
    ExecOutput,
    ExecRequest,
    ExecService,
    ServerConfig,
    ToolReply,
)

SERVER_NAME = "sandbox-kernel"
TOOL_NAME = "sandbox_exec"
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def tool_description(config: ServerConfig) -> str:
    """What the model reads before calling: the limits it runs under and how to read results."""
    limits = config.limits
    return (
        f"Run a program in a fresh, isolated sandbox ({', '.join(config.languages)}) and return "
        f"its output. Each call gets a new container with no network, "
        f"{format_size(limits.memory)} of memory, {limits.cpus:g} CPU and a timeout of "
        f"{limits.timeout:g} s by default (at most {limits.max_timeout:g} s); output is capped at "
        f"{format_size(limits.max_output)} per stream. Pass 'session' to keep variables and "
        f"files between calls in one sandbox per (language, session name). The result gives "
        f"stdout as 'output', stderr (and a session's traceback) as 'error', and 'exitCode', "
        f"'executionTime' (ms), 'timedOut', 'oomKilled', 'truncated'. A program that fails is "
        f"a normal result with a non-zero exitCode; invalid arguments are a tool error. "
        f"'files' puts files in the working directory first; 'collect' (globs) returns the "
        f"files the program wrote as 'files' (text, or base64 with mimeType; images are also "
        f"attached as images), at most {MCP_MAX_FILES} files and {format_size(MCP_MAX_BYTES)}."
    )


def tool_result(reply: ToolReply) -> CallToolResult:
    """The structured result, its JSON copy for older clients, then as image content the model
    can see: each collected image file and each image the call displayed (plots)."""
    output = reply.output
    content: list[ContentBlock] = [TextContent(type="text", text=json.dumps(output))]
    for entry in output.get("files", []):
        if entry.get("mimeType") in IMAGE_TYPES and "base64" in entry:
            content.append(ImageContent(type="image", data=entry["base64"],
                                        mime_type=entry["mimeType"]))
    content += [ImageContent(type="image", data=data, mime_type=mime)
                for mime, data in reply.images]
    return CallToolResult(content=content, structured_content=dict(output))


def _display_names(config: ServerConfig) -> str:
    names = [LANGUAGES[name].display_name for name in config.languages]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def build_server(service: ExecService) -> MCPServer[None]:
    """An ``MCPServer`` with the one tool, bound to ``service``; the caller runs and stops it."""
    config = service.config
    limits = config.limits
    language_enum: list[JsonValue] = list(config.languages)

    @asynccontextmanager
    async def lifespan(_: MCPServer[None]) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_exit_on_signal, service)
            try:
                yield None
            finally:
                # stdin reached EOF: the SDK has cancelled the calls in flight (their sandboxes
                # still run in worker threads), so remove every container before exiting.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(service.shutdown, "end of input")
                tasks.cancel_scope.cancel()

    server: MCPServer[None] = MCPServer(
        SERVER_NAME,
        version=__version__,
        instructions=f"Use {TOOL_NAME} to run {_display_names(config)} code in a locked-down "
                     "container: no network, limited memory, CPU and time.",
        lifespan=lifespan,
        log_level="WARNING",
    )

    async def sandbox_exec(
        language: Annotated[str, Field(
            description="Language of the code.",
            json_schema_extra={"enum": language_enum})],
        code: Annotated[str, Field(
            description=f"The program's source (UTF-8, at most {format_size(limits.max_code)}). "
                        "Its stdin is empty; print what you want to see.")],
        timeout: Annotated[float, Field(
            description="Seconds before the program is killed.",
            json_schema_extra={"exclusiveMinimum": 0, "maximum": limits.max_timeout})
        ] = limits.timeout,
        label: Annotated[str | None, Field(
            description=f"Free text recorded in the audit log (at most {MAX_LABEL} characters), "
                        "e.g. what this run is for.")] = None,
        session: Annotated[str | None, Field(
            description="Name of a persistent sandbox: calls with the same language and name "
                        "share variables and files. Omit for a fresh sandbox per call.",
            json_schema_extra={"pattern": f"^{SESSION_NAME.pattern}$"})] = None,
        files: Annotated[dict[str, str] | None, Field(
            description="Files to place in the working directory before the code runs: "
                        "relative file name -> content (UTF-8 text, or base64 when "
                        f"files_base64 is true). At most {MCP_MAX_FILES} files and "
                        f"{format_size(MCP_MAX_BYTES)}.")] = None,
        files_base64: Annotated[bool, Field(
            description="The contents in 'files' are base64 (for binary files).")] = False,
        collect: Annotated[list[str] | None, Field(
            description="Glob patterns relative to the working directory (e.g. 'out/*.csv', "
                        "'**/*.png'): the matching files are returned in 'files'.")] = None,
    ) -> Annotated[CallToolResult, ExecOutput]:
        request = ExecRequest(language, code, timeout, label, session, files, files_base64,
                              collect)
        try:
            reply = await service.execute(request)
        except (ValueError, SandboxError) as exc:
            raise ToolError(str(exc)) from None
        return tool_result(reply)

    server.add_tool(
        sandbox_exec,
        name=TOOL_NAME,
        title="Run code in a sandbox",
        description=tool_description(config),
        annotations=ToolAnnotations(
            title="Run code in a sandbox",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=limits.network,
        ),
        structured_output=True,
    )
    return server


async def _exit_on_signal(service: ExecService) -> None:
    """SIGTERM and friends: clean up, then die of the same signal so the parent sees why.

    A graceful return is not possible here: the SDK reads stdin in a worker thread that no
    cancellation can interrupt, so waiting for the server to unwind could last forever.
    """
    if sys.platform == "win32":  # pragma: no cover - no POSIX signals; EOF still cleans up
        return
    with anyio.open_signal_receiver(*EXIT_SIGNALS) as signals:
        async for signum in signals:
            reason = signal.Signals(signum).name
            await anyio.to_thread.run_sync(service.shutdown, reason, abandon_on_cancel=True)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            os._exit(128 + signum)  # pragma: no cover - only if the signal was blocked


def serve(config: ServerConfig) -> None:
    """Serve on stdin/stdout until the client leaves; every container is gone on return."""
    service = ExecService(config)
    server = build_server(service)
    service.connect()
    try:
        server.run("stdio")
    finally:
        service.shutdown()
