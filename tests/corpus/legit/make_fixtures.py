"""Regenerates the legitimate outputs in this folder (needs matplotlib and pandas, not installed
by the test extra): ``python tests/corpus/legit/make_fixtures.py``.

They are what IPython displays for a pandas DataFrame (``_repr_html_``), a matplotlib figure
(inline backend PNG, and SVG with ``%config InlineBackend.figure_formats = ['svg']``), kept as
files so the unit tests need neither library.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = Path(__file__).parent


def main() -> None:
    frame = pd.DataFrame(
        {
            "name": ["alpha", "beta", "gamma"],
            "value": [1.5, 2.25, -3.0],
            "flag": [True, False, True],
        }
    )
    (HERE / "dataframe.html").write_text(frame._repr_html_())
    styled = frame.style.background_gradient(subset=["value"]).set_caption("Styled")
    (HERE / "dataframe_styled.html").write_text(styled._repr_html_())

    x = np.linspace(0, 10, 1000)
    fig, ax = plt.subplots()
    ax.plot(x, np.sin(x), label="sin")
    ax.scatter(x[::100], np.cos(x[::100]), label="cos")
    ax.imshow(np.arange(16).reshape(4, 4), extent=(0, 2, -1, 0))
    ax.set_title("A plot")
    ax.legend()
    for fmt in ("svg", "png"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt)
        data = buffer.getvalue()
        if fmt == "svg":
            (HERE / "plot.svg").write_bytes(data)
        else:
            (HERE / "plot.png.b64").write_text(base64.b64encode(data).decode() + "\n")


if __name__ == "__main__":
    main()
