"""The engine's observer hooks (CONTRACT section 1), vendor actions (section 2) and failing hooks,
over real sockets on loopback, in whichever implementation is loaded (run the file plain and
with OCPPFAST_NO_EXTENSIONS=1)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import msgspec
import pytest
import websockets

import ocppfast
from ocppfast import errors
from ocppfast.engine import Engine

BOOT16 = {"chargePointVendor": "V", "chargePointModel": "M"}
NOW = "2026-11-24T12:00:00Z"


class Recorder:
    """A real observer: records every event with the engine's identity."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def frame_in(self, engine: Any, data: bytes) -> None:
        self.events.append(("frame_in", engine.identity, data))

    def frame_out(self, engine: Any, data: bytes) -> None:
        self.events.append(("frame_out", engine.identity, data))

    def call_in(self, engine: Any, action: str, outcome: str) -> None:
        self.events.append(("call_in", engine.identity, action, outcome))

    def call_out(self, engine: Any, action: str, outcome: str, seconds: float) -> None:
        assert isinstance(seconds, float) and 0.0 <= seconds < 30.0
        self.events.append(("call_out", engine.identity, action, outcome))

    def bad_frame(self, engine: Any, reason: str) -> None:
        self.events.append(("bad_frame", engine.identity, reason))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [e[1:] for e in self.events if e[0] == kind]


async def _slow(cp: Any, req: Any) -> dict[str, Any]:
    await asyncio.sleep(2)
    return {"status": "Accepted"}


async def make_cs(observer: Recorder | None = None, **options: Any) -> ocppfast.CentralSystem:
    options.setdefault("ping_interval", 0)
    cs = ocppfast.CentralSystem(versions=["ocpp1.6"], **options)
    cs.on(
        "BootNotification",
        lambda cp, req: {"status": "Accepted", "currentTime": NOW, "interval": 300},
    )
    cs.on("Heartbeat", lambda cp, req: {"currentTime": NOW})
    cs.on("Authorize", _slow)
    if observer is not None:

        def watch(cp: Any) -> None:
            cp.observer = observer

        cs.on_connect(watch)
    await cs.start("127.0.0.1", 0)
    return cs


def url(cs: ocppfast.CentralSystem) -> str:
    return f"ws://127.0.0.1:{cs.port}/ocpp"


async def _until(cond: Any) -> None:
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


def test_observer_defaults_to_none() -> None:
    engine = Engine(asyncio.new_event_loop(), "ocpp1.6", {})
    try:
        assert engine.observer is None
    finally:
        engine.loop.close()


async def test_observer_sees_frames_and_calls_both_sides() -> None:
    server_obs, client_obs = Recorder(), Recorder()
    cs = await make_cs(server_obs)
    try:
        cp = await ocppfast.connect(url(cs), "OBS1", versions=["ocpp1.6"])
        cp.observer = client_obs
        await cp.call("BootNotification", BOOT16)
        # CALL with no handler on the server: NotSupported, seen by both sides
        with pytest.raises(errors.NotSupportedError):
            await cp.call(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
            )
        # the server answers a CALL to the station that has no handler: NotSupported
        with pytest.raises(errors.NotSupportedError):
            await cs.call("OBS1", "Reset", {"type": "Soft"})
        # timeout of a CALL we sent (the server's handler sleeps)
        with pytest.raises(errors.CallTimeoutError):
            await cp.call("Authorize", {"idTag": "T"}, timeout=0.2)
        # a CALL pending while the connection closes: "closed"
        pending = asyncio.ensure_future(cp.call("Authorize", {"idTag": "U"}, timeout=10))
        await _until(lambda: cp.pending_count == 1)
        await cp.close()
        with pytest.raises(errors.ConnectionClosedError):
            await pending
        await _until(lambda: not cs.charge_points)
    finally:
        await cs.close()

    assert client_obs.of("call_out") == [
        ("OBS1", "BootNotification", "result"),
        ("OBS1", "StatusNotification", "NotSupported"),
        ("OBS1", "Authorize", "timeout"),
        ("OBS1", "Authorize", "closed"),
    ]
    assert client_obs.of("call_in") == [("OBS1", "Reset", "NotSupported")]
    # the server's side of the same calls (Authorize is answered late, after the client gave up)
    assert server_obs.of("call_in")[:2] == [
        ("OBS1", "BootNotification", "result"),
        ("OBS1", "StatusNotification", "NotSupported"),
    ]
    assert server_obs.of("call_out") == [("OBS1", "Reset", "NotSupported")]
    # every frame one side wrote, the other side read, byte for byte, in order
    sent = [e[2] for e in client_obs.events if e[0] == "frame_out"]
    received = [e[2] for e in server_obs.events if e[0] == "frame_in"]
    assert sent and sent == received
    assert json.loads(sent[0])[:3] == [2, json.loads(sent[0])[1], "BootNotification"]
    server_sent = [e[2] for e in server_obs.events if e[0] == "frame_out"]
    client_received = [e[2] for e in client_obs.events if e[0] == "frame_in"]
    assert server_sent[: len(client_received)] == client_received
    assert json.loads(client_received[0])[0] == 3
    assert not server_obs.of("bad_frame") and not client_obs.of("bad_frame")


async def test_observer_bad_frames_and_payload_errors_from_a_raw_peer() -> None:
    obs = Recorder()
    cs = await make_cs(obs)
    try:
        async with websockets.connect(url(cs) + "/RAW1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps([2, "b1", "BootNotification", BOOT16]))
            assert json.loads(await ws.recv())[0] == 3
            await ws.send("not json at all")
            bad = json.loads(await ws.recv())
            await ws.send(json.dumps([2, "p1", "Heartbeat", {"extra": 1}]))
            payload_error = json.loads(await ws.recv())
            await ws.send(json.dumps([2, "n1", "NoSuchAction", {}]))
            unknown = json.loads(await ws.recv())
    finally:
        await cs.close()
    assert bad[0] == 4 and bad[1] == "-1"
    # 1.6 spells it FormationViolation on the wire; the observer gets the canonical code
    assert obs.of("bad_frame") == [("RAW1", "RpcFrameworkError")]
    assert obs.of("call_in") == [
        ("RAW1", "BootNotification", "result"),
        ("RAW1", "Heartbeat", "FormatViolation"),
        ("RAW1", "NoSuchAction", "NotImplemented"),
    ]
    assert payload_error[:3] == [4, "p1", "FormationViolation"]
    assert unknown[:3] == [4, "n1", "NotImplemented"]
    assert obs.of("frame_in")[1] == ("RAW1", b"not json at all")


class Failing(Recorder):
    def frame_in(self, engine: Any, data: bytes) -> None:
        raise RuntimeError("observer secret")

    def call_in(self, engine: Any, action: str, outcome: str) -> None:
        raise RuntimeError("observer secret")


async def test_failing_observer_is_logged_once_and_breaks_nothing(caplog: Any) -> None:
    obs = Failing()
    cs = await make_cs(obs)
    try:
        cp = await ocppfast.connect(url(cs), "OBS2", versions=["ocpp1.6"])
        with caplog.at_level(logging.ERROR, logger="ocppfast"):
            for _ in range(3):
                res = await cp.call("Heartbeat", {})
                assert res.current_time == NOW
        await cp.close()
    finally:
        await cs.close()
    failures = [r for r in caplog.records if "observer" in r.getMessage()]
    assert len(failures) == 1
    assert "OBS2" in failures[0].getMessage() and "Failing" in failures[0].getMessage()
    assert len(obs.of("frame_out")) == 3  # the methods that work still ran


# --- vendor (custom) actions, the engine side ------------------------------------------------


class VendorAnswer(msgspec.Struct):
    ok: bool
    n: int


async def test_custom_action_round_trip_both_directions() -> None:
    seen: list[Any] = []
    cs = await make_cs()

    @cs.on("VendorX", custom=True)
    def vendor(cp: Any, req: Any) -> Any:
        seen.append(req)
        if req.get("want") == "none":
            return None
        if req.get("want") == "struct":
            return VendorAnswer(ok=True, n=len(req))
        if req.get("want") == "bad":
            return [1, 2]
        return {"echo": req}

    try:
        cp = await ocppfast.connect(url(cs), "CUS1", versions=["ocpp1.6"])
        cp.on("VendorY", lambda req: {"seen": req["x"]}, custom=True)
        cp.add_custom_action("VendorX")
        await _until(lambda: "CUS1" in cs.charge_points)
        assert await cp.call("VendorX", {"a": [1, {"b": None}]}) == {
            "echo": {"a": [1, {"b": None}]}
        }
        assert await cp.call("VendorX", {"want": "none"}) == {}
        assert await cp.call("VendorX", VendorAnswer(ok=False, n=3)) == {
            "echo": {"ok": False, "n": 3}
        }
        assert await cp.call("VendorX", {"want": "struct"}) == {"ok": True, "n": 1}
        with pytest.raises(errors.InternalError):
            await cp.call("VendorX", {"want": "bad"})
        # the central system calls the station's vendor action
        cs.add_custom_action("VendorY")
        assert await cs.call("CUS1", "VendorY", {"x": 5}) == {"seen": 5}
        await cp.close()
    finally:
        await cs.close()
    assert seen[0] == {"a": [1, {"b": None}]}
    # the shared version registry was not touched
    assert "VendorX" not in ocppfast.versions.actions("ocpp1.6")


async def test_custom_action_payload_must_be_an_object() -> None:
    cs = await make_cs()
    cs.on("VendorX", lambda cp, req: {}, custom=True)
    try:
        async with websockets.connect(url(cs) + "/CUS2", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps([2, "b", "BootNotification", BOOT16]))
            await ws.recv()
            await ws.send(json.dumps([2, "v1", "VendorX", {"any": ["thing", 1.5]}]))
            assert json.loads(await ws.recv()) == [3, "v1", {}]
            await ws.send(json.dumps([2, "v2", "VendorX", [1, 2]]))
            answer = json.loads(await ws.recv())
    finally:
        await cs.close()
    assert answer[:3] == [4, "v2", "FormationViolation"]


# --- failing hooks: logged with identity and the hook's real name, never answered -------------


class Hooks:
    def after_boot(self, cp: Any, req: Any, res: Any) -> None:
        raise RuntimeError("hook secret sync")

    async def after_heartbeat(self, cp: Any, req: Any, res: Any) -> None:
        raise RuntimeError("hook secret async")


async def test_failing_hooks_logged_with_identity_and_qualname(caplog: Any) -> None:
    hooks = Hooks()
    cs = await make_cs()
    cs.after("BootNotification", hooks.after_boot)
    cs.after("Heartbeat", hooks.after_heartbeat)
    try:
        async with websockets.connect(url(cs) + "/HOOK1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            with caplog.at_level(logging.ERROR, logger="ocppfast"):
                await ws.send(json.dumps([2, "b", "BootNotification", BOOT16]))
                boot = await ws.recv()
                await ws.send(json.dumps([2, "h", "Heartbeat", {}]))
                hb = await ws.recv()
                await _until(
                    lambda: any("after_heartbeat" in r.getMessage() for r in caplog.records)
                )
    finally:
        await cs.close()
    # the answers are the handlers' own, with nothing of the hooks' exceptions
    assert json.loads(boot)[0] == 3 and json.loads(hb) == [3, "h", {"currentTime": NOW}]
    assert "secret" not in str(boot) + str(hb)
    messages = [r.getMessage() for r in caplog.records]
    sync = [m for m in messages if "Hooks.after_boot" in m]
    async_ = [m for m in messages if "Hooks.after_heartbeat" in m]
    assert sync and "HOOK1" in sync[0] and "test_engine_hooks" in sync[0]
    assert async_ and "HOOK1" in async_[0]
