"""The method table an RPC server serves: plain Python callables, looked up by name.

L{Methods} knows nothing of XML, JSON or HTTP. It holds the functions, answers the
introspection questions (C{system.listMethods}, C{system.methodHelp},
C{system.methodSignature}), runs C{system.multicall}, and turns a call that does not
fit the function (unknown name, wrong number of arguments) into an L{RPCError}
with a message a client can show.

A function may return a plain value or a L{Deferred}; it may raise
L{twisted.web.xmlrpc.Fault}-like errors (anything with C{faultCode} and
C{faultString}) to choose its own fault code.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import math
import reprlib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.logger import Logger, LogLevel

from zoo.events import bounded_text
from zoo.faults.hook import at
from zoo.faults.model import registry as fault_registry

log = Logger()

#: Fault codes. C{NOT_FOUND} and C{FAILURE} are twisted.web.xmlrpc's own, so code
#: written against Twisted keeps working; C{APPLICATION} is what Python's
#: SimpleXMLRPCServer sends for an exception raised by a method (the book prints it).
NOT_FOUND = 8001
FAILURE = 8002
BAD_PARAMS = 8003
APPLICATION = 1


class RPCError(Exception):
    """A call that failed; becomes an XML-RPC fault or a JSON-RPC error object.

    @param chosen: the code was chosen by the user (an injected fault that names
        one), so every wire sends it as it is, JSON-RPC included (which otherwise
        answers a failed method with its server-error code).
    """

    def __init__(self, code: int, message: str, chosen: bool = False) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.chosen = chosen

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


#: Said when a value holds a float that is infinite or NaN: neither XML-RPC's
#: C{<double>} nor JSON has a way to write one.
NOT_REPRESENTABLE = "not representable: a number is infinite or NaN, which {wire} cannot carry"


def non_finite(value: Any) -> bool:
    """Whether C{value} is, or holds in its lists, tuples and dicts, an infinite or NaN float."""
    stack, seen = [value], set()  # a loop, not recursion: requests may nest deeply
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, list | tuple | dict) and id(item) not in seen:
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
    return False


def error_from_exception(e: BaseException) -> RPCError:
    """The L{RPCError} a client sees for exception C{e} raised inside a method.

    A fault raised on purpose (anything with C{faultCode}/C{faultString}, such as
    C{xmlrpc.client.Fault} or C{twisted.web.xmlrpc.Fault}) keeps its code and text;
    any other exception is reported as SimpleXMLRPCServer reports it,
    C{1, "<class 'ValueError'>:math domain error"}, which is what the book's client prints.
    """
    if isinstance(e, RPCError):
        return e
    code = getattr(e, "faultCode", None)
    if isinstance(code, int):
        return RPCError(code, str(getattr(e, "faultString", "")))
    return RPCError(APPLICATION, f"{type(e)}:{e}")


def load_module(name: str) -> ModuleType:
    """Import C{name}: a dotted module name, or the path of a C{.py} file."""
    if name.endswith(".py"):
        path = Path(name).expanduser()
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None or not path.is_file():
            raise ImportError(f"no Python file at {name}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(name)


def _arity_error(name: str, func: Callable[..., Any], args: tuple[Any, ...]) -> str | None:
    """Why C{args} do not fit C{func}'s signature, or C{None} if they do."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature
        return None
    try:
        sig.bind(*args)
    except TypeError as e:
        return f"{name}{sig}: {e}"
    return None


class Methods:
    """A table of named functions served over XML-RPC and JSON-RPC.

    >>> methods = Methods()
    >>> @methods.register
    ... def double(num):
    ...     "Return twice num."
    ...     return num * 2
    >>> methods.call("double", (7,))
    14

    The C{system.*} introspection and multicall methods are always present.

    @ivar observatory: where L{call_observed} reports C{rpc.called} (L{zoo.events.hub}).
    """

    def __init__(
        self, functions: Iterable[Callable[..., Any]] = (), observatory: Any = None
    ) -> None:
        from zoo.events import hub

        self.observatory = observatory if observatory is not None else hub
        self._functions: dict[str, Callable[..., Any]] = {}
        for func in functions:
            self.register(func)
        self._system: dict[str, Callable[..., Any]] = {
            "system.listMethods": self.list_methods,
            "system.methodHelp": self.method_help,
            "system.methodSignature": self.method_signature,
            "system.multicall": self.multicall,
        }

    # -- building the table -------------------------------------------------

    def register(self, func: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
        """Serve C{func} under C{name} (default: its C{__name__}); usable as a decorator.

        C{@methods.register} and C{@methods.register(name="math.add")} both work.
        """
        if func is None:
            return lambda f: self.register(f, name=name)
        key = name or func.__name__
        if key.startswith("system."):
            raise ValueError(f"{key!r}: the system.* names are reserved")
        self._functions[key] = func
        return func

    def add_module(self, module: ModuleType | str, prefix: str = "") -> list[str]:
        """Serve every public function defined in C{module} (a module, a dotted name or a .py path).

        Public means: a function (not a class or an imported name) whose name does
        not start with C{_}. Returns the method names added.
        """
        if isinstance(module, str):
            module = load_module(module)
        added = []
        for attr, value in sorted(vars(module).items()):
            if attr.startswith("_") or not inspect.isfunction(value):
                continue
            if value.__module__ != module.__name__:
                continue
            self.register(value, name=prefix + attr)
            added.append(prefix + attr)
        if not added:
            raise ValueError(f"module {module.__name__!r} defines no public functions")
        return added

    def __contains__(self, name: str) -> bool:
        return name in self._functions or name in self._system

    def __len__(self) -> int:
        return len(self._functions)

    # -- calling ------------------------------------------------------------

    def lookup(self, name: Any) -> Callable[..., Any]:
        """The function for C{name}, or L{RPCError} C{NOT_FOUND}."""
        if not isinstance(name, str):
            raise RPCError(BAD_PARAMS, f"a method name is a string, not {type(name).__name__}")
        func = self._functions.get(name) or self._system.get(name)
        if func is None:
            raise RPCError(NOT_FOUND, f"method {name!r} not found (system.listMethods lists them)")
        return func

    def call(self, name: Any, args: Any = (), kwargs: dict[str, Any] | None = None) -> Any:
        """Call method C{name}; return its result (maybe a L{Deferred}) or raise L{RPCError}."""
        func = self.lookup(name)
        args = tuple(args)
        try:
            if kwargs:
                return func(*args, **kwargs)
            return func(*args)
        except TypeError as e:
            # Was it the call itself that did not fit, or something inside the method?
            why = (
                _arity_error(name, func, args) if not kwargs else _kwargs_error(name, func, kwargs)
            )
            if why is not None:
                raise RPCError(BAD_PARAMS, why) from None
            raise self._failed(name, e) from None
        except Exception as e:
            raise self._failed(name, e) from None

    def call_observed(
        self,
        protocol: str,
        session: str | None,
        name: Any,
        args: Any = (),
        kwargs: dict[str, Any] | None = None,
        service: str = "xmlrpc",
        transport: Any = None,
    ) -> Any:
        """L{call}, reported as C{rpc.called} (method, params, result or fault, duration).

        A fault at C{rpc:METHOD} (L{zoo.faults.hook}) answers instead: a fault
        (L{RPCError}), or a Deferred that never fires (C{hang}, or after C{drop}).

        @param protocol: C{"xmlrpc"}, C{"jsonrpc"}, C{"msgpack-rpc"} or C{"zerorpc"}.
        @param service: the service the event belongs to (the one serving the call).
        @param transport: the request's connection, for the faults' scopes.
        """
        if fault_registry.points:
            hit = at(transport, "rpc", str(name), service=service, protocol=protocol)
            if hit is not None:
                if hit.action == "reply":
                    raise injected_error(hit.value)
                hit.perform(transport, lambda value: None)
                return Deferred()  # no answer: the client's timeout is what is tested
        observatory = self.observatory
        if not observatory.enabled:
            return self.call(name, args, kwargs)
        clock = observatory.clock
        start = clock.seconds()

        def report(outcome: dict[str, Any]) -> None:
            observatory.emit(
                service,
                "rpc.called",
                session,
                protocol=protocol,
                method=bounded_text(name if isinstance(name, str) else repr(name), 256),
                params=_bounded(kwargs if kwargs else list(args) if args is not None else []),
                duration_ms=round((clock.seconds() - start) * 1000, 3),
                **outcome,
            )

        try:
            result = self.call(name, args, kwargs)
        except RPCError as e:
            report({"fault": {"code": e.code, "message": e.message}})
            raise
        if isinstance(result, Deferred):

            def done(value: Any) -> Any:
                report({"result": _bounded(value)})
                return value

            def failed(failure: Any) -> Any:
                e = error_from_exception(failure.value)
                report({"fault": {"code": e.code, "message": e.message}})
                return failure

            return result.addCallbacks(done, failed)
        report({"result": _bounded(result)})
        return result

    def _failed(self, name: str, e: Exception) -> RPCError:
        error = error_from_exception(e)
        if not hasattr(e, "faultCode") and not isinstance(e, RPCError):
            log.failure("method {name} raised", name=name, level=LogLevel.warn)
        return error

    # -- system.* -------------------------------------------------------------

    def list_methods(self) -> list[str]:
        """Return the names of the methods this server offers."""
        return sorted(self._functions) + sorted(self._system)

    def describe(self, name: str) -> str:
        """C{name(arguments)} as Python shows the function's signature (C{name(...)} if unknown)."""
        func = self.lookup(name)
        try:
            return f"{name}{inspect.signature(func)}"
        except (TypeError, ValueError):
            return f"{name}(...)"

    def method_help(self, name: str) -> str:
        """Return the help text (docstring) of method C{name}."""
        func = self.lookup(name)
        return inspect.getdoc(func) or getattr(func, "help", "") or ""

    def method_signature(self, name: str) -> Any:
        """Return the method's signatures as [[return type, argument types...], ...], if declared."""
        func = self.lookup(name)
        signature = getattr(func, "signature", None)
        # SimpleXMLRPCServer's answer when nothing is declared; the book's client
        # then prints "name(...)".
        return signature if signature else "signatures not supported"

    def multicall(self, calls: Any) -> Any:
        """Run several calls in one request: [{'methodName': ..., 'params': [...]}, ...].

        Returns one slot per call: C{[result]} when it worked, or a
        C{{'faultCode': ..., 'faultString': ...}} struct when it failed.
        """
        if not isinstance(calls, list):
            raise RPCError(BAD_PARAMS, "system.multicall takes one array of call structs")
        slots: list[Any] = []
        pending = False
        for call in calls:
            slot = self._one_of_many(call)
            pending = pending or isinstance(slot, Deferred)
            slots.append(slot)
        if not pending:
            return slots
        return gatherResults([_as_deferred(s) for s in slots])

    def _one_of_many(self, call: Any) -> Any:
        try:
            if not isinstance(call, dict):
                raise RPCError(BAD_PARAMS, "a multicall entry must be a struct")
            name = call.get("methodName")
            params = call.get("params", [])
            if not isinstance(name, str) or not isinstance(params, list):
                raise RPCError(BAD_PARAMS, "a multicall entry needs methodName and params")
            if name == "system.multicall":
                raise RPCError(BAD_PARAMS, "system.multicall cannot be nested")
            result = self.call(name, params)
        except RPCError as e:
            return fault_struct(e)
        if isinstance(result, Deferred):
            return result.addCallbacks(lambda r: [r], _fault_slot)
        return [result]


#: The most characters of params or a result an event keeps (as JSON text).
EVENT_VALUE = 1024


def _bounded(value: Any) -> Any:
    """C{value} for an event: as itself if its JSON is short, else its JSON text, cut."""
    try:
        text = json.dumps(value, default=repr, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = reprlib.repr(value)  # bounded depth: plain repr recurses too
    if len(text) <= EVENT_VALUE:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return bounded_text(text, EVENT_VALUE)


def _kwargs_error(name: str, func: Callable[..., Any], kwargs: dict[str, Any]) -> str | None:
    try:
        sig = inspect.signature(func)
        sig.bind(**kwargs)
    except (TypeError, ValueError) as e:
        return f"{name}: {e}"
    return None


#: The fault code of an injected fault whose spec names none (XML-RPC's "application error").
INJECTED = -32500


def injected_error(value: str | None) -> RPCError:
    """The fault a spec's value describes: C{fault}, C{42}, C{fault 42 busy}, C{busy}."""
    text = (value or "").strip()
    if text.lower().startswith("fault"):
        text = text[5:].strip()
    head, _, rest = text.partition(" ")
    if head.lstrip("-").isdigit():
        return RPCError(int(head), rest or "fault injected by zoo", chosen=True)
    return RPCError(INJECTED, text or "fault injected by zoo")


def fault_struct(e: RPCError) -> dict[str, Any]:
    """The struct a failed call occupies in a multicall answer."""
    return {"faultCode": e.code, "faultString": e.message}


def _fault_slot(failure: Any) -> dict[str, Any]:
    return fault_struct(error_from_exception(failure.value))


def _as_deferred(value: Any) -> Deferred[Any]:
    if isinstance(value, Deferred):
        return value
    d: Deferred[Any] = Deferred()
    d.callback(value)
    return d
