"""Fuzz targets: the frame decoder, the engine's ``receive()`` and the compat ``unpack``.

Each target takes raw bytes and checks what must hold for any input (no exception escapes
that the function does not document, every answer the engine writes is a well-formed OCPP-J
reply of the negotiated version, pending-call tables stay consistent). Run by ``fuzz.py``
(atheris, coverage-guided) and replayed on the saved corpus by ``tests/test_abuse_fuzz.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from ocppfast import versions, wire
from ocppfast.charge_point import ChargePoint

VERSIONS = (versions.OCPP16, versions.OCPP201, versions.OCPP21)
REPLY_TYPES = {versions.OCPP16: {3, 4}, versions.OCPP201: {3, 4}, versions.OCPP21: {3, 4, 5}}
ERROR_CODES = {
    versions.OCPP16: {
        "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
        "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
        "TypeConstraintViolation", "GenericError",
    },
    versions.OCPP201: {
        "FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported",
        "NotImplemented", "NotSupported", "OccurrenceConstraintViolation",
        "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError", "SecurityError",
        "TypeConstraintViolation",
    },
}  # fmt: skip
ERROR_CODES[versions.OCPP21] = ERROR_CODES[versions.OCPP201]


def fuzz_decode_frame(data: bytes) -> None:
    """``wire.decode_frame``: a frame or a FrameError saying how to answer, nothing else."""
    subprotocol = VERSIONS[data[0] % 3] if data else versions.OCPP16
    body = data[1:]
    try:
        frame = wire.decode_frame(body, subprotocol)
    except wire.FrameError as exc:
        assert exc.error.code, exc
        if exc.reply:
            reply = msgspec.json.decode(wire.encode_error(exc, subprotocol))
            check_reply(reply, subprotocol)
        return
    assert type(frame) in (wire.Call, wire.CallResult, wire.CallError, wire.CallResultError,
                           wire.Send)  # fmt: skip


class _Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed: Any = None

    def send(self, msg_type: int, data: bytes) -> None:
        self.sent.append(data)

    def send_close(self, code: int = 1000, reason: bytes = b"") -> None:
        self.closed = (code, reason)

    def disconnect(self, graceful: bool = True) -> None:
        pass


_loop: asyncio.AbstractEventLoop | None = None
_engines: dict[str, tuple[ChargePoint, _Sink]] = {}


def _engine(subprotocol: str) -> tuple[ChargePoint, _Sink]:
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    pair = _engines.get(subprotocol)
    if pair is None:
        sink = _Sink()
        cp = ChargePoint(_loop, subprotocol, versions.actions(subprotocol), max_bad_messages=0)
        cp.attach(sink)
        cp.on("Heartbeat", lambda req: {"currentTime": "2026-01-01T00:00:00Z"})
        cp.on("DataTransfer", lambda req: {"status": "Accepted"})
        cp.on("StatusNotification", lambda req: {})
        pair = _engines[subprotocol] = (cp, sink)
    return pair


def fuzz_receive(data: bytes) -> None:
    """``Engine.receive``: never raises; every answer is a reply frame of the version with a
    spec error code; incoming answers to unknown ids leave no trace."""
    subprotocol = VERSIONS[data[0] % 3] if data else versions.OCPP16
    cp, sink = _engine(subprotocol)
    sink.sent.clear()
    cp.receive(data[1:])
    assert cp.pending_count == 0 and cp.queued_count == 0
    assert len(sink.sent) <= 1
    for raw in sink.sent:
        check_reply(msgspec.json.decode(raw), subprotocol)


def check_reply(reply: Any, subprotocol: str) -> None:
    assert type(reply) is list and reply and reply[0] in REPLY_TYPES[subprotocol], reply
    assert type(reply[1]) is str and len(reply[1]) <= 36 or reply[1] == "-1", reply
    if reply[0] == 3:
        assert len(reply) == 3 and type(reply[2]) is dict, reply
    else:
        assert len(reply) == 5, reply
        assert reply[2] in ERROR_CODES[subprotocol], reply
        assert type(reply[3]) is str and len(reply[3]) <= 255, reply
        assert type(reply[4]) is dict, reply
        assert "Traceback" not in reply[3]


def _compat_unpack() -> Any:
    try:
        from ocppfast.compat import exceptions
        from ocppfast.compat.messages import unpack
    except ImportError:  # the compat layer is optional here
        return None
    return unpack, exceptions.OCPPError


_COMPAT = _compat_unpack()


def fuzz_compat_unpack(data: bytes) -> None:
    """``ocppfast.compat.messages.unpack``: a message or one of its documented OCPPErrors."""
    if _COMPAT is None:
        return
    unpack, ocpp_error = _COMPAT
    try:
        unpack(data)
    except ocpp_error:
        pass


TARGETS = {
    "decode_frame": fuzz_decode_frame,
    "receive": fuzz_receive,
    "compat_unpack": fuzz_compat_unpack,
}

SEEDS = [
    b'\x00[2,"1","Heartbeat",{}]',
    b'\x01[2,"1","Heartbeat",{}]',
    b'\x02[6,"1","NotifyPeriodicEventStream",{"id":1,"pending":0,"basetime":"2026-01-01T00:00:00Z","data":[{"t":0,"v":"1"}]}]',
    b'\x00[2,"1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]',
    b'\x01[2,"1","DataTransfer",{"vendorId":"v","data":[1,{"a":null}]}]',
    b'\x00[3,"1",{}]',
    b'\x02[5,"1","FormatViolation","",{}]',
    b'\x01[4,"1","GenericError","x",{}]',
    b"\x00[]",
    b"\x01{",
]  # fmt: skip
