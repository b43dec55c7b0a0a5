"""Through jupyter_client, as a notebook front-end sees it: `sandbox-python` against the native
`python3` ipykernel (per-cell round trip, kernel start to first output)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from bench.common import PRINT1, Cleanup, Series, Suite, round_robin, scaled

SANDBOX = "sandbox-python"
NATIVE = "python3"
CELL_TIMEOUT = 60.0


def missing_kernel(name: str) -> str:
    """Empty if the kernelspec is installed, else an "n/a" reason."""
    if name in KernelSpecManager().find_kernel_specs():
        return ""
    hint = " (python -m sandbox_kernel install --sys-prefix)" if name == SANDBOX else ""
    return f"n/a (kernelspec {name} is not installed{hint})"


def start(name: str, cleanup: Cleanup) -> tuple[KernelManager, BlockingKernelClient]:
    km = KernelManager(kernel_name=name)
    km.start_kernel()
    pid = kernel_pid(km)
    if pid:
        cleanup.add_kernel(pid)
    kc = km.client()
    kc.start_channels()
    return km, kc


def stop(km: KernelManager, kc: BlockingKernelClient) -> None:
    kc.stop_channels()
    if km.has_kernel:
        km.shutdown_kernel(now=False)


@contextmanager
def running(name: str, cleanup: Cleanup) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    km, kc = start(name, cleanup)
    try:
        kc.wait_for_ready(timeout=CELL_TIMEOUT)
        yield km, kc
    finally:
        stop(km, kc)


def kernel_pid(km: KernelManager) -> int | None:
    process = getattr(km.provisioner, "process", None)
    return getattr(process, "pid", None)


def execute(kc: BlockingKernelClient, code: str, timeout: float = CELL_TIMEOUT,
            first_output: list[float] | None = None,
            displays: list[dict[str, Any]] | None = None) -> str:
    """Run a cell and wait for its reply and for idle; returns stdout (``first_output`` gets
    the time the first stream message arrived, ``displays`` the display_data contents)."""
    msg_id = kc.execute(code)
    deadline = time.monotonic() + timeout
    stdout: list[str] = []
    idle = False
    while not idle:
        msg = kc.get_iopub_msg(timeout=max(0.0, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            if first_output is not None and not first_output:
                first_output.append(time.perf_counter())
            stdout.append(content["text"])
        elif kind == "display_data" and displays is not None:
            displays.append(content)
        elif kind == "error":
            raise RuntimeError(f"cell failed: {content['ename']}: {content['evalue'][:200]}")
        idle = kind == "status" and content["execution_state"] == "idle"
    while True:
        reply = kc.get_shell_msg(timeout=max(0.0, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"execute_reply status {reply['content']['status']}")
    return "".join(stdout)


def cell_sample(kc: BlockingKernelClient) -> float:
    t0 = time.perf_counter()
    out = execute(kc, PRINT1)
    elapsed = time.perf_counter() - t0
    if out.strip() != "1":
        raise RuntimeError(f"printed {out[:200]!r}, expected '1'")
    return elapsed


def cell_latency(iterations: int, cleanup: Cleanup) -> tuple[Suite, dict[str, float]]:
    """Round trip of print(1) in a running kernel; also the kernels' idle RSS (MiB)."""
    contenders: dict[str, Any] = {}
    rss: dict[str, float] = {}
    started: list[tuple[KernelManager, BlockingKernelClient]] = []
    try:
        for name in (SANDBOX, NATIVE):
            contenders[name] = missing_kernel(name)
            if contenders[name]:
                continue
            km, kc = start(name, cleanup)
            started.append((km, kc))
            try:
                kc.wait_for_ready(timeout=CELL_TIMEOUT)
            except RuntimeError as exc:
                contenders[name] = f"n/a (kernel did not start: {exc})"
                continue
            contenders[name] = lambda kc=kc: cell_sample(kc)
        series = scaled(round_robin(contenders, iterations, warmup=5), 1000)
        for km, _ in started:
            pid = kernel_pid(km)
            if pid:
                rss[km.kernel_name] = psutil.Process(pid).memory_info().rss / 2**20
    finally:
        for km, kc in started:
            stop(km, kc)
    for s in series:
        if s.name == SANDBOX:
            s.note = "session mode: one persistent container, cells over the attach socket"
        else:
            s.note = "native ipykernel: the code runs in the kernel process, no sandbox"
    suite = Suite("cell", "Per-cell round trip of print(1) via jupyter_client", "ms", series,
                  baseline=NATIVE,
                  notes=["execute_request until execute_reply and status idle"])
    return suite, rss


def kernel_start(iterations: int, cleanup: Cleanup) -> Suite:
    """From KernelManager.start_kernel to the stream message of a first print(1)."""
    phases: dict[str, Series] = {name: Series(name) for name in (SANDBOX, NATIVE)}

    def sample(name: str) -> float:
        t0 = time.perf_counter()
        km, kc = start(name, cleanup)
        try:
            kc.wait_for_ready(timeout=CELL_TIMEOUT)
            t_ready = time.perf_counter()
            first: list[float] = []
            out = execute(kc, PRINT1, first_output=first)
            if out.strip() != "1" or not first:
                raise RuntimeError(f"printed {out[:200]!r}, expected '1'")
        finally:
            stop(km, kc)
        phases[name].phases.setdefault("to kernel_info reply", []).append(t_ready - t0)
        phases[name].phases.setdefault("then to first output", []).append(first[0] - t_ready)
        return first[0] - t0

    contenders: dict[str, Any] = {
        name: missing_kernel(name) or (lambda name=name: sample(name)) for name in phases}
    series = scaled(round_robin(contenders, iterations, warmup=1, series=phases), 1000)
    for s in series:
        s.note = "; ".join(f"{k} {v:.0f} ms" for k, v in s.phase_medians().items())
    return Suite("start", "Kernel start to first output of print(1)", "ms", series,
                 baseline=NATIVE, notes=["shutdown is not in the time"])


PLOT_SETUP = "import matplotlib.pyplot as plt\nimport numpy as np\nxs = np.linspace(0, 10, 1000)"
PLOT = "plt.plot(xs, np.sin(xs));"
"""A 1,000-point line plot, shown inline (matplotlib-inline's PNG, as a display_data)."""


def plot_sample(kc: BlockingKernelClient) -> float:
    displays: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    execute(kc, PLOT, displays=displays)
    elapsed = time.perf_counter() - t0
    if not any("image/png" in d.get("data", {}) for d in displays):
        raise RuntimeError(f"no PNG displayed: {[list(d.get('data', {})) for d in displays]}")
    return elapsed


def plot_latency(iterations: int, cleanup: Cleanup) -> tuple[Suite, Suite]:
    """A cell that draws a 1,000-point line plot, in running kernels that imported matplotlib;
    and the memory of the idle sandbox-python session container (``docker stats``'s count)."""
    from bench.common import container_memory
    from sandbox_kernel.backends.docker.client import connect

    contenders: dict[str, Any] = {}
    idle: list[Series] = []
    started: list[tuple[KernelManager, BlockingKernelClient]] = []
    try:
        for name in (SANDBOX, NATIVE):
            contenders[name] = missing_kernel(name)
            if contenders[name]:
                continue
            km, kc = start(name, cleanup)
            started.append((km, kc))
            kc.wait_for_ready(timeout=CELL_TIMEOUT)
            reply = kc.execute_interactive(PRINT1, timeout=CELL_TIMEOUT, output_hook=lambda m: None)
            if name == SANDBOX:
                container = reply["metadata"]["sandbox"]["container_id"]
                time.sleep(1.0)
                mib = container_memory(connect(), container) / 2**20
                idle.append(Series("sandbox-python session container, idle after print(1)",
                                   [mib], note="IPython loaded; target ≤ 64 MiB"))
            execute(kc, PLOT_SETUP)
            contenders[name] = lambda kc=kc: plot_sample(kc)
        series = scaled(round_robin(contenders, iterations, warmup=2), 1000)
    finally:
        for km, kc in started:
            stop(km, kc)
    for s in series:
        s.note = ("PNG drawn in the sandbox, policed, rebuilt as display_data" if s.name == SANDBOX
                  else "native ipykernel, matplotlib-inline")
    plot = Suite("plot", "Cell drawing a 1,000-point matplotlib line plot (inline PNG)", "ms",
                 series, baseline=NATIVE,
                 notes=["matplotlib imported by an earlier cell; execute_request to idle"])
    memory = Suite("idle_memory", "Memory of an idle sandbox-python session container", "MiB",
                   idle, notes=["usage less inactive file cache, as docker stats shows it"])
    return plot, memory
