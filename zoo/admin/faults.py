"""The control plane's fault operations: C{/api/faults} to list, create and delete faults.

They act on the process's fault registry (L{zoo.faults.registry}), the same one
C{--fault} and the TOML config fill, so a fault created here is in force for the
next command or connection, and a deleted one stops at once. Each fault is listed
with its counters (C{seen}: occurrences in scope, C{fired}: those it fired on).
"""

from __future__ import annotations

import json
from typing import Any

from zoo.faults.model import FaultError, Registry, parse
from zoo.inspect import ApiError, Call, Route


class FaultRoutes:
    """The C{/api/faults} routes over one L{Registry}."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/faults", self.list, "The faults in force, with their counters."),
            Route(
                "POST",
                "/api/faults",
                self.create,
                'Create a fault: a JSON object {"spec": "smtp:RCPT=451 first=1"} '
                '(and "service" to scope it), or the spec as text (see docs/faults.rst).',
            ),
            Route("DELETE", "/api/faults", self.clear, "Delete every fault."),
            Route("GET", "/api/faults/{id}", self.one, "One fault and its counters."),
            Route("DELETE", "/api/faults/{id}", self.delete, "Delete one fault, at once."),
        ]

    def list(self, call: Call) -> dict[str, Any]:
        return {"faults": [f.to_json() for f in self.registry]}

    def create(self, call: Call) -> dict[str, Any]:
        body = call.body.strip()
        service = None
        if body.startswith(b"{"):
            try:
                asked = json.loads(body)
            except ValueError as e:
                raise ApiError(400, f"the body is not JSON: {e}") from None
            spec = asked.get("spec")
            service = asked.get("service")
            if not isinstance(spec, str) or not isinstance(service, str | None):
                raise ApiError(400, 'the body must be {"spec": "...", "service": "..."}')
        else:
            try:
                spec = body.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, "the spec is not UTF-8") from None
        try:
            fault = self.registry.add(parse(spec, service))
        except FaultError as e:
            raise ApiError(400, str(e)) from None
        return {"fault": fault.to_json()}

    def one(self, call: Call) -> dict[str, Any]:
        fault = self.registry.get(call.params["id"])
        if fault is None:
            raise ApiError(404, f"no fault {call.params['id']!r} (see /api/faults)")
        return {"fault": fault.to_json()}

    def delete(self, call: Call) -> dict[str, Any]:
        fault = self.registry.remove(call.params["id"])
        if fault is None:
            raise ApiError(404, f"no fault {call.params['id']!r} (see /api/faults)")
        return {"deleted": fault.to_json()}

    def clear(self, call: Call) -> dict[str, Any]:
        gone = [f.to_json() for f in self.registry]
        self.registry.clear()
        return {"deleted": gone}
