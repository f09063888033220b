"""User-space instructions per Heartbeat round trip, exact (callgrind): ``make callgrind``.

``python benchmarks/bench_callgrind.py [--calls K] [--warmup W] [--servers a,b] [--out FILE]
[--keep DIR]``

Each server runs alone under ``valgrind --tool=callgrind --instr-atstart=no``. One client (this
process, picows, one charger: N=1, OCPP 1.6) boots, makes W warm-up Heartbeat round trips, then
``callgrind_control -i on`` switches instrumentation on, the client makes exactly K round trips
(one outstanding at a time), ``callgrind_control -i off`` switches it off, and the server is
stopped; the dump's total ``Ir`` (every instruction the server process ran in user space while
switched on) divided by K is the figure. The window holds K requests read, handled and answered,
and the server's idle waiting between them (the same for every server). Servers:

- ``echo-c``: picows echo with a C-level listener (``benchmarks/load/servers/echo_c.py``): the
  floor (picows + uvloop + the kernel interface, no Python code per frame);
- ``echo``: the Python picows echo (``benchmarks/load/servers/echo.py``);
- ``serve``: ``python -m ocppfast serve`` compiled; ``serve-pure``: the same with
  ``OCPPFAST_NO_EXTENSIONS=1``;
- ``load``: the load harness's ocppfast server (``benchmarks/load/servers/ocppfast_cs.py``,
  handlers answering with ``ocppfast.now()``), compiled; ``load-stamped``: the same answering
  with ``datetime.now(UTC).isoformat()``, a new timestamp (and reply check) on every call.

Writes ``benchmarks/results/callgrind.md`` (and ``.json``). Takes 10-20 s per server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SUBPROTOCOL = "ocpp1.6"
BOOT = b'","BootNotification",{"chargePointVendor":"ocppfast-bench","chargePointModel":"cg-1"}]'
HEARTBEAT = b'","Heartbeat",{}]'

SERVERS: dict[str, tuple[str, list[str], dict[str, str]]] = {
    "echo-c": ("picows echo, C listener (floor)", ["-m", "benchmarks.load.servers.echo_c"], {}),
    "echo": ("picows echo, Python listener", ["-m", "benchmarks.load.servers.echo"], {}),
    "serve": (
        "python -m ocppfast serve, compiled",
        ["-m", "ocppfast", "serve", "--ping-interval", "0", "--quiet"],
        {},
    ),
    "serve-pure": (
        "python -m ocppfast serve, pure Python",
        ["-m", "ocppfast", "serve", "--ping-interval", "0", "--quiet"],
        {"OCPPFAST_NO_EXTENSIONS": "1"},
    ),
    "load": (
        "load harness server (ocppfast.now()), compiled",
        ["-m", "benchmarks.load.servers.ocppfast_cs"],
        {},
    ),
    "load-stamped": (
        "load harness server, datetime.isoformat() per call, compiled",
        ["-m", "benchmarks.load.servers.ocppfast_cs"],
        {"BENCH_PER_CALL_TIME": "1"},
    ),
}


def _base_env() -> dict[str, str]:
    """The caller's environment without the pure switch (each server sets its own)."""
    return {k: v for k, v in os.environ.items() if k != "OCPPFAST_NO_EXTENSIONS"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} (see its log)")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("server did not listen in time")


class _Client:
    """One charger making round trips one at a time; ``run(k)`` returns after k answers."""

    def __init__(self) -> None:
        from picows import WSListener, WSMsgType

        text = WSMsgType.TEXT
        client = self

        class Listener(WSListener):  # type: ignore[misc]
            def on_ws_connected(self, transport: Any) -> None:
                client.transport = transport

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type is not text:
                    return
                client.left -= 1
                if client.left > 0:
                    client.send(HEARTBEAT)
                elif client.done is not None and not client.done.done():
                    client.done.set_result(None)

        self.listener = Listener
        self.text = text
        self.transport: Any = None
        self.left = 0
        self.seq = 0
        self.done: asyncio.Future[None] | None = None

    def send(self, suffix: bytes) -> None:
        self.seq += 1
        self.transport.send(self.text, b'[2,"%d' % self.seq + suffix)

    async def run(self, k: int, suffix: bytes = HEARTBEAT) -> None:
        self.left = k
        self.done = asyncio.get_running_loop().create_future()
        self.send(suffix)
        await asyncio.wait_for(self.done, 600)


async def _drive(port: int, pid: int, warmup: int, calls: int) -> None:
    from picows import ws_connect

    client = _Client()
    transport, _ = await ws_connect(
        client.listener,
        f"ws://127.0.0.1:{port}/CG000001",
        extra_headers={"Sec-WebSocket-Protocol": SUBPROTOCOL},
        websocket_handshake_timeout=120,
    )
    await client.run(1, BOOT)
    await client.run(warmup)
    _control(pid, "-i", "on")
    await client.run(calls)
    _control(pid, "-i", "off")
    transport.disconnect()


def _control(pid: int, *args: str) -> None:
    subprocess.run(
        ["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120
    )


def measure(name: str, warmup: int, calls: int, workdir: str) -> dict[str, Any]:
    label, argv, env = SERVERS[name]
    port = free_port()
    argv = [*argv, "--port", str(port)]
    out_file = os.path.join(workdir, f"callgrind.{name}.out")
    cmd = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}",
        PY, *argv,
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**_base_env(), **env, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,  # the load launchers stop at EOF on stdin
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(workdir, f"{name}.log"), "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    try:
        _wait_port(port, proc, 300)
        asyncio.run(_drive(port, proc.pid, warmup, calls))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    total = _total_ir(out_file)
    return {
        "server": name,
        "label": label,
        "calls": calls,
        "ir": total,
        "ir_per_call": total / calls,
    }


def _total_ir(path: str) -> int:
    """Instructions in the dump(s) callgrind wrote for the process (``totals:``, at the end)."""
    total = 0
    paths = [p for p in Path(path).parent.glob(Path(path).name + "*")]
    for p in paths:
        found = [int(m.group(1)) for m in re.finditer(r"^(?:totals|summary): (\d+)",
                 p.read_text(errors="replace"), re.MULTILINE)]  # fmt: skip
        total += max(found, default=0)
    if not paths:
        raise RuntimeError(f"no callgrind output at {path}")
    return total


def report(rows: list[dict[str, Any]], calls: int, warmup: int) -> str:
    by = {r["server"]: r["ir_per_call"] for r in rows}
    lines = [
        "# User-space instructions per Heartbeat round trip (callgrind, exact)",
        "",
        (
            f"`make callgrind` (`python benchmarks/bench_callgrind.py --calls {calls} "
            f"--warmup {warmup}`): server alone under callgrind, N=1 (one charger, OCPP 1.6), "
            f"instrumentation on for exactly {calls} round trips after {warmup} warm-up ones."
        ),
        "",
        "| server | instructions per call | x Python echo | x C floor |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        echo, floor = by.get("echo"), by.get("echo-c")
        xe = f"{r['ir_per_call'] / echo:.2f}x" if echo else "-"
        xf = f"{r['ir_per_call'] / floor:.2f}x" if floor else "-"
        lines.append(f"| {r['label']} | {r['ir_per_call']:,.0f} | {xe} | {xf} |")
    if "serve" in by and "serve-pure" in by:
        lines.append("")
        lines.append(f"- pure/compiled instructions: {by['serve-pure'] / by['serve']:.2f}x")
        if "echo-c" in by:
            layer_c, layer_p = by["serve"] - by["echo-c"], by["serve-pure"] - by["echo-c"]
            lines.append(
                f"- OCPP layer (serve minus the C floor): compiled {layer_c:,.0f}, "
                f"pure {layer_p:,.0f}, pure/compiled {layer_p / layer_c:.2f}x"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--servers", default=",".join(SERVERS))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "callgrind.md"))
    p.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the callgrind dumps in DIR (read them with callgrind_annotate)",
    )
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind (callgrind) is not installed: apt-get install valgrind", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="ocppfast-cg-") as tmp:
        workdir = args.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        for name in args.servers.split(","):
            t0 = time.perf_counter()
            row = measure(name, args.warmup, args.calls, workdir)
            rows.append(row)
            print(
                f"{row['label']}: {row['ir_per_call']:,.0f} instructions per call "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    text = report(rows, args.calls, args.warmup)
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
