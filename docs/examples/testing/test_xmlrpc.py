"""Code that calls an XML-RPC service with xmlrpc.client, tested against zoo_xmlrpc."""

import xmlrpc.client


def doubled_total(url, numbers):
    """The code under test: asks the server to double each number, and adds them up."""
    with xmlrpc.client.ServerProxy(url) as proxy:
        return sum(proxy.double(n) for n in numbers)


def test_calls_are_made(zoo_xmlrpc):
    assert doubled_total(zoo_xmlrpc.url, [1, 2, 3]) == 12

    calls = zoo_xmlrpc.calls("double")
    assert [c["params"] for c in calls] == [[1], [2], [3]]
    assert [c["result"] for c in calls] == [2, 4, 6]
