"""twisted.web's HTTP channel with the private state zoo's RPC channel needs, public.

zoo's RPC channel puts its read gate where twisted.web pauses and resumes reading
around a request in hand (C{_networkProducer}), answers a client that half-closes
while a request is being handled (C{_handlingRequest}), and writes the access log
line with twisted.web's own quoting (C{http._escape}). zoo-http tells an over-long
request line (414) from an over-long header line (431) by whether the channel has
parsed the request line yet (C{HTTPChannel._command}, set from the first line until
the request is complete). Listed in L{zoo._twisted}.
"""

from __future__ import annotations

from typing import Any

from twisted.web import http


class HTTPChannelAdapter(http.HTTPChannel):
    """twisted.web's C{HTTPChannel} with two private attributes under public names."""

    @property
    def network_producer(self) -> Any:
        """What the channel pauses while it holds a request (by default the transport)."""
        return self._networkProducer

    @network_producer.setter
    def network_producer(self, producer: Any) -> None:
        self._networkProducer = producer

    @property
    def handling_request(self) -> bool:
        """Is a request being handled (received in full, its response not yet finished)?"""
        return bool(self._handlingRequest)


def escape(value: bytes | str) -> str:
    """A value quoted for an access log line, exactly as twisted.web's own log does."""
    return str(http._escape(value))


def reading_request_line(channel: http.HTTPChannel) -> bool:
    """Is C{channel} still reading a request line (rather than headers or a body)?"""
    return not hasattr(channel, "_command")
