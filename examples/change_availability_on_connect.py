"""A central system that sets every station Operative as soon as it connects, in its own version.

``on_connect`` runs when a station's WebSocket is open; an async hook may call the station at
once. The request type depends on the version the station negotiated (``cp.subprotocol``): the
1.6 ChangeAvailability has ``connectorId`` and ``type``, 2.0.1's has ``operationalStatus``.

The example runs by itself: a central system on a free loopback port and three stations, one
speaking 1.6, one 2.0.1, and one 2.0.1 station without a ChangeAvailability handler (it answers
the CALLERROR NotSupported, which the hook reports).

    python examples/change_availability_on_connect.py
"""

from __future__ import annotations

import asyncio

import ocppfast
from ocppfast import v16, v201

results: asyncio.Queue[str] = asyncio.Queue()


async def make_operative(cp: ocppfast.ChargePoint) -> None:
    request: v16.ChangeAvailabilityRequest | v201.ChangeAvailabilityRequest
    if cp.subprotocol == "ocpp1.6":
        request = v16.ChangeAvailabilityRequest(connector_id=0, type=v16.AvailabilityType.operative)
    else:
        request = v201.ChangeAvailabilityRequest(
            operational_status=v201.OperationalStatusEnumType.operative
        )
    try:
        response = await cp.call(request)  # typed: the 1.6 or the 2.0.1 response
        outcome = f"ChangeAvailability {response.status}"
    except ocppfast.OCPPError as exc:  # the station answered with a CALLERROR
        outcome = f"ChangeAvailability refused with {exc.code}"
    await results.put(f"{cp.identity} ({cp.subprotocol}): {outcome}")


cs = ocppfast.CentralSystem(versions=["ocpp2.0.1", "ocpp1.6"], on_connect=make_operative)


def accept_16(req: v16.ChangeAvailabilityRequest) -> v16.ChangeAvailabilityResponse:
    return v16.ChangeAvailabilityResponse(status=v16.AvailabilityStatus.accepted)


def accept_201(req: v201.ChangeAvailabilityRequest) -> v201.ChangeAvailabilityResponse:
    return v201.ChangeAvailabilityResponse(status=v201.ChangeAvailabilityStatusEnumType.accepted)


async def main() -> None:
    async with cs:
        await cs.start("127.0.0.1", 0)
        url = f"ws://127.0.0.1:{cs.port}"
        stations = [
            await ocppfast.connect(
                url, "CP-16", versions=["ocpp1.6"], handlers={"ChangeAvailability": accept_16}
            ),
            await ocppfast.connect(
                url, "CP-201", versions=["ocpp2.0.1"], handlers={"ChangeAvailability": accept_201}
            ),
            await ocppfast.connect(url, "CP-201-NO-HANDLER", versions=["ocpp2.0.1"]),
        ]
        for line in sorted([await results.get() for _ in stations]):
            print(line)
        for station in stations:
            await station.close()


if __name__ == "__main__":
    asyncio.run(main())
