"""ocppfast central system (compiled, or pure with ``OCPPFAST_NO_EXTENSIONS=1`` in the env).

The minimal handler set as server-wide ``@cs.on`` handlers, written as a user would with the fast
helper for the current time, ``ocppfast.now()`` (RFC 3339, changes once a millisecond); fan-out
is ``cs.call_many``. With ``BENCH_PER_CALL_TIME=1`` (the ``ocppfast-stamped`` server kind) every
answer carries a new timestamp instead (``datetime.now(UTC).isoformat()``, microseconds), so the
formatting and the reply's date-time check run on every call: the honest worst case. With
``BENCH_CACHED_REPLY=1`` (``ocppfast-cached``; in ``make load-full`` up to 1,000 chargers) the
Boot and Heartbeat answers are built once, with a time that never changes: the base the ``now()``
per call of ``ocppfast`` is compared with (``python -m benchmarks.load.ab --servers
echo-c,ocppfast,ocppfast-cached``, and the load report's answer-path goal).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import ocppfast
from ocppfast.v16 import (
    BootNotificationResponse,
    HeartbeatResponse,
    MessageTrigger,
    MeterValuesResponse,
    RegistrationStatus,
    StatusNotificationResponse,
    TriggerMessageRequest,
)

from .. import frames
from .launcher import launch, use_aiofastnet


def _per_call_time() -> str:
    # What the mobilityhouse launcher does: a new RFC 3339 time on every call.
    return datetime.now(UTC).isoformat()


PER_CALL_TIME = os.environ.get("BENCH_PER_CALL_TIME", "") not in ("", "0")
CACHED_REPLY = os.environ.get("BENCH_CACHED_REPLY", "") not in ("", "0")
_now = _per_call_time if PER_CALL_TIME else ocppfast.now


class OcppfastServer:
    def __init__(self) -> None:
        stamps = ", datetime per call" if PER_CALL_TIME else ""
        stamps += ", answers built once" if CACHED_REPLY else ""
        self.impl = f"ocppfast {ocppfast.__version__} ({ocppfast.implementation}{stamps})"
        cs = ocppfast.CentralSystem(
            versions=[frames.SUBPROTOCOL],
            read_buffer_size=1024,
            ping_interval=0,
            use_aiofastnet=use_aiofastnet(),
        )

        if CACHED_REPLY:
            boot_answer = BootNotificationResponse(
                status=RegistrationStatus.accepted, current_time=_now(), interval=300
            )
            heartbeat_answer = HeartbeatResponse(current_time=_now())

            @cs.on("BootNotification")
            def boot(cp: Any, req: Any) -> BootNotificationResponse:
                return boot_answer

            @cs.on("Heartbeat")
            def heartbeat(cp: Any, req: Any) -> HeartbeatResponse:
                return heartbeat_answer

        else:

            @cs.on("BootNotification")
            def boot(cp: Any, req: Any) -> BootNotificationResponse:
                return BootNotificationResponse(
                    status=RegistrationStatus.accepted, current_time=_now(), interval=300
                )

            @cs.on("Heartbeat")
            def heartbeat(cp: Any, req: Any) -> HeartbeatResponse:
                return HeartbeatResponse(current_time=_now())

        @cs.on("StatusNotification")
        def status(cp: Any, req: Any) -> StatusNotificationResponse:
            return StatusNotificationResponse()

        @cs.on("MeterValues")
        def meter_values(cp: Any, req: Any) -> MeterValuesResponse:
            return MeterValuesResponse()

        self.cs = cs

    async def start(self, host: str, port: int) -> int:
        await self.cs.start(host, port, backlog=4096)
        return int(self.cs.port)

    def connected(self) -> int:
        return len(self.cs.charge_points)

    async def fanout(self, timeout: float) -> tuple[int, int, int]:
        results = await self.cs.call_many(
            frames.TRIGGER_ACTION,
            TriggerMessageRequest(requested_message=MessageTrigger.heartbeat),
            identities=None,
            timeout=timeout,
        )
        ok = sum(1 for r in results.values() if not isinstance(r, BaseException))
        return len(results), ok, len(results) - ok

    async def close(self) -> None:
        await self.cs.close()


if __name__ == "__main__":
    launch(OcppfastServer)
