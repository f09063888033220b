"""An OCPP 2.0.1 central system (CSMS): accepts any station, answers with typed 2.0.1 responses.

    python examples/central_system_v201.py           # listens on ws://127.0.0.1:9000/<identity>
    python examples/charging_station_v201.py         # in another terminal

``--port 0`` picks a free port, ``--once`` stops when the first station disconnects and
``--duration S`` after S seconds (the test suite runs it so).
"""

from __future__ import annotations

import argparse
import asyncio

import ocppfast
from ocppfast import v201

cs = ocppfast.CentralSystem(versions=["ocpp2.0.1"])


@cs.on("BootNotification")  # handlers of a central system get (station, request)
def boot(
    cp: ocppfast.ChargePoint, req: v201.BootNotificationRequest
) -> v201.BootNotificationResponse:
    station = req.charging_station
    print(f"{cp.identity}: boot ({req.reason}), {station.vendor_name} {station.model}")
    return v201.BootNotificationResponse(
        status=v201.RegistrationStatusEnumType.accepted, current_time=ocppfast.now(), interval=300
    )


@cs.on("StatusNotification")
def status(
    cp: ocppfast.ChargePoint, req: v201.StatusNotificationRequest
) -> v201.StatusNotificationResponse:
    print(f"{cp.identity}: EVSE {req.evse_id} connector {req.connector_id} {req.connector_status}")
    return v201.StatusNotificationResponse()


@cs.on("Heartbeat")
def heartbeat(cp: ocppfast.ChargePoint, req: v201.HeartbeatRequest) -> v201.HeartbeatResponse:
    return v201.HeartbeatResponse(current_time=ocppfast.now())


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
