"""An independent oracle: does markup hold anything that could run script or load a URL?

Used by the unit tests of the output policy on what the policy returns, and meant for the browser
test on what the page ends up holding. It parses with html5lib (a spec-compliant HTML5 parser,
foreign content included) or, for SVG documents, also with the standard XML parser, walks every
element and attribute, and reports:

- elements that run script, embed documents, load resources or submit data (``script``,
  ``iframe``, ``object``, ``embed``, ``form``, ``input``, ``meta``, ``link``, ``base``,
  ``style``, ``video``, ``audio``, ``foreignObject``, SVG animation elements, ``math``, ...);
- comments, processing instructions and document type declarations;
- ``on*`` event-handler attributes and attributes that load or submit (``srcset``, ``ping``,
  ``action``, ``formaction``, ``poster``, ``background``, ``srcdoc``, ``http-equiv``, ...);
- any URL-valued attribute (``href``, ``src``, ``xlink:href``, ``cite``) whose value is not a
  ``#fragment`` or a ``data:image/png|jpeg|gif;base64`` URI, except ``http(s)``/``mailto`` links of
  an HTML ``<a>`` (navigation the user chooses, not a load);
- ``javascript:``, ``vbscript:`` or ``data:text/html`` anywhere in an attribute value, once
  whitespace and control characters are removed;
- CSS in any attribute that could load or run something: ``url(`` not followed by ``#``,
  ``@import``, ``image-set(``, ``expression(``, ``-moz-binding``, ``behavior``, backslash escapes,
  comments; and ``position:``, with which an output could cover the page;
- MathJax macros that make markup (``\\href``, ``\\style``, ``\\class``, ...) in the text.

It shares no code with ``sandbox_kernel`` on purpose.
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

import html5lib

HTML_NS = "http://www.w3.org/1999/xhtml"

DANGEROUS_ELEMENTS = frozenset(
    [
        "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input",
        "button", "textarea", "select", "option", "meta", "link", "base", "style", "template",
        "noscript", "foreignobject", "animate", "animatemotion", "animatetransform", "animatecolor",
        "set", "discard", "handler", "listener", "video", "audio", "source", "track", "picture",
        "portal", "math", "feimage", "isindex", "keygen", "bgsound", "xmp", "plaintext",
        "font-face", "font-face-uri", "cursor", "mpath", "tref",
    ]
)
LOADING_ATTRIBUTES = frozenset(
    [
        "srcset", "imagesrcset", "ping", "formaction", "action", "background", "poster", "lowsrc",
        "dynsrc", "data", "codebase", "archive", "classid", "srcdoc", "http-equiv", "attributename",
        "manifest", "icon", "longdesc", "usemap", "profile", "base",
    ]
)
URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
SCRIPT_SCHEMES = ("javascript:", "vbscript:", "livescript:", "data:text/html", "data:application")
CSS_DANGERS = ("@import", "image-set(", "expression(", "-moz-binding", "behavior:", "\\",
               "cross-fade(", "element(", "image(", "/*", "position:")
TEX_MACROS = re.compile(
    r"\\(href|url|class|cssid|style|html[a-z]*|require|unicode|bbox|mmltoken|data|enclose|"
    r"setoptions|def|newcommand|renewcommand|let)(?![a-z])",
    re.IGNORECASE,
)
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif);base64,([a-z0-9+/=]*)", re.IGNORECASE)
_SQUEEZE = re.compile(r"[\x00-\x20\x7f-\x9f]+")
_MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "gif": b"GIF8"}


def _local(name: str) -> tuple[str, str]:
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


def data_image_problem(url: str) -> str | None:
    """Why a ``data:image/...`` URI is not a real PNG, JPEG or GIF, or ``None``."""
    match = _DATA_IMAGE.fullmatch(url)
    if not match:
        return f"data URI that is not a base64 PNG/JPEG/GIF: {url[:60]!r}"
    try:
        raw = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return "data URI with bad base64"
    if not raw.startswith(_MAGIC[match.group(1).lower()]):
        return "data URI whose bytes are not the declared image type"
    return None


def _url_problem(element: str, in_html: bool, attribute: str, value: str) -> str | None:
    url = _SQUEEZE.sub("", value).lower()
    if url.startswith("#"):
        return None
    if url.startswith("data:"):
        return data_image_problem(_SQUEEZE.sub("", value))
    if element == "a" and in_html and attribute == "href" and url.startswith(
        ("https://", "http://", "mailto:")
    ):
        return None
    return f"<{element} {attribute}={value[:80]!r}> points outside the document"


def _css_problem(value: str) -> str | None:
    css = _SQUEEZE.sub("", value).lower()
    for danger in CSS_DANGERS:
        if danger in css:
            return f"CSS {danger!r} in {value[:80]!r}"
    for match in re.finditer(r"url\(", css):
        if not css[match.end():].lstrip("'\"").startswith("#"):
            return f"CSS url() to a resource in {value[:80]!r}"
    return None


def _element_problems(element: ET.Element, in_html: bool) -> Iterable[str]:
    namespace, local = _local(element.tag)
    name = local.lower()
    if name in DANGEROUS_ELEMENTS:
        yield f"<{local}> element"
    html_element = in_html and namespace in ("", HTML_NS)
    for raw_name, value in element.attrib.items():
        attribute = _local(raw_name)[1].lower()
        if attribute.startswith("on"):
            yield f"event handler {raw_name}={value[:60]!r} on <{local}>"
        if attribute in LOADING_ATTRIBUTES:
            yield f"loading attribute {raw_name} on <{local}>"
        if attribute in URL_ATTRIBUTES:
            problem = _url_problem(name, html_element, attribute, value)
            if problem:
                yield problem
        squeezed = _SQUEEZE.sub("", value).lower()
        for scheme in SCRIPT_SCHEMES:
            if scheme in squeezed:
                yield f"{scheme} in {raw_name} of <{local}>"
        problem = _css_problem(value)
        if problem and attribute not in URL_ATTRIBUTES:
            yield f"{problem} ({raw_name} of <{local}>)"


def _walk(root: ET.Element, in_html: bool) -> list[str]:
    problems: list[str] = []
    texts: list[str] = []
    pending = [root]
    while pending:
        element = pending.pop()
        if not isinstance(element.tag, str):
            problems.append("comment or processing instruction")
        else:
            problems.extend(_element_problems(element, in_html))
        texts.append(element.text or "")
        texts.append(element.tail or "")
        pending.extend(reversed(list(element)))
    for match in TEX_MACROS.finditer("".join(texts)):
        problems.append(f"MathJax macro \\{match.group(1)} in the text")
    return problems


def active_content(markup: str) -> list[str]:
    """Everything in ``markup`` (HTML, or an SVG document) that could run script or load a URL.

    An empty list means clean. SVG documents (starting with ``<?xml`` or ``<svg``) are checked
    both as the browser's HTML parser sees them inline and as the XML parser sees them in an
    ``<img>``; they must be well-formed XML.
    """
    problems: list[str] = []
    if re.search(r"<!(doctype|entity|\[cdata\[)", markup, re.IGNORECASE):
        problems.append("document type, entity or CDATA declaration")
    # As innerHTML sees it, and as a whole page sees it (which keeps <body onload=...>).
    fragment = html5lib.parseFragment(markup, treebuilder="etree", namespaceHTMLElements=False)
    problems.extend(_walk(fragment, in_html=True))
    document = html5lib.parse(markup, treebuilder="etree", namespaceHTMLElements=False)
    problems.extend(p for p in _walk(document, in_html=True) if p not in problems)
    if markup.lstrip().startswith(("<?xml", "<svg")):
        try:
            xml_document = ET.fromstring(markup)
        except ET.ParseError as exc:
            problems.append(f"SVG that is not well-formed XML: {exc}")
        else:
            problems.extend(_walk(xml_document, in_html=False))
    return problems


def bundle_problems(data: dict[str, object]) -> list[str]:
    """:func:`active_content` for every markup entry of a MIME bundle, plus type-level checks.

    Only the allowed MIME types may appear; ``text/markdown`` must have been converted;
    ``text/latex`` must hold no markup macro; images must be real images.
    """
    problems: list[str] = []
    allowed = {"text/plain", "text/html", "text/latex", "image/png", "image/jpeg", "image/gif",
               "image/svg+xml", "application/json"}
    for mime, value in data.items():
        if mime not in allowed:
            problems.append(f"MIME type {mime!r} reached the frontend")
            continue
        if mime in ("text/html", "image/svg+xml"):
            problems.extend(active_content(str(value)))
        elif mime == "text/latex":
            problems.extend(
                f"MathJax macro \\{m.group(1)}" for m in TEX_MACROS.finditer(str(value))
            )
        elif mime.startswith("image/") and mime != "image/svg+xml":
            kind = mime.split("/")[1]
            problem = data_image_problem(f"data:image/{kind};base64,{value}")
            if problem:
                problems.append(f"{mime}: {problem}")
    return problems
