"""The image flavours: which recipe builds which image, for which language.

Kept apart from the builder (``images.py``) because the engine and the front-ends resolve image
names too, and they must not import the Docker client for that.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox_kernel.languages import ALIASES, resolve_language

# The labels of every image sandbox-kernel builds (see images.py).
IMAGE_LABEL = "sandbox-kernel.image"
RECIPE_LABEL = "sandbox-kernel.recipe"
FLAVOUR_LABEL = "sandbox-kernel.flavour"
LANGUAGE_LABEL = "sandbox-kernel.language"


@dataclass(frozen=True)
class Flavour:
    """One image recipe, ``recipes/<name>/Dockerfile``, for one language."""

    name: str
    language: str
    summary: str

    @property
    def tag(self) -> str:
        return f"sandbox-kernel-{self.name}:latest"


FLAVOURS: dict[str, Flavour] = {f.name: f for f in (
    Flavour("python", "python", "Python 3.11, IPython, numpy, pandas, matplotlib, scipy, "
            "scikit-learn, sympy, pillow (Debian packages)"),
    Flavour("python-minimal", "python", "Python 3.11, standard library only"),
    Flavour("bash", "bash", "Bash and Debian's minimal base"),
    Flavour("node", "node", "Node.js 22 LTS and npm, from the npm registry (integrity-checked)"),
    Flavour("node-debian", "node", "Node.js 18 from Debian, the fallback when the npm registry "
            "cannot be reached"),
)}
DEFAULT_FLAVOURS = ("python", "python-minimal", "bash", "node")
"""What ``sandbox-kernel images build`` builds when no name is given."""
FALLBACKS = {"node": "node-debian"}
"""A flavour whose build fails is replaced, under its own tag, by this one (status "fallback")."""


def resolve_flavour(name: object) -> Flavour:
    """A flavour by its name, or a language's default flavour by language name or alias."""
    if isinstance(name, str) and name.strip().lower() in FLAVOURS:
        return FLAVOURS[name.strip().lower()]
    try:
        return FLAVOURS[resolve_language(name).name]
    except ValueError:
        names = sorted({*FLAVOURS, *ALIASES})
        raise ValueError(f"unknown image flavour or language {name!r}; choose one of: "
                         f"{', '.join(names)}") from None


def image_reference(name: str) -> str:
    """The Docker image a user names: a flavour name (``python-minimal``) is that flavour's tag,
    anything else (``my-image:1``, ``sandbox-kernel-python-custom:0123abcd``) is used as is."""
    flavour = FLAVOURS.get(name.strip())
    return flavour.tag if flavour else name.strip()
