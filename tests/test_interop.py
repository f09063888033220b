"""Interop with real peers over loopback sockets (issue 5).

- mobilityhouse ``ocpp`` 2.1.0 (on ``websockets``) as the charging station against our
  CentralSystem, and as the central system that our ``ocppfast.connect`` client talks to;
- ``ocpp-rpc`` 2.2.1 (Node) in strict mode, so every message ocppfast sends is checked against the
  OCA JSON schemas by an independent validator, as client (``tests/interop/rpc_client.js``) and as
  server (``tests/interop/rpc_server.js``); skipped only when ``node`` or
  ``tests/interop/node_modules/ocpp-rpc`` is missing (``make interop-deps`` installs it; CI runs it);
  1.6, 2.0.1 and 2.1 (ocpp-rpc 2.2.1 files its 2.1 schemas under ids it never looks up, so
  ``tests/interop/peer_io.js`` registers them under the ids it does);
- a bad peer: a raw websocket sending malformed frames gets the CALLERRORs OCPP-J asks for while the
  server keeps serving another station.

Each test bounds itself with ``asyncio.timeout``; none asserts on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as MhChargePoint16
from ocpp.v16 import call as mh_call16
from ocpp.v16 import call_result as mh_result16
from ocpp.v16.enums import Action as MhAction16
from ocpp.v201 import ChargePoint as MhChargePoint201
from ocpp.v201 import call as mh_call201
from ocpp.v201 import call_result as mh_result201
from ocpp.v201.enums import Action as MhAction201

import ocppfast
from ocppfast import errors

pytestmark = pytest.mark.interop

V16 = "ocpp1.6"
V201 = "ocpp2.0.1"
V21 = "ocpp2.1"
LIMIT = 20  # seconds; a bound per test so that a hang fails instead of blocking CI

INTEROP_DIR = Path(__file__).parent / "interop"
NODE = shutil.which("node")
HAVE_OCPP_RPC = (INTEROP_DIR / "node_modules" / "ocpp-rpc" / "package.json").is_file()
needs_node = pytest.mark.skipif(
    NODE is None or not HAVE_OCPP_RPC,
    reason="needs `node` and tests/interop/node_modules/ocpp-rpc (run `make interop-deps`; "
    "CI installs both, so these tests run there)",
)


def val(x: Any) -> Any:
    """The wire value of an enum member (mobilityhouse's and ours), anything else as is."""
    return getattr(x, "value", x)


def messages(subprotocol: str) -> Any:
    """The generated message module of a version (``ocppfast.v16`` / ``v201`` / ``v21``)."""
    import importlib

    return importlib.import_module(
        {V16: "ocppfast.v16", V201: "ocppfast.v201", V21: "ocppfast.v21"}[subprotocol]
    )


def now() -> str:
    """The current time as an RFC 3339 dateTime string, as it goes on the wire."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(value: Any) -> dt.datetime:
    """A received dateTime (an RFC 3339 string: ocppfast types it as a checked ``str``)."""
    assert isinstance(value, str), value
    return dt.datetime.fromisoformat(value)


# --- our CentralSystem, with recording handlers ------------------------------------------------


class Recorder:
    """What the central system's handlers received: (identity, action, typed request)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def requests(self, action: str) -> list[Any]:
        return [req for _, a, req in self.calls if a == action]


def central_system(versions: list[str], **options: Any) -> tuple[ocppfast.CentralSystem, Recorder]:
    """A CentralSystem answering BootNotification (typed response), Heartbeat and
    StatusNotification (dicts with wire names), recording what it got."""
    cs = ocppfast.CentralSystem(versions=versions, ping_interval=0, **options)
    rec = Recorder()

    @cs.on("BootNotification")
    def boot(cp: Any, req: Any) -> Any:
        rec.calls.append((cp.identity, "BootNotification", req))
        m = messages(cp.subprotocol)
        return m.BootNotificationResponse(status="Accepted", current_time=now(), interval=300)

    @cs.on("Heartbeat")
    async def heartbeat(cp: Any, req: Any) -> Any:  # an async handler too
        rec.calls.append((cp.identity, "Heartbeat", req))
        return {"currentTime": now()}

    @cs.on("StatusNotification")
    def status(cp: Any, req: Any) -> Any:
        rec.calls.append((cp.identity, "StatusNotification", req))
        return {}

    return cs, rec


@contextlib.asynccontextmanager
async def running(cs: ocppfast.CentralSystem) -> AsyncIterator[ocppfast.CentralSystem]:
    await cs.start("127.0.0.1", 0)
    try:
        yield cs
    finally:
        await cs.close(timeout=2)


async def until(predicate: Callable[[], Any]) -> Any:
    """Poll ``predicate`` until truthy (the caller's ``asyncio.timeout`` bounds it)."""
    while not (result := predicate()):
        await asyncio.sleep(0.01)
    return result


# --- 1. mobilityhouse ocpp as the charging station against our CentralSystem ------------------


class MhStation16(MhChargePoint16):
    seen: list[tuple[str, dict[str, Any]]]

    @on(MhAction16.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **kw: Any) -> Any:
        self.seen.append(("GetConfiguration", {"key": key}))
        known = {"HeartbeatInterval": "300"}
        return mh_result16.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": False, "value": known[k]} for k in key or [] if k in known
            ],
            unknown_key=[k for k in key or [] if k not in known],
        )

    @on(MhAction16.change_configuration)
    def on_change_configuration(self, key: str, value: str, **kw: Any) -> Any:
        self.seen.append(("ChangeConfiguration", {"key": key, "value": value}))
        return mh_result16.ChangeConfiguration(status="Accepted")


class MhStation201(MhChargePoint201):
    seen: list[tuple[str, dict[str, Any]]]

    @on(MhAction201.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        self.seen.append(("GetVariables", {"get_variable_data": get_variable_data}))
        return mh_result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "300",
                    "component": d["component"],
                    "variable": d["variable"],
                }
                for d in get_variable_data
            ]
        )

    @on(MhAction201.reset)
    def on_reset(self, type: str, **kw: Any) -> Any:
        self.seen.append(("Reset", {"type": type}))
        return mh_result201.Reset(status="Accepted")


async def test_mobilityhouse_station_v16_against_our_central_system() -> None:
    cs, rec = central_system([V201, V16])
    async with (
        asyncio.timeout(LIMIT),
        running(cs),
        websockets.connect(f"ws://127.0.0.1:{cs.port}/MH-CP16", subprotocols=[V16]) as ws,
    ):
        assert ws.subprotocol == V16
        station = MhStation16("MH-CP16", ws, response_timeout=10)
        station.seen = []
        reader = asyncio.create_task(station.start())
        try:
            boot = await station.call(
                mh_call16.BootNotification(
                    charge_point_vendor="MobilityHouse",
                    charge_point_model="Sim-1",
                    firmware_version="1.2.3",
                ),
                suppress=False,
            )
            assert boot.status == "Accepted" and boot.interval == 300
            parse_time(boot.current_time)
            hb = await station.call(mh_call16.Heartbeat(), suppress=False)
            parse_time(hb.current_time)
            sn = await station.call(
                mh_call16.StatusNotification(
                    connector_id=1, error_code="NoError", status="Available"
                ),
                suppress=False,
            )
            assert sn is not None

            (req,) = rec.requests("BootNotification")
            assert isinstance(req, messages(V16).BootNotificationRequest)
            assert req.charge_point_vendor == "MobilityHouse"
            assert req.charge_point_model == "Sim-1"
            assert req.firmware_version == "1.2.3"
            (st,) = rec.requests("StatusNotification")
            assert st.connector_id == 1
            assert val(st.error_code) == "NoError" and val(st.status) == "Available"
            assert cs.charge_points["MH-CP16"].subprotocol == V16

            # The central system calls the station: a dict payload and a typed one.
            conf = await cs.call(
                "MH-CP16", "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]}, timeout=5
            )
            assert isinstance(conf, messages(V16).GetConfigurationResponse)
            (kv,) = conf.configuration_key
            assert (kv.key, kv.readonly, kv.value) == ("HeartbeatInterval", False, "300")
            assert conf.unknown_key == ["Nope"]
            change = await cs.charge_points["MH-CP16"].call(
                messages(V16).ChangeConfigurationRequest(key="HeartbeatInterval", value="60"),
                timeout=5,
            )
            assert val(change.status) == "Accepted"
            assert station.seen == [
                ("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]}),
                ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}),
            ]
            # mobilityhouse has no handler for Reset: its CALLERROR becomes our exception,
            # details included.
            with pytest.raises(errors.OCPPError) as err:
                await cs.call("MH-CP16", "Reset", {"type": "Soft"}, timeout=5)
            assert err.value.code == "NotImplemented"
            assert isinstance(err.value, errors.NotImplementedCallError)
            assert "Reset" in err.value.details.get("cause", "")
        finally:
            reader.cancel()


async def test_mobilityhouse_station_v201_against_our_central_system() -> None:
    cs, rec = central_system([V201, V16])
    async with (
        asyncio.timeout(LIMIT),
        running(cs),
        websockets.connect(f"ws://127.0.0.1:{cs.port}/MH-CS201", subprotocols=[V201]) as ws,
    ):
        assert ws.subprotocol == V201
        station = MhStation201("MH-CS201", ws, response_timeout=10)
        station.seen = []
        reader = asyncio.create_task(station.start())
        try:
            boot = await station.call(
                mh_call201.BootNotification(
                    charging_station={
                        "model": "Sim-2",
                        "vendor_name": "MobilityHouse",
                        "modem": {"iccid": "8931"},
                    },
                    reason="PowerUp",
                ),
                suppress=False,
            )
            assert boot.status == "Accepted" and boot.interval == 300
            parse_time(boot.current_time)
            hb = await station.call(mh_call201.Heartbeat(), suppress=False)
            parse_time(hb.current_time)
            await station.call(
                mh_call201.StatusNotification(
                    timestamp=now(),
                    connector_status="Occupied",
                    evse_id=1,
                    connector_id=2,
                ),
                suppress=False,
            )

            (req,) = rec.requests("BootNotification")
            assert isinstance(req, messages(V201).BootNotificationRequest)
            assert val(req.reason) == "PowerUp"
            assert req.charging_station.vendor_name == "MobilityHouse"
            assert req.charging_station.model == "Sim-2"
            assert req.charging_station.modem.iccid == "8931"
            assert req.custom_data is msgspec.UNSET
            (st,) = rec.requests("StatusNotification")
            assert parse_time(st.timestamp).tzinfo is not None
            assert (val(st.connector_status), st.evse_id, st.connector_id) == ("Occupied", 1, 2)
            assert cs.charge_points["MH-CS201"].subprotocol == V201

            got = await cs.call(
                "MH-CS201",
                "GetVariables",
                {
                    "getVariableData": [
                        {
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                        }
                    ]
                },
                timeout=5,
            )
            assert isinstance(got, messages(V201).GetVariablesResponse)
            (res,) = got.get_variable_result
            assert val(res.attribute_status) == "Accepted" and res.attribute_value == "300"
            assert res.component.name == "OCPPCommCtrlr"
            assert res.variable.name == "HeartbeatInterval"
            # A typed request; the action is inferred from its type.
            reset = await cs.call(
                "MH-CS201", messages(V201).ResetRequest(type="Immediate"), timeout=5
            )
            assert val(reset.status) == "Accepted"
            assert [a for a, _ in station.seen] == ["GetVariables", "Reset"]
            assert station.seen[1][1] == {"type": "Immediate"}
            with pytest.raises(errors.NotImplementedCallError):
                await cs.call("MH-CS201", "ClearCache", {}, timeout=5)
        finally:
            reader.cancel()


# --- 2. our client against mobilityhouse's central system -------------------------------------


class MhCentral16(MhChargePoint16):
    got: list[tuple[str, dict[str, Any]]]

    @on(MhAction16.boot_notification)
    def on_boot(self, charge_point_vendor: str, charge_point_model: str, **kw: Any) -> Any:
        self.got.append(
            ("BootNotification", {"vendor": charge_point_vendor, "model": charge_point_model, **kw})
        )
        return mh_result16.BootNotification(current_time=now(), interval=10, status="Accepted")

    @on(MhAction16.heartbeat)
    def on_heartbeat(self, **kw: Any) -> Any:
        self.got.append(("Heartbeat", kw))
        return mh_result16.Heartbeat(current_time=now())

    @on(MhAction16.status_notification)
    def on_status(self, **kw: Any) -> Any:
        self.got.append(("StatusNotification", kw))
        return mh_result16.StatusNotification()


class MhCentral201(MhChargePoint201):
    got: list[tuple[str, dict[str, Any]]]

    @on(MhAction201.boot_notification)
    def on_boot(self, charging_station: dict[str, Any], reason: str, **kw: Any) -> Any:
        self.got.append(
            ("BootNotification", {"charging_station": charging_station, "reason": reason})
        )
        return mh_result201.BootNotification(current_time=now(), interval=10, status="Accepted")

    @on(MhAction201.heartbeat)
    def on_heartbeat(self, **kw: Any) -> Any:
        self.got.append(("Heartbeat", kw))
        return mh_result201.Heartbeat(current_time=now())

    @on(MhAction201.status_notification)
    def on_status(self, **kw: Any) -> Any:
        self.got.append(("StatusNotification", kw))
        return mh_result201.StatusNotification()


@contextlib.asynccontextmanager
async def mobilityhouse_central(
    subprotocol: str, cls: type[Any]
) -> AsyncIterator[tuple[int, asyncio.Queue[Any]]]:
    """mobilityhouse's documented server: ``websockets.serve`` + one ChargePoint per connection."""
    stations: asyncio.Queue[Any] = asyncio.Queue()

    async def on_connect(websocket: Any) -> None:
        if websocket.subprotocol != subprotocol:
            await websocket.close()
            return
        station = cls(websocket.request.path.strip("/"), websocket, response_timeout=10)
        station.got = []
        stations.put_nowait(station)
        with contextlib.suppress(websockets.ConnectionClosed):
            await station.start()

    async with websockets.serve(on_connect, "127.0.0.1", 0, subprotocols=[subprotocol]) as server:
        yield server.sockets[0].getsockname()[1], stations


async def test_our_client_v16_against_mobilityhouse_central_system() -> None:
    m = messages(V16)
    handled: list[Any] = []

    def get_configuration(req: Any) -> Any:
        handled.append(req)
        return {"configurationKey": [{"key": "HeartbeatInterval", "readonly": True, "value": "10"}]}

    def change_configuration(req: Any) -> Any:
        handled.append(req)
        return m.ChangeConfigurationResponse(status="Rejected")

    async with asyncio.timeout(LIMIT), mobilityhouse_central(V16, MhCentral16) as (port, stations):
        cp = await ocppfast.connect(
            f"ws://127.0.0.1:{port}",
            "OUR-CP16",
            versions=[V16],
            handlers={"GetConfiguration": get_configuration},
        )
        cp.on("ChangeConfiguration", change_configuration)
        try:
            assert cp.subprotocol == V16
            central = await stations.get()
            assert central.id == "OUR-CP16"
            boot = await cp.call(
                m.BootNotificationRequest(
                    charge_point_vendor="ocppfast", charge_point_model="Interop", iccid="8931"
                )
            )
            assert isinstance(boot, m.BootNotificationResponse)
            assert val(boot.status) == "Accepted" and boot.interval == 10
            parse_time(boot.current_time)
            hb = await cp.call("Heartbeat", {})
            parse_time(hb.current_time)
            await cp.call(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
            )
            assert central.got == [
                ("BootNotification", {"vendor": "ocppfast", "model": "Interop", "iccid": "8931"}),
                ("Heartbeat", {}),
                (
                    "StatusNotification",
                    {"connector_id": 1, "error_code": "NoError", "status": "Charging"},
                ),
            ]

            # mobilityhouse's central system calls us (it validates our answers with its schemas).
            conf = await central.call(
                mh_call16.GetConfiguration(key=["HeartbeatInterval"]), suppress=False
            )
            assert conf.configuration_key == [
                {"key": "HeartbeatInterval", "readonly": True, "value": "10"}
            ]
            change = await central.call(
                mh_call16.ChangeConfiguration(key="MeterValueSampleInterval", value="15"),
                suppress=False,
            )
            assert change.status == "Rejected"
            assert isinstance(handled[0], m.GetConfigurationRequest)
            assert handled[0].key == ["HeartbeatInterval"]
            assert (handled[1].key, handled[1].value) == ("MeterValueSampleInterval", "15")
            # No handler here for a known action: a CALLERROR that mobilityhouse understands.
            from ocpp.exceptions import OCPPError as MhOCPPError

            with pytest.raises(MhOCPPError) as err:
                await central.call(mh_call16.ClearCache(), suppress=False)
            assert err.value.code in ("NotSupported", "NotImplemented")
        finally:
            await cp.close()


async def test_our_client_v201_against_mobilityhouse_central_system() -> None:
    m = messages(V201)
    handled: list[Any] = []

    async def get_variables(req: Any) -> Any:  # an async handler
        handled.append(req)
        return {
            "getVariableResult": [
                {
                    "attributeStatus": "UnknownVariable",
                    "component": {"name": d.component.name},
                    "variable": {"name": d.variable.name},
                }
                for d in req.get_variable_data
            ]
        }

    async with (
        asyncio.timeout(LIMIT),
        mobilityhouse_central(V201, MhCentral201) as (port, stations),
    ):
        cp = await ocppfast.connect(
            f"ws://127.0.0.1:{port}/",
            "OUR-CS201",
            versions=[V201, V16],
            handlers={"GetVariables": get_variables},
        )

        @cp.on("Reset")
        def reset(req: Any) -> Any:
            handled.append(req)
            return m.ResetResponse(status="Scheduled")

        try:
            assert cp.subprotocol == V201
            central = await stations.get()
            assert central.id == "OUR-CS201"
            boot = await cp.call(
                "BootNotification",
                {
                    "chargingStation": {"model": "Interop", "vendorName": "ocppfast"},
                    "reason": "PowerUp",
                },
            )
            assert isinstance(boot, m.BootNotificationResponse)
            assert val(boot.status) == "Accepted" and boot.interval == 10
            parse_time(boot.current_time)
            hb = await cp.call("Heartbeat", {})
            parse_time(hb.current_time)
            await cp.call(
                "StatusNotification",
                {
                    "timestamp": now(),
                    "connectorStatus": "Available",
                    "evseId": 1,
                    "connectorId": 1,
                },
            )
            assert [a for a, _ in central.got] == [
                "BootNotification",
                "Heartbeat",
                "StatusNotification",
            ]
            assert central.got[0][1] == {
                "charging_station": {"model": "Interop", "vendor_name": "ocppfast"},
                "reason": "PowerUp",
            }

            got = await central.call(
                mh_call201.GetVariables(
                    get_variable_data=[
                        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Foo"}}
                    ]
                ),
                suppress=False,
            )
            assert got.get_variable_result == [
                {
                    "attribute_status": "UnknownVariable",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "Foo"},
                }
            ]
            reset_res = await central.call(mh_call201.Reset(type="OnIdle"), suppress=False)
            assert reset_res.status == "Scheduled"
            assert isinstance(handled[0], m.GetVariablesRequest)
            assert val(handled[1].type) == "OnIdle"
            from ocpp.exceptions import OCPPError as MhOCPPError

            with pytest.raises(MhOCPPError) as err:
                await central.call(mh_call201.ClearCache(), suppress=False)
            assert err.value.code in ("NotSupported", "NotImplemented")
        finally:
            await cp.close()


# --- 3. ocpp-rpc (Node, strict mode) both ways -------------------------------------------------


class NodePeer:
    """A node script speaking JSON lines: events on stdout, commands on stdin (peer_io.js)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.stderr = b""
        self.eof = False
        self._changed = asyncio.Event()
        self._ids = 0
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._read_err())]

    @classmethod
    async def start(cls, script: str, *args: str) -> NodePeer:
        assert NODE is not None
        proc = await asyncio.create_subprocess_exec(
            NODE,
            str(INTEROP_DIR / script),
            *args,
            cwd=str(INTEROP_DIR),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                self.events.append({"event": "unparsable", "line": line.decode(errors="replace")})
            self._changed.set()
        self.eof = True
        self._changed.set()

    async def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = await self.proc.stderr.read()

    def _explain(self) -> str:
        return f"events: {self.events}\nstderr: {self.stderr.decode(errors='replace')}"

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            for event in self.events:
                if predicate(event):
                    return event
            fatal = [e for e in self.events if e["event"] in ("fatal", "unparsable")]
            assert not fatal and not self.eof, f"node peer failed or exited\n{self._explain()}"
            self._changed.clear()
            await self._changed.wait()

    async def event(self, name: str, **fields: Any) -> dict[str, Any]:
        return await self.wait_for(
            lambda e: e["event"] == name and all(e.get(k) == v for k, v in fields.items())
        )

    async def calls(self, count: int) -> list[tuple[str, Any]]:
        """The first ``count`` CALLs the node peer received, as (method, params) once printed (the
        answer may reach us over the socket before the line on stdout)."""
        await self.wait_for(lambda _: sum(e["event"] == "call" for e in self.events) >= count)
        return [(e["method"], e["params"]) for e in self.events if e["event"] == "call"]

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")

    async def call(
        self, method: str, params: dict[str, Any], identity: str | None = None
    ) -> dict[str, Any]:
        """Have the node peer send a CALL; its result or error event."""
        self._ids += 1
        n = self._ids
        self.send({"id": n, "call": method, "params": params, "identity": identity})
        return await self.wait_for(lambda e: e.get("id") == n and e["event"] in ("result", "error"))

    def problems(self) -> list[dict[str, Any]]:
        """What ocpp-rpc's strict validation or RPC framework objected to."""
        return [
            e
            for e in self.events
            if e["event"] in ("strictValidationFailure", "badMessage", "fatal", "unparsable")
        ]

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                self.send({"cmd": "close"})
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 2)


# Canned answers of the node peers to CALLs from ocppfast (the version's schemas must accept them).
NODE_STATION_ANSWERS = {
    V16: {
        "GetConfiguration": {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["Nope"],
        },
        "ChangeConfiguration": {"status": "RebootRequired"},
    },
    V201: {
        "GetVariables": {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "300",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
        "Reset": {"status": "Accepted"},
    },
}

NODE_STATION_ANSWERS[V21] = NODE_STATION_ANSWERS[V201]  # same shapes in 2.1

BOOT = {
    V16: {
        "chargePointVendor": "ocpp-rpc",
        "chargePointModel": "node",
        "chargePointSerialNumber": "SN-1",
    },
    V201: {
        "chargingStation": {"model": "node", "vendorName": "ocpp-rpc", "serialNumber": "SN-1"},
        "reason": "PowerUp",
    },
}


BOOT[V21] = BOOT[V201]


def status_notification(subprotocol: str) -> dict[str, Any]:
    if subprotocol == V16:
        return {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": "Preparing",
            "timestamp": "2024-05-01T12:00:00Z",
        }
    return {
        "timestamp": "2024-05-01T12:00:00.000Z",
        "connectorStatus": "Reserved",
        "evseId": 1,
        "connectorId": 1,
    }


@needs_node
@pytest.mark.parametrize("subprotocol", [V16, V201, V21])
async def test_ocpp_rpc_client_against_our_central_system(subprotocol: str) -> None:
    identity = f"RPC {subprotocol}#+ü"  # percent-encoded on the way
    password = "0123456789abcdef0123"  # security profile 1: HTTP Basic identity:password
    cs, rec = central_system([V21, V201, V16], passwords={identity: password})
    async with asyncio.timeout(LIMIT), running(cs):
        peer = await NodePeer.start(
            "rpc_client.js",
            f"ws://127.0.0.1:{cs.port}",
            identity,
            subprotocol,
            json.dumps(NODE_STATION_ANSWERS[subprotocol]),
            password,
        )
        try:
            connected = await peer.event("connected")
            assert connected["protocol"] == subprotocol
            boot = await peer.call("BootNotification", BOOT[subprotocol])
            assert boot["event"] == "result", boot
            assert boot["result"]["status"] == "Accepted" and boot["result"]["interval"] == 300
            parse_time(boot["result"]["currentTime"])
            hb = await peer.call("Heartbeat", {})
            assert hb["event"] == "result", hb
            sn = await peer.call("StatusNotification", status_notification(subprotocol))
            assert sn == {"event": "result", "id": sn["id"], "result": {}}
            # An action our central system has no handler for.
            auth = await peer.call(
                "Authorize",
                {"idTag": "TAG"}
                if subprotocol == V16
                else {"idToken": {"idToken": "TAG", "type": "ISO14443"}},
            )
            assert auth["event"] == "error" and auth["code"] == "NotSupported", auth

            (req,) = rec.requests("BootNotification")
            assert isinstance(req, messages(subprotocol).BootNotificationRequest)
            (st,) = rec.requests("StatusNotification")
            assert parse_time(st.timestamp) == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
            if subprotocol == V16:
                assert (req.charge_point_vendor, req.charge_point_serial_number) == (
                    "ocpp-rpc",
                    "SN-1",
                )
                assert val(st.status) == "Preparing"
                conf = await cs.call(
                    identity, "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]}, timeout=5
                )
                (kv,) = conf.configuration_key
                assert (kv.key, kv.readonly, kv.value, conf.unknown_key) == (
                    "HeartbeatInterval",
                    False,
                    "300",
                    ["Nope"],
                )
                change = await cs.call(
                    identity,
                    "ChangeConfiguration",
                    {"key": "HeartbeatInterval", "value": "60"},
                    timeout=5,
                )
                assert val(change.status) == "RebootRequired"
                called = [
                    ("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]}),
                    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}),
                ]
            else:
                assert req.charging_station.serial_number == "SN-1" and val(req.reason) == "PowerUp"
                assert val(st.connector_status) == "Reserved"
                gv = {
                    "getVariableData": [
                        {
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                        }
                    ]
                }
                got = await cs.call(identity, "GetVariables", gv, timeout=5)
                (res,) = got.get_variable_result
                assert (val(res.attribute_status), res.attribute_value, res.variable.name) == (
                    "Accepted",
                    "300",
                    "HeartbeatInterval",
                )
                reset = await cs.call(
                    identity, "Reset", {"type": "Immediate", "evseId": 1}, timeout=5
                )
                assert val(reset.status) == "Accepted"
                called = [("GetVariables", gv), ("Reset", {"type": "Immediate", "evseId": 1})]
            # ocpp-rpc has no answer for ClearCache: its CALLERROR is our exception.
            with pytest.raises(errors.NotImplementedCallError):
                await cs.call(identity, "ClearCache", {}, timeout=5)
            assert await peer.calls(3) == [*called, ("ClearCache", {})]
            assert peer.problems() == []
            if subprotocol == V16:  # the station closes
                peer.send({"cmd": "close"})
                await peer.event("closed", code=1000)
                await until(lambda: identity not in cs.charge_points)
            else:  # the central system shuts down: close code 1001 "going away"
                await cs.close(timeout=5)
                await peer.event("closed", code=1001)
        finally:
            await peer.close()
        assert peer.problems() == []


@needs_node
@pytest.mark.parametrize("subprotocol", [V16, V201, V21])
async def test_our_client_against_ocpp_rpc_server(subprotocol: str) -> None:
    m = messages(subprotocol)
    identity = f"OURS {subprotocol}#+ü"  # percent-encoded on the way
    central_answers = {
        "BootNotification": {
            "status": "Accepted",
            "currentTime": "2024-05-01T12:00:00.000Z",
            "interval": 60,
        },
        "Heartbeat": {"currentTime": "2024-05-01T12:00:01Z"},
        "StatusNotification": {},
    }
    handled: list[Any] = []
    crossing: list[Any] = []
    cp: Any = None

    def remember(answer: Any) -> Callable[[Any], Any]:
        def handler(req: Any) -> Any:
            handled.append(req)
            return answer

        return handler

    def remember_after_heartbeat(answer: Any) -> Callable[[Any], Any]:
        async def handler(req: Any) -> Any:
            handled.append(req)
            # Our CALL crosses the central system's pending one (allowed in both directions);
            # awaiting it inside the handler must not block the connection.
            crossing.append(await cp.call("Heartbeat", {}))
            return answer

        return handler

    if subprotocol == V16:
        handlers = {
            "GetConfiguration": remember(
                {
                    "configurationKey": [
                        {"key": "HeartbeatInterval", "readonly": False, "value": "60"}
                    ]
                }
            ),
            "ChangeConfiguration": remember_after_heartbeat(
                m.ChangeConfigurationResponse(status="NotSupported")
            ),
        }
    else:
        handlers = {
            "GetVariables": remember(
                {
                    "getVariableResult": [
                        {
                            "attributeStatus": "Accepted",
                            "attributeType": "Actual",
                            "attributeValue": "60",
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                        }
                    ]
                }
            ),
            "Reset": remember_after_heartbeat(m.ResetResponse(status="Rejected")),
        }

    async with asyncio.timeout(LIMIT):
        peer = await NodePeer.start("rpc_server.js", subprotocol, json.dumps(central_answers))
        try:
            port = (await peer.event("listening"))["port"]
            cp = await ocppfast.connect(
                f"ws://127.0.0.1:{port}", identity, versions=[subprotocol], handlers=handlers
            )
            client = await peer.event("client")
            assert client == {"event": "client", "identity": identity, "protocol": subprotocol}

            if subprotocol == V16:
                request = m.BootNotificationRequest(
                    charge_point_vendor="ocppfast", charge_point_model="Interop"
                )
            else:
                request = m.BootNotificationRequest(
                    charging_station=m.ChargingStationType(model="Interop", vendor_name="ocppfast"),
                    reason=m.BootReasonEnumType.remote_reset,
                )
            boot = await cp.call(request)
            assert isinstance(boot, m.BootNotificationResponse)
            assert val(boot.status) == "Accepted" and boot.interval == 60
            assert parse_time(boot.current_time) == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
            hb = await cp.call("Heartbeat", {})
            assert parse_time(hb.current_time) == dt.datetime(2024, 5, 1, 12, 0, 1, tzinfo=dt.UTC)
            assert await cp.call("StatusNotification", status_notification(subprotocol)) is not None
            # The node server has no answer for Authorize.
            with pytest.raises(errors.NotImplementedCallError):
                await cp.call(
                    "Authorize",
                    {"idTag": "TAG"}
                    if subprotocol == V16
                    else {"idToken": {"idToken": "TAG", "type": "Central"}},
                )
            seen = await peer.calls(4)
            assert [s[0] for s in seen] == [
                "BootNotification",
                "Heartbeat",
                "StatusNotification",
                "Authorize",
            ]
            assert seen[2][1] == status_notification(subprotocol)

            # The node central system calls us.
            if subprotocol == V16:
                res = await peer.call("GetConfiguration", {"key": ["HeartbeatInterval"]}, identity)
                assert res["result"] == {
                    "configurationKey": [
                        {"key": "HeartbeatInterval", "readonly": False, "value": "60"}
                    ]
                }, res
                res = await peer.call("ChangeConfiguration", {"key": "X", "value": "1"}, identity)
                assert res["result"] == {"status": "NotSupported"}, res
                assert handled[0].key == ["HeartbeatInterval"] and (
                    handled[1].key,
                    handled[1].value,
                ) == ("X", "1")
            else:
                gv = {
                    "getVariableData": [
                        {
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                            "attributeType": "Actual",
                        }
                    ]
                }
                res = await peer.call("GetVariables", gv, identity)
                assert res["result"]["getVariableResult"][0]["attributeValue"] == "60", res
                res = await peer.call("Reset", {"type": "OnIdle"}, identity)
                assert res["result"] == {"status": "Rejected"}, res
                (d,) = handled[0].get_variable_data
                assert (d.component.name, d.variable.name, val(d.attribute_type)) == (
                    "OCPPCommCtrlr",
                    "HeartbeatInterval",
                    "Actual",
                )
                assert val(handled[1].type) == "OnIdle" and handled[1].evse_id is msgspec.UNSET
            assert [val(h.current_time) for h in crossing] == ["2024-05-01T12:00:01Z"]
            # A known action we have no handler for.
            res = await peer.call("ClearCache", {}, identity)
            assert res["event"] == "error" and res["code"] == "NotSupported", res
            assert peer.problems() == []
        finally:
            if cp is not None:
                await cp.close()
            await peer.close()
        assert peer.problems() == []


@needs_node
@pytest.mark.parametrize("subprotocol", [V16, V201, V21])
async def test_ocpp_rpc_strict_mode_catches_an_invalid_message(subprotocol: str) -> None:
    """The check above is real: with our own outgoing validation off, a response that breaks the
    schema is caught by ocpp-rpc's strict mode (so a clean run means ocppfast sent valid JSON)."""
    cs = ocppfast.CentralSystem(versions=[subprotocol], ping_interval=0, validate_outgoing=False)
    cs.on(
        "BootNotification", lambda cp, req: {"status": "Maybe", "interval": 1, "currentTime": "x"}
    )
    async with asyncio.timeout(LIMIT), running(cs):
        peer = await NodePeer.start(
            "rpc_client.js", f"ws://127.0.0.1:{cs.port}", "STRICT", subprotocol, "{}"
        )
        try:
            await peer.event("connected")
            boot = await peer.call("BootNotification", BOOT[subprotocol])
            assert boot["event"] == "error", boot
            failure = await peer.event("strictValidationFailure")
            assert failure["method"] == "BootNotification" and not failure["isCall"], failure
        finally:
            await peer.close()


async def test_subprotocol_negotiation_with_websockets_peers() -> None:
    """The client's order of preference wins; with no common version the handshake completes
    without a subprotocol and the connection is closed (OCPP-J 1.6 section 3.1.2, 2.0.1 part 4
    section 3.1.2), and our client refuses a server that picks none of its versions."""
    cs, _ = central_system([V201, V16])
    async with asyncio.timeout(LIMIT), running(cs):
        offered = [V21, V16, V201]
        async with websockets.connect(f"ws://127.0.0.1:{cs.port}/PICK", subprotocols=offered) as ws:
            assert ws.subprotocol == V16
        async with websockets.connect(
            f"ws://127.0.0.1:{cs.port}/NONE", subprotocols=["ocpp1.5"]
        ) as ws:
            assert ws.subprotocol is None
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()

    async def close_at_once(websocket: Any) -> None:
        await websocket.close()

    # A server that answers without Sec-WebSocket-Protocol, and one that picks a version we did
    # not offer: both refused by our client.
    async with asyncio.timeout(LIMIT):
        async with websockets.serve(close_at_once, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(ocppfast.SubprotocolError):
                await ocppfast.connect(f"ws://127.0.0.1:{port}", "OLD", versions=[V16])
        async with websockets.serve(
            close_at_once, "127.0.0.1", 0, select_subprotocol=lambda conn, offered: V201
        ) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(ocppfast.SubprotocolError):
                await ocppfast.connect(f"ws://127.0.0.1:{port}", "OLD", versions=[V16])


# --- 4. a bad peer ------------------------------------------------------------------------------

TOO_LONG_ID = "x" * 37
BOOT_16 = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT_201_STATION = {"model": "M", "vendorName": "V"}

# (frame sent, expected answer as (id, code) or None when the spec says to ignore it)
GARBAGE: dict[str, list[tuple[str, tuple[str, str] | None]]] = {
    V16: [
        ("this is {not json", ("-1", "FormationViolation")),
        ('{"not": "an array"}', ("-1", "FormationViolation")),
        ("[]", ("-1", "FormationViolation")),
        ('[9, "t1", "Heartbeat", {}]', None),  # 1.6 section 4.1.3: unknown type, ignore
        ('[6, "t2", "Heartbeat", {}]', None),  # SEND is 2.1 only
        (f'[2, "{TOO_LONG_ID}", "Heartbeat", {{}}]', ("-1", "FormationViolation")),
        ('[2, 17, "Heartbeat", {}]', ("-1", "FormationViolation")),
        ('[2, "c1", "Heartbeat", []]', ("c1", "FormationViolation")),
        ('[2, "c2", "Heartbeat", "x"]', ("c2", "FormationViolation")),
        ('[2, "c3", "FlyToTheMoon", {}]', ("c3", "NotImplemented")),
        (
            '[2, "c4", "BootNotification", {"chargePointVendor": "V"}]',
            ("c4", "OccurenceConstraintViolation"),
        ),
        (
            '[2, "c5", "BootNotification", {"chargePointVendor": 5, "chargePointModel": "M"}]',
            ("c5", "TypeConstraintViolation"),
        ),
        (
            '[2, "c6", "StatusNotification", {"connectorId": 1, "errorCode": "Meh", "status": "Available"}]',
            ("c6", "PropertyConstraintViolation"),
        ),
        ('[2, "c7", "Heartbeat", {"bogus": 1}]', ("c7", "FormationViolation")),
        ('[3, "no-such-call", {}]', None),  # an answer to nothing
        ('[4, "no-such-call", "GenericError", "", {}]', None),
    ],
    V201: [
        ("this is {not json", ("-1", "RpcFrameworkError")),
        ('{"not": "an array"}', ("-1", "RpcFrameworkError")),
        ("[]", ("-1", "RpcFrameworkError")),
        ('[9, "t1", "Heartbeat", {}]', ("t1", "MessageTypeNotSupported")),
        ('[6, "t2", "Heartbeat", {}]', ("t2", "MessageTypeNotSupported")),  # SEND is 2.1 only
        (f'[2, "{TOO_LONG_ID}", "Heartbeat", {{}}]', ("-1", "RpcFrameworkError")),
        ('[2, 17, "Heartbeat", {}]', ("-1", "RpcFrameworkError")),
        ('[2, "c1", "Heartbeat", []]', ("c1", "FormatViolation")),
        ('[2, "c2", "Heartbeat", "x"]', ("c2", "FormatViolation")),
        ('[2, "c3", "FlyToTheMoon", {}]', ("c3", "NotImplemented")),
        (
            '[2, "c4", "BootNotification", {"reason": "PowerUp"}]',
            ("c4", "OccurrenceConstraintViolation"),
        ),
        (
            '[2, "c5", "BootNotification", {"reason": "PowerUp", "chargingStation": {"model": 5, "vendorName": "V"}}]',
            ("c5", "TypeConstraintViolation"),
        ),
        (
            '[2, "c6", "BootNotification", {"reason": "Bored", "chargingStation": {"model": "M", "vendorName": "V"}}]',
            ("c6", "PropertyConstraintViolation"),
        ),
        ('[2, "c7", "Heartbeat", {"bogus": 1}]', ("c7", "FormatViolation")),
        ('[3, "no-such-call", {}]', None),
        ('[4, "no-such-call", "GenericError", "", {}]', None),
    ],
}


@pytest.mark.parametrize("subprotocol", [V16, V201])
async def test_bad_peer_gets_callerrors_and_the_server_keeps_serving(subprotocol: str) -> None:
    m = messages(subprotocol)
    cs, rec = central_system([V201, V16])
    async with asyncio.timeout(LIMIT), running(cs):
        # A well-behaved station, connected all along.
        good = await ocppfast.connect(f"ws://127.0.0.1:{cs.port}", "GOOD", versions=[subprotocol])
        try:
            async with websockets.connect(
                f"ws://127.0.0.1:{cs.port}/BAD", subprotocols=[subprotocol]
            ) as ws:
                assert ws.subprotocol == subprotocol
                for frame, _ in GARBAGE[subprotocol]:
                    await ws.send(frame)
                boot = (
                    {"chargingStation": BOOT_201_STATION, "reason": "PowerUp"}
                    if subprotocol == V201
                    else BOOT_16
                )
                await ws.send(json.dumps([2, "end", "BootNotification", boot]))
                answers = []
                while True:
                    answer = json.loads(await ws.recv())
                    if answer[1] == "end":
                        break
                    answers.append(answer)
                assert answer[0] == 3 and answer[2]["status"] == "Accepted", answer

                got = [(a[1], a[2]) for a in answers]
                want = [e for _, e in GARBAGE[subprotocol] if e is not None]
                assert got == want
                for a in answers:
                    # [4, id, code, description, details]: details an object, description short
                    # and not echoing the invalid message (2.0.1 part 4 section 4.2.3).
                    assert a[0] == 4 and len(a) == 5, a
                    assert isinstance(a[3], str) and len(a[3]) <= 255, a
                    assert isinstance(a[4], dict), a
                    assert "this is {not json" not in a[3] and TOO_LONG_ID not in a[3], a
                assert "BAD" in cs.charge_points  # still connected, still served

            # The other station was not disturbed: it boots after the garbage.
            if subprotocol == V16:
                res = await good.call(
                    m.BootNotificationRequest(charge_point_vendor="V", charge_point_model="M")
                )
            else:
                res = await good.call(
                    "BootNotification", {"chargingStation": BOOT_201_STATION, "reason": "PowerUp"}
                )
            assert val(res.status) == "Accepted"
            assert [i for i, a, _ in rec.calls if a == "BootNotification"] == ["BAD", "GOOD"]
        finally:
            await good.close()


async def test_too_many_bad_messages_close_the_connection() -> None:
    cs, _ = central_system([V201], max_bad_messages=3)
    async with asyncio.timeout(LIMIT), running(cs):
        ws = await websockets.connect(f"ws://127.0.0.1:{cs.port}/NOISY", subprotocols=[V201])
        for _ in range(3):
            await ws.send("garbage")
        codes = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                codes.append(json.loads(await ws.recv())[2])
        assert codes == ["RpcFrameworkError"] * 3
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002
