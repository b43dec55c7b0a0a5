"""The image builder against the real daemon: the images exist, carry the current recipe hash, a
second build is a quick no-op, and images configured by environment variable are never built."""

from __future__ import annotations

import time

import docker
import pytest

from sandbox_kernel.backends.docker.images import (
    BASE_TAG,
    DEFAULT_FLAVOURS,
    FLAVOUR_LABEL,
    FLAVOURS,
    IMAGE_LABEL,
    LANGUAGE_LABEL,
    RECIPE_LABEL,
    build_images,
    image_status,
    recipe_files,
    recipe_hash,
    recipe_text,
)
from sandbox_kernel.errors import SandboxError
from sandbox_kernel.languages import LANGUAGES

LANGUAGE_NAMES = list(LANGUAGES)
DEFAULT_TAGS = [FLAVOURS[name].tag for name in DEFAULT_FLAVOURS]


@pytest.fixture(autouse=True)
def _default_images(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LANGUAGE_NAMES:
        monkeypatch.delenv(f"SANDBOX_KERNEL_{name.upper()}_IMAGE", raising=False)


def _inspect(image: str) -> tuple[str, dict[str, str]]:
    client = docker.from_env()
    try:
        found = client.images.get(image)
        return str(found.id), dict(found.labels or {})
    finally:
        client.close()


def _labels(image: str) -> dict[str, str]:
    return _inspect(image)[1]


def _ids() -> dict[str, str]:
    return {name: _inspect(FLAVOURS[name].tag)[0] for name in DEFAULT_FLAVOURS}


def test_status_reports_the_default_flavours_ok() -> None:
    status = image_status()
    assert set(status) == set(FLAVOURS)
    assert {name: status[name] for name in DEFAULT_FLAVOURS} == {
        name: "ok" for name in DEFAULT_FLAVOURS}


def test_each_language_defaults_to_its_flavour() -> None:
    for name, lang in LANGUAGES.items():
        assert FLAVOURS[name].tag == lang.default_image
        assert FLAVOURS[name].language == name


@pytest.mark.parametrize("flavour", DEFAULT_FLAVOURS)
def test_recipe_label_matches_the_current_recipe(flavour: str) -> None:
    labels = _labels(FLAVOURS[flavour].tag)
    assert labels[IMAGE_LABEL] == "1"
    assert labels[RECIPE_LABEL] == recipe_hash(flavour)
    assert labels[FLAVOUR_LABEL] == flavour
    assert labels[LANGUAGE_LABEL] == FLAVOURS[flavour].language


def test_recipe_hash_covers_the_copied_files() -> None:
    files = recipe_files("python")
    assert list(files)[0] == "python/Dockerfile"
    assert "shims/python/pip/__init__.py" in files
    assert "shims/python/install.sh" in files
    assert "# --- shims/python/install.sh ---" in recipe_text("python")
    assert "shims/python/install.sh" not in recipe_files("bash")
    assert all("__pycache__" not in path for path in files)


def test_base_image_label_and_recipe_chain() -> None:
    assert _labels(BASE_TAG)[RECIPE_LABEL] == recipe_hash()
    for name in FLAVOURS:
        # a flavour's recipe includes the base recipe, so changing the base makes it stale
        assert recipe_text(name).startswith(recipe_text())
        assert recipe_hash(name) != recipe_hash()
        assert f"FROM {BASE_TAG}" in recipe_text(name)


def test_second_build_is_a_quick_no_op() -> None:
    ids = _ids()
    lines: list[str] = []
    started = time.monotonic()
    tags = build_images(progress=lines.append)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"no-op build took {elapsed:.1f} s"
    assert tags == DEFAULT_TAGS
    assert all("up to date" in line for line in lines), lines
    assert _ids() == ids


def test_alias_and_subset_build_is_a_no_op() -> None:
    lines: list[str] = []
    assert build_images(["py", "js"], progress=lines.append) == [
        LANGUAGES["python"].default_image, LANGUAGES["node"].default_image]
    assert len(lines) == 2 and all("up to date" in line for line in lines)


def test_unknown_language_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown image flavour or language"):
        build_images(["cobol"])


def test_overridden_image_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_KERNEL_PYTHON_IMAGE", "python:3.11-slim")
    with pytest.raises(SandboxError) as info:
        build_images(["python"])
    message = str(info.value)
    assert "python:3.11-slim" in message
    assert "SANDBOX_KERNEL_PYTHON_IMAGE" in message
    assert "not building" in message


def test_overridden_image_is_skipped_when_building_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_KERNEL_PYTHON_IMAGE", "python:3.11-slim")
    lines: list[str] = []
    tags = build_images(progress=lines.append)
    assert "python:3.11-slim" not in tags
    assert LANGUAGES["python"].default_image not in tags
    assert any("not building python:3.11-slim" in line for line in lines), lines
    status = image_status()
    assert status["python"] in {"ok", "missing"}  # present or not, never "stale": not ours
    assert status["bash"] == status["node"] == status["python-minimal"] == "ok"
