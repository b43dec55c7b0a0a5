"""Files through the ``%%sandbox`` magic in a real ``python3`` kernel: ``--upload PATH`` from
the current directory (which it may not leave), ``--download GLOB`` back into it, in one-shot
cells and in sessions, with the rules of issue 14 (points 4 and 7)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from magic_kernel import KernelProbe


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelProbe]:
    probe = KernelProbe()
    try:
        assert probe.execute("%load_ext sandbox_kernel").status == "ok"
        yield probe
    finally:
        probe.shutdown()


@pytest.fixture
def folder(kernel: KernelProbe, tmp_path: Path) -> Path:
    here = tmp_path / "nb"
    (here / "data").mkdir(parents=True)
    (here / "data" / "simple_file.txt").write_text("simple\n")
    (tmp_path / "secret.txt").write_text("not for the sandbox")
    (here / "passwd").symlink_to("/etc/passwd")
    assert kernel.execute(f"%cd {here}\n%sandbox_config --reset").status == "ok"
    return here


def test_upload_and_download_in_a_one_shot_cell(kernel: KernelProbe, folder: Path) -> None:
    reply = kernel.execute(
        "%%sandbox python --upload data/simple_file.txt --download 'out/*'\n"
        "import os\nos.makedirs('out')\n"
        "open('out/result.txt', 'w').write(open('data/simple_file.txt').read().upper())\n"
        "print('ran')")
    assert reply.status == "ok", reply.error_text
    assert "ran" in reply.stdout
    assert "uploaded 1 file (7 bytes): data/simple_file.txt" in reply.stdout
    assert "downloaded 1 file (7 bytes): out/result.txt" in reply.stdout
    assert (folder / "out" / "result.txt").read_text() == "SIMPLE\n"


def test_files_persist_in_a_session(kernel: KernelProbe, folder: Path) -> None:
    assert kernel.execute("%%sandbox bash --session files --upload data\n"
                          "cp data/simple_file.txt kept.txt").status == "ok"
    reply = kernel.execute("%%sandbox bash --session files --download kept.txt\nls")
    assert reply.status == "ok", reply.error_text
    assert (folder / "kept.txt").read_text() == "simple\n"
    kernel.execute("%sandbox_stop files")


@pytest.mark.parametrize(("options", "message"), [
    ("--upload passwd", "outside the allowed directory"),
    ("--upload ../secret.txt", "outside the allowed directory"),
    ("--download ../x", "'..'"),
    ("--download /etc/passwd", "absolute"),
    ("--upload missing.txt", "no file matches"),
])
def test_bad_paths_are_usage_errors(kernel: KernelProbe, folder: Path, options: str,
                                    message: str) -> None:
    reply = kernel.execute(f"%%sandbox bash {options}\necho should not run")
    assert reply.status == "error"
    assert reply.ename == "UsageError"
    assert message in reply.evalue
    assert "should not run" not in reply.stdout


def test_sandbox_links_and_limits_are_errors_and_the_session_lives(
    kernel: KernelProbe, folder: Path
) -> None:
    kernel.execute("%sandbox_config --max-files 2")
    assert kernel.execute("%%sandbox python --session lim\nimport os\n"
                          "os.symlink('/etc/passwd', 'link')\n"
                          "for i in range(3): open(f'f{i}.txt', 'w').write('x')\n"
                          "state = 'kept'").status == "ok"
    reply = kernel.execute("%%sandbox python --session lim --download link\npass")
    assert reply.ename == "SandboxMagicError" and "symbolic link" in reply.evalue
    reply = kernel.execute("%%sandbox python --session lim --download 'f*.txt'\npass")
    assert reply.ename == "SandboxMagicError"
    assert "3 files is over the limit of 2 files" in reply.evalue
    assert not (folder / "f0.txt").exists()
    assert kernel.execute("%%sandbox python --session lim\nstate").results == ["'kept'"]
    kernel.execute("%sandbox_stop lim\n%sandbox_config --reset")
