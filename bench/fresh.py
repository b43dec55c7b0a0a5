"""A fresh container per ``print(1)``: our engine against the docker CLI, docker-py and llm-sandbox.

Every contender uses the same image and the seed's limits (see ``SEED_FLAGS``); where one cannot,
its note says what differs and why.
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import docker

from bench.common import (
    BENCH_LABEL,
    IMAGE,
    PRINT1,
    Cleanup,
    Sample,
    Series,
    Suite,
    round_robin,
    scaled,
)
from bench.common import wait_until as _wait_until
from sandbox_kernel import DockerSandbox

SEED_FLAGS = ["--network", "none", "--memory", "256m", "--memory-swap", "256m", "--cpus", "0.5",
              "--pids-limit", "50", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
              "--user", "65534:65534", "--read-only", "--tmpfs", "/tmp:size=64m"]
"""The flags of "the seed": the plain ``docker run`` a sandbox would start from."""

SEED_KWARGS: dict[str, Any] = {
    "network_mode": "none", "mem_limit": "256m", "memswap_limit": "256m",
    "nano_cpus": 500_000_000, "pids_limit": 50, "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"], "user": "65534:65534", "read_only": True,
    "tmpfs": {"/tmp": "size=64m"},
}
"""``SEED_FLAGS`` for docker-py's ``containers.create``."""

ENGINE_WARM = "engine run, warm pool"
ENGINE_COLD = "engine run, warm=False"
CLI = "docker run --rm (CLI)"
DOCKER_PY = "docker-py create/start/wait/remove"
LLM_SANDBOX = "llm-sandbox SandboxSession"


def _expect_one(stdout: str | bytes, what: str) -> None:
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    if text.strip() != "1":
        raise RuntimeError(f"{what} printed {text[:200]!r}, expected '1'")


def engine(sandbox: DockerSandbox, series: Series) -> Sample:
    """``sandbox.run``; ``series.phases`` splits it at the first output the engine hands back."""
    def once() -> float:
        first: list[float] = []

        def on_output(_name: str, _text: str) -> None:
            if not first:
                first.append(time.perf_counter())

        t0 = time.perf_counter()
        result = sandbox.run("python", PRINT1, on_output=on_output)
        done = time.perf_counter()
        _expect_one(result.stdout, f"engine (exit {result.exit_code}, {result.stderr[:200]!r})")
        out = first[0] if first else done
        series.phases.setdefault("to output", []).append(out - t0)
        series.phases.setdefault("output to return", []).append(done - out)
        return done - t0
    return once


def phase_note(series: Series) -> str:
    phases = ", ".join(f"{k} {v:.0f}" for k, v in series.phase_medians().items())
    return f"phases (ms): {phases}" if phases else ""


def docker_cli(runtime: str | None = None) -> Sample:
    extra = ["--runtime", runtime] if runtime else []
    cmd = ["docker", "run", "--rm", "-i", *SEED_FLAGS, *extra, "--label", f"{BENCH_LABEL}=cli",
           IMAGE, "python3", "-c", PRINT1]

    def once() -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        elapsed = time.perf_counter() - t0
        _expect_one(proc.stdout, f"docker run (exit {proc.returncode}, {proc.stderr[-300:]!r})")
        return elapsed
    return once


def docker_py(client: docker.DockerClient, series: Series) -> Sample:
    """create, start, wait, logs, remove: each phase is timed into ``series.phases``."""
    def once() -> float:
        marks = [time.perf_counter()]
        container = client.containers.create(IMAGE, ["python3", "-c", PRINT1],
                                             labels={BENCH_LABEL: "docker-py"}, **SEED_KWARGS)
        try:
            marks.append(time.perf_counter())
            container.start()
            marks.append(time.perf_counter())
            container.wait(timeout=120)
            marks.append(time.perf_counter())
            out = container.logs(stdout=True, stderr=False)
            marks.append(time.perf_counter())
        finally:
            container.remove(force=True)
        marks.append(time.perf_counter())
        for name, a, b in zip(("create", "start", "wait", "logs", "remove"), marks, marks[1:],
                              strict=False):
            series.phases.setdefault(name, []).append(b - a)
        _expect_one(out, "docker-py")
        return marks[-1] - marks[0]
    return once


LLM_NOTE = ("seed limits but a writable rootfs and root in the container: llm-sandbox copies the "
            "code in with put_archive, which Docker refuses on --read-only and cannot place in a "
            "tmpfs, and the copy is root-owned 0600")


def llm_sandbox(client: docker.DockerClient) -> Sample | str:
    try:
        from llm_sandbox import SandboxSession
    except ImportError:
        return "n/a (llm-sandbox is not installed: pip install llm-sandbox)"
    config = {k: v for k, v in SEED_KWARGS.items() if k not in ("read_only", "user")}
    # Its containers idle in `tty` bash, which ignores SIGTERM: give it an init and a command that
    # stops at once, or every close() waits out docker stop's 10 s.
    config.update(init=True, command=["sleep", "infinity"], labels={BENCH_LABEL: "llm-sandbox"})

    def once() -> float:
        t0 = time.perf_counter()
        session = SandboxSession(lang="python", image=IMAGE, client=client, keep_template=True,
                                 runtime_configs=dict(config), skip_environment_setup=True,
                                 workdir="/var/tmp", verbose=False)
        # Its Python handler runs `python FILE`; the image has python3 only.
        session.language_handler.config.execution_commands = ["python3 {file}"]
        with session:
            result = session.run(PRINT1)
        elapsed = time.perf_counter() - t0
        _expect_one(result.stdout, f"llm-sandbox (exit {result.exit_code}, {result.stderr!r})")
        return elapsed
    return once


def settle_engine(timeout: float = 15.0) -> None:
    """Wait for the engine's background work (warm-pool refills, deferred removals) to finish."""
    from sandbox_kernel.engine import sandbox as engine_module

    # Private details of the engine, read only here (and ignored if they change): the warm
    # pool's fill threads and the queue of removals handed to its worker thread.
    removals = getattr(engine_module, "_removals", None)

    def idle() -> bool:
        refilling = any(t.name == "sandbox-warm-pool" for t in threading.enumerate())
        return not refilling and getattr(removals, "unfinished_tasks", 0) == 0

    _wait_until(idle, timeout)


def fresh_runs(iterations: int, cleanup: Cleanup) -> Suite:
    client = docker.from_env()
    cleanup.add(client.close)
    warm, cold = DockerSandbox(runtime="runc"), DockerSandbox(runtime="runc", warm=False)
    for sandbox in (warm, cold):
        cleanup.add(sandbox.cleanup_all)
    out = {name: Series(name) for name in (ENGINE_WARM, ENGINE_COLD, DOCKER_PY, LLM_SANDBOX)}
    series = scaled(round_robin(
        {ENGINE_WARM: engine(warm, out[ENGINE_WARM]), ENGINE_COLD: engine(cold, out[ENGINE_COLD]),
         CLI: docker_cli(), DOCKER_PY: docker_py(client, out[DOCKER_PY]),
         LLM_SANDBOX: llm_sandbox(client)},
        iterations, warmup=1, settle=settle_engine, series=out), 1000)
    for s in series:
        s.note = phase_note(s)
    out[ENGINE_WARM].note += "; the pool refills in the background between runs (not timed)"
    out[ENGINE_COLD].note += "; container removal is deferred to a background thread (not timed)"
    out[LLM_SANDBOX].note = LLM_NOTE
    return Suite("fresh", "Fresh container per run of print(1)", "ms", series, baseline=CLI,
                 notes=["each contender's own container start, run and removal; "
                        "the bench waits for background work between samples"])


def gvisor_runs(iterations: int, cleanup: Cleanup) -> Suite:
    names = ["engine run, warm pool, runsc", "engine run, warm=False, runsc",
             "docker run --rm (CLI), runsc"]
    reason = runsc_unavailable()
    if reason:
        return Suite("gvisor_fresh", "Fresh run of print(1) under gVisor", "ms",
                     [Series(n, error=reason) for n in names], baseline=names[2])
    warm = DockerSandbox(runtime="runsc")
    cold = DockerSandbox(runtime="runsc", warm=False)
    for sandbox in (warm, cold):
        cleanup.add(sandbox.cleanup_all)
    out = {name: Series(name) for name in names[:2]}
    series = scaled(round_robin({names[0]: engine(warm, out[names[0]]),
                                 names[1]: engine(cold, out[names[1]]),
                                 names[2]: docker_cli("runsc")},
                                iterations, warmup=1, settle=settle_engine, series=out), 1000)
    for s in series:
        s.note = phase_note(s)
    return Suite("gvisor_fresh", "Fresh run of print(1) under gVisor (runsc)", "ms", series,
                 baseline=names[2])


_runsc_checked: list[str] = []


def runsc_unavailable() -> str:
    """Empty if gVisor is registered with the daemon and runs our image, else why not."""
    if not _runsc_checked:
        client = docker.from_env()
        try:
            if "runsc" not in client.info().get("Runtimes", {}):
                reason = "n/a (the runsc runtime is not registered with Docker)"
            else:
                out = client.containers.run(IMAGE, ["python3", "-c", PRINT1], runtime="runsc",
                                            remove=True, labels={BENCH_LABEL: "probe"},
                                            network_mode="none")
                reason = "" if out.strip() == b"1" else f"n/a (runsc printed {out[:80]!r})"
        except docker.errors.DockerException as exc:
            reason = f"n/a (runsc does not run: {str(exc)[:120]})"
        finally:
            client.close()
        _runsc_checked.append(reason)
    return _runsc_checked[0]
