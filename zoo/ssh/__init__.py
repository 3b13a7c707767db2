"""zoo's SSH server: twisted.conch with modern algorithms, exec, a shell and sandboxed SFTP.

The parts, one idea per module:

- L{zoo.ssh.keys}: host keys (generated once, kept 0600 in the state directory),
  fingerprints, users, passwords and C{authorized_keys} files.
- L{zoo.ssh.transport}: the algorithm policy, strict key exchange (Terrapin), and the
  per-connection limits, on conch's server transport and factory.
- L{zoo.ssh.session}: the logged-in user: exec, shell and the SFTP subsystem.
- L{zoo.ssh.sftp}: the SFTP server confined to the user's root folder.

L{make_factory} puts them together; C{zoo.tap.ssh} is its command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.cred.portal import Portal

from zoo.ssh.keys import Users
from zoo.ssh.session import Features, Realm
from zoo.ssh.transport import ZooSSHFactory

PORT = 2222


def make_factory(
    host_keys: dict[str, Any],
    users: Users,
    root: Path,
    features: Features | None = None,
    *,
    reactor: Any = None,
    **limits: Any,
) -> ZooSSHFactory:
    """An SSH server factory for C{users}, each confined (for SFTP) to C{root/NAME}.

    @param limits: C{max_per_address}, C{max_auth_attempts}, C{max_login_attempts},
        C{login_timeout}, C{clock}, C{throttle} (see L{ZooSSHFactory}).
    """
    portal = Portal(Realm(root, features or Features(), reactor), users.checkers())
    return ZooSSHFactory(host_keys, portal, **limits)


__all__ = ["PORT", "Features", "Users", "make_factory"]
