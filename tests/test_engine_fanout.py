"""Fan-out calls by index (``Engine.call_group``, what ``CentralSystem.call_many`` uses): no slot
object per call, the index rides in the pending (or queued) entry. Every way a call can end lands
at its index: an answer, a CallError, an invalid answer, a bad frame, a timeout sent or queued, a
closed connection, a call on a closed connection; a cancelled group sends nothing more. Engines
fed by hand on a real event loop (both builds: plain and OCPPFAST_NO_EXTENSIONS=1); over loopback
sockets in the last test.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

import ocppfast
from ocppfast import errors, versions
from ocppfast.charge_point import ChargePoint
from ocppfast.engine import CallGroup
from tests.test_server import make_cs, url

from .conftest import CollectingTransport

V16 = versions.OCPP16
V21 = versions.OCPP21


def station(loop: Any, subprotocol: str = V16, **options: Any) -> tuple[ChargePoint, Any]:
    options.setdefault("call_timeout", 30)
    cp = ChargePoint(loop, subprotocol, versions.actions(subprotocol), **options)
    transport = CollectingTransport()
    cp.attach(transport)
    return cp, transport


def last_id(transport: CollectingTransport, k: int = -1) -> bytes:
    return str(msgspec.json.decode(transport.sent[k])[1]).encode()


async def test_every_outcome_lands_at_its_index() -> None:
    loop = asyncio.get_running_loop()
    cps = [station(loop) for _ in range(6)]
    closed, _ = station(loop)
    closed.connection_lost()
    group = CallGroup(loop, 7)
    for i, (cp, _) in enumerate(cps):
        cp.call_group(group, i, "DataTransfer", {"vendorId": "V"}, 0.15 if i == 3 else None)
    closed.call_group(group, 6, "DataTransfer", {"vendorId": "V"}, None)
    (a, ta), (b, tb), (c, tc), _, (e, te), (f, _) = cps
    a.receive(b'[3,"' + last_id(ta) + b'",{"status":"Accepted"}]')
    b.receive(b'[4,"' + last_id(tb) + b'","NotSupported","no",{}]')
    c.receive(b'[3,"' + last_id(tc) + b'",{"status":"Maybe"}]')  # not a DataTransferStatus
    e.receive(b'[3,"' + last_id(te) + b'"]')  # a broken CALLRESULT: fails its call now
    f.connection_lost()
    assert not group.future.done()  # index 3 waits for its answer
    results = await asyncio.wait_for(group.future, 5)  # 3 times out (the sweeper, 0.1 s)
    assert results[0].status == "Accepted"
    assert type(results[1]) is errors.NotSupportedError
    assert isinstance(results[2], errors.OCPPError)  # the answer failed its schema
    assert type(results[3]) is errors.CallTimeoutError
    assert isinstance(results[4], errors.OCPPError)
    assert type(results[5]) is errors.ConnectionClosedError
    assert type(results[6]) is errors.ConnectionClosedError
    # A late answer after the end changes nothing.
    a.receive(b'[3,"' + last_id(ta) + b'",{"status":"Rejected"}]')
    assert results[0].status == "Accepted"


async def test_queued_group_calls_keep_their_index() -> None:
    """Two calls of one group to the same station: the second waits for the first (one
    outstanding CALL, OCPP-J 4.1.1) and reports at its own index; a third, queued with a
    timeout, times out where it waits; one queued when the connection closes fails."""
    loop = asyncio.get_running_loop()
    cp, transport = station(loop)
    group = CallGroup(loop, 3)
    cp.call_group(group, 0, "DataTransfer", {"vendorId": "A"}, None)
    cp.call_group(group, 1, "DataTransfer", {"vendorId": "B"}, 0.15)
    cp.call_group(group, 2, "DataTransfer", {"vendorId": "C"}, None)
    assert len(transport.sent) == 1 and cp.queued_count == 2
    await asyncio.sleep(0.4)  # index 1 times out in the queue (its deadline runs from the call)
    cp.receive(b'[3,"' + last_id(transport) + b'",{"status":"Accepted"}]')
    assert len(transport.sent) == 2  # index 2 went out next
    assert msgspec.json.decode(transport.sent[1])[3] == {"vendorId": "C"}
    cp.receive(b'[3,"' + last_id(transport) + b'",{"status":"Rejected"}]')
    results = await asyncio.wait_for(group.future, 5)
    assert results[0].status == "Accepted"
    assert type(results[1]) is errors.CallTimeoutError
    assert results[2].status == "Rejected"

    group = CallGroup(loop, 2)
    cp.call_group(group, 0, "DataTransfer", {"vendorId": "A"}, None)
    cp.call_group(group, 1, "DataTransfer", {"vendorId": "B"}, None)
    cp.connection_lost()
    results = await asyncio.wait_for(group.future, 5)
    assert [type(r) for r in results] == [errors.ConnectionClosedError] * 2


async def test_cancelled_group_sends_no_queued_call() -> None:
    loop = asyncio.get_running_loop()
    cp, transport = station(loop)
    first = cp.start_call("DataTransfer", {"vendorId": "V"}, None)  # holds the one slot
    group = CallGroup(loop, 1)
    cp.call_group(group, 0, "DataTransfer", {"vendorId": "W"}, None)
    assert len(transport.sent) == 1 and cp.queued_count == 1
    group.future.cancel()
    cp.receive(b'[3,"' + last_id(transport) + b'",{"status":"Accepted"}]')
    assert (await first).status == "Accepted"
    assert len(transport.sent) == 1  # the queued call of the cancelled fan-out was not sent
    with pytest.raises(asyncio.CancelledError):
        await group.future


async def test_invalid_callresult_in_21_answers_callresulterror_and_fails_the_index() -> None:
    loop = asyncio.get_running_loop()
    cp, transport = station(loop, V21)
    group = CallGroup(loop, 1)
    cp.call_group(group, 0, "Heartbeat", {}, None)
    cp.receive(b'[3,"' + last_id(transport) + b'",{"currentTime":"not a time"}]')
    assert msgspec.json.decode(transport.sent[-1])[0] == 5  # CALLRESULTERROR
    (result,) = await asyncio.wait_for(group.future, 5)
    assert isinstance(result, errors.OCPPError)


async def test_call_many_over_loopback_with_a_duplicate_and_a_missing_identity() -> None:
    cs = await make_cs()
    stations = []
    try:
        for name in ("F1", "F2"):
            cp = await ocppfast.connect(url(cs), name, versions=[V16])
            cp.on("DataTransfer", lambda req: {"status": "Accepted", "data": req.vendor_id})
            stations.append(cp)
        results = await cs.call_many(
            "DataTransfer", {"vendorId": "X"}, identities=["F1", "NOPE", "F2", "F1"], timeout=10
        )
        assert results["F1"].status == "Accepted" and results["F2"].status == "Accepted"
        assert type(results["NOPE"]) is errors.NotConnectedError
    finally:
        for cp in stations:
            await cp.close()
        await cs.close()


async def test_fan_out_frames_equal_the_encoder_s() -> None:
    """The CALL frame of a fan-out (its tail made once per payload) is byte for byte what the
    wire encoder makes, for one payload sent to several stations and then for another one."""
    from ocppfast import wire

    loop = asyncio.get_running_loop()
    cps = [station(loop) for _ in range(3)]
    for payload in ({"vendorId": "A", "data": 'é"\\'}, {"vendorId": "B"}):
        raw = cps[0][0].encode_request("DataTransfer", payload)
        group = CallGroup(loop, len(cps))
        for i, (cp, _) in enumerate(cps):
            cp.call_group(group, i, "DataTransfer", raw, None)
        for cp, transport in cps:
            uid = last_id(transport).decode()
            assert transport.sent[-1] == wire.encode_call(uid, "DataTransfer", raw)
            cp.receive(b'[3,"' + uid.encode() + b'",{"status":"Accepted"}]')
        assert [r.status for r in await group.future] == ["Accepted"] * 3
