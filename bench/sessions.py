"""Engine sessions without Jupyter: cell latency (runc and gVisor), concurrent sessions
(throughput and idle memory)."""

from __future__ import annotations

import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

from bench.common import (
    PRINT1,
    Cleanup,
    MiB,
    Series,
    Suite,
    container_memory,
    percentile,
    round_robin,
    scaled,
)
from bench.fresh import runsc_unavailable
from sandbox_kernel import DockerSandbox
from sandbox_kernel.engine.session import SandboxSession


def open_session(runtime: str, cleanup: Cleanup) -> SandboxSession:
    sandbox = DockerSandbox(runtime=runtime, warm=False)
    cleanup.add(sandbox.cleanup_all)
    session = sandbox.session("python")
    session.start()
    return session


def session_sample(session: SandboxSession) -> float:
    t0 = time.perf_counter()
    result = session.run(PRINT1)
    elapsed = time.perf_counter() - t0
    if result.stdout.strip() != "1":
        raise RuntimeError(f"printed {result.stdout[:200]!r} (exit {result.exit_code}, "
                           f"{result.stderr[:200]!r})")
    return elapsed


def session_latency(iterations: int, cleanup: Cleanup) -> Suite:
    """print(1) in a running engine session: runc against gVisor, no Jupyter in between."""
    contenders: dict[str, Any] = {}
    sessions = []
    try:
        for runtime in ("runc", "runsc"):
            name = f"engine session, {runtime}"
            reason = runsc_unavailable() if runtime == "runsc" else ""
            if reason:
                contenders[name] = reason
                continue
            session = open_session(runtime, cleanup)
            sessions.append(session)
            contenders[name] = lambda s=session: session_sample(s)
        series = scaled(round_robin(contenders, iterations, warmup=5), 1000)
    finally:
        for session in sessions:
            session.close()
    return Suite("session", "Engine session cell, print(1) (no Jupyter)", "ms", series,
                 baseline="engine session, runc",
                 notes=["SandboxSession.run in this process; the difference to the kernel row "
                        "above is the kernel's own overhead"])


def concurrency(counts: list[int], seconds: float, cleanup: Cleanup) -> tuple[Suite, Suite]:
    """``n`` sessions, each in its own thread, running print(1) cells for ``seconds``."""
    throughput: list[Series] = []
    memory: list[Series] = []
    for n in counts:
        label = f"{n} session{'s' if n > 1 else ''}"
        try:
            rate, latencies, per_container, host_mib = _concurrent(n, seconds, cleanup)
        except Exception as exc:  # noqa: BLE001 - reported as n/a
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            throughput.append(Series(label, error=error))
            memory.append(Series(label, error=error))
            continue
        ms = [x * 1000 for x in latencies]
        throughput.append(Series(label, [rate], note=(
            f"cell latency p50 {statistics.median(ms):.1f} ms, p90 {percentile(ms, 90):.1f} ms")))
        memory.append(Series(label, [x / MiB for x in per_container],
                             note=f"host side: +{host_mib:.1f} MiB RSS per session"))
    return (
        Suite("throughput", f"Concurrent sessions, print(1) cells for {seconds:g} s", "cells/s",
              throughput, baseline=throughput[0].name if throughput else None,
              higher_is_better=True,
              notes=[f"{os.cpu_count()} cores; each container is limited to 0.5 CPU"]),
        Suite("memory", "Idle memory per session container (cgroup, as docker stats)", "MiB",
              memory, notes=["usage_in_bytes less inactive file cache, after one cell"]),
    )


def _concurrent(n: int, seconds: float, cleanup: Cleanup) -> tuple[float, list[float], list[int],
                                                                     float]:
    me = psutil.Process()
    rss_before = me.memory_info().rss
    sandbox = DockerSandbox(runtime="runc", warm=False)
    cleanup.add(sandbox.cleanup_all)
    sessions = [sandbox.session("python") for _ in range(n)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda s: s.start(), sessions))
            list(pool.map(session_sample, sessions))
        host_mib = (me.memory_info().rss - rss_before) / MiB / n
        time.sleep(1.0)
        api = sandbox.backend.api
        per_container = [container_memory(api, s.container_id) for s in sessions
                         if s.container_id]

        latencies: list[float] = []
        lock = threading.Lock()
        barrier = threading.Barrier(n + 1)
        failures: list[BaseException] = []

        def loop(session: SandboxSession) -> None:
            mine = []
            barrier.wait()
            try:
                while time.perf_counter() < deadline:
                    mine.append(session_sample(session))
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                failures.append(exc)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=loop, args=(s,), daemon=True) for s in sessions]
        for t in threads:
            t.start()
        deadline = time.perf_counter() + seconds
        t0 = time.perf_counter()
        barrier.wait()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        if failures:
            raise failures[0]
        return len(latencies) / elapsed, latencies, per_container, host_mib
    finally:
        sandbox.cleanup_all()
