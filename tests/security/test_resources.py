"""Resource exhaustion: processes, threads, memory, disk, file descriptors and CPU are bounded.

Each attack asserts the bound (not only that the run ended) and that the next run is healthy.
Under gVisor the process bound comes from RLIMIT_NPROC inside gVisor's kernel, not from the host
cgroup (see container_config.py).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from attack_helpers import assert_healthy, lines_of
from docker_support import docker_api as connect
from docker_support import find_ours

from sandbox_kernel import DockerSandbox, Limits
from sandbox_kernel.engine import ownership
from sandbox_kernel.engine.hardening import is_gvisor
from sandbox_kernel.limits import MiB

PIDS = Limits().pids

PYTHON_FORK_BOMB = """
import os, time
def processes():
    return sum(1 for name in os.listdir("/proc") if name.isdigit())
end = time.time() + 4
if os.fork() == 0:
    while time.time() < end:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)
    os._exit(0)
most = 0
while time.time() < end + 0.5:
    now = processes()
    if now > most:
        most = now
        print("most", most, flush=True)
    time.sleep(0.05)
"""

# The observer uses builtins only (no fork): a glob of /proc counts the processes.
BASH_FORK_BOMB = """
exec 9< <(sleep 60)
most=0
( bomb() { bomb | bomb & }; bomb ) 2>/dev/null &
for ((i = 0; i < 200; i++)); do
  procs=(/proc/[0-9]*)
  if (( ${#procs[@]} > most )); then most=${#procs[@]}; echo "most $most"; fi
  # Watch for 4 s at least; a slow start (gVisor under load) gets up to 20 s to reach half.
  (( i >= 40 && most >= HALF )) && break
  read -r -t 0.1 -u 9 _
done
""".replace("HALF", str(PIDS // 2))


def test_python_fork_bomb_is_held_to_the_pids_limit(engine: DockerSandbox) -> None:
    started = time.monotonic()
    result = engine.run("python", PYTHON_FORK_BOMB, timeout=30)
    assert not result.timed_out and time.monotonic() - started < 30
    most = int(lines_of(result)["most"])
    assert PIDS // 2 <= most <= PIDS, result.stdout
    assert_healthy(engine, "python")


def test_bash_fork_bomb_is_held_to_the_pids_limit(engine: DockerSandbox) -> None:
    result = engine.run("bash", BASH_FORK_BOMB, timeout=40)
    assert not result.timed_out
    most = int(lines_of(result)["most"])
    assert PIDS // 2 <= most <= PIDS, result.stdout
    assert_healthy(engine, "bash")


def test_python_thread_bomb_is_held_to_the_pids_limit(engine: DockerSandbox) -> None:
    code = """
import threading, time
started = 0
try:
    for _ in range(500):
        threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
        started += 1
except RuntimeError as exc:
    print("refused", exc)
print("threads", started)
"""
    result = engine.run("python", code, timeout=30)
    found = lines_of(result)
    assert "refused" in found, result
    assert PIDS // 2 <= int(found["threads"]) < PIDS
    assert_healthy(engine, "python")


def test_node_process_bomb_is_held_to_the_pids_limit(engine: DockerSandbox) -> None:
    code = """
const { spawn } = require('child_process');
let alive = 0, refused = 0;
for (let i = 0; i < 120; i++) {
  const child = spawn('sleep', ['10']);
  child.on('spawn', () => { alive++; });
  child.on('error', () => { refused++; });
}
setTimeout(() => {
  console.log('alive', alive);
  console.log('refused', refused);
  process.exit(0);
}, 3000);
"""
    result = engine.run("node", code, timeout=30)
    found = lines_of(result)
    assert int(found["refused"]) > 0, result
    assert 0 < int(found["alive"]) < PIDS
    assert_healthy(engine, "node")


MEMORY_BOMBS = {
    "python": "blocks = []\nwhile True:\n    blocks.append(b'x' * (8 << 20) + bytes(len(blocks)))",
    "bash": "x=xxxxxxxxxxxxxxxx\nwhile :; do x=$x$x; done",
    "node": "const blocks = [];\nwhile (true) blocks.push(Buffer.alloc(8 << 20, blocks.length));",
}


def test_memory_bombs_are_oom_killed_in_every_language(engine: DockerSandbox) -> None:
    for language, code in MEMORY_BOMBS.items():
        started = time.monotonic()
        result = engine.run(language, code, timeout=60)
        assert result.oom_killed and result.exit_code == 137, (language, result)
        assert not result.timed_out and time.monotonic() - started < 60
    assert_healthy(engine, "python")


@pytest.mark.parametrize("runtime", [None], ids=["runc"], indirect=True)
def test_every_oom_is_reported_when_sandboxes_run_out_together(engine: DockerSandbox) -> None:
    """Twelve memory bombs, six at a time: each result says oom_killed, not just exit 137.

    runc only: under gVisor its own kernel sometimes kills the program before the host's OOM
    killer acts, and Docker then never learns of an OOM (README, Known limitations); a single
    bomb under gVisor is covered by test_memory_bombs_are_oom_killed_in_every_language."""
    small = Limits(memory=48 * MiB)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: engine.run("python", MEMORY_BOMBS["python"], 30, small),
                                range(12)))
    assert [r.exit_code for r in results] == [137] * 12
    missed = [r for r in results if not r.oom_killed]
    assert not missed, f"{len(missed)} of 12 out-of-memory kills reported as a plain exit 137"
    assert_healthy(engine, "python")


def test_memory_bomb_in_a_session_loses_the_state_and_the_next_cell_is_fresh(
    engine: DockerSandbox,
) -> None:
    with engine.session("python") as session:
        assert session.run("canary = 1", timeout=30).exit_code == 0
        result = session.run(MEMORY_BOMBS["python"], timeout=60)
        assert result.oom_killed and result.state_lost, result
        after = session.run("print('canary' in globals())", timeout=60)
        assert after.stdout == "False\n" and after.notice
        assert "out of memory" in after.notice


CHILD_MEMORY_BOMBS = {
    "bash": ("kept=1", "tail /dev/zero", "echo $kept"),
    # The child's death is handled (no check=True): the cell itself ends normally.
    "python": ("kept = 1", "import subprocess\nsubprocess.run(['tail', '/dev/zero'])",
               "print(kept)"),
}


@pytest.mark.parametrize("language", sorted(CHILD_MEMORY_BOMBS))
def test_a_child_killed_by_the_oom_killer_is_reported_in_a_session(
    engine: DockerSandbox, runtime: str | None, language: str,
) -> None:
    """The OOM killer ends a child of the cell, the driver survives: the cell still says that
    it ran out of memory (Docker's oom event counted during the cell), and the state is kept.
    Under gVisor the host's OOM killer ends the whole sandbox instead (README, Known
    limitations): reported as out of memory, state lost."""
    setup, bomb, probe = CHILD_MEMORY_BOMBS[language]
    with engine.session(language) as session:
        assert session.run(setup, timeout=30).exit_code == 0
        result = session.run(bomb, timeout=60)
        assert result.oom_killed and not result.timed_out, result
        assert result.verdict.kind == "oom"
        assert "out of memory, limit 256 MiB" in result.verdict.cause
        if is_gvisor(runtime):
            assert result.state_lost and result.exit_code == 137, result
            return
        assert not result.state_lost and result.notice is not None, result
        assert "out of memory, limit 256 MiB" in result.notice and "kept" in result.notice
        after = session.run(probe, timeout=30)
        assert after.stdout == "1\n" and not after.oom_killed and after.ok, after
        assert after.notice is None


def test_filling_tmp_workspace_and_shm_stops_at_their_sizes(engine: DockerSandbox) -> None:
    code = """
import errno, os
for directory in ("/tmp", "/workspace", "/dev/shm"):
    written, index = 0, 0
    try:
        while True:
            with open(f"{directory}/fill-{index}", "wb") as f:
                for _ in range(8):
                    f.write(b"x" * (1 << 20))
                    f.flush()
                    written += 1 << 20
            index += 1
    except OSError as exc:
        print(directory, written, errno.errorcode[exc.errno])
"""
    result = engine.run("python", code, timeout=60)
    found = lines_of(result)
    limits = Limits()
    # /dev/shm is container_config's shm_size (16 MiB): POSIX shared memory for multiprocessing.
    sizes = {"/tmp": limits.tmp_size, "/workspace": limits.workdir_size, "/dev/shm": 16 * MiB}
    for directory, size in sizes.items():
        written, error = found[directory].split()
        assert error == "ENOSPC", result
        assert size - 2 * MiB <= int(written) <= size, (directory, written)
    assert not result.oom_killed and result.exit_code == 0
    assert_healthy(engine, "python")


def test_filling_the_workspace_from_bash_stops_at_its_size(engine: DockerSandbox) -> None:
    code = """
i=0
while head -c 4194304 /dev/zero > /workspace/fill-$i 2>/dev/null; do i=$((i + 1)); done
echo stopped; du -sm /workspace | cut -f1
"""
    result = engine.run("bash", code, timeout=60)
    assert result.stdout.startswith("stopped\n"), result
    assert int(result.stdout.split()[1]) <= Limits().workdir_size // MiB
    assert_healthy(engine, "bash")


def test_a_file_cannot_grow_past_the_file_size_limit(engine: DockerSandbox) -> None:
    code = """
import errno, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
size = 0
try:
    with open("/workspace/big", "wb") as f:
        while True:
            f.write(b"x" * 65536)
            f.flush()
            size += 65536
except OSError as exc:
    print("stopped", size, errno.errorcode[exc.errno])
"""
    result = engine.run("python", code, timeout=30, limits=Limits(max_file_size=MiB))
    assert result.stdout.split() == ["stopped", str(MiB), "EFBIG"], result
    assert_healthy(engine, "python")


def test_root_filesystem_and_system_paths_are_not_writable(engine: DockerSandbox) -> None:
    code = """
import os
for path in ("/x", "/etc/x", "/usr/bin/x", "/usr/lib/x", "/root/x", "/var/x", "/home/x",
             "/dev/x", "/sys/x", "/proc/x"):
    try:
        open(path, "xb").close()
        print("WROTE", path)
    except OSError:
        print("refused", path, "exists" if os.path.exists(path) else "absent")
for path in ("/etc/passwd", "/bin/sh", "/usr/sbin/docker-init", "/usr/bin/python3"):
    try:
        open(path, "ab").close()
        print("WROTE", path)
    except OSError:
        print("refused", path, "kept")
"""
    result = engine.run("python", code, timeout=30)
    assert "WROTE" not in result.stdout, result.stdout
    assert result.stdout.count(" absent\n") == 10 and result.stdout.count(" kept\n") == 4
    bash = engine.run(
        "bash", "for p in /etc/x /usr/local/bin/x /opt/x; do\n"
        "  touch $p 2>/dev/null && echo WROTE $p\n  mkdir $p.d 2>/dev/null && echo WROTE $p.d\n"
        "done\necho done", timeout=30)
    assert bash.stdout == "done\n", bash
    node = engine.run(
        "node", "const fs = require('fs');\nfor (const p of ['/x', '/etc/x', '/usr/x']) {\n"
        "  try { fs.writeFileSync(p, 'x'); console.log('WROTE', p) }\n"
        "  catch (e) { console.log(e.code) }\n}", timeout=30)
    assert "WROTE" not in node.stdout and len(node.stdout.split()) == 3, node
    assert_healthy(engine, "python")


def test_file_descriptor_floods_stop_at_nofile(engine: DockerSandbox) -> None:
    nofile = Limits().nofile
    python = engine.run("python", """
import errno
files = []
try:
    while True:
        files.append(open("/dev/null"))
except OSError as exc:
    print(len(files), errno.errorcode[exc.errno])
""", timeout=30)
    count, error = python.stdout.split()
    assert error == "EMFILE" and nofile - 16 < int(count) < nofile, python
    node = engine.run("node", """
const fs = require('fs');
const fds = [];
try { for (;;) fds.push(fs.openSync('/dev/null', 'r')); }
catch (e) { console.log(fds.length, e.code); }
""", timeout=30)
    count, error = node.stdout.split()
    assert error == "EMFILE" and nofile - 64 < int(count) < nofile, node
    assert_healthy(engine, "node")


def _cpu_nanoseconds(container_id: str) -> int:
    stats = connect().stats(container_id, stream=False, one_shot=True)
    return int(stats["cpu_stats"]["cpu_usage"]["total_usage"])


def test_a_session_s_first_cell_runs_within_its_cpu_quota(engine: DockerSandbox) -> None:
    """A session's driver starts with one CPU (hardening.start_cpus); its first cell already
    runs under ``Limits.cpus``, as the engine and the cgroup the cell sees both say."""
    quota = Limits().cpus
    with engine.session("python") as session:
        session.start()
        info = connect().inspect_container(session.container_id)
        assert info["HostConfig"]["NanoCpus"] == round(quota * 1e9)
        if is_gvisor(engine.runtime):
            return  # gVisor shows no cgroup files inside; its container starts at the limit
        result = session.run("print(open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').read())")
        assert result.stdout.strip() == str(round(quota * 100_000)), result


def test_cpu_spin_on_every_core_gets_at_most_its_cpu_quota(engine: DockerSandbox) -> None:
    """Two busy processes for 4 s: the container's cgroup (read from the host) used <= 0.5 CPU."""
    code = """
import os, time
print("start", flush=True)
end = time.time() + 4
children = [os.fork() for _ in range(2)]
if 0 in children:
    while time.time() < end:
        pass
    os._exit(0)
for _ in children:
    os.wait()
print("stop", flush=True)
time.sleep(1)
"""
    samples: dict[str, tuple[float, int]] = {}
    sampled = threading.Event()
    owner = ownership.owner_id()
    before = {c["Id"] for c in find_ours(connect(), owner)}

    def on_output(stream: str, text: str) -> None:
        for mark in ("start", "stop"):
            if mark in text:
                (new,) = {c["Id"] for c in find_ours(connect(), owner)} - before
                samples[mark] = (time.monotonic(), _cpu_nanoseconds(new))
        if "stop" in text:
            sampled.set()

    result = engine.run("python", code, timeout=30, on_output=on_output)
    assert result.exit_code == 0 and sampled.is_set(), result
    wall = samples["stop"][0] - samples["start"][0]
    cpu = (samples["stop"][1] - samples["start"][1]) / 1e9
    quota = Limits().cpus
    assert quota * 0.5 < cpu / wall < quota * 1.2, (cpu, wall)
    assert_healthy(engine, "python")
