from collections.abc import Callable, Iterable, Iterator
from typing import Any

READ_SIZE: int

def dispatch(
    events: list[tuple[int, int]],
    selectables: dict[int, Any],
    inline: type | None,
    handle: Callable[[Any, int, int], object],
    disconnect: Callable[[Any, Any, bool], object],
    done: Any,
    lost: Any,
    read_failed: Callable[[BaseException], object],
    poll_failed: Callable[[BaseException], object],
    /,
) -> None: ...

class Writer:
    def __init__(
        self,
        conn: Any,
        fd: int,
        counter: Any,
        slow: Callable[[bytes], None],
        tally: Any = None,
        record: Callable[[bytes], object] | None = None,
    ) -> None: ...
    def __call__(self, data: bytes, /) -> None: ...

def relay(method: Callable[..., object] | None, watched: bool, /, *classes: type) -> None: ...
def step(method: Callable[..., object], /, *classes: type) -> None: ...

class EchoStep:
    received: int
    grow_at: int
    write: Callable[[bytes], object] | None
    def __init__(self) -> None: ...
    def echo(self, data: bytes, /) -> bool: ...

class Activity:
    activity: int
    command_sweeps: int | None

class Counts:
    bytes_in: int
    bytes_out: int
    record_in: Callable[[bytes], None] | None
    record_out: Callable[[bytes], None] | None

class Sequence:
    last: int
    live: bool

class Ring:
    def __init__(self, iterable: Iterable[tuple[Any, ...]], maxlen: int) -> None: ...
    @property
    def maxlen(self) -> int: ...
    def append(self, entry: tuple[Any, ...], /) -> None: ...
    def popleft(self) -> tuple[Any, ...]: ...
    def clear(self) -> None: ...
    def trim(self, over: int, base: int, /) -> tuple[int, int]: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> tuple[Any, ...]: ...
    def __setitem__(self, index: int, entry: tuple[Any, ...], /) -> None: ...
    def __iter__(self) -> Iterator[tuple[Any, ...]]: ...
    def __reversed__(self) -> Iterator[tuple[Any, ...]]: ...

class Pair:
    fold_at: int
    left: int
    pending: int
    gone: int
    values: int
    def __init__(
        self,
        obs: Any,
        items: Any,
        cap: int,
        turn: list[Any],
        slot: int,
        now: Callable[[], float],
        me: Any,
        live: Callable[..., None],
        fold: Callable[[], None],
        left: int,
        values: int = 2,
    ) -> None: ...
    def __call__(
        self, session: str | None, size: int, first: Any, second: Any, *third: Any
    ) -> None: ...

class Chunks:
    def __init__(
        self, obs: Any, record: Callable[..., object], sid: str | None, limit: int
    ) -> None: ...
    def __call__(self, data: bytes, /) -> None: ...

class LineSide:
    def __init__(
        self,
        obs: Any,
        record: Callable[..., object],
        sid: str | None,
        transcriber: Any,
        client: bool,
        hide: Callable[..., Any],
    ) -> None: ...
    def __call__(self, data: bytes, /) -> None: ...

def has_auth(data: bytes | bytearray, /) -> bool: ...
def resp_whole(data: bytes | bytearray, /) -> str | None: ...

class LancelotState:
    _asked: dict[bytes, bytes]
    _buffer: bytes
    closing: bool
    answered: int
    observe: Callable[..., object] | None
    observed_as: str | None

class QuickAnswer:
    session: LancelotState
    observatory: Any
    done: Callable[[Any], object]
    transport: Any
    write: Callable[[bytes], object] | None
    def __init__(
        self, session: LancelotState, observatory: Any, done: Callable[[Any], object]
    ) -> None: ...
    def ask(self, data: bytes, /) -> bool: ...

class WholeBlocks:
    limit: int
    blocks: int
    series: int
    clean: bool
    grow_at: int
    done: Callable[[Any], object]
    transport: Any
    write: Callable[[bytes], object] | None
    def __init__(self, limit: int, done: Callable[[Any], object]) -> None: ...
    def echo(self, data: bytes | bytearray, /) -> bool: ...

def publishes(
    buf: bytes | bytearray,
    pos: int,
    out: list[list[bytes]],
    max_bulk: int,
    names: tuple[bytes, bytes],
    /,
) -> int: ...
def publish_run(
    cmds: list[list[bytes]],
    i: int,
    channels: dict[bytes, dict[Any, list[bytes]]],
    dirty: dict[Any, list[bytes]],
    client: Any,
    out: list[bytes],
    patterns: tuple[Any, Any] | None,
    record: Callable[[str | None, int, bytes, bytes, int], object] | None,
    session: str | None,
    /,
) -> int: ...
