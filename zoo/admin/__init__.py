"""The control plane: the observatory's HTTP API (C{twistd -n zoo}, or any plugin's C{--admin}).

- L{zoo.admin.api}: the operations (health, services, events, wait-for, sessions, reset);
- L{zoo.admin.web}: the HTTP adapter (routing, the token, JSON errors, the event stream),
  which also mounts every inspector registered on the observatory (L{zoo.inspect});
- L{zoo.admin.query}, L{zoo.admin.sessions}, L{zoo.admin.metrics}, L{zoo.admin.openapi}:
  filters, sessions and transcripts, Prometheus metrics, the OpenAPI description;
- L{zoo.admin.token}: the token kept in the state directory;
- L{zoo.admin.service}: the C{admin} listener group a zoo process runs.

The reference is C{docs/observatory.rst}.
"""
