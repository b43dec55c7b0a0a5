"""Jupyter's ``user_expressions``: expressions evaluated after a cell, answered in its reply.

Why it exists. Frontends and tools (a variable inspector, a status bar showing a value) send
``execute_request.user_expressions`` (``{name: expression}``) and read the results from the
``execute_reply`` (Jupyter messaging spec; ipykernel evaluates them with IPython's
``InteractiveShell.user_expressions`` after a cell that succeeded). A Python session sends them
with its ``run`` request (``drivers/PROTOCOL.md``) and the driver answers in ``done``; the
results are sandbox output, so each is rebuilt here: ``ok`` bundles through the output policy
(as displays are), ``error`` fields through ``output_policy.error_text``. Languages whose driver
cannot evaluate them get an error entry per expression, never a silent ``{}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sandbox_kernel.output_policy import OutputBudget, OutputPolicy, error_text

MAX_EXPRESSIONS = 64
"""Expressions in one request; more is a ``ValueError`` before anything runs."""

ExpressionResults = dict[str, dict[str, Any]]
"""``{name: {"status": "ok", "data": {...}, "metadata": {...}}`` or
``{name: {"status": "error", "ename": str, "evalue": str, "traceback": [str]}}``."""


def check_expressions(expressions: object) -> dict[str, str]:
    """``expressions`` as a ``{name: code}`` dict of strings; ``ValueError`` otherwise."""
    if expressions is None:
        return {}
    if not isinstance(expressions, Mapping):
        raise ValueError("user_expressions must be a mapping of names to expressions")
    if len(expressions) > MAX_EXPRESSIONS:
        raise ValueError(f"at most {MAX_EXPRESSIONS} user_expressions, not {len(expressions)}")
    checked: dict[str, str] = {}
    for name, code in expressions.items():
        if not isinstance(name, str) or not isinstance(code, str):
            raise ValueError("user_expressions must map names (str) to expressions (str)")
        checked[name] = code
    return checked


def run_payload(code: str, expressions: Mapping[str, str]) -> str:
    """The ``run`` payload that carries ``expressions``: ``{"code", "user_expressions"}`` JSON
    (sent with the ``run`` request's second argument ``1``)."""
    return json.dumps({"code": code, "user_expressions": dict(expressions)})


def error_entry(ename: str, evalue: str) -> dict[str, Any]:
    """One ``error`` result, as ipykernel shapes it."""
    return {"status": "error", "ename": ename, "evalue": evalue,
            "traceback": [f"{ename}: {evalue}"]}


def unsupported(expressions: Mapping[str, str], why: str) -> ExpressionResults:
    """An error entry per expression, for a sandbox that cannot evaluate them."""
    return {name: error_entry("NotImplementedError", why) for name in expressions}


def police(value: object, requested: Mapping[str, str], policy: OutputPolicy,
           budget: OutputBudget) -> ExpressionResults:
    """The results to reply with, for exactly the ``requested`` names.

    ``value`` is the driver's ``done.user_expressions`` (any type). An ``ok`` entry's bundle goes
    through ``policy`` (uncounted, like a pager page); an ``error`` entry's fields through
    ``error_text``; a missing or malformed entry becomes an error entry saying so.
    """
    given = value if isinstance(value, dict) else {}
    results: ExpressionResults = {}
    for name in requested:
        entry = given.get(name)
        if not isinstance(entry, dict):
            results[name] = error_entry("SandboxError", "the sandbox returned no result")
        elif entry.get("status") == "ok":
            shown = policy.display(entry.get("data"), entry.get("metadata"), budget,
                                   counted=False)
            results[name] = ({"status": "ok", "data": dict(shown.data),
                              "metadata": dict(shown.metadata)} if shown is not None else
                             error_entry("SandboxError", "the result cannot be shown "
                                                         "(dropped by the output policy)"))
        else:
            ename, evalue, traceback = error_text(entry.get("ename", "Error"),
                                                  entry.get("evalue", ""),
                                                  entry.get("traceback", []))
            results[name] = {"status": "error", "ename": ename, "evalue": evalue,
                             "traceback": traceback}
    return results
