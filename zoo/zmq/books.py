"""What the books' ZeroMQ programs talk to: REP handlers and PUB/PUSH feeds.

- L{stop_saying}: the reply of I{Introducing Python}'s C{zmq_server.py}
  (example 17-5), for C{zmq_client.py}: C{b"Stop saying: message #1"}.
- L{time_reply}: exercise 17.2, a REP answering C{time} with the ISO date and time.
- L{Cats}: C{zmq_pub.py}'s cats in hats (example 17-9), two frames per message,
  for C{zmq_sub.py}.
- L{Poem}: exercise 17.5, the poem of exercise 12.4 one word at a time, as
  C{[b"vowels", word]} and C{[b"five", word]}, for the two consumers.
- L{Fountain}, L{upper}, L{lower}: FOPNP's C{queuecrazy.py}: a PUSH fountain of
  Python's built-in names and the two REP responders.

The feeds publish forever on a timer (the books' publishers send a few messages
and quit; a server keeps going so a subscriber can join at any time).
"""

from __future__ import annotations

import builtins
import datetime
import random
import string
from collections.abc import Callable
from typing import Any

from zoo.zmq.sockets import Publisher, Pusher

CATS = ["siamese", "persian", "maine coon", "norwegian forest"]
HATS = ["stovepipe", "bowler", "tam-o-shanter", "fedora"]

#: James McIntyre, "Ode on the Mammoth Cheese" (1884), the poem of exercise 12.4.
POEM = """\
We have seen thee, queen of cheese,
Lying quietly at your ease,
Gently fanned by evening breeze,
Thy fair form no flies dare seize.
All gaily dressed soon you'll go
To the great Provincial show,
To be admired by many a beau
In the city of Toronto.
Cows numerous as a swarm of bees,
Or as the leaves upon the trees,
It did require to make thee please,
And stand unrivalled, queen of cheese.
May you not receive a scar as
We have heard that Mr. Harris
Intends to send you off as far as
The great world's show at Paris.
Of the youth beware of these,
For some of them might rudely squeeze
And bite your cheek, then songs or glees
We could not sing, oh! queen of cheese.
We'rt thou suspended from balloon,
You'd cast a shade even at noon,
Folks would think it was the moon
About to fall and crush them soon.
"""


def stop_saying(parts: list[bytes]) -> bytes:
    """C{zmq_server.py}'s answer: C{"Stop saying: %s" % request}."""
    request = parts[0] if parts else b""
    return b"Stop saying: " + request


def time_reply(clock: Callable[[], float]) -> Callable[[list[bytes]], bytes]:
    """Exercise 17.2's handler: C{time} -> the UTC date and time, ISO 8601."""

    def answer(parts: list[bytes]) -> bytes:
        if parts != [b"time"]:
            return b"error: send 'time'"
        now = datetime.datetime.fromtimestamp(clock(), datetime.UTC)
        return now.isoformat().encode("ascii")

    return answer


def upper(parts: list[bytes]) -> bytes:
    """C{queuecrazy.py}'s first responder (C{str.upper}, on bytes in Python 3)."""
    return parts[0].upper() if parts else b""


def lower(parts: list[bytes]) -> bytes:
    """C{queuecrazy.py}'s second responder (C{str.lower})."""
    return parts[0].lower() if parts else b""


def poem_messages(text: str = POEM) -> list[list[bytes]]:
    """The poem's messages in order: each word stripped of punctuation at its ends,
    C{[b"vowels", word]} if it starts with a vowel, C{[b"five", word]} if it has five letters."""
    out = []
    for raw in text.split():
        word = raw.strip(string.punctuation)
        if not word:
            continue
        data = word.encode("utf-8")
        if word[0].lower() in "aeiou":
            out.append([b"vowels", data])
        if len(word) == 5:
            out.append([b"five", data])
    return out


class Cats:
    """Publish a random cat wearing a random hat each tick (C{zmq_pub.py}, forever)."""

    def __init__(self, publisher: Publisher, rng: random.Random | None = None) -> None:
        self.publisher = publisher
        self.rng = rng or random.Random()

    def __call__(self) -> None:
        cat = self.rng.choice(CATS).encode("utf-8")
        hat = self.rng.choice(HATS).encode("utf-8")
        self.publisher.publish([cat, hat])


class Poem:
    """Publish the poem's next word each tick, starting over at the end."""

    def __init__(self, publisher: Publisher, text: str = POEM) -> None:
        self.publisher = publisher
        self.messages = poem_messages(text)
        self.position = 0

    def __call__(self) -> None:
        self.publisher.publish(self.messages[self.position])
        self.position = (self.position + 1) % len(self.messages)


def builtin_words() -> list[str]:
    """C{queuecrazy.py}'s words: the lower-case names of Python's built-ins."""
    return sorted(w for w in dir(builtins) if w.islower())


class Fountain:
    """Push a random built-in name each tick to the next PULL peer (C{queuecrazy.py})."""

    def __init__(self, pusher: Pusher, rng: random.Random | None = None) -> None:
        self.pusher = pusher
        self.rng = rng or random.Random()
        self.words = [w.encode("ascii") for w in builtin_words()]

    def __call__(self) -> Any:
        if self.pusher.pipes:
            return self.pusher.push([self.rng.choice(self.words)])
        return None
