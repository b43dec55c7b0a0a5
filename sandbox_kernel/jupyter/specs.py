"""What each sandbox kernel tells Jupyter about itself: kernelspec names and ``language_info``.

Kept apart from the kernel so that the installer, the kernel and the tests read the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KernelFlavour:
    """One kernelspec: the engine language it runs and how frontends should treat its cells."""

    kernel_name: str
    language: str
    """Engine language name (``sandbox_kernel.languages``)."""
    display_name: str
    spec_language: str
    """The kernelspec's ``language`` field, which frontends use to pick a kernel for a notebook."""
    language_info: dict[str, Any]


FLAVOURS: dict[str, KernelFlavour] = {
    "python": KernelFlavour(
        kernel_name="sandbox-python",
        language="python",
        display_name="Sandbox (Python)",
        spec_language="python",
        language_info={
            "name": "python",
            "mimetype": "text/x-python",
            "file_extension": ".py",
            "pygments_lexer": "python3",
            "codemirror_mode": {"name": "python", "version": 3},
            "nbconvert_exporter": "python",
        },
    ),
    "bash": KernelFlavour(
        kernel_name="sandbox-bash",
        language="bash",
        display_name="Sandbox (Bash)",
        spec_language="bash",
        language_info={
            "name": "bash",
            "mimetype": "text/x-sh",
            "file_extension": ".sh",
            "pygments_lexer": "bash",
            "codemirror_mode": "shell",
        },
    ),
    "node": KernelFlavour(
        kernel_name="sandbox-node",
        language="node",
        display_name="Sandbox (Node.js)",
        spec_language="javascript",
        language_info={
            "name": "javascript",
            "mimetype": "text/javascript",
            "file_extension": ".js",
            "pygments_lexer": "javascript",
            "codemirror_mode": "javascript",
        },
    ),
}

KERNEL_NAMES = tuple(flavour.kernel_name for flavour in FLAVOURS.values())


def kernel_json(flavour: KernelFlavour, python: str = "python3") -> dict[str, Any]:
    """The ``kernel.json`` of one kernel, launched by the given Python interpreter.

    ``interrupt_mode`` is ``message``: the interrupt reaches the kernel on the control channel and
    the kernel forwards it to the sandbox (a signal to the kernel process would not reach it).
    ``metadata.debugger`` is false so that JupyterLab does not offer a debugger we do not have.
    """
    return {
        "argv": [python, "-m", "sandbox_kernel.jupyter", "--language", flavour.language,
                 "-f", "{connection_file}"],
        "display_name": flavour.display_name,
        "language": flavour.spec_language,
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }
