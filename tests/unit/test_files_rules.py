"""File-transfer rules without a daemon: names, globs, limits, hostile tar streams, host paths,
kernel directives (issue 14, point 2)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox_kernel.files import host
from sandbox_kernel.files.archive import ArchiveError, pack, unpack
from sandbox_kernel.files.globs import check_patterns, matches, selects
from sandbox_kernel.files.names import check_name
from sandbox_kernel.files.rules import TransferRules
from sandbox_kernel.jupyter.directives import Transfer, parse_cell
from sandbox_kernel.limits import Limits

RULES = TransferRules(max_file_size=100, max_total=150, max_files=3)


# -- names and globs ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x", "a/../../x", "a/..", "x\x00y", "", ".",
                                 "./", "\udcff"])
def test_bad_names_are_value_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        check_name(bad)


def test_names_are_normalised() -> None:
    assert check_name("./a//b/./c") == "a/b/c"
    assert check_name(".", allow_root=True) == "."


@given(st.text(min_size=1, max_size=40))
def test_a_checked_name_never_leaves_the_working_directory(name: str) -> None:
    try:
        clean = check_name(name)
    except ValueError:
        return
    assert not clean.startswith("/")
    assert ".." not in clean.split("/")
    assert "\x00" not in clean


def test_globs_follow_shell_rules_per_segment() -> None:
    assert matches("out/*", "out/a.png")
    assert not matches("out/*", "out/sub/a.png")
    assert matches("**/*.csv", "a/b/c.csv") and matches("**/*.csv", "c.csv")
    assert matches("out/**", "out/a/b")
    assert matches("[ab].txt", "a.txt") and not matches("[!ab].txt", "a.txt")
    assert not matches("a?c", "a/c")
    assert matches("data.csv", "data.csv") and not matches("data.csv", "xdata.csv")
    assert selects("out", "out/a/b.txt") and selects("o*", "out/b.txt")
    assert not selects("out", "outer/b.txt")
    with pytest.raises(ValueError):
        check_patterns("out/*")  # a bare string would be taken letter by letter
    with pytest.raises(ValueError):
        check_patterns(["../*"])


PLANTED = [".bashrc", ".ipython/profile_default/startup/00-x.py", "sub/.git/hooks/pre-commit",
           "result.csv", "sub/a.txt", "x/y/z.py"]
"""What a hostile sandbox leaves for a careless ``%download *``: files that run code on the host."""


@pytest.mark.parametrize(("pattern", "brought"), [
    ("*", ["result.csv", "sub/a.txt", "x/y/z.py"]),
    ("**", ["result.csv", "sub/a.txt", "x/y/z.py"]),
    ("**/*", ["result.csv", "sub/a.txt", "x/y/z.py"]),
    ("sub", ["sub/a.txt"]),
    ("s?b/*", ["sub/a.txt"]),
    ("[.r]*", ["result.csv"]),
    # A hidden name comes when the pattern spells its dot.
    (".bashrc", [".bashrc"]),
    (".ipython/**", [".ipython/profile_default/startup/00-x.py"]),
    ("sub/.git/hooks/*", ["sub/.git/hooks/pre-commit"]),
])
def test_wildcards_never_bring_hidden_names(pattern: str, brought: list[str]) -> None:
    assert [name for name in PLANTED if selects(pattern, name)] == brought


# -- limits -------------------------------------------------------------------------------------


def test_rules_default_to_the_working_directory_size() -> None:
    limits = Limits(workdir_size="2m")
    rules = TransferRules.from_limits(limits)
    assert rules.max_file_size == rules.max_total == 2 * 2**20
    assert rules.max_files == 1000
    assert TransferRules.from_limits(Limits(max_transfer_file=10)).max_file_size == 10


def test_files_over_a_limit_are_named_with_the_limit() -> None:
    with pytest.raises(ValueError, match=r"'big' is 101 bytes, over the limit of 100 bytes per"):
        RULES.check_files({"big": b"x" * 101})
    with pytest.raises(ValueError, match=r"'b' brings the transfer to 160 bytes.*150 bytes in"):
        RULES.check_files({"a": b"x" * 80, "b": b"x" * 80})
    with pytest.raises(ValueError, match="4 files is over the limit of 3"):
        RULES.check_files({str(i): b"" for i in range(4)})
    with pytest.raises(ValueError, match="clashes"):
        RULES.check_files({"a": b"", "a/b": b""})
    with pytest.raises(ValueError, match="contains '..'"):
        RULES.check_files({"../escape": b""})


# -- tar streams from a sandbox -----------------------------------------------------------------


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def test_pack_and_unpack_round_trip() -> None:
    files = {"a.txt": b"hello", "dir/b.bin": bytes(range(50))}
    assert unpack(pack(files), RULES) == files


@pytest.mark.parametrize(("member", "message"), [
    (_member("link", tarfile.SYMTYPE, "/etc/passwd"), "is a link"),
    (_member("hard", tarfile.LNKTYPE, "/etc/shadow"), "is a link"),
    (_member("dev", tarfile.CHRTYPE), "not a regular file"),
    (_member("fifo", tarfile.FIFOTYPE), "not a regular file"),
    (_member("/abs"), "absolute"),
    (_member("../up"), "'..'"),
])
def test_hostile_members_are_refused(member: tarfile.TarInfo, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        unpack(_tar((member, b"x")), RULES)


def test_a_member_over_the_cap_is_refused_before_its_data_is_read() -> None:
    # The header claims 10 MB but the data is missing: the cap, not the cut, must be reported.
    whole = _tar((_member("huge"), b"x" * 200))
    header = bytearray(whole[:512])
    size_field = f"{10_000_000:011o}\0".encode()
    header[124:136] = size_field
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    with pytest.raises(ValueError, match="'huge' is 10000000 bytes, over the limit"):
        unpack(bytes(header) + b"\0" * 1024, RULES)


def test_count_total_unwanted_and_garbage() -> None:
    four = _tar(*[(_member(f"f{i}"), b"") for i in range(4)])
    with pytest.raises(ValueError, match="over the limit of 3 files"):
        unpack(four, RULES)
    with pytest.raises(ValueError, match="in total"):
        unpack(_tar((_member("a"), b"x" * 100), (_member("b"), b"x" * 100)), RULES)
    with pytest.raises(ArchiveError, match="not asked for"):
        unpack(_tar((_member("other"), b"")), RULES, ["wanted"])
    with pytest.raises(ArchiveError, match="malformed"):
        unpack(b"\x01" * 1024, RULES)
    with pytest.raises(ArchiveError):
        unpack(_tar((_member("cut"), b"x" * 90))[:600], RULES)


# -- host files ---------------------------------------------------------------------------------


def test_reading_through_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "nb"
    root.mkdir()
    (root / "passwd").symlink_to("/etc/passwd")
    (root / "ok.txt").write_text("fine")
    (root / "alias.txt").symlink_to(root / "ok.txt")  # a link inside the root is fine
    with pytest.raises(ValueError, match="outside the allowed directory"):
        host.read_file(str(root / "passwd"), str(root), 100)
    with pytest.raises(ValueError, match="outside the allowed directory"):
        host.gather("../*", str(root), str(root), RULES)
    with pytest.raises(ValueError, match="outside the allowed directory"):
        host.gather("*", str(root), str(root), RULES)  # the glob includes the link
    assert host.gather("ok.txt", str(root), str(root), RULES) == {"ok.txt": b"fine"}
    assert host.gather("alias.txt", str(root), str(root), RULES) == {"alias.txt": b"fine"}
    with pytest.raises(host.NoMatch):
        host.gather("nothing*", str(root), str(root), RULES)


def test_directories_bring_their_files_and_dest_renames(tmp_path: Path) -> None:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.csv").write_text("a")
    (tmp_path / "data" / "sub" / "b.csv").write_text("b")
    cwd = str(tmp_path)
    assert host.gather("data", cwd, cwd, RULES) == {"data/a.csv": b"a", "data/sub/b.csv": b"b"}
    assert host.gather("data/*.csv", cwd, cwd, RULES, "in/") == {"in/data/a.csv": b"a"}
    assert host.gather("data/a.csv", cwd, cwd, RULES, "x.csv") == {"x.csv": b"a"}


def test_writes_stay_inside_the_root_and_never_overwrite_unasked(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    (root / "escape").symlink_to(tmp_path)  # a directory link leading out of the root
    (root / "victim").symlink_to("/etc/hostname")
    with pytest.raises(ValueError, match="outside the allowed directory"):
        host.write_file(str(root / "escape" / "x"), b"no", str(root), overwrite=True)
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="not a regular file"):
        host.write_file(str(root / "victim"), b"no", str(root), overwrite=True)
    written = host.write_file(str(root / "new" / "f.txt"), b"one", str(root), overwrite=False)
    assert Path(written).read_bytes() == b"one"
    with pytest.raises(FileExistsError):
        host.write_file(str(root / "new" / "f.txt"), b"two", str(root), overwrite=False)
    host.write_file(str(root / "new" / "f.txt"), b"two", str(root), overwrite=True)
    assert (root / "new" / "f.txt").read_bytes() == b"two"
    assert [p.name for p in (root / "new").iterdir()] == ["f.txt"]  # no temporary left


def test_save_checks_every_target_before_writing_any(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("keep")
    with pytest.raises(FileExistsError):
        host.save({"a.txt": b"new", "b.txt": b"new"}, str(tmp_path), str(tmp_path),
                  overwrite=False)
    assert not (tmp_path / "a.txt").exists()
    assert (tmp_path / "b.txt").read_text() == "keep"
    assert host.save({"o/a.txt": b"1"}, str(tmp_path), str(tmp_path)) == [
        os.path.join("o", "a.txt")]


# -- kernel directives --------------------------------------------------------------------------


def test_directive_lines_are_taken_off_the_top_of_a_cell() -> None:
    cell = parse_cell('%%timeout 5\n%upload data/*.csv\n%download "my out.png" res/\nprint(1)')
    assert cell.timeout == 5
    assert cell.uploads == (Transfer("data/*.csv"),)
    assert cell.downloads == (Transfer("my out.png", "res/"),)
    assert cell.code == "\n\n\nprint(1)"  # line numbers of the code are kept
    assert parse_cell("print(1)\n%upload x").uploads == ()
    with pytest.raises(ValueError, match="PATH"):
        parse_cell("%upload")
    with pytest.raises(ValueError, match="PATH"):
        parse_cell("%download a b c")
