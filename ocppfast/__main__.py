"""Command line: a demo central system and simulated charging stations.

python -m ocppfast serve --host 127.0.0.1 --port 9000
python -m ocppfast simulate --url ws://127.0.0.1:9000/ocpp --chargers 1000 --duration 10
python -m ocppfast demo            # both together on loopback (what `make demo` runs)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import resource
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from . import implementation, versions
from .client import connect
from .server import CentralSystem

OCPP16 = versions.OCPP16


def _now_seconds() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _accepted_token(cp: Any) -> dict[str, Any]:
    key = "idTagInfo" if cp.subprotocol == OCPP16 else "idTokenInfo"
    return {key: {"status": "Accepted"}}


class DemoCentralSystem(CentralSystem):
    """Accepts any identity on every enabled version and answers the common messages."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.handled = 0
        self._tx = itertools.count(1)
        answers: dict[str, Any] = {
            "BootNotification": lambda cp, req: {
                "status": "Accepted",
                "currentTime": _now(),
                "interval": 300,
            },
            "Heartbeat": lambda cp, req: {"currentTime": _now()},
            "Authorize": lambda cp, req: _accepted_token(cp),
            "StartTransaction": lambda cp, req: {
                "transactionId": next(self._tx),
                "idTagInfo": {"status": "Accepted"},
            },
            "DataTransfer": lambda cp, req: {"status": "UnknownVendorId"},
        }
        empty = (
            "StatusNotification",
            "MeterValues",
            "StopTransaction",
            "TransactionEvent",
            "NotifyReport",
            "NotifyEvent",
            "FirmwareStatusNotification",
            "DiagnosticsStatusNotification",
            "SecurityEventNotification",
            "LogStatusNotification",
        )
        for action in empty:
            answers.setdefault(action, lambda cp, req: {})
        for action, answer in answers.items():
            self.on(action, self._counted(action, answer))
        self._typed: dict[Any, Any] = {}
        self._typed_at = ""

    def _counted(self, action: str, answer: Any) -> Any:
        """Count the call and answer with a typed response, converted from the answer's dict
        once per second (the answers only change with the clock), not once per call."""
        constant = action not in ("StartTransaction",)

        def handler(cp: Any, req: Any) -> Any:
            self.handled += 1
            if not constant:
                return answer(cp, req)
            now = _now_seconds()
            if now != self._typed_at:
                self._typed.clear()
                self._typed_at = now
            key = (cp.subprotocol, action)
            typed = self._typed.get(key)
            if typed is None:
                typed = msgspec.convert(answer(cp, req), cp.actions[action].response)
                self._typed[key] = typed
            return typed

        return handler


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def run_server(args: argparse.Namespace, ready: asyncio.Event | None = None) -> None:
    cs = DemoCentralSystem(
        versions=args.versions.split(","),
        ping_interval=args.ping_interval,
        read_buffer_size=1024,
    )
    await cs.start(args.host, args.port)
    print(
        f"ocppfast {implementation} central system on ws://{args.host}:{cs.port}/ "
        f"({', '.join(cs.versions)})",
        flush=True,
    )
    if ready is not None:
        ready.set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    last_n, last_t, last_cpu = cs.handled, time.monotonic(), _cpu()
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), args.report_every)
            except TimeoutError:
                pass
            n, t, cpu = cs.handled, time.monotonic(), _cpu()
            calls = n - last_n
            rate = calls / (t - last_t)
            per_call = (cpu - last_cpu) / calls * 1e6 if calls else 0.0
            if not args.quiet:
                print(
                    f"[server] connected {len(cs.charge_points):6d}  calls {n:9d}  "
                    f"{rate:9.0f} calls/s  server CPU {per_call:6.1f} us/call",
                    flush=True,
                )
            last_n, last_t, last_cpu = n, t, cpu
    finally:
        await cs.close()


# --- simulated charging stations ---------------------------------------------------------


def _script_16(n: int) -> list[tuple[str, dict[str, Any]]]:
    """One cycle of a 1.6 station: heartbeats, and every 10th cycle a transaction."""
    steps: list[tuple[str, dict[str, Any]]] = [("Heartbeat", {})]
    if n % 10 == 0:
        meter = {
            "connectorId": 1,
            "transactionId": 1,
            "meterValue": [
                {
                    "timestamp": _now(),
                    "sampledValue": [
                        {"value": str(1000 + n), "measurand": "Energy.Active.Import.Register"}
                    ],
                }
            ],
        }
        steps += [
            ("Authorize", {"idTag": "TAG1"}),
            (
                "StartTransaction",
                {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": _now()},
            ),
            ("MeterValues", meter),
            ("StopTransaction", {"transactionId": 1, "meterStop": 1000 + n, "timestamp": _now()}),
        ]
    return steps


def _script_2x(n: int) -> list[tuple[str, dict[str, Any]]]:
    steps: list[tuple[str, dict[str, Any]]] = [("Heartbeat", {})]
    if n % 10 == 0:
        tx = {"transactionId": f"TX{n}"}
        steps += [
            ("Authorize", {"idToken": {"idToken": "TAG1", "type": "ISO14443"}}),
            (
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": _now(),
                    "triggerReason": "Authorized",
                    "seqNo": 0,
                    "transactionInfo": tx,
                },
            ),
            (
                "MeterValues",
                {
                    "evseId": 1,
                    "meterValue": [{"timestamp": _now(), "sampledValue": [{"value": float(n)}]}],
                },
            ),
            (
                "TransactionEvent",
                {
                    "eventType": "Ended",
                    "timestamp": _now(),
                    "triggerReason": "StopAuthorized",
                    "seqNo": 1,
                    "transactionInfo": tx,
                },
            ),
        ]
    return steps


def _boot(version: str, i: int) -> dict[str, Any]:
    if version == OCPP16:
        return {"chargePointVendor": "ocppfast", "chargePointModel": f"Sim-{i % 7}"}
    return {
        "reason": "PowerUp",
        "chargingStation": {"vendorName": "ocppfast", "model": f"Sim-{i % 7}"},
    }


def _status(version: str) -> dict[str, Any]:
    if version == OCPP16:
        return {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    return {"timestamp": _now(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1}


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.connected = 0
        self.booted = 0
        self.failed_connects = 0


async def _charger(i: int, args: argparse.Namespace, stats: Stats, deadline: float) -> None:
    version = args.version
    identity = f"{args.prefix}{i:06d}"
    local = f"127.0.0.{1 + i % 200}" if args.spread else None
    try:
        cp = await connect(
            args.url,
            identity,
            versions=[version],
            read_buffer_size=1024,
            local_addr=(local, 0) if local else None,
            # A load generator: the central system validates what it receives; checking our own
            # canned payloads here too would only slow the generator down.
            validate_outgoing=False,
        )
    except Exception as exc:  # noqa: BLE001 - counted and reported
        stats.failed_connects += 1
        if stats.failed_connects <= 3:
            print(f"[simulate] {identity}: connect failed: {exc}", file=sys.stderr)
        return
    stats.connected += 1
    lat = stats.latencies
    perf = time.perf_counter
    try:
        t = perf()
        await cp.call("BootNotification", _boot(version, i))
        lat.append(perf() - t)
        stats.booted += 1
        await cp.call("StatusNotification", _status(version))
        script = _script_16 if version == OCPP16 else _script_2x
        n = 0
        while time.monotonic() < deadline:
            for action, payload in script(n):
                t = perf()
                try:
                    await cp.call(action, payload)
                except Exception:  # noqa: BLE001 - counted
                    stats.errors += 1
                lat.append(perf() - t)
            n += 1
            if args.interval:
                await asyncio.sleep(args.interval)
    finally:
        await cp.close()


async def run_simulation(args: argparse.Namespace) -> dict[str, Any]:
    stats = Stats()
    start = time.monotonic()
    deadline = start + args.ramp + args.duration
    tasks = []
    for i in range(args.chargers):
        tasks.append(asyncio.create_task(_charger(i, args, stats, deadline)))
        if args.ramp and i % 100 == 99:
            await asyncio.sleep(args.ramp * 100 / args.chargers)
    progress_every = 1.0
    done = asyncio.ensure_future(asyncio.gather(*tasks))
    last = 0
    while not done.done():
        await asyncio.wait([done], timeout=progress_every)
        n = len(stats.latencies)
        if not args.quiet:
            print(
                f"[simulate] connected {stats.connected:6d}  booted {stats.booted:6d}  "
                f"calls {n:9d}  {(n - last) / progress_every:8.0f} calls/s",
                flush=True,
            )
        last = n
    await done
    elapsed = time.monotonic() - start
    lat = sorted(stats.latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    result = {
        "chargers": args.chargers,
        "connected": stats.connected,
        "booted": stats.booted,
        "failed_connects": stats.failed_connects,
        "calls": len(lat),
        "errors": stats.errors,
        "seconds": round(elapsed, 2),
        "calls_per_s": round(len(lat) / max(elapsed, 1e-9)),
        "p50_ms": round(pct(0.50), 3),
        "p99_ms": round(pct(0.99), 3),
        "p999_ms": round(pct(0.999), 3),
    }
    print(
        f"[simulate] {result['booted']}/{args.chargers} chargers booted, {result['calls']} calls "
        f"in {elapsed:.1f} s = {result['calls_per_s']} calls/s; latency p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, p99.9 {result['p999_ms']} ms; errors {stats.errors}",
        flush=True,
    )
    return result


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ocppfast")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the demo central system")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=9000)
    s.add_argument("--versions", default=",".join(versions.SUPPORTED))
    s.add_argument("--ping-interval", type=float, default=60.0)
    s.add_argument("--report-every", type=float, default=2.0)
    s.add_argument("--quiet", action="store_true")
    m = sub.add_parser("simulate", help="run simulated charging stations")
    d = sub.add_parser("demo", help="serve + simulate in one go on loopback (make demo)")
    for p in (m, d):
        p.add_argument("--chargers", type=int, default=1000)
        p.add_argument("--duration", type=float, default=10.0)
        p.add_argument("--ramp", type=float, default=0.0, help="seconds to spread connects over")
        p.add_argument("--interval", type=float, default=0.0, help="pause between cycles")
        p.add_argument("--version", default=OCPP16, choices=versions.SUPPORTED)
        p.add_argument("--prefix", default="SIM")
        p.add_argument(
            "--spread", action="store_true", help="spread source addresses over 127.0.0.x"
        )
        p.add_argument("--quiet", action="store_true")
    m.add_argument("--url", default="ws://127.0.0.1:9000/ocpp")
    d.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)
    _use_uvloop()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        asyncio.run(run_server(args))
    elif args.command == "simulate":
        result = asyncio.run(run_simulation(args))
        return 0 if result["booted"] == args.chargers and not result["errors"] else 1
    else:
        return _demo(args)
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Central system in a child process (its own core where there is one), stations here."""
    import subprocess

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ocppfast",
            "serve",
            "--port",
            str(args.port),
            "--report-every",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        print(server.stdout.readline().rstrip(), flush=True)
        if os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
            try:
                os.sched_setaffinity(server.pid, {0})
                os.sched_setaffinity(0, {1})
            except (AttributeError, OSError):
                pass
        args.url = f"ws://127.0.0.1:{args.port}/ocpp"
        result = asyncio.run(run_simulation(args))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            out, _ = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
    lines = [ln for ln in out.splitlines() if ln.startswith("[server]")]
    busy = [ln for ln in lines if " 0 calls/s" not in ln]
    if busy:
        print("server, busiest report:", max(busy, key=lambda ln: float(ln.split()[5])))
    print(f"implementation: {implementation}")
    return 0 if result["booted"] == args.chargers and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
