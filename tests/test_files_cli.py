"""``sandbox-kernel run LANGUAGE FILE --file ... --collect ...`` (issue 14, points 6 and 7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROGRAM = """import os
os.makedirs('out', exist_ok=True)
open('out/upper.csv', 'w').write(open('data.csv').read().upper())
os.symlink('/etc/passwd', 'out/passwd')
print('ran')
"""


def sandbox_kernel(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox_kernel", *args], cwd=cwd,
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_run_with_files_and_collect_never_overwrites_without_force(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n")
    (tmp_path / "prog.py").write_text(PROGRAM)
    run = sandbox_kernel(tmp_path, "run", "python", "prog.py", "--file", "data.csv",
                         "--collect", "out/*", "--out-dir", "results")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "ran\n"
    assert "collected 1 file (4 bytes): out/upper.csv" in run.stderr
    target = tmp_path / "results" / "out" / "upper.csv"
    assert target.read_text() == "A,B\n"
    assert not (tmp_path / "results" / "out" / "passwd").exists()  # globs skip links

    target.write_text("edited by hand")
    again = sandbox_kernel(tmp_path, "run", "python", "prog.py", "--file", "data.csv",
                           "--collect", "out/*", "--out-dir", "results")
    assert again.returncode == 2  # the program ran; the host side refused: a usage error
    assert "exists; not overwritten (use --force)" in again.stderr
    assert target.read_text() == "edited by hand"

    forced = sandbox_kernel(tmp_path, "run", "python", "prog.py", "--file", "data.csv",
                            "--collect", "out/*", "--out-dir", "results", "--force")
    assert forced.returncode == 0, forced.stderr
    assert target.read_text() == "A,B\n"


def test_run_refuses_bad_names_links_and_counts(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n")
    (tmp_path / "prog.py").write_text(PROGRAM)
    bad = sandbox_kernel(tmp_path, "run", "python", "prog.py", "--collect", "../x")
    assert bad.returncode == 2 and "'..'" in bad.stderr and "ran" not in bad.stdout
    link = sandbox_kernel(tmp_path, "run", "python", "prog.py", "--file", "data.csv",
                          "--collect", "out/passwd")
    assert link.returncode == 125 and "symbolic link" in link.stderr
    assert not (tmp_path / "out").exists()
    many = sandbox_kernel(tmp_path, "run", "bash", "-", "--collect", "*", "--max-files", "2",
                          stdin="touch a b c")
    assert many.returncode == 125
    assert "over the limit of 2 files" in many.stderr
