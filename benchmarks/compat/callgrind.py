"""Instructions per incoming CALL, compat on ocppfast's connection against the native engine.

    python -m benchmarks.compat.callgrind                 # both, compiled (needs valgrind)
    OCPPFAST_NO_EXTENSIONS=1 python -m benchmarks.compat.callgrind    # both, pure

Wall-clock figures move 10-20% on a shared machine; callgrind's instruction counts do not. Each
variant runs in its own process under ``valgrind --tool=callgrind`` twice, routing ``N1`` and then
``N2`` rounds of the load harness's steady rotation (Heartbeat, StatusNotification, MeterValues
with one sampled value: ``benchmarks/load/frames.py``); ``(I(N2) - I(N1)) / (N2 - N1) / 3`` is the
instruction count per call, start-up and imports cancelled out (``PYTHONHASHSEED=0`` in both
children: with random seeds dict probing moves the counts by a few hundred). ``BENCH_ONLY=Heartbeat`` (in
the environment) routes that action alone.

Both variants get the same frames as picows' own ``WSFrame`` objects, through the listener's
``on_ws_frame`` (what picows calls per frame), and answer through picows' own ``WSTransport``
(framing included) over an in-memory socket stand-in that keeps the bytes:

- ``compat``: the mobilityhouse-style ``BenchChargePoint`` (``benchmarks/compat/app.py``) running
  ``start()`` on ``ocppfast.compat``'s connection class (what ``compat.serve`` hands out): what
  ``compat-picows`` runs per call, minus the sockets.
- ``native``: the same handlers on ocppfast's native API (as
  ``benchmarks/load/servers/ocppfast_cs.py`` writes them, the current time per Heartbeat made
  the same way), on the engine's listener (a Python subclass, as the server's
  ``OCPPListener``).

The ratio compat/native is printed; it is the dispatch part of the load harness's server-CPU
ratio (the sockets and epoll cost the same in both). Before 2026-11-26 the frames were handed
to ``on_frame`` / the engine's ``receive`` directly with a Python stand-in transport, which left
out picows' call into the listener (a Python call for compat then, a C call for native).
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


class _Socket:
    """What picows' transport reads of the underlying transport: ``write`` keeps the framed
    bytes (a C-level ``list.append``), a nonzero write-buffer size (a C-level call too) keeps
    picows from trying the socket itself, so every frame it sends ends in ``written``."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.write = self.written.append
        # C-level, as uvloop's transport's is
        self.get_write_buffer_size = (1).__int__

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self
        if name == "peername":
            return ("127.0.0.1", 1)
        return default

    def fileno(self) -> int:
        return -1


def _transport() -> tuple[Any, _Socket]:
    """picows' own server-side transport over a :class:`_Socket`: answers are framed by picows
    as on a real connection, the same way for both variants."""
    import logging

    import picows

    sock = _Socket()
    loop = asyncio.get_running_loop()
    return picows.WSTransport(False, sock, logging.getLogger("bench"), loop), sock


def _frames() -> list[Any]:
    """The steady rotation as picows' own ``WSFrame`` objects (complete TEXT frames)."""
    import picows
    from picows import picows as picows_impl

    from benchmarks.load import frames

    out = [frames.CALL_HEAD + b"%d" % i + f for i, f in enumerate(frames.STEADY_ROTATION)]
    only = os.environ.get("BENCH_ONLY")  # e.g. Heartbeat: that action alone, three times
    if only:
        out = [f for f in out if f'"{only}"'.encode() in f] * 3
    make = picows_impl._make_test_ws_frame  # type: ignore[attr-defined]
    return [make(picows.WSMsgType.TEXT, f, True, False) for f in out]


async def _compat(rounds: int) -> None:
    import logging

    import ocppfast.compat

    ocppfast.compat.install()
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    from benchmarks.compat.app import BenchChargePoint
    from ocppfast.compat.serve import WebSocketConnection

    transport, sock = _transport()
    conn = WebSocketConnection()
    conn.on_ws_connected(transport)
    cp = BenchChargePoint("CP-1", conn)
    task = asyncio.ensure_future(cp.start())
    await asyncio.sleep(0)
    assert conn._sink is not None, "start() did not take the inline path"
    frames = _frames()
    on_frame = conn.on_ws_frame  # what picows calls (compiled: through its vtable)
    for _ in range(rounds):
        for frame in frames:
            on_frame(transport, frame)
    task.cancel()
    assert len(sock.written) == len(frames) * rounds, (len(sock.written), sock.written[-1:])


async def _native(rounds: int) -> None:
    from datetime import UTC, datetime

    from ocppfast import versions
    from ocppfast.charge_point import ChargePoint
    from ocppfast.engine import FrameListener
    from ocppfast.v16 import (
        HeartbeatResponse,
        MeterValuesResponse,
        StatusNotificationResponse,
    )

    def now() -> str:
        return datetime.now(UTC).isoformat()

    class Listener(FrameListener):  # type: ignore[misc,valid-type]
        """A Python subclass, as the server's ``OCPPListener``."""

    cp = ChargePoint(
        asyncio.get_running_loop(), "ocpp1.6", versions.actions("ocpp1.6"), identity="CP-1"
    )
    transport, sock = _transport()
    cp.attach(transport)
    listener = Listener()
    listener.bind(cp)
    cp.on("Heartbeat", lambda req: HeartbeatResponse(current_time=now()))
    cp.on("StatusNotification", lambda req: StatusNotificationResponse())
    cp.on("MeterValues", lambda req: MeterValuesResponse())
    frames = _frames()
    on_frame = listener.on_ws_frame  # what picows calls (compiled: through its vtable)
    for _ in range(rounds):
        for frame in frames:
            on_frame(transport, frame)
    assert len(sock.written) == len(frames) * rounds, (len(sock.written), sock.written[-1:])


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
            # a fixed hash seed: str hashes decide dict probing, which moves counts by hundreds
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"},
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
