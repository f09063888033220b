"""An answer whose fields hold the same objects as the last answer of its type that passed is
sent as that answer's bytes, without encoding it again, when every field of its type holds a
scalar (``_scalar_fields``; compiled only); a field changed in place, a nested Struct changed in
place, a value equal but not the same, or an invalid value, is encoded and checked as before.
Both builds.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import msgspec

from ocppfast import _engine, engine, versions
from ocppfast.charge_point import ChargePoint
from ocppfast.v16 import (
    AuthorizationStatus,
    AuthorizeResponse,
    BootNotificationResponse,
    HeartbeatResponse,
    IdTagInfo,
    RegistrationStatus,
    StatusNotificationResponse,
)
from ocppfast.v201 import GetVariablesResponse

from .conftest import CollectingTransport

HB = b'"Heartbeat",{}'
AUTH = b'"Authorize",{"idTag":"T1"}'


def station(handlers: dict[str, Any]) -> tuple[ChargePoint, CollectingTransport]:
    cp = ChargePoint(
        asyncio.get_running_loop(),
        versions.OCPP16,
        versions.actions(versions.OCPP16),
        max_unanswered_calls=0,
    )
    for name, fn in handlers.items():
        cp.on(name, fn)
    transport = CollectingTransport()
    cp.attach(transport)
    return cp, transport


def ask(cp: ChargePoint, transport: CollectingTransport, body: bytes, n: int = 1) -> Any:
    cp.receive(b'[2,"' + str(n).encode() + b'",' + body + b"]")
    return msgspec.json.decode(transport.sent.pop())


def test_which_types_reuse_their_bytes() -> None:
    fields = _engine._scalar_fields
    assert fields(HeartbeatResponse) == ("current_time",)
    assert fields(BootNotificationResponse) == ("status", "current_time", "interval")
    assert fields(AuthorizeResponse) is None  # a nested Struct can change in place
    assert fields(GetVariablesResponse) is None  # a list
    assert fields(StatusNotificationResponse) is None  # no fields: plan.constant already

    class Scalars(msgspec.Struct):
        a: int | None = None
        b: float = 0.0
        c: bool = False

    class Holder(msgspec.Struct):
        items: list[int] = []

    class Odd(msgspec.Struct):
        a: int = 0

        def __getattribute__(self, name: str) -> Any:  # reads its attributes its own way
            return object.__getattribute__(self, name)

    assert fields(Scalars) == ("a", "b", "c")
    assert fields(Holder) is None
    assert fields(Odd) is None
    assert fields(None) is None


async def test_a_field_changed_in_place_is_encoded_and_checked_again() -> None:
    stamp = "2001-01-01T00:00:00Z"
    answer = HeartbeatResponse(current_time=stamp)
    cp, transport = station({"Heartbeat": lambda req: answer})
    for n in range(3):  # the same object: the same bytes
        assert ask(cp, transport, HB, n) == [3, str(n), {"currentTime": stamp}]
    answer.current_time = "2001-01-01T00:00:07Z"  # the same Struct, a new value
    assert ask(cp, transport, HB)[2] == {"currentTime": "2001-01-01T00:00:07Z"}
    answer.current_time = "not a time"  # still checked: refused
    assert ask(cp, transport, HB)[:3] == [4, "1", "InternalError"]
    answer.current_time = stamp
    assert ask(cp, transport, HB)[2] == {"currentTime": stamp}
    # a new Struct holding the same str object: the bytes of the last one
    cp.on("Heartbeat", lambda req: HeartbeatResponse(current_time=stamp))
    assert ask(cp, transport, HB)[2] == {"currentTime": stamp}


async def test_equal_is_not_the_same() -> None:
    """Values equal to the last ones but other objects are encoded and checked: True == 1, yet
    True is no integer for the schema."""
    interval: list[Any] = [1]
    cp, transport = station(
        {
            "BootNotification": lambda req: BootNotificationResponse(
                status=RegistrationStatus.accepted,
                current_time="2001-01-01T00:00:00Z",
                interval=interval[0],
            )
        }
    )
    boot = b'"BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}'
    assert ask(cp, transport, boot)[2]["interval"] == 1
    interval[0] = True
    assert ask(cp, transport, boot)[:3] == [4, "1", "InternalError"]


async def test_a_nested_struct_changed_in_place_is_encoded_again() -> None:
    answer = AuthorizeResponse(id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))
    cp, transport = station({"Authorize": lambda req: answer})
    assert ask(cp, transport, AUTH)[2] == {"idTagInfo": {"status": "Accepted"}}
    answer.id_tag_info.status = AuthorizationStatus.blocked  # the outer fields are the same
    assert ask(cp, transport, AUTH)[2] == {"idTagInfo": {"status": "Blocked"}}
    answer.id_tag_info.status = "NoSuchStatus"  # type: ignore[assignment]
    assert ask(cp, transport, AUTH)[:3] == [4, "1", "InternalError"]


async def test_the_same_values_are_sent_as_the_kept_bytes() -> None:
    """White box: compiled, the cell of the type keeps the field values of its last bytes, and
    an answer holding the same objects is sent as those bytes (shown by swapping the bytes for
    others of the same meaning); pure Python does not reuse (the compare would cost more than
    msgspec's encoding there)."""
    stamp = "2001-01-01T00:00:02Z"
    answer = [HeartbeatResponse(current_time=stamp)]
    cp, transport = station({"Heartbeat": lambda req: answer[0]})
    assert ask(cp, transport, HB)[2] == {"currentTime": stamp}
    impl = importlib.import_module(engine.Engine.__module__)  # _engine_c, or _engine
    cell = impl._answer_cell(HeartbeatResponse)
    assert cell is not None and cell[0] == b'{"currentTime":"2001-01-01T00:00:02Z"}'
    if not engine.COMPILED:
        assert cell[2:] == [None, None, False]
        return
    assert cell[4] is True and cell[2][0] is stamp and len(cell[3]) == 1
    cell[0] = b'{ "currentTime" : "2001-01-01T00:00:02Z" }'  # same meaning, other bytes
    answer[0] = HeartbeatResponse(current_time=stamp)  # a new Struct, the same str object
    cp.receive(b'[2,"9",' + HB + b"]")
    assert transport.sent.pop() == b'[3,"9",{ "currentTime" : "2001-01-01T00:00:02Z" }]'
    answer[0].current_time = "2001-01-01T00:00:03Z"  # another value: encoded, kept
    cp.receive(b'[2,"10",' + HB + b"]")
    assert transport.sent.pop() == b'[3,"10",{"currentTime":"2001-01-01T00:00:03Z"}]'
    assert cell[2][0] == "2001-01-01T00:00:03Z" and cell[4] is True
