"""An OCPP 1.6 charging station: boots, reports connector 1, sends a heartbeat, then closes.

    python examples/central_system_v16.py            # in another terminal first
    python examples/charging_station_v16.py --url ws://127.0.0.1:9000

It offers only ``ocpp1.6``; the identity goes at the end of the URL.
"""

from __future__ import annotations

import argparse
import asyncio

import ocppfast
from ocppfast import v16


def change_availability(req: v16.ChangeAvailabilityRequest) -> v16.ChangeAvailabilityResponse:
    print(f"central system asks: connector {req.connector_id} {req.type}")
    return v16.ChangeAvailabilityResponse(status=v16.AvailabilityStatus.accepted)


async def main(url: str, identity: str) -> None:
    cp = await ocppfast.connect(
        url,  # the station connects to url + "/" + identity
        identity,
        versions=["ocpp1.6"],
        handlers={"ChangeAvailability": change_availability},  # station handlers get (request)
    )
    boot = await cp.call(
        v16.BootNotificationRequest(charge_point_vendor="Example", charge_point_model="EX-16")
    )
    print(f"BootNotification: {boot.status}, heartbeat every {boot.interval} s")
    await cp.call(
        v16.StatusNotificationRequest(
            connector_id=1,
            error_code=v16.ChargePointErrorCode.no_error,
            status=v16.ChargePointStatus.available,
        )
    )
    heartbeat = await cp.call(v16.HeartbeatRequest())
    print(f"Heartbeat: the central system's clock says {heartbeat.current_time}")
    await cp.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="ws://127.0.0.1:9000")
    parser.add_argument("--identity", default="CP-16")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.identity))
