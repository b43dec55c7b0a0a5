"""The Bash session driver is invisible to user code (issue 15, point 1): cells run in a user shell
of their own, so introspection shows only what a fresh `bash --norc` shows, and redefining or
disabling builtins, closing descriptors or changing options affects the cell that did it only.

Real containers under runc and gVisor, through ``SandboxSession``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sandbox_kernel import DockerSandbox
from sandbox_kernel.engine.session import SandboxSession

# Variables whose values change on their own (or with the shell's process): left out of the
# comparison of values, not of names.
DYNAMIC = ("BASHPID", "PPID", "SHLVL", "RANDOM", "SRANDOM", "EPOCHREALTIME", "EPOCHSECONDS",
           "SECONDS", "LINENO", "BASH_LINENO", "BASH_SOURCE", "BASH_ARGC", "BASH_ARGV",
           "FUNCNAME", "PIPESTATUS", "_", "BASH_COMMAND", "BASH_SUBSHELL", "HISTCMD",
           "OLDPWD")  # set by the user's own `cd` below, checked apart

# The same introspection in the session and in a fresh `bash --norc` of the same container.
INTROSPECT = r"""
true
compgen -v | grep -vx OLDPWD | LC_ALL=C sort > /tmp/vars.mine
declare -p | grep -Ev '{SKIP}' > /tmp/decl.mine
bash --norc -s > /dev/null <<'EOF'
true
compgen -v | grep -vx OLDPWD | LC_ALL=C sort > /tmp/vars.fresh
declare -p | grep -Ev '{SKIP}' > /tmp/decl.fresh
EOF
echo "vars: $(diff /tmp/vars.mine /tmp/vars.fresh | grep '^[<>]' | tr '\n' ' ')"
names='s/^[<>] declare -[^ ]* \([^=]*\).*/\1/p'
echo "decl: $(diff /tmp/decl.mine /tmp/decl.fresh | sed -n "$names" | sort -u | tr '\n' ' ')"
echo "functions: $(declare -f; compgen -A function)"
echo "aliases: $(alias)"
echo "traps: $(trap -p)"
echo "int: $(trap -p INT)"
echo "flags: $-"
f() { echo "frames: ${#BASH_SOURCE[@]} (${FUNCNAME[*]}) (${BASH_SOURCE[*]}) ($(caller))"; }; f
echo "execution-string: ${BASH_EXECUTION_STRING+set}"
echo "dirs: $PWD $OLDPWD"
fds=(/proc/$$/fd/*); echo "fds: ${fds[*]##*/}"
""".replace("{SKIP}", f"^declare -[-a-zA-Z]* ({'|'.join(DYNAMIC)})(=|$)")


@pytest.fixture(scope="module", params=[None, "runsc"], ids=["runc", "runsc"])
def engine(request: pytest.FixtureRequest) -> Iterator[DockerSandbox]:
    sandbox = DockerSandbox(runtime=request.param)
    yield sandbox
    sandbox.cleanup_all()


@pytest.fixture
def bash(engine: DockerSandbox) -> Iterator[SandboxSession]:
    with engine.session("bash") as session:
        yield session


def fields(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
                for line in stdout.splitlines())


def test_introspection_shows_what_a_fresh_bash_shows(bash: SandboxSession) -> None:
    for cell in ("x=1; cd /tmp", "f() { echo f; }; f; unset -f f", "cd /workspace; unset x"):
        assert bash.run(cell).exit_code == 0
    result = bash.run(INTROSPECT)
    assert result.exit_code == 0, result.stderr
    seen = fields(result.stdout)
    assert seen["vars"] == "", seen  # no variable of the driver's, none missing
    # Values too, but for the shell option the kernel sets on purpose (aliases expand as in an
    # interactive shell).
    assert set(seen["decl"].split()) <= {"BASHOPTS"}, seen["decl"]
    assert seen["functions"] == "" and seen["aliases"] == ""
    assert seen["traps"] == "" and seen["int"] == ""  # no trap of the driver's, SIGINT's neither
    assert seen["flags"] == "hB"  # what `bash --norc` reading a script has: no functrace
    # No frame of the driver's: a function's stack is what bash reading the cell on stdin gives.
    assert seen["frames"] == "1 (f) (main) (18 NULL)"  # caller: its line in the cell
    assert seen["execution-string"] == ""  # the driver's source is nowhere in the shell
    assert seen["dirs"] == "/workspace /tmp"
    # The shell's descriptors: its standard three and its script (255), plus 3, the glob's own
    # directory; no saved copy of the driver's.
    assert set(seen["fds"].split()) - {"3"} == {"0", "1", "2", "255"}, seen["fds"]
    assert "__sk" not in result.stdout and "__sk" not in result.stderr


def test_traces_and_echo_show_the_users_commands_only(bash: SandboxSession) -> None:
    traced = bash.run("set -x\necho hi")
    assert (traced.stdout, traced.stderr) == ("hi\n", "+ echo hi\n")  # one level, as a script
    again = bash.run("g() { echo in; }; g")
    assert again.stderr == "+ g\n+ echo in\n"
    assert bash.run("set +x; set -v").stderr == "+ set +x\n"
    echoed = bash.run("echo shown\necho twice")
    assert echoed.stderr == "echo shown\necho twice\n"
    bash.run("set +v")
    assert bash.run("echo quiet").stderr == ""


@pytest.mark.parametrize("breaker", [
    "read() { echo fake; }; printf() { :; }; eval() { :; }; kill() { :; }; trap() { :; }; "
    "source() { :; }; exec() { :; }; command() { :; }; .() { :; }; cd() { :; }",
    "enable -n read printf eval kill trap test echo",
    "alias builtin=false source=false exec=false; shopt -s expand_aliases",
    "for fd in {3..20}; do builtin eval \"exec $fd>&- $fd<&-\"; done",
    "exec >/dev/null 2>&1 </dev/null",
    "trap - INT",
    "set -o posix",
    "shopt -u expand_aliases sourcepath; set -o noclobber -o nounset -o pipefail",
    "unset PWD OLDPWD IFS PATH BASHOPTS SHELLOPTS 2>/dev/null; unset -f $(compgen -A function)",
])
def test_a_cell_that_changes_the_shell_leaves_the_next_cell_working(
    bash: SandboxSession, breaker: str
) -> None:
    assert bash.run("kept=yes; cd /tmp").exit_code == 0
    bash.run(breaker)
    after = bash.run('/bin/echo "$kept $(pwd)"; (exit 3)')
    assert after.stdout == "yes /tmp\n", (after.stdout, after.stderr, after.notice)
    assert after.exit_code == 3 and not after.state_lost  # its own status, not a success
    assert bash.run("/bin/true").exit_code == 0


@pytest.mark.parametrize("breaker", ["builtin() { :; }", "enable -n source"])
def test_a_cell_that_breaks_the_runner_fails_clearly_and_the_next_runs_fresh(
    bash: SandboxSession, breaker: str
) -> None:
    bash.run("kept=yes")
    bash.run(breaker)
    broken = bash.run("echo never")
    assert broken.exit_code != 0 and broken.state_lost  # never a false success
    assert "never" not in broken.stdout
    assert "sandbox-kernel: this cell did not run" in broken.stderr
    assert "disabled or redefined a builtin the runner uses (builtin, source, cd" in broken.stderr
    fresh = bash.run('echo "fresh [${kept-}]"')
    assert fresh.stdout == "fresh []\n" and fresh.exit_code == 0
    assert fresh.notice is not None and "state from earlier cells was lost" in fresh.notice


def test_a_cell_that_kills_its_shell_is_reported_and_the_next_runs_fresh(
    bash: SandboxSession,
) -> None:
    bash.run("kept=yes")
    killed = bash.run("echo before; kill -9 $$; echo after")
    assert killed.stdout == "before\n" and killed.exit_code == 137 and killed.state_lost
    fresh = bash.run('echo "[${kept-}]"')
    assert fresh.stdout == "[]\n" and fresh.notice is not None


def test_interrupt_stops_the_cell_and_keeps_the_shell(bash: SandboxSession) -> None:
    bash.run("kept=yes; trap -p INT > /tmp/trap.before")
    threading.Timer(0.7, bash.interrupt).start()
    result = bash.run("f() { while :; do :; done; }; f; echo not-reached", timeout=20)
    assert result.exit_code == 130 and result.interrupted and not result.state_lost
    assert "not-reached" not in result.stdout
    after = bash.run(
        'echo "$kept"; trap -p DEBUG; trap -p INT | cmp - /tmp/trap.before && echo same')
    assert after.stdout == "yes\nsame\n"  # no DEBUG trap left behind


def test_a_syntax_error_on_the_first_line_quotes_the_users_line_only(
    bash: SandboxSession,
) -> None:
    bash.run("cd /tmp")
    failed = bash.run("echo x )\necho never")
    assert failed.exit_code == 2 and failed.stdout == ""
    assert failed.stderr == ("bash: line 1: syntax error near unexpected token `)'\n"
                             "bash: line 1: `echo x )'\n")
    # The check parses the line in the driver without running it: a line that would close the
    # check's own braces is not checked, and runs nowhere.
    bash.run("}; touch /tmp/injected; f() {")
    after = bash.run("pwd; [[ -e /tmp/injected ]] && echo present || echo absent")
    assert after.stdout == "/tmp\nabsent\n"


def test_aliases_expand_in_posix_mode_and_after_it(bash: SandboxSession) -> None:
    assert bash.run("alias hi='echo ALIASED'; set -o posix").exit_code == 0
    result = bash.run("hi one\nhi two")
    assert (result.exit_code, result.stdout) == (0, "ALIASED one\nALIASED two\n"), result.stderr
    assert bash.run("set +o posix").exit_code == 0
    result = bash.run("hi three\nhi four")
    assert (result.exit_code, result.stdout) == (0, "ALIASED three\nALIASED four\n"), result.stderr
    # The user's own `shopt -u expand_aliases` sticks, until posix mode turns it on (bash's
    # rule).
    assert bash.run("shopt -u expand_aliases").exit_code == 0
    result = bash.run("hi five")
    assert result.exit_code == 127 and "hi: command not found" in result.stderr
    assert bash.run("set +o posix").exit_code == 0
    assert bash.run("hi six").exit_code == 127
    assert bash.run("set -o posix").exit_code == 0
    result = bash.run("shopt expand_aliases; hi seven")
    assert result.stdout.split() == ["expand_aliases", "on", "ALIASED", "seven"]


def test_interrupt_after_trap_reset_keeps_the_shell(bash: SandboxSession) -> None:
    assert bash.run("k=kept; trap - INT").exit_code == 0
    threading.Timer(1.5, bash.interrupt).start()
    result = bash.run("sleep 20; echo not-reached")
    assert result.exit_code == 130 and result.interrupted and not result.state_lost
    assert "not-reached" not in result.stdout
    assert bash.run("echo k=$k").stdout == "k=kept\n"
    # A user's own INT trap holds, as in any bash: the interrupt runs it and the cell goes on.
    threading.Timer(1.5, bash.interrupt).start()
    result = bash.run("trap 'echo caught' INT; sleep 20; echo after")
    assert "caught" in result.stdout and "after" in result.stdout and not result.state_lost


@pytest.mark.parametrize(
    "cell", ["readonly OLDPWD", "readonly PWD", "cd /tmp; readonly OLDPWD PWD",
             "set -eu; readonly OLDPWD", "set -eu; unset OLDPWD; readonly OLDPWD"])
def test_readonly_directories_do_not_break_the_runner(bash: SandboxSession, cell: str) -> None:
    assert bash.run("k=kept; " + cell).exit_code == 0
    for _ in range(2):
        result = bash.run("echo k=$k; pwd")
        assert result.exit_code == 0 and not result.state_lost, result.stderr
        assert result.stdout.startswith("k=kept\n/") and "/dev/shm" not in result.stdout
        assert result.stderr == ""


def test_a_tiny_descriptor_limit_names_the_cause(bash: SandboxSession) -> None:
    """The runner needs no descriptor beyond the shell's three to run a cell, one to read it:
    `ulimit -n 6` leaves it working; 3 leaves no room to read the next cell, 2 none to put the
    shell's own descriptors back. Each is said, and the sandbox replaced."""
    bash.run("k=1; ulimit -n 6")
    assert bash.run("echo k=$k").stdout == "k=1\n"
    bash.run("ulimit -n 3")
    result = bash.run("echo k=$k")
    assert result.exit_code != 0 and "k=" not in result.stdout and result.state_lost
    assert "resource limit" in result.stderr and "ulimit" in result.stderr, result.stderr
    bash.run("k=1")
    result = bash.run("ulimit -n 2")
    assert result.exit_code != 0 and result.state_lost
    assert "descriptor limit too low: ulimit -n" in result.stderr, result.stderr
    assert "\x1e" not in result.stderr  # the driver's marker never reaches the user


def test_a_deleted_working_directory_stays_the_shells_as_in_bash(bash: SandboxSession) -> None:
    """The cell runs where the shell is (the runner never changes directory): bash's own answer
    for a directory that is gone, and nothing lands in the runner's /dev/shm."""
    assert bash.run("mkdir /tmp/q; cd /tmp/q; rmdir /tmp/q").exit_code == 0
    result = bash.run("pwd; echo data > out.txt; echo written")
    assert result.stdout == "/tmp/q\nwritten\n", result.stdout
    # bash's own error under runc; gVisor lets the file be written into the removed directory
    assert result.stderr in ("", "bash: line 1: out.txt: No such file or directory\n")
    assert bash.run("ls /dev/shm").stdout.split().count("out.txt") == 0


def test_control_bytes_in_directory_names_keep_the_marker(bash: SandboxSession) -> None:
    name = "/tmp/x\x1ey\x1fz\nw"
    result = bash.run("mkdir \"$(printf '/tmp/x\\036y\\037z\\nw')\"; cd /tmp/x*y*z*; cd /; "
                      "cd /tmp/x*y*z*")
    assert result.exit_code == 0, result.stderr
    result = bash.run('printf "%s|%s" "$PWD" "$OLDPWD"; printf "|%s" "$(pwd)"')
    assert result.stdout == f"{name}|/|{name}", repr(result.stdout)


def test_a_cell_runs_as_bash_reads_a_script(bash: SandboxSession) -> None:
    """Line numbers from the cell's first line, `$?` from the cell before, `return` outside a
    function is bash's error, and a RETURN trap runs for the user's functions only."""
    failed = bash.run("echo one\n\nnope_cmd\nf() { return 4; }; f")
    assert failed.stdout == "one\n" and failed.exit_code == 4
    assert failed.stderr == "bash: line 3: nope_cmd: command not found\n"
    assert bash.run('echo "$? $LINENO"').stdout == "4 1\n"
    outside = bash.run("return 3; echo went-on")
    assert outside.stdout == "went-on\n"
    assert outside.stderr == ("bash: line 1: return: can only `return' from a function or "
                              "sourced script\n")
    assert bash.run("trap 'echo RET' RETURN; set -T").exit_code == 0
    later = bash.run("echo plain; h() { :; }; h")
    assert later.stdout == "plain\nRET\n"  # h returned; the cell's end is no `return`
    assert bash.run("trap - RETURN; set +T; trap -p").stdout == ""


def test_the_users_traps_and_options_live_on_with_an_interrupt(bash: SandboxSession) -> None:
    assert bash.run("trap 'echo dbg >/dev/null' DEBUG; set -x; kept=1").exit_code == 0
    threading.Timer(0.7, bash.interrupt).start()
    result = bash.run("while :; do :; done", timeout=20)
    assert result.exit_code == 130 and result.interrupted and not result.state_lost
    after = bash.run('set +x; echo "$kept $-"; trap -p')
    assert after.stdout == "1 hB\ntrap -- 'echo dbg >/dev/null' DEBUG\n"


def test_an_image_without_the_glue_runs_cells_with_the_shell_only_runner() -> None:
    """A bash image of the operator's own (here our base image, which has bash but not the glue)
    gets the runner written in bash: cells, messages and interrupts work; what it shows is listed
    in drivers/PROTOCOL.md."""
    engine = DockerSandbox(images={"bash": "sandbox-kernel-base:bookworm"})
    try:
        with engine.session("bash") as session:
            failed = session.run("x=1\nnope_cmd")
            assert failed.exit_code == 127
            assert failed.stderr == "bash: line 2: nope_cmd: command not found\n"
            threading.Timer(0.7, session.interrupt).start()
            result = session.run("f() { while :; do :; done; }; f; echo not-reached", timeout=20)
            assert result.exit_code == 130 and not result.state_lost and result.stdout == ""
            assert session.run('echo "$x"; declare -F').stdout == "1\ndeclare -f f\n"
            assert "T" in session.run('echo "$-"').stdout  # the fallback's functrace
    finally:
        engine.cleanup_all()


def test_read_asks_the_frontend_under_runc_and_gvisor(bash: SandboxSession) -> None:
    """Under gVisor (no /proc/PID/syscall) the glue's `read` asks; under runc the driver sees the
    blocked read. Either way each read is one input request, in a subshell too, and an
    interrupted read leaves the next cell its own answer."""
    answers = iter(["Ada", "Bob"])
    asked: list[tuple[str, bool]] = []

    def on_input(prompt: str, password: bool) -> str | None:
        asked.append((prompt, password))
        return next(answers)

    result = bash.execute('read -r a; b=$(read -r b; echo "$b"); echo "[$a] [$b]"', 30,
                          on_input=on_input)
    assert result.stdout == "[Ada] [Bob]\n" and len(asked) == 2, (result.stdout, result.stderr)
    # A read of /dev/null or a background job's read asks nothing; the rest of an answer is
    # read before anything is asked again (as from a terminal).
    answers = iter(["xyz", "SECOND"])
    asked.clear()
    result = bash.execute("read a </dev/null; echo \"rc=$?\"; read b & wait\n"
                          'IFS= read -r -n 2 c; read d; read e; echo "[$c] [$d] [$e]"', 30,
                          on_input=on_input)
    assert result.stdout == "rc=1\n[xy] [z] [SECOND]\n" and len(asked) == 2, result.stdout
    assert bash.execute('read -r c || echo "end [$c]"', 30).stdout == "end []\n"  # no stdin

    def stall(prompt: str, password: bool) -> str | None:
        threading.Timer(0.5, bash.interrupt).start()
        time.sleep(2.0)
        return None

    stopped = bash.execute("read -r v; echo after", 30, on_input=stall)
    assert stopped.exit_code == 130 and stopped.stdout == "" and not stopped.state_lost
    fresh = bash.execute('read -r w; echo "[$w]"', 30, on_input=lambda p, pw: "fresh")
    assert fresh.stdout == "[fresh]\n", (fresh.stdout, fresh.stderr)


def test_the_runner_leaves_the_users_last_command_and_traps_alone(bash: SandboxSession) -> None:
    """Between two cells the driver runs commands of its own in the user shell; `$_`,
    PIPESTATUS and the user's DEBUG and ERR traps see none of them, as if the cells were one
    script."""
    assert bash.run('echo "[$_]"').stdout == "[/usr/bin/bash]\n"  # a fresh bash's: its path
    bash.run("echo hi there")
    assert bash.run('echo "[$_]"').stdout == "[there]\n"
    bash.run("false | true")
    assert bash.run('echo "${PIPESTATUS[@]}"').stdout == "1 0\n"
    bash.run("n=0; trap '((n++))' DEBUG")
    assert bash.run('echo "n=$n"').stdout == "n=1\n"
    assert bash.run('echo "n=$n"; trap - DEBUG').stdout == "n=2\n"
    bash.run("e=0; trap '((e++))' ERR")
    bash.run("false")
    assert bash.run('echo "e=$e"; trap - ERR').stdout == "e=1\n"
    # A DEBUG trap that skips every command (extdebug) skips the user's commands only: the
    # cells end at once, as bash's script would, and the shell is kept.
    skipped = bash.run("x=keep; shopt -s extdebug; trap false DEBUG; echo skipped", timeout=20)
    assert skipped.stdout == "" and not skipped.timed_out and not skipped.state_lost
    again = bash.run("echo skipped too", timeout=20)
    assert again.stdout == "" and not again.timed_out and not again.state_lost
