"""The control plane's OpenAPI 3 description, generated from its routes.

Every L{zoo.inspect.Route} (the control plane's own and each inspector's) becomes
one operation: its C{{name}} placeholders are path parameters, its C{query} names
are query parameters, and every operation but the open ones needs the token.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from zoo import __version__
from zoo.inspect import Route

_ERROR = {
    "description": 'An error: {"error": message}.',
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
        }
    },
}


def _operation(route: Route, open_paths: Collection[str]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{([^}]+)\}", route.path)
    ]
    params += [
        {"name": name, "in": "query", "required": False, "description": text,
         "schema": {"type": "string"}}
        for name, text in route.query.items()
    ]  # fmt: skip
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{route.method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', route.path)}",
        "responses": {
            "200": {"description": "Success (JSON unless the summary says otherwise)."},
            "400": _ERROR,
            "401": _ERROR,
            "404": _ERROR,
        },
    }
    if route.method in ("POST", "PUT"):
        operation["requestBody"] = {
            "required": False,
            "content": {"application/octet-stream": {}, "application/json": {}},
        }
    if params:
        operation["parameters"] = params
    if route.path in open_paths:
        operation["security"] = []
    return operation


def document(routes: list[Route], open_paths: Collection[str] = ()) -> dict[str, Any]:
    """An OpenAPI 3.0 document describing C{routes} (absolute paths)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, open_paths)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "zoo control plane",
            "version": __version__,
            "description": "Events, sessions, transcripts and stored things of a zoo process.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "query": {"type": "apiKey", "in": "query", "name": "token"},
            }
        },
        "security": [{"bearer": []}, {"query": []}],
    }
