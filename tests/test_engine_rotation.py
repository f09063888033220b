"""The load harness's steady rotation (Heartbeat, StatusNotification, MeterValues in turn) and the
compiled shortcuts it takes, each against the rule it stands for, in both builds:

- a station switching actions finds the next plan by the action's bytes (``Engine._plan_of``):
  the answers are those of the general path, also when handlers change in between and for a
  vendor action whose name is not alphanumeric (never taken by the fast path);
- an answer that differs from the last checked one only by ``ocppfast.now()`` stamps is not
  checked again (``_restamped``: compiled, a walk over the bytes, not ``bytes.replace``): the
  engine checks exactly when ``checked.replace(old, new) != payload``;
- compiled ``now()`` writes the same characters as the formatted string;
- the date-time checker msgspec calls (``Pattern``) answers ``search`` and ``pattern``.
"""

from __future__ import annotations

import asyncio
import importlib
import random
from typing import Any

import msgspec
import pytest

from ocppfast import _datetime, clock, versions
from ocppfast.charge_point import ChargePoint
from ocppfast.v16 import DataTransferResponse, DataTransferStatus

from .conftest import CollectingTransport
from .test_engine_restamp import CountingDecoder

V16 = versions.OCPP16
NOW = "2026-11-26T00:00:00Z"
ROTATION = (
    b'","Heartbeat",{}]',
    b'","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]',
    (
        b'","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2025-01-01T00:00:00Z",'
        b'"sampledValue":[{"value":"1234.5","measurand":"Energy.Active.Import.Register",'
        b'"unit":"Wh"}]}]}]'
    ),
)
OTHERS = (
    (  # no such day: PropertyConstraintViolation
        b'","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2025-02-30T00:00:00Z",'
        b'"sampledValue":[{"value":"1"}]}]}]'
    ),
    b'","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Nope"}]',
    b'","Vendor-Ping",{"n":1}]',  # a vendor action, not alphanumeric: the general path
    b'","Vendor\\u002dPing",{"n":2}]',  # the same name, escaped
    b'","VendorPing",{"n":3}]',  # an unknown action
    b'","Heartbea",{}]',
    b'","Heartbeatt",{}]',
    b'","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]',
)


def _station(loop: Any, shared: dict[str, Any], fast: bool) -> tuple[ChargePoint, Any]:
    cp = ChargePoint(
        loop, V16, versions.actions(V16), shared_handlers=shared, max_unanswered_calls=0
    )
    cp.fast_path = fast
    cp.add_custom_action("Vendor-Ping")
    transport = CollectingTransport()
    cp.attach(transport)
    return cp, transport


def _answers(tag: str) -> dict[str, Any]:
    return {
        "Heartbeat": lambda cp, req: {"currentTime": NOW},
        "StatusNotification": lambda cp, req: None,
        "MeterValues": lambda cp, req: {},
        "BootNotification": lambda cp, req: {
            "status": "Accepted",
            "currentTime": NOW,
            "interval": len(tag),
        },
        "Vendor-Ping": lambda cp, req: {"tag": tag, "n": req["n"]},
    }


def test_rotation_answers_as_the_general_path_while_handlers_change() -> None:
    loop = asyncio.new_event_loop()
    try:
        shared: dict[str, Any] = dict(_answers("a"))
        engines = [_station(loop, shared, fast) for fast in (True, False)]
        rng = random.Random(14)
        compared = 0
        for step in range(600):
            suffix = ROTATION[step % 3] if rng.random() < 0.8 else rng.choice(OTHERS)
            frame = b'[2,"' + str(step).encode() + suffix
            if step % 97 == 50:  # a server-wide handler changes: plans are made again
                shared.update(_answers("b" * (step % 7 + 1)))
                from ocppfast.engine import handlers_changed

                handlers_changed()
            if step % 131 == 70:  # one station's own handler: its plans are its own
                for cp, _ in engines:
                    cp.on("StatusNotification", lambda req: {})
            for cp, _ in engines:
                cp.receive(frame)
            (_, fast_out), (_, slow_out) = engines
            assert fast_out.sent == slow_out.sent, frame
            assert fast_out.closed is None and slow_out.closed is None, frame
            compared += len(fast_out.sent)
            fast_out.sent.clear()
            slow_out.sent.clear()
        assert compared > 500
    finally:
        loop.close()


def test_vendor_action_with_a_dash_is_answered_by_its_handler() -> None:
    loop = asyncio.new_event_loop()
    try:
        for fast in (True, False):
            cp, out = _station(loop, dict(_answers("t")), fast)
            for k, suffix in enumerate((ROTATION[0], OTHERS[2], ROTATION[1], OTHERS[2])):
                cp.receive(b'[2,"' + str(k).encode() + suffix)
            replies = [msgspec.json.decode(b) for b in out.sent]
            assert replies[1] == [3, "1", {"tag": "t", "n": 1}]
            assert replies[3] == [3, "3", {"tag": "t", "n": 1}]
    finally:
        loop.close()


# --- the restamp rule -------------------------------------------------------------------------


def _texts(rng: random.Random, old: str, new: str) -> tuple[str, str]:
    """A DataTransfer ``data`` text holding the stamp ``old`` (0-3 times, pieces of it, other
    characters), and a second text: the same with ``new`` in some or all places, or changed."""
    pieces = [old, old, old[:-1], old[1:], old[:5], "2", "Z", "x", "-", old + old[:3], ""]
    parts = [rng.choice(pieces) for _ in range(rng.randint(0, 5))]
    first = "".join(parts)
    kind = rng.randrange(5)
    if kind == 0:  # every stamp replaced: passes without a check
        second = first.replace(old, new)
    elif kind == 1:  # only some replaced
        second = "".join(p.replace(old, new) if rng.random() < 0.5 else p for p in parts)
    elif kind == 2 and first:  # one other character changed
        k = rng.randrange(len(first))
        second = first[:k] + ("y" if first[k] != "y" else "w") + first[k + 1 :]
        second = second.replace(old, new)
    elif kind == 3:  # a different length
        second = first.replace(old, new) + "q"
    else:  # the new stamp where the old one was not
        second = first.replace(old, new) + new
        first = first + old[:-1] + "X"
    return first, second


async def test_a_restamped_answer_is_checked_exactly_when_replace_says_so(
    ticks: list[float],
) -> None:
    actions = dict(versions.actions(V16))
    counter = CountingDecoder(actions["DataTransfer"].response_decoder)
    actions["DataTransfer"] = actions["DataTransfer"]._replace(response_decoder=counter)
    cp = ChargePoint(asyncio.get_running_loop(), V16, actions, max_unanswered_calls=0)
    text: list[str] = [""]
    cp.on(
        "DataTransfer",
        lambda req: DataTransferResponse(status=DataTransferStatus.accepted, data=text[0]),
    )
    transport = CollectingTransport()
    cp.attach(transport)
    rng = random.Random(2026)
    skipped = checked = 0
    for case in range(400):
        first_at = ticks[0] + case * 0.0137
        second_at = first_at + 0.0011 + rng.random() * (2.0 if case % 5 == 0 else 0.004)
        ticks.append(second_at)
        new = clock.now()
        ticks.append(first_at)
        old = clock.now()  # last_stamp() is this one's while the first answer is made
        first, second = _texts(rng, old, new)
        text[0] = first + f"#{case}"  # never the last case's answer restamped
        cp.receive(b'[2,"1","DataTransfer",{"vendorId":"V"}]')
        payload_1 = transport.sent.pop()[len(b'[3,"1",') : -1]
        ticks.append(second_at)
        assert clock.now() == new
        text[0] = second + f"#{case}"
        before = counter.calls
        cp.receive(b'[2,"2","DataTransfer",{"vendorId":"V"}]')
        payload_2 = transport.sent.pop()[len(b'[3,"2",') : -1]
        assert msgspec.json.decode(payload_2)["data"] == text[0]
        # the same bytes as the last checked answer, or those with the stamp replaced
        rule = payload_2 == payload_1 or payload_1.replace(old.encode(), new.encode()) == payload_2
        assert counter.calls - before == (0 if rule else 1), (first, second, old, new)
        skipped += rule
        checked += not rule
    assert skipped > 50 and checked > 50  # both outcomes were exercised


# --- now() and the date-time checker ---------------------------------------------------------


def _modules() -> list[Any]:
    mods = [_datetime]
    if clock.COMPILED:
        mods.append(importlib.import_module("ocppfast._datetime_c"))
    return mods


@pytest.mark.parametrize("impl", _modules(), ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_now_writes_the_formatted_stamp(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    at = [0.0]
    monkeypatch.setattr(impl, "_time", lambda: at[0])
    impl.reset()
    try:
        base = 1_790_000_000
        for ms in (0, 1, 9, 10, 99, 100, 101, 509, 990, 999, 1000, 1001, 59_999, 86_400_123):
            at[0] = base + ms / 1000 + 0.0001
            stamp = impl.now()
            second = (base * 1000 + ms) // 1000
            import time

            expected = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
            expected += f"{(base * 1000 + ms) % 1000:03d}Z"
            assert stamp == expected
            assert impl.last_stamp() == expected.encode()
            assert type(stamp) is str and type(impl.last_stamp()) is bytes
            assert impl.now() is stamp  # the same millisecond: the cached string
    finally:
        impl.reset()


@pytest.mark.parametrize("impl", _modules(), ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_pattern_answers_search_and_pattern(impl: Any) -> None:
    checker = impl.Pattern("the-pattern")
    assert checker.pattern == "the-pattern"
    search = checker.search
    assert search("2025-01-01T00:00:00Z") and search("2025-01-01T00:00:00.5+01:00")
    assert search("2025-13-01T00:00:00Z") is None and search("") is None
    assert getattr(checker, "search") is search  # noqa: B009 - by name, as msgspec asks
    for other in ("nothing", "searcx", "Search", "s\u0113arch", "sea\U0001f600h", "searchx"):
        with pytest.raises(AttributeError):
            getattr(checker, other)


# --- responses without fields -------------------------------------------------------------


def _empty_responses() -> list[tuple[str, str]]:
    out = []
    for version in versions.SUPPORTED:
        for name, action in versions.actions(version).items():
            if getattr(action.response, "__struct_fields__", None) == ():
                out.append((version, name))
    return out


@pytest.mark.parametrize("validate", [True, False], ids=["checked", "unchecked"])
async def test_field_less_responses_answer_the_bytes_msgspec_makes(validate: bool) -> None:
    """A response type without fields is answered with its one encoding, made once per plan
    (``_Plan.constant``): the bytes msgspec makes of an instance, ``{}``."""
    cases = _empty_responses()
    assert len(cases) > 5  # OCPP 1.6: StatusNotification, MeterValues, ... (2.x: customData)
    for version, name in cases:
        response = versions.actions(version)[name].response
        assert msgspec.json.encode(response()) == b"{}"
        for fast in (True, False):
            cp = ChargePoint(
                asyncio.get_running_loop(),
                version,
                versions.actions(version),
                max_unanswered_calls=0,
                validate_incoming=False,  # any payload reaches the handler
                validate_outgoing=validate,
            )
            cp.fast_path = fast
            cp.on(name, lambda req, response=response: response())
            out = CollectingTransport()
            cp.attach(out)
            for k in range(3):
                cp.receive(b'[2,"%d","' % k + name.encode() + b'",{}]')
            assert out.sent == [b'[3,"%d",{}]' % k for k in range(3)], (version, name)


# --- frames read where picows holds them -----------------------------------------------------


@pytest.mark.parametrize("subprotocol", [versions.OCPP16, versions.OCPP201, versions.OCPP21])
def test_frames_fed_from_picows_answer_as_the_general_path(subprotocol: str) -> None:
    """``feed`` with picows' own frames (compiled: a compact CALL is read in picows' buffer,
    ``Engine._receive_frame``) writes the bytes the general path writes for the same
    messages, over the fast-path corpus of tests/test_fastpath_diff.py."""
    import picows
    from picows import picows as picows_impl

    from .test_fastpath_diff import frames, make

    fed, fed_out = make(subprotocol, True, False, False)
    slow, slow_out = make(subprotocol, False, False, False)
    text = picows.WSMsgType.TEXT
    try:
        compared = 0
        for data in frames(subprotocol):
            frame = picows_impl._make_test_ws_frame(text, data, True, False)
            assert frame.last_in_buffer  # one frame per read: answered at once
            fed.feed(None, frame)
            slow.receive(data)
            assert fed_out.sent == slow_out.sent, data
            assert fed.accepted == slow.accepted and fed_out.closed == slow_out.closed, data
            compared += len(fed_out.sent)
            fed_out.sent.clear()
            slow_out.sent.clear()
        assert compared > 1000
    finally:
        fed.loop.close()
        slow.loop.close()
