"""How long the output policy takes on big legitimate outputs and on the costliest hostile ones.

    python bench/output_policy.py [--repeat N]

Prints the median and maximum wall time of ``OutputPolicy.display`` for: a 1 MiB HTML table
(pandas' ``_repr_html_`` shape), a 2 MiB matplotlib-style SVG plot (paths, markers drawn with
``<use xlink:href="#...">``, clip paths), a 256 KiB Markdown table, a 2 MiB PNG, and hostile
inputs built to make HTML parsing slow (2 MiB of nesting just under the depth limit, and deeper).
Pure CPU: no Docker, no network.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import struct
import time
import zlib
from collections.abc import Callable

from sandbox_kernel.output_policy import MiB, OutputPolicy

POLICY = OutputPolicy(max_output_bytes=4 * MiB)  # room for the 2 MiB SVG; other caps default


def html_table(size: int) -> str:
    head = ('<div>\n<style scoped>\n    .dataframe tbody tr th {\n        vertical-align: top;\n'
            '    }\n</style>\n<table border="1" class="dataframe">\n  <thead>\n'
            '    <tr style="text-align: right;">\n      <th></th>\n'
            + "".join(f"      <th>col{i}</th>\n" for i in range(8)) + "    </tr>\n  </thead>\n"
            "  <tbody>\n")
    rows = []
    total = len(head)
    index = 0
    while total < size:
        row = (f"    <tr>\n      <th>{index}</th>\n"
               + "".join(f"      <td>{index * 0.37 + i:.6f}</td>\n" for i in range(8))
               + "    </tr>\n")
        rows.append(row)
        total += len(row)
        index += 1
    return head + "".join(rows) + "  </tbody>\n</table>\n</div>"


def svg_plot(size: int) -> str:
    head = ('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
            '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n'
            '  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
            '<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="460.8pt" height="345.6pt" '
            'viewBox="0 0 460.8 345.6" xmlns="http://www.w3.org/2000/svg" version="1.1">\n'
            ' <defs>\n  <style type="text/css">*{stroke-linejoin: round; stroke-linecap: butt}'
            '</style>\n </defs>\n <g id="figure_1">\n  <g id="axes_1">\n'
            '   <defs>\n    <path id="m7f3a" d="M 0 3 C 0.795609 3 1.55874 2.683901 2.12132 '
            '2.12132 C 2.683901 1.55874 3 0.795609 3 0 z" style="stroke: #1f77b4"/>\n   </defs>\n'
            '   <g clip-path="url(#p0e1d)">\n')
    parts = [head]
    total = len(head)
    index = 0
    while total < size - 400:
        if index % 2:
            part = (f'    <use xlink:href="#m7f3a" x="{57.6 + index % 357:.6f}" '
                    f'y="{41.5 + index % 266:.6f}" style="fill: #1f77b4; stroke: #1f77b4"/>\n')
        else:
            points = " L ".join(f"{(index + k) % 460:.3f} {(index * k) % 345:.3f}"
                                for k in range(12))
            part = (f'    <path d="M {points}" clip-path="url(#p0e1d)" '
                    'style="fill: none; stroke: #ff7f0e; stroke-width: 1.5; '
                    'stroke-linecap: square"/>\n')
        parts.append(part)
        total += len(part)
        index += 1
    parts.append('   </g>\n  </g>\n </g>\n <defs>\n  <clipPath id="p0e1d">\n'
                 '   <rect x="57.6" y="41.472" width="357.12" height="266.112"/>\n'
                 '  </clipPath>\n </defs>\n</svg>\n')
    return "".join(parts)


def markdown_table(size: int) -> str:
    lines = ["| n | square | note |", "|---:|---:|:---|"]
    total = 40
    index = 0
    while total < size:
        line = f"| {index} | {index * index} | *row* **{index}** `x < y` |"
        lines.append(line)
        total += len(line) + 1
        index += 1
    return "\n".join(lines)


def png(size: int) -> str:
    width = 1024
    height = max(1, size // (width * 3))
    raw = b"".join(b"\x00" + bytes((x * 7 + y * 13) % 256 for x in range(width * 3))
                   for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                             0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b""))
    return base64.b64encode(data).decode()


def measure(name: str, make: Callable[[], dict[str, str]], repeat: int) -> None:
    data = make()
    size = sum(len(value.encode()) for value in data.values())
    times = []
    result = None
    for _ in range(repeat):
        budget = POLICY.budget()
        started = time.perf_counter()
        result = POLICY.display(data, {}, budget)
        times.append(time.perf_counter() - started)
    kept = sorted(result.data) if result else []
    print(f"{name:<44} {size / MiB:5.2f} MiB  median {statistics.median(times) * 1000:7.1f} ms"
          f"  max {max(times) * 1000:7.1f} ms  kept {kept}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    two = 2 * MiB
    cases: list[tuple[str, Callable[[], dict[str, str]]]] = [
        ("HTML table (pandas shape)", lambda: {"text/html": html_table(MiB)}),
        ("SVG plot (matplotlib shape)", lambda: {"image/svg+xml": svg_plot(two)}),
        ("Markdown table (256 KiB, the default cap)", lambda: {
            "text/markdown": markdown_table(256 * 1024 - 100)}),
        ("PNG", lambda: {"image/png": png(two)}),
        ("text/plain (truncated at the 4 MiB cap)", lambda: {"text/plain": "x" * (8 * MiB)}),
        ("hostile: <div>*63 </div>*63 repeated", lambda: {
            "text/html": ("<div>" * 63 + "</div>" * 63) * (two // 693)}),
        ("hostile: <ul><li> nesting repeated", lambda: {
            "text/html": ("<ul><li>" * 31 + "</li></ul>" * 31) * (two // 558)}),
        ("hostile: <b> nesting repeated", lambda: {
            "text/html": ("<b>" * 63 + "</b>" * 63) * (two // 441)}),
        ("hostile: <div>*400000 (refused)", lambda: {"text/html": "<div>" * (two // 5)}),
        ("hostile: SVG <g> 200k elements (refused)", lambda: {
            "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg">'
            + "<g/>" * 300_000 + "</svg>"}),
    ]
    for name, make in cases:
        measure(name, make, repeat)


if __name__ == "__main__":
    main()
