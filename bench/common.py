"""Shared pieces: samples and their statistics, the round-robin scheduler, RSS sampling, the
machine description and the clean-up of every container the bench made."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import docker
import psutil

BENCH_LABEL = "sandbox-kernel-bench"
"""Label of the containers that the raw-Docker contenders (CLI, docker-py, llm-sandbox) create."""
IMAGE = "sandbox-kernel-python:latest"
PRINT1 = "print(1)"
MiB = 1024 * 1024


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class Series:
    """The samples of one contender in one suite (or why it has none)."""

    name: str
    samples: list[float] = field(default_factory=list)
    error: str | None = None
    note: str = ""
    phases: dict[str, list[float]] = field(default_factory=dict)
    """Optional break-down of each sample into named phases (same unit as the samples)."""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples and not self.error else None

    @property
    def p90(self) -> float | None:
        return percentile(self.samples, 90) if self.samples and not self.error else None

    def phase_medians(self) -> dict[str, float]:
        return {k: statistics.median(v) for k, v in self.phases.items() if v}

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "median": self.median, "p90": self.p90, "n": len(self.samples),
                "error": self.error, "note": self.note, "phase_medians": self.phase_medians(),
                "samples": self.samples}


@dataclass
class Suite:
    """One measurement, several contenders; ratios are taken against ``baseline``."""

    key: str
    title: str
    unit: str
    series: list[Series]
    baseline: str | None = None
    higher_is_better: bool = False
    notes: list[str] = field(default_factory=list)

    def get(self, name: str) -> Series | None:
        return next((s for s in self.series if s.name == name), None)

    def ratio(self, name: str) -> float | None:
        """Median of ``name`` over the baseline's median."""
        base = self.get(self.baseline) if self.baseline else None
        this = self.get(name)
        if base is None or this is None or not base.median or this.median is None:
            return None
        return this.median / base.median

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "unit": self.unit, "baseline": self.baseline,
                "higher_is_better": self.higher_is_better, "notes": self.notes,
                "series": [dict(s.as_dict(), ratio=self.ratio(s.name)) for s in self.series]}


def scaled(series: list[Series], factor: float) -> list[Series]:
    """Convert samples (and phases) in place, e.g. seconds to milliseconds; returns ``series``."""
    for s in series:
        s.samples = [v * factor for v in s.samples]
        s.phases = {k: [v * factor for v in vs] for k, vs in s.phases.items()}
    return series


Sample = Callable[[], float]
"""Does one operation and returns its measured duration (it may exclude its own set-up)."""


def round_robin(
    contenders: dict[str, Sample | str],
    iterations: int,
    warmup: int = 1,
    settle: Callable[[], None] | None = None,
    series: dict[str, Series] | None = None,
) -> list[Series]:
    """Run one sample of every contender per iteration, rotating the order each time.

    Interleaving spreads machine noise over all contenders alike. A string instead of a callable
    marks a contender as unavailable (the string says why); a contender that raises is dropped
    with its error. ``settle`` runs after every sample, so background work of one contender
    (warm-pool refills, deferred removals) does not land in the next one's time.
    """
    out = series or {}
    for name in contenders:
        out.setdefault(name, Series(name))
    for name, fn in contenders.items():
        if isinstance(fn, str):
            out[name].error = fn
    names = [n for n, fn in contenders.items() if not isinstance(fn, str)]
    for i in range(warmup + iterations):
        shift = i % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            s = out[name]
            if s.error:
                continue
            fn = contenders[name]
            assert not isinstance(fn, str)
            try:
                value = fn()
            except Exception as exc:  # noqa: BLE001 - reported in the table as n/a
                s.error = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
                continue
            finally:
                if settle is not None:
                    settle()
            if i >= warmup:
                s.samples.append(value)
    for s in out.values():  # warm-up samples do not count in the break-down either
        for key, values in s.phases.items():
            s.phases[key] = values[len(values) - len(s.samples):] if s.samples else []
    return [out[name] for name in contenders]


class PeakRss:
    """Samples a process's RSS in a thread: ``baseline`` at entry, ``peak`` while inside."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.baseline = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    @property
    def delta_mib(self) -> float:
        return (self.peak - self.baseline) / MiB


def container_memory(api: docker.APIClient, container_id: str) -> int:
    """A container's memory use as ``docker stats`` counts it (usage less inactive file cache)."""
    v1 = f"/sys/fs/cgroup/memory/docker/{container_id}"
    v2 = f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope"
    for usage_file, inactive_key in ((f"{v1}/memory.usage_in_bytes", "total_inactive_file"),
                                     (f"{v2}/memory.current", "inactive_file")):
        try:
            with open(usage_file) as f:
                usage = int(f.read())
            with open(os.path.join(os.path.dirname(usage_file), "memory.stat")) as f:
                stat = dict(line.split() for line in f)
            return usage - int(stat.get(inactive_key, 0))
        except OSError:
            continue
    mem = api.stats(container_id, stream=False)["memory_stats"]
    stats = mem.get("stats", {})
    return int(mem["usage"]) - int(stats.get("total_inactive_file", stats.get("inactive_file", 0)))


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def machine() -> dict[str, Any]:
    """What the numbers were taken on, including how busy the machine was."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), model)
    except OSError:
        pass
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "os": _os_name(),
        "python": sys.version.split()[0],
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        client = docker.from_env()
        daemon = client.info()
        info["docker"] = client.version().get("Version")
        info["runtimes"] = sorted(daemon.get("Runtimes", {}))
        info["default_runtime"] = daemon.get("DefaultRuntime")
        info["cgroup"] = f"v{daemon.get('CgroupVersion', '?')} ({daemon.get('CgroupDriver')})"
        client.close()
    except docker.errors.DockerException as exc:
        info["docker"] = f"unreachable ({exc})"
    return info


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        return fields.get("PRETTY_NAME", "").strip('"')
    except OSError:
        return platform.platform()


def describe_machine(info: dict[str, Any]) -> str:
    return (f"{info['nproc']} × {info['cpu']}, {info['memory_gib']} GiB, {info['os']}, "
            f"Linux {info['kernel']}, Docker {info.get('docker')} "
            f"(cgroup {info.get('cgroup', '?')}), Python {info['python']}; "
            f"load average {info['loadavg_start'][0]} at start, "
            f"{info.get('loadavg_end', ['?'])[0]} at end")


class Cleanup:
    """Remembers what the bench started and removes all of it at the end, whatever happened."""

    def __init__(self) -> None:
        self.kernel_pids: set[int] = set()
        self.kernels: list[psutil.Process] = []
        self.closers: list[Callable[[], object]] = []

    def add(self, closer: Callable[[], object]) -> None:
        self.closers.append(closer)

    def add_kernel(self, pid: int) -> None:
        self.kernel_pids.add(pid)
        with contextlib.suppress(psutil.Error):
            self.kernels.append(psutil.Process(pid))

    def stop_kernels(self) -> None:
        """Terminate kernel processes we started that are still running (an interrupted run)."""
        alive = [p for p in self.kernels if p.is_running()]
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, still = psutil.wait_procs(alive, timeout=10)
        for p in still:
            with contextlib.suppress(psutil.Error):
                p.kill()

    def run(self) -> list[str]:
        """Close everything registered, then remove every container still ours; return leaks."""
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                print(f"bench: clean-up step failed: {exc}", file=sys.stderr)
        self.closers.clear()
        self.stop_kernels()
        return self.remove_leftovers()

    def our_containers(self, client: docker.DockerClient) -> Iterable[Any]:
        from sandbox_kernel.engine.ownership import LABEL, OWNER_LABEL

        owners = {str(os.getpid())} | {str(pid) for pid in self.kernel_pids}
        yield from client.containers.list(all=True, filters={"label": BENCH_LABEL})
        for c in client.containers.list(all=True, filters={"label": LABEL}):
            owner = (c.labels or {}).get(OWNER_LABEL, "")
            parts = owner.rsplit(":", 2)
            if len(parts) == 3 and parts[1] in owners:
                yield c

    def remove_leftovers(self) -> list[str]:
        """Remove containers labelled for the bench or owned by this process or its kernels."""
        client = docker.from_env()
        leaked = []
        try:
            for c in list(self.our_containers(client)):
                leaked.append(c.short_id)
                try:
                    c.remove(force=True)
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError as exc:
                    if "already in progress" not in str(exc):
                        raise
        finally:
            client.close()
        return leaked
