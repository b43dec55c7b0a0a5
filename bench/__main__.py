"""``python -m bench``: every benchmark in one process tree; see README.md, Performance."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from bench import flood as stdout_flood
from bench import fresh, jupyter, report, sessions
from bench.common import Cleanup, Series, Suite, describe_machine, machine

SUITES = ("cell", "plot", "session", "fresh", "gvisor", "start", "concurrency", "flood")


@dataclass
class Plan:
    cell: int = 300
    session: int = 300
    fresh: int = 20
    gvisor: int = 8
    start: int = 8
    plot: int = 30
    sessions: tuple[int, ...] = (1, 5, 20)
    seconds: float = 3.0
    flood_mib: int = 1024
    flood: int = 2


QUICK = Plan(cell=10, plot=3, session=10, fresh=2, gvisor=1, start=1, sessions=(1, 5), seconds=1.0,
             flood_mib=128, flood=1)


def run_suites(selected: list[str], plan: Plan, cleanup: Cleanup) -> list[Suite]:
    suites: list[Suite] = []
    kernel_rss: dict[str, float] = {}

    def cell() -> None:
        suite, rss = jupyter.cell_latency(plan.cell, cleanup)
        suites.append(suite)
        kernel_rss.update(rss)

    def concurrency() -> None:
        throughput, memory = sessions.concurrency(list(plan.sessions), plan.seconds, cleanup)
        for name, mib in kernel_rss.items():
            memory.series.append(Series(f"{name} kernel process (host RSS)", [mib],
                                        note="for comparison: the kernel process itself"))
        suites.extend([throughput, memory])

    def flood() -> None:
        suites.extend(stdout_flood.flood(plan.flood_mib, plan.flood, cleanup))

    steps: dict[str, tuple[str, Callable[[], Any]]] = {
        "cell": ("per-cell round trip via jupyter_client", cell),
        "plot": ("1,000-point plot cell, idle session memory",
                 lambda: suites.extend(jupyter.plot_latency(plan.plot, cleanup))),
        "session": ("engine session cells, runc and gVisor",
                    lambda: suites.append(sessions.session_latency(plan.session, cleanup))),
        "fresh": ("fresh-container runs", lambda: suites.append(
            fresh.fresh_runs(plan.fresh, cleanup))),
        "gvisor": ("fresh runs under gVisor", lambda: suites.append(
            fresh.gvisor_runs(plan.gvisor, cleanup))),
        "start": ("kernel start to first output", lambda: suites.append(
            jupyter.kernel_start(plan.start, cleanup))),
        "concurrency": ("concurrent sessions and idle memory", concurrency),
        "flood": (f"{plan.flood_mib} MiB stdout flood", flood),
    }
    for key in SUITES:
        if key not in selected:
            continue
        title, step = steps[key]
        print(f"bench: {title} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        step()
        print(f"bench:   done in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    return suites


def _terminate(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="a few iterations of everything: a smoke check, not numbers")
    parser.add_argument("--only", default=",".join(SUITES),
                        help=f"comma-separated suites to run, from: {', '.join(SUITES)}")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="where latest.json, latest.md and latest.png go")
    args = parser.parse_args(argv)
    selected = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(selected) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}")
    plan = QUICK if args.quick else Plan()

    # Measure the defaults: no SANDBOX_KERNEL_* settings leak into our engines or the kernels.
    for name in [n for n in os.environ if n.startswith("SANDBOX_KERNEL_")]:
        del os.environ[name]
    signal.signal(signal.SIGTERM, _terminate)
    info = machine()
    print(f"bench: machine: {describe_machine(info)}", file=sys.stderr)
    cleanup = Cleanup()
    started = time.monotonic()
    try:
        suites = run_suites(selected, plan, cleanup)
    except KeyboardInterrupt as exc:
        print(f"bench: interrupted ({exc or 'Ctrl-C'}); removing what it started",
              file=sys.stderr)
        return 130
    finally:
        leftovers = cleanup.run()
        if leftovers:
            print(f"bench: removed {len(leftovers)} container(s) left at the end: "
                  f"{' '.join(leftovers)}", file=sys.stderr)
    info["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    info["duration_s"] = round(time.monotonic() - started, 1)
    targets = report.evaluate(suites)

    print(report.text_table(suites, targets))
    print(f"\nMachine: {describe_machine(info)}; took {info['duration_s']} s")
    args.out.mkdir(parents=True, exist_ok=True)
    command = "bash bench/run.sh" + (" --quick" if args.quick else "")
    config = {"quick": args.quick, "suites": selected, "plan": plan.__dict__,
              "leftover_containers_removed_at_end": leftovers}
    report.write_json(args.out / "latest.json", suites, targets, info, config)
    (args.out / "latest.md").write_text(report.markdown(suites, targets, info, command))
    problem = report.write_png(args.out / "latest.png", suites, info)
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
    print(f"Wrote {args.out}/latest.json, latest.md" + ("" if problem else ", latest.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
