"""The public API users depend on (../shared/CONTRACT.md), and import without side effects."""

from __future__ import annotations

import subprocess
import sys

import sandbox_kernel


def test_all_is_pinned() -> None:
    assert sorted(sandbox_kernel.__all__) == [
        "DockerSandbox", "ExecutionResult", "Limits", "SandboxError", "SandboxUnavailable",
        "load_ipython_extension", "unload_ipython_extension",
    ]
    for name in sandbox_kernel.__all__:
        assert getattr(sandbox_kernel, name) is not None


def test_errors_form_the_documented_hierarchy() -> None:
    assert issubclass(sandbox_kernel.SandboxUnavailable, sandbox_kernel.SandboxError)
    assert issubclass(sandbox_kernel.SandboxError, Exception)


def test_import_loads_no_container_library_and_starts_no_thread() -> None:
    probe = ("import sandbox_kernel, sys, threading; "
             "print('docker' in sys.modules, 'requests' in sys.modules, threading.active_count())")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "1"]


def test_cli_help_loads_no_container_library() -> None:
    probe = ("import sys; from sandbox_kernel.cli import build_parser; build_parser(); "
             "print('docker' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False"]


def test_engine_without_a_daemon_is_sandbox_unavailable_before_any_run() -> None:
    engine = sandbox_kernel.DockerSandbox(base_url="unix:///nonexistent/docker.sock", warm=False)
    try:
        engine.run("python", "print(1)", 5)
    except sandbox_kernel.SandboxUnavailable as exc:
        assert "bootstrap.sh setup" in str(exc)
    else:
        raise AssertionError("a run without a daemon must raise SandboxUnavailable")
