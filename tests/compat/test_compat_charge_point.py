"""The compat ChargePoint against mobilityhouse ``ocpp`` 2.1.0, scripted exchange by exchange.

Each differential test runs the same scenario through mobilityhouse's classes and through
``ocppfast.compat``'s, over an in-memory connection, and compares what matters to a user: the
frames sent (byte for byte), handler kwargs, return values, exceptions and log lines. Cases where
mobilityhouse crashes, hangs or stays silent assert ocppfast's documented improvement instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import decimal
import json
import logging
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import ocpp.charge_point
import ocpp.exceptions
import ocpp.messages
import ocpp.routing
import ocpp.v16
import ocpp.v16.call
import ocpp.v16.call_result
import ocpp.v16.enums
import ocpp.v21
import ocpp.v21.call
import ocpp.v21.call_result
import ocpp.v201
import ocpp.v201.call
import ocpp.v201.call_result
import pytest

import ocppfast.compat.charge_point as cc
import ocppfast.compat.exceptions
import ocppfast.compat.messages
import ocppfast.compat.routing
import ocppfast.compat.v16
import ocppfast.compat.v16.enums
import ocppfast.compat.v21
import ocppfast.compat.v201

ocpp.messages.ASYNC_VALIDATION = False  # mobilityhouse's thread pool adds nothing to compare


def _lib(cp: Any, routing: Any, exceptions: Any, messages: Any, v16: Any, v201: Any, v21: Any):
    return SimpleNamespace(
        cp=cp, routing=routing, exc=exceptions, messages=messages, v16=v16, v201=v201, v21=v21
    )


MH = _lib(
    ocpp.charge_point, ocpp.routing, ocpp.exceptions, ocpp.messages, ocpp.v16, ocpp.v201, ocpp.v21
)
OURS = _lib(
    cc,
    ocppfast.compat.routing,
    ocppfast.compat.exceptions,
    ocppfast.compat.messages,
    ocppfast.compat.v16,
    ocppfast.compat.v201,
    ocppfast.compat.v21,
)
LIBS = pytest.mark.parametrize("lib", [MH, OURS], ids=["mh", "compat"])


class Connection:
    """``recv()``/``send()`` coroutines over queues; ``answer`` may reply to what is sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.answer: Callable[[str], Any] | None = None
        self.cp: Any = None

    async def recv(self) -> Any:
        item = await self.inbox.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def send(self, text: str) -> None:
        assert isinstance(text, str)
        self.sent.append(text)
        if self.answer is not None:
            reply = self.answer(text)
            if reply is not None and self.cp is not None:
                # the peer answers later, through route_message as start() would hand it on
                cp = self.cp
                asyncio.get_running_loop().call_soon(
                    lambda: asyncio.ensure_future(cp.route_message(reply))
                )


class Logs(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[tuple[str, str, bool]]:
        return [(r.levelname, r.getMessage(), r.exc_info is not None) for r in self.records]

    def templates(self) -> list[tuple[str, Any]]:
        return [(r.levelname, r.msg) for r in self.records]


async def observe(lib: Any, scenario: Callable[[Any, Any], Awaitable[Any]]) -> dict[str, Any]:
    """Run ``scenario(lib, conn)``; collect frames, result or exception, and log lines."""
    logs = Logs()
    logger = logging.getLogger("ocpp")
    logger.addHandler(logs)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    conn = Connection()
    try:
        try:
            result: Any = ("ok", _plain(await scenario(lib, conn)))
        except BaseException as exc:  # noqa: BLE001 - compared between libraries
            result = ("raised", type(exc).__name__, _exception_view(exc))
    finally:
        logger.removeHandler(logs)
        logger.setLevel(old)
    return {"sent": conn.sent, "result": result, "logs": logs, "conn": conn}


def _exception_view(exc: BaseException) -> Any:
    """str() of an exception; for OCPP errors the description and the detail keys (the
    ``cause`` texts of schema failures are ocppfast's own, saying where)."""
    if hasattr(exc, "description") and isinstance(getattr(exc, "details", None), dict):
        return [exc.description, sorted(exc.details)]
    return str(exc)


def _plain(value: Any) -> Any:
    """Compare objects of both libraries: dataclasses by class name and fields."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)},
        )
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if type(value).__name__ in ("CallResult", "CallError", "Call"):
        return repr(value)
    if isinstance(value, str):
        return str(value)
    return value


async def both(scenario: Callable[[Any, Any], Awaitable[Any]], *, logs: bool = True):
    mh = await observe(MH, scenario)
    ours = await observe(OURS, scenario)
    assert ours["sent"] == mh["sent"]
    assert ours["result"] == mh["result"]
    if logs:
        assert ours["logs"].lines() == mh["logs"].lines()
    return mh, ours


def cp16(lib: Any, conn: Any, handlers: dict[str, Any] | None = None, **kw: Any) -> Any:
    """A v16 ChargePoint subclass of ``lib`` with ``handlers`` (name -> (decorator, fn))."""
    attrs = dict(handlers or {})
    cls = type("CP", (lib.v16.ChargePoint,), attrs)
    return cls("CP_1", conn, **kw)


def boot_handler(lib: Any, seen: list[Any]) -> Any:
    @lib.routing.on(lib.v16.enums.Action.boot_notification)
    def on_boot_notification(self: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return lib.v16.call_result.BootNotification(
            current_time="2026-01-01T00:00:00Z", interval=10, status="Accepted"
        )

    return on_boot_notification


BOOT = json.dumps(
    [2, "b1", "BootNotification", {"chargePointVendor": "V\u00e9", "chargePointModel": "M"}]
)


# --- incoming CALLs ---------------------------------------------------------------------------


async def test_valid_call_same_frame_kwargs_and_logs() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        seen: list[Any] = []
        cp = cp16(lib, conn, {"on_boot_notification": boot_handler(lib, seen)})
        result = await cp._handle_call(lib.messages.unpack(BOOT))
        await cp.route_message(BOOT)
        return seen, result

    mh, ours = await both(scenario)
    assert mh["sent"][0] == (
        '[3,"b1",{"currentTime":"2026-01-01T00:00:00Z","interval":10,"status":"Accepted"}]'
    )
    assert ours["result"][1][0][0] == {"charge_point_vendor": "V\u00e9", "charge_point_model": "M"}


@pytest.mark.parametrize("unique_id", [1, "1", 1.5, None])
async def test_unique_id_keeps_its_json_type(unique_id: Any) -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        @lib.routing.on("Heartbeat")
        def on_hb(self: Any) -> Any:
            return lib.v16.call_result.Heartbeat(current_time="2026-01-01T00:00:00Z")

        cp = cp16(lib, conn, {"on_hb": on_hb})
        await cp.route_message(json.dumps([2, unique_id, "Heartbeat", {}]))

    mh, _ = await both(scenario)
    assert mh["sent"] == [
        json.dumps([3, unique_id, {"currentTime": "2026-01-01T00:00:00Z"}], separators=(",", ":"))
    ]


def _strip_cause(frames: list[str]) -> list[Any]:
    out = []
    for f in frames:
        msg = json.loads(f)
        if msg[0] == 4 and isinstance(msg[4], dict):
            msg[4] = sorted(msg[4])
        out.append(msg)
    return out


@pytest.mark.parametrize(
    "payload, code",
    [
        ({"chargePointModel": "M"}, "ProtocolError"),  # required
        ({"chargePointVendor": 5, "chargePointModel": "M"}, "TypeConstraintViolation"),
        ({"chargePointVendor": "V" * 21, "chargePointModel": "M"}, "TypeConstraintViolation"),
        ({"chargePointVendor": "V", "chargePointModel": "M", "x": 1}, "FormatViolation"),
        ([], "TypeConstraintViolation"),
    ],
)
async def test_invalid_payload_same_error(payload: Any, code: str) -> None:
    frame = json.dumps([2, "7", "BootNotification", payload])

    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn, {"on_boot_notification": boot_handler(lib, [])})
        await cp.route_message(frame)

    mh = await observe(MH, scenario)
    ours = await observe(OURS, scenario)
    assert _strip_cause(ours["sent"]) == _strip_cause(mh["sent"])
    assert json.loads(ours["sent"][0])[2] == code
    assert ours["logs"].templates() == mh["logs"].templates()
    assert json.loads(ours["sent"][0])[4]["cause"]


async def test_invalid_enum_value_same_code() -> None:
    frame = json.dumps([2, "7", "Reset", {"type": "Medium"}])

    async def scenario(lib: Any, conn: Any) -> Any:
        @lib.routing.on("Reset")
        def on_reset(self: Any, **kw: Any) -> Any:
            return lib.v16.call_result.Reset(status="Accepted")

        await cp16(lib, conn, {"on_reset": on_reset}).route_message(frame)

    mh = await observe(MH, scenario)
    ours = await observe(OURS, scenario)
    assert _strip_cause(ours["sent"]) == _strip_cause(mh["sent"])
    assert json.loads(ours["sent"][0])[2] == "FormatViolation"


@pytest.mark.parametrize(
    "version, action",
    [("v16", "Reset"), ("v16", "Foo"), ("v201", "Reset"), ("v201", "Foo")],
)
async def test_missing_handler_and_unknown_action(version: str, action: str) -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = getattr(lib, version).ChargePoint("CP", conn)
        await cp.route_message(json.dumps([2, "7", action, {}]))

    mh, _ = await both(scenario)
    if action == "Reset":
        assert mh["sent"] == [
            (
                '[4,"7","NotImplemented","Request Action is recognized but not supported by the '
                'receiver",{"cause":"No handler for Reset registered."}]'
            )
        ]
    else:
        assert json.loads(mh["sent"][0])[2] == "NotSupported"


async def test_v21_without_handler_answers_not_implemented() -> None:
    # mobilityhouse 2.1.0 sends nothing here (fixed upstream after 2.1.0, #744).
    conn = Connection()
    cp = ocppfast.compat.v21.ChargePoint("CP", conn)
    await cp.route_message('[2,"7","Reset",{"type":"Immediate"}]')
    await cp.route_message('[2,"8","NoSuchAction",{}]')
    assert json.loads(conn.sent[0])[:3] == [4, "7", "NotImplemented"]
    assert json.loads(conn.sent[1])[:3] == [4, "8", "NotSupported"]
    mh_conn = Connection()
    await ocpp.v21.ChargePoint("CP", mh_conn).route_message('[2,"7","Reset",{"type":"Immediate"}]')
    assert mh_conn.sent == []


async def test_after_only_without_on_handler() -> None:
    # mobilityhouse: NotImplemented for 1.6; for 2.1 UnboundLocalError ends the connection.
    for version in ("v16", "v21"):
        conn = Connection()

        @ocppfast.compat.routing.after("Heartbeat")
        def after_hb(self: Any) -> None:
            pass

        cls = type("CP", (getattr(ocppfast.compat, version).ChargePoint,), {"after_hb": after_hb})
        await cls("CP", conn).route_message('[2,"1","Heartbeat",{}]')
        assert json.loads(conn.sent[0])[2] == "NotImplemented"


@pytest.mark.parametrize("kind", ["ocpp", "runtime", "kwargs"])
async def test_handler_exceptions(kind: str) -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        @lib.routing.on("Heartbeat")
        async def on_hb(self: Any) -> Any:
            if kind == "ocpp":
                raise lib.exc.SecurityError(description="no", details={"a": 1})
            raise RuntimeError("boom")

        @lib.routing.on("StatusNotification")
        def on_status(self: Any, connector_id: int) -> Any:  # missing kwargs -> TypeError
            return lib.v16.call_result.StatusNotification()

        cp = cp16(lib, conn, {"on_hb": on_hb, "on_status": on_status})
        if kind == "kwargs":
            await cp.route_message(
                '[2,"1","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
                '"status":"Available"}]'
            )
        else:
            await cp.route_message('[2,"1","Heartbeat",{}]')

    mh, _ = await both(scenario)
    if kind == "ocpp":
        assert mh["sent"] == ['[4,"1","SecurityError","no",{"a":1}]']
    else:
        assert mh["sent"] == ['[4,"1","InternalError","An unexpected error occurred.",{}]']


async def test_call_unique_id_injected_by_signature() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        seen: list[Any] = []

        @lib.routing.on("Heartbeat")
        def on_hb(self: Any, call_unique_id: str) -> Any:
            seen.append(("on", call_unique_id))
            return lib.v16.call_result.Heartbeat(current_time="t")

        @lib.routing.after("Heartbeat")
        def after_hb(self: Any, **kwargs: Any) -> Any:
            seen.append(("after", kwargs))

        cp = cp16(lib, conn, {"on_hb": on_hb, "after_hb": after_hb})
        await cp.route_message('[2,"u-1","Heartbeat",{}]')
        return seen

    mh, _ = await both(scenario)
    assert mh["result"][1] == [["on", "u-1"], ["after", {}]]


@pytest.mark.parametrize("mode", ["sync", "async", "sync-raises", "sync-keyerror"])
async def test_after_hooks(mode: str) -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        seen: list[Any] = []

        @lib.routing.on("Heartbeat")
        def on_hb(self: Any) -> Any:
            return lib.v16.call_result.Heartbeat(current_time="t")

        if mode == "async":

            @lib.routing.after("Heartbeat")
            async def after_hb(self: Any) -> Any:
                seen.append(len(conn.sent))
        else:

            @lib.routing.after("Heartbeat")
            def after_hb(self: Any) -> Any:
                seen.append(len(conn.sent))
                if mode == "sync-raises":
                    raise RuntimeError("after failed")
                if mode == "sync-keyerror":
                    raise KeyError("x")
                return "done"

        cp = cp16(lib, conn, {"on_hb": on_hb, "after_hb": after_hb})
        result = await cp._handle_call(lib.messages.unpack('[2,"1","Heartbeat",{}]'))
        await asyncio.sleep(0)
        return seen, (result if mode != "async" else type(result).__name__)

    mh, _ = await both(scenario)
    assert mh["sent"] == ['[3,"1",{"currentTime":"t"}]']
    if mode == "sync-raises":
        assert mh["result"] == ("raised", "RuntimeError", "after failed")


async def test_our_invalid_reply_is_sent_as_call_error() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        @lib.routing.on("Heartbeat")
        def on_hb(self: Any) -> Any:
            return lib.v16.call_result.Reset(status="Accepted")  # wrong class

        await cp16(lib, conn, {"on_hb": on_hb}).route_message('[2,"1","Heartbeat",{}]')

    mh = await observe(MH, scenario)
    ours = await observe(OURS, scenario)
    assert _strip_cause(ours["sent"]) == _strip_cause(mh["sent"])
    assert json.loads(ours["sent"][0])[2] in ("FormatViolation", "ProtocolError")


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        b"\xff\xfe",
        '{"a": 1}',
        "[]",
        '[2,"1","Heartbeat"]',
        '[2,"1","Heartbeat",{},5]',
        '[5,"1","X",{}]',
        '[6,"1","X",{}]',
        '"just a string"',
    ],
)
async def test_unparseable_frames_are_logged_not_answered(raw: Any) -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        await cp16(lib, conn).route_message(raw)

    mh, ours = await both(scenario, logs=False)
    assert mh["sent"] == []
    assert ours["logs"].templates() == mh["logs"].templates()
    assert [r.exc_info is not None for r in ours["logs"].records] == [True]


async def test_four_element_call_error_is_queued() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn)
        await cp.route_message('[4,"1","GenericError","x"]')
        msg = cp._response_queue.get_nowait()
        return msg.error_code, msg.error_details

    await both(scenario)


async def test_unhashable_action_and_bare_ocpp_error_do_not_crash() -> None:
    # mobilityhouse: TypeError (unhashable action) and AttributeError (an OCPPError without a
    # code) escape route_message and end start(). compat answers with a CallError.
    conn = Connection()

    @ocppfast.compat.routing.on("Heartbeat")
    def on_hb(self: Any) -> Any:
        raise ocppfast.compat.exceptions.OCPPError("bare")

    cp = cp16(OURS, conn, {"on_hb": on_hb})
    await cp.route_message('[2,"1",["x"],{}]')
    await cp.route_message('[2,"2","Heartbeat",{}]')
    assert json.loads(conn.sent[0])[:3] == [4, "1", "NotSupported"]
    # compat's OCPPError base carries GenericError; a class without any code would get
    # InternalError
    assert json.loads(conn.sent[1])[:3] == [4, "2", "GenericError"]
    with pytest.raises((TypeError, AttributeError)):
        await cp16(MH, Connection()).route_message('[2,"1",["x"],{}]')


@pytest.mark.parametrize("returned", ["dict", "camel-dict", "none", "int"])
async def test_handler_returning_dict_or_none(returned: str) -> None:
    # mobilityhouse: TypeError from asdict() ends the connection (#235, #341, #483, #645).
    conn = Connection()

    @ocppfast.compat.routing.on("Heartbeat")
    def on_hb(self: Any) -> Any:
        return {
            "dict": {"current_time": "t", "extra_none": None},
            "camel-dict": {"currentTime": "t"},
            "none": None,
            "int": 5,
        }[returned]

    @ocppfast.compat.routing.on("StatusNotification")
    def on_status(self: Any, **kw: Any) -> Any:
        return None

    cp = cp16(OURS, conn, {"on_hb": on_hb, "on_status": on_status})
    await cp.route_message('[2,"1","Heartbeat",{}]')
    await cp.route_message(
        '[2,"2","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]'
    )
    if returned == "none":
        assert json.loads(conn.sent[0])[:3] == [4, "1", "ProtocolError"]  # currentTime required
    elif returned == "int":
        assert json.loads(conn.sent[0])[:3] == [4, "1", "InternalError"]
    else:
        assert conn.sent[0] == '[3,"1",{"currentTime":"t"}]'
    assert conn.sent[1] == '[3,"2",{}]'
    with pytest.raises(TypeError):
        await cp16(MH, Connection(), {"on_status": on_status}).route_message(
            '[2,"2","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
            '"status":"Available"}]'
        )


async def test_decimal_quirk_for_v16_charging_profiles() -> None:
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
        },
    }

    async def scenario(lib: Any, conn: Any) -> Any:
        seen: list[Any] = []

        @lib.routing.on("SetChargingProfile")
        def on_scp(self: Any, **kw: Any) -> Any:
            seen.append(kw)
            return lib.v16.call_result.SetChargingProfile(status="Accepted")

        cp = cp16(lib, conn, {"on_scp": on_scp})
        await cp.route_message(
            json.dumps(
                [2, "1", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}]
            )
        )
        bad = json.loads(json.dumps(profile))
        bad["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 21.45
        await cp.route_message(
            json.dumps(
                [2, "2", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": bad}]
            )
        )
        return seen

    mh = await observe(MH, scenario)
    ours = await observe(OURS, scenario)
    assert ours["result"] == mh["result"]
    limit = ours["result"][1][0]["cs_charging_profiles"]["charging_schedule"][
        "charging_schedule_period"
    ][0]["limit"]
    assert limit == decimal.Decimal("21.4") and isinstance(limit, decimal.Decimal)
    assert ours["sent"][0] == mh["sent"][0] == '[3,"1",{"status":"Accepted"}]'
    assert _strip_cause(ours["sent"][1:]) == _strip_cause(mh["sent"][1:])
    assert json.loads(ours["sent"][1])[2] == "FormatViolation"


async def test_custom_action_with_skip_schema_validation() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        @dataclasses.dataclass
        class CustomAction:
            some_value: int
            maybe: Any = None

        @lib.routing.on("CustomAction", skip_schema_validation=True)
        def on_custom(self: Any, **kw: Any) -> Any:
            return CustomAction(some_value=kw["some_value"] + 1)

        @lib.routing.on("OtherCustom")
        def on_other(self: Any, **kw: Any) -> Any:
            return CustomAction(some_value=1)

        cp = cp16(lib, conn, {"on_custom": on_custom, "on_other": on_other})
        await cp.route_message('[2,"1","CustomAction",{"someValue":1}]')
        await cp.route_message('[2,"2","OtherCustom",{}]')
        cp._unique_id_generator = lambda: 42
        conn.cp = cp
        conn.answer = lambda text: '[3,"42",{"someValue":9}]'
        try:
            await cp.call(CustomAction(some_value=3), skip_schema_validation=True)
        except AttributeError as exc:
            return "AttributeError", "CustomAction" in str(exc)
        return None

    mh, _ = await both(scenario, logs=False)
    assert mh["sent"][0] == '[3,"1",{"someValue":2}]'
    assert json.loads(mh["sent"][1])[2] == "NotImplemented"
    assert mh["sent"][2] == '[2,"42","CustomAction",{"someValue":3}]'
    assert mh["result"] == ("ok", ["AttributeError", True])


# --- outgoing CALLs ---------------------------------------------------------------------------


def _answering(reply: Callable[[list[Any]], Any]) -> Callable[[str], Any]:
    def answer(text: str) -> Any:
        return json.dumps(reply(json.loads(text)))

    return answer


async def test_call_returns_result_dataclass_with_dict_nesting() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn)
        conn.cp = cp
        conn.answer = _answering(
            lambda m: [3, m[1], {"idTagInfo": {"status": "Accepted", "parentIdTag": "p"}}]
        )
        cp._unique_id_generator = lambda: 1337
        res = await cp.call(lib.v16.call.Authorize(id_tag="tag"))
        return res, res.id_tag_info["status"]

    mh, _ = await both(scenario)
    assert mh["sent"] == ['[2,"1337","Authorize",{"idTag":"tag"}]']


async def test_call_payload_nested_dicts_dataclasses_and_nones() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = lib.v201.ChargePoint("CP", conn)
        conn.cp = cp
        conn.answer = _answering(
            lambda m: [
                3,
                m[1],
                {
                    "currentTime": "2026-01-01T00:00:00Z",
                    "interval": 5,
                    "status": "Accepted",
                    "statusInfo": {"reasonCode": "x"},
                },
            ]
        )
        cp._unique_id_generator = lambda: "u"
        res = await cp.call(
            lib.v201.call.BootNotification(
                charging_station={"model": "M", "vendor_name": "V", "modem": {"iccid": None}},
                reason="PowerUp",
                custom_data={"vendorId": "x", "some_extra": [1, None, {"deep_key": None}]},
            ),
            unique_id=7,
        )
        return res

    mh, _ = await both(scenario)
    assert mh["sent"][0].startswith('[2,7,"BootNotification",{"chargingStation":{"model":"M",')


@pytest.mark.parametrize("suppress", [True, False])
async def test_call_error_with_suppress(suppress: bool) -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn)
        conn.cp = cp
        conn.answer = _answering(lambda m: [4, m[1], "SecurityError", "nope", {"k": 1}])
        cp._unique_id_generator = lambda: "e1"
        return await cp.call(lib.v16.call.Heartbeat(), suppress=suppress)

    mh, _ = await both(scenario, logs=False)
    if suppress:
        assert mh["result"] == ("ok", None)
    else:
        assert mh["result"][:2] == ("raised", "SecurityError")


async def test_call_error_unknown_code_raises_unknown_call_error_code() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn)
        conn.cp = cp
        conn.answer = _answering(lambda m: [4, m[1], "RpcFrameworkError", "x", {}])
        cp._unique_id_generator = lambda: "e2"
        try:
            return await cp.call(lib.v16.call.Heartbeat(), suppress=False)
        except Exception as exc:  # noqa: BLE001 - the message text is messages.py's own
            return type(exc).__name__

    mh, _ = await both(scenario, logs=False)
    assert mh["result"] == ("ok", "UnknownCallErrorCodeError")


async def test_call_timeout_message_and_lock_released() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn, response_timeout=0.05)
        cp._unique_id_generator = lambda: "t1"
        try:
            await cp.call(lib.v16.call.Heartbeat())
        except TimeoutError as exc:
            return str(exc), cp._call_lock.locked()
        return None

    mh, _ = await both(scenario)
    assert mh["result"] == ("ok", ['Waited 0.05s for response on [2,"t1","Heartbeat",{}].', False])


async def test_unsolicited_result_consumed_by_next_call() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn)
        await cp.route_message('[4,"1337","GenericError","old",{}]')
        await cp.route_message('[3,"other",{}]')
        cp._unique_id_generator = lambda: 1337
        return await cp.call(lib.v16.call.Heartbeat())

    mh, ours = await both(scenario)
    assert mh["result"] == ("ok", None)  # the queued CallError answered it
    assert [r.levelname for r in ours["logs"].records] == ["INFO", "WARNING"]


async def test_response_with_other_id_is_logged_and_skipped() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn)
        await cp.route_message('[3,"stale",{"currentTime":"x"}]')
        conn.cp = cp
        conn.answer = _answering(lambda m: [3, m[1], {"currentTime": "now"}])
        cp._unique_id_generator = lambda: "fresh"
        return await cp.call(lib.v16.call.Heartbeat())

    mh, _ = await both(scenario)
    assert mh["result"] == ("ok", ("Heartbeat", {"current_time": "now"}))


@pytest.mark.parametrize(
    "payload_kind, exc_name",
    [
        ("enum", "FormatViolationError"),
        ("long", "TypeConstraintViolationError"),
        ("dict", "TypeError"),
        ("no-schema", "NotImplementedError"),
    ],
)
async def test_call_validation_raises_before_sending(payload_kind: str, exc_name: str) -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn)

        @dataclasses.dataclass
        class NoSuchAction:
            x: int = 1

        payload = {
            "enum": lib.v16.call.Reset(type="Medium"),
            "long": lib.v16.call.Authorize(id_tag="x" * 21),
            "dict": {"id_tag": "x"},
            "no-schema": NoSuchAction(),
        }[payload_kind]
        return await cp.call(payload)

    mh, _ = await both(scenario)
    assert mh["sent"] == []
    assert mh["result"][:2] == ("raised", exc_name)


async def test_get_specific_response_called_positionally() -> None:
    from unittest import mock

    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn, response_timeout=3)
        cp._unique_id_generator = lambda: "m1"
        cp._get_specific_response = mock.AsyncMock(
            return_value=lib.messages.CallResult("m1", {"currentTime": "x"})
        )
        res = await cp.call(lib.v16.call.Heartbeat())
        return res, cp._get_specific_response.call_args_list[0][0]

    mh, _ = await both(scenario)
    assert mh["result"][1][1] == ["m1", 3]


async def test_decimal_in_outgoing_payload_and_composite_schedule_result() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn)
        conn.cp = cp
        conn.answer = _answering(
            lambda m: [
                3,
                m[1],
                {
                    "status": "Accepted",
                    "connectorId": 1,
                    "chargingSchedule": {
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11.5}],
                    },
                },
            ]
        )
        cp._unique_id_generator = lambda: "d"
        res = await cp.call(lib.v16.call.GetCompositeSchedule(connector_id=1, duration=60))
        limit = res.charging_schedule["charging_schedule_period"][0]["limit"]
        conn.answer = _answering(lambda m: [3, m[1], {"status": "Accepted"}])
        await cp.call(
            lib.v16.call.SetChargingProfile(
                connector_id=1,
                cs_charging_profiles={
                    "charging_profile_id": 1,
                    "stack_level": 0,
                    "charging_profile_purpose": "TxDefaultProfile",
                    "charging_profile_kind": "Absolute",
                    "charging_schedule": {
                        "charging_rate_unit": "A",
                        "charging_schedule_period": [
                            {"start_period": 0, "limit": decimal.Decimal("2.000001")}
                        ],
                    },
                },
            ),
            skip_schema_validation=True,
        )
        return type(limit).__name__, str(limit)

    mh, _ = await both(scenario)
    assert mh["result"] == ("ok", ["Decimal", "11.5"])
    assert '"limit":2.0' in mh["sent"][1]


# --- the v21 keys mobilityhouse converts wrongly ----------------------------------------------


def test_case_conversion_functions_match_mobilityhouse() -> None:
    keys = [
        "fullSoC",
        "responderURL",
        "ocppCSMSURL",
        "CSMSRootCertificate",
        "InvalidURL",
        "evMinV2XEnergyRequest",
        "v2xChargingCtrlr",
        "signV2GCertificate",
        "HTTPServer",
        "limit_L2",
        "fixedPF",
        "priceScheduleID",
        "receiptUrl",
        "soC",
        "prioritizedEMAIDs",
        "a",
        "",
        "_x",
        "x_",
        "ABC",
        "aBC1dE",
        "évèneMent",
        "with space",
    ]
    snake = [
        "full_soc",
        "responder_url",
        "ocpp_csms_url",
        "csms_root_certificate",
        "invalid_url",
        "ev_min_v2x_energy_request",
        "v2x_charging_ctrlr",
        "sign_v2g_certificate",
        "soc_limit_reached",
        "associated_data",
        "_private",
        "a__b",
        "state_of_charge",
        "",
        "x_",
        "_",
        "__",
        "limit_l2",
    ]
    for _ in range(2):  # the second round hits the memo
        for k in keys:
            d = {k: [{k: {k: 1}}]}
            assert cc.camel_to_snake_case(d) == ocpp.charge_point.camel_to_snake_case(d)
        for k in snake:
            d = {k: [{k: {k: 1}}]}
            assert cc.snake_to_camel_case(d) == ocpp.charge_point.snake_to_camel_case(d)
    assert cc.snake_to_camel_case({"associated_data": 1}) == {"asSoCiatedData": 1}
    assert cc.camel_to_snake_case(("a", {"aB": 1})) == ("a", {"aB": 1})
    with pytest.raises(AttributeError):
        cc.camel_to_snake_case({1: 2})


def test_serialize_and_remove_nones_match_mobilityhouse() -> None:
    sv = ocpp.v16.datatypes.SampledValue(value="1", unit="Wh")
    mv = ocpp.v16.call.MeterValues(
        connector_id=1,
        meter_value=[ocpp.v16.datatypes.MeterValue(timestamp="t", sampled_value=[sv])],
    )
    assert cc.serialize_as_dict(mv) == ocpp.charge_point.serialize_as_dict(mv)
    data = {"a": None, "b": [None, 1, {"c": None, "d": []}], "e": {}}
    assert (
        cc.remove_nones(data)
        == ocpp.charge_point.remove_nones(data)
        == {"b": [1, {"d": []}], "e": {}}
    )
    with pytest.raises(TypeError):
        cc.serialize_as_dict({"a": 1})
    assert cc.asdict is dataclasses.asdict and cc.is_dataclass is dataclasses.is_dataclass
    assert cc.Field is dataclasses.Field
    for f in dataclasses.fields(ocpp.v16.call.MeterValues):
        assert cc._is_optional_field(f) == ocpp.charge_point._is_optional_field(f)


async def test_v21_broken_keys_are_sent_right() -> None:
    conn = Connection()
    cp = ocppfast.compat.v21.ChargePoint("CP", conn)
    cp._unique_id_generator = lambda: "k"
    conn.cp = cp
    conn.answer = _answering(lambda m: [3, m[1], {}])
    swap = ocppfast.compat.v21.call.BatterySwap
    fields = {f.name for f in dataclasses.fields(swap)}
    assert "battery_data" in fields
    await cp.call(
        swap(
            battery_data=[{"evse_id": 1, "serial_number": "s", "so_c": 50.0, "so_h": 90.0}],
            event_type="BatteryIn",
            id_token={"id_token": "t", "type": "Central"},
            request_id=1,
        )
    )
    sent = json.loads(conn.sent[0])[3]
    assert sent["batteryData"][0]["soC"] == 50.0 and sent["batteryData"][0]["soH"] == 90.0


async def test_v21_handler_reply_keys_sent_right() -> None:
    conn = Connection()

    @ocppfast.compat.routing.on("Get15118EVCertificate", skip_schema_validation=True)
    def on_x(self: Any, **kw: Any) -> Any:
        return {"status": "Accepted", "exi_response": "x", "remaining_contracts": 1}

    @ocppfast.compat.routing.on("NotifyEVChargingNeeds")
    def on_needs(self: Any, **kw: Any) -> Any:
        return {"status": "Accepted", "status_info": {"reason_code": "r"}}

    cls = type("CP", (ocppfast.compat.v21.ChargePoint,), {"on_x": on_x, "on_needs": on_needs})
    cp = cls("CP", conn)
    await cp.route_message(
        '[2,"1","Get15118EVCertificate",{"iso15118SchemaVersion":"x","action":"Install",'
        '"exiRequest":"e"}]'
    )
    assert json.loads(conn.sent[0]) == [
        3,
        "1",
        {"status": "Accepted", "exiResponse": "x", "remainingContracts": 1},
    ]


# --- start(): the receive loop ----------------------------------------------------------------


async def test_start_routes_results_while_a_handler_awaits_a_call() -> None:
    # mobilityhouse: the handler's call() times out and the peer gets InternalError (#130).
    conn = Connection()

    @ocppfast.compat.routing.on("BootNotification")
    async def on_boot(self: Any, **kw: Any) -> Any:
        res = await self.call(ocppfast.compat.v16.call.GetConfiguration(key=["HeartbeatInterval"]))
        return ocppfast.compat.v16.call_result.BootNotification(
            current_time="t", interval=int(res.configuration_key[0]["value"]), status="Accepted"
        )

    cp = cp16(OURS, conn, {"on_boot": on_boot}, response_timeout=5)
    cp._unique_id_generator = lambda: "q"
    task = asyncio.ensure_future(cp.start())
    conn.inbox.put_nowait(
        json.dumps(
            [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
        )
    )
    while not conn.sent:
        await asyncio.sleep(0.01)
    assert conn.sent[0] == '[2,"q","GetConfiguration",{"key":["HeartbeatInterval"]}]'
    conn.inbox.put_nowait(
        '[3,"q",{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"60"}]}]'
    )
    while len(conn.sent) < 2:
        await asyncio.sleep(0.01)
    assert conn.sent[1] == '[3,"b",{"currentTime":"t","interval":60,"status":"Accepted"}]'
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@LIBS
async def test_start_answers_before_recv_error_propagates(lib: Any) -> None:
    # A test double whose recv raises after one CALL: the CALL is answered first, then the
    # exception leaves start() unchanged.
    conn = Connection()

    @lib.routing.on("Heartbeat")
    async def on_hb(self: Any) -> Any:
        await asyncio.sleep(0.01)
        return lib.v16.call_result.Heartbeat(current_time="t")

    cp = cp16(lib, conn, {"on_hb": on_hb})
    conn.inbox.put_nowait('[2,"1","Heartbeat",{}]')
    conn.inbox.put_nowait(ConnectionError("closed"))
    with pytest.raises(ConnectionError, match="closed"):
        await cp.start()
    assert conn.sent == ['[3,"1",{"currentTime":"t"}]']
    conn.inbox.put_nowait('[2,"2","Heartbeat",{}]')
    conn.inbox.put_nowait(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await cp.start()
    assert conn.sent[-1] == '[3,"2",{"currentTime":"t"}]'


@LIBS
async def test_start_ends_with_a_sync_after_hook_error(lib: Any) -> None:
    conn = Connection()

    @lib.routing.on("Heartbeat")
    def on_hb(self: Any) -> Any:
        return lib.v16.call_result.Heartbeat(current_time="t")

    @lib.routing.after("Heartbeat")
    def after_hb(self: Any) -> Any:
        raise RuntimeError("after hook")

    cp = cp16(lib, conn, {"on_hb": on_hb, "after_hb": after_hb})
    conn.inbox.put_nowait('[2,"1","Heartbeat",{}]')
    with pytest.raises(RuntimeError, match="after hook"):
        await asyncio.wait_for(cp.start(), 2)
    assert conn.sent == ['[3,"1",{"currentTime":"t"}]']


@LIBS
async def test_start_calls_are_handled_in_order_and_logged(lib: Any) -> None:
    conn = Connection()
    order: list[str] = []

    @lib.routing.on("Heartbeat")
    async def on_hb(self: Any, call_unique_id: str) -> Any:
        order.append("start " + call_unique_id)
        await asyncio.sleep(0.01)
        order.append("end " + call_unique_id)
        return lib.v16.call_result.Heartbeat(current_time=call_unique_id)

    cp = cp16(lib, conn, {"on_hb": on_hb})
    logs = Logs()
    logging.getLogger("ocpp").addHandler(logs)
    logging.getLogger("ocpp").setLevel(logging.INFO)
    try:
        for i in range(3):
            conn.inbox.put_nowait(f'[2,"{i}","Heartbeat",{{}}]')
        conn.inbox.put_nowait(EOFError())
        with pytest.raises(EOFError):
            await cp.start()
    finally:
        logging.getLogger("ocpp").removeHandler(logs)
        logging.getLogger("ocpp").setLevel(logging.NOTSET)
    assert order == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]
    assert conn.sent == [f'[3,"{i}",{{"currentTime":"{i}"}}]' for i in range(3)]
    assert sorted(logs.templates()) == sorted(
        [("INFO", "%s: receive message %s")] * 3 + [("INFO", "%s: send %s")] * 3
    )


async def test_start_cancelled_cancels_running_handler() -> None:
    conn = Connection()
    cancelled = asyncio.Event()

    @ocppfast.compat.routing.on("Heartbeat")
    async def on_hb(self: Any) -> Any:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    cp = cp16(OURS, conn, {"on_hb": on_hb})
    task = asyncio.ensure_future(cp.start())
    conn.inbox.put_nowait('[2,"1","Heartbeat",{}]')
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(cancelled.wait(), 1)


async def test_route_map_is_read_live_and_flags_mutable() -> None:
    conn = Connection()

    @ocppfast.compat.routing.on("Heartbeat")
    def on_hb(self: Any) -> Any:
        return {"current_time": 5}  # invalid: only the skip flag lets it through

    cp = cp16(OURS, conn, {"on_hb": on_hb})
    await cp.route_message('[2,"1","Heartbeat",{}]')
    assert json.loads(conn.sent[0])[2] == "TypeConstraintViolation"
    cp.route_map["Heartbeat"]["_skip_schema_validation"] = True
    await cp.route_message('[2,"2","Heartbeat",{}]')
    assert conn.sent[1] == '[3,"2",{"currentTime":5}]'
    cp.route_map = {}
    await cp.route_message('[2,"3","Heartbeat",{}]')
    assert json.loads(conn.sent[2])[2] == "NotImplemented"


async def test_instance_attribute_handlers_and_response_timeout_none() -> None:
    conn = Connection()
    cp = ocppfast.compat.v16.ChargePoint("CP", conn, response_timeout=None)

    @ocppfast.compat.routing.on("Heartbeat")
    def hb() -> Any:
        return ocppfast.compat.v16.call_result.Heartbeat(current_time="t")

    cp.on_hb = hb  # type: ignore[attr-defined]
    cp.route_map = ocppfast.compat.routing.create_route_map(cp)
    await cp.route_message('[2,"1","Heartbeat",{}]')
    assert conn.sent == ['[3,"1",{"currentTime":"t"}]']
    conn.cp = cp
    conn.answer = _answering(lambda m: [3, m[1], {"currentTime": "x"}])
    res = await cp.call(ocppfast.compat.v16.call.Heartbeat())  # None: wait without a limit
    assert res.current_time == "x"


async def test_async_after_failure_is_logged() -> None:
    conn = Connection()

    @ocppfast.compat.routing.on("Heartbeat")
    def on_hb(self: Any) -> Any:
        return ocppfast.compat.v16.call_result.Heartbeat(current_time="t")

    @ocppfast.compat.routing.after("Heartbeat")
    async def after_hb(self: Any) -> Any:
        raise ValueError("late")

    cp = cp16(OURS, conn, {"on_hb": on_hb, "after_hb": after_hb})
    logs = Logs()
    logging.getLogger("ocpp").addHandler(logs)
    try:
        await cp.route_message('[2,"1","Heartbeat",{}]')
        for _ in range(3):
            await asyncio.sleep(0)
    finally:
        logging.getLogger("ocpp").removeHandler(logs)
    assert not cp._after_tasks
    errors = [r for r in logs.records if r.levelno == logging.ERROR]
    assert errors and isinstance(errors[0].exc_info[1], ValueError)  # type: ignore[index]


# --- shaped like the Home Assistant integration (lbbrhzn/ocpp) --------------------------------


def ha_charge_point(lib: Any) -> Any:
    """A ChargePoint built the way lbbrhzn/ocpp builds it on the base class."""

    class HAChargePoint(lib.cp.ChargePoint):
        def __init__(self, id: Any, connection: Any, version: str) -> None:
            super().__init__(id, connection, response_timeout=2)
            module = lib.v16 if version == "1.6" else lib.v201
            self._call = module.call
            self._call_result = module.call_result
            self._ocpp_version = version
            self.events: list[Any] = []
            self.pings = 0
            # tolerate a non-compliant charger: flipped after the route map was built
            self.route_map["BootNotification"]["_skip_schema_validation"] = True

        @lib.routing.on("BootNotification")
        def on_boot_notification(self, **kwargs: Any) -> Any:
            self.events.append(("boot", kwargs))
            return self._call_result.BootNotification(
                current_time="2026-01-01T00:00:00Z", interval=30, status="Accepted"
            )

        @lib.routing.on("Authorize")
        def on_authorize(self, id_tag: str, **kwargs: Any) -> Any:
            return self._call_result.Authorize(id_tag_info={"status": "Accepted"})

        async def _get_specific_response(self, unique_id: Any, timeout: Any) -> Any:
            resp = await super()._get_specific_response(unique_id, timeout)
            if isinstance(resp, lib.messages.CallError):
                raise resp.to_exception()
            return resp

        async def _handle_call(self, msg: Any) -> Any:
            try:
                return await super()._handle_call(msg)
            except lib.exc.NotImplementedError as e:
                self.events.append(("not implemented", msg.action))
                await self._send(msg.create_call_error(e).to_json())
                return None

        async def monitor_connection(self) -> None:
            while True:
                self.pings += 1
                await asyncio.sleep(0.005)

        async def start(self) -> None:
            await asyncio.gather(super().start(), self.monitor_connection())

    return HAChargePoint


async def test_home_assistant_shaped_integration() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = ha_charge_point(lib)("ha", None, "1.6")
        assert cp._connection is None and cp._response_timeout == 2
        conn.cp = cp
        cp._connection = conn
        conn.inbox.put_nowait(
            '[2,"1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M",'
            '"notInSchema":1}]'
        )
        conn.inbox.put_nowait('[2,"2","Reset",{"type":"Soft"}]')
        conn.inbox.put_nowait('[2,"3","Authorize",{"idTag":"tag"}]')
        conn.inbox.put_nowait(ConnectionError("gone"))
        try:
            await cp.start()
        except ConnectionError:
            pass
        # the charger comes back: a new connection, start() again
        conn2 = Connection()
        cp._connection = conn2
        conn2.cp = cp
        conn2.answer = _answering(lambda m: [4, m[1], "NotSupported", "no", {}])
        cp._unique_id_generator = lambda: "c1"
        task = asyncio.ensure_future(cp.start())
        try:
            await cp.call(cp._call.ClearCache(), suppress=False)
        except lib.exc.NotSupportedError as exc:
            cp.events.append(("raised", exc.description))
        conn2.answer = _answering(
            lambda m: [
                3,
                m[1],
                {"configurationKey": [{"key": "K", "readonly": True, "value": "v"}]},
            ]
        )
        cp._unique_id_generator = lambda: "c2"
        res = await cp.call(cp._call.GetConfiguration(key=["K"]))
        cp.events.append(("config", res.configuration_key[0]["value"]))
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        assert cp.pings > 0
        conn.sent.extend(conn2.sent)
        return cp.events

    mh, _ = await both(scenario, logs=False)
    assert mh["sent"][:3] == [
        '[3,"1",{"currentTime":"2026-01-01T00:00:00Z","interval":30,"status":"Accepted"}]',
        (
            '[4,"2","NotImplemented","Request Action is recognized but not supported by the '
            'receiver",{"cause":"No handler for Reset registered."}]'
        ),
        '[3,"3",{"idTagInfo":{"status":"Accepted"}}]',
    ]
    assert mh["result"][1][-2:] == [["raised", "no"], ["config", "v"]]


async def test_start_handler_timeout_and_bare_yields_stay_in_the_handler() -> None:
    """A handler's asyncio.timeout() around an unanswered call() ends that call only; the loop
    goes on, and the handler runs in start()'s task as it would inline."""
    conn = Connection()
    tasks: list[Any] = []

    @ocppfast.compat.routing.on("Heartbeat")
    async def on_hb(self: Any) -> Any:
        tasks.append(asyncio.current_task())
        await asyncio.sleep(0)  # a bare yield
        try:
            async with asyncio.timeout(0.05):
                await self.call(ocppfast.compat.v16.call.ClearCache())
        except TimeoutError:
            tasks.append("timed out")
        return ocppfast.compat.v16.call_result.Heartbeat(current_time="t")

    cp = cp16(OURS, conn, {"on_hb": on_hb}, response_timeout=5)
    task = asyncio.ensure_future(cp.start())
    conn.inbox.put_nowait('[2,"1","Heartbeat",{}]')
    conn.inbox.put_nowait('[2,"2","Heartbeat",{}]')
    for _ in range(300):
        if len(conn.sent) == 4:
            break
        await asyncio.sleep(0.01)
    assert [json.loads(f)[:2] for f in conn.sent] == [
        [2, json.loads(conn.sent[0])[1]],
        [3, "1"],
        [2, json.loads(conn.sent[2])[1]],
        [3, "2"],
    ]
    assert tasks == [task, "timed out", task, "timed out"]
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- more bad input (shared doc sections 3, 7 and 9) --------------------------------------------


async def test_send_errors_propagate_unchanged() -> None:
    class Broken(Exception):
        pass

    async def scenario(lib: Any, conn: Any) -> Any:
        @lib.routing.on("Heartbeat")
        def on_hb(self: Any) -> Any:
            return lib.v16.call_result.Heartbeat(current_time="t")

        async def send(text: str) -> None:
            raise Broken(text)

        conn.send = send
        cp = cp16(lib, conn, {"on_hb": on_hb})
        results = []
        for call in (
            cp.route_message('[2,"1","Heartbeat",{}]'),
            cp.route_message('[2,"2","Nope",{}]'),
            cp.call(lib.v16.call.Heartbeat(), unique_id="3"),
        ):
            try:
                await call
            except Broken as exc:
                results.append(str(exc))
        return results

    mh, _ = await both(scenario, logs=False)
    assert mh["result"][1][0] == '[3,"1",{"currentTime":"t"}]'
    assert len(mh["result"][1]) == 3


@pytest.mark.parametrize("suppress", [True, False])
async def test_invalid_call_response_raises_whatever_suppress_says(suppress: bool) -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn)
        conn.cp = cp
        conn.answer = _answering(lambda m: [3, m[1], {"idTagInfo": {"status": "Maybe"}}])
        cp._unique_id_generator = lambda: "r"
        return await cp.call(lib.v16.call.Authorize(id_tag="t"), suppress=suppress)

    mh, _ = await both(scenario, logs=False)
    assert mh["result"][:2] == ("raised", "FormatViolationError")


async def test_unknown_key_in_skipped_response_raises_type_error() -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        cp = cp16(lib, conn)
        conn.cp = cp
        conn.answer = _answering(lambda m: [3, m[1], {"currentTime": "t", "extra": 1}])
        cp._unique_id_generator = lambda: "r"
        return await cp.call(lib.v16.call.Heartbeat(), skip_schema_validation=True)

    mh, _ = await both(scenario, logs=False)
    assert mh["result"][:2] == ("raised", "TypeError")


@pytest.mark.parametrize(
    "frame",
    [
        "[2,5,5,{}]",  # action not a string
        (  # minimum
            '[2,"1","StatusNotification",{"connectorId":-1,"errorCode":"NoError",'
            '"status":"Available"}]'
        ),
        '[2,"1","Heartbeat",{"x":null}]',
        '[2,null,"Heartbeat",{}]',
        '[2.0,"1","Heartbeat",{}]',
        '[3,"1",{},"extra"]',
    ],
)
async def test_odd_frames_answered_as_mobilityhouse(frame: str) -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        @lib.routing.on("Heartbeat")
        def on_hb(self: Any) -> Any:
            return lib.v16.call_result.Heartbeat(current_time="t")

        @lib.routing.on("StatusNotification")
        def on_status(self: Any, **kw: Any) -> Any:
            return lib.v16.call_result.StatusNotification()

        cp = cp16(lib, conn, {"on_hb": on_hb, "on_status": on_status})
        await cp.route_message(frame)
        return cp._response_queue.qsize()

    mh = await observe(MH, scenario)
    ours = await observe(OURS, scenario)
    assert ours["result"] == mh["result"]
    assert _strip_cause(ours["sent"]) == _strip_cause(mh["sent"])


@pytest.mark.parametrize("version", ["2.0", "1.5"])
async def test_other_version_strings(version: str) -> None:
    async def scenario(lib: Any, conn: Any) -> Any:
        @lib.routing.on("Heartbeat")
        def on_hb(self: Any) -> Any:
            return lib.v201.call_result.Heartbeat(current_time="t")

        cp = type("CP", (lib.cp.ChargePoint,), {"on_hb": on_hb})("CP", conn)
        cp._ocpp_version = version
        cp._call = lib.v201.call
        cp._call_result = lib.v201.call_result
        try:
            await cp.route_message('[2,"1","Heartbeat",{}]')
        except Exception as exc:  # noqa: BLE001 - compared
            return type(exc).__name__
        return None

    mh = await observe(MH, scenario)
    ours = await observe(OURS, scenario)
    assert ours["result"] == mh["result"]
    assert _strip_cause(ours["sent"]) == _strip_cause(mh["sent"])


async def test_every_frame_passes_through_an_overridden_route_message() -> None:
    conn = Connection()
    routed: list[str] = []

    class CP(ocppfast.compat.v16.ChargePoint):
        @ocppfast.compat.routing.on("Heartbeat")
        async def on_hb(self) -> Any:
            await self.call(ocppfast.compat.v16.call.ClearCache())
            return ocppfast.compat.v16.call_result.Heartbeat(current_time="t")

        async def route_message(self, raw_msg: Any) -> None:
            routed.append(json.loads(raw_msg)[1])
            await super().route_message(raw_msg)

    cp = CP("CP", conn, response_timeout=5)
    cp._unique_id_generator = lambda: "out"
    task = asyncio.ensure_future(cp.start())
    conn.inbox.put_nowait('[2,"in1","Heartbeat",{}]')
    conn.inbox.put_nowait('[2,"in2","Heartbeat",{}]')
    for _ in range(200):
        if conn.sent:
            break
        await asyncio.sleep(0.01)
    conn.inbox.put_nowait('[3,"out",{"status":"Accepted"}]')
    for _ in range(200):
        if len(conn.sent) == 3:
            break
        await asyncio.sleep(0.01)
    conn.inbox.put_nowait('[3,"out",{"status":"Accepted"}]')
    for _ in range(200):
        if len(conn.sent) == 4:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert routed == ["in1", "out", "in2", "out"]
    assert [json.loads(f)[:2] for f in conn.sent] == [
        [2, "out"],
        [3, "in1"],
        [2, "out"],
        [3, "in2"],
    ]
