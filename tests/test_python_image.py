"""The default python image against the real daemon, with the default limits (256 MiB, read-only
root, /tmp on tmpfs): the scientific stack imports, matplotlib draws a PNG, and install attempts
end at once with a message that says how to add packages. python-minimal has the stdlib only."""

from __future__ import annotations

import base64
import json
import time

import pytest

from sandbox_kernel import DockerSandbox, ExecutionResult
from sandbox_kernel.backends.docker.images import FLAVOURS

BUILD_HINT = "sandbox-kernel images build python --requirements"
PACKAGES = ["IPython", "matplotlib_inline", "jedi", "jinja2", "numpy", "pandas", "matplotlib",
            "scipy", "sklearn", "sympy", "PIL"]

PLOT = r"""
import base64, io, json, os
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
fig, ax = plt.subplots()
ax.plot(np.linspace(0, 1, 50) ** 2)
buffer = io.BytesIO()
fig.savefig(buffer, format="png")
print(json.dumps({"backend": matplotlib.get_backend(), "configdir": matplotlib.get_configdir(),
                  "png": base64.b64encode(buffer.getvalue()).decode(),
                  "workspace": sorted(os.listdir("."))}))
"""


def test_every_package_imports(sandbox: DockerSandbox) -> None:
    code = ("import importlib, json\n"
            f"mods = {{name: importlib.import_module(name) for name in {PACKAGES!r}}}\n"
            "print(json.dumps({name: getattr(m, '__version__', '?') "
            "for name, m in mods.items()}))\n")
    result = sandbox.run_python(code, timeout=90)
    assert result.exit_code == 0, result.stderr
    versions = json.loads(result.stdout)
    assert set(versions) == set(PACKAGES)
    assert versions["numpy"].startswith("1.")
    assert result.stderr == ""


def test_matplotlib_draws_a_png_with_a_read_only_root(sandbox: DockerSandbox) -> None:
    result = sandbox.run_python(PLOT, timeout=90)
    assert result.exit_code == 0, result.stderr
    # no "Matplotlib created a temporary cache directory" warning: its config dir is writable
    assert result.stderr == ""
    report = json.loads(result.stdout)
    # A one-shot run's plot backend (drivers/oneshot_plots.py: Agg that also sends what
    # plt.show() draws); the image's own default is Agg.
    assert report["backend"] == "module://_sandbox_kernel_plots"
    assert report["configdir"] == "/tmp/matplotlib"
    png = base64.b64decode(report["png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert report["workspace"] == []  # nothing of matplotlib's lands in the user's directory


@pytest.mark.parametrize("command", [
    "pip install requests",
    "pip3 install requests",
    "python -m pip install requests",
    "python3 -m pip install -r requirements.txt",
    "/usr/bin/pip3 install requests",
    "python3 -m IPython --quick -c '%pip install requests'",
    "python3 -m IPython --quick -c '!pip install requests'",
])
def test_install_attempts_fail_fast_with_the_build_command(
    sandbox: DockerSandbox, command: str
) -> None:
    code = f"start=$(date +%s%N); {command}; echo \"status=$? ms=$(( ($(date +%s%N) - start) "\
           "/ 1000000 ))\""
    result = _bash_in_python_image(sandbox, code)
    output = result.stdout + result.stderr
    assert BUILD_HINT in output, output
    status_line = result.stdout.strip().splitlines()[-1]
    fields = dict(item.split("=") for item in status_line.split())
    if "IPython" not in command:  # IPython's magics print the message but return normally
        assert fields["status"] != "0"
    assert int(fields["ms"]) < 5000, status_line


def test_ipython_keeps_its_files_out_of_the_workspace(sandbox: DockerSandbox) -> None:
    result = _bash_in_python_image(
        sandbox, "python3 -m IPython --quick -c 'x = 6 * 7; print(x)' && ls -A /workspace")
    assert (result.exit_code, result.stdout.strip()) == (0, "42"), result.stderr


def test_pip_list_works_offline(sandbox: DockerSandbox) -> None:
    result = _bash_in_python_image(sandbox, "pip list && pip freeze | grep -i '^numpy=='")
    assert result.exit_code == 0, result.stderr
    names = {line.split()[0].lower() for line in result.stdout.splitlines() if line.strip()}
    assert {"numpy", "pandas", "matplotlib", "scipy", "scikit-learn", "ipython"} <= names


def test_python_minimal_has_the_standard_library_only() -> None:
    engine = DockerSandbox(images={"python": FLAVOURS["python-minimal"].tag})
    try:
        result = engine.run_python(
            "import importlib.util, json, sqlite3\n"
            f"print(json.dumps({{n: importlib.util.find_spec(n) is not None for n in "
            f"{PACKAGES!r}}}))", timeout=60)
        assert result.exit_code == 0, result.stderr
        assert not any(json.loads(result.stdout).values())
        started = time.monotonic()
        failed = engine.run_python("import subprocess, sys\n"
                                   "sys.exit(subprocess.run([sys.executable, '-m', 'pip', "
                                   "'install', 'numpy']).returncode)", timeout=60)
        assert time.monotonic() - started < 10
        assert failed.exit_code == 1
        assert BUILD_HINT in failed.stderr
    finally:
        engine.cleanup_all()


def _bash_in_python_image(sandbox: DockerSandbox, code: str) -> ExecutionResult:
    """Run shell code in the python image: ``python3 -c`` hands it to ``sh``."""
    wrapper = ("import subprocess, sys\n"
               f"sys.exit(subprocess.run(['sh', '-c', {code!r}]).returncode)\n")
    return sandbox.run_python(wrapper, timeout=60)


def test_a_pandas_styler_shows_as_a_table(sandbox: DockerSandbox) -> None:
    """``df.style`` needs jinja2; its HTML comes through the output policy as a table (the
    ``<style>`` element is dropped, README's known limitations)."""
    with sandbox.session("python") as session:
        result = session.run("import pandas as pd\n"
                             "pd.DataFrame({'a': [1, 2]}).style.highlight_max(color='red')")
        assert result.exit_code == 0, result.stderr
        (value,) = result.displays  # the cell's value, as ExecutionResult.displays keeps it
        html = value["data"]["text/html"]
        assert "<table" in html and "<style" not in html
