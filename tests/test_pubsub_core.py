"""zoo-pubsub: the broker core, the commands and the Protocol, in memory (no sockets, no real time)."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from zoo.pubsub import codec
from zoo.pubsub.bridge import MAGIC, RedisBridge, parse_redis_url
from zoo.pubsub.core import RESUME_CHUNK, Broker, Client, Limits
from zoo.pubsub.protocol import PubSubFactory

cmd = codec.command


class Sink:
    """Records what a client was sent, one entry per write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.killed: list[str] = []

    def __call__(self, data: bytes) -> None:
        self.writes.append(data)

    @property
    def data(self) -> bytes:
        return b"".join(self.writes)


def client(broker: Broker, clock: Any = None, limits: Limits | None = None) -> tuple[Client, Sink]:
    sink = Sink()
    return Client(broker, sink, sink.killed.append, clock, limits), sink


class BrokerTests(SynchronousTestCase):
    def test_publish_reaches_channel_subscribers(self) -> None:
        """A publish is delivered to each subscriber of the channel and counted."""
        b = Broker()
        (c1, s1), (c2, s2), (c3, s3) = client(b), client(b), client(b)
        b.subscribe(c1, b"maine coon")
        b.subscribe(c2, b"maine coon")
        b.subscribe(c3, b"persian")
        self.assertEqual(b.publish(b"maine coon", b"stovepipe"), 2)
        b.flush()
        frame = codec.message(b"maine coon", b"stovepipe")
        self.assertEqual((s1.data, s2.data, s3.data), (frame, frame, b""))

    def test_pattern_and_channel_both_deliver(self) -> None:
        """A client on a channel and a matching pattern gets a message and a pmessage (count 2)."""
        b = Broker()
        c, s = client(b)
        b.subscribe(c, b"maine coon")
        b.psubscribe(c, b"maine*")
        self.assertEqual(b.publish(b"maine coon", b"fedora"), 2)
        self.assertEqual(b.publish(b"maine shorthair", b"x"), 1)
        self.assertEqual(b.publish(b"persian", b"x"), 0)
        b.flush()
        self.assertEqual(
            s.data,
            codec.message(b"maine coon", b"fedora")
            + codec.pmessage(b"maine*", b"maine coon", b"fedora")
            + codec.pmessage(b"maine*", b"maine shorthair", b"x"),
        )

    def test_flush_batches_one_write_per_client(self) -> None:
        """Many publishes before a flush reach each client in one write, in order."""
        b = Broker()
        c, s = client(b)
        b.subscribe(c, b"a")
        for i in range(5):
            b.publish(b"a", b"%d" % i)
        b.flush()
        self.assertEqual(s.writes, [b"".join(codec.message(b"a", b"%d" % i) for i in range(5))])

    def test_flush_joins_the_same_frames_once(self) -> None:
        """Subscribers holding the same frames in a row are sent one joined bytes object;
        one whose frames differ (another channel too, or fewer) gets its own, right bytes."""
        b = Broker()
        (c1, s1), (c2, s2), (c3, s3), (c4, s4) = client(b), client(b), client(b), client(b)
        for c in (c1, c2, c3, c4):
            b.subscribe(c, b"a")
        b.subscribe(c3, b"b")
        b.publish(b"a", b"1")
        b.publish(b"b", b"2")
        b.publish(b"a", b"3")
        b.flush()
        a_frames = codec.message(b"a", b"1") + codec.message(b"a", b"3")
        self.assertEqual((s1.writes, s2.writes, s4.writes), ([a_frames],) * 3)
        self.assertEqual(
            s3.writes,
            [codec.message(b"a", b"1") + codec.message(b"b", b"2") + codec.message(b"a", b"3")],
        )
        self.assertIs(s2.writes[0], s1.writes[0])
        b.unsubscribe(c4, b"a")
        b.publish(b"a", b"4")
        b.flush()
        self.assertEqual(
            (s1.writes[1], s2.writes[1], s3.writes[1]), (codec.message(b"a", b"4"),) * 3
        )
        self.assertEqual(s4.writes, [a_frames])

    def test_unsubscribe_stops_delivery_and_cleans_up(self) -> None:
        """After unsubscribing, nothing is delivered and empty channels/patterns are forgotten."""
        b = Broker()
        c, s = client(b)
        b.subscribe(c, b"a")
        b.psubscribe(c, b"a*")
        self.assertEqual(b.unsubscribe(c, b"a"), 1)
        self.assertEqual(b.punsubscribe(c, b"a*"), 0)
        self.assertEqual(b.unsubscribe(c, b"never"), 0)
        self.assertEqual(b.publish(b"a", b"x"), 0)
        self.assertEqual((b.channels, b.patterns), ({}, {}))

    def test_interest_events(self) -> None:
        """The listener hears about a name's first subscriber and its last one, once each."""
        b = Broker()
        events: list[tuple[bytes, bytes, bool]] = []

        class Listener:
            def interest(self, kind: bytes, name: bytes, wanted: bool) -> None:
                events.append((kind, name, wanted))

        b.listener = Listener()
        (c1, _), (c2, _) = client(b), client(b)
        b.subscribe(c1, b"a")
        b.subscribe(c2, b"a")
        b.psubscribe(c2, b"p*")
        b.drop(c1)
        b.drop(c2)
        self.assertEqual(
            events,
            [
                (b"channel", b"a", True),
                (b"pattern", b"p*", True),
                (b"channel", b"a", False),
                (b"pattern", b"p*", False),
            ],
        )

    def test_pattern_cache_sees_new_patterns(self) -> None:
        """A pattern added after a channel was published to still matches it."""
        b = Broker()
        c, s = client(b)
        b.psubscribe(c, b"x*")
        b.publish(b"abc", b"1")
        b.psubscribe(c, b"a*")
        self.assertEqual(b.publish(b"abc", b"2"), 1)


class SlowConsumerTests(SynchronousTestCase):
    def test_paused_client_queues_then_resumes_in_order(self) -> None:
        """While paused output is queued; resuming sends it all, in order, chunk by chunk."""
        b = Broker()
        c, s = client(b)
        b.subscribe(c, b"a")
        c.pause()
        payload = b"x" * 1000
        for _ in range(600):
            b.publish(b"a", payload)
            b.flush()
        self.assertEqual(s.writes, [])
        self.assertGreater(c.queued, 600 * 1000)
        c.resume()
        self.assertEqual(s.data, codec.message(b"a", payload) * 600)
        self.assertEqual(c.queued, 0)
        self.assertGreater(len(s.writes), 1)
        self.assertLessEqual(max(map(len, s.writes)), RESUME_CHUNK + 2000)

    def test_hard_limit_disconnects_only_the_slow_one(self) -> None:
        """A paused client past the hard limit is killed and freed; the others keep receiving."""
        b = Broker(Limits(hard=100_000, soft=50_000, soft_seconds=60))
        slow, slow_sink = client(b, Clock())
        fast, fast_sink = client(b, Clock())
        b.subscribe(slow, b"a")
        b.subscribe(fast, b"a")
        slow.pause()
        for _ in range(200):
            b.publish(b"a", b"y" * 1000)
            b.flush()
        self.assertEqual(len(slow_sink.killed), 1)
        self.assertIn("hard limit", slow_sink.killed[0])
        self.assertEqual((slow.queued, len(slow.queue), slow.channels), (0, 0, {}))
        self.assertEqual(b.numsub(b"a"), 1)
        self.assertEqual(fast_sink.data, codec.message(b"a", b"y" * 1000) * 200)

    def test_soft_limit_for_too_long(self) -> None:
        """Over the soft limit for soft_seconds gets a client killed."""
        clock = Clock()
        b = Broker(Limits(hard=10_000_000, soft=10_000, soft_seconds=60))
        c, s = client(b, clock)
        b.subscribe(c, b"a")
        c.pause()
        for _ in range(20):
            b.publish(b"a", b"z" * 1000)
        b.flush()
        clock.advance(59)
        self.assertEqual(s.killed, [])
        clock.advance(1)
        self.assertEqual(len(s.killed), 1)
        self.assertIn("soft limit", s.killed[0])

    def test_soft_limit_forgiven_after_draining(self) -> None:
        """A client that drains below the soft limit in time is not killed."""
        clock = Clock()
        b = Broker(Limits(hard=10_000_000, soft=10_000, soft_seconds=60))
        c, s = client(b, clock)
        b.subscribe(c, b"a")
        c.pause()
        b.publish(b"a", b"z" * 20_000)
        b.flush()
        clock.advance(30)
        c.resume()
        clock.advance(60)
        self.assertEqual(s.killed, [])
        self.assertEqual(clock.getDelayedCalls(), [])


def connect(factory: PubSubFactory) -> tuple[Any, StringTransport]:
    proto = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


def session(factory: PubSubFactory, data: bytes) -> bytes:
    """Run C{data} through a new connection; return (and clear) what it was sent."""
    proto, transport = connect(factory)
    proto.dataReceived(data)
    return transport.value()


class ProtocolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.factory = PubSubFactory(clock=self.clock)

    def test_book_session(self) -> None:
        """The book's subscriber and publisher see Redis's exact bytes."""
        sub, sub_t = connect(self.factory)
        pub, pub_t = connect(self.factory)
        sub.dataReceived(cmd(b"SUBSCRIBE", b"maine coon", b"persian"))
        self.assertEqual(
            sub_t.value(),
            b"*3\r\n$9\r\nsubscribe\r\n$10\r\nmaine coon\r\n:1\r\n"
            b"*3\r\n$9\r\nsubscribe\r\n$7\r\npersian\r\n:2\r\n",
        )
        sub_t.clear()
        pub.dataReceived(
            cmd(b"PUBLISH", b"maine coon", b"stovepipe") + cmd(b"PUBLISH", b"siamese", b"bowler")
        )
        self.assertEqual(pub_t.value(), b":1\r\n:0\r\n")
        self.assertEqual(
            sub_t.value(), b"*3\r\n$7\r\nmessage\r\n$10\r\nmaine coon\r\n$9\r\nstovepipe\r\n"
        )

    def test_ping_both_states(self) -> None:
        """PING is +PONG normally and a [pong, arg] array once subscribed (RESP2)."""
        out = session(self.factory, b"PING\r\nPING hi\r\nSUBSCRIBE c\r\nPING\r\nPING hi\r\n")
        self.assertEqual(
            out,
            b"+PONG\r\n$2\r\nhi\r\n"
            + codec.subscription(b"subscribe", b"c", 1)
            + b"*2\r\n$4\r\npong\r\n$0\r\n\r\n*2\r\n$4\r\npong\r\n$2\r\nhi\r\n",
        )

    def test_subscribed_context_refuses_other_commands(self) -> None:
        """Once subscribed, PUBLISH gets Redis's context error; unsubscribing lifts it."""
        out = session(self.factory, b"SUBSCRIBE c\r\nPUBLISH c x\r\nUNSUBSCRIBE\r\nPUBLISH c x\r\n")
        self.assertIn(
            b"-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT "
            b"/ RESET are allowed in this context\r\n",
            out,
        )
        self.assertTrue(out.endswith(codec.subscription(b"unsubscribe", b"c", 0) + b":0\r\n"))

    def test_publish_spellings_and_contexts(self) -> None:
        """PUBLISH's shortcut in Session.execute answers exactly as the command table does."""
        sub, sub_t = connect(self.factory)
        sub.dataReceived(b"SUBSCRIBE c\r\n")
        sub_t.clear()
        out = session(
            self.factory,
            cmd(b"PUBLISH", b"c", b"1")
            + cmd(b"publish", b"c", b"2")
            + cmd(b"PuBlIsH", b"c", b"3")
            + b"publish c 4\r\n"
            + cmd(b"PUBLISH", b"c")
            + cmd(b"PUBLISH", b"c", b"x", b"y")
            + cmd(b"SUBSCRIBE", b"d")
            + cmd(b"PUBLISH", b"c", b"5")
            + cmd(b"publish", b"c", b"6"),
        )
        context = (
            b"-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
            b"QUIT / RESET are allowed in this context\r\n"
        )
        self.assertEqual(
            out,
            b":1\r\n" * 4
            + b"-ERR wrong number of arguments for 'publish' command\r\n" * 2
            + codec.subscription(b"subscribe", b"d", 1)
            + context * 2,
        )
        self.assertEqual(
            sub_t.value(), b"".join(codec.message(b"c", b"%d" % i) for i in range(1, 5))
        )
        self.assertEqual(self.factory.broker.published, 4)

    def test_unknown_and_wrong_arity(self) -> None:
        """Unknown commands, subcommands and wrong argument counts get Redis's messages."""
        out = session(
            self.factory,
            b"FOO a b\r\nFLUSHALL\r\nPUBLISH a\r\nPUBSUB\r\nPUBSUB nope\r\nPUBSUB NUMPAT x\r\n",
        )
        self.assertEqual(
            out,
            b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
            b"-ERR unknown command 'FLUSHALL', with args beginning with: \r\n"
            b"-ERR wrong number of arguments for 'publish' command\r\n"
            b"-ERR wrong number of arguments for 'pubsub' command\r\n"
            b"-ERR unknown subcommand 'nope'. Try PUBSUB HELP.\r\n"
            b"-ERR wrong number of arguments for 'pubsub|numpat' command\r\n",
        )

    def test_client_handshakes(self) -> None:
        """What libraries send on connect is accepted; HELLO 4 is refused with NOPROTO."""
        out = session(
            self.factory,
            cmd(b"CLIENT", b"SETINFO", b"LIB-NAME", b"redis-py")
            + cmd(b"HELLO", b"4")
            + cmd(b"SELECT", b"0")
            + cmd(b"CLIENT", b"SETNAME", b"book")
            + cmd(b"CLIENT", b"GETNAME"),
        )
        self.assertEqual(
            out, b"+OK\r\n-NOPROTO unsupported protocol version\r\n+OK\r\n+OK\r\n$4\r\nbook\r\n"
        )

    def test_resp3_pushes(self) -> None:
        """After HELLO 3 confirmations and messages are pushes (>), nulls are _, and PUBLISH is allowed."""
        sub, sub_t = connect(self.factory)
        other, other_t = connect(self.factory)
        other.dataReceived(b"SUBSCRIBE a\r\n")
        sub.dataReceived(b"HELLO 3\r\n")
        self.assertTrue(sub_t.value().startswith(b"%7\r\n$6\r\nserver\r\n"))
        self.assertIn(b"$5\r\nproto\r\n:3\r\n", sub_t.value())
        sub_t.clear()
        other_t.clear()
        sub.dataReceived(b"UNSUBSCRIBE\r\nSUBSCRIBE a\r\nPING\r\nPUBLISH a x\r\n")
        self.assertEqual(
            sub_t.value(),
            b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
            b"+PONG\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nx\r\n:2\r\n",
        )
        self.assertEqual(other_t.value(), codec.message(b"a", b"x"))  # RESP2 neighbours unchanged
        sub_t.clear()
        sub.dataReceived(b"RESET\r\n")
        session(self.factory, b"PUBLISH a y\r\n")
        self.assertEqual(sub_t.value(), b"+RESET\r\n")

    def test_pubsub_introspection(self) -> None:
        """PUBSUB CHANNELS, NUMSUB and NUMPAT report the broker's state."""
        session(self.factory, b'SUBSCRIBE "maine coon" persian\r\nPSUBSCRIBE p*\r\n')
        out = session(
            self.factory,
            b"PUBSUB CHANNELS\r\nPUBSUB CHANNELS p*\r\nPUBSUB NUMSUB persian x\r\nPUBSUB NUMPAT\r\n",
        )
        self.assertEqual(
            out,
            codec.bulk_array([b"maine coon", b"persian"])
            + codec.bulk_array([b"persian"])
            + b"*4\r\n$7\r\npersian\r\n:1\r\n$1\r\nx\r\n:0\r\n:1\r\n",
        )

    def test_quit_closes_after_reply(self) -> None:
        """QUIT answers +OK, ignores the rest of the pipeline and closes."""
        proto, t = connect(self.factory)
        proto.dataReceived(b"QUIT\r\nPING\r\n")
        self.assertEqual(t.value(), b"+OK\r\n")
        self.assertTrue(t.disconnecting)

    def test_protocol_error_closes(self) -> None:
        """Malformed RESP gets -ERR Protocol error and the connection is closed; earlier commands ran."""
        proto, t = connect(self.factory)
        proto.dataReceived(b"PING\r\n*1\r\n$x\r\n")
        self.assertEqual(t.value(), b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n")
        self.assertTrue(t.disconnecting)

    def test_protocol_error_echoes_raw_byte(self) -> None:
        """The unexpected byte in a protocol error is sent as the raw byte, as Redis's %c does."""
        out = session(self.factory, b"*1\r\n\xff\r\n")
        self.assertEqual(out, b"-ERR Protocol error: expected '$', got '\xff'\r\n")

    def test_oversized_bulk_refused(self) -> None:
        """An argument longer than max_bulk is refused before it is read."""
        factory = PubSubFactory(clock=self.clock, max_bulk=1024)
        self.assertEqual(
            session(factory, b"*3\r\n$7\r\nPUBLISH\r\n$1\r\na\r\n$2000\r\n"),
            b"-ERR Protocol error: invalid bulk length\r\n",
        )

    def test_binary_safe_channel_and_payload(self) -> None:
        """Channel names and payloads with spaces, NUL, CRLF, non-UTF-8 and empty bodies round-trip."""
        sub, sub_t = connect(self.factory)
        channel = b"cat \x00\xff\r\n"
        sub.dataReceived(cmd(b"SUBSCRIBE", channel))
        sub_t.clear()
        session(self.factory, cmd(b"PUBLISH", channel, b"") + cmd(b"PUBLISH", channel, b"\xfe\r\n"))
        self.assertEqual(
            sub_t.value(), codec.message(channel, b"") + codec.message(channel, b"\xfe\r\n")
        )

    def test_transport_backpressure_and_kill(self) -> None:
        """A subscriber whose transport stays paused is disconnected at the hard limit, others still receive."""
        factory = PubSubFactory(
            clock=self.clock, limits=Limits(hard=50_000, soft=50_000, soft_seconds=60)
        )
        slow, slow_t = connect(factory)
        fast, fast_t = connect(factory)
        slow.dataReceived(b"SUBSCRIBE a\r\n")
        fast.dataReceived(b"SUBSCRIBE a\r\n")
        slow_t.producer.pauseProducing()
        fast_t.clear()
        for _ in range(100):
            session(factory, cmd(b"PUBLISH", b"a", b"m" * 1000))
        self.assertTrue(slow_t.disconnected)
        self.assertEqual(factory.broker.numsub(b"a"), 1)
        self.assertEqual(factory.broker.killed, 1)
        self.assertEqual(fast_t.value(), codec.message(b"a", b"m" * 1000) * 100)

    def test_connection_lost_forgets_subscriptions(self) -> None:
        """A closed connection's channels disappear from the broker."""
        proto, t = connect(self.factory)
        proto.dataReceived(b"SUBSCRIBE a\r\nPSUBSCRIBE b*\r\n")
        proto.connectionLost()
        self.assertEqual((self.factory.broker.channels, self.factory.broker.patterns), ({}, {}))


class FakeConnection:
    """A txredisapi connection stand-in: records what is written and published."""

    def __init__(self) -> None:
        self.transport = StringTransport()
        self.published: list[tuple[bytes, ...]] = []

    def execute_command(self, *args: bytes) -> Any:
        from twisted.internet.defer import succeed

        self.published.append(args)
        return succeed(1)


class BridgeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = Broker()
        self.bridge = RedisBridge(self.broker, "127.0.0.1", 6379, node_id=b"A" * 8)
        self.client, self.sink = client(self.broker)

    def test_subscribes_in_redis_only_to_what_is_needed(self) -> None:
        """The node SUBSCRIBEs in Redis on a name's first local subscriber and leaves on its last."""
        sub = FakeConnection()
        self.bridge.connected("sub", sub)
        other, _ = client(self.broker)
        self.broker.subscribe(self.client, b"a")
        self.broker.subscribe(other, b"a")
        self.broker.psubscribe(self.client, b"p*")
        self.broker.drop(self.client)
        self.broker.drop(other)
        self.assertEqual(
            sub.transport.value(),
            cmd(b"SUBSCRIBE", b"a")
            + cmd(b"PSUBSCRIBE", b"p*")
            + cmd(b"PUNSUBSCRIBE", b"p*")
            + cmd(b"UNSUBSCRIBE", b"a"),
        )

    def test_resubscribes_on_reconnect(self) -> None:
        """A new subscriber connection is subscribed to every channel and pattern in use."""
        self.broker.subscribe(self.client, b"a")
        self.broker.psubscribe(self.client, b"p*")
        sub = FakeConnection()
        self.bridge.connected("sub", sub)
        self.assertEqual(sub.transport.value(), cmd(b"SUBSCRIBE", b"a") + cmd(b"PSUBSCRIBE", b"p*"))

    def test_publish_local_now_and_enveloped_to_redis(self) -> None:
        """PUBLISH delivers locally at once and sends Redis the payload wrapped with the node id."""
        pub = FakeConnection()
        self.bridge.connected("pub", pub)
        self.broker.subscribe(self.client, b"a")
        self.assertEqual(self.bridge.publish(b"a", b"hat"), 1)
        self.assertEqual(pub.published, [(b"PUBLISH", b"a", MAGIC + b"A" * 8 + b"hat")])
        self.broker.flush()
        self.assertEqual(self.sink.data, codec.message(b"a", b"hat"))

    def test_own_echo_dropped_others_delivered(self) -> None:
        """Messages from Redis: our own are dropped, other nodes' unwrapped, plain ones kept."""
        self.broker.subscribe(self.client, b"a")
        self.bridge.received_message(None, b"a", MAGIC + b"A" * 8 + b"mine")
        self.bridge.received_message(None, b"a", MAGIC + b"B" * 8 + b"theirs")
        self.bridge.received_message(None, b"a", b"plain")
        self.broker.flush()
        self.assertEqual(
            self.sink.data, codec.message(b"a", b"theirs") + codec.message(b"a", b"plain")
        )

    def test_pmessage_goes_to_pattern_subscribers_only(self) -> None:
        """A pmessage from Redis reaches that pattern's subscribers, not the channel's."""
        chan, chan_sink = client(self.broker)
        self.broker.subscribe(chan, b"ab")
        self.broker.psubscribe(self.client, b"a*")
        self.bridge.received_message(b"a*", b"ab", MAGIC + b"B" * 8 + b"x")
        self.broker.flush()
        self.assertEqual(self.sink.data, codec.pmessage(b"a*", b"ab", b"x"))
        self.assertEqual(chan_sink.data, b"")

    def test_redis_down_delivers_locally(self) -> None:
        """Without a Redis connection PUBLISH still reaches local subscribers."""
        self.broker.subscribe(self.client, b"a")
        pub = FakeConnection()
        self.bridge.connected("pub", pub)
        self.bridge.disconnected("pub", pub)
        self.assertEqual(self.bridge.publish(b"a", b"x"), 1)
        self.assertEqual(pub.published, [])

    def test_parse_redis_url(self) -> None:
        """Only redis://host[:port] URLs are accepted."""
        self.assertEqual(parse_redis_url("redis://localhost:7000"), ("localhost", 7000))
        self.assertEqual(parse_redis_url("redis://10.0.0.1"), ("10.0.0.1", 6379))
        for bad in ("http://x", "redis://", "redis://x:y", "redis://u:p@x", "redis://x/3"):
            with self.assertRaises(ValueError):
                parse_redis_url(bad)


class OptionsTests(SynchronousTestCase):
    def parse(self, *args: str) -> Any:
        from zoo.tap.pubsub import Options

        o = Options()
        o.parseOptions(list(args))
        return o

    def test_defaults(self) -> None:
        """No options: loopback 6380, Redis's output limits, no idle timeout, no Redis."""
        o = self.parse()
        self.assertEqual(o.endpoints, ["tcp:6380:interface=127.0.0.1"])
        self.assertEqual(
            (o["output-hard-limit"], o["output-soft-limit"]), (32 * 1024**2, 8 * 1024**2)
        )
        self.assertEqual((o["idle-timeout"], o["redis"]), (0.0, None))

    def test_sizes_use_redis_units(self) -> None:
        """Sizes accept Redis's units: k = 1000, kb = 1024, mb, gb."""
        o = self.parse(
            "--output-hard-limit", "64kb", "--output-soft-limit", "1k", "--max-bulk", "2mb"
        )
        self.assertEqual(
            (o["output-hard-limit"], o["output-soft-limit"], o["max-bulk"]),
            (65536, 1000, 2 * 1024**2),
        )

    def test_bad_values_name_the_flag(self) -> None:
        """Bad sizes, URLs and inconsistent limits are one-line errors naming the flag."""
        from twisted.python.usage import UsageError

        for args, fragment in [
            (("--output-hard-limit", "lots"), "--output-hard-limit"),
            (("--redis", "http://x"), "--redis"),
            (("--output-soft-limit", "64mb"), "--output-soft-limit must not be above"),
        ]:
            with self.assertRaises(UsageError) as e:
                self.parse(*args)
            self.assertIn(fragment, str(e.exception))

    def test_redis_option_adds_the_bridge(self) -> None:
        """--redis adds a bridge service; parsing and building do no network I/O."""
        from zoo.tap.pubsub import makeService

        svc = makeService(self.parse("--port", "0", "--redis", "redis://127.0.0.1:7000"))
        bridges = [s for s in svc if isinstance(s, RedisBridge)]
        self.assertEqual([(b.host, b.port) for b in bridges], [("127.0.0.1", 7000)])
        self.assertEqual(bridges[0]._factories, [])  # nothing connects before the service starts
