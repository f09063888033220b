"""Shared start-up of a server process: parse ``--host/--port``, start, announce, serve commands."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..control import run_child, send_line, serve_commands


class CentralSystemUnderTest(Protocol):
    impl: str

    async def start(self, host: str, port: int) -> int: ...
    def connected(self) -> int: ...
    async def fanout(self, timeout: float) -> tuple[int, int, int]:
        """Call every connected charger at once; (sent, answered, failed) once all are done."""
        ...

    async def close(self) -> None: ...


# picows 2.3.1 runs its connections on aiofastnet's transports when that package is installed (a
# picows dependency); ocppfast's CentralSystem defaults to uvloop's own transports instead (less
# memory per connection). The harness sets this variable ("uvloop", the default, or "aiofastnet")
# so the echo server, the ocppfast server and the generator all use the same one.
TRANSPORT_ENV = "LOAD_PICOWS_TRANSPORT"


def use_aiofastnet() -> bool:
    return os.environ.get(TRANSPORT_ENV, "uvloop") == "aiofastnet"


def launch(make: Callable[[], CentralSystemUnderTest]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    async def main() -> None:
        server = make()
        port = await server.start(args.host, args.port)
        # Start-up garbage is not the chargers' memory: collect it before the baseline RSS.
        gc.collect()
        send_line({"ready": True, "port": port, "pid": os.getpid(), "impl": server.impl})

        async def count(cmd: dict[str, Any]) -> dict[str, Any]:
            return {"connected": server.connected()}

        async def fanout(cmd: dict[str, Any]) -> dict[str, Any]:
            t0 = time.perf_counter()
            sent, answered, failed = await server.fanout(float(cmd.get("timeout", 30.0)))
            return {
                "sent": sent,
                "answered": answered,
                "failed": failed,
                "elapsed": time.perf_counter() - t0,
            }

        handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "count": count,
            "fanout": fanout,
        }
        try:
            await serve_commands(handlers)
        finally:
            await asyncio.wait_for(server.close(), 10)

    run_child(main)
