"""An OCPP 2.1 central system: what 2.0.1 does, plus periodic event streams, whose data arrives
in SEND frames (``[6, id, action, payload]``, new in 2.1 and never answered).

    python examples/central_system_v21.py            # listens on ws://127.0.0.1:9000/<identity>
    python examples/charging_station_v21.py          # in another terminal

``--port 0`` picks a free port, ``--once`` stops when the first station disconnects and
``--duration S`` after S seconds (the test suite runs it so).
"""

from __future__ import annotations

import argparse
import asyncio

import ocppfast
from ocppfast import v21

cs = ocppfast.CentralSystem(versions=["ocpp2.1"])


@cs.on("BootNotification")
def boot(
    cp: ocppfast.ChargePoint, req: v21.BootNotificationRequest
) -> v21.BootNotificationResponse:
    print(f"{cp.identity}: boot ({req.reason}), {req.charging_station.model}")
    return v21.BootNotificationResponse(
        status=v21.RegistrationStatusEnumType.accepted, current_time=ocppfast.now(), interval=300
    )


@cs.on("OpenPeriodicEventStream")
def open_stream(
    cp: ocppfast.ChargePoint, req: v21.OpenPeriodicEventStreamRequest
) -> v21.OpenPeriodicEventStreamResponse:
    print(f"{cp.identity}: opens stream {req.constant_stream_data.id}")
    return v21.OpenPeriodicEventStreamResponse(status=v21.GenericStatusEnumType.accepted)


@cs.on("NotifyPeriodicEventStream")  # a SEND: the handler's return value is not sent anywhere
def stream_data(cp: ocppfast.ChargePoint, req: v21.NotifyPeriodicEventStreamRequest) -> None:
    values = [element.v for element in req.data]
    print(f"{cp.identity}: stream {req.id} data {values} ({req.pending} pending)")


@cs.on("ClosePeriodicEventStream")
def close_stream(
    cp: ocppfast.ChargePoint, req: v21.ClosePeriodicEventStreamRequest
) -> v21.ClosePeriodicEventStreamResponse:
    print(f"{cp.identity}: closes stream {req.id}")
    return v21.ClosePeriodicEventStreamResponse()


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
