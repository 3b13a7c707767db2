"""Code that publishes and subscribes with redis-py, tested against zoo_pubsub."""

import json

import redis


def announce_order(url, order_id):
    """The code under test: tell whoever listens that an order was placed."""
    with redis.Redis.from_url(url) as r:
        return r.publish("orders", json.dumps({"id": order_id}))


def test_order_is_announced(zoo_pubsub):
    announce_order(zoo_pubsub.url, 7)

    event = zoo_pubsub.wait_for_publish("orders", timeout=5)
    assert json.loads(event["payload"]) == {"id": 7}
    assert [m["channel"] for m in zoo_pubsub.published()] == ["orders"]


def test_subscriber_gets_it(zoo_pubsub):
    with redis.Redis.from_url(zoo_pubsub.url) as r, r.pubsub() as listener:
        listener.subscribe("orders")
        assert listener.get_message(timeout=5)["type"] == "subscribe"
        assert announce_order(zoo_pubsub.url, 8) == 1
        message = listener.get_message(timeout=5)
    assert json.loads(message["data"]) == {"id": 8}
