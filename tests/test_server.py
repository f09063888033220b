"""CentralSystem and client over real sockets on loopback: handshake rules, auth, TLS with real
certificates, registry, duplicates, keepalive, limits, shutdown, fan-out, reconnect."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import ssl
from pathlib import Path
from typing import Any

import msgspec
import picows
import pytest

import ocppfast
from ocppfast import errors
from ocppfast.client import SubprotocolError

BOOT16 = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT201 = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
NOW = "2026-11-24T12:00:00Z"


def boot_answer(cp: Any, req: Any) -> dict[str, Any]:
    return {"status": "Accepted", "currentTime": NOW, "interval": 300}


async def make_cs(**options: Any) -> ocppfast.CentralSystem:
    options.setdefault("ping_interval", 0)
    cs = ocppfast.CentralSystem(**options)
    cs.on("BootNotification", boot_answer)
    cs.on("Heartbeat", lambda cp, req: {"currentTime": NOW})
    await cs.start("127.0.0.1", 0)
    return cs


def url(cs: ocppfast.CentralSystem, scheme: str = "ws") -> str:
    return f"{scheme}://127.0.0.1:{cs.port}/ocpp"


async def raw_handshake(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A hand-written HTTP upgrade: returns (status, headers, whatever followed the headers)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    hdrs = {
        "Host": f"127.0.0.1:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
        "Sec-WebSocket-Version": "13",
    }
    hdrs.update(headers or {})
    req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    writer.write(req.encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    out = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip()
    try:
        rest = await asyncio.wait_for(reader.read(1024), 0.5 if status == 101 else 2)
    except (TimeoutError, ConnectionError):
        rest = b""
    writer.close()
    return status, out, rest


# --- basic flow ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version, boot", [("ocpp1.6", BOOT16), ("ocpp2.0.1", BOOT201), ("ocpp2.1", BOOT201)]
)
async def test_boot_heartbeat_and_csms_call(version: str, boot: dict[str, Any]) -> None:
    connected, disconnected = [], []
    cs = await make_cs(on_connect=connected.append, on_disconnect=disconnected.append)
    try:
        cp = await ocppfast.connect(
            url(cs),
            "CP-1",
            versions=[version],
            handlers={"DataTransfer": lambda req: {"status": "Accepted", "data": "pong"}},
        )
        assert cp.subprotocol == version
        res = await cp.call("BootNotification", boot)
        assert res.status == "Accepted" and res.interval == 300
        hb = await cp.call("Heartbeat", {})
        assert hb.current_time == NOW
        assert list(cs.charge_points) == ["CP-1"] and connected[0].identity == "CP-1"
        answer = await cs.call("CP-1", "DataTransfer", {"vendorId": "X", "data": "ping"})
        assert (answer.status, answer.data) == ("Accepted", "pong")
        await cp.close()
        await asyncio.wait_for(_until(lambda: not cs.charge_points), 5)
        assert disconnected and disconnected[0] is connected[0]
    finally:
        await cs.close()


async def _until(cond: Any) -> None:
    while not cond():
        await asyncio.sleep(0.01)


async def test_handler_calls_back_before_answering() -> None:
    """The server's BootNotification handler asks the station something first (the
    mobilityhouse deadlock case), over real sockets."""
    cs = await make_cs()

    @cs.on("BootNotification")
    async def boot(cp: Any, req: Any) -> dict[str, Any]:
        conf = await cp.call("DataTransfer", {"vendorId": "cfg"})
        return {"status": conf.status, "currentTime": NOW, "interval": 10}

    try:
        cp = await ocppfast.connect(
            url(cs),
            "CB1",
            versions=["ocpp1.6"],
            handlers={"DataTransfer": lambda req: {"status": "Accepted"}},
        )
        res = await asyncio.wait_for(cp.call("BootNotification", BOOT16), 5)
        assert res.status == "Accepted"
        await cp.close()
    finally:
        await cs.close()


# --- identity and handshake ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, status",
    [
        ("/ocpp/CP%201", 101),
        ("/ocpp/", 400),
        ("/ocpp/" + "x" * 49, 400),
        ("/ocpp/" + "x" * 48, 101),
        ("/ocpp/CP%3A1", 400),
        ("/ocpp/CP:1", 400),
        ("/ocpp/CP%011", 400),
        ("/ocpp/CP%ZZ", 400),
        ("/ocpp/%FF%FE", 400),
        ("/other/CP1", 404),
        ("/ocpp/unknown-one", 404),
    ],
)
async def test_identity_rules(path: str, status: int) -> None:
    cs = await make_cs(path="/ocpp", identity_known=lambda ident: ident != "unknown-one")
    try:
        got, _, _ = await raw_handshake(cs.port, path, {"Sec-WebSocket-Protocol": "ocpp1.6"})
        assert got == status
    finally:
        await cs.close()


async def test_identity_is_percent_decoded() -> None:
    cs = await make_cs()
    try:
        cp = await ocppfast.connect(url(cs), "CP 1/ü", versions=["ocpp1.6"])
        assert list(cs.charge_points) == ["CP 1/ü"]
        await cp.close()
    finally:
        await cs.close()


@pytest.mark.parametrize(
    "offered, enabled, chosen",
    [
        ("ocpp2.1, ocpp1.6", ["ocpp1.6", "ocpp2.0.1"], "ocpp1.6"),
        ("ocpp1.6,ocpp2.0.1", ["ocpp2.0.1", "ocpp1.6"], "ocpp1.6"),  # client's preference wins
        ("ocpp2.0.1", ["ocpp2.1", "ocpp2.0.1", "ocpp1.6"], "ocpp2.0.1"),
        ("ocpp1.5, ocpp2.1", ["ocpp2.1"], "ocpp2.1"),
    ],
)
async def test_subprotocol_negotiation(offered: str, enabled: list[str], chosen: str) -> None:
    cs = await make_cs(versions=enabled)
    try:
        status, headers, _ = await raw_handshake(
            cs.port, "/ocpp/CP1", {"Sec-WebSocket-Protocol": offered}
        )
        assert status == 101 and headers["sec-websocket-protocol"] == chosen
    finally:
        await cs.close()


@pytest.mark.parametrize("offered", [None, "ocpp1.2", "chat, superchat"])
async def test_no_acceptable_subprotocol_completes_then_closes(offered: str | None) -> None:
    cs = await make_cs(versions=["ocpp2.0.1"])
    try:
        headers = {"Sec-WebSocket-Protocol": offered} if offered else {}
        status, got, rest = await raw_handshake(cs.port, "/ocpp/CP1", headers)
        assert status == 101 and "sec-websocket-protocol" not in got
        # then a close frame (opcode 8) with code 1002
        assert rest[:1] == b"\x88" and int.from_bytes(rest[2:4], "big") == 1002
        assert not cs.charge_points
    finally:
        await cs.close()


async def test_client_refuses_server_without_our_subprotocol() -> None:
    cs = await make_cs(versions=["ocpp2.0.1"])
    try:
        with pytest.raises(SubprotocolError):
            await ocppfast.connect(url(cs), "CP1", versions=["ocpp1.6"])
    finally:
        await cs.close()


async def test_client_refuses_unoffered_subprotocol() -> None:
    """A (broken) server that picks a subprotocol we never offered."""

    def factory(request: Any) -> Any:
        response = picows.WSUpgradeResponse.create_101_response(
            {"Sec-WebSocket-Protocol": "ocpp2.1"}
        )
        return picows.WSUpgradeResponseWithListener(response, picows.WSListener())

    server = await picows.ws_create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(SubprotocolError, match="ocpp2.1"):
            await ocppfast.connect(f"ws://127.0.0.1:{port}/ocpp", "CP1", versions=["ocpp1.6"])
    finally:
        server.close()


# --- Basic auth -------------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Sec-WebSocket-Protocol": "ocpp1.6"}


@pytest.mark.parametrize(
    "headers, status",
    [
        (basic("CP1", "0123456789abcdef"), 101),
        (basic("CP1", "wrong-password-xx"), 401),
        (basic("CP2", "0123456789abcdef"), 401),  # user part must equal the identity
        ({"Sec-WebSocket-Protocol": "ocpp1.6"}, 401),
        ({"Authorization": "Basic !!!notbase64", "Sec-WebSocket-Protocol": "ocpp1.6"}, 401),
        ({"Authorization": "Bearer abc", "Sec-WebSocket-Protocol": "ocpp1.6"}, 401),
    ],
)
async def test_basic_auth(headers: dict[str, str], status: int) -> None:
    cs = await make_cs(passwords={"CP1": "0123456789abcdef", "CP2": "other-password-123"})
    try:
        got, hdrs, _ = await raw_handshake(cs.port, "/ocpp/CP1", headers)
        assert got == status
        if status == 401:
            assert hdrs["www-authenticate"].startswith("Basic")
    finally:
        await cs.close()


async def test_basic_auth_client_and_hook() -> None:
    cs = await make_cs(authenticate=lambda ident, pw: pw == f"{ident}-secret-1234")
    try:
        cp = await ocppfast.connect(
            url(cs), "CPA", versions=["ocpp1.6"], password="CPA-secret-1234"
        )
        assert (await cp.call("Heartbeat", {})).current_time
        await cp.close()
        with pytest.raises(picows.WSError):
            await ocppfast.connect(url(cs), "CPA", versions=["ocpp1.6"], password="nope")
    finally:
        await cs.close()


# --- TLS: security profiles 2 and 3 with real certificates made here -------------------------


def _certs(tmp: Path) -> dict[str, Path]:
    """A CA, a server certificate (127.0.0.1/localhost) and a client certificate with CN=CP-TLS,
    made by the TLS example's own maker (``examples/certs.py``: one source for both)."""
    spec = importlib.util.spec_from_file_location(
        "ocppfast_example_certs", Path(__file__).resolve().parents[1] / "examples" / "certs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.make_certs(tmp, "CP-TLS")
    return {
        "ca": made.ca,
        "server": made.server_cert,
        "server_key": made.server_key,
        "client": made.client_cert,
        "client_key": made.client_key,
    }


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Path]:
    return _certs(tmp_path)


def server_ctx(certs: dict[str, Path], client_certs: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certs["server"], certs["server_key"])
    if client_certs:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(certs["ca"])
    return ctx


def client_ctx(certs: dict[str, Path], with_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs["ca"]))
    if with_cert:
        ctx.load_cert_chain(certs["client"], certs["client_key"])
    return ctx


async def test_tls_profile_2(certs: dict[str, Path]) -> None:
    cs = await make_cs(ssl=server_ctx(certs, False), passwords={"CP-TLS": "0123456789abcdef"})
    try:
        cp = await ocppfast.connect(
            url(cs, "wss"),
            "CP-TLS",
            versions=["ocpp2.0.1"],
            password="0123456789abcdef",
            ssl=client_ctx(certs, False),
        )
        assert (await cp.call("BootNotification", BOOT201)).status == "Accepted"
        await cp.close()
        # a client that does not trust the server's CA refuses to connect
        with pytest.raises(ssl.SSLCertVerificationError):
            await ocppfast.connect(
                url(cs, "wss"),
                "CP-TLS",
                versions=["ocpp2.0.1"],
                password="0123456789abcdef",
                ssl=ssl.create_default_context(),
            )
    finally:
        await cs.close()


async def test_tls_profile_3_client_certificates(certs: dict[str, Path]) -> None:
    cs = await make_cs(ssl=server_ctx(certs, True))
    try:
        cp = await ocppfast.connect(
            url(cs, "wss"), "CP-TLS", versions=["ocpp1.6"], ssl=client_ctx(certs, True)
        )
        assert (await cp.call("BootNotification", BOOT16)).status == "Accepted"
        await cp.close()
        with pytest.raises((ssl.SSLError, ConnectionError, picows.WSError, TimeoutError)):
            cp = await ocppfast.connect(
                url(cs, "wss"),
                "CP-TLS",
                versions=["ocpp1.6"],
                ssl=client_ctx(certs, False),
                connect_timeout=3,
            )
            await cp.call("Heartbeat", {}, timeout=2)
    finally:
        await cs.close()


# --- registry --------------------------------------------------------------------------------


async def test_duplicate_identity_replaces_by_default() -> None:
    cs = await make_cs()
    try:
        old = await ocppfast.connect(url(cs), "DUP", versions=["ocpp1.6"])
        new = await ocppfast.connect(url(cs), "DUP", versions=["ocpp1.6"])
        await asyncio.wait_for(old.wait_closed(), 5)
        await asyncio.sleep(0.05)
        assert cs.charge_points["DUP"] is not None
        assert (await new.call("Heartbeat", {})).current_time
        assert len(cs.charge_points) == 1
        await new.close()
    finally:
        await cs.close()


async def test_duplicate_identity_reject() -> None:
    cs = await make_cs(duplicate_identity="reject")
    try:
        first = await ocppfast.connect(url(cs), "DUP", versions=["ocpp1.6"])
        status, _, _ = await raw_handshake(
            cs.port, "/ocpp/DUP", {"Sec-WebSocket-Protocol": "ocpp1.6"}
        )
        assert status == 409
        assert (await first.call("Heartbeat", {})).current_time
        await first.close()
    finally:
        await cs.close()


def _answer_with(data: str) -> Any:
    return lambda req: {"status": "Accepted", "data": data}


async def test_call_many_fan_out() -> None:
    cs = await make_cs()
    n = 50
    clients = []
    try:
        for i in range(n):
            clients.append(
                await ocppfast.connect(
                    url(cs),
                    f"FAN{i}",
                    versions=["ocpp1.6"],
                    handlers={"DataTransfer": _answer_with(str(i))},
                )
            )
        results = await cs.call_many(
            "DataTransfer", {"vendorId": "x"}, identities=[f"FAN{i}" for i in range(n)] + ["GONE"]
        )
        assert {k: v.data for k, v in results.items() if k != "GONE"} == {
            f"FAN{i}": str(i) for i in range(n)
        }
        # an identity that is not connected: NotConnectedError (a ConnectionClosedError)
        assert type(results["GONE"]) is errors.NotConnectedError
        assert isinstance(results["GONE"], errors.ConnectionClosedError)
        with pytest.raises(errors.NotConnectedError, match="'GONE' is not connected"):
            await cs.call("GONE", "DataTransfer", {"vendorId": "x"})
    finally:
        for c in clients:
            await c.close()
        await cs.close()


# --- keepalive, limits, bad peers --------------------------------------------------------------


async def test_dead_peer_dropped_and_its_calls_failed() -> None:
    cs = await make_cs(ping_interval=0.2, ping_timeout=0.2)
    try:
        # A peer that completes the handshake and then never answers anything (not even pings).
        reader, writer = await asyncio.open_connection("127.0.0.1", cs.port)
        writer.write(
            b"GET /ocpp/DEAD HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        )
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.wait_for(_until(lambda: "DEAD" in cs.charge_points), 5)
        with pytest.raises(errors.ConnectionClosedError):
            await asyncio.wait_for(cs.call("DEAD", "DataTransfer", {"vendorId": "x"}), 5)
        assert "DEAD" not in cs.charge_points
        writer.close()
    finally:
        await cs.close()


async def test_live_peer_survives_pings() -> None:
    cs = await make_cs(ping_interval=0.1, ping_timeout=0.1)
    try:
        cp = await ocppfast.connect(url(cs), "LIVE", versions=["ocpp1.6"])  # picows auto-pongs
        await asyncio.sleep(0.6)
        assert "LIVE" in cs.charge_points and not cp.closed
        await cp.close()
    finally:
        await cs.close()


class RawClient(picows.WSListener):
    def __init__(self) -> None:
        self.frames: asyncio.Queue[Any] = asyncio.Queue()
        self.close_code: int | None = None

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type == picows.WSMsgType.CLOSE:
            self.close_code = int(frame.get_close_code())
            transport.disconnect()
        elif frame.msg_type == picows.WSMsgType.TEXT:
            self.frames.put_nowait(msgspec.json.decode(frame.get_payload_as_bytes()))

    def on_ws_disconnected(self, transport: Any) -> None:
        self.frames.put_nowait(None)


async def raw_client(
    cs: ocppfast.CentralSystem, identity: str, version: str = "ocpp1.6"
) -> tuple[Any, RawClient]:
    transport, listener = await picows.ws_connect(
        RawClient,
        f"ws://127.0.0.1:{cs.port}/ocpp/{identity}",
        extra_headers={"Sec-WebSocket-Protocol": version},
    )
    return transport, listener


async def test_fragmented_message_is_reassembled() -> None:
    cs = await make_cs()
    try:
        tr, cl = await raw_client(cs, "FRAG")
        msg = b'[2,"f1","Heartbeat",{}]'
        tr.send(picows.WSMsgType.TEXT, msg[:5], fin=False)
        tr.send(picows.WSMsgType.CONTINUATION, msg[5:12], fin=False)
        tr.send(picows.WSMsgType.CONTINUATION, msg[12:], fin=True)
        got = await asyncio.wait_for(cl.frames.get(), 5)
        assert got[:2] == [3, "f1"] and "currentTime" in got[2]
        tr.disconnect()
    finally:
        await cs.close()


async def test_oversize_messages_close_1009() -> None:
    cs = await make_cs(max_message_size=1000)
    try:
        tr, cl = await raw_client(cs, "BIG")
        for _ in range(3):
            tr.send(
                picows.WSMsgType.TEXT if _ == 0 else picows.WSMsgType.CONTINUATION,
                b"x" * 400,
                fin=False,
            )
        assert await asyncio.wait_for(cl.frames.get(), 5) is None
        assert cl.close_code == 1009
        # one frame over the limit: picows refuses the frame and drops the connection
        tr2, cl2 = await raw_client(cs, "BIG2")
        tr2.send(picows.WSMsgType.TEXT, b"[" + b" " * 2000 + b"]")
        assert await asyncio.wait_for(cl2.frames.get(), 5) is None
        # meanwhile others are served
        cp = await ocppfast.connect(url(cs), "OK", versions=["ocpp1.6"])
        assert (await cp.call("Heartbeat", {})).current_time
        await cp.close()
    finally:
        await cs.close()


async def test_binary_frame_refused() -> None:
    cs = await make_cs()
    try:
        tr, cl = await raw_client(cs, "BIN")
        tr.send(picows.WSMsgType.BINARY, b'[2,"1","Heartbeat",{}]')
        assert await asyncio.wait_for(cl.frames.get(), 5) is None
        assert cl.close_code == 1003
    finally:
        await cs.close()


async def test_bad_peer_gets_errors_then_1002_while_others_are_served() -> None:
    cs = await make_cs(max_bad_messages=3)
    try:
        good = await ocppfast.connect(url(cs), "GOOD", versions=["ocpp2.0.1"])
        tr, cl = await raw_client(cs, "BAD", "ocpp2.0.1")
        tr.send(picows.WSMsgType.TEXT, b"{not json")
        assert (await asyncio.wait_for(cl.frames.get(), 5))[:3] == [4, "-1", "RpcFrameworkError"]
        tr.send(picows.WSMsgType.TEXT, b'[2,"a","Heartbeat",{"x":1}]')
        assert (await asyncio.wait_for(cl.frames.get(), 5))[:3] == [4, "a", "FormatViolation"]
        tr.send(picows.WSMsgType.TEXT, b'[2,"b","NoSuchAction",{}]')
        assert (await asyncio.wait_for(cl.frames.get(), 5))[:3] == [4, "b", "NotImplemented"]
        for i in range(3):
            tr.send(picows.WSMsgType.TEXT, b"[]")
        frames = []
        while (f := await asyncio.wait_for(cl.frames.get(), 5)) is not None:
            frames.append(f)
        assert [f[1] for f in frames] == ["-1"] * 3 and cl.close_code == 1002
        assert (await good.call("Heartbeat", {})).current_time
        await good.close()
    finally:
        await cs.close()


# --- shutdown and reconnect ---------------------------------------------------------------------


async def test_graceful_shutdown_fails_pending_calls() -> None:
    cs = await make_cs()
    closed = asyncio.Event()
    cp = await ocppfast.connect(
        url(cs), "SHUT", versions=["ocpp1.6"], handlers={"DataTransfer": lambda req: closed.wait()}
    )  # never answers
    pending = asyncio.ensure_future(cs.call("SHUT", "DataTransfer", {"vendorId": "x"}))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(cs.close(), 10)
    with pytest.raises(errors.ConnectionClosedError):
        await pending
    await asyncio.wait_for(cp.wait_closed(), 5)
    assert cp.closed and not cs.charge_points
    with pytest.raises(errors.ConnectionClosedError):
        await cp.call("Heartbeat", {})


async def test_client_reconnects_with_backoff() -> None:
    cs = await make_cs()
    try:
        cp = await ocppfast.connect(
            url(cs),
            "RE",
            versions=["ocpp1.6"],
            reconnect=True,
            backoff_min=0.05,
            backoff_random=0.05,
            handlers={"DataTransfer": lambda req: {"status": "Accepted"}},
        )
        first = cs.charge_points["RE"]
        await first.close()
        # while disconnected: calls fail fast
        with pytest.raises(errors.ConnectionClosedError):
            await cp.call("Heartbeat", {})
        await asyncio.wait_for(_until(lambda: cs.charge_points.get("RE") not in (None, first)), 5)
        await asyncio.wait_for(_until(lambda: not cp.closed), 5)
        # handlers stay registered across the reconnect
        assert (await cs.call("RE", "DataTransfer", {"vendorId": "x"})).status == "Accepted"
        await cp.close()
        await asyncio.sleep(0.2)
        assert "RE" not in cs.charge_points  # closing stops reconnecting
    finally:
        await cs.close()


async def test_calls_can_wait_for_reconnect() -> None:
    cs = await make_cs()
    try:
        cp = await ocppfast.connect(
            url(cs),
            "RW",
            versions=["ocpp1.6"],
            reconnect=True,
            wait_for_reconnect=True,
            backoff_min=0.1,
            backoff_random=0,
        )
        await cs.charge_points["RW"].close()
        await asyncio.wait_for(_until(lambda: cp.closed), 5)
        res = await asyncio.wait_for(cp.call("Heartbeat", {}), 5)
        assert res.current_time
        await cp.close()
    finally:
        await cs.close()


def test_backoff_delays_follow_retry_backoff_parameters() -> None:
    from ocppfast.client import _Connection

    conn = _Connection("ws://x", ("ocpp1.6",), {}, None, {}, {}, 1000, True, (2.0, 0.0, 3), 0, 0, 1)
    it = conn.delays()
    assert [next(it) for _ in range(6)] == [2.0, 4.0, 8.0, 16.0, 16.0, 16.0]
    conn.backoff = (1.0, 0.5, 0)
    it = conn.delays()
    assert all(1.0 <= next(it) <= 1.5 for _ in range(20))


async def test_handshake_timeout_drops_silent_sockets() -> None:
    cs = ocppfast.CentralSystem(ping_interval=0, handshake_timeout=0.2)
    await cs.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", cs.port)
        # never send the upgrade request: the server must give up on its own
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    finally:
        await cs.close()


async def test_call_many_invalid_payload_is_reported_per_station() -> None:
    cs = await make_cs()
    try:
        cp = await ocppfast.connect(url(cs), "INV", versions=["ocpp1.6"])
        results = await cs.call_many("DataTransfer", {"vendorId": 5})
        assert isinstance(results["INV"], errors.PayloadError)
        assert results["INV"].code == "TypeConstraintViolation"
        results = await cs.call_many("NoSuchAction", {})
        assert isinstance(results["INV"], ValueError)
        assert cs.charge_points["INV"].pending_count == 0
        await cp.close()
    finally:
        await cs.close()
