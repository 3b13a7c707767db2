"""RPC in the observatory: rpc.called for XML-RPC and JSON-RPC calls (in memory)."""

from __future__ import annotations

import xmlrpc.client

from test_xmlrpc import Conn
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from zoo.events import Filter, Observatory
from zoo.xmlrpc import Methods, RPCError, book_methods
from zoo.xmlrpc.methods import FAILURE


def observed(methods: Methods | None = None, enabled: bool = True) -> tuple[Conn, Observatory]:
    obs = Observatory(Clock(), enabled=enabled)
    conn = Conn(methods)
    conn.methods.observatory = obs
    conn.transport.session = "xmlrpc-5"  # as the connection layer marks it
    return conn, obs


def test_xmlrpc_call_reported_with_result():
    """An XML-RPC call gives rpc.called: method, params, result, duration, protocol, session."""
    c, obs = observed()
    assert c.call("addtogether", 20, 30) == 50
    [event] = obs.events(Filter.of("xmlrpc", "rpc.called"))
    assert event.session == "xmlrpc-5"
    assert event.fields == {
        "protocol": "xmlrpc",
        "method": "addtogether",
        "params": [20, 30],
        "duration_ms": 0.0,
        "result": 50,
    }


def test_xmlrpc_fault_reported():
    """A call that faults is reported with the fault's code and message."""
    c, obs = observed()
    c.fault("quadratic", 1, 0, 1)
    c.fault("no_such_method")
    domain, missing = obs.events()
    assert domain.fields["fault"]["message"] == "<class 'ValueError'>:math domain error"
    assert "result" not in domain.fields
    assert missing.fields["method"] == "no_such_method" and missing.fields["fault"]["code"]


def test_jsonrpc_calls_and_batches_reported():
    """JSON-RPC calls (named params too) and each call of a batch are reported as jsonrpc."""
    c, obs = observed()
    c.json({"jsonrpc": "2.0", "id": 1, "method": "addtogether", "params": [1, 2]})
    c.json(
        [
            {"jsonrpc": "2.0", "id": 2, "method": "double", "params": {"num": 4}},
            {"jsonrpc": "2.0", "method": "double", "params": [1]},
        ]
    )
    events = obs.events()
    assert [(e.fields["protocol"], e.fields["method"], e.fields["result"]) for e in events] == [
        ("jsonrpc", "addtogether", 3),
        ("jsonrpc", "double", 8),
        ("jsonrpc", "double", 2),
    ]
    assert events[1].fields["params"] == {"num": 4} and events[0].session == "xmlrpc-5"


def test_big_params_and_results_are_bounded():
    """Params and results over 1 KiB of JSON are kept as cut text."""
    c, obs = observed()
    c.call("remote_repr", "x" * 5000)
    [event] = obs.events()
    assert isinstance(event.fields["params"], str) and len(event.fields["params"]) == 1025
    assert isinstance(event.fields["result"], str) and len(event.fields["result"]) == 1025


def test_deferred_result_reported_when_it_fires():
    """A method answering later is reported when its Deferred fires, with the time it took."""
    pending: list[Deferred] = []
    methods = Methods()

    @methods.register
    def later():
        pending.append(Deferred())
        return pending[-1]

    @methods.register
    def broken_later():
        pending.append(Deferred())
        return pending[-1]

    obs = Observatory(Clock(), enabled=True)
    methods.observatory = obs
    d = methods.call_observed("xmlrpc", None, "later")
    assert obs.events() == []
    obs.clock.advance(0.25)
    pending[0].callback("done")
    assert d.result == "done"
    e = methods.call_observed("jsonrpc", None, "broken_later")
    pending[1].errback(RPCError(7, "nope"))
    e.addErrback(lambda f: None)
    ok, bad = obs.events()
    assert ok.fields["result"] == "done" and ok.fields["duration_ms"] == 250.0
    assert bad.fields["fault"] == {"code": 7, "message": "nope"}


def test_nothing_reported_when_off():
    """With the observatory off calls are served and nothing is emitted."""
    c, obs = observed(enabled=False)
    assert c.call("double", 3) == 6
    c.json({"jsonrpc": "2.0", "id": 1, "method": "double", "params": [1]})
    obs.enable()
    assert obs.events() == []


def test_unsendable_values_are_still_json():
    """A result JSON cannot carry (a date, bytes) is recorded as text, never breaking the event."""
    import json

    c, obs = observed(book_methods(clock=Clock().seconds))
    c.call("remote_repr", xmlrpc.client.Binary(b"\x00\xff"))
    [event] = obs.events()
    json.dumps(event.to_json())


def test_deeply_nested_params_are_reported_not_a_server_error():
    """20,000 nested arrays with observation on: the call is answered (a fault) and reported."""
    c, obs = observed()
    depth = 20_000
    body = (
        b"<methodCall><methodName>remote_repr</methodName><params><param><value>"
        + b"<array><data><value>" * depth
        + b"<int>1</int>"
        + b"</value></data></array>" * depth
        + b"</value></param></params></methodCall>"
    )
    assert c.raw_fault(body).faultCode == FAILURE  # as with observation off
    [event] = obs.events()
    assert isinstance(event.fields["params"], str) and event.fields["params"].startswith("[[[")
