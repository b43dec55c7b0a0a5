"""Fixtures of the browser tests: one JupyterLab server and one chromium for the session, a fresh
browser context (page) per test, and numbered screenshots in ``artifacts/e2e/<test>/``.

Set ``SANDBOX_KERNEL_E2E=0`` to skip these tests; otherwise a missing chromium is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from e2e_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    UI_TIMEOUT_MS,
    JupyterLab,
    Screenshots,
    chromium_missing,
)
from playwright.sync_api import Browser, Page, sync_playwright


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: JupyterLab in a real browser (tests/e2e)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)
            if os.environ.get("SANDBOX_KERNEL_E2E") == "0":
                item.add_marker(pytest.mark.skip(reason="SANDBOX_KERNEL_E2E=0"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    server = JupyterLab.start(tmp_path_factory.mktemp("jupyterlab"), ARTIFACTS / "jupyterlab.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = chromium_missing()
    if reason is not None:
        pytest.fail(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, lab: JupyterLab, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh context and page; the browser console goes to ``artifacts/e2e/<test>/console.log``
    and a failing test leaves a last screenshot ``FAILED.png`` beside its step screenshots.
    Afterwards the kernels the test started are shut down (with their sandboxes)."""
    directory = ARTIFACTS / request.node.name
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    context.set_default_navigation_timeout(60_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    try:
        yield page
    finally:
        if request.node.stash.get(FAILED, False):
            directory.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(directory / "FAILED.png"), timeout=UI_TIMEOUT_MS)
            except Exception as exc:  # the page may be gone; the report has the real error
                console.append(f"(no failure screenshot: {exc})")
        if directory.is_dir():
            (directory / "console.log").write_text("\n".join(console) + "\n")
        context.close()
        lab.shutdown_kernels()


@pytest.fixture
def shot(page: Page, request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots(page, ARTIFACTS / request.node.name)
