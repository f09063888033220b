"""An OCPP 1.6 central system: accepts any station and answers with typed 1.6 responses.

    python examples/central_system_v16.py            # listens on ws://127.0.0.1:9000/<identity>
    python examples/charging_station_v16.py          # in another terminal

``--port 0`` picks a free port, ``--once`` stops when the first station disconnects and
``--duration S`` after S seconds (the test suite runs it so).
"""

from __future__ import annotations

import argparse
import asyncio

import ocppfast
from ocppfast import v16

cs = ocppfast.CentralSystem(versions=["ocpp1.6"])


@cs.on("BootNotification")  # handlers of a central system get (station, request)
def boot(
    cp: ocppfast.ChargePoint, req: v16.BootNotificationRequest
) -> v16.BootNotificationResponse:
    print(f"{cp.identity}: boot, {req.charge_point_vendor} {req.charge_point_model}")
    return v16.BootNotificationResponse(
        status=v16.RegistrationStatus.accepted, current_time=ocppfast.now(), interval=300
    )


@cs.on("StatusNotification")
def status(
    cp: ocppfast.ChargePoint, req: v16.StatusNotificationRequest
) -> v16.StatusNotificationResponse:
    print(f"{cp.identity}: connector {req.connector_id} {req.status}")
    return v16.StatusNotificationResponse()


@cs.on("Heartbeat")
def heartbeat(cp: ocppfast.ChargePoint, req: v16.HeartbeatRequest) -> v16.HeartbeatResponse:
    return v16.HeartbeatResponse(current_time=ocppfast.now())


async def main(host: str, port: int, once: bool = False, duration: float = 0) -> None:
    stop = asyncio.Event()
    if once:
        cs.on_disconnect = lambda cp: stop.set()
    async with cs:  # closes every connection on the way out
        await cs.start(host, port)
        print(f"listening on ws://{host}:{cs.port}/<identity>", flush=True)
        try:
            await asyncio.wait_for(stop.wait(), duration or None)
        except TimeoutError:
            pass
    print("central system stopped")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--once", action="store_true", help="stop when a station disconnects")
    parser.add_argument("--duration", type=float, default=0, help="stop after S seconds")
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port, args.once, args.duration))
