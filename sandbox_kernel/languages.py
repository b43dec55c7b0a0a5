"""The languages a sandbox can run, and the image each one uses by default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    name: str
    display_name: str
    default_image: str
    interpreter: tuple[str, ...]
    """Command that runs a program file, e.g. ``("python3",)``; must exist in any usable image."""
    suffix: str
    driver: str
    """File name of the session driver under ``sandbox_kernel/drivers``."""


LANGUAGES: dict[str, Language] = {
    "python": Language("python", "Python", "sandbox-kernel-python:latest", ("python3",), ".py",
                       "python_driver.py"),
    "bash": Language("bash", "Bash", "sandbox-kernel-bash:latest", ("bash",), ".sh",
                     "bash_driver.sh"),
    "node": Language("node", "Node.js", "sandbox-kernel-node:latest", ("node",), ".js",
                     "node_driver.js"),
}

ALIASES = {
    "python3": "python", "py": "python",
    "sh": "bash", "shell": "bash",
    "javascript": "node", "js": "node", "nodejs": "node",
}


def resolve_language(name: object) -> Language:
    """Find a language by name or alias; anything else is a ``ValueError``."""
    if not isinstance(name, str):
        raise ValueError(f"language must be a string, not {type(name).__name__}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    try:
        return LANGUAGES[key]
    except KeyError:
        raise ValueError(
            f"unknown language {name!r}; choose one of: {', '.join(LANGUAGES)}"
        ) from None
