"""Every use of Twisted's private API in zoo, in one place.

zoo reaches under Twisted's public interfaces where measurements said it pays, and
only here: no module outside this package names a private Twisted module or
attribute (C{tests/test_twisted_private.py} checks the whole tree). Each module
below says why it exists; this list is what an upgrade of Twisted must re-check.

Tested with Twisted 26.4 (the oldest release C{setup.cfg} allows) and 26.10 (the
newest on PyPI when written); C{scripts/test-matrix} runs the unit tests against
both the pin's floor and whatever is newest each time.

L{fastwrite} -- C{send()} at once when Twisted's buffer is empty:
    - C{tcp.Connection._tempDataBuffer}, C{dataBuffer}, C{offset},
      C{_writeDisconnected}, C{TLS}, C{socket}: read to decide that nothing is
      queued and TLS is off (checked on every write, so STARTTLS is safe).

L{tlslayer} -- Twisted's TLS layer with half-close and batched records:
    - overrides C{BufferingTLSTransport}'s C{makeConnection},
      C{_flushReceiveBIO}, C{_flushSendBIO}, C{_shutdownTLS},
      C{_unbufferPendingWrites}, C{_bufferedWrite}, C{_write},
      C{_checkHandshakeStatus}, C{loseWriteConnection}, C{readConnectionLost};
    - reads C{_tlsConnection}, C{_appSendBuffer}, C{_aggregator},
      C{_lostTLSConnection}, C{_tlsShutdownFinished}, C{_aborted},
      C{_connectWrapped} and the factory's C{_creatorCallable}.

L{poll} -- a lean epoll loop, opt-in (the twistd plugins switch it on):
    - replaces C{EPollReactor.doPoll}/C{doIteration} on one instance; uses
      C{_poller}, C{_selectables}, C{_doReadOrWrite}, C{_disconnectSelectable}.

L{sendfile} -- C{os.sendfile} for FTP downloads (Twisted has none):
    - C{tcp.Connection.socket} and C{startWriting()}.

L{accept} -- passive FTP data connections without C{listenTCP}'s log lines:
    - C{tcp._getrealname}, and C{tcp.Server}'s constructor with no port.
"""
