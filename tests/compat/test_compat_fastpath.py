"""The inline dispatch of ``ocppfast.compat`` against its general path, frame by frame.

On ocppfast's own connection (``compat.serve``/``compat.connect``), a ChargePoint whose dispatch
steps are its own routes each frame from the connection's frame callback, with a flat CALL path
(``ocppfast._compat_fast.Sink``: msgspec validation, cached key tables, msgspec encoding where it
gives ``json.dumps``' text). Overriding any step (here ``_send``, which just calls ``super()``) takes
the general coroutine path (``start`` -> ``route_message`` -> ``_handle_call`` -> ``_send``).
Both run the same frames over real loopback connections; the wire frames each side receives,
the ``ocpp`` log lines (level and text) and what the handlers saw must be identical, for valid
frames, invalid ones, unknown actions, handler exceptions, odd return values, sync handlers that
return awaitables, after-hooks, and a seeded corpus of mutated frames.
"""

from __future__ import annotations

import asyncio
import contextvars
import decimal
import json
import logging
import random
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from unittest import mock

import msgspec
import pytest

import ocppfast.compat
from ocppfast.compat import exceptions
from ocppfast.compat.routing import after, on
from ocppfast.compat.serve import WebSocketConnection, _ServerConnection
from ocppfast.compat.v16 import ChargePoint as ChargePoint16
from ocppfast.compat.v16 import call_result as result16
from ocppfast.compat.v21 import ChargePoint as ChargePoint21
from ocppfast.compat.v21 import call_result as result21
from ocppfast.compat.v201 import ChargePoint as ChargePoint201
from ocppfast.compat.v201 import call_result as result201

SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("SEEN", default="unset")


class Recorder:
    """What handlers saw, in order (the same for both paths), and the paths they ran on."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.inline: list[bool] = []  # True: run from the frame callback (no current task)

    def saw(self, *event: Any) -> None:
        self.events.append(event)
        self.inline.append(asyncio.current_task() is None)


class CP16(ChargePoint16):
    rec: Recorder

    @on("BootNotification")
    def fp_boot(self, charge_point_vendor: str, charge_point_model: str, **kw: Any) -> Any:
        self.rec.saw("boot", charge_point_vendor, charge_point_model, kw)
        return result16.BootNotification(
            current_time="2026-01-01T00:00:00Z", interval=300, status="Accepted"
        )

    @after("BootNotification")
    def fp_after_boot(self, **kw: Any) -> None:
        self.rec.saw("after-boot", kw)

    @on("Heartbeat")
    def fp_heartbeat(self, call_unique_id: Any) -> Any:
        self.rec.saw("heartbeat", call_unique_id, SEEN.get())
        return result16.Heartbeat(current_time=f"T{call_unique_id}")

    @after("Heartbeat")
    def fp_after_heartbeat(self, **kw: Any) -> None:
        raise KeyError("ignored, as in mobilityhouse")

    @on("StatusNotification")
    def fp_status(self, **kw: Any) -> Any:
        self.rec.saw("status", kw)
        SEEN.set(f"status-{kw.get('connector_id')}")
        return result16.StatusNotification()

    @after("StatusNotification")
    async def fp_after_status(self, **kw: Any) -> None:
        self.rec.saw("after-status", kw.get("status"))

    @on("MeterValues")
    def fp_meter_values(self, connector_id: int, meter_value: Any, **kw: Any) -> Any:
        self.rec.saw("meter", connector_id, meter_value, kw)
        return result16.MeterValues()

    @on("DataTransfer")
    def fp_data_transfer(self, vendor_id: str, **kw: Any) -> Any:
        # the answer echoes the request's data: any text, through the wire encoding
        self.rec.saw("data", vendor_id, kw)
        data = kw.get("data")
        if vendor_id == "dict":
            return {"status": "Accepted", "data": data}
        if vendor_id == "none":
            return None
        if vendor_id == "int":
            return 5
        if vendor_id == "awaitable":

            async def later() -> Any:
                await asyncio.sleep(0)
                return result16.DataTransfer(status="Accepted", data=data)

            return later()
        if vendor_id == "bad-answer":
            return result16.DataTransfer(status="Whatever", data=data)
        if vendor_id == "raise":
            raise ValueError("boom")
        if vendor_id == "raise-ocpp":
            raise exceptions.PropertyConstraintViolationError(details={"cause": data})
        if vendor_id == "raise-after-await":

            async def failing() -> Any:
                await asyncio.sleep(0)
                raise exceptions.SecurityError()

            return failing()
        return result16.DataTransfer(status="Accepted", data=data)

    @on("Authorize")
    async def fp_authorize(self, id_tag: str) -> Any:
        self.rec.saw("authorize", id_tag)
        await asyncio.sleep(0)
        return result16.Authorize(id_tag_info={"status": "Accepted", "parentIdTag": None})

    @on("StartTransaction")
    def fp_start_transaction(self, **kw: Any) -> Any:
        self.rec.saw("start", kw)
        # nested dict with a None dropped, a float-free int and a unicode text
        return result16.StartTransaction(
            transaction_id=kw["meter_start"],
            id_tag_info={"status": "Accepted", "expiryDate": None, "parentIdTag": "é"},
        )

    @on("Custom", skip_schema_validation=True)
    def fp_custom(self, **kw: Any) -> Any:
        self.rec.saw("custom", kw)
        return {
            "floatValue": 1.5,
            "tiny": 1e-7,
            "huge": 1e22,
            "dec": decimal.Decimal("2.25"),
            "nan": float("nan"),
            "inf": float("inf"),
            "big_int": 10**30,
            "text": kw.get("text", "ü\x7f"),
            "flag": True,
            "nested_list": [1, None, {"inner_key": None, "other_key": 2.0}],
        }

    @after("StopTransaction")
    def fp_after_only(self, **kw: Any) -> None:  # an @after without @on: NotImplemented
        self.rec.saw("after-only", kw)


class CP201(ChargePoint201):
    rec: Recorder

    @on("BootNotification")
    def fp_boot(self, charging_station: Any, reason: str, **kw: Any) -> Any:
        self.rec.saw("boot201", charging_station, reason, kw)
        return result201.BootNotification(
            current_time="2026-01-01T00:00:00Z",
            interval=10,
            status="Accepted",
            custom_data={"vendorId": "v", "extraField": 1},
        )

    @on("Heartbeat")
    def fp_heartbeat(self, call_unique_id: Any, **kw: Any) -> Any:
        self.rec.saw("heartbeat201", call_unique_id, kw)
        return result201.Heartbeat(current_time=f"T{call_unique_id}")

    @on("DataTransfer")
    def fp_data_transfer(self, vendor_id: str, **kw: Any) -> Any:
        self.rec.saw("data201", vendor_id, kw)
        return result201.DataTransfer(status="Accepted", data=kw.get("data"))


class CP21(ChargePoint21):
    rec: Recorder

    @on("BootNotification")
    def fp_boot(self, **kw: Any) -> Any:
        self.rec.saw("boot21", kw)
        return result21.BootNotification(
            current_time="2026-01-01T00:00:00Z", interval=10, status="Accepted"
        )

    @on("Heartbeat")
    def fp_heartbeat(self, call_unique_id: Any) -> Any:
        self.rec.saw("heartbeat21", call_unique_id)
        return result21.Heartbeat(current_time=f"T{call_unique_id}")


SUBPROTOCOL = {ChargePoint16: "ocpp1.6", ChargePoint201: "ocpp2.0.1", ChargePoint21: "ocpp2.1"}


def general(cls: type) -> type:
    """The same class with one dispatch step overridden (behaviour unchanged): the general
    path."""

    async def _send(self: Any, message: str) -> None:
        await cls._send(self, message)

    return type(f"General{cls.__name__}", (cls,), {"_send": _send})


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        # level and text; tracebacks name different frames on the two paths
        self.lines.append((record.levelname, record.getMessage()))


def _marker(i: int) -> str:
    return f'[2,"sync-{i}","Heartbeat",{{}}]'


async def run(cls: type, frames: list[str], level: int = logging.DEBUG) -> dict[str, Any]:
    """Serve ``cls`` on compat.serve, send ``frames`` from a compat.connect client, each followed
    by a Heartbeat marker; returns what came back per frame, the log lines (the ``ocpp`` logger
    set to ``level``) and the events."""
    rec = Recorder()
    cps: list[Any] = []
    ended: list[BaseException | None] = []

    async def on_connect(ws: Any) -> None:
        cp = cls("CP-1", ws)
        cp.rec = rec
        cps.append(cp)
        SEEN.set("from on_connect")
        try:
            await cp.start()
        except BaseException as exc:
            ended.append(exc)
            raise

    lines = Lines()
    logger = logging.getLogger("ocpp")
    old_level = logger.level
    logger.addHandler(lines)
    logger.setLevel(level)
    sub = next(SUBPROTOCOL[c] for c in cls.__mro__ if c in SUBPROTOCOL)
    server = await ocppfast.compat.serve(on_connect, "127.0.0.1", 0, subprotocols=[sub])
    replies: list[list[str]] = []
    try:
        port = server.sockets[0].getsockname()[1]
        async with ocppfast.compat.connect(f"ws://127.0.0.1:{port}/CP-1", subprotocols=[sub]) as ws:
            for i, frame in enumerate(frames):
                await ws.send(frame)
                await ws.send(_marker(i))
                got: list[str] = []
                while True:
                    try:
                        text = await asyncio.wait_for(ws.recv(), 5)
                    except (ocppfast.compat.ConnectionClosed, TimeoutError):
                        got.append("<closed>")
                        break
                    if text.startswith(f'[3,"sync-{i}"'):
                        break
                    got.append(text)
                replies.append(got)
                if got and got[-1] == "<closed>":
                    break
    finally:
        server.close()
        await server.wait_closed()
        logger.removeHandler(lines)
        logger.setLevel(old_level)
    # the markers' own log lines are part of the comparison too
    return {
        "replies": replies,
        "lines": lines.lines,
        "events": rec.events,
        "inline": rec.inline,
        "ended": [type(e).__name__ for e in ended],
    }


async def both(
    cls: type, frames: list[str], level: int = logging.DEBUG
) -> tuple[dict[str, Any], dict[str, Any]]:
    fast = await run(cls, frames, level)
    slow = await run(general(cls), frames, level)
    return fast, slow


def assert_same(fast: dict[str, Any], slow: dict[str, Any]) -> None:
    for i, (a, b) in enumerate(zip(fast["replies"], slow["replies"], strict=True)):
        assert a == b, f"frame {i}: {a} != {b}"
    assert fast["lines"] == slow["lines"]
    assert fast["events"] == slow["events"]
    assert fast["ended"] == slow["ended"]


V16_VALID = [
    (
        '[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M",'
        '"firmwareVersion":"1.0"}]'
    ),
    '[2,"h1","Heartbeat",{}]',
    '[2,7,"Heartbeat",{}]',
    '[2,"s1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]',
    (
        '[2,"m1","MeterValues",{"connectorId":1,"transactionId":42,"meterValue":[{"timestamp":'
        '"2026-01-01T00:00:00Z","sampledValue":[{"value":"1.5","measurand":"Voltage","unit":"V"},'
        '{"value":"2","context":"Sample.Periodic"}]}]}]'
    ),
    (
        '[2,"st1","StartTransaction",{"connectorId":1,"idTag":"T","meterStart":5,'
        '"timestamp":"2026-01-01T00:00:00Z"}]'
    ),
    '[2,"a1","Authorize",{"idTag":"TAG"}]',
]
DATA_CASES = [
    "plain", "é", "日本", "\x7f", "a\u2028b", "\x00\x1f", '"quoted" \\ back', "emoji \U0001f600",
    "</script>", "",
]  # fmt: skip
VENDORS = [
    "echo", "dict", "none", "int", "awaitable", "bad-answer", "raise", "raise-ocpp",
    "raise-after-await",
]  # fmt: skip
V16_DATA = [
    json.dumps([2, f"d{i}-{j}", "DataTransfer", {"vendorId": v, "data": d}])
    for i, v in enumerate(VENDORS)
    for j, d in enumerate(DATA_CASES[:3] if v != "echo" else DATA_CASES)
]
V16_BAD = [
    '[2,"x1","BootNotification",{"chargePointVendor":"V"}]',  # required missing
    '[2,"x2","BootNotification",{"chargePointVendor":5,"chargePointModel":"M"}]',  # type
    '[2,"x3","Heartbeat",{"extra":1}]',  # additionalProperties
    '[2,"x4","StatusNotification",{"connectorId":1,"errorCode":"Nope","status":"Available"}]',
    '[2,"x5","BootNotification",{"chargePointVendor":"' + "v" * 30 + '","chargePointModel":"M"}]',
    '[2,"x6","Reset",{"type":"Hard"}]',  # known action, no handler
    '[2,"x7","NoSuchAction",{}]',  # unknown action
    '[2,"x8",["not","hashable"],{}]',
    '[2,"x9","StopTransaction",{"meterStop":1,"timestamp":"t","transactionId":1}]',
    '[2,"x10","Custom",{"text":"plain"}]',
    '[2,"x11","Custom",{"someKey":{"deepKey":[{"aB":1}]}}]',
    '[2,"x12","Heartbeat",[]]',
    '[2, "x13" , "Heartbeat" , {} ]',
    '[2.0,"x14","Heartbeat",{}]',
    '[true,"x15","Heartbeat",{}]',
    '[3,"x16",{"status":"Accepted"}]',  # unsolicited CALLRESULT: queued, no answer
    '[4,"x17","GenericError","desc",{}]',
    '[4,"x18","GenericError","desc"]',
    '[2,"x19","Heartbeat"]',
    '[5,"x20",{}]',
    "[]",
    "{}",
    "not json",
    '"text"',
    '[2,"x21","Heartbeat",{}] trailing',
    '[2,"x22","Heartbeat",{},"extra"]',
    '[2,"x23","Heartbeat",{"a":NaN}]',
    '[2,"x24","DataTransfer",{"vendorId":"echo","data":"' + "\\ud800" + '"}]',
    '[2,{"id":1},"Heartbeat",{}]',
    '[2,null,"Heartbeat",{}]',
    (
        '[2,"x25","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"t",'
        '"sampledValue":[{"value":1}]}]}]'
    ),
]


async def test_v16_frames_same_on_both_paths() -> None:
    frames = V16_VALID * 2 + V16_DATA * 2 + V16_BAD + V16_VALID
    fast, slow = await both(CP16, frames)
    assert_same(fast, slow)
    # it did take the inline path: sync handlers ran from the frame callback, async ones not
    assert any(fast["inline"]) and not any(slow["inline"])
    for event, inline in zip(fast["events"], fast["inline"], strict=True):
        if event[0] in ("authorize", "after-status"):
            assert not inline  # coroutines run in start()'s task, as in the general path
    # a context variable set before start() is seen by the handlers, and one set by a
    # handler by the next ones, on both paths
    beats = [e for e in fast["events"] if e[0] == "heartbeat"]
    assert beats[0][2] == "from on_connect"
    assert beats[-1][2] == "status-1"
    # answers that are msgspec's bytes and answers that are json.dumps' both occur
    flat = [r for rs in fast["replies"] for r in rs]
    assert '[3,"d0-1",{"status":"Accepted","data":"\\u00e9"}]' in flat
    assert '[3,"d0-3",{"status":"Accepted","data":"\\u007f"}]' in flat


async def test_v201_and_v21_frames_same_on_both_paths() -> None:
    frames201 = [
        (
            '[2,"b","BootNotification",{"chargingStation":{"model":"M","vendorName":"V",'
            '"customData":{"vendorId":"x","someExtra":{"innerKey":1}}},"reason":"PowerUp"}]'
        ),
        '[2,"h","Heartbeat",{"customData":{"vendorId":"x"}}]',
        '[2,"d","DataTransfer",{"vendorId":"v","data":{"someKey":[{"deepKey":1.5}],"x":null}}]',
        '[2,"d2","DataTransfer",{"vendorId":"v","data":"é"}]',
        '[2,"bad","BootNotification",{"chargingStation":{"model":"M"},"reason":"PowerUp"}]',
        '[2,"r","Reset",{"type":"Immediate"}]',
    ] * 2
    fast, slow = await both(CP201, frames201)
    assert_same(fast, slow)
    assert any(fast["inline"])
    frames21 = [
        (
            '[2,"b","BootNotification",{"chargingStation":{"model":"M","vendorName":"V"},'
            '"reason":"PowerUp"}]'
        ),
        '[2,"h","Heartbeat",{}]',
        '[2,"n","NoSuch",{}]',
        '[2,"r","Reset",{"type":"Immediate"}]',
    ] * 2
    fast, slow = await both(CP21, frames21)
    assert_same(fast, slow)


def _mutations(seed: int, base: list[str], n: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = '[]{}",:0123456789.-eEnulltrfasHhé\x7f\\ '
    out = []
    for _ in range(n):
        frame = rng.choice(base)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(frame) + 1)
            op = rng.random()
            if op < 0.4:
                frame = frame[:i] + frame[i + 1 :]
            elif op < 0.8:
                frame = frame[:i] + rng.choice(alphabet) + frame[i:]
            else:
                frame = frame[:i] + frame[i:][::-1][: rng.randint(0, 5)] + frame[i:]
        out.append(frame)
    return out


@pytest.mark.parametrize("seed", [1, 2])
async def test_mutated_frames_same_on_both_paths(seed: int) -> None:
    frames = _mutations(seed, V16_VALID + V16_DATA[:6] + V16_BAD[:10], 150)
    # the flat path only takes a route once the step-by-step path has validated it once
    fast, slow = await both(CP16, V16_VALID + frames)
    assert_same(fast, slow)


async def test_an_unencodable_answer_ends_start_on_both_paths() -> None:
    class Broken(CP16):
        @on("Heartbeat")
        def fp_heartbeat(self, call_unique_id: Any) -> Any:
            return result16.Heartbeat(current_time=object())  # type: ignore[arg-type]

    frames = ['[2,"h","Heartbeat",{}]']
    fast, slow = await both(Broken, frames)
    assert fast["replies"] == slow["replies"] == [["<closed>"]]
    assert fast["ended"] == slow["ended"]
    assert fast["lines"] == slow["lines"]


Exchange = Callable[[Any, Any], Awaitable[None]]
# the module (``ocppfast.compat.serve`` is also the name of its serve() function)
serve_module = sys.modules[WebSocketConnection.__module__]


async def session(cls: type, exchange: Exchange, connection_class: type | None = None) -> Any:
    """Serve ``cls`` on loopback, connect, run ``exchange(ws, cps)``; the ChargePoint made."""
    rec = Recorder()
    cps: list[Any] = []

    async def on_connect(ws: Any) -> None:
        cp = cls("CP-1", ws)
        cp.rec = rec
        cps.append(cp)
        await cp.start()

    with mock.patch.object(
        serve_module, "_ServerConnection", connection_class or _ServerConnection
    ):
        server = await ocppfast.compat.serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"])
        try:
            port = server.sockets[0].getsockname()[1]
            async with ocppfast.compat.connect(
                f"ws://127.0.0.1:{port}/CP-1", subprotocols=["ocpp1.6"]
            ) as ws:
                await exchange(ws, cps)
        finally:
            server.close()
            await server.wait_closed()
    return cps[0]


async def test_a_step_mocked_while_running_turns_the_inline_path_off() -> None:
    sent: list[str] = []

    async def exchange(ws: Any, cps: list[Any]) -> None:
        await ws.send('[2,"1","Heartbeat",{}]')
        assert await ws.recv() == '[3,"1",{"currentTime":"T1"}]'
        cp = cps[0]
        original = cp._send

        async def spy(message: str) -> None:
            sent.append(message)
            await original(message)

        cp._send = spy  # as tests mock it
        await ws.send('[2,"2","Heartbeat",{}]')
        assert await ws.recv() == '[3,"2",{"currentTime":"T2"}]'
        del cp._send
        await ws.send('[2,"3","Heartbeat",{}]')
        assert await ws.recv() == '[3,"3",{"currentTime":"T3"}]'

    cp = await session(CP16, exchange)
    assert sent == ['[3,"2",{"currentTime":"T2"}]']
    assert cp.rec.inline == [True, False, True]


@pytest.mark.parametrize(
    "step", ["start", "route_message", "_handle_call", "_send", "_get_specific_response"]
)
async def test_an_overridden_step_takes_the_general_path(step: str) -> None:
    async def passthrough(self: Any, *args: Any) -> Any:
        return await getattr(CP16, step)(self, *args)

    cls = type("Overridden", (CP16,), {step: passthrough})
    result = await run(cls, ['[2,"1","Heartbeat",{}]', '[2,"2","Heartbeat",{}]'])
    assert result["replies"] == [['[3,"1",{"currentTime":"T1"}]'], ['[3,"2",{"currentTime":"T2"}]']]
    assert result["inline"] and not any(result["inline"])


# --- msgspec's JSON where the flat path uses it is json.dumps' text --------------------------


def _texts(rng: random.Random) -> list[str]:
    pools = [
        "".join(chr(c) for c in range(0x20, 0x7F)),
        "".join(chr(c) for c in range(0x20)) + "\x7f",
        "éüß日本語\u2028\u2029\ufeff",
        "\U0001f600\U00010000",
    ]
    out = []
    for _ in range(400):
        k = rng.randint(0, 12)
        out.append("".join(rng.choice(rng.choice(pools)) for _ in range(k)))
    return out


def test_msgspec_bytes_equal_json_dumps_when_ascii_without_del() -> None:
    """The premise of the flat path's encoding: for frames of str / int / bool / str and int
    enums (nested in dicts), msgspec's output, when ASCII and free of DEL, is exactly
    ``json.dumps(..., separators=(",", ":"))``; when not, the flat path uses json.dumps."""
    from ocppfast.compat.v16.enums import RegistrationStatus

    rng = random.Random(7)
    taken = declined = 0
    for text in _texts(rng):
        for frame in (
            [3, text, {"a": text}],
            [3, "id", {"status": RegistrationStatus.accepted, "n": rng.randint(-(2**63), 2**63)}],
            [3, rng.randint(0, 10**6), {"k" + text: True, "z": False, "i": 0}],
        ):
            data = msgspec.json.encode(frame)
            expected = json.dumps(frame, separators=(",", ":"))
            if data.isascii() and b"\x7f" not in data:
                taken += 1
                assert data.decode() == expected
            else:
                declined += 1
                assert data.decode() != expected
    assert taken > 100 and declined > 100


async def test_floats_decimal_nan_and_unicode_answers_use_json_dumps() -> None:
    fast, slow = await both(
        CP16, ['[2,"c1","Custom",{"text":"x"}]', '[2,"c2","Custom",{"text":"é"}]'] * 2
    )
    assert_same(fast, slow)
    reply = fast["replies"][0][0]
    assert reply == json.dumps(
        [
            3,
            "c1",
            {
                "floatValue": 1.5,
                "tiny": 1e-7,
                "huge": 1e22,
                "dec": 2.2,
                "nan": float("nan"),
                "inf": float("inf"),
                "bigInt": 10**30,
                "text": "x",
                "flag": True,
                "nestedList": [1, {"otherKey": 2.0}],
            },
        ],
        separators=(",", ":"),
    )


async def test_a_handler_awaiting_call_gets_its_answer_on_the_inline_path() -> None:
    """An async handler that calls the peer back (mobilityhouse deadlocks there): the CALL is
    handed to start(), which reads the CALLRESULT while the handler waits; a call made outside
    any handler gets its CALLRESULT through the frame callback."""
    from ocppfast.compat.v16 import call

    class Server(ChargePoint16):
        @on("BootNotification")
        async def fp_boot_calls_back(self, **kw: Any) -> Any:
            version = await self.call(call.GetLocalListVersion())
            return result16.BootNotification(
                current_time="2026-01-01T00:00:00Z",
                interval=version.list_version,
                status="Accepted",
            )

    class Client(ChargePoint16):
        @on("GetLocalListVersion")
        def fp_list_version(self) -> Any:
            return result16.GetLocalListVersion(list_version=7)

    async def exchange(ws: Any, servers: list[Any]) -> None:
        client = Client("CP-1", ws)
        running = asyncio.ensure_future(client.start())
        boot = await asyncio.wait_for(
            client.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V")),
            10,
        )
        assert boot.interval == 7
        again = await asyncio.wait_for(servers[0].call(call.GetLocalListVersion()), 10)
        assert again.list_version == 7
        running.cancel()

    await session(Server, exchange)
