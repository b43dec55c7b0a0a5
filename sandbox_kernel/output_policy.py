"""The one output policy: what a sandbox may display, and in which form it reaches a frontend.

Why it exists. Jupyter frontends trust the outputs produced during a session: JupyterLab renders a
``text/html`` or ``text/markdown`` output of the running kernel without its sanitizer, and runs
``application/javascript``. Script that sandboxed code gets into such an output runs in the user's
browser with the user's Jupyter token: it can call the Jupyter REST API, open a terminal on the
host and type into it. Without script, markup still leaks: ``<img src="https://host/?data=...">``,
a CSS ``url()``, a ``<link rel=stylesheet>`` or a form makes the *browser* fetch a URL, which lets a
sandbox that has no network send data out through the user's browser. So nothing a sandbox sends
is forwarded as is. The host builds every Jupyter message itself from what this policy returns,
and the same policy serves every front-end: the Jupyter kernels, the ``%%sandbox`` magic (rich
output shown in the host notebook), the API (``ExecutionResult.displays``) and the MCP server.

The rules, in one place:

- **MIME allowlist** (:data:`ALLOWED_MIME_TYPES`): ``text/plain``, ``text/html``,
  ``text/markdown``, ``text/latex``, ``image/png``, ``image/jpeg``, ``image/gif``,
  ``image/svg+xml``, ``application/json``. Everything else is dropped with a note:
  ``application/javascript``, ``text/javascript``, widget views
  (``application/vnd.jupyter.widget-view+json``, which need comms, which are not forwarded
  either), ``application/pdf`` (JupyterLab shows PDFs in a frame, and PDFs carry their own script
  and links), vendor types such as Plotly's or Vega's (they render through JavaScript), and any
  unknown type.
- **Markup** (``text/html``, ``text/markdown`` converted to ``text/html``, ``image/svg+xml``) is
  cleaned by :mod:`sandbox_kernel.output_markup` with nh3: no script, no event handler, no
  ``javascript:``/``vbscript:``/``data:text/html`` URL, no remote or relative resource load (only
  ``data:image/png|jpeg|gif`` images), no ``url()`` in CSS (except SVG's ``url(#id)``), no frames,
  objects, forms, ``meta``, ``base``, ``link``, no MathJax macros that make markup
  (:mod:`sandbox_kernel.output_tex`). Links to ``http(s)``/``mailto`` stay, with
  ``rel="noopener noreferrer nofollow"``: following one is the user's decision.
- **LaTeX** (``text/latex``, typeset by MathJax) must use only an allowlist of formula macros;
  ``<`` and ``>`` become ``\\lt`` and ``\\gt`` (the classic Notebook inserts LaTeX as HTML).
- **Images** (``image/png|jpeg|gif``) must be valid base64 of a file of that type (magic bytes).
- **JSON** (``application/json``) must be JSON (dicts with string keys, lists, strings, finite
  numbers, booleans, null), at most :attr:`OutputPolicy.max_json_depth` deep.
- **Metadata** keeps only ``width``/``height``/``unconfined`` of images, ``expanded`` of JSON and
  the top-level ``needs_background``. ``isolated`` is dropped on purpose: JupyterLab would copy the
  rendered output into a same-origin frame by serializing and re-parsing it.
- **Text** (``text/plain``, ``text/latex``, and every front-end's stream text, ``error`` fields
  and input prompts, through :func:`terminal_text`): lone surrogates are replaced (they would
  break the host's JSON encoding); ANSI colour (SGR) sequences, which JupyterLab renders as
  colours, and newline, tab, carriage return and backspace are kept; every other escape sequence
  (screen clears, title changes, OSC 52 clipboard writes, ...) and control character is removed.
- **Sizes**: one output (all its MIME entries) at most :attr:`OutputPolicy.max_output_bytes`,
  one cell at most :attr:`OutputPolicy.max_cell_bytes` in what it holds at once
  (``clear_output`` gives the room back), at most :attr:`OutputPolicy.max_outputs_per_cell`
  outputs. Over a cap, rich entries are dropped (largest first) and ``text/plain`` is truncated
  with a visible marker.
- **Messages**: ``display_data``, ``update_display_data`` (``transient.display_id`` must match
  :data:`DISPLAY_ID_PATTERN`), ``execute_result`` and ``clear_output`` (``wait`` is ``True`` only
  if it is the boolean ``True``) are rebuilt from scratch; comm messages and any other type are
  dropped with a note.

Every drop leaves a note (a line starting with :data:`NOTE_PREFIX`) in the :class:`OutputBudget`
of the cell; the front-end shows them the way it shows stderr (a ``stream`` message named
``stderr`` in the kernels, ``sys.stderr`` in the magic, ``ExecutionResult.stderr`` in the API).
Nothing here raises on hostile input: values of unexpected types are dropped with a note.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox_kernel.output_markup import (
    MarkupRejected,
    clean_html,
    clean_svg,
    decode_image,
    markdown_to_html,
)
from sandbox_kernel.output_tex import latex_problem

KiB = 1024
MiB = 1024 * KiB

ALLOWED_MIME_TYPES = (
    "text/plain",
    "text/html",
    "text/markdown",
    "text/latex",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/svg+xml",
    "application/json",
)
"""MIME types a sandbox may display. ``text/markdown`` reaches frontends as ``text/html``."""

NOTE_PREFIX = "[sandbox-kernel] "
"""Start of every note, so users can tell the policy's words from the sandbox's output."""

DISPLAY_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
"""What a ``transient.display_id`` must match (IPython's are 32 hex digits)."""

TRUNCATION_MARKER = "\n[sandbox-kernel: output truncated, {dropped} bytes not shown]"

_MAX_MIME_ENTRIES = 64
BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
"""Bidirectional embeddings, overrides and isolates, as a regex character range: they reorder
what follows them on the screen (U+202E makes "exe.txt" read "txt.exe"), the "Trojan Source"
characters (CVE-2021-42574). Never shown in output, never allowed in a file name."""
_CONTROL = re.compile(
    # Every escape sequence but SGR (colour), whole: CSI, OSC/DCS/SOS/PM/APC up to their
    # terminator (or the end of the text), two-byte and nF escapes, a lone ESC.
    r"\x1b(?!\[[0-9;]{0,64}m)"
    r"(?:\[[0-?]*[ -/]*[@-~]?|[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|[ -/]*[0-~]?)"
    # C0 controls but \b \t \n \r, DEL and C1 controls (8-bit CSI, OSC, ... included).
    r"|[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]"
    f"|[{BIDI_CONTROLS}]"
)
_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_MESSAGE_TYPES = ("display_data", "update_display_data", "execute_result")


class _Dropped(Exception):
    """One MIME entry cannot be shown; the message is the reason for the note."""


@dataclass
class OutputBudget:
    """What one cell (one run, one MCP call) has displayed so far, and the notes to show.

    Create one per cell with :meth:`OutputPolicy.budget`. ``reset_on_clear``: a ``clear_output``
    message gives the bytes back (a frontend's output area holds only what came after it); set it
    to ``False`` where outputs are kept regardless (a list of displays in the API).
    """

    reset_on_clear: bool = True
    max_notes: int = 100
    used_bytes: int = 0
    outputs: int = 0
    notes: list[str] = field(default_factory=list)
    _noted: int = 0
    _full_noted: bool = False

    def note(self, text: str) -> None:
        """Adds a note (``NOTE_PREFIX`` is prepended); past ``max_notes`` one summary line."""
        self._noted += 1
        if self._noted <= self.max_notes:
            self.notes.append(NOTE_PREFIX + text)
        elif self._noted == self.max_notes + 1:
            self.notes.append(NOTE_PREFIX + "further notes for this cell are not shown")

    def take_notes(self) -> list[str]:
        """The notes added since the last call, which the caller shows now (as stderr)."""
        taken, self.notes = self.notes, []
        return taken

    def clear(self) -> None:
        """Forget what was displayed (after ``clear_output``); notes already taken stay shown."""
        self.used_bytes = 0
        self.outputs = 0
        self._full_noted = False


@dataclass(frozen=True)
class SafeDisplay:
    """A MIME bundle after the policy: only allowed, cleaned entries and metadata.

    ``data`` maps MIME types to values (``str``, or a JSON value for ``application/json``);
    ``metadata`` holds only allowed keys; ``display_id`` is set for ``display_data`` and
    ``update_display_data`` messages that carried a valid one (with the caller's scope prefix).
    ``size`` is what the display counts against the caps, in bytes.
    """

    data: dict[str, Any]
    metadata: dict[str, Any]
    display_id: str | None = None
    size: int = 0

    def to_dict(self) -> dict[str, Any]:
        """``{"data": {...}, "metadata": {...}}``, the shape of ``ExecutionResult.displays``."""
        return {"data": dict(self.data), "metadata": json.loads(json.dumps(self.metadata))}


@dataclass(frozen=True)
class SafeMessage:
    """An iopub message the host may publish: ``msg_type`` and a ``content`` built by the policy.

    For ``execute_result`` the caller adds its own ``execution_count``. ``display`` is the
    :class:`SafeDisplay` behind ``content`` (``None`` for ``clear_output``).
    """

    msg_type: str
    content: dict[str, Any]
    display: SafeDisplay | None = None


def _show(value: object) -> str:
    """A short printable rendering of hostile text for a note."""
    text = value if isinstance(value, str) else type(value).__name__
    text = _PRINTABLE.sub("?", text[:200])
    return text[:60] + ("..." if len(text) > 60 else "")


def _size_text(size: int) -> str:
    if size >= MiB:
        return f"{size / MiB:.1f} MiB"
    if size >= KiB:
        return f"{size / KiB:.1f} KiB"
    return f"{size} bytes"


def valid_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so that it encodes to UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def terminal_text(text: str, max_bytes: int | None = None, marker: str | None = None) -> str:
    """Sandbox text made safe to show in a notebook or a terminal: the one text rule.

    Returns ``text`` with lone surrogates replaced (U+FFFD), ANSI colour (SGR, ``ESC[...m``),
    ``\\n``, ``\\r``, ``\\t`` and ``\\b`` kept, and every other escape sequence (other CSI
    such as a screen clear, OSC such as a title change or an OSC 52 clipboard write, DCS, ...)
    and C0/C1 control character removed, and so are the bidirectional overrides, embeddings and
    isolates (U+202A-U+202E, U+2066-U+2069). With ``max_bytes``, the result is at most that many
    UTF-8 bytes, ending with ``marker`` when cut (default: :data:`TRUNCATION_MARKER`, which
    says how many bytes were dropped; any other marker is appended as is). Used for stream
    text, ``error`` fields, input prompts and ``text/plain`` by every front-end (README's
    threat model: "text outputs keep ANSI colour codes"). Never raises; linear time.
    """
    original = None
    if max_bytes is not None and len(text) > max_bytes:
        original = _utf8_size(text)  # removing controls only shrinks: cut first, clean less
        text = text[: max_bytes + 1]
    cleaned = _CONTROL.sub("", valid_text(text))
    if max_bytes is None or (original is None and _utf8_size(cleaned) <= max_bytes):
        return cleaned
    if marker is None:
        return _truncate(cleaned, max_bytes, original)
    room = max(0, max_bytes - _utf8_size(marker))
    return cleaned.encode("utf-8")[:room].decode("utf-8", "ignore") + marker


_SGR = re.compile(r"\x1b\[[0-9;]*m")


def plain_text(text: str) -> str:
    """:func:`terminal_text` without colour either: for a reader that is not a terminal (an
    LLM reading an MCP result, where IPython's coloured tracebacks would be noise)."""
    return _SGR.sub("", terminal_text(text))


MAX_ENAME_BYTES = 200
"""An ``error``'s ``ename`` (a class name; longer ones end with ``...``)."""
MAX_EVALUE_BYTES = 64 * KiB
"""An ``error``'s ``evalue``."""
MAX_FRAME_BYTES = 64 * KiB
"""One line (frame) of an ``error``'s ``traceback``."""
MAX_FRAMES = 500
"""Lines of one ``traceback``; the first ones are dropped (with a marker line) past this."""
MAX_PROMPT_BYTES = 4 * KiB
"""An ``input_request`` prompt."""
PROMPT_MARKER = " [sandbox-kernel: prompt truncated] "


def error_text(ename: object, evalue: object, traceback: object) -> tuple[str, str, list[str]]:
    """``(ename, evalue, traceback)`` of an ``error`` built from sandbox values, made safe.

    Each part goes through :func:`terminal_text` and is bounded (:data:`MAX_ENAME_BYTES`,
    :data:`MAX_EVALUE_BYTES`, :data:`MAX_FRAME_BYTES` per line, :data:`MAX_FRAMES` lines).
    Values of other types are shown as ``str()`` (``traceback`` as a string is one line each).
    """
    lines: list[object]
    if isinstance(traceback, str):
        lines = list(traceback.splitlines())
    elif isinstance(traceback, (list, tuple)):
        lines = list(traceback)
    else:
        lines = []
    if len(lines) > MAX_FRAMES:
        skipped = len(lines) - MAX_FRAMES + 1
        lines = [f"[sandbox-kernel: {skipped} traceback lines not shown]",
                 *lines[-(MAX_FRAMES - 1):]]
    return (terminal_text(str(ename), MAX_ENAME_BYTES, "..."),
            terminal_text(str(evalue), MAX_EVALUE_BYTES),
            [terminal_text(str(line), MAX_FRAME_BYTES) for line in lines])


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _truncate(text: str, limit: int, original_size: int | None = None) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, marker included.

    ``original_size`` is the size of the text ``text`` was cut from, if it was pre-cut.
    """
    encoded = text.encode("utf-8")
    total = len(encoded) if original_size is None else original_size
    room = max(0, limit - len(TRUNCATION_MARKER.format(dropped=total)) - 16)
    kept = encoded[:room].decode("utf-8", "ignore")
    return kept + TRUNCATION_MARKER.format(dropped=total - len(kept.encode("utf-8")))


def _positive(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"OutputPolicy.{name} must be a positive whole number, not {value!r}")


def _dimension(value: object) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or not 0 < value <= 100_000:
        return None
    return value


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


_IMAGE_METADATA: dict[str, Callable[[object], Any]] = {
    "width": _dimension, "height": _dimension, "unconfined": _flag
}
_METADATA_RULES: dict[str, dict[str, Callable[[object], Any]]] = {
    "image/png": _IMAGE_METADATA,
    "image/jpeg": _IMAGE_METADATA,
    "image/gif": _IMAGE_METADATA,
    "image/svg+xml": _IMAGE_METADATA,
    "application/json": {"expanded": _flag},
}


@dataclass(frozen=True)
class OutputPolicy:
    """Caps of the output policy (bytes are UTF-8 bytes of the values as sent on).

    Every field must be a positive whole number (``ValueError`` otherwise).
    """

    max_output_bytes: int = 2 * MiB
    """One output: the sum of its MIME entries."""
    max_cell_bytes: int = 16 * MiB
    """What one cell's outputs hold at once."""
    max_outputs_per_cell: int = 10_000
    """``display_data`` and ``execute_result`` messages of one cell (updates not counted)."""
    max_markdown_bytes: int = 256 * KiB
    """A ``text/markdown`` entry (its HTML is ~4 times bigger; rendering takes ~3 µs a byte)."""
    max_json_depth: int = 64
    """Nesting of ``application/json`` values."""
    max_markup_depth: int = 64
    """Nesting of HTML and SVG elements (parsing cost grows with it)."""
    max_svg_elements: int = 200_000
    """Elements in one SVG document."""
    max_notes_per_cell: int = 100

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            _positive(getattr(self, name), name)

    def budget(self, reset_on_clear: bool = True) -> OutputBudget:
        """A fresh :class:`OutputBudget` for one cell."""
        return OutputBudget(reset_on_clear=reset_on_clear, max_notes=self.max_notes_per_cell)

    # -- whole messages ------------------------------------------------------------------------

    def message(
        self, msg_type: object, content: object, budget: OutputBudget, display_scope: str = ""
    ) -> SafeMessage | None:
        """The message the host may publish for one rich-output message from the sandbox.

        ``msg_type`` and ``content`` are as the sandbox sent them (any type). Handles
        ``display_data``, ``update_display_data``, ``execute_result`` and ``clear_output``;
        returns ``None`` (with a note in ``budget``) for anything dropped, including comm
        messages and other types. ``display_scope`` (host-chosen, trusted) is prepended to
        display ids, so that a sandbox cannot update displays that are not its own (the magic
        shares the host notebook's display ids).
        """
        if not isinstance(content, dict):
            budget.note(f"dropped a {_show(msg_type)} message whose content is not a mapping")
            return None
        if msg_type == "clear_output":
            if budget.reset_on_clear:
                budget.clear()
            return SafeMessage("clear_output", {"wait": content.get("wait") is True})
        if msg_type not in _MESSAGE_TYPES:
            if isinstance(msg_type, str) and msg_type.startswith("comm_"):
                budget.note("widget and comm messages from the sandbox are not forwarded")
            else:
                budget.note(f"dropped a message of type {_show(msg_type)} from the sandbox")
            return None
        display_id = None
        transient = content.get("transient")
        if msg_type != "execute_result" and isinstance(transient, dict):
            raw_id = transient.get("display_id")
            if isinstance(raw_id, str) and DISPLAY_ID_PATTERN.fullmatch(raw_id):
                display_id = display_scope + raw_id
            elif raw_id is not None:
                budget.note(f"ignored the display id {_show(raw_id)}: not a short plain name")
        if msg_type == "update_display_data" and display_id is None:
            budget.note("dropped an update_display_data without a valid display id")
            return None
        display = self.display(
            content.get("data"),
            content.get("metadata"),
            budget,
            display_id=display_id,
            counted=msg_type != "update_display_data",
        )
        if display is None:
            return None
        out: dict[str, Any] = {"data": display.data, "metadata": display.metadata}
        if display.display_id is not None:
            out["transient"] = {"display_id": display.display_id}
        return SafeMessage(str(msg_type), out, display)

    # -- one MIME bundle -----------------------------------------------------------------------

    def display(
        self,
        data: object,
        metadata: object,
        budget: OutputBudget,
        display_id: str | None = None,
        counted: bool = True,
    ) -> SafeDisplay | None:
        """A MIME bundle (``data``, ``metadata`` as sent, any type) after the policy, or ``None``.

        ``None`` when nothing of it may be shown; every dropped or truncated part leaves a note in
        ``budget``. ``counted``: whether it counts against the cell's caps (updates of an existing
        display replace it and do not). ``display_id`` is passed through, already checked.
        """
        if not isinstance(data, dict):
            budget.note(f"dropped an output whose data is a {_show(data)}, not a MIME bundle")
            return None
        if counted and budget.outputs >= self.max_outputs_per_cell:
            if not budget._full_noted:
                budget._full_noted = True
                budget.note(f"this cell displayed {self.max_outputs_per_cell} outputs; "
                            "further outputs are not shown")
            return None
        kept: dict[str, Any] = {}
        sizes: dict[str, int] = {}
        from_markdown: tuple[str, int] | None = None
        for index, (mime, value) in enumerate(data.items()):
            if index >= _MAX_MIME_ENTRIES:
                budget.note(f"dropped {len(data) - index} further MIME entries of one output")
                break
            if not isinstance(mime, str) or mime not in ALLOWED_MIME_TYPES:
                budget.note(f"dropped {_show(mime)}: this MIME type is not allowed")
                continue
            try:
                cleaned, size = self._entry(mime, value)
            except _Dropped as reason:
                budget.note(f"dropped {mime}: {reason}")
                continue
            if mime == "text/markdown":
                from_markdown = (cleaned, size)
            else:
                kept[mime] = cleaned
                sizes[mime] = size
        if from_markdown is not None and "text/html" not in kept:
            kept["text/html"], sizes["text/html"] = from_markdown
        self._fit(kept, sizes, self.max_output_bytes, budget,
                  f"the output is larger than {_size_text(self.max_output_bytes)}")
        if counted:
            room = self.max_cell_bytes - budget.used_bytes
            self._fit(kept, sizes, room, budget,
                      f"the cell's outputs reached {_size_text(self.max_cell_bytes)}")
        if not kept:
            return None
        total = sum(sizes.values())
        if counted:
            budget.used_bytes += total
            budget.outputs += 1
        return SafeDisplay(kept, self._metadata(metadata, kept), display_id, total)

    def _entry(self, mime: str, value: object) -> tuple[Any, int]:
        """The cleaned value of one entry and its size; raises :class:`_Dropped`."""
        if mime == "application/json":
            return self._json(value)
        if not isinstance(value, str):
            raise _Dropped(f"its value is a {_show(value)}, not text")
        cap = self.max_markdown_bytes if mime == "text/markdown" else self.max_output_bytes
        if mime != "text/plain" and (len(value) > cap or _utf8_size(value) > cap):
            raise _Dropped(f"larger than {_size_text(cap)}")
        text = valid_text(value)
        try:
            if mime == "text/plain":
                cleaned = terminal_text(text, self.max_output_bytes)
            elif mime == "text/html":
                cleaned = clean_html(text, self.max_markup_depth)
            elif mime == "text/markdown":
                cleaned = markdown_to_html(text, self.max_markup_depth)
            elif mime == "text/latex":
                cleaned = terminal_text(text)
                problem = latex_problem(cleaned)
                if problem:
                    raise _Dropped(problem)
                # Notebook 6 inserts text/latex as HTML; MathJax draws \lt and \gt the same.
                cleaned = cleaned.replace("<", "\\lt ").replace(">", "\\gt ")
            elif mime == "image/svg+xml":
                cleaned = clean_svg(text, self.max_markup_depth, self.max_svg_elements)
            else:
                raw = decode_image(text, mime)
                if raw is None:
                    raise _Dropped(f"not valid base64 of a {mime.split('/')[1].upper()} file")
                cleaned = base64.b64encode(raw).decode("ascii")
        except MarkupRejected as reason:
            raise _Dropped(str(reason)) from None
        return cleaned, _utf8_size(cleaned)

    def _json(self, value: object) -> tuple[Any, int]:
        if isinstance(value, str):
            if len(value) > self.max_output_bytes or _utf8_size(value) > self.max_output_bytes:
                raise _Dropped(f"larger than {_size_text(self.max_output_bytes)}")
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                raise _Dropped("not valid JSON") from None
        try:
            copy = self._json_copy(value, 0, [self.max_output_bytes])
            encoded = json.dumps(copy, ensure_ascii=False, separators=(",", ":"))
        except (ValueError, TypeError, RecursionError):
            raise _Dropped("not valid JSON") from None
        size = _utf8_size(encoded)
        if size > self.max_output_bytes:
            raise _Dropped(f"larger than {_size_text(self.max_output_bytes)}")
        return copy, size

    def _json_copy(self, value: object, depth: int, room: list[int]) -> Any:
        """A fresh copy of a JSON value; ``room`` bounds the work (shared nodes count each time)."""
        room[0] -= 2
        if room[0] < 0:
            raise _Dropped(f"larger than {_size_text(self.max_output_bytes)}")
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            if abs(value) >= 10**300:
                raise _Dropped("it holds a number too large for JSON")
            return int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _Dropped("it holds NaN or an infinity, which JSON has not")
            return float(value)
        if isinstance(value, str):
            room[0] -= len(value)
            if room[0] < 0:
                raise _Dropped(f"larger than {_size_text(self.max_output_bytes)}")
            return valid_text(value)
        if depth >= self.max_json_depth:
            raise _Dropped(f"nested deeper than {self.max_json_depth} levels")
        if isinstance(value, (list, tuple)):
            return [self._json_copy(item, depth + 1, room) for item in value]
        if isinstance(value, dict):
            copy: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise _Dropped("it has a key that is not a string")
                copy[valid_text(key)] = self._json_copy(item, depth + 1, room)
                room[0] -= len(key)
            return copy
        raise _Dropped(f"it holds a {_show(value)}, which is not JSON")

    @staticmethod
    def _fit(
        kept: dict[str, Any], sizes: dict[str, int], limit: int, budget: OutputBudget, why: str
    ) -> None:
        """Drops rich entries (largest first), then truncates ``text/plain``, to fit ``limit``."""
        while kept and sum(sizes.values()) > limit:
            rich = [mime for mime in kept if mime != "text/plain"]
            if rich:
                biggest = max(rich, key=lambda mime: sizes[mime])
                budget.note(f"dropped {biggest} ({_size_text(sizes[biggest])}): {why}")
                del kept[biggest], sizes[biggest]
                continue
            if limit < 256:
                budget.note(f"dropped text/plain ({_size_text(sizes['text/plain'])}): {why}")
                del kept["text/plain"], sizes["text/plain"]
                continue
            kept["text/plain"] = _truncate(kept["text/plain"], limit)
            sizes["text/plain"] = _utf8_size(kept["text/plain"])

    @staticmethod
    def _metadata(metadata: object, kept: dict[str, Any]) -> dict[str, Any]:
        """The allowed part of ``metadata`` for the entries in ``kept``."""
        if not isinstance(metadata, dict):
            return {}
        out: dict[str, Any] = {}
        for mime, rules in _METADATA_RULES.items():
            given = metadata.get(mime)
            if mime not in kept or not isinstance(given, dict):
                continue
            allowed = {}
            for key, check in rules.items():
                value = check(given.get(key))
                if value is not None:
                    allowed[key] = value
            if allowed:
                out[mime] = allowed
        if metadata.get("needs_background") in ("light", "dark"):
            out["needs_background"] = metadata["needs_background"]
        return out
