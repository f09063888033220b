"""An OCPP 2.0.1 charging station: boots, reports EVSE 1, sends a heartbeat, then closes.

    python examples/central_system_v201.py           # in another terminal first
    python examples/charging_station_v201.py --url ws://127.0.0.1:9000

It offers only ``ocpp2.0.1``; the identity goes at the end of the URL.
"""

from __future__ import annotations

import argparse
import asyncio

import ocppfast
from ocppfast import v201


def change_availability(req: v201.ChangeAvailabilityRequest) -> v201.ChangeAvailabilityResponse:
    print(f"central system asks: {req.operational_status}")
    return v201.ChangeAvailabilityResponse(status=v201.ChangeAvailabilityStatusEnumType.accepted)


async def main(url: str, identity: str) -> None:
    cp = await ocppfast.connect(
        url,  # the station connects to url + "/" + identity
        identity,
        versions=["ocpp2.0.1"],
        handlers={"ChangeAvailability": change_availability},  # station handlers get (request)
    )
    boot = await cp.call(
        v201.BootNotificationRequest(
            charging_station=v201.ChargingStationType(vendor_name="Example", model="EX-201"),
            reason=v201.BootReasonEnumType.power_up,
        )
    )
    print(f"BootNotification: {boot.status}, heartbeat every {boot.interval} s")
    await cp.call(
        v201.StatusNotificationRequest(
            timestamp=ocppfast.now(),
            connector_status=v201.ConnectorStatusEnumType.available,
            evse_id=1,
            connector_id=1,
        )
    )
    heartbeat = await cp.call(v201.HeartbeatRequest())
    print(f"Heartbeat: the central system's clock says {heartbeat.current_time}")
    await cp.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="ws://127.0.0.1:9000")
    parser.add_argument("--identity", default="CP-201")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.identity))
