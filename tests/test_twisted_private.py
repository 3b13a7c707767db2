"""Twisted's private API is touched only in zoo/_twisted/, and all of it is listed there.

Every module under C{zoo/} is parsed with C{ast}. Outside C{zoo/_twisted/} a use of a
private Twisted name fails the test; inside it, every one must be named in the
package docstring, which is the list an upgrade of Twisted re-checks.

What counts as a use of a private Twisted name:

- importing one (C{from twisted.x import _y}, C{import twisted.x._y}) or reaching one
  through something imported from Twisted (C{http._escape}, C{tcp.Server._x});
- a camelCase private (C{_cbStatus}, C{_networkProducer}) that Twisted's own code
  defines, wherever it appears: defined, read, set or named in C{getattr};
- in a subclass of a Twisted class: defining, reading or setting a private name that
  one of its Twisted base classes defines (C{_helo}, C{_unblock}, LineOnlyReceiver's
  C{_buffer}), even to hold state of its own, since Twisted's code would share it;
- any of L{SNAKE_PRIVATES} on an object that is not the class's own C{self}.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import twisted
import zoo
import zoo._twisted

ZOO = Path(zoo.__file__).resolve().parent
HOME = ZOO / "_twisted"
TWISTED = Path(twisted.__file__).resolve().parent

#: Twisted's private names are camelCase, zoo's are snake_case.
CAMEL_PRIVATE = re.compile(r"_[a-z]+[A-Z]\w*\Z")

#: Twisted's snake_case private names that zoo has used (or nearly): never on another
#: object than a zoo class's own C{self}, wherever they are used.
SNAKE_PRIVATES = frozenset(
    {
        "_buffer",  # LineReceiver, LineOnlyReceiver: the unparsed bytes
        "_helo",  # smtp.SMTP: the HELO/EHLO argument and the peer
        "_from",  # smtp.SMTP: the envelope sender
        "_to",  # smtp.SMTP: the envelope recipients
        "_unblock",  # pop3.POP3: run the commands held back
        "_highest",  # pop3.POP3: the highest message retrieved
        "_escape",  # web.http: the access log's quoting
        "_getrealname",  # internet.tcp: a socket address as a tuple
        "_kex",  # conch.ssh: the key-exchange registry
        "_poller",  # EPollReactor: the epoll object
        "_selectables",  # EPollReactor: fd to selectable
    }
)

_ATTRIBUTE_CALLS = {"getattr", "hasattr", "setattr", "delattr"}


@dataclass(frozen=True)
class Use:
    """One private Twisted name used in a zoo module."""

    path: Path
    line: int
    name: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.name} ({self.why})"


@cache
def twisted_private_names() -> frozenset[str]:
    """Every C{_name} that Twisted's own code (not its tests) defines or assigns."""
    names: set[str] = set()
    for path in TWISTED.rglob("*.py"):
        parts = path.relative_to(TWISTED).with_suffix("").parts
        if "test" in parts[:-1]:
            continue
        names.update(parts)  # private modules and packages: _kex, _producer_helpers
        tree = ast.parse(path.read_bytes())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.id if isinstance(node, ast.Name) else node.attr)
            elif isinstance(node, ast.alias) and node.asname:
                names.add(node.asname)
    return frozenset(n for n in names if _is_private(n))


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name != "_"


@cache
def _twisted_class_privates(cls: type) -> frozenset[str]:
    """The private names a Twisted class defines: in its body, or as C{self._x = ...}."""
    names = {n for n in vars(cls) if _is_private(n)}
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return frozenset(names)
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and _is_private(node.attr)
        ):
            names.add(node.attr)
    return frozenset(names)


def inherited_privates(cls: type) -> dict[str, str]:
    """Private name -> the Twisted class it comes from, for every Twisted class in C{cls}'s MRO."""
    found: dict[str, str] = {}
    for base in cls.__mro__:
        if base.__module__.split(".")[0] == "twisted":
            for name in _twisted_class_privates(base):
                found.setdefault(name, f"{base.__module__}.{base.__qualname__}")
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(ZOO.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class _Scanner(ast.NodeVisitor):
    """Collects the private Twisted names one module uses."""

    def __init__(self, path: Path, module: ModuleType, broad: bool) -> None:
        self.path = path
        self.module = module
        self.broad = broad
        self.uses: list[Use] = []
        self.from_twisted: set[str] = set()  # local names bound to something from Twisted
        self.classes: list[tuple[ast.ClassDef, dict[str, str] | None]] = []

    def add(self, node: ast.AST, name: str, why: str) -> None:
        self.uses.append(Use(self.path, getattr(node, "lineno", 0), name, why))

    # -- imports ----------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] != "twisted":
                continue
            self.from_twisted.add(alias.asname or "twisted")
            for part in alias.name.split("."):
                if _is_private(part):
                    self.add(node, part, f"imports private module {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if module.split(".")[0] != "twisted" or node.level:
            return
        for part in module.split("."):
            if _is_private(part):
                self.add(node, part, f"imports from private module {module}")
        for alias in node.names:
            self.from_twisted.add(alias.asname or alias.name)
            if _is_private(alias.name):
                self.add(node, alias.name, f"imports {module}.{alias.name}")

    # -- classes ----------------------------------------------------------------------

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append((node, self._inherited(node)))
        for stmt in node.body:
            for target in _class_level_names(stmt):
                self._name(stmt, target, "defines", on_self=True)
        self.generic_visit(node)
        self.classes.pop()

    def _inherited(self, node: ast.ClassDef) -> dict[str, str] | None:
        """What the class inherits from Twisted (L{inherited_privates}), C{None} if nothing.

        A class found neither at module level nor in a class (one made in a function)
        cannot be inspected: it is held to L{SNAKE_PRIVATES} as if Twisted defined them.
        """
        obj: object = self.module
        for outer, _ in self.classes:
            obj = getattr(obj, outer.name, None)
        cls = getattr(obj, node.name, None)
        if cls is None:
            return dict.fromkeys(SNAKE_PRIVATES, f"the unknown bases of {node.name}")
        return inherited_privates(cls) if isinstance(cls, type) else None  # or an Interface

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    # -- attributes -------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> None:
        root: ast.expr = node
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in self.from_twisted and _is_private(node.attr):
            self.add(node, node.attr, f"reaches into {root.id}")
        else:
            self._name(node, node.attr, "uses", _is_self(node.value))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id in _ATTRIBUTE_CALLS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            self._name(node, node.args[1].value, f"{func.id}()s", _is_self(node.args[0]))
        self.generic_visit(node)

    def _name(self, node: ast.AST, name: str, verb: str, on_self: bool) -> None:
        if not _is_private(name):
            return
        inherited = self.classes[-1][1] if self.classes else None
        if CAMEL_PRIVATE.match(name) and name in twisted_private_names():
            self.add(node, name, f"{verb} a camelCase private that Twisted defines")
        elif on_self and inherited and name in inherited:
            self.add(node, name, f"{verb} a private name of {inherited[name]}")
        elif name in SNAKE_PRIVATES and not (on_self and self.classes and not inherited):
            self.add(node, name, f"{verb} Twisted's private {name} on a Twisted object")
        elif self.broad and not on_self and name in twisted_private_names():
            self.add(node, name, f"{verb} a private name Twisted defines, on another object")


def _is_self(node: ast.expr) -> bool:
    """Is C{node} C{self} or C{super()}?"""
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id == "super"
    return isinstance(node, ast.Name) and node.id == "self"


def _class_level_names(stmt: ast.stmt) -> Iterator[str]:
    """The names a statement in a class body binds: methods and class attributes."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield stmt.name
    elif isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            if isinstance(target, ast.Name):
                yield target.id
    elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        yield stmt.target.id


def private_uses(path: Path, broad: bool = False) -> list[Use]:
    """The private Twisted names the zoo module at C{path} uses.

    @param broad: also report any private name Twisted defines used on another object
        than C{self} (too many of zoo's own names match for this outside C{zoo/_twisted/}).
    """
    return scan(path.read_text(), importlib.import_module(_module_name(path)), path, broad)


def scan(source: str, module: ModuleType, path: Path, broad: bool = False) -> list[Use]:
    """The private Twisted names used by C{source}, the code of C{module} (for its classes)."""
    scanner = _Scanner(path, module, broad)
    scanner.visit(ast.parse(source))
    return scanner.uses


def zoo_modules(inside_home: bool) -> list[Path]:
    """zoo's modules outside C{zoo/_twisted/}, or the ones inside it."""
    return [
        p for p in sorted(ZOO.rglob("*.py")) if (HOME in p.parents) == inside_home and p.is_file()
    ]


def test_private_names_only_in_zoo_twisted() -> None:
    """No module outside zoo/_twisted/ imports, defines or uses a private Twisted name."""
    modules = zoo_modules(inside_home=False)
    assert len(modules) > 50  # the whole tree was found
    uses = [use for path in modules for use in private_uses(path)]
    assert not uses, "private Twisted names outside zoo/_twisted/:\n" + "\n".join(map(str, uses))


def test_zoo_twisted_lists_every_private_name() -> None:
    """Every private Twisted name used inside zoo/_twisted/ is named in its docstring."""
    listed = set(re.findall(r"\w+", zoo._twisted.__doc__ or ""))
    uses = [use for path in zoo_modules(inside_home=True) for use in private_uses(path, True)]
    assert uses, "zoo/_twisted/ uses no private name: the scan is broken"
    missing = [use for use in uses if use.name not in listed]
    assert not missing, "not listed in zoo/_twisted/__init__.py:\n" + "\n".join(map(str, missing))


# -- the scanner itself --------------------------------------------------------------


def _scan_source(source: str) -> list[str]:
    """The names the scanner reports for C{source}, run as a module of its own."""
    source = textwrap.dedent(source)
    module = ModuleType("scratch")
    exec(compile(source, "scratch.py", "exec"), module.__dict__)
    return sorted({use.name for use in scan(source, module, Path("scratch.py"))})


def test_scanner_finds_each_kind() -> None:
    """The scanner reports private imports, reached-into modules, camelCase and inherited names."""
    found = _scan_source(
        """
        from twisted.conch.ssh import _kex
        from twisted.internet import tcp
        from twisted.mail import pop3, smtp
        from twisted.protocols import basic

        class Proto(smtp.ESMTP):
            def _cbAuthenticated(self, info):
                return self._helo

        class Lines(basic.LineOnlyReceiver):
            def clear(self):
                self._buffer = b""

        def held(proto):
            proto._unblock(None)
            return getattr(proto, "_userIs"), tcp._getrealname

        class Own:
            def __init__(self):
                self._buffer = b""
                self._from = None
        """,
    )
    assert found == [
        "_buffer",
        "_cbAuthenticated",
        "_getrealname",
        "_helo",
        "_kex",
        "_unblock",
        "_userIs",
    ]


def test_scanner_leaves_zoo_names_alone() -> None:
    """zoo's own snake_case names, even on Twisted subclasses, are not reported."""
    found = _scan_source(
        """
        from twisted.mail import smtp

        class Proto(smtp.ESMTP):
            _secure = False

            def _own_helper(self):
                self._unparsed = b""
                return self._secure
        """,
    )
    assert found == []
