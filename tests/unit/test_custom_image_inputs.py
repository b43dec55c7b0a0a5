"""Derived-image inputs, with no daemon: validation, the input hash, the generated Dockerfile."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_image_support import TINY_REQUIREMENT, write_wheel  # noqa: E402

from sandbox_kernel.backends.docker.custom_images import check_tag, custom_image  # noqa: E402
from sandbox_kernel.flavours import FLAVOURS, image_reference, resolve_flavour  # noqa: E402


def _requirements(tmp_path: Path, text: str = TINY_REQUIREMENT) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(text + "\n")
    return path


def test_same_inputs_same_hash_and_any_change_changes_it(tmp_path: Path) -> None:
    first = custom_image("python", _requirements(tmp_path))
    again = custom_image("py", _requirements(tmp_path))
    assert first.input_hash() == again.input_hash()
    assert first.default_tag() == f"sandbox-kernel-python-custom:{first.input_hash()[:12]}"
    changed = {
        custom_image("python", _requirements(tmp_path, "tabulate==0.8.10")).input_hash(),
        custom_image("python", _requirements(tmp_path), apt=["jq"]).input_hash(),
        custom_image("python-minimal", _requirements(tmp_path)).input_hash(),
    }
    assert first.input_hash() not in changed and len(changed) == 3


def test_wheel_content_is_part_of_the_hash(tmp_path: Path) -> None:
    write_wheel(tmp_path / "a")
    write_wheel(tmp_path / "b")
    write_wheel(tmp_path / "c", version="2.0")
    a, b, c = (custom_image("python", wheels=tmp_path / d) for d in "abc")
    assert a.input_hash() == b.input_hash() != c.input_hash()
    assert a.offline and not custom_image("python", wheels=tmp_path / "a", apt=["jq"]).offline
    assert not custom_image("python-minimal", wheels=tmp_path / "a").offline  # needs apt's pip


def test_wheels_never_reach_the_final_stage(tmp_path: Path) -> None:
    image = custom_image("python", _requirements(tmp_path), wheels=write_wheel(tmp_path).parent)
    dockerfile = image.dockerfile()
    final = dockerfile.rsplit("\nFROM ", 1)[1]
    assert final.startswith("apt\n")
    assert "COPY --from=build /sandbox-kernel-root/ /" in final
    assert "COPY build/" not in final
    assert "--no-index --find-links wheels -r requirements.txt" in image.install_script()
    assert set(image.context()) == {"Dockerfile", "build/install.sh", "build/host-ca.pem",
                                    "build/requirements.txt",
                                    "build/wheels/skwheelhouse_probe-1.0-py3-none-any.whl"}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "needs --requirements, --apt, --npm or --wheels"),
    ({"npm": ["left-pad"]}, "is not a Node image"),
    ({"apt": ["jq; rm -rf /"]}, "not a Debian package name"),
    ({"apt": ["-o=APT::X"]}, "not a Debian package name"),
])
def test_bad_inputs_are_value_errors(kwargs: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        custom_image("python", **kwargs)  # type: ignore[arg-type]


def test_npm_and_requirements_belong_to_their_language(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a Python image"):
        custom_image("node", _requirements(tmp_path))
    with pytest.raises(ValueError, match="not an npm package name"):
        custom_image("node", npm=["https://evil.example/x.tgz"])
    with pytest.raises(ValueError, match="no \\*.whl"):
        custom_image("python", wheels=tmp_path)
    image = custom_image("node-debian", npm=["is-number@7.0.0", "@types/node"])
    assert image.install_script().rstrip().endswith("is-number@7.0.0 @types/node")


def test_oversized_requirements_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="over"):
        custom_image("python", _requirements(tmp_path, "x" * (1024 * 1024 + 1)))


def test_tags() -> None:
    assert check_tag("my-sci") == "my-sci:latest"
    assert check_tag("team/sci:1.2") == "team/sci:1.2"
    assert check_tag("localhost:5000/sci") == "localhost:5000/sci:latest"
    for bad in ("Bad Name", "sandbox-kernel-python", "sandbox-kernel-base:bookworm", ""):
        with pytest.raises(ValueError):
            check_tag(bad)


def test_flavour_names_resolve_to_their_tags() -> None:
    assert image_reference("python-minimal") == "sandbox-kernel-python-minimal:latest"
    assert image_reference("my-image:1") == "my-image:1"
    assert resolve_flavour("js") is FLAVOURS["node"]
    assert resolve_flavour("node-debian").language == "node"
    with pytest.raises(ValueError, match="unknown image flavour"):
        resolve_flavour("cobol")
