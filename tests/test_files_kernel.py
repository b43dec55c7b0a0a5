"""Files through the Jupyter kernels: ``%upload``/``%download`` directives on the host, the
``upload_on_start`` trait (also after a restart), and a notebook that reads a data file next to
it, run by nbclient (issue 14, points 3 and 7)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kernel_support
import nbformat
import pytest
from kernel_support import execute, running_kernel
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parent / "notebooks" / "reads-data"


@pytest.fixture
def notebook_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "project" / "nb"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "a.csv").write_text("x,y\n1,2\n")
    (folder / "data" / "b.csv").write_text("x,y\n3,4\n")
    (tmp_path / "project" / "secret.txt").write_text("outside the notebook's folder")
    (folder / "passwd").symlink_to("/etc/passwd")
    return folder


@pytest.fixture
def kernel(notebook_dir: Path) -> Iterator[Any]:
    with running_kernel("sandbox-python", {"max_files": "4"}, cwd=notebook_dir) as (_, kc):
        yield kc


def test_upload_and_download_directives(kernel: Any, notebook_dir: Path) -> None:
    cell = execute(kernel, "%upload data/*.csv\n"
                           "import glob\nprint(sorted(glob.glob('data/*')))")
    assert cell.content["status"] == "ok", cell.outputs
    assert "['data/a.csv', 'data/b.csv']" in cell.text("stdout")
    assert "uploaded 2 files (16 bytes): data/a.csv, data/b.csv" in cell.text("stdout")
    cell = execute(kernel, "%upload data/a.csv renamed.csv\nprint(open('renamed.csv').read())")
    assert "x,y\n1,2" in cell.text("stdout")
    cell = execute(kernel, "%download out/*.txt results/\n"
                           "import os\nos.makedirs('out', exist_ok=True)\n"
                           "for n in 'pq': open(f'out/{n}.txt', 'w').write(n * 3)")
    assert cell.content["status"] == "ok", cell.outputs
    assert "downloaded 2 files (6 bytes): out/p.txt, out/q.txt" in cell.text("stdout")
    assert (notebook_dir / "results" / "out" / "p.txt").read_text() == "ppp"
    cell = execute(kernel, "%download out/p.txt\npass")
    assert (notebook_dir / "out" / "p.txt").read_text() == "ppp"


def test_download_star_leaves_hidden_names_in_the_sandbox(kernel: Any, notebook_dir: Path) -> None:
    """Shell rules: ``*`` brings no dotfile and no hidden directory's content, so a sandbox cannot
    plant ``.bashrc``, IPython startup files or git hooks through a careless ``%download *``."""
    cell = execute(kernel, "%download * planted/\nimport os\n"
                           "for name in ('.bashrc', '.ipython/profile_default/startup/00-x.py',"
                           " 'sub/.git/hooks/pre-commit', 'sub/ok.txt', 'result.csv'):\n"
                           "    os.makedirs(os.path.dirname(name) or '.', exist_ok=True)\n"
                           "    open(name, 'w').write('print(1)')")
    assert cell.content["status"] == "ok", cell.outputs
    assert "downloaded 2 files (16 bytes): result.csv, sub/ok.txt" in cell.text("stdout")
    planted = notebook_dir / "planted"
    assert sorted(str(p.relative_to(planted)) for p in planted.rglob("*") if p.is_file()) == [
        "result.csv", "sub/ok.txt"]


@pytest.mark.parametrize(("code", "message"), [
    ("%upload passwd\npass", "outside the allowed directory"),
    ("%upload ../secret.txt\npass", "outside the allowed directory"),
    ("%upload nothing*.csv\npass", "no file matches"),
    ("%upload data/a.csv ../up.csv\npass", "'..'"),
    ("%upload data/a.csv /abs.csv\npass", "absolute"),
    ("%download ../x\npass", "'..'"),
    ("%download missing.txt\npass", "no file in the sandbox matches"),
    ("%download\npass", "PATH"),
])
def test_directive_errors_fail_the_cell_before_it_runs(
    kernel: Any, code: str, message: str
) -> None:
    cell = execute(kernel, code)
    assert cell.content["status"] == "error"
    assert message in cell.error["evalue"], cell.error


def test_sandbox_links_and_limits_fail_the_cell_and_keep_the_session(
    kernel: Any, notebook_dir: Path
) -> None:
    execute(kernel, "import os\nos.symlink('/etc/passwd', 'passwd')\nstate = 'kept'")
    cell = execute(kernel, "%download passwd\npass")
    assert cell.content["status"] == "error"
    assert cell.error["ename"] == "TransferError"
    assert "symbolic link" in cell.error["evalue"]
    assert (notebook_dir / "passwd").is_symlink()  # the host's file was not touched
    cell = execute(kernel, "%download many/*\n"
                           "os.makedirs('many')\n"
                           "for i in range(5): open(f'many/{i}', 'w').write('x')")
    assert cell.content["status"] == "error"
    assert "5 files is over the limit of 4 files" in cell.error["evalue"]
    assert not (notebook_dir / "many").exists()
    assert execute(kernel, "state").value == "'kept'"


def test_files_root_confines_the_directives(notebook_dir: Path) -> None:
    # A root above the notebook's folder lets %upload reach a sibling file.
    root = notebook_dir.parent
    with running_kernel("sandbox-python", {"files_root": str(root)}, cwd=notebook_dir) as (_, kc):
        cell = execute(kc, "%upload ../secret.txt\nprint(open('secret.txt').read())")
        assert "outside the notebook's folder" in cell.text("stdout"), cell.outputs


@pytest.mark.parametrize("mode", ["session", "fresh"])
def test_upload_on_start_and_again_after_a_restart(notebook_dir: Path, mode: str) -> None:
    settings = {"upload_on_start": "data/*.csv:missing/*", "mode": mode}
    with running_kernel("sandbox-python", settings, cwd=notebook_dir) as (_, kc):
        cell = execute(kc, "print(open('data/a.csv').read().splitlines()[1])")
        assert cell.text("stdout") == "1,2\n", cell.outputs
        if mode == "session":
            execute(kc, "import os\nos.remove('data/a.csv')\nos._exit(3)")
            cell = execute(kc, "print(open('data/b.csv').read().splitlines()[1])")
            assert "restarted" in cell.text("stderr")
            assert cell.text("stdout") == "3,4\n", cell.outputs


def test_a_notebook_that_reads_a_data_file_next_to_it(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "reads-data"
    shutil.copytree(NOTEBOOK_DIR, folder)
    for name, value in kernel_support.kernel_env(upload_on_start="data/**").items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(folder / "reads-data.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(notebook, timeout=120, kernel_name="sandbox-python",
                            resources={"metadata": {"path": str(folder)}})
    client.execute()
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    texts = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "2 This is a simple file next to the notebook." in texts
    assert "downloaded 1 file" in texts
    assert (folder / "summary.txt").read_text() == "THIS IS A SIMPLE FILE NEXT TO THE NOTEBOOK."


def test_download_of_a_file_still_being_written(notebook_dir: Path) -> None:
    with running_kernel("sandbox-bash", cwd=notebook_dir) as (_, kc):
        execute(kc, "( i=0; while [ $i -lt 3000000 ]; do echo line$i; i=$((i+1)); done "
                    "> grow.txt ) >/dev/null 2>&1 &")
        statuses = []
        for _ in range(4):
            cell = execute(kc, "%download grow.txt\ntrue", timeout=60)
            statuses.append(cell.content["status"])
            if cell.content["status"] == "ok":
                lines = (notebook_dir / "grow.txt").read_bytes().split(b"\n")
                assert all(line == b"line%d" % n for n, line in enumerate(lines[:-1]))
            else:
                assert cell.error["ename"] == "TransferError", cell.error
        assert "ok" in statuses
        assert execute(kc, "echo alive").text("stdout") == "alive\n"
