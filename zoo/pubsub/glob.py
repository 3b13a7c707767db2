"""Redis's glob patterns (PSUBSCRIBE, PUBSUB CHANNELS), exactly as C{util.c:stringmatchlen}.

C{*} matches any run of bytes, C{?} any one byte, C{[abc]}, C{[^abc]} and C{[a-z]} one byte
in (or not in) a set, and C{\\x} the byte C{x}. Patterns and names are bytes: a channel
name need not be text.

The quirks are Redis's, kept on purpose so a pattern means the same here as there: an
unclosed C{[} takes the rest of the pattern as its set, a range may be written backwards
(C{[z-a]}), a lone trailing C{\\} is a literal backslash, the empty name
matches only the empty pattern (not even C{*}), and byte ranges compare as
I{signed} C chars (so C{[a-\\xff]} is empty for C{b"b"}).

L{compile_glob} turns a pattern into a matcher once; common patterns (no C{[}) become a
regular expression, the rest run L{stringmatch}, a direct port of the C function.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: Redis gives up (no match) past this recursion depth; the port keeps the same limit.
MAX_NESTING = 1000


def _signed(b: int) -> int:
    return b - 256 if b > 127 else b


def stringmatch(pattern: bytes, string: bytes) -> bool:
    """Whether C{string} matches the Redis glob C{pattern} (case-sensitive)."""
    skip = [False]
    return _match(pattern, 0, string, 0, skip, 0)


def _match(p: bytes, pi: int, s: bytes, si: int, skip: list[bool], nesting: int) -> bool:
    if nesting > MAX_NESTING:
        return False
    plen, slen = len(p), len(s)
    while pi < plen and si < slen:
        c = p[pi]
        if c == 0x2A:  # '*'
            while pi + 1 < plen and p[pi + 1] == 0x2A:
                pi += 1
            if pi + 1 == plen:
                return True
            while si < slen:
                if _match(p, pi + 1, s, si, skip, nesting + 1):
                    return True
                if skip[0]:
                    return False
                si += 1
            skip[0] = True
            return False
        if c == 0x3F:  # '?'
            si += 1
        elif c == 0x5B:  # '['
            pi += 1
            negate = pi < plen and p[pi] == 0x5E
            if negate:
                pi += 1
            hit = False
            ch = s[si]
            while True:
                if pi < plen and p[pi] == 0x5C and plen - pi >= 2:
                    pi += 1
                    if p[pi] == ch:
                        hit = True
                elif pi < plen and p[pi] == 0x5D:
                    break
                elif pi >= plen:
                    pi -= 1
                    break
                elif plen - pi >= 3 and p[pi + 1] == 0x2D:
                    lo, hi = _signed(p[pi]), _signed(p[pi + 2])
                    if lo > hi:
                        lo, hi = hi, lo
                    pi += 2
                    if lo <= _signed(ch) <= hi:
                        hit = True
                elif p[pi] == ch:
                    hit = True
                pi += 1
            if negate:
                hit = not hit
            if not hit:
                return False
            si += 1
        else:
            if c == 0x5C and plen - pi >= 2:  # '\\' escapes the next byte
                pi += 1
                c = p[pi]
            if c != s[si]:
                return False
            si += 1
        pi += 1
        if si == slen:
            while pi < plen and p[pi] == 0x2A:
                pi += 1
            break
    return pi == plen and si == slen


def _as_regex(pattern: bytes) -> re.Pattern[bytes] | None:
    """A regex equivalent to C{pattern}, or C{None} if it needs the port (C{[}, deep C{*})."""
    if b"[" in pattern or pattern.count(b"*") > MAX_NESTING // 2:
        return None
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i : i + 1]
        if c == b"*":
            out.append(b".*")
        elif c == b"?":
            out.append(b".")
        elif c == b"\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i : i + 1]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile(b"".join(out), re.DOTALL)


def compile_glob(pattern: bytes) -> Callable[[bytes], bool]:
    """A function telling whether a name matches C{pattern}."""
    rx = _as_regex(pattern)
    if rx is not None:
        full = rx.fullmatch
        # Redis never enters its loop for an empty name: only an empty pattern matches it.
        return lambda name: full(name) is not None if name else not pattern
    return lambda name: stringmatch(pattern, name)
