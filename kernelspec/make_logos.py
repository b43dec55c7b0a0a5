"""Regenerate the kernel logos (``logo-32x32.png``, ``logo-64x64.png``, ``logo-svg.svg``).

Pure standard library, so no imaging package is needed: a rounded square in the language's colour
with a two-letter label drawn from a 5x7 pixel font. Run ``python kernelspec/make_logos.py``; the
output is committed, so this only matters when the design changes.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

FONT = {
    "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
    "Y": ["10001", "10001", "01010", "00100", "00100", "00100", "00100"],
    "$": ["00100", "01111", "10100", "01110", "00101", "11110", "00100"],
    "_": ["00000", "00000", "00000", "00000", "00000", "00000", "11111"],
    "J": ["00111", "00010", "00010", "00010", "00010", "10010", "01100"],
    "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
}

# kernel name: (label, background, foreground)
DESIGNS = {
    "sandbox-python": ("PY", (0x37, 0x76, 0xAB), (0xFF, 0xD4, 0x3B)),
    "sandbox-bash": ("$_", (0x2E, 0x34, 0x36), (0x8A, 0xE2, 0x34)),
    "sandbox-node": ("JS", (0x3C, 0x87, 0x3A), (0xFF, 0xFF, 0xFF)),
}

GRID = 16  # the logo is a 16x16 grid of "font pixels"; the label sits in its middle
RADIUS = 3.0  # corner radius, in grid units


def label_cells(label: str) -> set[tuple[int, int]]:
    """Grid cells (x, y) covered by the label, centred in the grid."""
    width = len(label) * 5 + (len(label) - 1)
    left, top = (GRID - width) // 2, (GRID - 7) // 2
    cells = set()
    for i, char in enumerate(label):
        for y, row in enumerate(FONT[char]):
            for x, bit in enumerate(row):
                if bit == "1":
                    cells.add((left + i * 6 + x, top + y))
    return cells


def coverage(px: float, py: float) -> bool:
    """Whether a point (in grid units) lies inside the rounded square."""
    cx = min(max(px, RADIUS), GRID - RADIUS)
    cy = min(max(py, RADIUS), GRID - RADIUS)
    return (px - cx) ** 2 + (py - cy) ** 2 <= RADIUS ** 2


def render(size: int, label: str, bg: tuple[int, ...], fg: tuple[int, ...]) -> bytes:
    """RGBA PNG bytes; the square's edge is anti-aliased by 4x4 supersampling."""
    cells = label_cells(label)
    scale = GRID / size
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter type: none
        for x in range(size):
            hits = sum(coverage((x + (i + 0.5) / 4) * scale, (y + (j + 0.5) / 4) * scale)
                       for i in range(4) for j in range(4))
            colour = fg if (int(x * scale), int(y * scale)) in cells else bg
            row += bytes(colour) + bytes([round(255 * hits / 16)])
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def svg(label: str, bg: tuple[int, ...], fg: tuple[int, ...]) -> str:
    def hexa(colour: tuple[int, ...]) -> str:
        return "#" + "".join(f"{c:02x}" for c in colour)

    pixels = "".join(f'<rect x="{x}" y="{y}" width="1" height="1"/>'
                     for x, y in sorted(label_cells(label)))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {GRID} {GRID}" '
            f'width="64" height="64">'
            f'<rect width="{GRID}" height="{GRID}" rx="{RADIUS:g}" fill="{hexa(bg)}"/>'
            f'<g fill="{hexa(fg)}" shape-rendering="crispEdges">{pixels}</g></svg>\n')


def main() -> None:
    for name, (label, bg, fg) in DESIGNS.items():
        folder = HERE / name
        for size in (32, 64):
            (folder / f"logo-{size}x{size}.png").write_bytes(render(size, label, bg, fg))
        (folder / "logo-svg.svg").write_text(svg(label, bg, fg))
        print(f"wrote the logos of {name}")


if __name__ == "__main__":
    main()
