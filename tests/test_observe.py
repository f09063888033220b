"""The frame tracer (logger ``ocppfast.wire``), connection logs, and observers on real connections.

Nothing watches unless asked (the engine's ``observer`` stays ``None``); the tracer is attached
when ``ocppfast.wire`` is enabled for DEBUG as a connection is made, or by ``refresh``; an
observer given as ``observer=`` hears calls in and out with their outcomes and the connection's
life; the INFO logs say who connected from where, who left, which handshake was refused and why.
The command line's ``--trace`` is the tracer's switch; ``--log-level debug`` alone leaves frames
out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import websockets

import ocppfast
from ocppfast import errors, observe

V16 = "ocpp1.6"
V201 = "ocpp2.0.1"
LIMIT = 30  # seconds per test


@pytest.fixture(autouse=True)
def wire_logger_quiet() -> Iterator[logging.Logger]:
    """Each test starts with the tracer's logger not enabled for DEBUG, and leaves it so."""
    logger = logging.getLogger(observe.WIRE_LOGGER)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield logger
    logger.setLevel(level)


def boot_answer(cp: ocppfast.ChargePoint, req: Any) -> dict[str, Any]:
    return {"status": "Accepted", "currentTime": ocppfast.now(), "interval": 300}


@contextlib.asynccontextmanager
async def central_system(**options: Any) -> AsyncIterator[ocppfast.CentralSystem]:
    cs = ocppfast.CentralSystem(versions=[V201, V16], ping_interval=0, **options)
    cs.on("BootNotification", boot_answer)
    cs.on("Heartbeat", lambda cp, req: {"currentTime": ocppfast.now()})
    async with asyncio.timeout(LIMIT):
        await cs.start("127.0.0.1", 0)
        try:
            yield cs
        finally:
            await cs.close(timeout=2)


def frames(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.name == observe.WIRE_LOGGER]


async def test_nothing_observes_by_default() -> None:
    async with central_system() as cs:
        cp = await ocppfast.connect(f"ws://127.0.0.1:{cs.port}", "QUIET", versions=[V201])
        await cp.call("Heartbeat", {})
        assert cp.observer is None
        assert cs.charge_points["QUIET"].observer is None
        await cp.close()


async def test_tracer_logs_every_frame_on_both_sides(
    caplog: pytest.LogCaptureFixture, wire_logger_quiet: logging.Logger
) -> None:
    wire_logger_quiet.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger=observe.WIRE_LOGGER):
        async with central_system() as cs:
            cp = await ocppfast.connect(f"ws://127.0.0.1:{cs.port}", "T-1", versions=[V201])
            assert isinstance(cp.observer, observe.WireTracer)
            assert isinstance(cs.charge_points["T-1"].observer, observe.WireTracer)
            await cp.call("Heartbeat", {})
            await cp.close()
    lines = frames(caplog.records)
    # The station sends the CALL and reads the CALLRESULT; the central system the other way.
    assert any(re.fullmatch(r'T-1 sent \[2,"[^"]+","Heartbeat",\{\}\]', m) for m in lines), lines
    assert any(re.fullmatch(r'T-1 recv \[2,"[^"]+","Heartbeat",\{\}\]', m) for m in lines), lines
    assert sum(m.startswith('T-1 sent [3,"') and "currentTime" in m for m in lines) == 1
    assert sum(m.startswith('T-1 recv [3,"') and "currentTime" in m for m in lines) == 1
    record = next(r for r in caplog.records if r.getMessage().startswith("T-1 recv [2,"))
    assert record.levelno == logging.DEBUG
    assert (record.ocpp_identity, record.ocpp_direction, record.ocpp_subprotocol) == (  # type: ignore[attr-defined]
        "T-1",
        "in",
        V201,
    )


async def test_tracer_survives_bad_utf8_and_cuts_big_frames(
    caplog: pytest.LogCaptureFixture, wire_logger_quiet: logging.Logger
) -> None:
    wire_logger_quiet.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger=observe.WIRE_LOGGER):
        async with central_system() as cs:
            cp = await ocppfast.connect(f"ws://127.0.0.1:{cs.port}", "T-2", versions=[V201])
            # A TEXT frame that is not UTF-8 (picows sends it as it is).
            cp.transport.send(1, b'[2,"x1","Heartbeat",{"a":"\xff\xfe"}]')
            # A big one: 2.0.1 DataTransfer carries any data; nobody handles it (NotSupported).
            with pytest.raises(errors.NotSupportedError):
                await cp.call("DataTransfer", {"vendorId": "V", "data": "x" * 10_000})
            await cp.call("Heartbeat", {})  # the connection goes on
            await cp.close()
    lines = frames(caplog.records)
    assert 'T-2 recv [2,"x1","Heartbeat",{"a":"\\xff\\xfe"}]' in lines, lines
    big = [m for m in lines if m.startswith("T-2 recv [2,") and "DataTransfer" in m]
    assert len(big) == 1
    assert big[0].endswith(" bytes)") and len(big[0]) < observe.TRACE_MAX_BYTES + 100
    assert re.search(r"\.\.\. \((\d+) bytes\)$", big[0])
    length = int(re.findall(r"\((\d+) bytes\)$", big[0])[0])
    assert length > 10_000


async def test_refresh_attaches_and_detaches_the_tracer(
    caplog: pytest.LogCaptureFixture, wire_logger_quiet: logging.Logger
) -> None:
    user = observe.Observer()
    async with central_system(observer=user) as cs:
        cp = await ocppfast.connect(f"ws://127.0.0.1:{cs.port}", "R-1", versions=[V16])
        station = cs.charge_points["R-1"]
        assert station.observer is user and cp.observer is None
        with caplog.at_level(logging.DEBUG, logger=observe.WIRE_LOGGER):
            wire_logger_quiet.setLevel(logging.DEBUG)
            observe.refresh(cs)
            observe.refresh(cp)
            assert station.observer is not user and cp.observer is not None
            await cp.call("Heartbeat", {})
            assert sum("Heartbeat" in m for m in frames(caplog.records)) == 2  # both sides
            wire_logger_quiet.setLevel(logging.INFO)
            observe.refresh(cs)
            observe.refresh(cp)
        assert station.observer is user  # the user's observer stays
        assert cp.observer is None
        await cp.close()


async def test_turning_tracing_off_detaches_the_tracer_at_the_next_frame(
    caplog: pytest.LogCaptureFixture, wire_logger_quiet: logging.Logger
) -> None:
    user = observe.Observer()
    wire_logger_quiet.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger=observe.WIRE_LOGGER):
        async with central_system(observer=user) as cs:
            cp = await ocppfast.connect(f"ws://127.0.0.1:{cs.port}", "D-1", versions=[V16])
            station = cs.charge_points["D-1"]
            assert isinstance(cp.observer, observe.WireTracer)
            assert station.observer not in (None, user)
            await cp.call("Heartbeat", {})
            traced = len(frames(caplog.records))
            assert traced == 4  # CALL and CALLRESULT, each seen by both sides
            wire_logger_quiet.setLevel(logging.INFO)  # no refresh()
            await cp.call("Heartbeat", {})
            assert cp.observer is None  # back to nothing: the engine calls no observer
            assert station.observer is user  # back to the observer it was given
            assert len(frames(caplog.records)) == traced
            await cp.close()


class Recorder(observe.Observer):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def call_in(self, engine: Any, action: str, outcome: str) -> None:
        self.events.append(("call_in", engine.identity, action, outcome))

    def call_out(self, engine: Any, action: str, outcome: str, seconds: float) -> None:
        assert 0 <= seconds < LIMIT
        self.events.append(("call_out", engine.identity, action, outcome))

    def bad_frame(self, engine: Any, reason: str) -> None:
        self.events.append(("bad_frame", engine.identity, reason))

    def connected(self, engine: Any) -> None:
        self.events.append(("connected", engine.identity, engine.subprotocol))

    def disconnected(self, engine: Any) -> None:
        self.events.append(("disconnected", engine.identity))

    def handshake_refused(self, status: int) -> None:
        self.events.append(("refused", status))


async def test_an_observer_hears_calls_and_the_connection_life() -> None:
    rec = Recorder()
    async with central_system(observer=rec, identity_known=lambda i: i != "NOPE") as cs:
        cp = await ocppfast.connect(f"ws://127.0.0.1:{cs.port}", "O-1", versions=[V201])
        await cp.call(
            "BootNotification",
            {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
        )
        with pytest.raises(errors.NotSupportedError):  # the station has no Reset handler
            await cs.call("O-1", "Reset", {"type": "Immediate"}, timeout=5)

        async def late(req: Any) -> dict[str, Any]:
            await asyncio.sleep(0.3)
            return {"versionNumber": 1}

        cp.on("GetLocalListVersion", late)
        with pytest.raises(errors.CallTimeoutError):  # answered after the timeout
            await cs.call("O-1", "GetLocalListVersion", {}, timeout=0.1)
        await asyncio.sleep(0.4)  # the late answer arrives (and is dropped)
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(f"ws://127.0.0.1:{cs.port}/NOPE", subprotocols=[V201]):
                pass
        await cp.close()
        await asyncio.sleep(0)
        while cs.charge_points:
            await asyncio.sleep(0.01)
    assert rec.events == [
        ("connected", "O-1", V201),
        ("call_in", "O-1", "BootNotification", "result"),
        ("call_out", "O-1", "Reset", "NotSupported"),
        ("call_out", "O-1", "GetLocalListVersion", "timeout"),
        ("refused", 404),
        ("disconnected", "O-1"),
    ]


async def test_connection_life_is_logged_at_info_with_who_and_where(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="ocppfast.connections"):
        async with central_system(identity_known=lambda i: i != "NOPE") as cs:
            url = f"ws://127.0.0.1:{cs.port}"
            cp = await ocppfast.connect(url, "L-1", versions=[V16])
            with pytest.raises(websockets.InvalidStatus):
                async with websockets.connect(f"{url}/NOPE", subprotocols=[V201]):
                    pass
            await cp.close()
            while cs.charge_points:
                await asyncio.sleep(0.01)
    lines = [r.getMessage() for r in caplog.records if r.name == "ocppfast.connections"]
    assert any(re.fullmatch(r"L-1: connected \(ocpp1\.6\) from 127\.0\.0\.1:\d+", m) for m in lines)
    assert f"L-1: connected to {url}/L-1 (ocpp1.6)" in lines
    assert lines.count("L-1: disconnected (ocpp1.6)") == 2  # both sides
    assert "handshake for /NOPE refused: HTTP 404 unknown charging station" in lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_cli_trace_flag_shows_frames_and_log_level_debug_alone_does_not() -> None:
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "ocppfast", "serve", "--port", str(port), "--quiet", "--log-level", "debug"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(90):
            assert server.stdout is not None
            banner = (await server.stdout.readline()).decode()
            assert f":{port}/" in banner, banner
            sim = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "ocppfast", "simulate", "--url", f"ws://127.0.0.1:{port}/ocpp"),
                *("--chargers", "1", "--duration", "0.2", "--quiet", "--trace"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            out, err = await sim.communicate()
            assert sim.returncode == 0, (out, err)
    finally:
        server.terminate()
        _, server_err = await asyncio.wait_for(server.communicate(), 20)
    traced = err.decode()
    assert re.search(
        r"DEBUG ocppfast\.wire: SIM\d{6} sent \[2,\"[^\"]+\",\"BootNotification\"", traced
    )
    assert re.search(r"DEBUG ocppfast\.wire: SIM\d{6} recv \[3,", traced)
    server_log = server_err.decode()
    assert "DEBUG" in server_log  # --log-level debug is on ...
    assert "ocppfast.wire" not in server_log  # ... and still no frames without --trace
    assert re.search(r"INFO ocppfast\.connections: SIM\d{6}: connected \(ocpp1\.6\)", server_log)


async def test_a_central_system_at_capacity_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ocppfast.connections"):
        async with central_system(max_connections=1) as cs:
            url = f"ws://127.0.0.1:{cs.port}"
            cp = await ocppfast.connect(url, "C-1", versions=[V16])
            with pytest.raises(websockets.InvalidStatus):
                async with websockets.connect(f"{url}/C-2", subprotocols=[V16]):
                    pass
            await cp.close()
    (refusal,) = [r for r in caplog.records if "refused" in r.getMessage()]
    assert refusal.levelno == logging.WARNING
    assert refusal.getMessage() == "handshake for /C-2 refused: HTTP 503 central system at capacity"
