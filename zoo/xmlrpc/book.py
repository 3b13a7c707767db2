"""The methods the books' XML-RPC and JSON-RPC servers offer, with the books' bugs fixed.

From *Foundations of Python Network Programming* (2nd ed., ch. 18, port 7001):
C{addtogether}, C{quadratic}, C{remote_repr}; its JSON-RPC server's C{lengths}.
From *Introducing Python* (ch. 17): C{double}, and C{now} for exercise 17.3
(a time service over XML-RPC; the book leaves the method name to us).
"""

from __future__ import annotations

import datetime
import math
import operator
from collections.abc import Callable
from functools import reduce

from zoo.xmlrpc.methods import Methods

#: The port of the book's server.
PORT = 7001


def double(num):
    """Return twice `num` (Introducing Python, example 17-11)."""
    return num * 2


def addtogether(*things):
    """Add together everything in the list `things`."""
    return reduce(operator.add, things)


def quadratic(a, b, c):
    """Determine `x` values satisfying: `a` * x*x + `b` * x + c == 0"""
    # The book writes (-b - root) / 2.0*a, which is ((-b - root) / 2.0) * a: for
    # quadratic(2, -4, 0) it prints [0.0, 8.0]. The roots are 0 and 2.
    b24ac = math.sqrt(b * b - 4.0 * a * c)
    return sorted({(-b - b24ac) / (2.0 * a), (-b + b24ac) / (2.0 * a)})


def remote_repr(arg):
    """Return the `repr()` rendering of the supplied `arg`."""
    # As in the book, the argument itself comes back (the docstring is the book's);
    # the client prints its repr.
    return arg


def lengths(*args):
    """Return [len(arg), arg] for each argument, or [None, arg] when it has no length."""
    results = []
    for arg in args:
        try:
            results.append((len(arg), arg))
        except TypeError:
            results.append((None, arg))
    return results


def time_method(clock: Callable[[], float]) -> Callable[[], str]:
    """The C{now} method, reading the time from C{clock} (seconds since the epoch)."""

    def now():
        """Return the current date and time (UTC) as an ISO 8601 string."""
        return datetime.datetime.fromtimestamp(clock(), datetime.UTC).isoformat()

    return now


def book_methods(clock: Callable[[], float] | None = None, into: Methods | None = None) -> Methods:
    """A L{Methods} table with every book method; C{clock} defaults to the reactor's."""
    if clock is None:
        from twisted.internet import reactor

        clock = reactor.seconds  # type: ignore[attr-defined,misc]
    methods = Methods() if into is None else into
    for func in (double, addtogether, quadratic, remote_repr, lengths):
        methods.register(func)
    methods.register(time_method(clock), name="now")
    return methods


__all__: list[str] = [
    "PORT",
    "book_methods",
    "double",
    "addtogether",
    "quadratic",
    "remote_repr",
    "lengths",
]
