"""zoo's C speedups: whether they are built, and whether they are used.

C{zoo._twisted._speedups} is C twins of the loops every small request goes
through: the lean poll loop's dispatch (L{zoo._twisted.poll}) with the policy
wrappers' read step (L{zoo.policies}), the fast writer (L{zoo._twisted.fastwrite}),
the observatory's two-value recorder (L{zoo.events.Recorder}) with the ring its
stores keep their entries in (a bounded deque in Python), a byte stream's
transcript chunks (L{zoo.sessions.plain_chunks}) and a line protocol's (the
recording closure of L{zoo.sessions.Session} with the short ways of
L{zoo.transcript.Lines}), the connection state the writer
checks (L{zoo._twisted.connection}), the usual read of three protocols, run by
the dispatch itself (echo's L{zoo.echo.EchoStep}, zoo-blocks' whole blocks in echo
mode, L{zoo.blocks.WholeBlocks}, and Lancelot's one whole question,
L{zoo.lancelot.QuickAnswer}), and zoo-pubsub's
publisher pipeline: the PUBLISH scan (L{zoo.pubsub.codec.scan_publishes}) and the
run of PUBLISHes with its fan-out (L{zoo.pubsub.core.publish_run}), with the two
checks a followed RESP transcript makes of each read (L{zoo.transcript.has_auth}
and L{zoo.transcript.Resp._whole}). The Python
versions are the reference: the unit tests run both, and zoo falls back to Python
where the extension was not built (an install without a C compiler; it is optional
in C{setup.py}).

Set C{ZOO_NO_SPEEDUPS=1} in the environment to run the Python versions although the
extension is there (to compare them, or to rule the C code out of a problem).
"""

from __future__ import annotations

import os
from types import ModuleType

ENV_OPT_OUT = "ZOO_NO_SPEEDUPS"


def _load() -> tuple[ModuleType | None, ModuleType | None]:
    try:
        from zoo._twisted import _speedups as built
    except ImportError:
        return None, None
    return built, (None if os.environ.get(ENV_OPT_OUT) else built)


#: The compiled module, or C{None} where it was not built.
built: ModuleType | None
#: The module in use: L{built}, unless C{ZOO_NO_SPEEDUPS} is set.
speedups: ModuleType | None
built, speedups = _load()


def describe() -> str:
    """One line for logs and C{--version}-like reports."""
    if speedups is not None:
        return "C speedups on"
    if built is not None:
        return f"C speedups built but off ({ENV_OPT_OUT} is set)"
    return "C speedups not built (pure Python)"
