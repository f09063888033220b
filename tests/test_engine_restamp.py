"""An answer whose only change since the last checked one is the ``ocppfast.now()`` stamp is not
checked again (``_restamped`` in the engine); any other change is. The response decoder of the
version's actions is wrapped to count the checks; the clock is stepped by hand; both builds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from ocppfast import clock, versions
from ocppfast.charge_point import ChargePoint
from ocppfast.v16 import BootNotificationResponse, HeartbeatResponse, RegistrationStatus

from .conftest import CollectingTransport

V16 = versions.OCPP16


class CountingDecoder:
    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder
        self.calls = 0

    def decode(self, data: bytes) -> Any:
        self.calls += 1
        return self.decoder.decode(data)


def station(answers: dict[str, Any]) -> tuple[ChargePoint, CollectingTransport, dict[str, Any]]:
    actions = dict(versions.actions(V16))
    counters = {}
    for name in answers:
        counters[name] = CountingDecoder(actions[name].response_decoder)
        actions[name] = actions[name]._replace(response_decoder=counters[name])
    cp = ChargePoint(asyncio.get_running_loop(), V16, actions, max_unanswered_calls=0)
    for name, fn in answers.items():
        cp.on(name, fn)
    transport = CollectingTransport()
    cp.attach(transport)
    return cp, transport, counters


def ask(cp: ChargePoint, transport: CollectingTransport, body: bytes) -> Any:
    cp.receive(b'[2,"1",' + body + b"]")
    return msgspec.json.decode(transport.sent.pop())


async def test_a_new_now_stamp_is_not_checked_again_anything_else_is(ticks: list[float]) -> None:
    answer: list[Any] = [lambda: HeartbeatResponse(current_time="2001-01-01T00:00:00Z")]
    cp, transport, counters = station({"Heartbeat": lambda req: answer[0]()})
    checks = counters["Heartbeat"]
    hb = b'"Heartbeat",{}'
    assert ask(cp, transport, hb) == [3, "1", {"currentTime": "2001-01-01T00:00:00Z"}]
    assert checks.calls == 1

    answer[0] = lambda: HeartbeatResponse(current_time=clock.now())
    first = ask(cp, transport, hb)[2]["currentTime"]
    assert checks.calls == 2  # a new answer: checked
    for step in range(1, 4):
        ticks.append(ticks[0] + step * 0.0017)  # the next millisecond(s): a new stamp
        reply = ask(cp, transport, hb)
        assert reply == [3, "1", {"currentTime": clock.now()}] and clock.now() != first
        assert checks.calls == 2  # only the stamp changed: not checked again
    ticks.append(ticks[0] + 1.5)  # a new second: the stamp differs in more digits
    assert ask(cp, transport, hb)[2]["currentTime"] == clock.now()
    assert checks.calls == 2

    # A time that is not now()'s: checked; an invalid one is refused.
    answer[0] = lambda: HeartbeatResponse(current_time="2001-01-01T00:00:01Z")
    ask(cp, transport, hb)
    assert checks.calls == 3
    answer[0] = lambda: HeartbeatResponse(current_time="not a time")
    assert ask(cp, transport, hb)[:3] == [4, "1", "InternalError"]
    assert checks.calls == 4


async def test_other_fields_changing_with_the_stamp_are_checked(ticks: list[float]) -> None:
    interval = [300]
    cp, transport, counters = station(
        {
            "BootNotification": lambda req: BootNotificationResponse(
                status=RegistrationStatus.accepted, current_time=clock.now(), interval=interval[0]
            )
        }
    )
    checks = counters["BootNotification"]
    boot = b'"BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}'
    ask(cp, transport, boot)
    before = checks.calls
    ticks.append(ticks[0] + 0.002)
    ask(cp, transport, boot)
    assert checks.calls == before  # the stamp alone
    ticks.append(ticks[0] + 0.004)
    interval[0] = 60
    assert ask(cp, transport, boot)[2]["interval"] == 60
    assert checks.calls == before + 1  # the stamp and the interval: checked


async def test_no_stamp_yet_means_a_check(ticks: list[float]) -> None:
    cp, transport, counters = station(
        {"Heartbeat": lambda req: HeartbeatResponse(current_time="2001-01-01T00:00:02Z")}
    )
    ask(cp, transport, b'"Heartbeat",{}')
    calls = counters["Heartbeat"].calls
    clock.IMPL.reset()  # last_stamp() is b"" now: nothing to substitute
    assert clock.last_stamp() == b""
    cp.on("Heartbeat", lambda req: HeartbeatResponse(current_time="2001-01-01T00:00:03Z"))
    ask(cp, transport, b'"Heartbeat",{}')
    assert counters["Heartbeat"].calls == calls + 1
