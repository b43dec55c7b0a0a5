"""Targets, and the results as a terminal table, a README-ready markdown table, JSON and a PNG."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Suite, describe_machine
from bench.fresh import ENGINE_WARM
from bench.jupyter import SANDBOX


@dataclass
class Target:
    text: str
    suite: str
    series: str | None
    """Contender whose ratio to the baseline is checked; None: every row's value."""
    limit: float


TARGETS = [
    Target("session cell ≤ 1.25× native ipykernel", "cell", SANDBOX, 1.25),
    Target("fresh run ≤ 0.5× docker CLI", "fresh", ENGINE_WARM, 0.5),
    Target("kernel start ≤ 1.5× native", "start", SANDBOX, 1.5),
    Target("1,000-point plot cell ≤ 1.5× native", "plot", SANDBOX, 1.5),
    Target("idle session container ≤ 64 MiB", "idle_memory", None, 64.0),
    Target("stdout flood: reader RSS ≤ +64 MiB", "flood_rss", None, 64.0),
]


def evaluate(suites: list[Suite]) -> list[dict[str, Any]]:
    """PASS, MISS or n/a for every target whose suite ran."""
    by_key = {s.key: s for s in suites}
    out = []
    for t in TARGETS:
        suite = by_key.get(t.suite)
        if suite is None:
            continue
        if t.series is not None:
            rows = [(t.series, suite.ratio(t.series), "×")]
        else:
            # The worst sample, not the median: a limit on memory holds for every flood.
            rows = [(s.name, max(s.samples) if s.samples and not s.error else None, " MiB")
                    for s in suite.series]
        for name, value, unit in rows:
            status = "n/a" if value is None else ("PASS" if value <= t.limit else "MISS")
            out.append({"target": t.text, "contender": name, "value": value, "limit": t.limit,
                        "measured": "n/a" if value is None else f"{value:.2f}{unit}",
                        "status": status})
    return out


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{digits}f} {unit}"


def ratio_text(suite: Suite, name: str) -> str:
    if suite.baseline is None:
        return ""
    if name == suite.baseline:
        return "1.00× (baseline)"
    r = suite.ratio(name)
    return "" if r is None else f"{r:.2f}×"


def rows(suite: Suite) -> list[list[str]]:
    out = []
    for s in suite.series:
        if s.error:
            out.append([s.name, s.error, "", "", "", s.note])
        else:
            p90 = fmt(s.p90, suite.unit) if len(s.samples) > 1 else ""
            out.append([s.name, fmt(s.median, suite.unit), p90, str(len(s.samples)),
                        ratio_text(suite, s.name), s.note])
    return out


def text_table(suites: list[Suite], targets: list[dict[str, Any]]) -> str:
    header = ["contender", "median", "p90", "n", "vs baseline"]
    lines = []
    for suite in suites:
        body = [r[:5] for r in rows(suite)]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(5)]
        lines.append(f"\n{suite.title}")
        for r in [header, *body]:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        for r in rows(suite):
            if r[5]:
                lines.append(f"    {r[0]}: {r[5]}")
    lines.append("\nTargets (reported, never asserted):")
    for t in targets:
        lines.append(f"  {t['status']:4}  {t['target']}: {t['contender']} {t['measured']}")
    return "\n".join(lines)


def markdown(suites: list[Suite], targets: list[dict[str, Any]], machine: dict[str, Any],
             command: str) -> str:
    out = ["| Measure | Contender | Median | p90 | vs. baseline | Notes |",
           "| --- | --- | ---: | ---: | ---: | --- |"]
    for suite in suites:
        for i, r in enumerate(rows(suite)):
            measure = suite.title if i == 0 else ""
            cells = [measure, r[0], r[1], r[2], r[4], r[5]]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out += ["", "| Target | Contender | Measured | Result |", "| --- | --- | ---: | --- |"]
    for t in targets:
        out.append(f"| {t['target']} | {t['contender']} | {t['measured']} | {t['status']} |")
    out += ["", f"Machine: {describe_machine(machine)}.", f"Command: `{command}`.", ""]
    return "\n".join(out)


def write_json(path: Path, suites: list[Suite], targets: list[dict[str, Any]],
               machine: dict[str, Any], config: dict[str, Any]) -> None:
    data = {"machine": machine, "config": config, "targets": targets,
            "suites": [s.as_dict() for s in suites]}
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_png(path: Path, suites: list[Suite], machine: dict[str, Any]) -> str | None:
    """One panel per suite: median bars with a p90 tick; returns an error if matplotlib lacks."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no chart"
    cols = 3
    nrows = (len(suites) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(6 * cols, 2.6 * nrows + 0.6), squeeze=False)
    for ax, suite in zip(axes.flat, suites, strict=False):
        names = [s.name for s in suite.series][::-1]
        medians = [s.median or 0.0 for s in suite.series][::-1]
        p90s = [s.p90 for s in suite.series][::-1]
        colors = ["#c44e52" if n == suite.baseline else "#4c72b0" for n in names]
        ax.barh(names, medians, color=colors)
        for y, (m, p, s) in enumerate(zip(medians, p90s, suite.series[::-1], strict=True)):
            if s.error:
                ax.text(0, y, "  n/a", va="center", fontsize=8)
                continue
            if p is not None and len(s.samples) > 1:
                ax.plot([p, p], [y - 0.3, y + 0.3], color="black", linewidth=1.5)
            ax.text(max(m, p or 0), y, f"  {fmt(m, suite.unit)}", va="center", fontsize=8)
        ax.set_title(suite.title, fontsize=9)
        ax.set_xlabel(suite.unit + ("  (higher is better)" if suite.higher_is_better else ""),
                      fontsize=8)
        ax.tick_params(labelsize=7)
        ax.margins(x=0.25)
    for ax in list(axes.flat)[len(suites):]:
        ax.axis("off")
    fig.suptitle("sandbox-kernel benchmarks — bar: median, tick: p90, red: baseline\n"
                 + describe_machine(machine), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
