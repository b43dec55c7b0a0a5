"""Files in and out of real sandboxes through the Python API (issue 14, points 1, 2 and 7).

Every rule is checked against the real daemon: bad names fail before a container exists; a link
to /etc/passwd or /proc/self/environ gives an error, not the file; limits name the file and the
limit and leave the session running; ten thousand small files; a file still being written.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_kernel import DockerSandbox, Limits, SandboxError
from sandbox_kernel.engine.session import SandboxSession
from sandbox_kernel.engine.workspace import TransferError
from sandbox_kernel.limits import MiB

UNREACHABLE = "unix:///nonexistent/docker.sock"


@pytest.fixture
def python(sandbox: DockerSandbox) -> Iterator[SandboxSession]:
    with sandbox.session("python") as session:
        yield session


@pytest.fixture
def bash(sandbox: DockerSandbox) -> Iterator[SandboxSession]:
    with sandbox.session("bash") as session:
        yield session


def test_upload_download_and_list_in_a_session(python: SandboxSession, tmp_path: Path) -> None:
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "one.txt").write_text("1")
    (tmp_path / "tree" / "sub" / "two.bin").write_bytes(b"\x00\xff")
    (tmp_path / "single.csv").write_text("a,b\n")
    assert python.upload(b"hello", "data/simple_file.txt") == ["data/simple_file.txt"]
    assert python.upload(tmp_path / "tree") == ["tree/one.txt", "tree/sub/two.bin"]
    assert python.upload(str(tmp_path / "single.csv"), "in/data.csv") == ["in/data.csv"]
    result = python.run("import os\nprint(open('data/simple_file.txt').read(), "
                        "os.stat('in/data.csv').st_uid)\n"
                        "open('out.bin', 'wb').write(bytes(range(256)))")
    assert result.stdout == "hello 65534\n"  # written by the sandbox user, not root
    assert python.download("out.bin") == bytes(range(256))
    assert python.download("tree/sub/two.bin") == b"\x00\xff"
    assert python.list_files() == ["data/simple_file.txt", "in/data.csv", "out.bin",
                                   "tree/one.txt", "tree/sub/two.bin"]
    assert python.list_files("tree") == ["tree/one.txt", "tree/sub/two.bin"]
    assert python.collect(["**/*.txt"]) == {"data/simple_file.txt": b"hello",
                                            "tree/one.txt": b"1"}
    with pytest.raises(FileNotFoundError):
        python.download("missing.txt")
    with pytest.raises(TransferError, match="directory"):
        python.download("tree")


def test_the_transfer_exec_has_the_sandbox_users_privileges(
    sandbox: DockerSandbox, python: SandboxSession
) -> None:
    assert python.container_id is not None
    out = sandbox.exec(python.container_id, ["sh", "-c", "id -u; grep -E 'NoNewPrivs|CapEff' "
                                             "/proc/self/status; pwd"], b"",
                       stdout_cap=4096, timeout=10)
    assert out.exit_code == 0
    assert out.stdout.decode().split() == ["65534", "CapEff:", "0000000000000000",
                                           "NoNewPrivs:", "1", "/workspace"]


@pytest.mark.parametrize("bad", ["../escape.txt", "/etc/passwd", "a/../../b", "nul\x00name",
                                 "n\x1b]0;T\x07.txt", "cod\u202eexe.txt"])
def test_bad_names_fail_before_a_container_is_touched(bad: str) -> None:
    # This engine cannot reach any daemon: reaching it would raise SandboxUnavailable instead.
    engine = DockerSandbox(base_url=UNREACHABLE, warm=False)
    session = engine.session("python")
    reason = "absolute|'..'|NUL|control character"
    with pytest.raises(ValueError, match=reason):
        session.upload(b"x", bad)
    with pytest.raises(ValueError, match=reason):
        session.download(bad)
    with pytest.raises(ValueError, match=reason):
        session.list_files(bad)
    with pytest.raises(ValueError, match=reason):
        engine.run("python", "pass", files={bad: b"x"})
    with pytest.raises(ValueError, match=reason):
        engine.run("python", "pass", collect=[bad])
    with pytest.raises(ValueError, match="over the limit"):
        engine.run("python", "pass", files={"big": b"x" * (64 * MiB + 1)})
    assert session.container_id is None


def test_collect_brings_no_hidden_name_and_no_unshowable_name(bash: SandboxSession) -> None:
    """The API's (and so the CLI's and MCP's) ``collect`` follows the shell's hidden-name rule,
    and a name with an escape sequence or a bidirectional override never comes out at all."""
    bash.run("mkdir -p sub/.git/hooks .ipython; for f in .bashrc sub/.git/hooks/pre-commit "
             "sub/ok.txt result.csv $'n\\e]0;T\\a.txt' $'cod\\u202eexe.txt'; do "
             "echo x > \"$f\"; done")
    assert sorted(bash.collect(["*"])) == ["result.csv", "sub/ok.txt"]
    assert sorted(bash.collect(["**"])) == ["result.csv", "sub/ok.txt"]
    assert sorted(bash.collect([".*", "sub/.git/hooks/*"])) == [
        ".bashrc", "sub/.git/hooks/pre-commit"]
    assert bash.list_files() == [".bashrc", "result.csv", "sub/.git/hooks/pre-commit",
                                 "sub/ok.txt"]  # a listing shows hidden names, as find does


def test_links_out_of_the_working_directory_give_errors_not_files(bash: SandboxSession) -> None:
    bash.run("ln -s /etc/passwd passwd; ln -s /proc/self/environ environ; ln -s /etc etc; "
             "echo mine > mine.txt")
    for link in ("passwd", "environ"):
        with pytest.raises(TransferError, match="symbolic link"):
            bash.download(link)
        with pytest.raises(TransferError, match="symbolic link"):
            bash.collect([link])
    # Through a linked directory: find never descends into it, so there is nothing by that name.
    with pytest.raises(FileNotFoundError):
        bash.download("etc/passwd")
    assert bash.collect(["etc/*"]) == {}
    # Globs skip links and bring the regular files only.
    assert bash.collect(["*"]) == {"mine.txt": b"mine\n"}
    assert bash.list_files() == ["mine.txt"]
    assert bash.run("echo still here").stdout == "still here\n"


def test_limits_name_the_file_and_the_session_stays_healthy(sandbox: DockerSandbox) -> None:
    limits = Limits(max_transfer_file=MiB, max_transfer_total=3 * MiB // 2, max_files=5)
    with sandbox.session("python", limits) as session:
        session.run("state = 'kept'")
        with pytest.raises(ValueError, match=r"'big.bin' is 1048577 bytes, over the limit of "
                                             r"1 MiB per file"):
            session.upload(b"x" * (MiB + 1), "big.bin")
        session.run("open('made.bin', 'wb').write(b'x' * (2 * 1024 * 1024))\n"
                    "for i in range(6): open(f'many{i}.txt', 'w').write('m')\n"
                    "open('a.bin', 'wb').write(b'x' * 1000000)\n"
                    "open('b.bin', 'wb').write(b'x' * 1000000)")
        with pytest.raises(TransferError, match=r"'made.bin' is 2097152 bytes, over the limit "
                                                r"of 1 MiB per file"):
            session.download("made.bin")
        with pytest.raises(TransferError, match="6 files is over the limit of 5 files"):
            session.collect(["many*"])
        with pytest.raises(TransferError, match=r"'b.bin' brings the transfer to 2000000 bytes"):
            session.collect(["a.bin", "b.bin"])
        assert session.run("state").value == "'kept'"
        assert session.starts == 1


def test_a_full_working_directory_fails_the_upload_not_the_session(
    sandbox: DockerSandbox
) -> None:
    limits = Limits(workdir_size=2 * MiB, max_transfer_total=8 * MiB, max_transfer_file=8 * MiB)
    with sandbox.session("bash", limits) as session:
        with pytest.raises(TransferError, match="into the sandbox failed: tar: too-big.bin"):
            session.upload(b"x" * (3 * MiB), "too-big.bin")
        assert session.run("echo alive").stdout == "alive\n"
        assert session.starts == 1


def test_ten_thousand_small_files(sandbox: DockerSandbox) -> None:
    limits = Limits(max_files=10_000)
    files = {f"many/{i:05d}.txt": str(i).encode() for i in range(10_000)}
    with sandbox.session("bash", limits) as session:
        started = time.monotonic()
        session.put_files(files)
        uploaded = time.monotonic()
        assert session.run("ls many | wc -l").stdout.strip() == "10000"
        listed = session.list_files("many")
        collected = session.collect(["many/*"])
        done = time.monotonic()
        assert len(listed) == 10_000
        assert collected == files
        with pytest.raises(TransferError, match="10001 files is over the limit of 10000"):
            session.run("echo x > many/extra.txt")
            session.collect(["many/*"])
    print(f"\n10,000 files: upload {uploaded - started:.2f} s, "
          f"list + collect {done - uploaded:.2f} s")
    assert done - started < 60


def _check_prefix(data: bytes) -> None:
    """What a download of the growing file returned must be a prefix of what is written."""
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1]):
        assert line == b"line%d" % number
    assert (b"line%d" % (len(lines) - 1)).startswith(lines[-1])


def test_downloading_a_file_that_is_still_being_written(bash: SandboxSession) -> None:
    bash.run("( i=0; while [ $i -lt 3000000 ]; do echo line$i; i=$((i+1)); done > grow.txt ) "
             "> /dev/null 2>&1 &")
    outcomes = []
    for _ in range(8):
        started = time.monotonic()
        try:
            data = bash.download("grow.txt")
        except TransferError as exc:
            outcomes.append(f"error: {exc}")
        else:
            _check_prefix(data)
            outcomes.append(f"{len(data)} bytes")
        assert time.monotonic() - started < 30  # never hangs
    assert any(o.endswith("bytes") for o in outcomes), outcomes
    assert bash.run("echo alive").stdout == "alive\n"
    assert bash.starts == 1
    print(f"\ndownloads of a growing file: {outcomes}")


def test_one_shot_runs_place_and_collect_files(sandbox: DockerSandbox) -> None:
    result = sandbox.run(
        "python",
        "import os, subprocess\n"
        "os.makedirs('out/deep')\n"
        "data = open('in/data.csv').read()\n"
        "open('out/upper.csv', 'w').write(data.upper())\n"
        "open('out/deep/x.bin', 'wb').write(b'\\x00\\x01')\n"
        "os.symlink('/etc/passwd', 'out/passwd')\n"
        # A writer left behind must not change the files while they are read.
        "subprocess.Popen(['sh', '-c', 'while :; do echo more >> out/upper.csv; done'])\n"
        "print('done')",
        files={"in/data.csv": b"a,b\n1,2\n"},
        collect=["out/**"])
    assert result.stdout == "done\n" and result.exit_code == 0
    assert set(result.files) == {"out/upper.csv", "out/deep/x.bin"}
    assert result.files["out/upper.csv"].startswith(b"A,B\n1,2\n")
    assert result.files["out/deep/x.bin"] == b"\x00\x01"
    # Without collect, the container is not kept after the program.
    plain = sandbox.run("bash", "cat in.txt", files={"in.txt": b"given"})
    assert plain.stdout == "given" and plain.files == {}


def test_one_shot_collection_over_a_limit_keeps_the_runs_result(sandbox: DockerSandbox) -> None:
    with pytest.raises(TransferError, match="3 files is over the limit of 2 files") as caught:
        sandbox.run("bash", "touch a b c; echo ran", limits=Limits(max_files=2),
                    collect=["*"])
    assert caught.value.result is not None
    assert caught.value.result.stdout == "ran\n"
    with pytest.raises(TransferError, match="symbolic link"):
        sandbox.run("bash", "ln -s /proc/self/environ env", collect=["env"])
    assert isinstance(caught.value, SandboxError) and isinstance(caught.value, ValueError)


def test_files_under_gvisor(sandbox: DockerSandbox) -> None:
    if "runsc" not in sandbox.runtimes():
        pytest.fail("gVisor (runsc) is not registered with the daemon")
    engine = DockerSandbox(runtime="runsc", warm=False)
    try:
        result = engine.run("python", "open('o.txt','w').write(open('i.txt').read() * 2)",
                            files={"i.txt": b"ab"}, collect=["o.txt"])
        assert result.files == {"o.txt": b"abab"}
        with engine.session("bash") as session:
            session.upload(b"x", "f.txt")
            assert session.download("f.txt") == b"x"
            session.run("ln -s /etc/passwd p")
            with pytest.raises(TransferError, match="symbolic link"):
                session.download("p")
    finally:
        engine.close()
