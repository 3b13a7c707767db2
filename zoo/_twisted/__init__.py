"""Every use of Twisted's private API in zoo, in one place.

zoo reaches under Twisted's public interfaces where measurements said it pays, or
where Twisted keeps a step zoo must change in a private method, and only here: no
module outside this package names a private Twisted module or attribute, and every
private name used in here is listed below (C{tests/test_twisted_private.py} checks
both). Each module says why it exists; this list is what an upgrade of Twisted must
re-check.

Where a protocol changes one of Twisted's private steps, the adapter class here
overrides the private method to call a public one (C{_ebStatus} calls
C{status_failed}), whose default is Twisted's own; the protocol module overrides or
calls only the public name. Private state is read and set through properties.

Every name below was checked in the source of Twisted 26.4 (the oldest release
C{setup.cfg} allows) and 26.10 (the newest on PyPI when written);
C{scripts/test-matrix} runs the unit tests against both the pin's floor and
whatever is newest each time.

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
      C{_connectWrapped} and the factory's C{_creatorCallable};
    - lets a push producer go at C{loseConnection}, as TCP does: reads
      C{TLSMemoryBIOProtocol._producer}, its membrane's C{_producer} and
      C{_producerPaused}, and tells a pull producer by
      C{twisted.internet._producer_helpers._PullToPush};
    - C{watch_tcp_close}: after C{startTLS} on a TCP connection, finds Twisted's TLS
      protocol in the connection's C{protocol} and wraps that instance's
      C{connectionLost}, to learn whether the TCP connection under it ended with a
      FIN or a reset (zoo-ftp's PROT P uploads).

L{poll} -- a lean epoll loop, opt-in (the twistd plugins switch it on), and a mend:
    - replaces C{EPollReactor.doPoll}/C{doIteration} on one instance; uses
      C{_poller}, C{_selectables}, C{_doReadOrWrite}, C{_disconnectSelectable};
    - reads an accepted connection in place of C{tcp.Connection.doRead} and
      C{_dataReceived} (while C{tcp.Server} has those two unchanged), with its
      C{socket}, C{bufferSize} and C{protocol};
    - C{mend}, on every reactor zoo starts on (tuned or not): wraps the
      C{_doReadOrWrite} of an instance of C{posixbase._PollLikeMixin} (epoll and
      poll), reading its C{_POLL_IN} and C{_reads}, so that an error or hang-up
      without "readable" on a reading descriptor is read, not taken for a clean end.

L{connection} -- accepted TCP connections with their read and write state in C
fields:
    - C{Server} subclasses C{tcp.Server} with a C base whose member descriptors are
      named C{connected}, C{disconnecting}, C{TLS}, C{_tempDataBuffer},
      C{dataBuffer}, C{offset}, C{_writeDisconnected}, C{bufferSize} and
      C{protocol} (Twisted's class defaults of these copied in at construction);
    - C{adopt} sets a listening C{tcp.Port}'s C{transport}, the class its
      C{doRead} builds connections with;
    - C{addresses} reads an accepted C{tcp.Server}'s C{client} (the peer's tuple)
      and C{server} (its port), and keeps the port's local address on the port as
      C{zoo_local} when it is bound to one address.

L{speedups} -- C twins of the poll loop's dispatch and the fast writer (and of
two zoo steps: the policy wrappers' read and the observatory's two-value record)
(C{_speedups.c}, optional, limited API): read the same names as L{poll} and
L{fastwrite} (C{bufferSize}, C{protocol}, C{doRead}; C{connected}, C{disconnecting},
C{TLS}, C{_tempDataBuffer}, C{offset}, C{dataBuffer}, C{_writeDisconnected}), by
name from C, or as C fields on L{connection}'s C{Server}, and call
C{recv()}/C{send()} on the socket's descriptor.

L{sendfile} -- C{os.sendfile} for FTP downloads (Twisted has none):
    - C{tcp.Connection.socket} and C{startWriting()}.

L{accept} -- passive FTP data connections without C{listenTCP}'s log lines:
    - C{tcp._getrealname}, and C{tcp.Server}'s constructor with no port.

L{lines} -- STARTTLS drops the plaintext a client pipelined (C{zoo.tls.start_tls}),
and POP3 an over-long line:
    - empties C{LineOnlyReceiver._buffer}, which has no C{clearLineBuffer()}.

L{mail} -- zoo-smtp and zoo-pop3 change steps twisted.mail keeps private:
    - C{ESMTP}: C{_helo}, C{_from}, C{_to} (the session and envelope, reset after
      STARTTLS and used by zoo's synchronous C{do_MAIL}/C{do_RCPT}) as C{helo},
      C{mail_from}, C{rcpt_to}; C{_cbFromValidate}, C{_ebFromValidate},
      C{_cbToValidate}, C{_ebToValidate} called as C{accept_sender} ...
      C{refuse_recipient}; C{_cbAuthenticated} overridden for C{login_succeeded}
      (the login's mailbox name kept, the delivery avatar dropped);
    - C{POP3}: C{_unblock} (C{run_held_commands}: the read gate follows the command
      queue), C{_longOperation} (C{long_operation}: the gate takes its producer slot
      back), C{_sendMessageContent} (C{send_message_content}: the message file is
      closed however the transfer ends) with C{_getMessageFile}, C{_highest}
      (C{message_file}, C{highest_retrieved}), C{_ebMailbox} (C{mailbox_refused}: the
      last failed login closes) and C{_userIs} (C{forget_user}, at STLS).
    (zoo-imap uses none: it has its own IMAP core, L{zoo.mail.imapcore}.)

L{ssh} -- the SSH transport, user-auth service and SFTP server:
    - C{twisted.conch.ssh._kex.getSupportedKeyExchanges} (C{supported_key_exchanges}:
      the algorithms zoo filters its offer from);
    - C{SSHServerTransport._keySetup} (C{key_setup}: the MAC keys prepared once);
    - C{SSHUserAuthServer._ebBadAuth} (C{auth_failed}: a wrong password answered
      without conch's log lines, counted per connection);
    - C{FileTransferServer._sendStatus}, C{_cbStatus} (C{send_status},
      C{status_ok}) and C{_ebStatus} (C{status_failed}: more errnos mapped, without
      a traceback).

L{web} -- the XML-RPC/JSON-RPC channel, and zoo-http's (which builds on it):
    - C{HTTPChannel._networkProducer} (C{network_producer}: the read gate takes the
      place of what the channel pauses around a request in hand);
    - C{HTTPChannel._handlingRequest} (C{handling_request}: a client that half-closes
      still gets its answer);
    - C{twisted.web.http._escape} (C{escape}: the access line quoted exactly as
      twisted.web does);
    - C{HTTPChannel._command}, read for presence only (C{reading_request_line}:
      zoo-http answers an over-long request line with 414, a header line with 431).
"""
