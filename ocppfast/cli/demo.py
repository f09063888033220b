"""``python -m ocppfast demo``: ``serve`` and ``simulate`` together on loopback (``make demo``).

The central system runs in a child process (``serve``), pinned to core 0 when there are two
cores or more, and the simulated stations run here on core 1; the report ends with the server's
busiest report line and its summary.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys

from .. import implementation
from . import Formatter, add_common_options
from .serve import add_server_options
from .simulate import EPILOG, add_simulation_options, exit_status, run_simulation

__all__ = ["add_parser"]


def _server_command(args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ocppfast",
        "serve",
        "--port",
        str(args.port),
        "--report-every",
        "2",
        "--backlog",
        str(args.backlog),
        "--ping-interval",
        str(args.ping_interval),
        "--log-level",
        args.log_level,
    ]


def _pin(server_pid: int) -> None:
    if (os.cpu_count() or 1) > 1:
        try:
            os.sched_setaffinity(server_pid, {0})
            os.sched_setaffinity(0, {1})
        except (AttributeError, OSError):
            pass


def main(args: argparse.Namespace) -> int:
    server = subprocess.Popen(_server_command(args), stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        banner = server.stdout.readline().rstrip()
        if not banner:
            print("[demo] the central system did not start", file=sys.stderr)
            return 1
        print(banner, flush=True)
        _pin(server.pid)
        args.url = f"ws://127.0.0.1:{args.port}/ocpp"
        result = asyncio.run(run_simulation(args))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            out, _ = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
    lines = out.splitlines()
    reports = [ln for ln in lines if ln.startswith("[server] connected") and "calls/s" in ln]
    busy = [ln for ln in reports if float(ln.split()[5]) > 0]
    if busy:
        print("server, busiest report:", max(busy, key=lambda ln: float(ln.split()[5])))
    for line in lines:
        if line.startswith("[server]") and line not in reports:
            print(line)
    print(f"implementation: {implementation}", flush=True)
    return exit_status(result)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="serve + simulate in one go on loopback (what make demo runs)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=Formatter,
    )
    p.add_argument("--port", type=int, default=9000, help="port of the central system")
    add_server_options(p)
    add_simulation_options(p)
    add_common_options(p)
    p.set_defaults(run=main, json=False, password=None)
    return p
