"""A stdout flood (1 GiB by default) through an engine session and through the `sandbox-python`
kernel: time to return, and how much the reading process's RSS grows (sampled in a thread)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from bench.common import PRINT1, Cleanup, MiB, PeakRss, Series, Suite, round_robin
from bench.jupyter import SANDBOX, execute, kernel_pid, missing_kernel, start, stop
from bench.sessions import open_session

FLOOD = ("import sys\nchunk = b'x' * (1 << 20)\nfor _ in range({mib}):\n"
         "    sys.stdout.buffer.write(chunk)\nsys.stdout.flush()\n")
ENGINE = "engine session (read by this process)"
KERNEL = f"{SANDBOX} (read by the kernel process)"


def measured(pid: int, rss: Series, run: Callable[[], str]) -> Callable[[], float]:
    """Time ``run``; its peak RSS growth goes to ``rss`` and the retained growth to its phases."""
    def once() -> float:
        with PeakRss(pid) as sampler:
            t0 = time.perf_counter()
            received = run()
            elapsed = time.perf_counter() - t0
        rss.samples.append(sampler.delta_mib)
        after = sampler.process.memory_info().rss
        rss.phases.setdefault("retained", []).append((after - sampler.baseline) / MiB)
        rss.phases.setdefault("received", []).append(len(received) / MiB)
        return elapsed
    return once


def flood(mib: int, iterations: int, cleanup: Cleanup) -> tuple[Suite, Suite]:
    code = FLOOD.format(mib=mib)
    rss = {ENGINE: Series(ENGINE), KERNEL: Series(KERNEL)}
    contenders: dict[str, Callable[[], float] | str] = {}
    session = open_session("runc", cleanup)
    session.run(PRINT1)

    def engine_run() -> str:
        result = session.run(code, timeout=120)
        if result.exit_code != 0 or result.timed_out:
            raise RuntimeError(f"exit {result.exit_code}, timed out {result.timed_out}: "
                               f"{result.stderr[:200]!r}")
        return result.stdout

    contenders[ENGINE] = measured(os.getpid(), rss[ENGINE], engine_run)
    kernel = None
    contenders[KERNEL] = missing_kernel(SANDBOX)
    try:
        if not contenders[KERNEL]:
            kernel = start(SANDBOX, cleanup)
            km, kc = kernel
            kc.wait_for_ready(timeout=60)
            execute(kc, PRINT1)
            pid = kernel_pid(km)
            assert pid is not None
            cell = "%%timeout 120\n" + code
            contenders[KERNEL] = measured(pid, rss[KERNEL],
                                          lambda: execute(kc, cell, timeout=180))
        times = round_robin(contenders, iterations, warmup=0)
    finally:
        session.close()
        if kernel is not None:
            stop(*kernel)
    for t in times:
        r = rss[t.name]
        r.error = t.error
        r.samples = r.samples[:len(t.samples)]
        got = r.phase_medians()
        if got:
            t.note = f"kept or forwarded {got['received']:.1f} MiB of it (the rest is dropped)"
            r.note = f"worst {max(r.samples):.1f} MiB; {got['retained']:.1f} MiB still held after"
    size = f"{mib / 1024:g} GiB" if mib >= 1024 else f"{mib} MiB"
    return (Suite("flood_time", f"{size} stdout flood: time to return", "s", times),
            Suite("flood_rss", f"{size} stdout flood: reader's peak RSS growth", "MiB",
                  list(rss.values()),
                  notes=["peak RSS during the cell less RSS just before it"]))
