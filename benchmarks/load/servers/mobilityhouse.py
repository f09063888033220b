"""mobilityhouse ``ocpp`` 2.1.0 central system on ``websockets``, in its documented pattern.

``websockets.serve(on_connect, ..., subprotocols=["ocpp1.6"])``, one ``ChargePoint`` subclass per
connection with ``@on(Action.x)`` handlers (``benchmarks/compat/app.py``), ``await cp.start()``;
fan-out is ``asyncio.gather`` of ``cp.call(call.TriggerMessage(...))``. Library defaults otherwise
(schema validation on, websockets' keepalive ping every 20 s); runs on uvloop like every process
of the harness. With ``BENCH_COMPAT=1`` in the environment the very same code runs on
``ocppfast.compat`` (``install()`` before the first ``import ocpp``): the ``compat-websockets``
server of the harness.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

if os.environ.get("BENCH_COMPAT") == "1":
    import ocppfast.compat

    ocppfast.compat.install()

import websockets
from ocpp.v16 import call
from ocpp.v16.enums import MessageTrigger

from ...compat.app import BenchChargePoint
from .. import frames
from .launcher import launch

logging.getLogger("ocpp").setLevel(logging.WARNING)


class MobilityhouseServer:
    impl = (
        "mobilityhouse code on ocppfast.compat"
        if os.environ.get("BENCH_COMPAT") == "1"
        else "ocpp 2.1.0"
    ) + f" on websockets {websockets.__version__}"

    def __init__(self) -> None:
        self.charge_points: dict[str, BenchChargePoint] = {}
        self.server: Any = None

    async def on_connect(self, websocket: Any) -> None:
        if websocket.subprotocol is None:
            await websocket.close()
            return
        identity = websocket.request.path.strip("/").rsplit("/", 1)[-1]
        cp = BenchChargePoint(identity, websocket)
        self.charge_points[identity] = cp
        try:
            await cp.start()
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            if self.charge_points.get(identity) is cp:
                del self.charge_points[identity]

    async def start(self, host: str, port: int) -> int:
        self.server = await websockets.serve(
            self.on_connect, host, port, subprotocols=[frames.SUBPROTOCOL], backlog=4096
        )
        return int(next(iter(self.server.sockets)).getsockname()[1])

    def connected(self) -> int:
        return len(self.charge_points)

    async def fanout(self, timeout: float) -> tuple[int, int, int]:
        cps = list(self.charge_points.values())
        request = call.TriggerMessage(requested_message=MessageTrigger.heartbeat)

        async def one(cp: BenchChargePoint) -> Any:
            return await asyncio.wait_for(cp.call(request, suppress=False), timeout)

        results = await asyncio.gather(*(one(cp) for cp in cps), return_exceptions=True)
        ok = sum(1 for r in results if not isinstance(r, BaseException))
        return len(cps), ok, len(cps) - ok

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


if __name__ == "__main__":
    launch(MobilityhouseServer)
