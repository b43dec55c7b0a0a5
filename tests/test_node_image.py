"""The node flavours and the bash image against the real daemon: Node.js 22 from the npm registry
runs the session driver, Debian's Node.js 18 stays buildable as the fallback, and install attempts
(npm, pip) end at once with the command that builds an image with the packages instead."""

from __future__ import annotations

import pytest

from sandbox_kernel import DockerSandbox
from sandbox_kernel.backends.docker.images import (
    FLAVOURS,
    RECIPE_LABEL,
    _build_fallback,
    _client,
    _labels,
    build_images,
    recipe_hash,
)
from sandbox_kernel.errors import SandboxError

TIMED = ("start=$(date +%s%N); {command}; "
         "echo \"status=$? ms=$(( ($(date +%s%N) - start) / 1000000 ))\"")


def _timed(engine: DockerSandbox, command: str) -> tuple[str, int, int]:
    """Run ``command`` in a bash sandbox; its output, exit status and duration in ms."""
    result = engine.run_bash(TIMED.format(command=command), timeout=60)
    fields = dict(item.split("=") for item in result.stdout.strip().splitlines()[-1].split())
    return result.stdout + result.stderr, int(fields["status"]), int(fields["ms"])


def test_node_is_22_and_runs_the_session_driver(sandbox: DockerSandbox) -> None:
    result = sandbox.run_node("console.log(process.version)")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("v22."), result.stdout
    with sandbox.session("node") as session:
        session.run("let total = 20")
        again = session.run("console.log(total + 22, typeof structuredClone)")
        assert again.stdout == "42 function\n", again.stderr


@pytest.mark.parametrize("command", ["npm install lodash", "npm i -g left-pad", "npm ci",
                                     "npm add is-number"])
def test_npm_install_fails_fast_in_the_node_image(command: str) -> None:
    engine = DockerSandbox(images={"bash": FLAVOURS["node"].tag}, warm=False)
    try:
        output, status, ms = _timed(engine, command)
    finally:
        engine.close()
    assert status != 0 and ms < 5000, output
    assert "sandbox-kernel images build node --npm" in output


def test_npm_itself_works_offline_in_the_node_image() -> None:
    engine = DockerSandbox(images={"bash": FLAVOURS["node"].tag}, warm=False)
    try:
        output, status, _ = _timed(engine, "npm --version && ls -A /workspace")
    finally:
        engine.close()
    assert status == 0 and output.startswith("10."), output
    assert output.splitlines()[1].startswith("status=")  # npm wrote nothing into the workspace


@pytest.mark.parametrize(("command", "language"), [
    ("pip install requests", "python --requirements"),
    ("pip3 install requests", "python --requirements"),
    ("npm install lodash", "node --npm"),
])
def test_install_attempts_fail_fast_in_the_bash_image(
    sandbox: DockerSandbox, command: str, language: str
) -> None:
    output, status, ms = _timed(sandbox, command)
    assert status != 0 and ms < 5000, output
    assert f"sandbox-kernel images build {language}" in output


def test_node_debian_fallback_flavour_runs_node_18() -> None:
    build_images(["node-debian"], progress=lambda line: None)
    engine = DockerSandbox(images={"node": "node-debian"}, warm=False)
    try:
        result = engine.run_node("console.log(process.version)")
        assert result.exit_code == 0 and result.stdout.startswith("v18."), result.stderr
        with engine.session("node") as session:
            assert session.run("console.log(6 * 7)").stdout == "42\n"
    finally:
        engine.close()


def test_a_failed_node_build_falls_back_under_the_same_tag() -> None:
    """What ``images build`` does when the npm registry cannot be reached, on a scratch tag."""
    api = _client()
    tag = "sandbox-kernel-test-fallback:latest"
    lines: list[str] = []
    try:
        _build_fallback(api, "node", tag, SandboxError("registry unreachable"), False,
                        lines.append)
        assert _labels(api, tag)[RECIPE_LABEL] == recipe_hash("node-debian")
        assert any("falling back to the node-debian flavour" in line for line in lines), lines
    finally:
        api.remove_image(tag, noprune=True)
        api.close()
