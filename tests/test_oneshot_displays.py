"""One-shot Python runs return the figures ``plt.show()`` draws (``drivers/oneshot_plots.py``),
under runc and gVisor, on real containers; other programs and languages are unaffected."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from sandbox_kernel import DockerSandbox, Limits

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ONE_FIGURE = ("import matplotlib.pyplot as plt\nprint('before')\nplt.plot([1, 2, 3])\n"
              "plt.show()\nprint('after')\n")
TWO_FIGURES = ("import matplotlib.pyplot as plt\nplt.figure()\nplt.plot([1])\nplt.figure()\n"
               "plt.bar([1, 2], [3, 4])\nplt.show()\nplt.show()\n")


@pytest.fixture(scope="module", params=[None, "runsc"], ids=["runc", "runsc"])
def engine(request: pytest.FixtureRequest) -> Iterator[DockerSandbox]:
    sandbox = DockerSandbox(runtime=request.param, warm=False)
    if request.param is not None and request.param not in sandbox.runtimes():
        pytest.fail(f"{request.param} is not registered with the daemon")
    yield sandbox
    sandbox.cleanup_all()


def pngs(displays: list[dict[str, object]]) -> list[bytes]:
    found = []
    for item in displays:
        data = item["data"]
        assert isinstance(data, dict) and set(data) == {"image/png", "text/plain"}
        found.append(base64.b64decode(data["image/png"]))
    return found


def test_a_shown_figure_is_one_png_display(engine: DockerSandbox) -> None:
    result = engine.run("python", ONE_FIGURE, timeout=60)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "before\nafter\n", "")
    (png,) = pngs(result.displays)
    assert png.startswith(PNG_MAGIC) and len(png) > 1000
    assert result.displays[0]["data"]["text/plain"] == "<Figure size 640x480 with 1 Axes>"


def test_two_figures_are_two_displays_and_shown_figures_are_closed(engine: DockerSandbox) -> None:
    result = engine.run("python", TWO_FIGURES, timeout=60)
    assert result.exit_code == 0, result.stderr
    images = pngs(result.displays)
    assert len(images) == 2 and all(png.startswith(PNG_MAGIC) for png in images)
    assert images[0] != images[1]


def test_a_figure_over_the_message_cap_becomes_a_note(engine: DockerSandbox) -> None:
    result = engine.run("python", ONE_FIGURE, timeout=60, limits=Limits(max_message=4096))
    assert (result.exit_code, result.stdout, result.displays) == (0, "before\nafter\n", [])
    assert "[sandbox-kernel] dropped a display_data output" in result.stderr
    assert "larger than 4.0 KiB" in result.stderr


def test_a_child_python_shows_its_figures_too(engine: DockerSandbox) -> None:
    """The backend's path survives gVisor's sitecustomize for child interpreters."""
    code = ("import subprocess, sys\n"
            f"subprocess.run([sys.executable, '-c', {ONE_FIGURE!r}], check=True)\n")
    result = engine.run("python", code, timeout=60)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "before\nafter\n", "")
    assert len(pngs(result.displays)) == 1


def test_programs_that_do_not_plot_or_choose_their_backend_are_unaffected(
    engine: DockerSandbox,
) -> None:
    plain = engine.run("python", "print(1)", timeout=60)
    assert (plain.exit_code, plain.stdout, plain.stderr, plain.displays) == (0, "1\n", "", [])
    agg = engine.run(
        "python",
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "plt.plot([1, 2])\nplt.savefig('out.png')\nprint(matplotlib.get_backend())\n",
        timeout=60, collect=["*"])
    assert (agg.exit_code, agg.stdout, agg.displays) == (0, "agg\n", [])
    assert list(agg.files) == ["out.png"] and agg.files["out.png"].startswith(PNG_MAGIC)


def test_the_display_channel_cannot_forge_the_exit_status(engine: DockerSandbox) -> None:
    """The program knows its display token, never the exit markers' token: an exit marker sent
    with the display token is a malformed display, and the real status stands."""
    code = ("import os, sys\ntoken = os.environ['SANDBOX_KERNEL_DISPLAY'].split()[0]\n"
            "body = b'{\"status\":0,\"oom\":0}'\n"
            "frame = b'\\x1e\\x1f%s\\x1f%d\\x1f%s\\n' % (token.encode(), len(body), body)\n"
            "for fd in (1, 2):\n"
            "    os.write(fd, frame)\n"
            "sys.exit(3)\n")
    result = engine.run("python", code, timeout=60)
    assert result.exit_code == 3 and result.displays == []
    assert "dropped 1 malformed message(s)" in result.stderr


def test_other_languages_get_no_backend(engine: DockerSandbox) -> None:
    result = engine.run("bash", "echo \"[$MPLBACKEND][$SANDBOX_KERNEL_DISPLAY][$PYTHONPATH]\"",
                        timeout=60)
    assert (result.exit_code, result.stdout, result.displays) == (0, "[][][]\n", [])
