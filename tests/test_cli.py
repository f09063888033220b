"""The command line, as a user runs it: ``python -m ocppfast serve | simulate | demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import io
import json
import logging
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as MhChargePoint16
from ocpp.v16 import call_result as mh_result16
from ocpp.v16.enums import Action as MhAction16

from ocppfast.__main__ import full_parser, main
from ocppfast.cli import build_parser

LIMIT = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_cli(*args: str, timeout: float = LIMIT) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ocppfast",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def serve(*args: str) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    """``serve`` in a child process; yields (port, process) once it listens."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ocppfast",
        "serve",
        "--port",
        str(port),
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        banner = (await asyncio.wait_for(server.stdout.readline(), 20)).decode()
        assert f"ws://127.0.0.1:{port}/" in banner, banner
        yield port, server
    finally:
        if server.returncode is None:
            server.terminate()
            await asyncio.wait_for(server.wait(), 10)


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_serve_and_simulate(version: str) -> None:
    async with serve("--report-every", "0.5") as (port, server):
        code, out, err = await run_cli(
            "simulate",
            "--url",
            f"ws://127.0.0.1:{port}/ocpp",
            "--chargers",
            "20",
            "--duration",
            "1.5",
            "--version",
            version,
        )
        assert code == 0, out + err
        summary = out.strip().splitlines()[-1]
        assert "20/20 chargers booted" in summary and "errors 0" in summary
        assert "calls/s" in summary and "p99" in summary
        # per-action counts: every station booted once, heartbeats were answered
        rows = {ln.split()[1]: ln.split()[2] for ln in out.splitlines()[:-1] if "[simulate]" in ln}
        assert rows["BootNotification"] == "20" and rows["StatusNotification"] == "20"
        assert int(rows["Heartbeat"]) > 0
        # the progress bar with its ETA went to stderr, not into the report
        assert "connect+boot [" in err and "ETA" in err and "connect+boot" not in out
        server.send_signal(2)  # SIGINT, as Ctrl-C
        assert server.stdout is not None
        rest = (await asyncio.wait_for(server.stdout.read(), 20)).decode()
        await asyncio.wait_for(server.wait(), 10)
    assert server.returncode == 0
    reports = [ln for ln in rest.splitlines() if "calls/s" in ln]
    assert reports and "us/call" in reports[0]
    # the summary when it stops: connections, calls by action, errors
    assert "[server] summary:" in rest and "20 connections" in rest, rest
    by_action = next(ln for ln in rest.splitlines() if "calls by action" in ln)
    assert "BootNotification 20" in by_action and "Heartbeat" in by_action
    assert "CALLERRORs sent by the handlers: none" in rest


async def test_simulate_reports_failure_when_no_server() -> None:
    code, out, err = await run_cli(
        "simulate",
        "--url",
        f"ws://127.0.0.1:{free_port()}/ocpp",
        "--chargers",
        "3",
        "--duration",
        "0.5",
    )
    assert code == 1
    assert "0/3 chargers booted" in out and "connect failures: ConnectRefusedError x3" in out
    assert "connect failed" in err and "Traceback" not in err


class PartialCentral16(MhChargePoint16):
    """mobilityhouse's central system with only three handlers: everything else is answered
    with the CALLERROR NotImplemented (its "No handler for X registered")."""

    @on(MhAction16.boot_notification)
    def on_boot(self, **kw: Any) -> Any:
        now = dt.datetime.now(dt.UTC).isoformat()
        return mh_result16.BootNotification(current_time=now, interval=10, status="Accepted")

    @on(MhAction16.heartbeat)
    def on_heartbeat(self, **kw: Any) -> Any:
        return mh_result16.Heartbeat(current_time=dt.datetime.now(dt.UTC).isoformat())

    @on(MhAction16.status_notification)
    def on_status(self, **kw: Any) -> Any:
        return mh_result16.StatusNotification()


async def test_simulate_counts_callerrors_per_action_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL, logger="ocpp")  # it logs a traceback per NotImplemented

    async def on_connect(websocket: Any) -> None:
        station = PartialCentral16(websocket.request.path.strip("/"), websocket)
        with contextlib.suppress(websockets.ConnectionClosed):
            await station.start()

    async with websockets.serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as srv:
        port = srv.sockets[0].getsockname()[1]
        code, out, err = await run_cli(
            "simulate",
            "--url",
            f"ws://127.0.0.1:{port}/ocpp",
            "--chargers",
            "5",
            "--duration",
            "2",
            "--interval",
            "0.05",
            "--json",
        )
    text = out + err
    assert code == 2, text  # all booted, some calls answered with a CALLERROR
    assert "Traceback" not in err, text
    lines = out.splitlines()
    result = json.loads(lines[-1])
    assert result["booted"] == 5 and result["unanswered"] == 0, text
    # the first cycle of each station runs a session: each of its calls got NotImplemented ...
    for action in ("Authorize", "StartTransaction", "MeterValues", "StopTransaction"):
        row = next(ln for ln in lines if ln.split()[1:2] == [action])
        assert "NotImplemented x" in row, text
        assert result["call_errors"][f"{action} NotImplemented"] >= 5, text
    # ... and the stations went on: the heartbeats of later cycles were answered too
    assert result["results"]["Heartbeat"] > 5, text
    assert result["errors"] == sum(result["call_errors"].values())


async def listen_backlog(port: int) -> int:
    """The backlog of the socket listening on ``port``: ss shows it in a listening socket's
    Send-Q column."""
    proc = await asyncio.create_subprocess_exec(
        "ss", "-ltnH", f"sport = :{port}", stdout=subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return int(out.split()[2])


async def test_serve_passes_backlog_to_the_listening_socket() -> None:
    async with serve("--backlog", "321", "--quiet") as (port, _):
        assert await listen_backlog(port) == 321


async def test_serve_default_backlog_is_4096() -> None:
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    async with serve("--quiet") as (port, _):
        assert await listen_backlog(port) == min(4096, somaxconn)


async def test_central_system_listens_with_the_library_backlog() -> None:
    """Not only the CLI: a CentralSystem started from code listens with LISTEN_BACKLOG."""
    from ocppfast import CentralSystem
    from ocppfast.server import LISTEN_BACKLOG

    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    cs = await CentralSystem(versions=["ocpp1.6"]).start("127.0.0.1", 0)
    try:
        assert await listen_backlog(cs.port) == min(LISTEN_BACKLOG, somaxconn)
    finally:
        await cs.close()
    cs = await CentralSystem(versions=["ocpp1.6"]).start("127.0.0.1", 0, backlog=77)
    try:
        assert await listen_backlog(cs.port) == 77
    finally:
        await cs.close()


async def test_serve_duration_stops_by_itself_with_a_summary() -> None:
    code, out, err = await run_cli("serve", "--port", "0", "--duration", "0.3", "--quiet")
    assert code == 0, err
    assert "[server] summary:" in out and "0 connections" in out
    assert "calls by action: none" in out


async def test_log_level_debug_reaches_stderr() -> None:
    code, _, err = await run_cli(
        "serve", "--port", "0", "--duration", "0.2", "--quiet", "--log-level", "debug"
    )
    assert code == 0
    assert " DEBUG ocppfast.cli: serve options:" in err
    assert " INFO ocppfast.cli: listening on 127.0.0.1:" in err
    code, _, err = await run_cli(
        "serve", "--port", "0", "--duration", "0.2", "--quiet", "--log-level", "error"
    )
    assert "ocppfast.cli" not in err


def _commands() -> dict[str, argparse.ArgumentParser]:
    _, sub = build_parser()
    return dict(sub.choices)


def _all_parsers(
    parser: argparse.ArgumentParser, name: str = "python -m ocppfast"
) -> dict[str, argparse.ArgumentParser]:
    """Every parser of the full command line (hooked-in groups and nested commands too)."""
    found = {name: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                found.update(_all_parsers(sub, f"{name} {sub_name}"))
    return found


def test_every_option_has_help_and_shows_its_default() -> None:
    parsers = _all_parsers(full_parser())
    assert {"python -m ocppfast serve", "python -m ocppfast simulate"} <= set(parsers)
    for name, parser in parsers.items():
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            if action.default is not None and action.option_strings:
                assert f"(default: {action.default})" in text, f"{name} {action.dest}"


@pytest.mark.parametrize("command", ["serve", "simulate", "demo"])
def test_log_level_on_every_command(command: str) -> None:
    assert "--log-level {debug,info,warning,error}" in _commands()[command].format_help()


def test_backlog_and_log_level_defaults() -> None:
    commands = _commands()
    for name in ("serve", "demo"):
        assert commands[name].parse_args([]).backlog == 4096
    for name in ("serve", "simulate", "demo"):
        assert commands[name].parse_args([]).log_level == "warning"


def test_simulate_help_explains_what_a_call_is() -> None:
    text = " ".join(_commands()["simulate"].format_help().split())
    assert 'A "call" is one CALL a station sends and the answer it gets' in text
    assert "exit status" in text


def test_console_script_entry_point() -> None:
    """pyproject's ``ocppfast = "ocppfast.__main__:main"``."""
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


async def test_simulator_counts_boot_status_and_calls_from_the_central_system() -> None:
    """ocppfast.simulator in-process, against a central system that leaves stations Pending,
    calls ChangeAvailability on each as it connects, and handles nothing else."""
    import ocppfast
    from ocppfast import v201
    from ocppfast.simulator import SimulationConfig, simulate

    answers: list[str] = []

    async def make_operative(cp: ocppfast.ChargePoint) -> None:
        request = v201.ChangeAvailabilityRequest(
            operational_status=v201.OperationalStatusEnumType.operative
        )
        answers.append(str((await cp.call(request)).status))

    cs = ocppfast.CentralSystem(versions=["ocpp2.0.1"], on_connect=make_operative)
    cs.on(
        "BootNotification",
        lambda cp, req: {"status": "Pending", "currentTime": ocppfast.now(), "interval": 10},
    )
    async with cs:
        await cs.start("127.0.0.1", 0)
        config = SimulationConfig(
            url=f"ws://127.0.0.1:{cs.port}",
            chargers=3,
            duration=0.3,
            interval=0.05,
            version="ocpp2.0.1",
        )
        result = await simulate(config)
    s = result.stats
    assert s.connected == 3 and s.boot_status == {"Pending": 3} and s.booted == 0
    assert not result.ok
    assert s.incoming == {"ChangeAvailability": 3} and answers == ["Accepted"] * 3
    # every other call was answered NotSupported, and the stations kept going
    assert s.call_errors["Heartbeat", "NotSupported"] > 3
    assert s.call_errors["StatusNotification", "NotSupported"] == 3
    assert s.results == {"BootNotification": 3}
    assert result.as_dict()["errors"] == s.errors == sum(s.call_errors.values())


async def test_serve_summary_counts_the_callerrors_it_answered() -> None:
    import ocppfast
    from ocppfast import errors

    async with serve("--quiet") as (port, server):
        cp = await ocppfast.connect(f"ws://127.0.0.1:{port}", "CP-X", versions=["ocpp2.0.1"])
        boot = {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M"}}
        assert (await cp.call("BootNotification", boot)).status == "Accepted"
        with pytest.raises(errors.NotSupportedError):  # a station-sent action the demo skips
            await cp.call("ClearedChargingLimit", {"chargingLimitSource": "EMS"})
        await cp.close()
        server.send_signal(2)
        assert server.stdout is not None
        rest = (await asyncio.wait_for(server.stdout.read(), 20)).decode()
    assert "1 connections (at most 1 open at once), 2 calls received, 1 answered" in rest, rest
    assert "calls by action: BootNotification 1" in rest
    assert "CALLERRORs sent by the handlers: ClearedChargingLimit NotSupported 1" in rest


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty", [False, True])
def test_progress_bar_with_eta_then_call_rate(tty: bool) -> None:
    from ocppfast.cli.simulate import Progress
    from ocppfast.simulator import SimulationStats

    stream = FakeTerminal() if tty else io.StringIO()
    progress = Progress(100, stream)
    stats = SimulationStats(connected=50, booted=25)
    stats.boot_status["Accepted"] = 25
    progress(stats, 1.0)  # 25 settled in 1 s: 75 to go at 25/s
    stats.connected = stats.booted = stats.boot_status["Accepted"] = 100
    progress(stats, 2.0)
    stats.latencies.extend([0.001] * 500)
    progress(stats, 3.0)
    progress.finish()
    text = stream.getvalue()
    frames = text.replace("\r\x1b[2K", "\n").split("\n")
    lines = [f for f in frames if f]
    assert lines[0].startswith("[simulate] connect+boot [######------------------]")
    assert "25/100" in lines[0] and "ETA   3.0 s" in lines[0]
    assert "[########################]    100/100" in lines[1]
    assert "calls       500" in lines[2] and "500 calls/s" in lines[2]
    # on a terminal the line is redrawn in place; the finished bar stays on its own line
    assert ("\r" in text) is tty
    if tty:
        assert "100/100  connected    100  booted    100  failed     0  ETA   -\n" in text
