"""One flooding station against a central system, while other stations make heartbeat calls.

``python benchmarks/flood.py [--seconds 8] [--stations 50] [--mode noread|read]
[--max-unanswered N]``

The central system runs in its own process (so its RSS is its own, read with psutil). In this
process: ``--stations`` well-behaved stations (ocppfast clients) send a Heartbeat, wait for the
answer, sleep 50 ms, again; and one raw flooder sends Heartbeat CALLs back to back without
waiting for answers, and either never reads its socket (``noread``) or reads and discards
(``read``). Printed as one JSON line: the server's RSS before and at its peak during the flood,
whether/when the flooder was disconnected, and the other stations' heartbeat latency (p50, p99,
max, and calls that failed). ``--max-unanswered 0`` turns the unanswered-CALL cap off, to see
backpressure and the per-iteration budget hold on their own (the flooder is then never closed by
the cap; one that never reads is dropped after ``write_timeout``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-01-01T00:00:00Z"


def _serve(max_unanswered: int) -> None:
    import uvloop

    import ocppfast

    async def main() -> None:
        options: dict[str, Any] = {}
        if max_unanswered >= 0:  # else: the library's default
            options["max_unanswered_calls"] = max_unanswered
        cs = ocppfast.CentralSystem(versions=["ocpp1.6"], ping_interval=0, **options)
        cs.on("Heartbeat", lambda cp, req: {"currentTime": NOW})
        await cs.start("127.0.0.1", 0, backlog=1000)
        print(cs.port, flush=True)
        await cs.serve_forever()

    uvloop.run(main())


def ws_frame(payload: bytes, opcode: int = 1, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 section 5.2); the mask is all zero bytes: XOR is a no-op."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + b"\0\0\0\0" + payload


def raw_connect(port: int, identity: str, subprotocol: str = "ocpp1.6") -> socket.socket:
    """A blocking socket after a completed WebSocket upgrade (the 101 read and checked)."""
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /{identity} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
    return sock


async def flooder(port: int, mode: str, stop: asyncio.Event, out: dict[str, Any]) -> None:
    """Heartbeat CALLs back to back from a thread (blocking sends), reading replies or not."""
    sock = raw_connect(port, "FLOODER")
    frames = b"".join(ws_frame(b'[2,"%d","Heartbeat",{}]' % i) for i in range(200))
    out["flooder_sent_bytes"] = 0
    out["flooder_closed_after_s"] = None
    t0 = time.perf_counter()

    def send_loop() -> None:
        sock.settimeout(0.5)
        while not stop.is_set():
            try:
                sock.sendall(frames)
                out["flooder_sent_bytes"] += len(frames)
            except TimeoutError:
                continue  # the server stopped reading (backpressure): keep trying
            except OSError:
                out["flooder_closed_after_s"] = round(time.perf_counter() - t0, 3)
                return

    def read_loop() -> None:
        sock.settimeout(0.5)
        while not stop.is_set():
            try:
                if not sock.recv(65536):
                    out["flooder_closed_after_s"] = round(time.perf_counter() - t0, 3)
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    loop = asyncio.get_running_loop()
    jobs = [loop.run_in_executor(None, send_loop)]
    if mode == "read":
        jobs.append(loop.run_in_executor(None, read_loop))
    await asyncio.gather(*jobs)
    sock.close()


async def station(
    port: int, n: int, stop: asyncio.Event, lat: list[float], errs: list[str]
) -> None:
    import ocppfast

    cp = await ocppfast.connect(
        f"ws://127.0.0.1:{port}", f"CP-{n}", versions=["ocpp1.6"], call_timeout=30
    )
    while not stop.is_set():
        t = time.perf_counter()
        try:
            await cp.call("Heartbeat", {})
            lat.append(time.perf_counter() - t)
        except Exception as exc:  # noqa: BLE001 - counted
            errs.append(type(exc).__name__)
        await asyncio.sleep(0.05)
    await cp.close()


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, __file__, "--serve", str(args.max_unanswered)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        ps = psutil.Process(server.pid)
        stop = asyncio.Event()
        lat: list[float] = []
        errs: list[str] = []
        stations = [
            asyncio.ensure_future(station(port, i, stop, lat, errs)) for i in range(args.stations)
        ]
        await asyncio.sleep(1.0)
        lat_before = list(lat)
        lat.clear()
        rss0 = ps.memory_info().rss
        out: dict[str, Any] = {
            "mode": args.mode,
            "stations": args.stations,
            "max_unanswered": args.max_unanswered,
        }
        flood = asyncio.ensure_future(flooder(port, args.mode, stop, out))
        peak = rss0
        t_end = time.perf_counter() + args.seconds
        while time.perf_counter() < t_end:
            await asyncio.sleep(0.2)
            peak = max(peak, ps.memory_info().rss)
        rss_end = ps.memory_info().rss
        stop.set()
        await asyncio.wait_for(asyncio.gather(flood, *stations, return_exceptions=True), 60)
        import ocppfast

        out.update(
            implementation=ocppfast.implementation,
            seconds=args.seconds,
            server_rss_before_mib=round(rss0 / 2**20, 1),
            server_rss_peak_growth_mib=round((peak - rss0) / 2**20, 1),
            server_rss_end_growth_mib=round((rss_end - rss0) / 2**20, 1),
            others_calls=len(lat),
            others_failed=len(errs),
            others_p50_ms_before=pct(lat_before, 0.5),
            others_p99_ms_before=pct(lat_before, 0.99),
            others_p50_ms=pct(lat, 0.5),
            others_p99_ms=pct(lat, 0.99),
            others_max_ms=round(max(lat) * 1000, 1) if lat else None,
        )
        return out
    finally:
        server.kill()
        server.wait()


def main() -> int:
    if "--serve" in sys.argv:
        _serve(int(sys.argv[sys.argv.index("--serve") + 1]))
        return 0
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--stations", type=int, default=50)
    p.add_argument("--mode", choices=("noread", "read"), default="noread")
    p.add_argument("--max-unanswered", type=int, default=-1, help="-1: the default")
    args = p.parse_args()
    import uvloop

    print(json.dumps(uvloop.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
