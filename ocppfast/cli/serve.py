"""``python -m ocppfast serve``: a demo central system that accepts any station.

It answers what stations send in every enabled version (BootNotification Accepted, Heartbeat,
Authorize Accepted, transactions, meter values, status and report notifications), answers the
other station-sent actions with the CALLERROR ``NotSupported``, prints a report line every
``--report-every`` seconds and a summary when it stops (Ctrl-C, SIGTERM or ``--duration``).
With ``--metrics-port`` it serves Prometheus metrics (``pip install 'ocppfast[metrics]'``) on
http://METRICS_HOST:PORT/metrics; ``--trace`` logs every frame (logger ``ocppfast.wire``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import resource
import signal
import time
from collections import Counter
from typing import Any

import msgspec

from .. import implementation, versions
from ..charge_point import ChargePoint
from ..clock import now
from ..errors import NotSupportedError
from ..observe import Metrics
from ..server import LISTEN_BACKLOG, CentralSystem
from . import Formatter, add_common_options

__all__ = ["DEFAULT_BACKLOG", "DemoCentralSystem", "add_parser", "run_server"]

#: Listen backlog. asyncio's default (100) overflows when 1,000 stations connect at once: the
#: kernel drops SYNs past it and the stations retry after a second or time out.
DEFAULT_BACKLOG = LISTEN_BACKLOG

OCPP16 = versions.OCPP16

log = logging.getLogger("ocppfast.cli")

_EMPTY_ANSWERS = (
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


def _accepted_token(cp: ChargePoint) -> dict[str, Any]:
    key = "idTagInfo" if cp.subprotocol == OCPP16 else "idTokenInfo"
    return {key: {"status": "Accepted"}}


class DemoCentralSystem(CentralSystem):
    """Accepts any identity on every enabled version, answers the common messages, counts."""

    def __init__(self, **options: Any) -> None:
        super().__init__(
            on_connect=self._count_connect, on_disconnect=self._count_disconnect, **options
        )
        # action -> CALLs answered with a CALLRESULT: a plain dict, a Counter's += costs ~1k
        # instructions per call (benchmarks/bench_callgrind.py measures this server).
        self._counts: dict[str, int] = {}
        self._answer_caches: list[dict[str, Any]] = []
        self._expiry: asyncio.TimerHandle | None = None
        #: (action, code) -> CALLs answered with a CALLERROR by this demo
        self.call_errors: Counter[tuple[str, str]] = Counter()
        self.connections = 0  # accepted over the run
        self.peak = 0  # most open at once
        self._tx = itertools.count(1)
        answers: dict[str, Any] = {
            "BootNotification": lambda cp, req: {
                "status": "Accepted",
                "currentTime": now(),
                "interval": 300,
            },
            "Heartbeat": lambda cp, req: {"currentTime": now()},
            "Authorize": lambda cp, req: _accepted_token(cp),
            "StartTransaction": lambda cp, req: {
                "transactionId": next(self._tx),
                "idTagInfo": {"status": "Accepted"},
            },
            "DataTransfer": lambda cp, req: {"status": "UnknownVendorId"},
        }
        for action in _EMPTY_ANSWERS:
            answers.setdefault(action, lambda cp, req: {})
        for action, answer in answers.items():
            self.on(action, self._counted(action, answer))
        sent_by_stations = {
            name
            for version in self.versions
            for name, action in versions.actions(version).items()
            if action.sender != "central_system"
        }
        for action in sorted(sent_by_stations - set(answers)):
            self.on(action, self._not_supported(action))

    def _count_connect(self, cp: ChargePoint) -> None:
        if self._expiry is None:
            self._expire_answers()
        self.connections += 1
        self.peak = max(self.peak, len(self.charge_points))

    def _count_disconnect(self, cp: ChargePoint) -> None:
        pass

    def _not_supported(self, action: str) -> Any:
        def handler(cp: ChargePoint, req: Any) -> Any:
            self.call_errors[action, NotSupportedError.code] += 1
            raise NotSupportedError(f"the demo central system does not handle {action}")

        return handler

    @property
    def calls(self) -> Counter[str]:
        """action -> CALLs answered with a CALLRESULT."""
        return Counter({a: n for a, n in self._counts.items() if n})

    @property
    def handled(self) -> int:
        return sum(self._counts.values())

    def _counted(self, action: str, answer: Any) -> Any:
        """Count the call and answer with a typed response, converted from the answer's dict
        once per subprotocol and second (the answers only change with the clock; a timer
        started with the first connection empties the caches every second), not per call."""
        constant = action != "StartTransaction"
        counts = self._counts
        counts[action] = 0
        typed: dict[str, Any] = {}  # subprotocol -> the typed answer of this second
        self._answer_caches.append(typed)

        def handler(cp: ChargePoint, req: Any) -> Any:
            counts[action] += 1
            if not constant:
                return answer(cp, req)
            reply = typed.get(cp.subprotocol)
            if reply is None:
                reply = msgspec.convert(answer(cp, req), cp.actions[action].response)
                typed[cp.subprotocol] = reply
            return reply

        return handler

    async def close(self, timeout: float = 5.0) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        await super().close(timeout)

    def _expire_answers(self) -> None:
        for cache in self._answer_caches:
            cache.clear()
        self._expiry = asyncio.get_running_loop().call_later(1.0, self._expire_answers)


class LogCounter(logging.Handler):
    """Counts the warnings and errors the library logs during a run (for the summary)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname.lower()] += 1


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def summary_lines(cs: DemoCentralSystem, seconds: float, logged: Counter[str]) -> list[str]:
    """What ``serve`` prints when it stops."""
    lines = [
        (
            f"[server] summary: {seconds:.1f} s, {cs.connections} connections "
            f"(at most {cs.peak} open at once), {cs.handled + cs.call_errors.total()} calls "
            f"received, {cs.handled} answered with a CALLRESULT"
        ),
    ]
    by_action = ", ".join(f"{a} {n}" for a, n in cs.calls.most_common())
    lines.append(f"[server] calls by action: {by_action or 'none'}")
    errors = ", ".join(f"{a} {c} {n}" for (a, c), n in cs.call_errors.most_common())
    lines.append(f"[server] CALLERRORs sent by the handlers: {errors or 'none'}")
    lines.append(
        f"[server] logged: {logged['warning']} warnings, "
        f"{logged['error'] + logged['critical']} errors (bad frames, failed hooks, drops)"
    )
    return lines


async def run_server(args: argparse.Namespace, ready: asyncio.Event | None = None) -> None:
    """Run the demo central system until a signal or ``args.duration``; print the summary."""
    metrics = Metrics() if getattr(args, "metrics_port", 0) else None
    metrics_server = None
    if metrics is not None:
        try:
            metrics_server = metrics.start_http_server(args.metrics_port, args.metrics_host)
        except OSError as exc:
            metrics.unregister()
            raise SystemExit(
                f"cannot serve metrics on {args.metrics_host}:{args.metrics_port}: {exc}"
            ) from None
    cs = DemoCentralSystem(
        versions=args.versions.split(","),
        ping_interval=args.ping_interval,
        read_buffer_size=1024,
        observer=metrics,
        duplicate_identity=getattr(args, "duplicate_identity", "replace"),
    )
    counter = LogCounter()
    logging.getLogger("ocppfast").addHandler(counter)
    started = time.monotonic()
    await cs.start(args.host, args.port, backlog=args.backlog)
    print(
        f"ocppfast {implementation} central system on ws://{args.host}:{cs.port}/ "
        f"({', '.join(cs.versions)})",
        flush=True,
    )
    if metrics_server is not None:
        print(
            f"Prometheus metrics on http://{args.metrics_host}:{metrics_server.server_port}"
            "/metrics",
            flush=True,
        )
    log.debug("serve options: %s", vars(args))
    log.info("listening on %s:%d, backlog %d", args.host, cs.port, args.backlog)
    if ready is not None:
        ready.set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    if args.duration:
        loop.call_later(args.duration, stop.set)
    last_n, last_t, last_cpu = cs.handled, time.monotonic(), _cpu()
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), args.report_every)
            except TimeoutError:
                pass
            n, t, cpu = cs.handled, time.monotonic(), _cpu()
            calls = n - last_n
            rate = calls / max(t - last_t, 1e-9)
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
        if metrics is not None:
            if metrics_server is not None:
                metrics_server.shutdown()
                metrics_server.server_close()
            metrics.unregister()
        logging.getLogger("ocppfast").removeHandler(counter)
        for line in summary_lines(cs, time.monotonic() - started, counter.counts):
            print(line, flush=True)


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Options of the central system, shared with ``demo``."""
    parser.add_argument(
        "--backlog",
        type=int,
        default=DEFAULT_BACKLOG,
        help="listen backlog: connections the kernel queues before they are accepted "
        "(asyncio's default of 100 drops SYNs when a thousand stations connect at once)",
    )
    parser.add_argument(
        "--ping-interval",
        type=float,
        default=60.0,
        help="seconds of silence before a station gets a WebSocket ping (0: never)",
    )


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "serve",
        help="run a demo central system that accepts any station",
        description=__doc__,
        formatter_class=Formatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=9000, help="port to listen on (0: any free one)")
    p.add_argument(
        "--versions",
        default=",".join(versions.SUPPORTED),
        help="OCPP subprotocols to accept, comma-separated, in order of preference",
    )
    add_server_options(p)
    p.add_argument(
        "--report-every", type=float, default=2.0, help="seconds between two report lines"
    )
    p.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds (0: run until Ctrl-C or SIGTERM)",
    )
    p.add_argument("--quiet", action="store_true", help="no report lines, only the summary")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve Prometheus metrics on this port at /metrics (0: no metrics; needs "
        "prometheus_client: pip install 'ocppfast[metrics]'; one process only, not with "
        "--workers)",
    )
    p.add_argument(
        "--metrics-host", default="127.0.0.1", help="address the metrics endpoint listens on"
    )
    add_common_options(p)
    p.set_defaults(run=main)
    return p


def main(args: argparse.Namespace) -> int:
    asyncio.run(run_server(args))
    return 0
