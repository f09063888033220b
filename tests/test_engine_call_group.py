"""Fan-out without a Future per call (CONTRACT section 3): ``Engine.call_into`` with the slots of
one ``CallGroup``; every way a call can end lands in its slot, and a group whose caller went away
sends nothing more. Real event loop, engines fed by hand (both builds: run plain and with
OCPPFAST_NO_EXTENSIONS=1); the loopback fan-out is in tests/test_server.py."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from ocppfast import errors, versions
from ocppfast.charge_point import ChargePoint
from ocppfast.engine import CallGroup

from .conftest import CollectingTransport

V16 = versions.OCPP16


def station(loop: Any) -> tuple[ChargePoint, CollectingTransport]:
    cp = ChargePoint(loop, V16, versions.actions(V16), call_timeout=30)
    transport = CollectingTransport()
    cp.attach(transport)
    return cp, transport


async def test_empty_group_is_done_at_once() -> None:
    group = CallGroup(asyncio.get_running_loop(), 0)
    assert await group.future == []


async def test_every_outcome_lands_in_its_slot() -> None:
    loop = asyncio.get_running_loop()
    a, ta = station(loop)
    b, tb = station(loop)
    c, tc = station(loop)
    d, td = station(loop)
    group = CallGroup(loop, 5)
    for i, cp in enumerate((a, b, c, d)):
        cp.call_into(group.slot(i), "DataTransfer", {"vendorId": "V"}, 0.15 if cp is c else None)
    group.slot(4).set_exception(errors.NotConnectedError("'E' is not connected"))
    uid = [msgspec.json.decode(t.sent[0])[1] for t in (ta, tb, tc, td)]
    a.receive(b'[3,"' + uid[0].encode() + b'",{"status":"Accepted"}]')
    b.receive(b'[4,"' + uid[1].encode() + b'","NotSupported","no",{}]')
    d.connection_lost()
    assert not group.future.done()  # c is still waiting for its answer
    results = await asyncio.wait_for(group.future, 5)  # c times out (the sweeper, 0.1 s)
    assert results[0].status == "Accepted"
    assert type(results[1]) is errors.NotSupportedError
    assert type(results[2]) is errors.CallTimeoutError
    assert type(results[3]) is errors.ConnectionClosedError
    assert type(results[4]) is errors.NotConnectedError
    # a late answer after the end changes nothing
    a.receive(b'[3,"' + uid[0].encode() + b'",{"status":"Rejected"}]')
    assert results[0].status == "Accepted"


async def test_cancelled_fan_out_sends_no_queued_call() -> None:
    loop = asyncio.get_running_loop()
    cp, transport = station(loop)
    first = cp.start_call("DataTransfer", {"vendorId": "V"}, None)  # holds the one slot
    group = CallGroup(loop, 1)
    cp.call_into(group.slot(0), "DataTransfer", {"vendorId": "W"}, None)
    assert len(transport.sent) == 1 and cp.queued_count == 1
    group.future.cancel()
    uid = msgspec.json.decode(transport.sent[0])[1]
    cp.receive(b'[3,"' + uid.encode() + b'",{"status":"Accepted"}]')
    assert (await first).status == "Accepted"
    assert len(transport.sent) == 1  # the queued call of the cancelled fan-out was not sent
    with pytest.raises(asyncio.CancelledError):
        await group.future
