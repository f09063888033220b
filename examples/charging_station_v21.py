"""An OCPP 2.1 charging station: boots, then streams two readings to the central system in SEND
frames (``cp.send``: no answer, so no waiting), and closes the stream and the connection.

    python examples/central_system_v21.py            # in another terminal first
    python examples/charging_station_v21.py --url ws://127.0.0.1:9000
"""

from __future__ import annotations

import argparse
import asyncio

import ocppfast
from ocppfast import v21


async def main(url: str, identity: str) -> None:
    cp = await ocppfast.connect(url, identity, versions=["ocpp2.1"])
    boot = await cp.call(
        v21.BootNotificationRequest(
            charging_station=v21.ChargingStationType(vendor_name="Example", model="EX-21"),
            reason=v21.BootReasonEnumType.power_up,
        )
    )
    print(f"BootNotification: {boot.status}")
    stream = v21.ConstantStreamDataType(
        id=1, variable_monitoring_id=7, params=v21.PeriodicEventStreamParamsType(interval=1)
    )
    opened = await cp.call(v21.OpenPeriodicEventStreamRequest(constant_stream_data=stream))
    print(f"OpenPeriodicEventStream: {opened.status}")
    readings = ["230.1", "229.8"]
    for n, value in enumerate(readings):
        cp.send(
            "NotifyPeriodicEventStream",
            v21.NotifyPeriodicEventStreamRequest(
                id=1,
                pending=len(readings) - n - 1,
                basetime=ocppfast.now(),
                data=[v21.StreamDataElementType(t=0.0, v=value)],
            ),
        )
    print(f"sent {len(readings)} readings without waiting for an answer")
    await cp.call(v21.ClosePeriodicEventStreamRequest(id=1))
    await cp.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="ws://127.0.0.1:9000")
    parser.add_argument("--identity", default="CP-21")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.identity))
