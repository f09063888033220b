"""C-level picows echo: the floor under every Python server (``_echo_c.pyx``, built on first use).

The same protocol and fan-out as ``echo.py`` (whose server class it reuses); only the listener
differs: a ``cdef class`` subclassing picows' ``WSListener``, so picows reaches ``on_ws_frame``
through its vtable and the reply is written from a C buffer.
"""

from __future__ import annotations

import sys
from typing import Any

from .. import cbuild, frames
from .echo import EchoServer
from .launcher import launch


def build() -> Any:
    """Import ``_echo_c``, compiling it in place first when it is missing or older than its .pyx."""
    return cbuild.build("benchmarks.load.servers._echo_c")


class CEchoServer(EchoServer):
    impl = "picows echo (C listener)"

    def __init__(self) -> None:
        super().__init__()
        self._module = build()
        self._boot = frames.ECHO_RESULTS[ord("B")]
        self._heartbeat = frames.ECHO_RESULTS[ord("H")]

    def connection(self) -> Any:
        return self._module.CEchoConnection(
            self, self._boot, self._heartbeat, frames.ECHO_EMPTY_RESULT
        )


if __name__ == "__main__":
    if "--build-only" in sys.argv:
        build()
    else:
        launch(CEchoServer)
