"""Starting the control plane: one listener group called C{admin} in a zoo process.

L{add_admin} is what C{--admin ENDPOINT} does: it turns the observatory on with
the retention options, reads (or creates) the token, and adds a listener group
serving the API to the root, so the admin listener appears in the start-up table
and the C{--ready-file} like every other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.application import service
from twisted.logger import Logger

from zoo.admin import token as tokens
from zoo.admin.api import NAME, ControlPlane
from zoo.admin.web import site
from zoo.events import Observatory, hub
from zoo.tap._service import ListenerGroup, ZooRoot

log = Logger()

#: Where C{twistd -n zoo} serves the control plane unless told otherwise.
DEFAULT_ENDPOINT = "tcp:8900:interface=127.0.0.1"


def _outermost(svc: Any) -> Any:
    top = None
    while svc is not None:
        if isinstance(svc, ZooRoot):
            top = svc
        svc = getattr(svc, "parent", None)
    return top


class AdminGroup(ListenerGroup):
    """The control plane's listeners; at start it logs where it is and where the token is."""

    def __init__(self, plane: ControlPlane, token: str, token_path: Path, **kw: Any) -> None:
        super().__init__(NAME, site(plane, token), **kw)
        self.factory.observed = False  # its own requests are no sessions to observe
        self.plane = plane
        self.token = token
        self.token_path = token_path
        plane.listeners = self._listeners
        plane.pending = self._pending

    def _listeners(self) -> list[Any]:
        root = _outermost(self)
        return root.bound() if root is not None else self.bound()

    def _pending(self) -> list[str]:
        root = _outermost(self)
        return root.pending() if root is not None else []

    def startService(self) -> None:
        super().startService()
        for bound in self.bound():
            log.info(
                "admin: the control plane is at http://{where}/ (token {token}, kept in {path})",
                where=bound.where(),
                token=self.token,
                path=str(self.token_path),
            )


def add_admin(
    root: service.MultiService,
    endpoint: str,
    state_dir: Path,
    *,
    max_events: int | None = None,
    max_bytes: int | None = None,
    transcripts: bool = True,
    redis: str | None = None,
    observatory: Observatory = hub,
    reactor: Any = None,
) -> AdminGroup:
    """Serve the control plane on C{endpoint}, as a child of C{root}, and turn on C{observatory}.

    @param endpoint: a server endpoint string (loopback unless it names an interface).
    @param state_dir: where the token is kept (C{admin-token}, mode 0600).
    @param redis: C{redis://HOST[:PORT]}: share events with other zoo processes there
        (see L{zoo.admin.relay}).
    """
    observatory.enable(max_events=max_events, max_bytes=max_bytes, transcripts=transcripts)
    token, path = tokens.load_or_create(state_dir)
    group = AdminGroup(
        ControlPlane(observatory),
        token,
        path,
        max_connections=256,
        idle_timeout=None,  # a wait-for or an event stream may be quiet for minutes
        reactor=reactor,
    )
    group.listen(endpoint)
    group.setServiceParent(root)
    if redis:
        from zoo.admin.relay import EventRelay
        from zoo.pubsub.bridge import parse_redis_url

        host, port = parse_redis_url(redis)
        relay = EventRelay(observatory, host, port, reactor=reactor)
        relay.setServiceParent(root)
        group.plane.relay = relay
    return group
