"""The command line: the demo central system and the charger simulator, as a user runs them."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_serve_and_simulate(version: str) -> None:
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ocppfast",
        "serve",
        "--port",
        str(port),
        "--report-every",
        "0.5",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert server.stdout is not None
        banner = (await asyncio.wait_for(server.stdout.readline(), 20)).decode()
        assert f"ws://127.0.0.1:{port}/" in banner and version in banner
        sim = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ocppfast",
            "simulate",
            "--url",
            f"ws://127.0.0.1:{port}/ocpp",
            "--chargers",
            "20",
            "--duration",
            "1.5",
            "--version",
            version,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(sim.communicate(), 60)
        text = out.decode()
        assert sim.returncode == 0, text
        summary = text.strip().splitlines()[-1]
        assert "20/20 chargers booted" in summary and "errors 0" in summary
        assert "calls/s" in summary and "p99" in summary
        # the server reports connected chargers and its rate
        line = ""
        for _ in range(20):
            line = (await asyncio.wait_for(server.stdout.readline(), 10)).decode()
            if "connected" in line and "calls/s" in line:
                break
        assert "calls/s" in line and "us/call" in line
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 10)


async def test_simulate_reports_failure_when_no_server() -> None:
    sim = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ocppfast",
        "simulate",
        "--url",
        f"ws://127.0.0.1:{free_port()}/ocpp",
        "--chargers",
        "3",
        "--duration",
        "0.5",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(sim.communicate(), 60)
    assert sim.returncode == 1
    assert b"0/3 chargers booted" in out and b"connect failed" in out
