"""XML-RPC bodies to Python values and back, refusing hostile XML.

- L{parse_call} reads a C{<methodCall>} with expat behind defusedxml's guards:
  a document with a DTD (C{<!DOCTYPE ...>}) is refused the moment expat reports it,
  before any entity is declared or expanded, so "billion laughs" and external
  entities cost nothing. Malformed XML, a non-call document or an unknown tag is an
  L{RPCError}, never an exception escaping to the web server.
- L{dump_result} and L{dump_fault} build the C{<methodResponse>}. A result holding
  characters XML 1.0 cannot carry (NUL, most C0 controls, lone surrogates) becomes a
  fault instead of a response no client can parse (Twisted ticket #3781).
"""

from __future__ import annotations

import re
import xmlrpc.client
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.xmlrpc import DefusedExpatParser

from zoo.xmlrpc.methods import BAD_PARAMS, FAILURE, NOT_REPRESENTABLE, RPCError, non_finite

_Unmarshaller = xmlrpc.client.Unmarshaller
_dumps = xmlrpc.client.dumps

# Characters outside XML 1.0's Char production (surrogates fail at encode time).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# The shape xmlrpc.client (and most clients) send for a call with scalar arguments.
# A body that matches exactly is well-formed XML with no DTD, comment or entity,
# so it can be read without expat; anything else takes the full parser.
_WS = rb"[ \t\r\n]*"
_SIMPLE_CALL = re.compile(
    rb"(?:<\?xml version=(['\"])1\.0\1(?: encoding=(['\"])(?i:utf-8)\2)?\?>)?"
    + _WS
    + rb"<methodCall>"
    + _WS
    + rb"<methodName>([A-Za-z0-9_.:/-]{1,200})</methodName>"
    + _WS
    + rb"(?:<params>(.*)</params>"
    + _WS
    + rb")?</methodCall>"
    + _WS,
    re.DOTALL,
)
_SIMPLE_PARAM = re.compile(
    _WS + rb"<param>" + _WS + rb"<value>(?:<(int|i4|i8|double|string|boolean)>([^<&\r]*)</\1>"
    rb"|([^<&\r]*))</value>" + _WS + rb"</param>" + _WS
)
_SCALARS: dict[bytes, Any] = {b"int": int, b"i4": int, b"i8": int, b"double": float}
_NON_FINITE_DOUBLE = re.compile(r"<double>(?:-?inf|nan)</double>")
_NOT_XMLRPC = NOT_REPRESENTABLE.format(wire="XML-RPC's <double>")


def _non_finite_param() -> RPCError:
    return RPCError(BAD_PARAMS, f"a parameter is {_NOT_XMLRPC}")


_BOOLEANS = {"0": False, "1": True}


def _parse_simple(body: bytes) -> tuple[str, tuple[Any, ...]] | None:
    """Read a call of scalar arguments without expat, or C{None} to use the full parser.

    Gives exactly what L{parse_call}'s expat path gives for the bodies it accepts
    (a property test checks this); it declines anything unusual rather than judge it.
    """
    call = _SIMPLE_CALL.fullmatch(body)
    if call is None or b"]]>" in body:
        return None
    name = call.group(3).decode("ascii")
    block = call.group(4)
    if block is None or not block.strip(b" \t\r\n"):
        return name, ()
    params = []
    end = 0
    for match in _SIMPLE_PARAM.finditer(block):
        if match.start() != end:
            return None
        end = match.end()
        kind, typed, plain = match.groups()
        try:
            text = (typed if kind is not None else plain).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if _NOT_XML.search(text) is not None:
            return None
        if kind is None or kind == b"string":
            params.append(text)
        elif kind == b"boolean":
            if text not in _BOOLEANS:
                return None
            params.append(_BOOLEANS[text])
        else:
            try:
                value = _SCALARS[kind](text)
            except ValueError:
                return None
            if non_finite(value):
                raise _non_finite_param()
            params.append(value)
    if end != len(block):
        return None
    return name, tuple(params)


def parse_call(body: bytes) -> tuple[str, tuple[Any, ...]]:
    """Parse an XML-RPC request body into C{(method name, params)}.

    Values decode to Python's builtin types: C{dateTime.iso8601} to
    L{datetime.datetime}, C{base64} to L{bytes}, C{<nil/>} to C{None}.

    @raise RPCError: C{FAILURE} with a one-line reason for anything that is not a
        well-formed, DTD-free XML-RPC call.
    """
    simple = _parse_simple(body)
    if simple is not None:
        return simple
    return _parse_expat(body)


def _parse_expat(body: bytes) -> tuple[str, tuple[Any, ...]]:
    """parse_call's full path: expat behind defusedxml's guards."""
    target = _Unmarshaller(use_builtin_types=True)
    parser = DefusedExpatParser(target, forbid_dtd=True)
    try:
        parser.feed(body)
        parser.close()
    except DefusedXmlException as e:
        raise RPCError(
            FAILURE,
            f"refused: XML-RPC requests may not carry a DTD or entities ({type(e).__name__})",
        ) from None
    except Exception as e:
        raise RPCError(FAILURE, f"malformed XML-RPC request: {_reason(e)}") from None
    name = target.getmethodname()
    if not isinstance(name, str) or not name:
        raise RPCError(FAILURE, "malformed XML-RPC request: no <methodCall><methodName>")
    try:
        params = target.close()
    except xmlrpc.client.Fault:
        raise RPCError(FAILURE, "malformed XML-RPC request: a fault is not a call") from None
    except xmlrpc.client.ResponseError:
        # <params> may be left out of a call with no arguments; anything else is broken.
        if target._stack or target._marks:
            raise RPCError(FAILURE, "malformed XML-RPC request: unbalanced values") from None
        params = ()
    if non_finite(params):
        raise _non_finite_param()
    return name, params


def parse_response(body: bytes) -> Any:
    """The value of an XML-RPC C{<methodResponse>}, parsed as guardedly as a call.

    @raise xmlrpc.client.Fault: the server answered with a fault.
    @raise RPCError: C{FAILURE} for a body that is not a well-formed response.
    """
    target = _Unmarshaller(use_builtin_types=True)
    parser = DefusedExpatParser(target, forbid_dtd=True)
    try:
        parser.feed(body)
        parser.close()
        values = target.close()
    except xmlrpc.client.Fault:
        raise
    except DefusedXmlException as e:
        raise RPCError(
            FAILURE, f"refused: the response carries a DTD ({type(e).__name__})"
        ) from None
    except Exception as e:
        raise RPCError(FAILURE, f"malformed XML-RPC response: {_reason(e)}") from None
    if len(values) != 1:
        raise RPCError(FAILURE, "malformed XML-RPC response: not exactly one value")
    return values[0]


def _reason(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return text.splitlines()[0][:200]


_RESPONSE = (
    "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"
    "<value><%s>%s</%s></value>\n</param>\n</params>\n</methodResponse>\n"
)


def dump_result(result: Any, allow_none: bool = True) -> bytes:
    """The C{<methodResponse>} for C{result}, or a fault if it cannot be sent."""
    kind = type(result)
    if kind is int and -(2**31) <= result < 2**31:
        # What xmlrpc.client.dumps writes, without building a Marshaller.
        return (_RESPONSE % ("int", result, "int")).encode("ascii")
    try:
        text = _dumps((result,), methodresponse=True, allow_none=allow_none)
    except Exception as e:
        return dump_fault(RPCError(FAILURE, f"cannot send the result: {_reason(e)}"))
    if _NON_FINITE_DOUBLE.search(text) is not None:
        return dump_fault(RPCError(FAILURE, f"cannot send the result: it is {_NOT_XMLRPC}"))
    if _NOT_XML.search(text) is not None:
        return dump_fault(
            RPCError(
                FAILURE,
                "cannot send the result: it holds characters XML 1.0 cannot carry "
                "(send bytes, which travel as base64)",
            )
        )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return dump_fault(RPCError(FAILURE, "cannot send the result: it is not valid Unicode"))


def dump_fault(error: RPCError) -> bytes:
    """The C{<methodResponse><fault>} for C{error}."""
    message = _NOT_XML.sub("\ufffd", error.message)
    fault = xmlrpc.client.Fault(error.code, message)
    return _dumps(fault, methodresponse=True).encode("utf-8", "replace")
