"""mobilityhouse-style examples (1.6, 2.0.1, 2.1 central system + charge point) on ``websockets``.

The example code is written once, as a mobilityhouse user writes it; the only thing that changes
between runs is the package it imports from (``ocpp`` or ``ocppfast.compat``). Each central
system runs against each charge point over loopback: compat with compat, and across with the
real mobilityhouse package both ways. One more run takes the unchanged ``import ocpp`` source to a
subprocess that calls ``ocppfast.compat.install()`` first.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from types import ModuleType
from typing import Any, ClassVar

import ocpp.v16
import ocpp.v16.call
import picows
import pytest
import websockets

import ocppfast.compat
import ocppfast.compat.routing
import ocppfast.compat.v16
import ocppfast.errors
from ocppfast.compat.serve import ConnectionClosed

# {pkg} is the only difference between runs: "ocpp" or "ocppfast.compat".
CENTRAL_SYSTEM = {
    "v16": """
        import asyncio
        from datetime import datetime, timezone

        import websockets

        from {pkg}.routing import after, on
        from {pkg}.v16 import ChargePoint as cp
        from {pkg}.v16 import call, call_result
        from {pkg}.v16.enums import Action, RegistrationStatus

        events = []


        class ChargePoint(cp):
            @on(Action.boot_notification)
            def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str,
                                     **kwargs):
                events.append(("boot", charge_point_vendor, charge_point_model))
                return call_result.BootNotification(
                    current_time=datetime.now(timezone.utc).isoformat(),
                    interval=10,
                    status=RegistrationStatus.accepted,
                )

            @on(Action.heartbeat)
            async def on_heartbeat(self):
                events.append(("heartbeat",))
                return call_result.Heartbeat(current_time=datetime.now(timezone.utc).isoformat())

            @after(Action.boot_notification)
            async def after_boot(self, **kwargs):
                response = await self.call(call.ChangeAvailability(connector_id=0,
                                                                   type="Inoperative"))
                events.append(("change_availability", response.status))


        async def on_connect(websocket):
            requested = websocket.request.headers.get("Sec-WebSocket-Protocol")
            if not requested or not websocket.subprotocol:
                return await websocket.close()
            charge_point_id = websocket.request.path.strip("/")
            await ChargePoint(charge_point_id, websocket).start()


        async def serve(port):
            return await websockets.serve(on_connect, "127.0.0.1", port, subprotocols=["ocpp1.6"])
    """,
    "v201": """
        import asyncio
        from datetime import datetime, timezone

        import websockets

        from {pkg}.routing import after, on
        from {pkg}.v201 import ChargePoint as cp
        from {pkg}.v201 import call, call_result
        from {pkg}.v201.enums import Action, RegistrationStatusEnumType

        events = []


        class ChargePoint(cp):
            @on(Action.boot_notification)
            def on_boot_notification(self, charging_station, reason, **kwargs):
                events.append(("boot", charging_station["vendor_name"], reason))
                return call_result.BootNotification(
                    current_time=datetime.now(timezone.utc).isoformat(),
                    interval=1,
                    status=RegistrationStatusEnumType.accepted,
                )

            @on(Action.heartbeat)
            def on_heartbeat(self):
                events.append(("heartbeat",))
                return call_result.Heartbeat(
                    current_time=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + "Z"
                )

            @after(Action.boot_notification)
            async def after_boot(self, **kwargs):
                response = await self.call(call.GetVariables(get_variable_data=[
                    {"component": {"name": "OCPPCommCtrlr"},
                     "variable": {"name": "HeartbeatInterval"}}
                ]))
                result = response.get_variable_result[0]
                events.append(("get_variables", result["attribute_status"],
                               result["attribute_value"]))


        async def on_connect(websocket):
            requested = websocket.request.headers.get("Sec-WebSocket-Protocol")
            if not requested or not websocket.subprotocol:
                return await websocket.close()
            charge_point_id = websocket.request.path.strip("/")
            await ChargePoint(charge_point_id, websocket).start()


        async def serve(port):
            return await websockets.serve(on_connect, "127.0.0.1", port,
                                          subprotocols=["ocpp2.0.1"])
    """,
}
CENTRAL_SYSTEM["v21"] = (
    CENTRAL_SYSTEM["v201"].replace(".v201", ".v21").replace("ocpp2.0.1", "ocpp2.1")
)

CHARGE_POINT = {
    "v16": """
        import asyncio

        import websockets

        from {pkg}.routing import on
        from {pkg}.v16 import ChargePoint as cp
        from {pkg}.v16 import call, call_result
        from {pkg}.v16.enums import Action, AvailabilityStatus, RegistrationStatus

        events = []


        class ChargePoint(cp):
            @on(Action.change_availability)
            def on_change_availability(self, connector_id, type):
                events.append(("change_availability", connector_id, type))
                return call_result.ChangeAvailability(status=AvailabilityStatus.scheduled)

            async def send_boot_notification(self):
                request = call.BootNotification(charge_point_model="Optimus",
                                                charge_point_vendor="The Mobility House")
                response = await self.call(request)
                if response.status == RegistrationStatus.accepted:
                    events.append(("accepted", response.interval))
                await self.call(call.Heartbeat())
                events.append(("heartbeat",))
                while len(events) < 3:
                    await asyncio.sleep(0.01)


        async def run(port):
            async with websockets.connect(f"ws://127.0.0.1:{port}/CP_1",
                                          subprotocols=["ocpp1.6"]) as ws:
                charge_point = ChargePoint("CP_1", ws)
                task = asyncio.ensure_future(charge_point.start())
                await charge_point.send_boot_notification()
                task.cancel()
    """,
    "v201": """
        import asyncio

        import websockets

        from {pkg}.routing import on
        from {pkg}.v201 import ChargePoint as cp
        from {pkg}.v201 import call, call_result
        from {pkg}.v201.enums import Action, GetVariableStatusEnumType

        events = []


        class ChargePoint(cp):
            @on(Action.get_variables)
            def on_get_variables(self, get_variable_data, **kwargs):
                data = get_variable_data[0]
                events.append(("get_variables", data["variable"]["name"]))
                return call_result.GetVariables(get_variable_result=[{
                    "attribute_status": GetVariableStatusEnumType.accepted,
                    "attribute_value": "1",
                    "component": data["component"],
                    "variable": data["variable"],
                }])

            async def send_heartbeat(self, interval):
                request = call.Heartbeat()
                for _ in range(2):
                    await self.call(request)
                    events.append(("heartbeat",))
                    await asyncio.sleep(interval / 10)

            async def send_boot_notification(self):
                request = call.BootNotification(
                    charging_station={"model": "Wallbox XYZ", "vendor_name": "anewone"},
                    reason="PowerUp",
                )
                response = await self.call(request)
                if response.status == "Accepted":
                    events.append(("accepted", response.interval))
                    await self.send_heartbeat(response.interval)
                while len(events) < 4:
                    await asyncio.sleep(0.01)


        async def run(port):
            async with websockets.connect(f"ws://127.0.0.1:{port}/CP_1",
                                          subprotocols=["ocpp2.0.1"]) as ws:
                charge_point = ChargePoint("CP_1", ws)
                task = asyncio.ensure_future(charge_point.start())
                await charge_point.send_boot_notification()
                task.cancel()
    """,
}
CHARGE_POINT["v21"] = CHARGE_POINT["v201"].replace(".v201", ".v21").replace("ocpp2.0.1", "ocpp2.1")

PACKAGES = {"mh": "ocpp", "compat": "ocppfast.compat"}

EXPECTED_CS = {
    "v16": [
        ("boot", "The Mobility House", "Optimus"),
        ("heartbeat",),
        ("change_availability", "Scheduled"),
    ],
    "v201": [
        ("boot", "anewone", "PowerUp"),
        ("get_variables", "Accepted", "1"),
        ("heartbeat",),
        ("heartbeat",),
    ],
}
EXPECTED_CS["v21"] = EXPECTED_CS["v201"]
EXPECTED_CP = {
    "v16": [("accepted", 10), ("heartbeat",), ("change_availability", 0, "Inoperative")],
    "v201": [
        ("accepted", 1),
        ("get_variables", "HeartbeatInterval"),
        ("heartbeat",),
        ("heartbeat",),
    ],
}
EXPECTED_CP["v21"] = EXPECTED_CP["v201"]


def load(source: str, pkg: str, name: str) -> ModuleType:
    module = ModuleType(name)
    code = compile(textwrap.dedent(source).replace("{pkg}", pkg), name, "exec")
    exec(code, module.__dict__)  # noqa: S102 - the example source, its imports filled in
    return module


def on_transport(source: str, transport: str) -> str:
    """``websockets`` as written, or ocppfast's picows server/client in its place."""
    if transport == "picows":
        return source.replace("import websockets\n", "import ocppfast.compat as websockets\n")
    return source


COMBINATIONS = [
    # (cs library, cp library, cs transport, cp transport)
    ("compat", "compat", "websockets", "websockets"),
    ("mh", "compat", "websockets", "websockets"),
    ("compat", "mh", "websockets", "websockets"),
    ("mh", "mh", "websockets", "websockets"),
    ("compat", "compat", "picows", "picows"),
    ("compat", "compat", "picows", "websockets"),
    ("compat", "compat", "websockets", "picows"),
    ("compat", "mh", "picows", "websockets"),
    ("mh", "compat", "websockets", "picows"),
]


@pytest.mark.parametrize("version", ["v16", "v201", "v21"])
@pytest.mark.parametrize(
    "cs_lib, cp_lib, cs_transport, cp_transport",
    COMBINATIONS,
    ids=["-".join(c) for c in COMBINATIONS],
)
async def test_example(
    version: str, cs_lib: str, cp_lib: str, cs_transport: str, cp_transport: str
) -> None:
    cs = load(
        on_transport(CENTRAL_SYSTEM[version], cs_transport),
        PACKAGES[cs_lib],
        f"cs_{version}_{cs_lib}",
    )
    cp = load(
        on_transport(CHARGE_POINT[version], cp_transport),
        PACKAGES[cp_lib],
        f"cp_{version}_{cp_lib}",
    )
    server = await cs.serve(0)
    try:
        port = server.sockets[0].getsockname()[1]
        await asyncio.wait_for(cp.run(port), 10)
        for _ in range(100):
            if len(cs.events) >= len(EXPECTED_CS[version]):
                break
            await asyncio.sleep(0.01)
    finally:
        server.close()
        await server.wait_closed()
    assert sorted(cs.events, key=str) == sorted(EXPECTED_CS[version], key=str)
    assert sorted(cp.events, key=str) == sorted(EXPECTED_CP[version], key=str)


def test_unchanged_mobilityhouse_code_runs_after_install(tmp_path: Any) -> None:
    """The ``import ocpp`` source, untouched, in a process that calls install() first, serving
    a charge point that runs on the real mobilityhouse package in this process."""
    script = tmp_path / "cs.py"
    script.write_text(
        "import ocppfast.compat\nocppfast.compat.install()\n"
        + textwrap.dedent(CENTRAL_SYSTEM["v16"]).replace("{pkg}", "ocpp")
        + textwrap.dedent(
            """
            import sys
            import ocpp.routing
            assert ocpp.routing.__name__ == "ocppfast.compat.routing", ocpp.routing.__name__

            async def main():
                server = await serve(0)
                print(server.sockets[0].getsockname()[1], flush=True)
                while len(events) < 3:
                    await asyncio.sleep(0.01)
                print(repr(events), flush=True)
                server.close()

            asyncio.run(main())
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        cp = load(CHARGE_POINT["v16"], "ocpp", "cp_v16_mh_sub")
        asyncio.run(asyncio.wait_for(cp.run(port), 10))
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert sorted(eval(out.strip()), key=str) == sorted(EXPECTED_CS["v16"], key=str), err
    assert sorted(cp.events, key=str) == sorted(EXPECTED_CP["v16"], key=str)
    assert websockets.__version__


# --- ocppfast.compat.serve / connect: the picows connection itself ----------------------------


class RawClient(picows.WSListener):  # type: ignore[misc]
    """A bare picows client: sends whatever frames a test wants, records what comes back."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[tuple[int, bytes, int | None]] = []
        self.gone = asyncio.Event()

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        code = frame.get_close_code() if frame.msg_type == picows.WSMsgType.CLOSE else None
        self.frames.append((int(frame.msg_type), frame.get_payload_as_bytes(), code))

    def on_ws_disconnected(self, transport: Any) -> None:
        self.gone.set()


async def _raw(port: int, path: str = "/CP_1") -> tuple[Any, RawClient]:
    transport, client = await picows.ws_connect(
        RawClient,
        f"ws://127.0.0.1:{port}{path}",
        extra_headers={"Sec-WebSocket-Protocol": "ocpp1.6"},
    )
    return transport, client


def _heartbeat_class() -> type:
    class CP(ocppfast.compat.v16.ChargePoint):
        seen: ClassVar[list[Any]] = []

        @ocppfast.compat.routing.on("Heartbeat")
        def on_hb(self: Any) -> Any:
            CP.seen.append(self.id)
            return ocppfast.compat.v16.call_result.Heartbeat(current_time="t")

    return CP


async def test_serve_a_charge_point_class_and_connect_with_mobilityhouse() -> None:
    cls = _heartbeat_class()
    async with await ocppfast.compat.serve(cls, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as srv:
        port = srv.sockets[0].getsockname()[1]
        async with ocppfast.compat.connect(
            f"ws://127.0.0.1:{port}/CP%201", subprotocols=["ocpp2.0.1", "ocpp1.6"]
        ) as ws:
            assert ws.subprotocol == "ocpp1.6"
            cp = ocpp.v16.ChargePoint("CP 1", ws)  # the real mobilityhouse class on picows
            task = asyncio.ensure_future(cp.start())
            res = await cp.call(ocpp.v16.call.Heartbeat())
            assert res.current_time == "t"
            task.cancel()
    assert cls.seen == ["CP 1"]


async def test_connection_without_common_subprotocol_and_after_close() -> None:
    seen: list[Any] = []

    async def handler(ws: Any) -> None:
        seen.append((ws.subprotocol, ws.request.path, ws.request.headers.get("X-Test")))
        await ws.close()
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        seen.append("recv raised")

    srv = await ocppfast.compat.serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"])
    port = srv.sockets[0].getsockname()[1]
    ws = await ocppfast.compat.connect(
        f"ws://127.0.0.1:{port}/a/b?x=1", subprotocols=["ocpp2.1"], extra_headers={"X-Test": "1"}
    )
    assert ws.subprotocol is None
    assert [m async for m in ws] == []  # the server closed: iteration ends
    with pytest.raises(ocppfast.errors.ConnectionClosedError):
        await ws.send("x")
    srv.close()
    await srv.wait_closed()
    assert seen == [(None, "/a/b?x=1", "1"), "recv raised"]


@pytest.mark.parametrize("case", ["binary", "utf8", "fragmented", "too-big", "continuation"])
async def test_bad_frames_on_the_picows_connection(case: str) -> None:
    cls = _heartbeat_class()
    srv = await ocppfast.compat.serve(
        cls, "127.0.0.1", 0, subprotocols=["ocpp1.6"], max_message_size=64
    )
    port = srv.sockets[0].getsockname()[1]
    transport, client = await _raw(port)
    text, cont = picows.WSMsgType.TEXT, picows.WSMsgType.CONTINUATION
    if case == "binary":
        transport.send(picows.WSMsgType.BINARY, b"[]")
    elif case == "utf8":
        transport.send(text, b'[2,"1","Heartbeat",{"x":"\xff"}]')
    elif case == "fragmented":
        transport.send(text, b'[2,"1",', fin=False)
        transport.send(cont, b'"Heartbeat",{}]', fin=True)
    elif case == "too-big":
        transport.send(text, b'[2,"1","Heartbeat",', fin=False)
        transport.send(cont, b" " * 100, fin=True)
    else:
        transport.send(cont, b"x", fin=True)
    if case == "fragmented":
        for _ in range(200):
            if client.frames:
                break
            await asyncio.sleep(0.01)
        assert client.frames == [(1, b'[3,"1",{"currentTime":"t"}]', None)]
        transport.disconnect()
    else:
        await asyncio.wait_for(client.gone.wait(), 5)
        codes = {"binary": 1003, "utf8": 1007, "too-big": 1009, "continuation": 1002}
        assert client.frames[-1][2] == codes[case]
    srv.close()
    await srv.wait_closed()
