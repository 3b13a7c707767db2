"""Sphinx configuration for zoo's docs (built with -W: warnings are errors)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent / "_ext"))  # benchplots: the benchmark page

project = "zoo"
author = "the zoo developers"
copyright = "2026, the zoo developers"
extensions = ["sphinx.ext.autodoc", "benchplots"]
exclude_patterns = ["_build", "examples"]
html_theme = "alabaster"
html_static_path: list[str] = []
nitpicky = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}

# -- epytext docstrings --------------------------------------------------------------
#
# zoo's docstrings are written in Twisted's epytext (L{name}, C{code}, @param x: ...).
# This hook turns the part of epytext they use into reST as autodoc reads each
# docstring, so the reference renders without rewriting the docstrings.

_FIELDS = {
    "param": "param",
    "type": "type",
    "return": "returns",
    "returns": "returns",
    "rtype": "rtype",
    "raise": "raises",
    "raises": "raises",
    "ivar": "ivar",
    "cvar": "cvar",
    "var": "var",
    "keyword": "keyword",
    "note": "note",
    "see": "see",
    "since": "since",
}
_FIELD = re.compile(r"^(\s*)@(\w+)((?:\s+[^:]+)?):(.*)$")
_INLINE = re.compile(r"([LCIBUMEX])\{")
_SPECIAL = re.compile(r"([*`|\\]|(?<=\w)_(?=\W|$))")


def _closing(text: str, start: int) -> int:
    """The index of the brace that closes the one opened just before C{start}, or -1."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _literal(code: str) -> str:
    code = code.strip() or " "
    if "``" in code or code == " ":
        return ":code:`" + code.replace("\\", "\\\\").replace("`", "\\`") + "`"
    return f"``{code}``"


def _link(body: str) -> str:
    match = re.fullmatch(r"(.*?)\s*<([^<>]+)>", body, re.S)
    if match:
        text = _SPECIAL.sub(r"\\\1", match.group(1))
        return f":py:obj:`{text} <{match.group(2).strip()}>`"
    target = body.strip()
    return f":py:obj:`{target}`" if target else ""


def _markup(kind: str, body: str) -> str:
    if kind == "L":
        return _link(body)
    if kind == "C":
        return _literal(body)
    if kind == "U":
        return body.strip()
    inner = _inline(body).strip()
    if not inner:
        return ""
    if kind == "I":
        return f"*{inner}*" if "*" not in inner else inner
    if kind == "B":
        return f"**{inner}**" if "*" not in inner else inner
    return inner  # M (math), E (escapes), X (index terms): the text itself


def _inline(text: str) -> str:
    """Turn epytext inline markup into reST, escaping reST's own markup characters."""
    out: list[str] = []
    pos = 0
    while True:
        match = _INLINE.search(text, pos)
        end = _closing(text, match.end()) if match else -1
        if match is None or end < 0:
            out.append(_SPECIAL.sub(r"\\\1", text[pos:]))
            return "".join(out)
        out.append(_SPECIAL.sub(r"\\\1", text[pos : match.start()]))
        piece = _markup(match.group(1), text[match.end() : end])
        before = "".join(out)[-1:]
        after = text[end + 1 : end + 2]
        # reST markup must stand apart from word characters around it.
        if before and (before.isalnum() or before in "'\")]}"):
            piece = "\\ " + piece
        if after and (after.isalnum() or after in "'\"([{"):
            piece += "\\ "
        out.append(piece)
        pos = end + 1


def _blocks(lines: list[str]) -> list[tuple[bool, list[str]]]:
    """Split a docstring into (literal?, lines) runs: C{::} blocks are left untouched."""
    runs: list[tuple[bool, list[str]]] = []
    literal_from: int | None = None
    i = 0
    current: list[str] = []
    while i < len(lines):
        line = lines[i]
        current.append(line)
        i += 1
        if line.rstrip().endswith("::"):
            indent = len(line) - len(line.lstrip())
            runs.append((False, current))
            current = []
            literal_from = i
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
            ):
                i += 1
            runs.append((True, lines[literal_from:i]))
    runs.append((False, current))
    return runs


def _paragraphs(lines: list[str]) -> list[str]:
    """Convert one non-literal run: inline markup per paragraph, fields to reST fields."""
    out: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if not paragraph:
            return
        text = _inline("\n".join(paragraph))
        out.extend(text.split("\n"))
        paragraph.clear()

    for line in lines:
        field = _FIELD.match(line)
        if field and field.group(2) in _FIELDS:
            flush()
            if out and out[-1].strip() and not out[-1].lstrip().startswith(":"):
                if not out[-1].startswith(" "):
                    out.append("")
            indent, name, arg, rest = field.groups()
            paragraph.append(f"{indent}:{_FIELDS[name]}{arg}:{rest}")
        elif not line.strip():
            flush()
            out.append(line)
        else:
            paragraph.append(line)
    flush()
    # A field's own colon-separated head must not be escaped: undo it in field markers.
    return [re.sub(r"^(\s*:\w+)((?: [^:]+)?):", _unescape_field, line) for line in out]


def _unescape_field(match: re.Match[str]) -> str:
    return match.group(1) + match.group(2).replace("\\", "") + ":"


def epytext_to_rest(lines: list[str]) -> list[str]:
    """The reST for a docstring written in epytext (as a list of lines)."""
    out: list[str] = []
    for literal, run in _blocks(lines):
        out.extend(run if literal else _paragraphs(run))
    return out


def _process_docstring(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    lines[:] = epytext_to_rest(lines)


_INTERFACE = re.compile(r"<InterfaceClass ([\w.]+)>")


def _process_signature(
    app: Any, what: str, name: str, obj: Any, options: Any, signature: Any, annotation: Any
) -> tuple[Any, Any]:
    """Show a zope interface in a signature by its dotted name, not its repr."""
    if signature:
        signature = _INTERFACE.sub(r"\1", signature)
    if annotation:
        annotation = _INTERFACE.sub(r"\1", annotation)
    return signature, annotation


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("autodoc-process-signature", _process_signature)
    return {"parallel_read_safe": True}
