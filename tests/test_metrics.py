"""Prometheus metrics (``ocppfast.observe.Metrics``), scraped for real over HTTP on loopback.

A central system with metrics serves an ocppfast station, a mobilityhouse ``ocpp`` 2.1.0 station
and a raw websocket peer (a bad frame, an unknown action, a CALL it never answers); a station made
by ``connect(observer=Metrics(...))`` is dropped and reconnects; ``python -m ocppfast serve
--metrics-port`` counts what ``simulate`` sent. Each test reads ``/metrics`` with an HTTP GET and
checks the counters against what was done.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as MhChargePoint16
from ocpp.v16 import call as mh_call16
from ocpp.v16 import call_result as mh_result16
from ocpp.v16.enums import Action as MhAction16
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import ocppfast
from ocppfast import errors
from ocppfast.observe import Metrics

V16 = "ocpp1.6"
V201 = "ocpp2.0.1"
LIMIT = 30  # seconds per test: a hang fails instead of blocking CI

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> str:
    # No proxy, whatever the environment says: loopback only.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        assert response.status == 200
        return str(response.read().decode())


async def scrape(port: int) -> Samples:
    """GET /metrics and parse it with prometheus_client's own parser."""
    text = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


async def until(predicate: Callable[[], Any]) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


def boot_answer(cp: ocppfast.ChargePoint, req: Any) -> dict[str, Any]:
    return {"status": "Accepted", "currentTime": ocppfast.now(), "interval": 300}


class MhStation16(MhChargePoint16):
    """mobilityhouse's 1.6 station: answers GetConfiguration, has no handler for Reset."""

    @on(MhAction16.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **kw: Any) -> Any:
        return mh_result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        )


async def test_central_system_metrics_over_http() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    cs = ocppfast.CentralSystem(
        versions=[V201, V16],
        ping_interval=0,
        observer=metrics,
        identity_known=lambda identity: identity != "UNKNOWN",
    )
    cs.on("BootNotification", boot_answer)
    cs.on("Heartbeat", lambda cp, req: {"currentTime": ocppfast.now()})
    http = metrics.start_http_server(0)
    try:
        async with asyncio.timeout(LIMIT):
            await cs.start("127.0.0.1", 0)
            url = f"ws://127.0.0.1:{cs.port}"
            try:
                # An ocppfast station (2.0.1): 5 CALLs, one answered NotSupported.
                station = await ocppfast.connect(url, "FAST-1", versions=[V201])
                await station.call(
                    "BootNotification",
                    {
                        "chargingStation": {"vendorName": "V", "model": "M"},
                        "reason": "PowerUp",
                    },
                )
                for _ in range(3):
                    await station.call("Heartbeat", {})
                with pytest.raises(errors.NotSupportedError):
                    await station.call(
                        "Authorize", {"idToken": {"idToken": "A", "type": "Central"}}
                    )

                # A mobilityhouse station (1.6): 2 CALLs; the central system calls it twice.
                async with websockets.connect(f"{url}/MH-16", subprotocols=[V16]) as ws:
                    mh = MhStation16("MH-16", ws, response_timeout=10)
                    reader = asyncio.create_task(mh.start())
                    try:
                        boot = await mh.call(
                            mh_call16.BootNotification(
                                charge_point_vendor="MobilityHouse", charge_point_model="Sim"
                            ),
                            suppress=False,
                        )
                        assert boot.status == "Accepted"
                        await mh.call(mh_call16.Heartbeat(), suppress=False)
                        await cs.call("MH-16", "GetConfiguration", {"key": ["A"]}, timeout=5)
                        with pytest.raises(errors.NotImplementedCallError):
                            await cs.call("MH-16", "Reset", {"type": "Soft"}, timeout=5)

                        # A raw peer: a bad frame, an unknown action, a CALL it never answers.
                        async with websockets.connect(f"{url}/RAW", subprotocols=[V201]) as raw:
                            await raw.send('[2,"b1","Heartbeat"')
                            assert json.loads(await raw.recv())[0] == 4
                            await raw.send('[2,"u1","NoSuchAction",{}]')
                            answer = json.loads(await raw.recv())
                            assert answer[:3] == [4, "u1", "NotImplemented"]
                            with pytest.raises(errors.CallTimeoutError):
                                await cs.call("RAW", "Reset", {"type": "Immediate"}, timeout=0.2)
                            # A station the central system does not know: HTTP 404.
                            with pytest.raises(websockets.InvalidStatus):
                                async with websockets.connect(
                                    f"{url}/UNKNOWN", subprotocols=[V201]
                                ):
                                    pass

                            s = await scrape(http.server_port)
                    finally:
                        reader.cancel()
                await station.close()
                await until(lambda: not cs.charge_points)
                after = await scrape(http.server_port)
            finally:
                await cs.close(timeout=2)
    finally:
        http.shutdown()
        http.server_close()

    assert value(s, "ocppfast_connections_open") == 3
    received = "ocppfast_calls_received_total"
    assert value(s, received, action="BootNotification", outcome="result") == 2
    assert value(s, received, action="Heartbeat", outcome="result") == 4
    assert value(s, received, action="Authorize", outcome="NotSupported") == 1
    # An action name the peer made up is not a label of its own.
    assert value(s, received, action="(unknown)", outcome="NotImplemented") == 1
    assert not any("NoSuchAction" in str(labels) for _, labels in s)
    assert total(s, received) == 8
    sent = "ocppfast_calls_sent_total"
    assert value(s, sent, action="GetConfiguration", outcome="result") == 1
    assert value(s, sent, action="Reset", outcome="NotImplemented") == 1
    assert value(s, sent, action="Reset", outcome="timeout") == 1
    assert total(s, sent) == 3
    errs = "ocppfast_callerrors_total"
    assert value(s, errs, direction="sent", code="NotSupported") == 1
    assert value(s, errs, direction="sent", code="NotImplemented") == 1
    assert value(s, errs, direction="received", code="NotImplemented") == 1
    assert total(s, errs) == 3
    # Latency of the answered calls (a timeout is in the counter only).
    hist = "ocppfast_call_duration_seconds"
    assert value(s, f"{hist}_count", action="GetConfiguration") == 1
    assert value(s, f"{hist}_count", action="Reset") == 1
    assert value(s, f"{hist}_bucket", action="Reset", le="+Inf") == 1
    assert 0 < value(s, f"{hist}_sum", action="Reset") < 5
    assert total(s, "ocppfast_bad_frames_total") == 1
    assert value(s, "ocppfast_handshakes_refused_total", status="404") == 1
    # Frames: FAST-1 5 in / 5 out; MH-16 4 in (2 CALLs, 2 answers) / 4 out; RAW 2 in / 3 out.
    assert value(s, "ocppfast_frames_total", direction="in") == 11
    assert value(s, "ocppfast_frames_total", direction="out") == 12
    assert value(s, "ocppfast_frame_bytes_total", direction="in") > 11 * 10

    assert value(after, "ocppfast_connections_open") == 0
    assert value(after, "ocppfast_connections_opened_total") == 3


async def test_station_metrics_count_calls_and_reconnects() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    cs = ocppfast.CentralSystem(versions=[V16], ping_interval=0)
    cs.on("BootNotification", boot_answer)
    cs.on("Heartbeat", lambda cp, req: {"currentTime": ocppfast.now()})
    http = metrics.start_http_server(0)
    try:
        async with asyncio.timeout(LIMIT):
            await cs.start("127.0.0.1", 0)
            port = cs.port
            try:
                cp = await ocppfast.connect(
                    f"ws://127.0.0.1:{port}",
                    "ST-1",
                    versions=[V16],
                    observer=metrics,
                    reconnect=True,
                    backoff_min=0.05,
                    backoff_random=0.0,
                )
                await cp.call(
                    "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
                )
                # The station has no handler for ClearCache: it answers NotSupported.
                with pytest.raises(errors.NotSupportedError):
                    await cs.call("ST-1", "ClearCache", {}, timeout=5)
                await cs.charge_points["ST-1"].close()  # dropped by the central system
                await until(lambda: metrics.reconnects.get("connected") == 1)
                await cp.call("Heartbeat", {})
                connected = await scrape(http.server_port)
            finally:
                await cs.close(timeout=2)
            # The central system is gone: reconnecting fails until the station gives up.
            await until(lambda: metrics.reconnects.get("failed", 0) >= 1)
            await cp.close()
            closed = await scrape(http.server_port)
    finally:
        http.shutdown()
        http.server_close()

    s = connected
    assert value(s, "ocppfast_calls_sent_total", action="BootNotification", outcome="result") == 1
    assert value(s, "ocppfast_calls_sent_total", action="Heartbeat", outcome="result") == 1
    assert value(s, "ocppfast_call_duration_seconds_count", action="BootNotification") == 1
    assert (
        value(s, "ocppfast_calls_received_total", action="ClearCache", outcome="NotSupported") == 1
    )
    assert value(s, "ocppfast_callerrors_total", direction="sent", code="NotSupported") == 1
    assert value(s, "ocppfast_reconnects_total", outcome="connected") == 1
    assert value(s, "ocppfast_connections_open") == 1
    assert value(s, "ocppfast_connections_opened_total") == 2
    assert value(closed, "ocppfast_reconnects_total", outcome="failed") >= 1
    assert value(closed, "ocppfast_connections_open") == 0


def test_two_metrics_in_one_registry_clash_and_unregister_frees_the_names() -> None:
    registry = CollectorRegistry()
    first = Metrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Metrics(registry)
    first.unregister()
    Metrics(registry)  # the names are free again


def test_metrics_without_prometheus_client_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import now fails, as if absent
    with pytest.raises(ImportError, match=r"pip install 'ocppfast\[metrics\]'"):
        Metrics(None)


async def test_serve_metrics_port_counts_what_simulate_sent() -> None:
    port, metrics_port = free_port(), free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ocppfast",
        "serve",
        "--port",
        str(port),
        "--metrics-port",
        str(metrics_port),
        "--quiet",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(90):
            assert server.stdout is not None
            banner = (await server.stdout.readline()).decode()
            assert f"ws://127.0.0.1:{port}/" in banner, banner
            line = (await server.stdout.readline()).decode()
            assert f"http://127.0.0.1:{metrics_port}/metrics" in line, line
            sim = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ocppfast",
                "simulate",
                "--url",
                f"ws://127.0.0.1:{port}/ocpp",
                "--chargers",
                "3",
                "--duration",
                "0.5",
                "--version",
                V201,
                "--quiet",
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            out, err = await sim.communicate()
            assert sim.returncode == 0, (out.decode(), err.decode())
            calls = int(re.findall(r"booted, (\d+) calls in", out.decode())[-1])
            s = await scrape(metrics_port)
    finally:
        server.terminate()
        await asyncio.wait_for(server.communicate(), 20)
    received = "ocppfast_calls_received_total"
    assert value(s, received, action="BootNotification", outcome="result") == 3
    assert value(s, received, action="StatusNotification", outcome="result") == 3
    # Every call the stations counted is a CALL the central system counted, and no more.
    assert total(s, received) == calls
    assert value(s, "ocppfast_connections_opened_total") == 3
    assert value(s, "ocppfast_callerrors_total", direction="sent", code="NotSupported") == 0
    # The default registry: the process's own metrics come along.
    assert total(s, "process_cpu_seconds_total") > 0


async def test_serve_metrics_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "ocppfast", "serve", "--port", "0", "--metrics-port", str(port)),
            *("--duration", "5", "--quiet"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in err.decode()
    assert "Traceback" not in err.decode() and not out


async def test_serve_metrics_port_with_workers_is_refused_not_ignored() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "ocppfast", "serve", "--port", "0", "--workers", "2", "--metrics-port", "9999"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "--metrics-port serves one process" in err.decode()
    assert "Traceback" not in err.decode() and not out


async def test_error_codes_a_peer_makes_up_are_not_labels_of_their_own() -> None:
    metrics = Metrics(CollectorRegistry())
    cs = ocppfast.CentralSystem(versions=[V201], ping_interval=0, observer=metrics)
    async with asyncio.timeout(LIMIT):
        await cs.start("127.0.0.1", 0)
        try:
            async with websockets.connect(
                f"ws://127.0.0.1:{cs.port}/RAW", subprotocols=[V201]
            ) as raw:
                await until(lambda: "RAW" in cs.charge_points)
                for code in ("MadeUp-1", "MadeUp-2", "NotSupported"):
                    call = asyncio.create_task(cs.call("RAW", "Reset", {"type": "Immediate"}))
                    unique_id = json.loads(await raw.recv())[1]
                    await raw.send(json.dumps([4, unique_id, code, "no", {}]))
                    with pytest.raises(errors.OCPPError) as err:
                        await call
                    assert err.value.code == code  # the caller still gets the real code
        finally:
            await cs.close(timeout=2)
    assert metrics.calls_out == {("Reset", "(other)"): 2, ("Reset", "NotSupported"): 1}
