"""The fast path's answers made from the id's JSON bytes (``_result_frame``; the id's str made
only when needed) equal the general path's on every way a handler can end: a result, an OCPP
error, an unexpected exception (InternalError), a dict that fails the response type, a typed
response that fails its schema, an async handler, an answer over 125 and over 65,535 bytes.
Same frames to an engine with ``fast_path`` on and one with it off; compared byte for byte, in
both builds (plain and OCPPFAST_NO_EXTENSIONS=1; pure, both take the general path).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ocppfast.charge_point import ChargePoint
from ocppfast.errors import SecurityError
from ocppfast.v16 import IdTagInfo, StopTransactionResponse

from .conftest import CollectingTransport, attached_station

NOW = "2026-11-26T00:00:00.123Z"


def _raise(exc: BaseException) -> Any:
    raise exc


async def _later(value: Any) -> Any:
    await asyncio.sleep(0)
    return value


HANDLERS: dict[str, Any] = {
    "Heartbeat": lambda req: {"currentTime": NOW},
    "Authorize": lambda req: _raise(SecurityError("no")),
    "MeterValues": lambda req: _raise(RuntimeError("boom")),
    "StartTransaction": lambda req: {"transactionId": "not an int", "idTagInfo": {}},
    # a typed answer that fails its schema: idTagInfo.status is not an AuthorizationStatus
    "StopTransaction": lambda req: StopTransactionResponse(id_tag_info=IdTagInfo(status="Bogus")),
    "StatusNotification": lambda req: _later({}),
    "DataTransfer": lambda req: {"status": "Accepted", "data": "x" * int(req.data or "0")},
}

CALLS = [
    b'"Heartbeat",{}',
    b'"Authorize",{"idTag":"T"}',
    b'"MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"' + NOW.encode()
    + b'","sampledValue":[{"value":"1"}]}]}',
    b'"StartTransaction",{"connectorId":1,"idTag":"T","meterStart":0,"timestamp":"' + NOW.encode()
    + b'"}',
    b'"StopTransaction",{"meterStop":1,"timestamp":"' + NOW.encode() + b'","transactionId":1}',
    b'"StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}',
    b'"DataTransfer",{"vendorId":"V","data":"1"}',
    b'"DataTransfer",{"vendorId":"V","data":"200"}',
    b'"DataTransfer",{"vendorId":"V","data":"70000"}',
]  # fmt: skip
IDS = [b"1", b"abc-123", b"~" * 36, b"x/y<>&'"]


def make(fast: bool, own: bool) -> tuple[ChargePoint, CollectingTransport, Any]:
    loop = asyncio.new_event_loop()
    shared: dict[str, Any] = {}
    cp, transport = attached_station(loop, shared, fast=fast)
    for name, fn in HANDLERS.items():
        if own:
            cp.set_handler(name, fn)
        else:
            shared[name] = lambda cp, req, fn=fn: fn(req)
    return cp, transport, loop


@pytest.mark.parametrize("own", [False, True], ids=["shared", "own"])
def test_fast_and_general_answers_are_the_same_bytes(own: bool) -> None:
    fast, fast_out, fast_loop = make(True, own)
    slow, slow_out, slow_loop = make(False, own)
    try:
        compared = 0
        for uid in IDS:
            for body in CALLS:
                data = b'[2,"' + uid + b'",' + body + b"]"
                fast.receive(data)
                slow.receive(data)
                for loop in (fast_loop, slow_loop):  # async handlers answer
                    loop.run_until_complete(asyncio.sleep(0.001))
                assert fast_out.sent == slow_out.sent, data
                assert len(fast_out.sent) == 1, data  # each CALL got exactly one answer
                assert fast_out.sent[0].startswith(b'[3,"' + uid) or fast_out.sent[0].startswith(
                    b'[4,"' + uid
                )
                compared += 1
                fast_out.sent.clear()
                slow_out.sent.clear()
        assert compared == len(IDS) * len(CALLS)
    finally:
        for cp, loop in ((fast, fast_loop), (slow, slow_loop)):
            cp.connection_lost()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
