"""Derived images against the real daemon: built from a tiny requirements file (PyPI), from a local
wheelhouse with no network, with apt and npm packages; reused while their inputs are unchanged;
taken by name by the CLI, the magic, the kernels, the MCP server and ``doctor``.

Each build is labelled with the hash of its inputs, so a second run of this module builds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from custom_image_support import TINY_NPM, TINY_REQUIREMENT, WHEEL_MODULE, write_wheel
from kernel_support import execute, running_kernel

from sandbox_kernel import DockerSandbox, SandboxError
from sandbox_kernel.backends.docker.custom_images import build_custom_image, custom_image
from sandbox_kernel.flavours import LANGUAGE_LABEL, RECIPE_LABEL

IMPORT_TABULATE = "import tabulate; print(tabulate.tabulate([[1, 2]], tablefmt='plain'))"


def _image_id(tag: str) -> str:
    client = docker.from_env()
    try:
        return str(client.images.get(tag).id)
    finally:
        client.close()


def _build(**inputs: object) -> tuple[str, list[str]]:
    lines: list[str] = []
    image = custom_image(**inputs)  # type: ignore[arg-type]
    return build_custom_image(image, progress=lines.append), lines


@pytest.fixture(scope="module")
def requirements_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("req") / "requirements.txt"
    path.write_text(TINY_REQUIREMENT + "\n")
    tag, _ = _build(parent="python", requirements=path)
    return tag


def test_a_requirement_imports_in_the_derived_image_only(requirements_image: str) -> None:
    derived = DockerSandbox(images={"python": requirements_image}, warm=False)
    default = DockerSandbox(warm=False)
    try:
        result = derived.run_python(IMPORT_TABULATE + "\nimport numpy, matplotlib", timeout=60)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.split() == ["1", "2"]
        missing = default.run_python(IMPORT_TABULATE, timeout=60)
        assert missing.exit_code == 1 and "No module named 'tabulate'" in missing.stderr
        # the derived image still refuses run-time installs
        again = derived.run_python("import subprocess, sys\nsys.exit(subprocess.run("
                                   "[sys.executable, '-m', 'pip', 'install', 'x']).returncode)")
        assert again.exit_code == 1 and "images build python --requirements" in again.stderr
    finally:
        derived.close()
        default.close()


def test_unchanged_inputs_are_not_rebuilt(requirements_image: str, tmp_path: Path) -> None:
    before = _image_id(requirements_image)
    path = tmp_path / "requirements.txt"
    path.write_text(TINY_REQUIREMENT + "\n")
    started = time.monotonic()
    tag, lines = _build(parent="python", requirements=path)
    assert time.monotonic() - started < 10
    assert tag == requirements_image and _image_id(tag) == before
    assert lines == [f"{tag} is up to date (inputs {tag.rsplit(':', 1)[1]})"]


def test_python_minimal_gets_pip_for_the_build_only(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(TINY_REQUIREMENT + "\n")
    tag, _ = _build(parent="python-minimal", requirements=path)
    engine = DockerSandbox(images={"python": tag}, warm=False)
    try:
        result = engine.run_python(IMPORT_TABULATE + "\nimport os\n"
                                   "print(os.path.exists('/usr/lib/python3/dist-packages/pip'))")
        assert result.exit_code == 0, result.stderr
        assert result.stdout.split() == ["1", "2", "False"]  # Debian's pip stayed in the build
    finally:
        engine.close()


def test_the_wheelhouse_installs_with_no_network(tmp_path: Path) -> None:
    wheels = write_wheel(tmp_path / "wheels").parent
    assert custom_image("python", wheels=wheels).offline  # so docker builds it with network none
    tag, lines = _build(parent="python", wheels=wheels)
    reused = lines == [f"{tag} is up to date (inputs {tag[-12:]})"]
    assert reused or any("with no network" in line for line in lines), lines
    engine = DockerSandbox(images={"python": tag}, warm=False)
    try:
        result = engine.run_python(f"import {WHEEL_MODULE}; print({WHEEL_MODULE}.VERSION)")
        assert (result.exit_code, result.stdout) == (0, "1.0\n"), result.stderr
    finally:
        engine.close()


def test_a_requirement_missing_from_the_wheelhouse_fails_the_build(tmp_path: Path) -> None:
    """No index, no network: pip cannot fall back to PyPI, and says so quickly."""
    wheels = write_wheel(tmp_path / "wheels").parent
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{WHEEL_MODULE}==1.0\n{TINY_REQUIREMENT}\n")
    image = custom_image("python", requirements, wheels=wheels)
    assert image.offline
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(SandboxError, match="building"):
        build_custom_image(image, progress=lines.append)
    assert time.monotonic() - started < 120
    assert any("No matching distribution found for tabulate" in line for line in lines), lines


def test_apt_packages_in_a_derived_bash_image(tmp_path: Path) -> None:
    tag, _ = _build(parent="bash", apt=["jq"])
    engine = DockerSandbox(images={"bash": tag}, warm=False)
    try:
        result = engine.run_bash("echo '{\"a\": [1, 2]}' | jq -c '.a'")
        assert (result.exit_code, result.stdout) == (0, "[1,2]\n"), result.stderr
    finally:
        engine.close()


def test_npm_packages_in_a_derived_node_image(tmp_path: Path) -> None:
    tag, _ = _build(parent="node", npm=[TINY_NPM])
    derived = DockerSandbox(images={"node": tag}, warm=False)
    default = DockerSandbox(warm=False)
    try:
        result = derived.run_node("const isNumber = require('is-number');\n"
                                  "import('is-number').then((m) => "
                                  "console.log(isNumber(5), m.default('x')));")
        assert (result.exit_code, result.stdout) == (0, "true false\n"), result.stderr
        missing = default.run_node("require('is-number')")
        assert missing.exit_code != 0 and "Cannot find module 'is-number'" in missing.stderr
    finally:
        derived.close()
        default.close()


def test_labels_name_the_language_and_the_inputs(requirements_image: str) -> None:
    client = docker.from_env()
    try:
        labels = client.images.get(requirements_image).labels
    finally:
        client.close()
    assert labels[LANGUAGE_LABEL] == "python"
    assert requirements_image.endswith(":" + labels[RECIPE_LABEL][:12])


# -- the front-ends take the image by name --------------------------------------------------------


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox_kernel", *args], input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_cli_run_and_doctor_take_the_image(requirements_image: str) -> None:
    ran = _cli("run", "python", "--image", requirements_image, stdin=IMPORT_TABULATE)
    assert (ran.returncode, ran.stdout.split()) == (0, ["1", "2"]), ran.stderr
    doctor = _cli("doctor", "--image", requirements_image, "--packages")
    assert f"contents of {requirements_image}" in doctor.stdout
    assert "python: Python 3.11" in doctor.stdout
    listed = doctor.stdout.split("packages in", 1)[1].split()
    assert "tabulate" in listed and listed[listed.index("tabulate") + 1] == "0.9.0"
    assert "numpy" in listed


def test_cli_builds_with_a_tag_and_reuses_it(requirements_image: str, tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(TINY_REQUIREMENT + "\n")
    tag = "sandbox-kernel-test-derived:tabulate"
    built = _cli("images", "build", "python", "--requirements", str(path), "--tag", tag)
    assert built.returncode == 0, built.stderr
    assert f"image ready: {tag}" in built.stdout
    again = _cli("images", "build", "python", "--requirements", str(path), "--tag", tag)
    assert "is up to date" in again.stdout
    assert _image_id(tag) == _image_id(requirements_image)  # same layers: the build cache
    refused = _cli("images", "build", "node", "--requirements", str(path))
    assert refused.returncode == 1 and "not a Python image" in refused.stderr


def test_magic_takes_the_image(requirements_image: str) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sandbox_kernel")
    shell.run_cell_magic("sandbox", f"python --image {requirements_image} --out derived",
                         IMPORT_TABULATE)
    assert shell.user_ns["derived"].split() == ["1", "2"]
    shell.run_line_magic("sandbox_config", f"--image python={requirements_image}")
    shell.run_cell_magic("sandbox", "python --out configured", IMPORT_TABULATE)
    assert shell.user_ns["configured"].split() == ["1", "2"]
    shell.run_line_magic("sandbox_config", "--reset")


def test_kernel_takes_the_image_from_its_environment(requirements_image: str) -> None:
    with running_kernel("sandbox-python", {"python_image": requirements_image}) as (_, kc):
        cell = execute(kc, IMPORT_TABULATE, timeout=120)
        assert cell.content["status"] == "ok", cell.outputs
        assert cell.text("stdout").split() == ["1", "2"]


def test_mcp_server_option_takes_the_image(requirements_image: str) -> None:
    from sandbox_kernel.cli.mcp import add_parser, config_from_args
    from sandbox_kernel.mcp.runner import ExecRequest, ExecService

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["mcp", "--image", f"py={requirements_image}"])
    config = config_from_args(args)
    assert config.images == {"python": requirements_image}
    service = ExecService(config)
    try:
        output = asyncio.run(service.execute(ExecRequest("python", IMPORT_TABULATE))).output
        assert output["output"].split() == ["1", "2"], output
    finally:
        service.shutdown()


@pytest.fixture(scope="module", autouse=True)
def _no_stray_test_tags() -> Iterator[None]:
    yield
    client = docker.from_env()
    try:
        client.images.remove("sandbox-kernel-test-derived:tabulate", noprune=True)
    except docker.errors.APIError:
        pass
    finally:
        client.close()
