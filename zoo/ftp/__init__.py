"""zoo-ftp: a safe FTP and FTPS server on C{twisted.protocols.ftp}.

- L{zoo.ftp.jail}: each user's view: the shared L{zoo.jail}, permissions, listing formats.
- L{zoo.ftp.uploads}: uploads via hidden temporaries, published only when complete.
- L{zoo.ftp.data}: data connections (passive, active, TLS) and file streaming.
- L{zoo.ftp.server}: the control connection (L{FTPSession}) and L{FTPFactory}.
- L{zoo.ftp.transfers}: the data-connection commands (PASV, PORT, LIST, RETR, STOR ...).
"""

from zoo.ftp.jail import Jail
from zoo.ftp.server import FTPConfig, FTPFactory, FTPSession, User

PORT = 2121

__all__ = ["PORT", "FTPConfig", "FTPFactory", "FTPSession", "Jail", "User"]
