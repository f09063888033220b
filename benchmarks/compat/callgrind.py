"""Instructions per incoming CALL, compat on ocppfast's connection against the native engine.

    python -m benchmarks.compat.callgrind                 # both, compiled (needs valgrind)
    OCPPFAST_NO_EXTENSIONS=1 python -m benchmarks.compat.callgrind    # both, pure

Wall-clock figures move 10-20% on a shared machine; callgrind's instruction counts do not. Each
variant runs in its own process under ``valgrind --tool=callgrind`` twice, routing ``N1`` and then
``N2`` rounds of the load harness's steady rotation (Heartbeat, StatusNotification, MeterValues
with one sampled value: ``benchmarks/load/frames.py``); ``(I(N2) - I(N1)) / (N2 - N1) / 3`` is the
instruction count per call, start-up and imports cancelled out. ``BENCH_ONLY=Heartbeat`` (in
the environment) routes that action alone.

- ``compat``: the mobilityhouse-style ``BenchChargePoint`` (``benchmarks/compat/app.py``) running
  ``start()`` on ``ocppfast.compat``'s connection class (what ``compat.serve`` hands out), each
  frame given to the connection's ``on_ws_frame`` as picows gives it, the answer written to a
  transport that drops it: what ``compat-picows`` runs per call, minus the sockets.
- ``native``: the same four handlers on ocppfast's native API (as
  ``benchmarks/load/servers/ocppfast_cs.py`` writes them), each frame given to the engine's
  ``receive`` (what its compiled ``feed`` calls), the answer dropped.

The ratio compat/native is printed; it is the dispatch part of the load harness's server-CPU
ratio (the sockets, epoll and picows' framing cost the same in both).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = (200, 1200)


class _Frame:
    """What the connection reads of picows' ``WSFrame`` (C-level methods, as picows' are)."""

    __slots__ = ("fin", "get_payload_as_bytes", "get_payload_as_utf8_text", "msg_type")

    def __init__(self, data: bytes) -> None:
        self.msg_type = 1
        self.fin = 1
        text = data.decode()
        self.get_payload_as_utf8_text = text.__str__
        self.get_payload_as_bytes = data.__bytes__


class _DropTransport:
    sent = 0
    last: Any = b""

    def send(self, msg_type: int, data: Any) -> None:
        self.sent += 1
        self.last = data


def _frames() -> list[bytes]:
    from benchmarks.load import frames

    out = [frames.CALL_HEAD + b"%d" % i + f for i, f in enumerate(frames.STEADY_ROTATION)]
    only = os.environ.get("BENCH_ONLY")  # e.g. Heartbeat: that action alone, three times
    if only:
        out = [f for f in out if f'"{only}"'.encode() in f] * 3
    return out


async def _compat(rounds: int) -> None:
    import logging

    import ocppfast.compat

    ocppfast.compat.install()
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    from benchmarks.compat.app import BenchChargePoint
    from ocppfast.compat.serve import WebSocketConnection

    conn = WebSocketConnection()
    transport = conn.transport = _DropTransport()
    cp = BenchChargePoint("CP-1", conn)
    task = asyncio.ensure_future(cp.start())
    await asyncio.sleep(0)
    assert conn._sink is not None, "start() did not take the inline path"
    frames = [_Frame(f) for f in _frames()]
    on_frame = conn.on_ws_frame
    for _ in range(rounds):
        for frame in frames:
            on_frame(transport, frame)
    task.cancel()
    assert transport.sent == len(frames) * rounds, (transport.sent, transport.last)


async def _native(rounds: int) -> None:
    from datetime import UTC, datetime

    from ocppfast import versions
    from ocppfast.charge_point import ChargePoint
    from ocppfast.v16 import (
        HeartbeatResponse,
        MeterValuesResponse,
        StatusNotificationResponse,
    )

    def now() -> str:
        return datetime.now(UTC).isoformat()

    cp = ChargePoint(
        asyncio.get_running_loop(), "ocpp1.6", versions.actions("ocpp1.6"), identity="CP-1"
    )
    transport = _DropTransport()
    cp.attach(transport)
    cp.on("Heartbeat", lambda req: HeartbeatResponse(current_time=now()))
    cp.on("StatusNotification", lambda req: StatusNotificationResponse())
    cp.on("MeterValues", lambda req: MeterValuesResponse())
    frames = _frames()
    receive = cp.receive
    for _ in range(rounds):
        for frame in frames:
            receive(frame)
    assert transport.sent == len(frames) * rounds, (transport.sent, transport.last)


def _child(variant: str, rounds: int) -> None:
    import uvloop

    uvloop.run(_compat(rounds) if variant == "compat" else _native(rounds))


def _instructions(variant: str, rounds: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "benchmarks.compat.callgrind",
                "--child",
                variant,
                str(rounds),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
    m = re.search(r"Collected : (\d+)", proc.stderr)
    if m is None:
        raise RuntimeError(proc.stderr[-2000:])
    return int(m.group(1))


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], int(sys.argv[3]))
        return 0
    import ocppfast

    per_call = {}
    for variant in ("compat", "native"):
        low, high = (_instructions(variant, n) for n in ROUNDS)
        per_call[variant] = (high - low) / (ROUNDS[1] - ROUNDS[0]) / 3
        print(f"{variant}: {per_call[variant]:,.0f} instructions per call", flush=True)
    print(
        f"compat/native ({ocppfast.implementation}): {per_call['compat'] / per_call['native']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
