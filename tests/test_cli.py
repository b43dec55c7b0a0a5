"""The command line, run as users run it: ``python -m sandbox_kernel ...`` in a subprocess."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from sandbox_kernel import DockerSandbox


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox_kernel", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_run_streams_output_and_exits_with_the_program_status() -> None:
    program = "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(7)"
    done = cli("run", "python", "-", stdin=program)
    assert (done.returncode, done.stdout, done.stderr) == (7, "out\n", "err\n")


def test_run_reads_a_file_and_applies_limits(tmp_path: object) -> None:
    from pathlib import Path

    program = Path(str(tmp_path)) / "prog.sh"
    program.write_text("cat /sys/fs/cgroup/memory/memory.limit_in_bytes\n")
    done = cli("run", "bash", str(program), "--memory", "128m")
    assert done.returncode == 0 and done.stdout.strip() == str(128 * 1024 * 1024)


def test_run_timeout_exits_124_and_bad_input_exits_2() -> None:
    timed = cli("run", "bash", "-", "--timeout", "1", stdin="sleep 30")
    assert timed.returncode == 124 and "timed out" in timed.stderr
    bad = cli("run", "cobol", "-", stdin="DISPLAY 'HI'")
    assert bad.returncode == 2 and "unknown language" in bad.stderr
    assert cli("run", "python", "-", "--timeout", "0", stdin="1").returncode == 2


def test_run_says_how_many_plots_it_did_not_show_and_json_has_them() -> None:
    import base64
    import json

    program = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint('ok')\n"
    shown = cli("run", "python", "-", stdin=program)
    assert (shown.returncode, shown.stdout) == (0, "ok\n")
    assert shown.stderr == "sandbox-kernel: 1 display(s) not shown (--json includes them)\n"
    record = json.loads(cli("run", "python", "-", "--json", stdin=program).stdout)
    (display,) = record["displays"]
    assert base64.b64decode(display["data"]["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")


def test_run_json_reports_the_whole_result() -> None:
    import json

    done = cli("run", "node", "-", "--json", stdin="console.log(1 + 1)")
    result = json.loads(done.stdout)
    assert result["stdout"] == "2\n" and result["exit_code"] == 0
    assert set(result) >= {"stderr", "execution_time", "timed_out", "oom_killed", "truncated"}


def test_doctor_checks_limits_from_inside() -> None:
    done = cli("doctor")
    assert done.returncode == 0, done.stdout
    for row in ("docker daemon", "runtimes available", "image python", "inside: uid",
                "inside: rootfs", "inside: interfaces"):
        assert row in done.stdout
    assert "FAIL" not in done.stdout


def test_doctor_fails_without_a_daemon() -> None:
    import os

    env = dict(os.environ, DOCKER_HOST="unix:///tmp/no-such-docker.sock")
    done = subprocess.run([sys.executable, "-m", "sandbox_kernel", "doctor"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "FAIL" in done.stdout


def test_cleanup_removes_orphans_but_not_live_sessions(
    sandbox: DockerSandbox, orphan: str
) -> None:
    with sandbox.session("bash") as live:
        done = cli("cleanup")
        assert done.returncode == 0
        assert f"removed {orphan[:12]}" in done.stdout
        assert live.run("echo alive").stdout == "alive\n"


def test_run_cleans_escape_sequences_on_a_terminal_only() -> None:
    """On a terminal the CLI keeps colour but drops a screen clear, a title change and an OSC 52
    clipboard write (one text rule, ``terminal_text``); into a pipe the bytes pass as they are."""
    program = ("printf '\\033]52;c;cHduZWQ=\\007\\033]0;TITLE\\007\\033[2J"
               "\\033[31mred\\033[0m ok\\n'")
    piped = cli("run", "bash", "-", stdin=program)
    assert piped.stdout == "\x1b]52;c;cHduZWQ=\x07\x1b]0;TITLE\x07\x1b[2J\x1b[31mred\x1b[0m ok\n"
    controller, terminal = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "sandbox_kernel", "run", "bash", "-"],
                          stdin=subprocess.PIPE, stdout=terminal, stderr=subprocess.PIPE) as proc:
        os.close(terminal)
        assert proc.stdin is not None
        proc.stdin.write(program.encode())
        proc.stdin.close()
        seen = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO once the program closed its end
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(60) == 0
    os.close(controller)
    assert seen.replace(b"\r\n", b"\n") == b"\x1b[31mred\x1b[0m ok\n"
