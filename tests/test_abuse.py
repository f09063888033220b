"""The server under abuse (issue 12), over real sockets on loopback: flooding stations (reading
their answers or not), unanswered CALLs, the closing handshake with unread input, frames after
the decision to close, TEXT inside a fragmented message, queued-call timeouts, auth hooks that
raise or are async, client certificates of another identity, integers out of range, stalled
handshakes, picows' protocol-error log, and task hygiene.

No timing assertions: every wait is bounded by a generous ``wait_for`` and what is asserted is
the outcome (closed or not, served or not, answered or not).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import struct
import threading
from pathlib import Path
from typing import Any

import msgspec
import picows
import pytest

import ocppfast
from ocppfast import errors
from ocppfast.engine import CLOSE_POLICY_VIOLATION, CLOSE_PROTOCOL_ERROR
from tests.test_server import _certs, client_ctx, make_cs, raw_client, server_ctx, url

HEARTBEAT = b'[2,"%d","Heartbeat",{}]'

# Task hygiene (point 11): like the whole suite (tests/conftest.py, pyproject's filterwarnings),
# these tests run in asyncio's debug mode with warnings as errors.


def ws_frame(payload: bytes, opcode: int = 1, fin: bool = True, masked: bool = True) -> bytes:
    """A client frame (RFC 6455 section 5.2); the mask is zero bytes, so XOR leaves the payload."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    return head + (b"\0\0\0\0" if masked else b"") + payload


def raw_connect(port: int, identity: str, subprotocol: str = "ocpp1.6") -> socket.socket:
    """A blocking socket past a completed upgrade (the 101 response read and checked)."""
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ocpp/{identity} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def read_frames(sock: socket.socket) -> tuple[list[Any], int | None, bool]:
    """Read server frames until EOF: (decoded TEXT messages, close code, reset seen)."""
    data = b""
    reset = False
    sock.settimeout(10)
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            reset = True
            break
        if not chunk:
            break
        data += chunk
        # answer the server's Close as RFC 6455 section 5.5.1 says, once we have it
        texts, code = _parse(data)
        if code is not None:
            try:
                sock.sendall(ws_frame(struct.pack("!H", code), opcode=8))
            except OSError:
                pass
    texts, code = _parse(data)
    return texts, code, reset


def _parse(data: bytes) -> tuple[list[Any], int | None]:
    texts: list[Any] = []
    code = None
    i = 0
    while i + 2 <= len(data):
        op = data[i] & 0x0F
        n = data[i + 1] & 0x7F
        j = i + 2
        if n == 126:
            n = struct.unpack("!H", data[j : j + 2])[0]
            j += 2
        elif n == 127:
            n = struct.unpack("!Q", data[j : j + 8])[0]
            j += 8
        if j + n > len(data):
            break
        payload = data[j : j + n]
        if op == 1:
            texts.append(msgspec.json.decode(payload))
        elif op == 8:
            code = struct.unpack("!H", payload[:2])[0]
        i = j + n
    return texts, code


async def heartbeats(cs: ocppfast.CentralSystem, identity: str, n: int) -> int:
    cp = await ocppfast.connect(url(cs), identity, versions=["ocpp1.6"], call_timeout=60)
    done = 0
    for _ in range(n):
        assert (await cp.call("Heartbeat", {})).current_time
        done += 1
    await cp.close()
    return done


def capture(cs: ocppfast.CentralSystem) -> dict[str, Any]:
    """identity -> its ChargePoint, kept after disconnect."""
    seen: dict[str, Any] = {}
    cs.on_connect = lambda cp: seen.__setitem__(cp.identity, cp)
    return seen


def close_code_sent(cp: Any) -> int | None:
    handshake = cp.transport.close_handshake
    if handshake is None or handshake.sent is None:
        return None
    return int(handshake.sent.code)


async def until(cond: Any, timeout: float = 10) -> None:
    async def loop() -> None:
        while not cond():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


# --- 1. flooding ----------------------------------------------------------------------------------


async def test_flooder_sending_calls_back_to_back_is_closed_others_served() -> None:
    """A station that sends CALLs without waiting for answers (and never reads) is closed with
    1008 at the allowance; the CALLs past it are not handled; other stations are served."""
    cs = await make_cs(max_unanswered_calls=4)
    handled = []
    cs.on("Heartbeat", lambda cp, req: (handled.append(cp.identity), {"currentTime": NOW})[1])
    seen = capture(cs)
    try:
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(None, raw_connect, cs.port, "FLOOD")
        burst = b"".join(ws_frame(HEARTBEAT % i) for i in range(200))
        others = [asyncio.ensure_future(heartbeats(cs, f"OK-{i}", 20)) for i in range(5)]
        await loop.run_in_executor(None, sock.sendall, burst)
        await until(lambda: "FLOOD" in seen and seen["FLOOD"].closed)
        assert close_code_sent(seen["FLOOD"]) == CLOSE_POLICY_VIOLATION
        # the first CALLs (within the allowance) were handled, the rest were not
        assert handled.count("FLOOD") == 4
        assert await asyncio.wait_for(asyncio.gather(*others), 60) == [20] * 5
        sock.close()
    finally:
        await cs.close()


NOW = "2026-11-24T12:00:00Z"


def _flood_thread(sock: socket.socket, stop: threading.Event, read: bool) -> None:
    burst = b"".join(ws_frame(HEARTBEAT % i) for i in range(100))
    sock.settimeout(0.2)

    def reader() -> None:
        while not stop.is_set():
            try:
                if not sock.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    if read:
        threading.Thread(target=reader, daemon=True).start()
    while not stop.is_set():
        try:
            sock.sendall(burst)
        except TimeoutError:
            continue  # the server stopped reading from us: backpressure
        except OSError:
            return


async def test_flooder_that_never_reads_is_paused_bounded_and_dropped() -> None:
    """With the CALL allowance off, a station that floods and never reads makes the server stop
    reading from it (its write buffer over the high-water mark), the bytes queued for it stay
    under ``max_write_buffer``, it is dropped after ``write_timeout``, and others are served
    meanwhile."""
    cs = await make_cs(max_unanswered_calls=0, write_timeout=1.0, max_write_buffer=1 << 20)
    seen = capture(cs)
    stop = threading.Event()
    try:
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(None, raw_connect, cs.port, "FLOOD")
        flood = loop.run_in_executor(None, _flood_thread, sock, stop, False)
        await until(lambda: "FLOOD" in seen)
        cp = seen["FLOOD"]
        paused_seen = False
        biggest = 0
        others = asyncio.ensure_future(
            asyncio.gather(*(heartbeats(cs, f"OK-{i}", 10) for i in range(5)))
        )
        while not cp.closed:
            paused_seen = paused_seen or cp.write_paused
            if not cp.closed:
                biggest = max(biggest, cp.transport.underlying_transport.get_write_buffer_size())
            await asyncio.sleep(0.005)
        assert paused_seen
        assert biggest <= (1 << 20) + 64 * 1024
        assert close_code_sent(cp) == CLOSE_POLICY_VIOLATION
        assert await asyncio.wait_for(others, 60) == [10] * 5
    finally:
        stop.set()
        await cs.close()
    await flood
    sock.close()


async def test_reading_flooder_does_not_starve_others() -> None:
    """With the CALL allowance off, a station that floods and reads its answers keeps being
    served, and so do the others while it floods (the per-iteration budget)."""
    cs = await make_cs(max_unanswered_calls=0)
    seen = capture(cs)
    stop = threading.Event()
    try:
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(None, raw_connect, cs.port, "FLOOD")
        flood = loop.run_in_executor(None, _flood_thread, sock, stop, True)
        await until(lambda: "FLOOD" in seen and seen["FLOOD"].rx_count > 1000)
        results = await asyncio.wait_for(
            asyncio.gather(*(heartbeats(cs, f"OK-{i}", 20) for i in range(5))), 60
        )
        assert results == [20] * 5
        assert not seen["FLOOD"].closed  # still flooding, still served: nothing was dropped
    finally:
        stop.set()
        await cs.close()
    await flood
    sock.close()


async def test_frames_past_the_budget_wait_for_later_iterations() -> None:
    """Frames of one read past ``max_frames_per_tick`` are handled in later loop iterations, in
    order, all of them."""
    cs = await make_cs(versions=["ocpp2.1"], max_frames_per_tick=4)
    tick = 0
    stop = False

    def ticker() -> None:
        nonlocal tick
        tick += 1
        if not stop:
            loop.call_soon(ticker)

    got: list[tuple[int, int]] = []
    cs.on("NotifyPeriodicEventStream", lambda cp, req: got.append((req.id, tick)))
    loop = asyncio.get_running_loop()
    try:
        sock = await loop.run_in_executor(None, raw_connect, cs.port, "SENDS", "ocpp2.1")
        body = b',"pending":0,"basetime":"2026-01-01T00:00:00Z","data":[{"t":0,"v":"1"}]}]'
        data = b"".join(
            ws_frame(b'[6,"%d","NotifyPeriodicEventStream",{"id":%d' % (i, i) + body)
            for i in range(12)
        )
        ticker()
        await loop.run_in_executor(None, sock.sendall, data)
        await until(lambda: len(got) == 12)
        assert [i for i, _ in got] == list(range(12))
        per_tick: dict[int, int] = {}
        for _, t in got:
            per_tick[t] = per_tick.get(t, 0) + 1
        assert max(per_tick.values()) <= 4
        sock.close()
    finally:
        stop = True
        await cs.close()


# --- 4, 5, 6. closing ---------------------------------------------------------------------------


async def test_close_handshake_keeps_answers_before_the_limit() -> None:
    """CALLs, then bad messages up to the limit, then more CALLs, all in one write; the peer
    reads only afterwards. It gets every answer sent before the decision and the close frame
    (1002), no connection reset; the CALLs after the decision are not handled."""
    cs = await make_cs(max_bad_messages=3, max_unanswered_calls=0)
    handled: list[str] = []
    cs.on("Heartbeat", lambda cp, req: (handled.append("x"), {"currentTime": NOW})[1])
    try:
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(None, raw_connect, cs.port, "CLOSER")
        data = b"".join(ws_frame(HEARTBEAT % i) for i in range(20))
        data += b"".join(ws_frame(b"[]") for _ in range(3))
        data += b"".join(ws_frame(HEARTBEAT % (100 + i)) for i in range(4))
        await loop.run_in_executor(None, sock.sendall, data)
        texts, code, reset = await loop.run_in_executor(None, read_frames, sock)
        sock.close()
        assert not reset
        assert code == CLOSE_PROTOCOL_ERROR
        assert [t[1] for t in texts if t[0] == 3] == [str(i) for i in range(20)]
        assert len(handled) == 20  # nothing after the decision reached a handler
    finally:
        await cs.close()


async def test_text_frame_inside_fragmented_message_closes_1002() -> None:
    cs = await make_cs()
    handled: list[str] = []
    cs.on("Heartbeat", lambda cp, req: (handled.append("x"), {"currentTime": NOW})[1])
    try:
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(None, raw_connect, cs.port, "FRAG")
        msg = HEARTBEAT % 1
        data = ws_frame(msg[:5], fin=False) + ws_frame(HEARTBEAT % 2)  # TEXT in the middle
        data += ws_frame(msg[5:], opcode=0, fin=True)
        await loop.run_in_executor(None, sock.sendall, data)
        texts, code, _ = await loop.run_in_executor(None, read_frames, sock)
        sock.close()
        assert code == CLOSE_PROTOCOL_ERROR
        assert texts == [] and handled == []
    finally:
        await cs.close()


async def test_client_close_waits_for_the_servers_close() -> None:
    """Both ends of ocppfast: the station's close() completes the handshake and both see 1000."""
    cs = await make_cs()
    seen = capture(cs)
    try:
        cp = await ocppfast.connect(url(cs), "BYE", versions=["ocpp1.6"])
        await until(lambda: "BYE" in seen)
        await asyncio.wait_for(cp.close(), 10)
        await until(lambda: seen["BYE"].closed)
        handshake = seen["BYE"].transport.close_handshake
        assert handshake.recv.code == 1000 and handshake.sent.code == 1000
    finally:
        await cs.close()


# --- 7. queued call timeouts ----------------------------------------------------------------------


async def test_queued_call_times_out_from_call_time() -> None:
    """The first CALL is never answered (and has no timeout): the queued ones behind it time out
    by their own timeout, counted from call(), instead of waiting for the slot."""
    cs = await make_cs()
    never = asyncio.Event()

    async def slow(req: Any) -> Any:
        await never.wait()

    try:
        cp = await ocppfast.connect(
            url(cs), "Q", versions=["ocpp1.6"], handlers={"DataTransfer": slow}
        )
        await until(lambda: "Q" in cs.charge_points)
        first = asyncio.ensure_future(cs.call("Q", "DataTransfer", {"vendorId": "v"}, timeout=0))
        queued = [
            asyncio.ensure_future(cs.call("Q", "DataTransfer", {"vendorId": "v"}, timeout=0.2))
            for _ in range(20)
        ]
        results = await asyncio.wait_for(asyncio.gather(*queued, return_exceptions=True), 10)
        assert all(isinstance(r, errors.CallTimeoutError) for r in results)
        assert not first.done() and cs["Q"].pending_count == 1 and cs["Q"].queued_count == 0
        never.set()
        await cp.close()
        with pytest.raises((errors.ConnectionClosedError, TimeoutError)):
            await asyncio.wait_for(first, 10)
    finally:
        await cs.close()


# --- 2, 3. auth hooks -----------------------------------------------------------------------------


async def test_auth_hook_that_raises_is_logged_not_shown(caplog: Any) -> None:
    from tests.test_server import raw_handshake

    def authenticate(identity: str, password: str) -> bool:
        raise RuntimeError("db at 10.1.2.3:5432 failed: SELECT secret FROM pw")

    def identity_known(identity: str) -> bool:
        raise RuntimeError("lookup SELECT secret2")

    token = base64.b64encode(b"CP-1:0123456789abcdef").decode()
    for options in ({"authenticate": authenticate}, {"identity_known": identity_known}):
        cs = await make_cs(**options)
        try:
            with caplog.at_level(logging.ERROR, logger="ocppfast"):
                status, _, body = await raw_handshake(
                    cs.port,
                    "/ocpp/CP-1",
                    {"Authorization": f"Basic {token}", "Sec-WebSocket-Protocol": "ocpp1.6"},
                )
            assert status == 500
            assert b"secret" not in body and b"SELECT" not in body
            assert "SELECT" in caplog.text  # logged locally
            assert not cs.charge_points
        finally:
            await cs.close()


async def test_async_auth_hooks_are_refused_at_construction() -> None:
    async def authenticate(identity: str, password: str) -> bool:
        return False

    async def identity_known(identity: str) -> bool:
        return False

    class AsyncCallable:
        async def __call__(self, identity: str, password: str) -> bool:
            return False

    with pytest.raises(TypeError, match="authenticate"):
        ocppfast.CentralSystem(authenticate=authenticate)
    with pytest.raises(TypeError, match="authenticate"):
        ocppfast.CentralSystem(authenticate=AsyncCallable())
    with pytest.raises(TypeError, match="identity_known"):
        ocppfast.CentralSystem(identity_known=identity_known)


async def test_hook_returning_an_awaitable_is_refused_not_accepted() -> None:
    """A sync callable that returns a coroutine slips past the constructor; it must not let the
    station in (``bool(coroutine)`` is true)."""
    from tests.test_server import raw_handshake

    async def no(identity: str, password: str) -> bool:
        return False

    cs = await make_cs(authenticate=lambda i, p: no(i, p))
    try:
        token = base64.b64encode(b"CP-1:0123456789abcdef").decode()
        status, _, body = await raw_handshake(
            cs.port,
            "/ocpp/CP-1",
            {"Authorization": f"Basic {token}", "Sec-WebSocket-Protocol": "ocpp1.6"},
        )
        assert status == 500 and b"awaitable" not in body
        assert not cs.charge_points
    finally:
        await cs.close()


# --- 8. security profile 3 ------------------------------------------------------------------------


async def test_client_certificate_must_match_identity(tmp_path: Path) -> None:
    certs = _certs(tmp_path)  # the client certificate's CN is CP-TLS
    cs = await make_cs(ssl=server_ctx(certs, True))
    got_cert: list[Any] = []
    cs.on(
        "Heartbeat", lambda cp, req: (got_cert.append(cp.peer_certificate), {"currentTime": NOW})[1]
    )
    seen = capture(cs)
    gone: list[str] = []
    cs.on_disconnect = lambda cp: gone.append(cp.identity)
    try:
        # CN=CP-TLS connecting as CP-OTHER: closed with 1008, never registered
        other = await ocppfast.connect(
            url(cs, "wss"), "CP-OTHER", versions=["ocpp1.6"], ssl=client_ctx(certs, True)
        )
        await asyncio.wait_for(other.wait_closed(), 10)
        assert other.transport.close_handshake.recv.code == CLOSE_POLICY_VIOLATION
        assert "CP-OTHER" not in cs.charge_points and "CP-OTHER" not in seen
        await until(lambda: not cs._listeners)  # the server saw it go
        assert "CP-OTHER" not in gone  # on_disconnect only for stations that were connected
        with pytest.raises(errors.ConnectionClosedError):
            await other.call("Heartbeat", {})
        # CN=CP-TLS as CP-TLS: served, and handlers see the certificate
        cp = await ocppfast.connect(
            url(cs, "wss"), "CP-TLS", versions=["ocpp1.6"], ssl=client_ctx(certs, True)
        )
        await cp.call("Heartbeat", {})
        assert got_cert and ("commonName", "CP-TLS") in [rdn[0] for rdn in got_cert[0]["subject"]]
        await cp.close()
    finally:
        await cs.close()
    # a custom rule (here: any certificate of the CA) lets CP-OTHER in
    cs = await make_cs(ssl=server_ctx(certs, True), verify_certificate=lambda identity, cert: True)
    try:
        cp = await ocppfast.connect(
            url(cs, "wss"), "CP-OTHER", versions=["ocpp1.6"], ssl=client_ctx(certs, True)
        )
        assert (await cp.call("Heartbeat", {})).current_time
        await cp.close()
    finally:
        await cs.close()


# --- 9. integers out of range --------------------------------------------------------------------


@pytest.mark.parametrize(
    "version, payload",
    [
        (
            "ocpp1.6",
            b'{"connectorId":1%s,"errorCode":"NoError","status":"Available"}' % (b"0" * 400),
        ),
        ("ocpp1.6", b'{"connectorId":2147483648,"errorCode":"NoError","status":"Available"}'),
        (
            "ocpp2.0.1",
            (
                b'{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Available","evseId":1,'
                b'"connectorId":2147483648.0}'
            ),
        ),
    ],
)
async def test_integers_outside_32_bits_get_type_constraint_violation(
    version: str, payload: bytes
) -> None:
    cs = await make_cs(versions=[version])
    handled: list[Any] = []
    cs.on("StatusNotification", lambda cp, req: handled.append(req) or {})
    try:
        tr, cl = await raw_client(cs, "BIG", version)
        tr.send(picows.WSMsgType.TEXT, b'[2,"i1","StatusNotification",' + payload + b"]")
        answer = await asyncio.wait_for(cl.frames.get(), 10)
        assert answer[:3] == [4, "i1", "TypeConstraintViolation"] and not handled
        tr.disconnect()
    finally:
        await cs.close()


# --- 10. handshake limits -------------------------------------------------------------------------


async def test_stalled_handshakes_are_bounded_per_address() -> None:
    """1,000 connections from one address that never send their upgrade request: past the
    per-address limit new ones get 503 at once; a station from another address connects."""
    cs = ocppfast.CentralSystem(
        max_handshakes_per_address=100, max_handshakes=2000, handshake_timeout=60, ping_interval=0
    )
    cs.on("Heartbeat", lambda cp, req: {"currentTime": NOW})
    await cs.start("127.0.0.1", 0, backlog=2000)
    socks: list[socket.socket] = []
    try:
        loop = asyncio.get_running_loop()

        def open_many() -> tuple[int, int]:
            busy = 0
            for _ in range(1000):
                s = socket.create_connection(("127.0.0.1", cs.port))
                s.sendall(b"GET /ocpp/X HTTP/1.1\r\n")  # and never the rest
                socks.append(s)
            for s in socks[100:]:
                s.settimeout(10)
                if s.recv(64).startswith(b"HTTP/1.1 503"):
                    busy += 1
            return busy, len(socks)

        busy, total = await loop.run_in_executor(None, open_many)
        assert total == 1000 and busy == 900
        cp = await ocppfast.connect(
            url(cs), "OTHER-ADDR", versions=["ocpp1.6"], local_addr=("127.0.0.2", 0)
        )
        assert (await cp.call("Heartbeat", {})).current_time
        await cp.close()
        # once the stalled ones go, the address may connect again
        for s in socks:
            s.close()
        socks.clear()
        await until(lambda: cs._handshakes.count == 0)
        cp = await ocppfast.connect(url(cs), "SAME-ADDR", versions=["ocpp1.6"])
        await cp.close()
    finally:
        for s in socks:
            s.close()
        await cs.close()


async def test_stalled_handshakes_are_bounded_in_all() -> None:
    """The global bound: 60 stalled handshakes from 60 addresses with room for 50: 10 get 503."""
    cs = ocppfast.CentralSystem(
        max_handshakes=50, max_handshakes_per_address=10, handshake_timeout=60, ping_interval=0
    )
    await cs.start("127.0.0.1", 0, backlog=200)
    socks: list[socket.socket] = []
    try:

        def open_many() -> int:
            for i in range(60):
                s = socket.create_connection(
                    ("127.0.0.1", cs.port), source_address=(f"127.0.1.{i + 1}", 0)
                )
                s.sendall(b"GET /ocpp/X HTTP/1.1\r\n")
                socks.append(s)
            busy = 0
            for s in socks[50:]:
                s.settimeout(10)
                busy += s.recv(64).startswith(b"HTTP/1.1 503")
            return busy

        assert await asyncio.get_running_loop().run_in_executor(None, open_many) == 10
        assert cs._handshakes.count == 50
    finally:
        for s in socks:
            s.close()
        await cs.close()


async def test_picows_protocol_errors_do_not_reach_the_error_log(caplog: Any) -> None:
    """Unmasked frames (a protocol error picows logs at ERROR) from 50 clients: nothing at ERROR,
    and the warnings are rate-limited."""
    cs = await make_cs()
    try:
        loop = asyncio.get_running_loop()

        def abuse() -> None:
            for i in range(50):
                s = raw_connect(cs.port, f"BAD-{i}")
                s.sendall(ws_frame(HEARTBEAT % i, masked=False))
                s.settimeout(10)
                try:
                    while s.recv(4096):
                        pass
                except OSError:
                    pass
                s.close()

        with caplog.at_level(logging.DEBUG):
            await loop.run_in_executor(None, abuse)
            await until(lambda: not cs.charge_points)
        picows_records = [r for r in caplog.records if "un-masked" in r.getMessage()]
        assert picows_records  # it is still logged...
        assert all(r.levelno < logging.ERROR for r in caplog.records)  # ...but not as an error
        assert len(picows_records) <= 20  # ...and not once per offending client
    finally:
        await cs.close()


# --- 11. task hygiene -----------------------------------------------------------------------------


async def test_async_handler_tasks_are_cancelled_when_the_connection_closes() -> None:
    cs = await make_cs()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def forever(cp: Any, req: Any) -> Any:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    cs.on("DataTransfer", forever)
    try:
        cp = await ocppfast.connect(url(cs), "T", versions=["ocpp1.6"])
        call = asyncio.ensure_future(cp.call("DataTransfer", {"vendorId": "v"}))
        await asyncio.wait_for(started.wait(), 10)
        assert cs["T"].handler_tasks
        await cp.close()
        await asyncio.wait_for(cancelled.wait(), 10)
        with pytest.raises(errors.ConnectionClosedError):
            await call
    finally:
        await cs.close()


async def test_server_close_cancels_hook_tasks() -> None:
    cancelled = asyncio.Event()

    async def on_disconnect(cp: Any) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    cs = await make_cs(on_disconnect=on_disconnect)
    cp = await ocppfast.connect(url(cs), "H", versions=["ocpp1.6"])
    await until(lambda: "H" in cs.charge_points)
    await asyncio.wait_for(cs.close(timeout=0.5), 10)
    assert cancelled.is_set() and not cs._hook_tasks
    await asyncio.wait_for(cp.wait_closed(), 10)


async def test_ping_drop_timers_are_kept_and_cancelled() -> None:
    cs = await make_cs(ping_interval=0.05, ping_timeout=30)
    try:
        tr, _ = await raw_client(cs, "SILENT")
        await until(lambda: bool(cs._drop_timers))
        timers = list(cs._drop_timers)
    finally:
        await cs.close()
    assert all(t.cancelled() for t in timers)
    tr.disconnect()
