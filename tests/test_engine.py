"""The RPC engine without sockets: dispatch, correlation, the one-outstanding-CALL queue,
timeouts, connection loss, error answers. Runs in both implementations (compiled and pure)."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
from typing import Annotated, Any

import msgspec
import pytest

from ocppfast import errors
from ocppfast.actions import make_action
from ocppfast.charge_point import ChargePoint

from .conftest import CollectingTransport

Str20 = Annotated[str, msgspec.Meta(max_length=20)]


class PingRequest(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    text: Str20 = msgspec.field(name="text")
    count: int | msgspec.UnsetType = msgspec.UNSET


class PingResponse(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    echo: str


class EmptyRequest(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    pass


class EmptyResponse(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    pass


class BootNotificationRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    model: str


class BootNotificationResponse(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: str


ACTIONS = {
    "Ping": make_action("Ping", PingRequest, PingResponse, "both"),
    "Empty": make_action("Empty", EmptyRequest, EmptyResponse, "both"),
    "Unhandled": make_action("Unhandled", EmptyRequest, EmptyResponse, "both"),
    "BootNotification": make_action(
        "BootNotification", BootNotificationRequest, BootNotificationResponse, "charge_point"
    ),
    "Stream": make_action("Stream", PingRequest, None, "charge_point"),
}


def make_cp(
    transport: CollectingTransport, subprotocol: str = "ocpp2.0.1", **options: Any
) -> ChargePoint:
    counter = itertools.count(1)
    options.setdefault("id_factory", lambda: f"id{next(counter)}")
    cp = ChargePoint(asyncio.get_running_loop(), subprotocol, ACTIONS, identity="CP1", **options)
    cp.attach(transport)
    return cp


def call(uid: str, action: str, payload: bytes = b"{}") -> bytes:
    return b'[2,"' + uid.encode() + b'","' + action.encode() + b'",' + payload + b"]"


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


# --- incoming CALLs ----------------------------------------------------------------------


async def test_sync_handler_answers_inline(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    cp.on("Ping", lambda req: PingResponse(echo=req.text * 2))
    cp.receive(call("a1", "Ping", b'{"text":"hi"}'))
    assert transport.pop() == [3, "a1", {"echo": "hihi"}]


async def test_async_handler_and_decorator(transport: CollectingTransport) -> None:
    cp = make_cp(transport)

    @cp.on("Ping")
    async def ping(req: PingRequest) -> PingResponse:
        await asyncio.sleep(0)
        return PingResponse(echo=req.text)

    cp.receive(call("a2", "Ping", b'{"text":"x"}'))
    await settle()
    assert transport.pop() == [3, "a2", {"echo": "x"}]


async def test_handler_may_return_dict_or_none(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    cp.on("Ping", lambda req: {"echo": "d"})
    cp.on("Empty", lambda req: None)
    cp.receive(call("1", "Ping", b'{"text":"x"}'))
    assert transport.pop() == [3, "1", {"echo": "d"}]
    cp.receive(call("2", "Empty"))
    assert transport.pop() == [3, "2", {}]


@pytest.mark.parametrize(
    "version, code", [("ocpp1.6", "NotImplemented"), ("ocpp2.0.1", "NotImplemented")]
)
async def test_unknown_action(transport: CollectingTransport, version: str, code: str) -> None:
    cp = make_cp(transport, version)
    cp.receive(call("u1", "NoSuchAction"))
    msg = transport.pop()
    assert msg[:3] == [4, "u1", code] and msg[4] == {}


async def test_known_action_without_handler(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    cp.receive(call("u2", "Unhandled"))
    assert transport.pop()[:3] == [4, "u2", "NotSupported"]


@pytest.mark.parametrize(
    "payload, code16, code2",
    [
        (b"{}", "OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
        (b'{"text":5}', "TypeConstraintViolation", "TypeConstraintViolation"),
        (
            b'{"text":"' + b"x" * 21 + b'"}',
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
        ),
        (b'{"text":"x","extra":1}', "FormationViolation", "FormatViolation"),
        (b"[1]", "FormationViolation", "FormatViolation"),
        (b"null", "FormationViolation", "FormatViolation"),
        (b'{"text":"x","count":null}', "TypeConstraintViolation", "TypeConstraintViolation"),
    ],
)
@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_invalid_payload(
    transport: CollectingTransport, payload: bytes, code16: str, code2: str, version: str
) -> None:
    cp = make_cp(transport, version)
    seen = []
    cp.on("Ping", lambda req: seen.append(req) or PingResponse(echo=""))
    cp.receive(call("p1", "Ping", payload))
    msg = transport.pop()
    assert msg[:3] == [4, "p1", code16 if version == "ocpp1.6" else code2]
    assert msg[4] == {} and len(msg[3]) <= 255
    assert not seen  # the handler never saw it


async def test_handler_raises_ocpp_error(transport: CollectingTransport) -> None:
    cp = make_cp(transport, "ocpp1.6")

    def handler(req: Any) -> Any:
        raise errors.OccurrenceConstraintViolationError("connector 3 unknown", {"connector": 3})

    cp.on("Ping", handler)
    cp.receive(call("e1", "Ping", b'{"text":"x"}'))
    assert transport.pop() == [
        4,
        "e1",
        "OccurenceConstraintViolation",
        "connector 3 unknown",
        {"connector": 3},
    ]


async def test_handler_crash_is_internal_error_without_internals(
    transport: CollectingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    cp = make_cp(transport)

    def handler(req: Any) -> Any:
        raise KeyError("secret-database-password")

    async def ahandler(req: Any) -> Any:
        raise RuntimeError("secret-token")

    cp.on("Ping", handler)
    cp.on("Empty", ahandler)
    with caplog.at_level(logging.ERROR, "ocppfast"):
        cp.receive(call("c1", "Ping", b'{"text":"x"}'))
        cp.receive(call("c2", "Empty"))
        await settle()
    first, second = transport.sent
    for data, uid in ((first, "c1"), (second, "c2")):
        msg = msgspec.json.decode(data)
        assert msg[:3] == [4, uid, "InternalError"] and msg[4] == {}
        assert b"secret" not in data and b"Traceback" not in data
    # ... but the traceback is logged locally
    assert "secret-database-password" in caplog.text and "Traceback" in caplog.text


async def test_handler_returns_wrong_type(
    transport: CollectingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    cp = make_cp(transport)
    cp.on("Ping", lambda req: EmptyResponse())
    cp.on("Empty", lambda req: 42)
    with caplog.at_level(logging.ERROR, "ocppfast"):
        cp.receive(call("w1", "Ping", b'{"text":"x"}'))
        cp.receive(call("w2", "Empty"))
    assert [msgspec.json.decode(d)[:3] for d in transport.sent] == [
        [4, "w1", "InternalError"],
        [4, "w2", "InternalError"],
    ]
    assert "EmptyResponse" in caplog.text


async def test_handler_returns_invalid_response(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    cp.on("Ping", lambda req: {"echo": 5})  # dict that does not validate
    cp.receive(call("v1", "Ping", b'{"text":"x"}'))
    assert transport.pop()[:3] == [4, "v1", "InternalError"]


async def test_validation_off_gives_dicts(transport: CollectingTransport) -> None:
    cp = make_cp(transport, validate_incoming=False)
    got = []
    cp.on("Ping", lambda req: got.append(req) or {"echo": "ok"})
    cp.receive(call("n1", "Ping", b'{"text":5,"extra":true}'))
    assert got == [{"text": 5, "extra": True}]
    assert transport.pop() == [3, "n1", {"echo": "ok"}]
    cp.receive(call("n2", "Ping", b"[1]"))
    assert transport.pop()[:3] == [4, "n2", "FormatViolation"]


async def test_bad_frame_gets_callerror_and_limit_closes(transport: CollectingTransport) -> None:
    cp = make_cp(transport, max_bad_messages=3)
    cp.receive(b"garbage")
    assert transport.pop()[:3] == [4, "-1", "RpcFrameworkError"]
    cp.receive(b'[9,"x"]')
    assert transport.pop()[:3] == [4, "x", "MessageTypeNotSupported"]
    assert transport.closed is None
    cp.receive(b"{}")
    assert transport.closed == (1002, b"too many invalid messages") and transport.disconnected


async def test_good_message_resets_bad_count(transport: CollectingTransport) -> None:
    cp = make_cp(transport, max_bad_messages=2)
    cp.on("Empty", lambda req: EmptyResponse())
    for _ in range(5):
        cp.receive(b"garbage")
        cp.receive(call("ok", "Empty"))
    assert transport.closed is None


async def test_unknown_type_ignored_on_16(transport: CollectingTransport) -> None:
    cp = make_cp(transport, "ocpp1.6")
    cp.receive(b'[9,"x",{}]')
    assert transport.sent == []


# --- outgoing CALLs ----------------------------------------------------------------------


async def test_call_and_result(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    task = asyncio.ensure_future(cp.call("Ping", PingRequest(text="hey")))
    await settle()
    assert transport.pop() == [2, "id1", "Ping", {"text": "hey"}]
    assert cp.pending_count == 1
    cp.receive(b'[3,"id1",{"echo":"hey"}]')
    assert await task == PingResponse(echo="hey")
    assert cp.pending_count == 0


async def test_call_infers_action_from_request_type(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    task = asyncio.ensure_future(cp.call(PingRequest(text="a")))
    await settle()
    assert transport.pop()[2] == "Ping"
    cp.receive(b'[3,"id1",{"echo":""}]')
    await task


async def test_call_with_dict_payload_is_validated(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    # Our own payload failing its schema is a PayloadError (nothing sent), not the class a
    # CALLERROR received from the peer becomes.
    with pytest.raises(errors.PayloadError) as info:
        await cp.call("Ping", {"text": 1})
    assert info.value.code == "TypeConstraintViolation" and "$.text" in info.value.description
    assert not isinstance(info.value, errors.OCPPError)
    with pytest.raises(errors.PayloadError) as info:
        await cp.call("Ping", PingRequest(text="x" * 30))
    assert info.value.code == "PropertyConstraintViolation"
    with pytest.raises(ValueError, match="unknown action"):
        await cp.call("Nope", {})
    assert transport.sent == [] and cp.pending_count == 0


async def test_call_error_raises_matching_exception(transport: CollectingTransport) -> None:
    cp = make_cp(transport, "ocpp1.6")
    task = asyncio.ensure_future(cp.call("Empty", {}))
    await settle()
    cp.receive(b'[4,"id1","OccurenceConstraintViolation","bad",{"k":1}]')
    with pytest.raises(errors.OccurrenceConstraintViolationError) as info:
        await task
    assert (info.value.description, info.value.details) == ("bad", {"k": 1})
    task = asyncio.ensure_future(cp.call("Empty", {}))
    await settle()
    cp.receive(b'[4,"id2","VendorSpecificCode","x",{}]')
    with pytest.raises(errors.GenericError) as info2:
        await task
    assert info2.value.code == "VendorSpecificCode"


async def test_one_outstanding_call_fifo(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    tasks = [asyncio.ensure_future(cp.call("Ping", {"text": str(i)})) for i in range(3)]
    await settle()
    assert len(transport.sent) == 1 and cp.queued_count == 2
    for i in range(3):
        sent = transport.pop()
        assert sent[1:] == [f"id{i + 1}", "Ping", {"text": str(i)}]
        cp.receive(f'[3,"id{i + 1}",{{"echo":"{i}"}}]'.encode())
        await settle()
    assert [t.result().echo for t in tasks] == ["0", "1", "2"]


async def test_max_outstanding_option(transport: CollectingTransport) -> None:
    cp = make_cp(transport, max_outstanding=2)
    for i in range(3):
        asyncio.ensure_future(cp.call("Empty", {}))
    await settle()
    assert len(transport.sent) == 2 and cp.queued_count == 1


async def test_unknown_id_never_completes_the_wrong_call(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    task = asyncio.ensure_future(cp.call("Ping", {"text": "x"}))
    await settle()
    cp.receive(b'[3,"other",{"echo":"wrong"}]')
    cp.receive(b'[4,"other2","GenericError","",{}]')
    await settle()
    assert not task.done() and cp.pending_count == 1
    cp.receive(b'[3,"id1",{"echo":"right"}]')
    assert (await task).echo == "right"


async def test_timeout_then_late_reply_dropped(transport: CollectingTransport) -> None:
    cp = make_cp(transport, call_timeout=0.15)
    first = asyncio.ensure_future(cp.call("Ping", {"text": "a"}))
    # (a timeout runs from call(), queued or not: the second one needs its own, longer one)
    second = asyncio.ensure_future(cp.call("Ping", {"text": "b"}, timeout=5))
    with pytest.raises(errors.CallTimeoutError) as info:
        await asyncio.wait_for(first, 5)
    assert info.value.action == "Ping" and info.value.unique_id == "id1"
    assert "Ping" in str(info.value) and "id1" in str(info.value)
    await settle()
    # the slot freed: the queued call went out
    assert [msgspec.json.decode(d)[1] for d in transport.sent] == ["id1", "id2"]
    cp.receive(b'[3,"id1",{"echo":"late"}]')  # late: dropped
    assert not second.done()
    cp.receive(b'[3,"id2",{"echo":"b"}]')
    assert (await second).echo == "b"


async def test_per_call_timeout(transport: CollectingTransport) -> None:
    cp = make_cp(transport, call_timeout=60)
    with pytest.raises(errors.CallTimeoutError):
        await asyncio.wait_for(cp.call("Empty", {}, timeout=0.1), 5)
    assert cp.pending_count == 0


async def test_connection_lost_fails_pending_and_queued(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    tasks = [asyncio.ensure_future(cp.call("Empty", {})) for _ in range(3)]
    await settle()
    cp.connection_lost()
    for t in tasks:
        with pytest.raises(errors.ConnectionClosedError):
            await t
    assert cp.pending_count == 0 and cp.queued_count == 0
    with pytest.raises(errors.ConnectionClosedError):
        await cp.call("Empty", {})


async def test_cancelled_queued_call_is_skipped(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    first = asyncio.ensure_future(cp.call("Ping", {"text": "1"}))
    second = asyncio.ensure_future(cp.call("Ping", {"text": "2"}))
    third = asyncio.ensure_future(cp.call("Ping", {"text": "3"}))
    await settle()
    second.cancel()
    await settle()
    cp.receive(b'[3,"id1",{"echo":"1"}]')
    await settle()
    assert transport.sent[-1] == b'[2,"id2","Ping",{"text":"3"}]'
    cp.receive(b'[3,"id2",{"echo":"3"}]')
    assert (await first).echo == "1" and (await third).echo == "3"


async def test_invalid_callresult_fails_call(transport: CollectingTransport) -> None:
    cp = make_cp(transport, "ocpp2.0.1")
    task = asyncio.ensure_future(cp.call("Ping", {"text": "x"}))
    await settle()
    transport.sent.clear()
    cp.receive(b'[3,"id1",{"echo":5}]')
    with pytest.raises(errors.TypeConstraintViolationError):
        await task
    assert transport.sent == []  # 2.0.1: a CALLRESULT is never answered


async def test_invalid_callresult_gets_callresulterror_on_21(
    transport: CollectingTransport,
) -> None:
    cp = make_cp(transport, "ocpp2.1")
    task = asyncio.ensure_future(cp.call("Ping", {"text": "x"}))
    await settle()
    transport.sent.clear()
    cp.receive(b'[3,"id1",{"echo":5}]')
    with pytest.raises(errors.TypeConstraintViolationError):
        await task
    msg = transport.pop()
    assert msg[:3] == [5, "id1", "TypeConstraintViolation"] and msg[4] == {}


async def test_broken_callresult_frame_fails_call_at_once(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    task = asyncio.ensure_future(cp.call("Ping", {"text": "x"}))
    await settle()
    cp.receive(b'[3,"id1",{"echo":')
    with pytest.raises(errors.FormatViolationError):
        await asyncio.wait_for(task, 1)
    assert cp.pending_count == 0


async def test_received_callresulterror(transport: CollectingTransport) -> None:
    cp = make_cp(transport, "ocpp2.1")
    task = asyncio.ensure_future(cp.call("Ping", {"text": "x"}))
    await settle()
    cp.receive(b'[5,"id1","PropertyConstraintViolation","bad echo",{}]')
    with pytest.raises(errors.CallResultError) as info:
        await task
    assert isinstance(info.value.error, errors.PropertyConstraintViolationError)
    cp.receive(b'[5,"nope","FormatViolation","",{}]')  # for one of our results: logged only


# --- handlers calling back, crossing calls -------------------------------------------------


async def test_handler_calling_back_does_not_deadlock(transport: CollectingTransport) -> None:
    cp = make_cp(transport)

    @cp.on("Ping")
    async def ping(req: PingRequest) -> PingResponse:
        inner = await cp.call("Ping", {"text": "inner"})
        return PingResponse(echo="outer+" + inner.echo)

    cp.receive(call("x1", "Ping", b'{"text":"outer"}'))
    await settle()
    assert transport.pop() == [2, "id1", "Ping", {"text": "inner"}]
    cp.receive(b'[3,"id1",{"echo":"in"}]')
    await settle()
    assert transport.pop() == [3, "x1", {"echo": "outer+in"}]


async def test_crossing_calls(transport: CollectingTransport) -> None:
    cp = make_cp(transport)
    cp.on("Ping", lambda req: PingResponse(echo=req.text))
    mine = asyncio.ensure_future(cp.call("Ping", {"text": "mine"}))
    await settle()
    cp.receive(call("theirs", "Ping", b'{"text":"theirs"}'))  # their CALL crosses ours
    assert transport.pop() == [3, "theirs", {"echo": "theirs"}]
    cp.receive(b'[3,"id1",{"echo":"mine"}]')
    assert (await mine).echo == "mine"


# --- after hooks ---------------------------------------------------------------------------


async def test_after_hooks(
    transport: CollectingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    cp = make_cp(transport)
    seen: list[Any] = []
    cp.on("Ping", lambda req: PingResponse(echo="r"))

    @cp.after("Ping")
    def hook(req: Any, res: Any) -> None:
        seen.append(("sync", len(transport.sent), req.text, res.echo))

    @cp.after("Ping")
    async def ahook(req: Any, res: Any) -> None:
        seen.append(("async", req.text))

    @cp.after("Ping")
    def broken(req: Any, res: Any) -> None:
        raise RuntimeError("hook boom")

    with caplog.at_level(logging.ERROR, "ocppfast"):
        cp.receive(call("h1", "Ping", b'{"text":"q"}'))
        await settle()
    assert seen[0] == ("sync", 1, "q", "r")  # the response was already sent
    assert ("async", "q") in seen
    assert "hook boom" in caplog.text
    assert transport.pop() == [3, "h1", {"echo": "r"}]


# --- boot gate, SEND, ids -------------------------------------------------------------------


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_require_boot(transport: CollectingTransport, version: str) -> None:
    cp = make_cp(transport, version, require_boot=True)
    status = iter(["Pending", "Accepted"])
    cp.on("BootNotification", lambda req: BootNotificationResponse(status=next(status)))
    cp.on("Empty", lambda req: EmptyResponse())
    cp.receive(call("1", "Empty"))
    assert transport.pop()[:3] == [4, "1", "SecurityError"]
    cp.receive(call("2", "BootNotification", b'{"model":"m"}'))
    assert transport.pop() == [3, "2", {"status": "Pending"}]
    cp.receive(call("3", "Empty"))
    assert transport.pop()[:3] == [4, "3", "SecurityError"]
    cp.receive(call("4", "BootNotification", b'{"model":"m"}'))
    assert transport.pop() == [3, "4", {"status": "Accepted"}]
    cp.receive(call("5", "Empty"))
    assert transport.pop() == [3, "5", {}]


async def test_send_frames(transport: CollectingTransport) -> None:
    cp16 = make_cp(CollectingTransport(), "ocpp1.6")
    with pytest.raises(ValueError, match="2.1"):
        cp16.send("Stream", {"text": "x"})
    cp = make_cp(transport, "ocpp2.1")
    pending = asyncio.ensure_future(cp.call("Empty", {}))
    await settle()
    uid = cp.send("Stream", {"text": "x"})  # allowed while a CALL is outstanding
    assert transport.pop() == [6, uid, "Stream", {"text": "x"}]
    got = []
    cp.on("Stream", lambda req: got.append(req.text))
    transport.sent.clear()
    cp.receive(b'[6,"s1","Stream",{"text":"in"}]')
    cp.receive(b'[6,"s2","Stream",{"text":5}]')  # invalid SEND: dropped, never answered
    assert got == ["in"] and transport.sent == []
    pending.cancel()


async def test_default_ids_are_unique_and_short() -> None:
    loop = asyncio.get_running_loop()
    ids = set()
    for _ in range(3):  # three connections of the same identity
        cp = ChargePoint(loop, "ocpp2.0.1", ACTIONS, identity="CP1")
        for _ in range(1000):
            uid = cp.next_id()
            assert len(uid) <= 36
            ids.add(uid)
    assert len(ids) == 3000


# --- parity: the compiled and the pure engine send the same bytes ---------------------------


def _script(engine_cls: type, loop: asyncio.AbstractEventLoop) -> list[bytes]:
    transport = CollectingTransport()
    counter = itertools.count(1)
    eng = engine_cls(
        loop,
        "ocpp2.1",
        ACTIONS,
        identity="P",
        id_factory=lambda: f"i{next(counter)}",
        max_bad_messages=100,
    )
    eng.attach(transport)
    eng.set_handler("Ping", lambda req: PingResponse(echo=req.text))
    eng.set_handler("Empty", lambda req: None)
    for data in [
        call("1", "Ping", b'{"text":"a"}'),
        call("2", "Ping", b"{}"),
        call("3", "Nope"),
        call("4", "Unhandled"),
        call("5", "Empty"),
        b"junk",
        b'[9,"z"]',
        b'[2,"6","Ping",[]]',
        b'[6,"7","Stream",{"text":"s"}]',
        b'[3,"zz",{}]',
        call("8", "Ping", b'{"text":"' + b"y" * 30 + b'"}'),
    ]:
        eng.receive(data)
    fut = eng.start_call("Ping", {"text": "o"}, None)
    eng.receive(b'[3,"i1",{"echo":5}]')
    assert fut.done()
    fut.exception()
    return transport.sent


@pytest.mark.skipif(importlib.util.find_spec("ocppfast._engine_c") is None, reason="not compiled")
async def test_parity_compiled_and_pure_engine() -> None:
    from ocppfast import _engine, _engine_c

    loop = asyncio.get_running_loop()
    assert _engine_c.__file__.endswith(".so")
    compiled = _script(_engine_c.Engine, loop)
    pure = _script(_engine.Engine, loop)
    assert compiled == pure
    assert len(compiled) >= 10


async def test_checked_encoding_is_remembered_but_never_masks_a_bad_one(
    transport: CollectingTransport,
) -> None:
    cp = make_cp(transport)
    answers = iter([PingResponse(echo="ok"), PingResponse(echo="ok"), PingResponse(echo=5)])
    cp.on("Ping", lambda req: next(answers))
    for uid in ("r1", "r2", "r3"):
        cp.receive(call(uid, "Ping", b'{"text":"x"}'))
    assert [msgspec.json.decode(d)[:3] for d in transport.sent] == [
        [3, "r1", {"echo": "ok"}],
        [3, "r2", {"echo": "ok"}],
        [4, "r3", "InternalError"],
    ]
    with pytest.raises(errors.PayloadError, match="PingRequest"):
        await cp.call(PingRequest(text="x" * 21))
    with pytest.raises(errors.PayloadError, match="PingRequest"):  # the same bad bytes again
        await cp.call(PingRequest(text="x" * 21))


async def test_call_without_timeout_does_not_keep_the_sweeper_ticking(
    transport: CollectingTransport,
) -> None:
    from ocppfast.engine import Sweeper

    cp = make_cp(transport, call_timeout=0)
    sweeper = Sweeper(asyncio.get_running_loop(), interval=0.01)
    task = asyncio.ensure_future(cp.call("Empty", {}))
    await settle()
    sweeper.add(cp)
    await asyncio.sleep(0.05)
    assert cp not in sweeper.engines and not task.done()  # dropped, the call still pending
    cp.receive(b'[3,"id1",{}]')
    assert await task == EmptyResponse()
