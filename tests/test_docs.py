"""The docs' epytext-to-reST hook, which renders the API reference from zoo's docstrings."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

CONF = Path(__file__).resolve().parents[1] / "docs" / "conf.py"


def _conf() -> ModuleType:
    spec = importlib.util.spec_from_file_location("zoo_docs_conf", CONF)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rest(text: str) -> str:
    return "\n".join(_conf().epytext_to_rest(text.split("\n")))


def test_links_and_code() -> None:
    """L{} becomes a Python cross-reference and C{} an inline literal, braces nested."""
    assert _rest("See L{zoo.compose}.") == "See :py:obj:`zoo.compose`."
    assert _rest("L{the root <zoo.ZooRoot>}") == ":py:obj:`the root <zoo.ZooRoot>`"
    assert _rest('Writes C{{"pid": 1}}.') == 'Writes ``{"pid": 1}``.'


def test_markup_kept_apart_from_words() -> None:
    """Markup glued to a word (C{x}s) is escaped apart, as reST requires."""
    assert _rest("the C{Factory}s") == "the ``Factory``\\ s"
    assert _rest("aI{b}") == "a\\ *b*"


def test_fields() -> None:
    """@param, @return, @raise and @ivar become reST fields, after a blank line."""
    text = "Do it.\n@param x: the x,\n    over two lines.\n@return: y\n@raise ValueError: bad\n"
    assert _rest(text).split("\n") == [
        "Do it.",
        "",
        ":param x: the x,",
        "    over two lines.",
        ":returns: y",
        ":raises ValueError: bad",
        "",
    ]
    assert _rest("@ivar reading: C{False}") == ":ivar reading: ``False``"


def test_rest_specials_escaped_outside_literals() -> None:
    """A bare *args or trailing name_ is escaped; a :: literal block is left as written."""
    assert _rest("takes *args") == "takes \\*args"
    text = "Like this::\n\n    f(*args, C{x})\n\nthen *done*"
    assert _rest(text).split("\n") == [
        "Like this::",
        "",
        "    f(*args, C{x})",
        "",
        "then \\*done\\*",
    ]


def test_plugin_table_complete() -> None:
    """docs/development.rst has a row per plugin, and every file the table names exists."""
    import re

    from zoo.tap import registry

    root = CONF.parents[1]
    text = (root / "docs" / "development.rst").read_text()
    table = text[text.index(".. list-table::") :].split("\n\n")[1]
    rows = table.split("   * - ")[2:]  # [0] is the indent before the header row
    plugins = [re.match(r"``([\w-]+)``", row).group(1) for row in rows]  # type: ignore[union-attr]
    assert sorted(plugins) == sorted(["zoo", *(f"zoo-{n}" for n in registry.names())])
    paths = [p for row in rows for p in re.findall(r"``([\w./-]+/[\w./-]*)``", row)]
    assert len(paths) >= 5 * len(rows)
    missing = [p for p in paths if not (root / p).exists()]
    assert missing == []
