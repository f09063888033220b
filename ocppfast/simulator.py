"""Simulated charging stations: many stations on one event loop, for load and smoke tests.

Each station connects, sends BootNotification and StatusNotification, then repeats a cycle of its
version's script until the deadline: a Heartbeat every cycle and, every tenth cycle, a charging
session (1.6: Authorize, StartTransaction, MeterValues, StopTransaction; 2.0.1 and 2.1:
Authorize, TransactionEvent Started, MeterValues, TransactionEvent Ended).

A *call* here is one OCPP-J CALL a station sends together with its answer: the CALLRESULT, or
the CALLERROR the central system returns instead. Its latency is the time from writing the CALL
to reading the answer. A CALLERROR is an answer, not a crash: it is counted per action and code
(a central system that does not implement ``Authorize`` shows up as
``Authorize: NotImplemented x N``) and the station goes on with its script.

The stations also answer a few CALLs a central system commonly sends when a station connects
(``ChangeAvailability``, ``Reset``, ``TriggerMessage``, ``ClearCache``, ``DataTransfer``) and
count them; any other incoming action gets the engine's ``NotSupported``.

    result = await simulate(SimulationConfig(url="ws://127.0.0.1:9000/ocpp", chargers=100))
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import versions
from .charge_point import ChargePoint
from .client import connect
from .clock import now
from .errors import CallTimeoutError, ConnectionClosedError, OCPPError

__all__ = [
    "SimulationConfig",
    "SimulationResult",
    "SimulationStats",
    "boot_payload",
    "cycle_script",
    "simulate",
]

log = logging.getLogger("ocppfast.simulator")

OCPP16 = versions.OCPP16

Step = tuple[str, dict[str, Any]]


@dataclass
class SimulationConfig:
    """What to simulate; the command line (``python -m ocppfast simulate``) fills one in."""

    url: str = "ws://127.0.0.1:9000/ocpp"
    chargers: int = 1000
    duration: float = 10.0  # seconds of cycles after the ramp
    ramp: float = 0.0  # seconds to spread the connects over (0: all at once)
    interval: float = 0.0  # pause between two cycles of one station
    version: str = OCPP16
    prefix: str = "SIM"  # identities are prefix + a 6-digit number
    spread: bool = False  # source addresses spread over 127.0.0.1-200 (loopback only)
    password: str | None = None  # HTTP Basic auth (security profile 1)
    call_timeout: float = 30.0
    connect_timeout: float = 10.0


def boot_payload(version: str, i: int) -> dict[str, Any]:
    """The BootNotification request of station ``i``."""
    if version == OCPP16:
        return {"chargePointVendor": "ocppfast", "chargePointModel": f"Sim-{i % 7}"}
    return {
        "reason": "PowerUp",
        "chargingStation": {"vendorName": "ocppfast", "model": f"Sim-{i % 7}"},
    }


def status_payload(version: str) -> dict[str, Any]:
    """StatusNotification: connector 1 available."""
    if version == OCPP16:
        return {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    return {"timestamp": now(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1}


def _cycle_16(n: int) -> list[Step]:
    steps: list[Step] = [("Heartbeat", {})]
    if n % 10 == 0:
        meter = {
            "connectorId": 1,
            "transactionId": 1,
            "meterValue": [
                {
                    "timestamp": now(),
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
                {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": now()},
            ),
            ("MeterValues", meter),
            ("StopTransaction", {"transactionId": 1, "meterStop": 1000 + n, "timestamp": now()}),
        ]
    return steps


def _cycle_2x(n: int) -> list[Step]:
    steps: list[Step] = [("Heartbeat", {})]
    if n % 10 == 0:
        tx = {"transactionId": f"TX{n}"}
        steps += [
            ("Authorize", {"idToken": {"idToken": "TAG1", "type": "ISO14443"}}),
            (
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": now(),
                    "triggerReason": "Authorized",
                    "seqNo": 0,
                    "transactionInfo": tx,
                },
            ),
            (
                "MeterValues",
                {
                    "evseId": 1,
                    "meterValue": [{"timestamp": now(), "sampledValue": [{"value": float(n)}]}],
                },
            ),
            (
                "TransactionEvent",
                {
                    "eventType": "Ended",
                    "timestamp": now(),
                    "triggerReason": "StopAuthorized",
                    "seqNo": 1,
                    "transactionInfo": tx,
                },
            ),
        ]
    return steps


def cycle_script(version: str, n: int) -> list[Step]:
    """The calls of cycle ``n`` of a station speaking ``version``."""
    return _cycle_16(n) if version == OCPP16 else _cycle_2x(n)


def _accepted(request: Any) -> dict[str, Any]:
    return {"status": "Accepted"}


#: Answers of a simulated station to CALLs from the central system (the same wire shape in 1.6,
#: 2.0.1 and 2.1 for these actions).
STATION_ANSWERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "ChangeAvailability": _accepted,
    "Reset": _accepted,
    "TriggerMessage": _accepted,
    "ClearCache": _accepted,
    "DataTransfer": lambda request: {"status": "UnknownVendorId"},
}


@dataclass
class SimulationStats:
    """Counters shared by all stations of one run (one event loop: no locks needed)."""

    connected: int = 0
    booted: int = 0  # BootNotification answered Accepted
    failed_connects: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered call
    #: action -> CALLRESULTs received
    results: Counter[str] = field(default_factory=Counter)
    #: (action, error code) -> CALLERRORs received
    call_errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: (action, "timeout" | "connection closed" | exception name) -> calls without an answer
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: BootNotification status -> count (Accepted, Pending, Rejected)
    boot_status: Counter[str] = field(default_factory=Counter)
    #: action -> CALLs received from the central system
    incoming: Counter[str] = field(default_factory=Counter)
    connect_errors: Counter[str] = field(default_factory=Counter)  # exception type -> count

    @property
    def calls(self) -> int:
        """Calls answered (CALLRESULT or CALLERROR)."""
        return len(self.latencies)

    @property
    def errors(self) -> int:
        """Calls answered with a CALLERROR."""
        return sum(self.call_errors.values())

    @property
    def unanswered(self) -> int:
        return sum(self.failures.values())


@dataclass
class SimulationResult:
    """The outcome of :func:`simulate` (``as_dict()`` for JSON)."""

    chargers: int
    seconds: float
    stats: SimulationStats

    def percentile_ms(self, p: float) -> float:
        lat = sorted(self.stats.latencies)
        if not lat:
            return float("nan")
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

    @property
    def ok(self) -> bool:
        """Every station connected and booted, every call got a CALLRESULT."""
        s = self.stats
        return s.booted == self.chargers and not s.errors and not s.unanswered

    def as_dict(self) -> dict[str, Any]:
        s = self.stats
        return {
            "chargers": self.chargers,
            "connected": s.connected,
            "booted": s.booted,
            "failed_connects": s.failed_connects,
            "calls": s.calls,
            "errors": s.errors,
            "unanswered": s.unanswered,
            "seconds": round(self.seconds, 2),
            "calls_per_s": round(s.calls / max(self.seconds, 1e-9)),
            "p50_ms": round(self.percentile_ms(0.50), 3),
            "p99_ms": round(self.percentile_ms(0.99), 3),
            "p999_ms": round(self.percentile_ms(0.999), 3),
            "results": dict(s.results),
            "call_errors": {f"{a} {c}": n for (a, c), n in s.call_errors.items()},
        }


async def _call(cp: ChargePoint, stats: SimulationStats, action: str, payload: Any) -> Any:
    """One call, counted; returns the response, or None when it was not a CALLRESULT."""
    t = time.perf_counter()
    try:
        response = await cp.call(action, payload)
    except OCPPError as exc:  # a CALLERROR is an answer: count it and go on
        stats.latencies.append(time.perf_counter() - t)
        stats.call_errors[action, exc.code] += 1
        return None
    except CallTimeoutError:
        stats.failures[action, "timeout"] += 1
        return None
    except ConnectionClosedError:
        stats.failures[action, "connection closed"] += 1
        raise
    except Exception as exc:  # anything else: counted, logged once per kind, the station goes on
        why = type(exc).__name__
        if not stats.failures[action, why]:
            log.error("%s: %s failed", cp.identity, action, exc_info=exc)
        stats.failures[action, why] += 1
        return None
    stats.latencies.append(time.perf_counter() - t)
    stats.results[action] += 1
    return response


def _station_handlers(stats: SimulationStats) -> dict[str, Any]:
    def counted(action: str, answer: Callable[[Any], dict[str, Any]]) -> Callable[[Any], Any]:
        def handler(request: Any) -> dict[str, Any]:
            stats.incoming[action] += 1
            return answer(request)

        return handler

    return {action: counted(action, answer) for action, answer in STATION_ANSWERS.items()}


async def _station(
    i: int, config: SimulationConfig, stats: SimulationStats, deadline: float
) -> None:
    version = config.version
    identity = f"{config.prefix}{i:06d}"
    local = f"127.0.0.{1 + i % 200}" if config.spread else None
    try:
        cp = await connect(
            config.url,
            identity,
            versions=[version],
            password=config.password,
            handlers=_station_handlers(stats),
            call_timeout=config.call_timeout,
            connect_timeout=config.connect_timeout,
            read_buffer_size=1024,
            local_addr=(local, 0) if local else None,
            # A load generator: the central system validates what it receives; checking our own
            # canned payloads here too would only slow the generator down.
            validate_outgoing=False,
        )
    except Exception as exc:  # noqa: BLE001 - counted and reported
        stats.failed_connects += 1
        stats.connect_errors[type(exc).__name__] += 1
        if stats.failed_connects <= 3:
            log.error("%s: connect failed: %s", identity, exc)
        return
    stats.connected += 1
    try:
        boot = await _call(cp, stats, "BootNotification", boot_payload(version, i))
        if boot is not None:
            status = str(boot.status)
            stats.boot_status[status] += 1
            if status == "Accepted":
                stats.booted += 1
        await _call(cp, stats, "StatusNotification", status_payload(version))
        n = 0
        while time.monotonic() < deadline:
            for action, payload in cycle_script(version, n):
                await _call(cp, stats, action, payload)
            n += 1
            if config.interval:
                await asyncio.sleep(config.interval)
    except ConnectionClosedError:
        pass  # counted by _call; the station is done
    finally:
        await cp.close()


async def simulate(
    config: SimulationConfig,
    *,
    stats: SimulationStats | None = None,
    on_tick: Callable[[SimulationStats, float], None] | None = None,
    tick: float = 1.0,
) -> SimulationResult:
    """Run ``config.chargers`` stations until ``config.duration`` seconds after the ramp.

    ``on_tick(stats, elapsed_seconds)`` is called every ``tick`` seconds while they run (the
    command line draws its progress with it).
    """
    versions.check([config.version])
    stats = stats if stats is not None else SimulationStats()
    start = time.monotonic()
    deadline = start + config.ramp + config.duration
    tasks = []
    for i in range(config.chargers):
        tasks.append(asyncio.create_task(_station(i, config, stats, deadline)))
        if config.ramp and i % 100 == 99:
            await asyncio.sleep(config.ramp * 100 / config.chargers)
    done = asyncio.ensure_future(asyncio.gather(*tasks))
    while not done.done():
        await asyncio.wait([done], timeout=tick)
        if on_tick is not None:
            on_tick(stats, time.monotonic() - start)
    await done
    return SimulationResult(config.chargers, time.monotonic() - start, stats)
