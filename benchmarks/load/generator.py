"""Load generator process: many simulated OCPP 1.6 chargers on lean picows clients.

Each charger is one picows connection speaking raw OCPP-J frames with at most one outstanding
CALL (OCPP-J 1.6 section 4.1.1); the next CALL is sent from the frame callback that received the
previous answer, so a charger sends as fast as the round trip allows. Latency is measured per call
(send to receipt of the CALLRESULT) into a histogram (``hist.py``). Central-system CALLs (the
fan-out) are answered at once with ``{"status": "Accepted"}``.

The per-frame work (reading an answer, timing it, sending the next CALL, answering a fan-out
CALL) is C, in ``_gen_c.pyx`` (built on first use): a generator in Python filled its core at 100
chargers on two cores and left the servers it measured partly idle (see ``_gen_c.pyx``).

Driven by the harness over ``control.py``; run as ``python -m benchmarks.load.generator``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from picows import WSTransport, ws_connect

from . import cbuild, frames
from .control import run_child, serve_commands
from .hist import UNIT_S
from .servers.launcher import use_aiofastnet

USE_AIOFASTNET = use_aiofastnet()  # the same picows transport as the picows-based servers

_gen_c = cbuild.build("benchmarks.load._gen_c")


def source_address(index: int) -> str:
    """Spread connections over 127.0.0.2-127.0.0.251: 19k connections need ~76 ports per address,
    far from ephemeral-port exhaustion even with many runs' TIME_WAIT sockets around."""
    return f"127.0.0.{2 + index % 250}"


class Charger(_gen_c.ChargerCore):
    """One simulated charger. Hot path (``on_ws_frame``, ``send_call``) in ``_gen_c.pyx``."""

    def __init__(self, gen: Generator) -> None:
        super().__init__(gen)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.gen.disconnects += 1
        self.gen.chargers.discard(self)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("disconnected"))

    async def call(self, suffix: bytes, timeout: float) -> bytes:
        self.waiter = asyncio.get_running_loop().create_future()
        self.send_call(suffix)
        try:
            return await asyncio.wait_for(self.waiter, timeout)
        finally:
            self.waiter = None


def _count(errors: dict[str, int], samples: list[str], exc: BaseException) -> None:
    name = type(exc).__name__
    errors[name] = errors.get(name, 0) + 1
    if len(samples) < 3:
        samples.append(f"{name}: {exc}"[:200])


class Generator(_gen_c.GenCore):
    def __init__(self) -> None:
        super().__init__(UNIT_S, frames.ACCEPTED_RESULT, frames.STEADY_ROTATION)
        self.chargers: set[Charger] = set()
        self.disconnects = 0

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Connect ``count`` chargers (identities CP000000...), each sending BootNotification once
        its handshake completes; at most ``concurrency`` connections in flight."""
        url, first, count = cmd["url"], cmd["first"], cmd["count"]
        concurrency, timeout = cmd.get("concurrency", 64), cmd.get("timeout", 60.0)
        boot = cmd.get("boot", True)
        deadline = time.monotonic() + timeout
        todo = iter(range(first, first + count))
        errors: dict[str, int] = {}
        samples: list[str] = []
        stats = {"connected": 0, "booted": 0, "accepted": 0, "subprotocol_mismatch": 0}
        self.recording, self.hist, self.calls = True, {}, 0  # boot latencies
        t_start = time.perf_counter()
        t_last = t_start

        async def worker() -> None:
            nonlocal t_last
            for i in todo:
                left = deadline - time.monotonic()
                if left <= 0:
                    _count(errors, samples, TimeoutError("phase deadline"))
                    continue
                try:
                    transport, charger = await asyncio.wait_for(
                        ws_connect(
                            lambda: Charger(self),
                            f"{url}/CP{i:06d}",
                            extra_headers={"Sec-WebSocket-Protocol": frames.SUBPROTOCOL},
                            read_buffer_init_size=1024,
                            websocket_handshake_timeout=min(left, 30.0),
                            local_addr=(source_address(i), 0),
                            use_aiofastnet=USE_AIOFASTNET,
                        ),
                        left,
                    )
                except Exception as exc:  # noqa: BLE001 - counted by type and reported
                    _count(errors, samples, exc)
                    continue
                stats["connected"] += 1
                self.chargers.add(charger)
                got = transport.response.headers.get("Sec-WebSocket-Protocol")
                if got != frames.SUBPROTOCOL:
                    stats["subprotocol_mismatch"] += 1
                if not boot:
                    continue
                try:
                    answer = await charger.call(frames.BOOT, max(0.01, deadline - time.monotonic()))
                except Exception as exc:  # noqa: BLE001 - counted by type and reported
                    _count(errors, samples, exc)
                    continue
                stats["booted"] += 1
                if b'"Accepted"' in answer:
                    stats["accepted"] += 1
                t_last = time.perf_counter()

        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))
        self.recording = False
        return {
            **stats,
            "failed": count - stats["connected"],
            "elapsed": t_last - t_start,
            "errors": errors,
            "error_samples": samples,
            "hist": self.hist,
            "calls": self.calls,
        }

    async def steady_start(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Every charger calls as fast as one outstanding CALL allows: the steady rotation
        (Heartbeat, StatusNotification, MeterValues), or ``"only": "heartbeat"``."""
        self.running, self.recording, self.calls, self.hist = True, False, 0, {}
        self.completed = 0
        self.call_errors = self.bad_ids = 0
        only = cmd.get("only")
        self.rotation = (frames.HEARTBEAT,) if only == "heartbeat" else frames.STEADY_ROTATION
        self.rotation_n = len(self.rotation)
        for charger in list(self.chargers):
            if charger.pending is None:
                charger.send_call(self.rotation[charger.seq % self.rotation_n])
        return {"chargers": len(self.chargers)}

    async def mark(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Start of the measured window: counts and histogram restart from zero."""
        self.calls, self.hist, self.recording = 0, {}, True
        return {}

    async def steady_stop(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.recording = False
        self.running = False
        calls, hist = self.calls, self.hist
        # Let the outstanding CALLs finish (bounded) so the next phase starts clean.
        deadline = time.monotonic() + cmd.get("drain", 10.0)
        while time.monotonic() < deadline and any(c.pending is not None for c in self.chargers):
            await asyncio.sleep(0.01)
        return {
            "calls": calls,
            "hist": hist,
            "call_errors": self.call_errors,
            "bad_ids": self.bad_ids,
            "disconnects": self.disconnects,
            "undrained": sum(c.pending is not None for c in self.chargers),
        }

    async def status(self, cmd: dict[str, Any]) -> dict[str, Any]:
        return {
            "chargers": len(self.chargers),
            "disconnects": self.disconnects,
            "server_calls": self.server_calls,
            "completed": self.completed,
        }

    async def close(self, cmd: dict[str, Any]) -> dict[str, Any]:
        chargers = list(self.chargers)
        for c in chargers:
            if c.transport is not None:
                c.transport.disconnect()
        deadline = time.monotonic() + cmd.get("timeout", 10.0)
        while self.chargers and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return {"closed": len(chargers), "left": len(self.chargers)}


async def main() -> None:
    gen = Generator()
    await serve_commands(
        {
            "connect": gen.connect,
            "steady_start": gen.steady_start,
            "mark": gen.mark,
            "steady_stop": gen.steady_stop,
            "status": gen.status,
            "close": gen.close,
            "pid": lambda cmd: _pid(),
        }
    )


async def _pid() -> dict[str, Any]:
    return {"pid": os.getpid()}


if __name__ == "__main__":
    run_child(main)
