"""One configuration for every front-end (issue 11) and the operator's timeout ceiling (issue 16).

``SANDBOX_KERNEL_MEMORY`` must give the same sandbox to a kernel, a ``%%sandbox`` cell, the CLI and
the MCP server; each is checked from inside the sandbox, through the cgroup's own limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kernel_support import PREFIX, execute, running_kernel
from test_mcp import anyio_backend, mcp_server, structured  # noqa: F401 - fixture

from sandbox_kernel.limits import MiB

LIMIT_FILE = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
READ_LIMIT = f"cat {LIMIT_FILE} 2>/dev/null || cat /sys/fs/cgroup/memory.max"
MEMORY = "96m"
EXPECTED = str(96 * MiB)


def env_with(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_KERNEL_")}
    env.update({f"SANDBOX_KERNEL_{k.upper()}": v for k, v in settings.items()})
    return env


def test_memory_variable_reaches_the_kernel() -> None:
    with running_kernel("sandbox-bash", {"memory": MEMORY}) as (_, kc):
        assert execute(kc, READ_LIMIT).text("stdout").strip() == EXPECTED


def test_memory_variable_reaches_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "sandbox_kernel", "run", "bash", "-"],
                          input=READ_LIMIT, capture_output=True, text=True, timeout=120,
                          env=env_with(memory=MEMORY))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == EXPECTED


def test_memory_variable_reaches_the_magic() -> None:
    script = textwrap.dedent(f"""
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "sandbox_kernel")
        shell.run_cell_magic("sandbox", "bash --out limit", {READ_LIMIT!r})
        print("LIMIT", str(shell.user_ns["limit"]).strip())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env_with(memory=MEMORY))
    assert done.returncode == 0, done.stderr
    assert f"LIMIT {EXPECTED}" in done.stdout


@pytest.mark.anyio
async def test_memory_variable_reaches_the_mcp_server(tmp_path: Path) -> None:
    async with mcp_server(tmp_path, env={"SANDBOX_KERNEL_MEMORY": MEMORY}) as server:
        result = structured(await server.run(language="bash", code=READ_LIMIT))
        assert result["output"].strip() == EXPECTED


def test_operator_ceiling_allows_long_cells_and_users_cannot_exceed_it() -> None:
    # SANDBOX_KERNEL_TIMEOUT=300 used to make every cell fail ("between 0.001 and 120").
    with running_kernel("sandbox-bash", {"timeout": "300", "max_timeout": "600"}) as (_, kc):
        assert execute(kc, "echo ok").text("stdout") == "ok\n"
        assert execute(kc, "%%timeout 500\necho long").text("stdout") == "long\n"
        refused = execute(kc, "%%timeout 700\necho never")
        assert refused.content["status"] == "error"
        assert "600" in json.dumps(refused.content) and "never" not in refused.text("stdout")


def test_without_a_raised_ceiling_a_long_timeout_is_refused_with_the_variable_named() -> None:
    done = subprocess.run([sys.executable, "-m", "sandbox_kernel", "run", "bash", "-"],
                          input="echo hi", capture_output=True, text=True, timeout=120,
                          env=env_with(timeout="300"))
    assert done.returncode == 2
    assert "SANDBOX_KERNEL_TIMEOUT" in done.stderr and "hi" not in done.stdout


def test_kernelspecs_installed_before_the_move_keep_working() -> None:
    """Kernelspecs of 0.1 run ``python -m sandbox_kernel.kernel``; it still starts the kernel."""
    legacy = PREFIX / "share" / "jupyter" / "kernels" / "sandbox-bash-legacy"
    legacy.mkdir(parents=True, exist_ok=True)
    (legacy / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "sandbox_kernel.kernel", "--language", "bash",
                 "-f", "{connection_file}"],
        "display_name": "Sandbox (Bash), 0.1 kernelspec", "language": "bash",
        "interrupt_mode": "signal",
    }))
    with running_kernel("sandbox-bash-legacy") as (_, kc):
        assert execute(kc, "echo still works").text("stdout") == "still works\n"


# -- configuration errors say what to change ------------------------------------------------------


def test_a_missing_custom_image_names_the_variable_that_chose_it() -> None:
    # "build the images with sandbox-kernel images build" would not make nope:latest.
    with running_kernel("sandbox-python", {"python_image": "nope-sandbox-test:latest"}) as (_, kc):
        cell = execute(kc, "print(1)")
    evalue = cell.content["evalue"]
    assert cell.content["status"] == "error"
    assert "'nope-sandbox-test:latest'" in evalue
    assert "SANDBOX_KERNEL_PYTHON_IMAGE" in evalue and "pull" in evalue, evalue


def test_a_missing_default_image_keeps_the_build_hint() -> None:
    from sandbox_kernel import DockerSandbox
    from sandbox_kernel.errors import SandboxUnavailable
    from sandbox_kernel.languages import LANGUAGES

    engine = DockerSandbox(warm=False)
    python = LANGUAGES["python"]
    assert engine.image_source(python) is None  # tests run without image variables
    missing = SandboxUnavailable("the image 'x' is missing; build the images with `sandbox-kernel "
                                 "images build`")
    assert engine._explain_missing_image(python, missing) is missing


def test_an_unknown_runtime_is_a_clear_error_before_any_container() -> None:
    from sandbox_kernel import DockerSandbox
    from sandbox_kernel.errors import UnknownRuntime

    with running_kernel("sandbox-bash", {"runtime": "bogus"}) as (_, kc):
        cell = execute(kc, "echo never")
    evalue = cell.content["evalue"]
    assert cell.content["status"] == "error" and "never" not in cell.text("stdout")
    assert cell.content["ename"] == "UnknownRuntime", cell.content
    assert "no runtime 'bogus'" in evalue and "SANDBOX_KERNEL_RUNTIME" in evalue
    assert "runc" in evalue, evalue  # the daemon's runtimes are listed
    engine = DockerSandbox(runtime="bogus", warm=False)
    with pytest.raises(UnknownRuntime) as raised:
        engine.run("bash", "echo never", timeout=30)
    assert "runc" in raised.value.known and raised.value.runtime == "bogus"


def test_a_memory_limit_too_small_for_the_driver_is_named() -> None:
    # The IPython driver peaks at ~38 MiB while it starts: 16m used to give only
    # "the Python sandbox did not start (eof); its output: (none)".
    with running_kernel("sandbox-python", {"memory": "16m"}) as (_, kc):
        cell = execute(kc, "print(1)")
    evalue = cell.content["evalue"]
    assert cell.content["status"] == "error"
    assert "did not start" in evalue and "16 MiB" in evalue, evalue
    assert "SANDBOX_KERNEL_MEMORY" in evalue and "40 MiB" in evalue, evalue
