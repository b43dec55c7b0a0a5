"""The image builder against the real daemon: the images exist, carry the current recipe hash, a
second build is a quick no-op, and images configured by environment variable are never built."""

from __future__ import annotations

import time

import docker
import pytest

from sandbox_kernel.backends.docker.images import (
    BASE_TAG,
    IMAGE_LABEL,
    RECIPE_LABEL,
    build_images,
    image_status,
    recipe_hash,
    recipe_text,
)
from sandbox_kernel.errors import SandboxError
from sandbox_kernel.languages import LANGUAGES

LANGUAGE_NAMES = list(LANGUAGES)


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
    return {name: _inspect(lang.default_image)[0] for name, lang in LANGUAGES.items()}


def test_status_reports_all_built_images_ok() -> None:
    assert image_status() == {name: "ok" for name in LANGUAGE_NAMES}


@pytest.mark.parametrize("language", LANGUAGE_NAMES)
def test_recipe_label_matches_the_current_recipe(language: str) -> None:
    labels = _labels(LANGUAGES[language].default_image)
    assert labels[IMAGE_LABEL] == "1"
    assert labels[RECIPE_LABEL] == recipe_hash(language)


def test_base_image_label_and_recipe_chain() -> None:
    assert _labels(BASE_TAG)[RECIPE_LABEL] == recipe_hash()
    for name in LANGUAGE_NAMES:
        # a language recipe includes the base recipe, so changing the base makes it stale
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
    assert tags == [lang.default_image for lang in LANGUAGES.values()]
    assert all("up to date" in line for line in lines), lines
    assert _ids() == ids


def test_alias_and_subset_build_is_a_no_op() -> None:
    lines: list[str] = []
    assert build_images(["py", "js"], progress=lines.append) == [
        LANGUAGES["python"].default_image, LANGUAGES["node"].default_image]
    assert len(lines) == 2 and all("up to date" in line for line in lines)


def test_unknown_language_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown language"):
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
    assert status["bash"] == status["node"] == "ok"
