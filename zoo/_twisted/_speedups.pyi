from collections.abc import Callable
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
        self, conn: Any, fd: int, counter: Any, slow: Callable[[bytes], None], tally: Any = None
    ) -> None: ...
    def __call__(self, data: bytes, /) -> None: ...

def relay(method: Callable[..., object] | None, watched: bool, /, *classes: type) -> None: ...
