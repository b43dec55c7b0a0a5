"""Cleaning of the markup a sandbox displays: HTML, Markdown and SVG, with nh3 (Rust's ammonia).

The threat and the overall rules are in :mod:`sandbox_kernel.output_policy`; this module holds the
allowlists and the helpers that enforce them. Each public function returns the cleaned text or
raises :class:`MarkupRejected` (whose message says why, for the visible note).

HTML (``text/html``)
    Parsed and rebuilt by nh3 with an allowlist of elements (text structure, tables, lists, links,
    images) and attributes. Dropped with their content: ``script``, ``style``, ``svg``, ``math``,
    ``iframe``, ``object``, ``embed``, ``template``, ``textarea``, ``title``, ``noscript``,
    ``select``. Dropped, content kept: everything else outside the allowlist (``form``, ``input``,
    ``meta``, ``link``, ``base``, ``video``, ...). Attributes go through :func:`_html_attribute`:

    - ``a href``: ``http:``, ``https:`` or ``mailto:`` URLs and ``#fragments`` only, and nh3 adds
      ``rel="noopener noreferrer nofollow"``. A link is kept because following it is the user's
      action, not a load the page makes by itself; the user sees where it goes.
    - ``img src``: only ``data:image/png|jpeg|gif;base64,...`` whose bytes are such an image. No
      remote, relative or protocol-relative (``//host``) source, no ``srcset``.
    - ``style``: only declarations from an allowlist of properties (colours, borders, spacing,
      fonts, alignment, sizes), values from a small ASCII alphabet, no backslash escapes, no
      comments, no function other than ``rgb()``/``rgba()``/``hsl()``/``hsla()`` (so no ``url()``,
      ``image-set()``, ``expression()``), no negative margins; ``position`` and friends are not
      allowed, so an output cannot cover the page.
    - ``id`` gets the prefix :data:`ID_PREFIX` (and ``#fragment`` links with it), so an output
      cannot clobber ids or globals of the page; ``class`` loses JupyterLab's own prefixes
      (``jp-``, ``lm-``, ...) so an output cannot borrow the page's chrome.
    - no event handler, no ``name``, no ``target``, no ``ping``, no ``formaction``; the rest of the
      allowed attributes are plain text, numbers or keywords checked by pattern.

    Before nh3 runs, :func:`html_shape_problem` bounds the nesting depth: html5ever (under nh3),
    like every HTML5 parser, takes time proportional to the depth of open elements for each tag,
    so ``"<div>" * 50_000`` (250 KB) costs half a minute. Inputs whose parsing depends on foreign
    content or on rarely used insertion modes (``<svg>``, ``<math>``, ``<select>``, ``<frameset>``,
    ``<noscript>``, ``<template>``, a ``<script>`` holding ``<!--``) are rejected there too, which
    keeps that estimate exact where it matters.

    After nh3, the text the page will show must not contain MathJax macros that make markup
    (:func:`sandbox_kernel.output_tex.markup_macros`): JupyterLab typesets ``$...$`` in HTML
    outputs.

Markdown (``text/markdown``)
    JupyterLab renders Markdown outputs of the session without sanitizing them, after cutting the
    math out of the text and pasting it back escaped, which re-tokenizes raw HTML in ways no
    sanitizer of ours could predict. So Markdown is converted to HTML here (``mistune``, CommonMark
    with tables, strikethrough, bare URLs and ``$``/``$$`` math, as nbconvert does) and that HTML is
    cleaned as above: the entry becomes ``text/html``. Markdown images are remote loads and
    disappear unless they are ``data:image`` URIs; links follow the link rule.

SVG (``image/svg+xml``)
    An SVG output must be an XML document (JupyterLab shows it as
    ``<img src="data:image/svg+xml,...">``, which needs well-formed XML). It is parsed with the
    standard library's XML parser (a document type declaration with an internal subset, hence any
    entity definition, is refused), rebuilt
    element by element from an allowlist of SVG drawing elements (``svg``, ``g``, ``defs``,
    ``symbol``, ``use``, shapes, ``text``/``tspan``, ``clipPath``, gradients, ``pattern``,
    ``marker``, ``image``) and presentation attributes, then passed through nh3 with the same
    allowlist and attribute filter (two independent parsers must agree), and checked to be
    well-formed XML again. Not kept: ``script``, ``style``, ``foreignObject``, ``animate``/``set``
    and every animation element, ``filter`` and ``fe*`` (``feImage`` loads URLs), ``a``, ``title``,
    ``desc``, ``metadata``, fonts, ``cursor``. ``href``/``xlink:href`` (written out as SVG 2's
    ``href``) may only be a ``#fragment`` or, on ``<image>``, a ``data:image/png|jpeg|gif`` URI;
    ``url(...)`` in attributes and styles may only be ``url(#fragment)``. Ids and fragment
    references get :data:`ID_PREFIX` consistently, so matplotlib's ``clipPath``/``use`` references
    keep working.
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET

import mistune
import nh3

from sandbox_kernel.output_tex import markup_macros


class MarkupRejected(ValueError):
    """The markup cannot be shown safely; the message says why (short, for a visible note)."""


ID_PREFIX = "sandbox-"
"""Prefix given to every ``id`` an output defines, and to every ``#fragment`` that points at one."""

# ---------------------------------------------------------------------------------------------
# Images: magic bytes of the binary formats we let through

IMAGE_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
"""Allowed binary image types and the bytes their files start with."""

_BASE64_SPACE = re.compile(r"[\t\n\r ]+")
_DATA_IMAGE = re.compile(r"data:(image/(?:png|jpeg|gif));base64,(.*)", re.IGNORECASE | re.DOTALL)


def decode_image(encoded: str, mime: str) -> bytes | None:
    """The bytes of a base64 ``encoded`` image if they are a ``mime`` image, else ``None``.

    ``mime`` is a key of :data:`IMAGE_MAGIC`. ASCII whitespace (IPython wraps base64 in lines) is
    ignored; anything else outside the base64 alphabet, bad padding, an empty file or magic bytes of
    another type gives ``None``.
    """
    magic = IMAGE_MAGIC.get(mime)
    if magic is None or not encoded.isascii():
        return None
    try:
        raw = base64.b64decode(_BASE64_SPACE.sub("", encoded), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(magic):
        return None
    return raw


def data_image_ok(url: str) -> bool:
    """Whether ``url`` is a ``data:image/png|jpeg|gif;base64,`` URI holding such an image."""
    match = _DATA_IMAGE.fullmatch(url.strip())
    return match is not None and decode_image(match.group(2), match.group(1).lower()) is not None


# ---------------------------------------------------------------------------------------------
# Attribute values shared by HTML and SVG

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,127}")
_CLASS = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_RESERVED_CLASS_PREFIXES = ("jp-", "lm-", "p-", "cm-", "mjx-", "jupyter-", "widget-", "bp3-")
_NUMBER = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,7})?(?:%|px|pt|em|ex|rem)?")
_KEYWORD = re.compile(r"[A-Za-z0-9-]{1,32}")
_MAX_TEXT_ATTRIBUTE = 4096


def _prefixed_id(value: str) -> str | None:
    value = value.strip()
    return ID_PREFIX + value if _ID.fullmatch(value) else None


def _fragment(value: str, rewrite: bool) -> str | None:
    value = value.strip()
    if not value.startswith("#") or not _ID.fullmatch(value[1:]):
        return None
    return "#" + ID_PREFIX + value[1:] if rewrite else value


def _classes(value: str) -> str | None:
    kept = [
        name for name in value.split()[:32]
        if _CLASS.fullmatch(name) and not name.lower().startswith(_RESERVED_CLASS_PREFIXES)
    ]
    return " ".join(kept) or None


def _link(value: str) -> str | None:
    """An ``<a href>`` target: http(s)/mailto URL or ``#fragment``; anything else is dropped."""
    url = value.strip("\t\n\f\r ")
    if any(ord(char) < 0x21 or 0x7F <= ord(char) <= 0x9F for char in url):
        return None  # browsers delete tabs and newlines inside URLs: "java\tscript:" tricks
    if url.lower().startswith(("https://", "http://", "mailto:")) and len(url) <= 8192:
        return url
    return _fragment(url, rewrite=True)


# ---------------------------------------------------------------------------------------------
# CSS declarations (style attributes) and CSS-like SVG attribute values

_CSS_VALUE = re.compile(r"[A-Za-z0-9\t\n\f\r #%.,+_'\"!()/-]*")
_CSS_FUNCTION = re.compile(r"([A-Za-z-]*)\(")
_FRAGMENT_URL = re.compile(r"""url\(\s*(["']?)#([A-Za-z][A-Za-z0-9_.-]{0,127})\1\s*\)""", re.I)
_NEGATIVE = re.compile(r"-\s*[0-9.]")
_COLOR_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla"})
_TRANSFORM_FUNCTIONS = frozenset(
    {"matrix", "translate", "scale", "rotate", "skewx", "skewy", "translatex", "translatey"}
)

HTML_CSS_PROPERTIES = frozenset(
    [
        "color", "background-color", "background", "border", "border-top", "border-right",
        "border-bottom", "border-left", "border-color", "border-style", "border-width",
        "border-top-color", "border-right-color", "border-bottom-color", "border-left-color",
        "border-top-style", "border-right-style", "border-bottom-style", "border-left-style",
        "border-top-width", "border-right-width", "border-bottom-width", "border-left-width",
        "border-collapse", "border-spacing", "border-radius", "padding", "padding-top",
        "padding-right", "padding-bottom", "padding-left", "margin", "margin-top", "margin-right",
        "margin-bottom", "margin-left", "text-align", "text-decoration", "text-transform",
        "text-indent", "text-overflow", "vertical-align", "white-space", "word-break", "word-wrap",
        "overflow-wrap", "font", "font-family", "font-size", "font-style", "font-weight",
        "font-variant", "line-height", "letter-spacing", "word-spacing", "width", "height",
        "min-width", "max-width", "min-height", "max-height", "display", "opacity", "overflow",
        "overflow-x", "overflow-y", "visibility", "list-style-type", "list-style-position",
        "table-layout", "caption-side", "empty-cells", "float", "clear", "box-sizing",
    ]
)
"""CSS properties allowed in HTML ``style`` attributes: no positioning, no images, no web fonts."""

SVG_CSS_PROPERTIES = HTML_CSS_PROPERTIES | frozenset(
    [
        "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
        "stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray",
        "stroke-dashoffset", "clip-path", "clip-rule", "text-anchor", "dominant-baseline",
        "alignment-baseline", "baseline-shift", "paint-order", "vector-effect", "shape-rendering",
        "text-rendering", "image-rendering", "stop-color", "stop-opacity", "marker-start",
        "marker-mid", "marker-end",
    ]
)
"""CSS properties allowed in SVG ``style`` attributes: the HTML ones plus painting."""

_FRAGMENT_URL_PROPERTIES = frozenset(
    {"fill", "stroke", "clip-path", "marker-start", "marker-mid", "marker-end"}
)


def _css_value(
    value: str, functions: frozenset[str], fragment_urls: bool, rewrite: bool
) -> str | None:
    """``value`` if it is inert: allowed characters and functions, ``url(#id)`` only if allowed."""
    if len(value) > 4096 or "/*" in value:
        return None
    checked = value
    if fragment_urls:
        def prefix(match: re.Match[str]) -> str:
            name = ID_PREFIX + match.group(2) if rewrite else match.group(2)
            return f"url(#{name})"

        value = _FRAGMENT_URL.sub(prefix, value)
        checked = _FRAGMENT_URL.sub("fragment", value)
    if not _CSS_VALUE.fullmatch(checked):
        return None
    calls = _CSS_FUNCTION.findall(checked)
    if len(calls) != checked.count("(") or any(name.lower() not in functions for name in calls):
        return None
    return value


def clean_style(value: str, svg: bool = False, rewrite: bool = True) -> str | None:
    """The allowed declarations of a ``style`` attribute, normalized, or ``None`` if none is left.

    Declarations whose property is not allowed (:data:`HTML_CSS_PROPERTIES`, or
    :data:`SVG_CSS_PROPERTIES` when ``svg``) or whose value is not inert are dropped one by one.
    ``rewrite`` prefixes ``url(#id)`` references with :data:`ID_PREFIX` (SVG only).
    """
    allowed = SVG_CSS_PROPERTIES if svg else HTML_CSS_PROPERTIES
    declarations: list[str] = []
    for part in value.split(";")[:256]:
        name, colon, raw = part.partition(":")
        name = name.strip().lower()
        raw = raw.strip()
        if not colon or not raw or name not in allowed:
            continue
        if name.startswith("margin") and _NEGATIVE.search(raw):
            continue
        fragment_urls = svg and name in _FRAGMENT_URL_PROPERTIES
        cleaned = _css_value(raw, _COLOR_FUNCTIONS, fragment_urls, rewrite)
        if cleaned is not None:
            declarations.append(f"{name}: {cleaned}")
    return "; ".join(declarations) or None


# ---------------------------------------------------------------------------------------------
# HTML

HTML_TAGS = frozenset(
    [
        "a", "abbr", "acronym", "article", "aside", "b", "bdi", "bdo", "big", "blockquote", "br",
        "caption", "center", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn",
        "div", "dl", "dt", "em", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hgroup", "hr", "i", "img", "ins", "kbd", "li", "main", "mark", "nav", "ol",
        "p", "pre", "q", "rp", "rt", "rtc", "ruby", "s", "samp", "section", "small", "span",
        "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "time", "tr", "tt", "u", "ul", "var",
    ]
)
"""Elements kept in HTML outputs (others are removed, their text kept)."""

HTML_DROPPED_WITH_CONTENT = frozenset(
    [
        "script", "style", "svg", "math", "iframe", "object", "embed", "applet", "template",
        "textarea", "title", "noscript", "select", "option", "xmp", "noembed", "noframes",
        "frameset", "frame",
    ]
)
"""Elements removed together with everything inside them."""

_HTML_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"class", "id", "title", "lang", "dir", "style", "align", "valign", "width", "height"},
    "a": {"href"},
    "img": {"src", "alt"},
    "table": {"border", "cellpadding", "cellspacing", "summary"},
    "td": {"colspan", "rowspan", "headers", "abbr", "nowrap"},
    "th": {"colspan", "rowspan", "headers", "abbr", "scope", "nowrap"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "type", "reversed"},
    "ul": {"type"},
    "li": {"value", "type"},
    "details": {"open"},
    "time": {"datetime"},
    "del": {"datetime"},
    "ins": {"datetime"},
}
_HTML_NUMERIC = frozenset(
    {"width", "height", "border", "cellpadding", "cellspacing", "colspan", "rowspan", "span",
     "start", "value"}
)
_HTML_KEYWORD = frozenset({"align", "valign", "dir", "scope", "type", "lang"})


def _html_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter for HTML: returns the value to keep, or ``None`` to drop it."""
    if attribute == "rel":
        return value  # only nh3's own link_rel reaches here: rel is not an allowed attribute
    if attribute == "href":
        return _link(value)
    if attribute == "src":
        return value.strip() if data_image_ok(value) else None
    if attribute == "style":
        return clean_style(value)
    if attribute == "id":
        return _prefixed_id(value)
    if attribute == "class":
        return _classes(value)
    if attribute in _HTML_NUMERIC:
        return value if _NUMBER.fullmatch(value.strip()) else None
    if attribute in _HTML_KEYWORD:
        return value if _KEYWORD.fullmatch(value.strip()) else None
    return value[:_MAX_TEXT_ATTRIBUTE]


_HTML_CLEANER = nh3.Cleaner(
    tags=set(HTML_TAGS),
    clean_content_tags=set(HTML_DROPPED_WITH_CONTENT),
    attributes=_HTML_ATTRIBUTES,
    attribute_filter=_html_attribute,
    strip_comments=True,
    link_rel="noopener noreferrer nofollow",
    url_schemes={"http", "https", "mailto", "data"},
)

# The nesting estimate (see the module docstring). It follows the HTML tokenizer exactly for
# tags, attributes, comments and raw text, and pops an element only where every HTML5 tree builder
# pops it too, so html5ever's stack of open elements is never much deeper than our count.
_TAG_NAME = re.compile(r"[A-Za-z][^\t\n\f\r />]*")
_BEFORE_ATTRIBUTE = re.compile(r"[\t\n\f\r /]*")
_ATTRIBUTE_NAME = re.compile(r"=?[^\t\n\f\r />=]*")
_SPACES = re.compile(r"[\t\n\f\r ]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_COMMENT_END = re.compile(r"--!?>")
_VOID = frozenset(
    [
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr", "keygen", "basefont", "bgsound", "frame", "image",
    ]
)
_REFUSED = frozenset({"svg", "math", "select", "frameset", "noscript", "template"})
_RAW_TEXT = frozenset({"script", "style", "xmp", "iframe", "noembed", "noframes", "textarea",
                       "title"})
_FORMATTING = frozenset(
    [
        "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt",
        "u",
    ]
)
_IMPLIED = frozenset(["p", "li", "dd", "dt", "option", "optgroup", "rb", "rp", "rt", "rtc"])
_IMPLIED_NOT_SPECIAL = frozenset(["option", "optgroup", "rb", "rp", "rt", "rtc"])
_TABLE_PARTS = _IMPLIED | frozenset(
    ["td", "th", "tr", "tbody", "thead", "tfoot", "caption", "colgroup"]
)
_SCOPED_END = frozenset(
    [
        "address", "article", "aside", "blockquote", "button", "center", "details", "dialog", "dir",
        "div", "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "listing",
        "main", "menu", "nav", "ol", "pre", "search", "section", "summary", "ul", "form", "p", "li",
        "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "applet", "marquee", "object", "td", "th",
        "caption",
    ]
)
_TABLE_END = frozenset(["table", "tbody", "thead", "tfoot", "tr"])
_HEADINGS = frozenset(["h1", "h2", "h3", "h4", "h5", "h6"])
_CLOSES_P = frozenset(
    [
        "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div",
        "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "main", "menu",
        "nav", "ol", "p", "search", "section", "summary", "ul", "h1", "h2", "h3", "h4", "h5", "h6",
        "pre", "listing", "form", "table", "xmp",
    ]
)
_CLOSED_BY: dict[str, frozenset[str]] = {
    **{name: frozenset({"p"}) for name in _CLOSES_P},
    **{name: frozenset({"p"}) | _HEADINGS for name in _HEADINGS},
    "li": frozenset({"p", "li"}),
    "dd": frozenset({"p", "dd", "dt"}),
    "dt": frozenset({"p", "dd", "dt"}),
    "td": frozenset({"p", "td", "th"}),
    "th": frozenset({"p", "td", "th"}),
    "tr": frozenset({"p", "td", "th", "tr"}),
    **{name: frozenset({"p", "td", "th", "tr", "tbody", "thead", "tfoot"})
       for name in ("tbody", "thead", "tfoot")},
    "option": frozenset({"option"}),
    "optgroup": frozenset({"option"}),
}


def _skip_tag(markup: str, pos: int) -> int:
    """Index after the ``>`` closing the tag whose attributes start at ``pos`` (or the end)."""
    end = len(markup)
    close = markup.find(">", pos)
    if close < 0:
        return end
    if markup.find('"', pos, close) < 0 and markup.find("'", pos, close) < 0:
        return close + 1  # no quoted value can hide a '>': the first one ends the tag
    while True:
        pos = _BEFORE_ATTRIBUTE.match(markup, pos).end()  # type: ignore[union-attr]
        if pos >= end:
            return end
        if markup[pos] == ">":
            return pos + 1
        pos = _ATTRIBUTE_NAME.match(markup, pos).end()  # type: ignore[union-attr]
        pos = _SPACES.match(markup, pos).end()  # type: ignore[union-attr]
        if pos < end and markup[pos] == "=":
            pos = _SPACES.match(markup, pos + 1).end()  # type: ignore[union-attr]
            if pos < end and markup[pos] in "\"'":
                close = markup.find(markup[pos], pos + 1)
                if close < 0:
                    return end
                pos = close + 1
            else:
                pos = _UNQUOTED.match(markup, pos).end()  # type: ignore[union-attr]


def _skip_to(markup: str, needle: str, pos: int) -> int:
    found = markup.find(needle, pos)
    return len(markup) if found < 0 else found + len(needle)


def _skip_comment(markup: str, pos: int) -> int:
    """Index after a comment whose text starts at ``pos`` (just after ``<!--``)."""
    if markup.startswith(">", pos):
        return pos + 1
    if markup.startswith("->", pos):
        return pos + 2
    match = _COMMENT_END.search(markup, pos)
    return len(markup) if match is None else match.end()


def _end_tag(stack: list[str], name: str) -> None:
    if not stack:
        return
    if stack[-1] == name:
        stack.pop()
        return
    if name in _FORMATTING or name not in stack:
        return
    if name in _TABLE_END:
        passable = _TABLE_PARTS
    elif name in _SCOPED_END:
        passable = _IMPLIED
    else:
        passable = _IMPLIED_NOT_SPECIAL
    index = len(stack) - 1 - stack[::-1].index(name)
    if all(open_name in passable for open_name in stack[index + 1:]):
        del stack[index:]


def _start_tag(stack: list[str], name: str) -> None:
    if name in _VOID:
        return
    closers = _CLOSED_BY.get(name)
    if closers:
        while stack and stack[-1] in closers:
            stack.pop()
    stack.append(name)


def html_shape_problem(markup: str, max_depth: int) -> str | None:
    """Why ``markup`` is refused before parsing (too deep, or a refused construct), or ``None``.

    Linear in ``len(markup)``. The depth counted is an upper bound of the depth of open elements
    an HTML5 parser reaches, within the factor of the elements it adds by itself (``tbody``,
    ``tr``, reconstructed formatting elements).
    """
    stack: list[str] = []
    end = len(markup)
    pos = 0
    while True:
        lt = markup.find("<", pos)
        if lt < 0 or lt + 1 >= end:
            return None
        following = markup[lt + 1]
        if following == "!":
            if markup.startswith("<!--", lt):
                pos = _skip_comment(markup, lt + 4)
            else:
                pos = _skip_to(markup, ">", lt + 2)
            continue
        if following == "?":
            pos = _skip_to(markup, ">", lt + 2)
            continue
        if following == "/":
            match = _TAG_NAME.match(markup, lt + 2)
            if match is None:
                pos = lt + 3 if markup.startswith("</>", lt) else _skip_to(markup, ">", lt + 2)
                continue
            pos = _skip_tag(markup, match.end())
            _end_tag(stack, match.group().lower())
            continue
        match = _TAG_NAME.match(markup, lt + 1)
        if match is None:
            pos = lt + 1
            continue
        name = match.group().lower()
        if name in _REFUSED:
            return f"<{name}> is not allowed in HTML output"
        pos = _skip_tag(markup, match.end())
        _start_tag(stack, name)
        if len(stack) > max_depth:
            return f"HTML nested deeper than {max_depth} elements"
        if name == "plaintext":
            return None
        if name in _RAW_TEXT:
            closing = re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE).search(markup, pos)
            content_end = end if closing is None else closing.start()
            if name == "script" and "<!--" in markup[pos:content_end]:
                return "a <script> holding '<!--' is not allowed in HTML output"
            if closing is None:
                return None
            pos = _skip_tag(markup, closing.end() - 1)
            _end_tag(stack, name)


_TAG = re.compile(r"<[^>]*>")


def _check_macros(cleaned: str) -> None:
    # Tags become spaces: MathJax reads each text node on its own, so "\href<a>x</a>" is the
    # macro \href followed by a link, not one undefined macro \hrefx.
    macros = markup_macros(_TAG.sub(" ", cleaned))
    if macros:
        raise MarkupRejected(f"it uses the MathJax macro \\{macros[0][:40]}")


def clean_html(markup: str, max_depth: int = 64) -> str:
    """``markup`` (an HTML fragment or document) cleaned for display; see the module docstring.

    Raises :class:`MarkupRejected` when the input is refused before parsing (too deeply nested,
    foreign content) or when the cleaned text would make MathJax produce markup.
    """
    problem = html_shape_problem(markup, max_depth)
    if problem:
        raise MarkupRejected(problem)
    cleaned = _HTML_CLEANER.clean(markup)
    _check_macros(cleaned)
    return cleaned


_MARKDOWN = mistune.create_markdown(
    escape=False, plugins=["strikethrough", "table", "url", "math"]
)


def markdown_to_html(source: str, max_depth: int = 64) -> str:
    """Markdown ``source`` rendered to HTML and cleaned by :func:`clean_html`.

    Raises :class:`MarkupRejected` as :func:`clean_html` does, or when the Markdown renderer
    fails on the input.
    """
    try:
        rendered = _MARKDOWN(source)
    except Exception as exc:  # hostile input must not escape as anything but a note
        raise MarkupRejected(f"the Markdown renderer failed ({type(exc).__name__})") from None
    if not isinstance(rendered, str):
        raise MarkupRejected("the Markdown renderer returned no text")
    return clean_html(rendered, max_depth)


# ---------------------------------------------------------------------------------------------
# SVG

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"

SVG_ELEMENTS = frozenset(
    [
        "svg", "g", "defs", "symbol", "use", "path", "rect", "circle", "ellipse", "line",
        "polyline", "polygon", "text", "tspan", "clipPath", "linearGradient", "radialGradient",
        "stop", "pattern", "marker", "image",
    ]
)
"""SVG elements kept (matplotlib's, graphviz's and most plotting libraries' vocabulary)."""

SVG_DROPPED_WITH_CONTENT = frozenset(
    [
        "script", "style", "foreignObject", "animate", "animateMotion", "animateTransform",
        "animateColor", "set", "discard", "mpath", "filter", "metadata", "a", "title", "desc",
        "font", "font-face", "cursor", "iframe", "object", "embed", "handler", "listener", "mask",
        "switch", "view",
    ]
)
"""SVG elements nh3 removes together with their content (the XML pass already dropped them)."""

SVG_ATTRIBUTES = frozenset(
    [
        "id", "class", "style", "transform", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r",
        "rx", "ry", "fx", "fy", "fr", "width", "height", "d", "points", "viewBox",
        "preserveAspectRatio", "version", "fill", "fill-opacity", "fill-rule", "stroke",
        "stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin", "stroke-miterlimit",
        "stroke-dasharray", "stroke-dashoffset", "opacity", "clip-path", "clip-rule",
        "clipPathUnits", "font-family", "font-size", "font-style", "font-weight", "font-variant",
        "font-stretch", "text-anchor", "dominant-baseline", "alignment-baseline", "baseline-shift",
        "letter-spacing", "word-spacing", "text-decoration", "writing-mode", "dx", "dy", "rotate",
        "textLength", "lengthAdjust", "offset", "stop-color", "stop-opacity", "gradientUnits",
        "gradientTransform", "spreadMethod", "patternUnits", "patternContentUnits",
        "patternTransform", "markerWidth", "markerHeight", "markerUnits", "refX", "refY", "orient",
        "marker-start", "marker-mid", "marker-end", "visibility", "display", "overflow", "color",
        "shape-rendering", "text-rendering", "image-rendering", "vector-effect", "paint-order",
        "pathLength", "href",
    ]
)
"""Attributes kept on SVG elements (``xlink:href`` is read as ``href``)."""

_SVG_TEXT_ELEMENTS = frozenset({"text", "tspan"})
_SVG_GEOMETRY = re.compile(r"[0-9eE.,+\-\t\n\f\r MmLlHhVvCcSsQqTtAaZz]*")
_SVG_GEOMETRY_ATTRIBUTES = frozenset({"d", "points", "viewBox"})
_SVG_TRANSFORM_ATTRIBUTES = frozenset({"transform", "gradientTransform", "patternTransform"})
_SVG_FRAGMENT_URL_ATTRIBUTES = _FRAGMENT_URL_PROPERTIES
_DOCTYPE_OR_ENTITY = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_PROLOG = re.compile(
    r"""\A\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE\s+svg[^\[>]*>\s*)?""",
    re.IGNORECASE | re.DOTALL,
)


def svg_attribute(tag: str, attribute: str, value: str, rewrite: bool = True) -> str | None:
    """The value to keep for ``attribute`` on SVG element ``tag``, or ``None`` to drop it.

    ``rewrite`` gives ids and ``#fragment`` references the :data:`ID_PREFIX`; the XML pass checks
    without rewriting, the nh3 pass rewrites, so the prefix is added exactly once.
    """
    if attribute == "xmlns":
        return value if value == SVG_NS else None
    if attribute not in SVG_ATTRIBUTES:
        return None
    if attribute == "href":
        if tag == "image" and data_image_ok(value):
            return value.strip()
        return _fragment(value, rewrite)
    if attribute == "id":
        return (_prefixed_id(value) if rewrite else value) if _ID.fullmatch(value.strip()) else None
    if attribute == "class":
        return _classes(value)
    if attribute == "style":
        return clean_style(value, svg=True, rewrite=rewrite)
    if attribute in _SVG_GEOMETRY_ATTRIBUTES:
        return value if _SVG_GEOMETRY.fullmatch(value) else None
    if attribute in _SVG_TRANSFORM_ATTRIBUTES:
        return _css_value(value, _TRANSFORM_FUNCTIONS, False, rewrite)
    fragment_urls = attribute in _SVG_FRAGMENT_URL_ATTRIBUTES
    return _css_value(value, _COLOR_FUNCTIONS, fragment_urls, rewrite)


_SVG_CLEANER = nh3.Cleaner(
    tags=set(SVG_ELEMENTS),
    clean_content_tags=set(SVG_DROPPED_WITH_CONTENT),
    attributes={"*": set(SVG_ATTRIBUTES) | {"xmlns"}},
    attribute_filter=lambda tag, attribute, value: svg_attribute(tag, attribute, value),
    strip_comments=True,
    link_rel=None,
    url_schemes={"data"},
)


def _local(name: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag or attribute name."""
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


def _parse_svg(source: str, max_elements: int) -> ET.Element:
    if "<!ENTITY" in source.upper():
        raise MarkupRejected("SVG with entity declarations is not allowed")
    body = source[_PROLOG.match(source).end():]  # type: ignore[union-attr]
    if _DOCTYPE_OR_ENTITY.search(body):
        raise MarkupRejected("SVG with a document type declaration is not allowed")
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start",))
    root: ET.Element | None = None
    count = 0
    try:
        for start in range(0, len(body), 65536):
            parser.feed(body[start:start + 65536])
            for event in parser.read_events():
                element = event[1]  # type: ignore[misc]  # typeshed: (event, element)
                if root is None and isinstance(element, ET.Element):
                    root = element
                count += 1
                if count > max_elements:
                    raise MarkupRejected(f"SVG with more than {max_elements} elements")
        parser.close()
    except ET.ParseError as exc:
        raise MarkupRejected(f"not well-formed XML ({str(exc)[:80]})") from None
    if not isinstance(root, ET.Element):
        raise MarkupRejected("not well-formed XML")
    return root


def _rebuild_svg(root: ET.Element, max_depth: int) -> ET.Element:
    """A new tree holding only the allowed elements, attributes and text of ``root``."""
    if _local(root.tag) != (SVG_NS, "svg"):
        raise MarkupRejected("the document element is not <svg> in the SVG namespace")
    copy = ET.Element("svg", {"xmlns": SVG_NS})
    pending: list[tuple[ET.Element, ET.Element, int]] = [(root, copy, 1)]
    while pending:
        source, target, depth = pending.pop()
        local = _local(source.tag)[1]
        for name, value in source.attrib.items():
            namespace, attribute = _local(name)
            if namespace not in ("", XLINK_NS) or (namespace == XLINK_NS) != (attribute == "href"):
                continue
            kept = svg_attribute(local, attribute, value, rewrite=False)
            if kept is not None:
                target.set(attribute, kept)
        if local in _SVG_TEXT_ELEMENTS and source.text:
            target.text = source.text
        for child in source:
            if not isinstance(child.tag, str):
                continue
            namespace, child_local = _local(child.tag)
            if namespace != SVG_NS or child_local not in SVG_ELEMENTS:
                continue
            if depth >= max_depth:
                raise MarkupRejected(f"SVG nested deeper than {max_depth} elements")
            child_copy = ET.SubElement(target, child_local)
            if local in _SVG_TEXT_ELEMENTS and child.tail:
                child_copy.tail = child.tail
            pending.append((child, child_copy, depth + 1))
    return copy


def clean_svg(source: str, max_depth: int = 64, max_elements: int = 200_000) -> str:
    """An SVG document cleaned for display (see the module docstring); a well-formed XML string.

    Raises :class:`MarkupRejected` if ``source`` is not a well-formed SVG document, declares
    entities, nests deeper than ``max_depth`` or holds more than ``max_elements`` elements.
    """
    rebuilt = _rebuild_svg(_parse_svg(source, max_elements), max_depth)
    serialized = ET.tostring(rebuilt, encoding="unicode")
    cleaned = _SVG_CLEANER.clean(serialized).replace("&nbsp;", "&#160;")
    if not cleaned.startswith("<svg"):
        raise MarkupRejected("nothing drawable is left")
    try:
        ET.fromstring(cleaned)
    except ET.ParseError:
        raise MarkupRejected("the cleaned SVG is not well-formed XML") from None
    return cleaned

