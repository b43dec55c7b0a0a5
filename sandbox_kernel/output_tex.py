"""Which TeX a sandbox may hand to the browser's MathJax.

JupyterLab typesets ``text/latex`` outputs and every ``$...$``, ``\\(...\\)``, ``$$...$$`` and
``\\begin{...}`` found in the text of ``text/html`` and ``text/markdown`` outputs with MathJax 3
(all TeX packages loaded, plus ``require``). Several MathJax macros turn TeX into markup:
``\\href`` makes a link (a ``javascript:`` URL runs script on click), ``\\class``, ``\\cssId``,
``\\style``, ``\\bbox[...]``, ``\\enclose`` and the ``\\html...`` macros set classes, ids and CSS (a
CSS ``url()`` loads a remote resource), ``\\unicode`` can name web fonts, ``\\require`` loads
extensions, ``\\setOptions`` changes the TeX input's options, ``\\def`` and friends define macros.
MathJax's own "safe" extension filters some of this, but we do not rely on the browser's
configuration:

- ``text/latex`` must use only macros from :data:`LATEX_MACROS` and environments from
  :data:`LATEX_ENVIRONMENTS` (what sympy, IPython's ``Math`` and hand-written formulas use);
  otherwise the entry is dropped and its ``text/plain`` stays.
- HTML and Markdown text must not contain any macro of :data:`MARKUP_MACROS` (a blocklist, because
  ordinary text has backslashes too: Windows paths, regular expressions); otherwise the entry is
  dropped.

Macro names are matched without regard to case, which is stricter than TeX.
"""

from __future__ import annotations

import re

_MACRO = re.compile(r"\\([A-Za-z]+)")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\s*\{([^{}]*)\}")

MARKUP_MACROS = frozenset(
    name.lower()
    for name in (
        # html / action / bbox / enclose / color packages: markup, CSS and links
        "href", "url", "class", "cssId", "style", "data", "attr", "bbox", "enclose",
        "toggle", "mathtip", "texttip", "tooltip", "action", "mmlToken", "unicode",
        "color", "textcolor", "colorbox", "fcolorbox", "definecolor",
        # loading and configuration
        "require", "setOptions", "input", "include", "includegraphics", "usepackage",
        # definitions, which could hide the names above behind new ones
        "def", "gdef", "edef", "xdef", "let", "futurelet", "newcommand", "renewcommand",
        "providecommand", "newenvironment", "renewenvironment", "DeclareMathOperator",
        "Newextarrow", "csname", "expandafter",
    )
)
"""Macros that must not appear anywhere in the text of HTML or Markdown outputs."""

MARKUP_MACRO_PREFIXES = ("html",)
"""``\\htmlClass``, ``\\htmlId``, ``\\htmlStyle``, ``\\htmlData`` and any later ``\\html...``."""

LATEX_ENVIRONMENTS = frozenset(
    {
        "matrix", "pmatrix", "bmatrix", "Bmatrix", "vmatrix", "Vmatrix", "smallmatrix",
        "cases", "dcases", "rcases", "array", "aligned", "alignedat", "align", "align*",
        "alignat", "alignat*", "gather", "gather*", "gathered", "equation", "equation*",
        "split", "multline", "multline*", "eqnarray", "eqnarray*", "subarray", "CD",
    }
)

LATEX_MACROS = frozenset(
    [
        "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
        "vartheta", "iota", "kappa", "varkappa", "lambda", "mu", "nu", "xi", "omicron", "pi",
        "varpi", "rho", "varrho", "sigma", "varsigma", "tau", "upsilon", "phi", "varphi", "chi",
        "psi", "omega", "Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta", "Theta",
        "Iota", "Kappa", "Lambda", "Mu", "Nu", "Xi", "Omicron", "Pi", "Rho", "Sigma", "Tau",
        "Upsilon", "Phi", "Chi", "Psi", "Omega", "varGamma", "varDelta", "varTheta", "varLambda",
        "varXi", "varPi", "varSigma", "varUpsilon", "varPhi", "varPsi", "varOmega", "digamma",
        "sum", "prod", "coprod", "int", "iint", "iiint", "iiiint", "oint", "bigcup", "bigcap",
        "bigsqcup", "bigvee", "bigwedge", "bigoplus", "bigotimes", "bigodot", "biguplus", "lim",
        "limsup", "liminf", "sup", "inf", "max", "min", "arg", "det", "exp", "log", "ln", "lg",
        "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh",
        "tanh", "coth", "gcd", "deg", "dim", "hom", "ker", "Pr", "mod", "bmod", "pmod", "injlim",
        "projlim", "varliminf", "varlimsup", "leq", "geq", "neq", "le", "ge", "ne", "lt", "gt",
        "approx", "equiv", "sim", "simeq", "cong", "propto", "ll", "gg", "lll", "ggg", "prec",
        "succ", "preceq", "succeq", "subset", "subseteq", "subsetneq", "supset", "supseteq",
        "supsetneq", "sqsubset", "sqsubseteq", "sqsupset", "sqsupseteq", "in", "notin", "ni",
        "owns", "cup", "cap", "setminus", "smallsetminus", "emptyset", "varnothing", "forall",
        "exists", "nexists", "neg", "lnot", "land", "lor", "wedge", "vee", "to", "gets",
        "rightarrow", "leftarrow", "Rightarrow", "Leftarrow", "leftrightarrow", "Leftrightarrow",
        "iff", "implies", "impliedby", "mapsto", "longmapsto", "longrightarrow", "longleftarrow",
        "Longrightarrow", "Longleftarrow", "longleftrightarrow", "Longleftrightarrow", "uparrow",
        "downarrow", "Uparrow", "Downarrow", "updownarrow", "nearrow", "searrow", "swarrow",
        "nwarrow", "hookrightarrow", "hookleftarrow", "rightharpoonup", "rightleftharpoons",
        "xrightarrow", "xleftarrow", "leadsto", "infty", "partial", "nabla", "pm", "mp", "times",
        "div", "cdot", "cdotp", "cdots", "ldots", "dots", "dotsb", "dotsc", "dotsi", "dotsm",
        "vdots", "ddots", "circ", "bullet", "star", "ast", "oplus", "ominus", "otimes", "oslash",
        "odot", "uplus", "sqcup", "sqcap", "amalg", "wr", "diamond", "bigtriangleup",
        "bigtriangledown", "triangleleft", "triangleright", "lhd", "rhd", "unlhd", "unrhd", "prime",
        "angle", "measuredangle", "perp", "parallel", "nparallel", "mid", "nmid", "shortmid",
        "langle", "rangle", "lfloor", "rfloor", "lceil", "rceil", "lvert", "rvert", "lVert",
        "rVert", "vert", "Vert", "backslash", "hbar", "hslash", "ell", "Re", "Im", "aleph", "beth",
        "gimel", "wp", "top", "bot", "triangle", "square", "Box", "blacksquare", "lozenge",
        "diamondsuit", "heartsuit", "clubsuit", "spadesuit", "checkmark", "dagger", "ddagger",
        "dag", "ddag", "flat", "natural", "sharp", "surd", "imath", "jmath", "colon", "vdash",
        "dashv", "models", "therefore", "because", "complement", "mho", "eth", "Finv", "Game",
        "nleq", "ngeq", "nless", "ngtr", "lesssim", "gtrsim", "leqslant", "geqslant", "nsubseteq",
        "nsupseteq", "doteq", "triangleq", "asymp", "bowtie", "smile", "frown", "approxeq",
        "thicksim", "thickapprox", "backsim", "lessgtr", "gtrless", "frac", "dfrac", "tfrac",
        "cfrac", "binom", "dbinom", "tbinom", "genfrac", "sqrt", "root", "of", "overline",
        "underline", "overbrace", "underbrace", "hat", "widehat", "tilde", "widetilde", "bar",
        "vec", "dot", "ddot", "dddot", "ddddot", "acute", "grave", "breve", "check", "mathring",
        "overrightarrow", "overleftarrow", "overleftrightarrow", "underrightarrow",
        "underleftarrow", "stackrel", "overset", "underset", "atop", "above", "choose", "brace",
        "brack", "left", "right", "middle", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl",
        "Bigr", "biggl", "biggr", "Biggl", "Biggr", "bigm", "Bigm", "limits", "nolimits",
        "displaystyle", "textstyle", "scriptstyle", "scriptscriptstyle", "text", "textrm", "textbf",
        "textit", "texttt", "textsf", "textnormal", "textup", "emph", "mathrm", "mathbf", "mathit",
        "mathsf", "mathtt", "mathcal", "mathbb", "mathfrak", "mathscr", "mathnormal", "boldsymbol",
        "bm", "pmb", "rm", "bf", "it", "sf", "tt", "cal", "operatorname", "operatornamewithlimits",
        "mbox", "hbox", "mathop", "mathbin", "mathrel", "mathord", "mathopen", "mathclose",
        "mathpunct", "mathinner", "tiny", "scriptsize", "footnotesize", "small", "normalsize",
        "large", "Large", "LARGE", "huge", "Huge", "quad", "qquad", "enspace", "thinspace",
        "negthinspace", "medspace", "negmedspace", "thickspace", "negthickspace", "space", "hspace",
        "kern", "mkern", "mskip", "hskip", "phantom", "hphantom", "vphantom", "smash", "strut",
        "substack", "begin", "end", "cr", "hline", "cline", "newline", "nonumber", "notag", "tag",
        "boxed", "cancel", "bcancel", "xcancel", "cancelto", "not", "lbrace", "rbrace", "lbrack",
        "rbrack", "lgroup", "rgroup", "ulcorner", "urcorner", "llcorner", "lrcorner", "vcenter",
        "underbar", "sideset", "mathstrut",
    ]
)
"""Macros allowed in ``text/latex``: MathJax's formulas without markup, colours or definitions."""

_LATEX_MACROS_LOWER = frozenset(name.lower() for name in LATEX_MACROS)


def markup_macros(text: str) -> list[str]:
    """Dangerous MathJax macros (names without the backslash) found in HTML or Markdown text.

    ``text`` should be the text the browser will see, tags removed (MathJax reads text nodes).
    Returns them in order of appearance, without repeats; an empty list means none.
    """
    found: list[str] = []
    for match in _MACRO.finditer(text):
        name = match.group(1)
        lowered = name.lower()
        dangerous = lowered in MARKUP_MACROS or lowered.startswith(MARKUP_MACRO_PREFIXES)
        if dangerous and name not in found:
            found.append(name)
    return found


def latex_problem(source: str) -> str | None:
    """Why ``source`` (the value of a ``text/latex`` entry) may not be typeset, or ``None``.

    Every control word must be in :data:`LATEX_MACROS` and every ``\\begin``/``\\end`` environment
    in :data:`LATEX_ENVIRONMENTS`; control symbols (``\\,``, ``\\{``, ``\\\\``) are allowed.
    """
    for match in _MACRO.finditer(source):
        if match.group(1).lower() not in _LATEX_MACROS_LOWER:
            return f"macro \\{match.group(1)[:40]} is not allowed"
    for match in _ENVIRONMENT.finditer(source):
        if match.group(1).strip() not in LATEX_ENVIRONMENTS:
            return f"environment {match.group(1)[:40]!r} is not allowed"
    return None
