"""The compact-CALL fast path (``Engine._fast_call``) answers exactly as the general path does.

Two engines of the same version, one with ``fast_path`` on and one with it off, get the same
frames (valid, invalid, and the saved fuzz corpus) one by one; the bytes each writes back, the
close it starts and the boot state must be equal. The fast path is the same Python source in both
builds, so the comparison runs plain and with OCPPFAST_NO_EXTENSIONS=1.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ocppfast
from ocppfast import versions
from ocppfast.charge_point import ChargePoint
from ocppfast.errors import SecurityError

from .conftest import CollectingTransport

CORPUS = Path(__file__).parent / "fuzz" / "corpus"
NOW = "2026-11-26T00:00:00Z"
BOOT16 = b'{"chargePointVendor":"V","chargePointModel":"M"}'
BOOT201 = b'{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}'

IDS = [
    b"1", b"abc-123", b"a" * 36, b"a" * 37, b"", b"x y", b"x/y<>&'", b"\\u0041", b'q\\"q',
    b"\xc3\xa9t\xc3\xa9", b"\x01", b"~" * 36, b"\x7f",
]  # fmt: skip
ACTIONS = [b"Heartbeat", b"BootNotification", b"heartbeat", b"Nope", b"Heart beat", b"", b"DataTransfer",
           b"StatusNotification", b"Authorize", b"Heartbeat2", b"Boot\\u004eotification"]  # fmt: skip
PAYLOADS = [
    b"{}", b'{"x":1}', b"[]", b"null", b'{"vendorId":"V"}', b'{"vendorId":"V","data":"d"}',
    b'{"vendorId":1}', b"{", b'{"a":1}}', b"{},{}", b'{} ', b' {}', b'{"idTag":"T"}',
    b'{"connectorId":1,"errorCode":"NoError","status":"Available"}',
    b'{"connectorId":2147483648,"errorCode":"NoError","status":"Available"}', b'{"vendorId":"\xff"}',
]  # fmt: skip


def handlers(cp: ChargePoint, own: bool, shared: dict[str, Any]) -> None:
    answers: dict[str, Any] = {
        "Heartbeat": lambda req: {"currentTime": NOW},
        "DataTransfer": lambda req: {"status": "Accepted", "data": 'é"\\'},
        "StatusNotification": lambda req: None,
        "BootNotification": lambda req: {"status": "Accepted", "currentTime": NOW, "interval": 9},
        "Authorize": lambda req: (_ for _ in ()).throw(SecurityError("no")),
    }
    for name, fn in answers.items():
        if name not in cp.actions:
            continue
        if own:
            cp.set_handler(name, fn)
        else:
            shared[name] = lambda cp, req, fn=fn: fn(req)


def make(subprotocol: str, fast: bool, own: bool, require_boot: bool) -> tuple[Any, Any]:
    loop = asyncio.new_event_loop()
    shared: dict[str, Any] = {}
    cp = ChargePoint(
        loop,
        subprotocol,
        versions.actions(subprotocol),
        shared_handlers=shared,
        require_boot=require_boot,
        max_bad_messages=0,
    )
    handlers(cp, own, shared)
    cp.fast_path = fast
    transport = CollectingTransport()
    cp.attach(transport)
    return cp, transport


def frames(subprotocol: str) -> Iterator[bytes]:
    boot = BOOT16 if subprotocol == versions.OCPP16 else BOOT201
    for uid, action, payload in itertools.product(IDS, ACTIONS, PAYLOADS):
        yield b'[2,"' + uid + b'","' + action + b'",' + payload + b"]"
        if action == b"BootNotification" and payload == b"{}":
            yield b'[2,"' + uid + b'","BootNotification",' + boot + b"]"
    yield from (
        b'[2,"1","Heartbeat",{}] ',
        b' [2,"1","Heartbeat",{}]',
        b'[2, "1","Heartbeat",{}]',
        b'[2,"1", "Heartbeat",{}]',
        b'[2,"1","Heartbeat", {}]',
        b'[2,"1","Heartbeat",{},5]',
        b'[2,"1","Heartbeat"]',
        b'[2,"1","Heartbeat",{}',
        b'[2,"1","Heartbeat",{}]]',
        b'[6,"1","Heartbeat",{}]',
        b'[3,"1",{}]',
        b'[2,"1","Heartbeat",{"a":[1,2,{"b":"c"}]}]',
        b'[2,"1","Heartbeat",{}\n]',
        b'[2,"","Heartbeat",{}]',
        b'[2,"1","","{}"]',
        b'[2,"1","Heartbeat",{}]\x00',
        b"",
        b"[",
        b'[2,"12345678901234567890123456789012345","Heartbeat",{}]',
    )
    for target in ("receive", "decode_frame"):
        for path in sorted((CORPUS / target).iterdir()):
            data = path.read_bytes()
            if data:
                yield data[1:]  # the first byte picks the version in the fuzz targets


@pytest.mark.parametrize("require_boot", [False, True], ids=["open", "require_boot"])
@pytest.mark.parametrize("own", [False, True], ids=["shared", "own"])
@pytest.mark.parametrize("subprotocol", [versions.OCPP16, versions.OCPP201, versions.OCPP21])
def test_fast_and_general_paths_write_the_same_bytes(
    subprotocol: str, own: bool, require_boot: bool
) -> None:
    fast, fast_out = make(subprotocol, True, own, require_boot)
    slow, slow_out = make(subprotocol, False, own, require_boot)
    try:
        compared = 0
        for data in frames(subprotocol):
            fast.receive(data)
            slow.receive(data)
            assert fast_out.sent == slow_out.sent, data
            assert fast.accepted == slow.accepted, data
            assert fast_out.closed == slow_out.closed, data
            compared += len(fast_out.sent)
            fast_out.sent.clear()
            slow_out.sent.clear()
        assert compared > 1000  # answers were written and compared, not just silence
    finally:
        fast.loop.close()
        slow.loop.close()


def test_fast_path_is_on_only_when_compiled() -> None:
    cp, _ = make(versions.OCPP16, ocppfast.implementation == "cython", False, False)
    try:
        fresh = ChargePoint(cp.loop, versions.OCPP16, versions.actions(versions.OCPP16))
        assert fresh.fast_path is (ocppfast.implementation == "cython")
    finally:
        cp.loop.close()
