# twistd discovers zoo's plugins here. Keep this file to ServiceMaker lines:
# it must import nothing heavy (never the reactor, txredisapi or a zoo module),
# or `twistd --reactor=...` breaks for every plugin on a cold plugin cache.
from twisted.application.service import ServiceMaker

zoo = ServiceMaker("zoo", "zoo.tap.all", "Run any set of zoo services in one process.", "zoo")
lancelot = ServiceMaker(
    "zoo-lancelot", "zoo.tap.lancelot", "Lancelot Q&A (FOPNP ch. 7).", "zoo-lancelot"
)
echo = ServiceMaker("zoo-echo", "zoo.tap.echo", "Echo, RFC 862, TCP and UDP.", "zoo-echo")
blocks = ServiceMaker(
    "zoo-blocks", "zoo.tap.blocks", "Length-prefixed blocks (FOPNP blocks.py).", "zoo-blocks"
)
time = ServiceMaker(
    "zoo-time", "zoo.tap.time", "ISO time (ex. 17.1), RFC 868 time, RFC 867 daytime.", "zoo-time"
)
xmlrpc = ServiceMaker(
    "zoo-xmlrpc", "zoo.tap.xmlrpc", "XML-RPC and JSON-RPC (FOPNP ch. 18).", "zoo-xmlrpc"
)
tls = ServiceMaker(
    "zoo-tls", "zoo.tap.tls", "TLS wrapper like stunnel (server and client modes).", "zoo-tls"
)
ssh = ServiceMaker(
    "zoo-ssh", "zoo.tap.ssh", "SSH: exec, shell and sandboxed SFTP (FOPNP ch. 16).", "zoo-ssh"
)
pubsub = ServiceMaker(
    "zoo-pubsub", "zoo.tap.pubsub", "Pub/sub broker speaking Redis's protocol.", "zoo-pubsub"
)
ftp = ServiceMaker("zoo-ftp", "zoo.tap.ftp", "FTP and FTPS server (RFC 959, 4217).", "zoo-ftp")
smtp = ServiceMaker("zoo-smtp", "zoo.tap.smtp", "ESMTP mail sink storing to Maildirs.", "zoo-smtp")
pop3 = ServiceMaker("zoo-pop3", "zoo.tap.pop3", "POP3 over the zoo-smtp Maildirs.", "zoo-pop3")
imap = ServiceMaker("zoo-imap", "zoo.tap.imap", "IMAP4 over the zoo-smtp Maildirs.", "zoo-imap")
exercises = ServiceMaker(
    "zoo-exercises",
    "zoo.tap.exercises",
    "The books' socket exercises: Hey!, udp_local/remote, tcp_sixteen, streamer.",
    "zoo-exercises",
)
dns = ServiceMaker(
    "zoo-dns", "zoo.tap.dns", "Authoritative DNS for one zone (FOPNP dns_basic.py).", "zoo-dns"
)
http = ServiceMaker(
    "zoo-http", "zoo.tap.http", "HTTP test service in httpbin's image (FOPNP ch. 9).", "zoo-http"
)
telnet = ServiceMaker(
    "zoo-telnet",
    "zoo.tap.telnet",
    "Telnet login and shell, cleartext (FOPNP ch. 16).",
    "zoo-telnet",
)
zmq = ServiceMaker(
    "zoo-zmq", "zoo.tap.zmq", "ZeroMQ (ZMTP 3.0/3.1) REP, PUB, PUSH, ROUTER, zerorpc.", "zoo-zmq"
)
msgpackrpc = ServiceMaker(
    "zoo-msgpackrpc",
    "zoo.tap.msgpackrpc",
    "MessagePack-RPC over TCP (the RPC methods).",
    "zoo-msgpackrpc",
)
memcached = ServiceMaker(
    "zoo-memcached",
    "zoo.tap.memcached",
    "memcached's text protocol (FOPNP squares.py).",
    "zoo-memcached",
)
