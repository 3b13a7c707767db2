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

from zoo.xmlrpc.methods import FAILURE, RPCError

_Unmarshaller = xmlrpc.client.Unmarshaller
_dumps = xmlrpc.client.dumps

# Characters outside XML 1.0's Char production (surrogates fail at encode time).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def parse_call(body: bytes) -> tuple[str, tuple[Any, ...]]:
    """Parse an XML-RPC request body into C{(method name, params)}.

    Values decode to Python's builtin types: C{dateTime.iso8601} to
    L{datetime.datetime}, C{base64} to L{bytes}, C{<nil/>} to C{None}.

    @raise RPCError: C{FAILURE} with a one-line reason for anything that is not a
        well-formed, DTD-free XML-RPC call.
    """
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
    return name, params


def _reason(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return text.splitlines()[0][:200]


def dump_result(result: Any, allow_none: bool = True) -> bytes:
    """The C{<methodResponse>} for C{result}, or a fault if it cannot be sent."""
    try:
        text = _dumps((result,), methodresponse=True, allow_none=allow_none)
    except Exception as e:
        return dump_fault(RPCError(FAILURE, f"cannot send the result: {_reason(e)}"))
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
