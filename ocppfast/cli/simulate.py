"""``python -m ocppfast simulate``: many simulated charging stations against a central system.

Each station connects as PREFIX + a 6-digit number, sends BootNotification and
StatusNotification, then repeats a cycle until --duration ends: a Heartbeat each cycle and,
every tenth cycle, a charging session (1.6: Authorize, StartTransaction, MeterValues,
StopTransaction; 2.0.1/2.1: Authorize, TransactionEvent Started, MeterValues, TransactionEvent
Ended). Stations answer ChangeAvailability, Reset, TriggerMessage, ClearCache and DataTransfer
from the central system.

A "call" is one CALL a station sends and the answer it gets: a CALLRESULT, or a CALLERROR when
the central system refuses or does not implement the action. Calls/s counts answered calls;
latency is from sending the CALL to reading its answer. CALLERRORs are counted per action and
code and the station goes on with its script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TextIO

from .. import versions
from ..simulator import SimulationConfig, SimulationResult, SimulationStats, simulate
from . import Formatter, add_common_options

__all__ = ["Progress", "add_parser", "add_simulation_options", "report", "run_simulation"]

EPILOG = """exit status: 0 when every station booted (Accepted) and every call got a CALLRESULT;
1 when a station did not connect or boot, or a call got no answer (timeout, closed);
2 when all booted but the central system answered some calls with a CALLERROR."""


def _bar(fraction: float, width: int = 24) -> str:
    filled = int(fraction * width)
    return "#" * filled + "-" * (width - filled)


class Progress:
    """Plain-text progress on stderr: a bar with ETA while the stations connect and boot, then
    a line per tick with the call rate. On a terminal the line is redrawn in place."""

    def __init__(self, chargers: int, stream: TextIO = sys.stderr) -> None:
        self.chargers = chargers
        self.stream = stream
        self.tty = stream.isatty()
        self.last_calls = 0
        self.last_elapsed = 0.0
        self.booting = True

    def _settled(self, s: SimulationStats) -> int:
        """Stations done with connect + boot, whatever the outcome."""
        boot_errors = sum(n for (a, _), n in s.call_errors.items() if a == "BootNotification")
        boot_failures = sum(n for (a, _), n in s.failures.items() if a == "BootNotification")
        return s.failed_connects + s.boot_status.total() + boot_errors + boot_failures

    def __call__(self, s: SimulationStats, elapsed: float) -> None:
        calls = s.calls
        rate = (calls - self.last_calls) / max(elapsed - self.last_elapsed, 1e-9)
        self.last_calls, self.last_elapsed = calls, elapsed
        if self.booting:
            settled = min(self._settled(s), self.chargers)
            per_s = settled / max(elapsed, 1e-9)
            left = self.chargers - settled
            eta = f"ETA {left / per_s:5.1f} s" if per_s and left else "ETA   -"
            line = (
                f"[simulate] connect+boot [{_bar(settled / max(self.chargers, 1))}] "
                f"{settled:6d}/{self.chargers}  connected {s.connected:6d}  "
                f"booted {s.booted:6d}  failed {s.failed_connects:5d}  {eta}"
            )
            if settled >= self.chargers:
                self.booting = False
                line += "\n" if self.tty else ""  # keep the finished bar on screen
        else:
            line = (
                f"[simulate] connected {s.connected:6d}  booted {s.booted:6d}  calls {calls:9d}  "
                f"{rate:8.0f} calls/s  CALLERRORs {s.errors:6d}"
            )
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def report(result: SimulationResult, out: TextIO = sys.stdout) -> None:
    """Per-action counts, then the one-line summary (always the last line)."""
    s = result.stats
    actions = sorted(
        set(s.results) | {a for a, _ in s.call_errors} | {a for a, _ in s.failures},
        key=lambda a: -(s.results[a] + sum(n for (b, _), n in s.call_errors.items() if b == a)),
    )
    if actions:
        print(f"[simulate] {'action':<28} {'CALLRESULT':>10}  CALLERROR / no answer", file=out)
    for action in actions:
        problems = [f"{code} x{n}" for (a, code), n in sorted(s.call_errors.items()) if a == action]
        problems += [f"{why} x{n}" for (a, why), n in sorted(s.failures.items()) if a == action]
        print(
            f"[simulate] {action:<28} {s.results[action]:>10}  {', '.join(problems) or '-'}",
            file=out,
        )
    if s.incoming:
        calls = ", ".join(f"{a} x{n}" for a, n in s.incoming.most_common())
        print(f"[simulate] calls from the central system, answered: {calls}", file=out)
    if s.connect_errors:
        errors = ", ".join(f"{e} x{n}" for e, n in s.connect_errors.most_common())
        print(f"[simulate] connect failures: {errors}", file=out)
    not_accepted = {k: n for k, n in s.boot_status.items() if k != "Accepted"}
    if not_accepted:
        print(f"[simulate] BootNotification not accepted: {not_accepted}", file=out)
    d = result.as_dict()
    print(
        f"[simulate] {s.booted}/{result.chargers} chargers booted, {s.calls} calls "
        f"in {result.seconds:.1f} s = {d['calls_per_s']} calls/s; latency p50 {d['p50_ms']} ms, "
        f"p99 {d['p99_ms']} ms, p99.9 {d['p999_ms']} ms; errors {s.errors}"
        + (f", unanswered {s.unanswered}" if s.unanswered else ""),
        file=out,
        flush=True,
    )


def exit_status(result: SimulationResult) -> int:
    s = result.stats
    if s.booted != result.chargers or s.unanswered:
        return 1
    return 2 if s.errors else 0


def config_from(args: argparse.Namespace) -> SimulationConfig:
    return SimulationConfig(
        url=args.url,
        chargers=args.chargers,
        duration=args.duration,
        ramp=args.ramp,
        interval=args.interval,
        version=args.version,
        prefix=args.prefix,
        spread=args.spread,
        password=getattr(args, "password", None),
        call_timeout=args.call_timeout,
    )


async def run_simulation(args: argparse.Namespace) -> SimulationResult:
    """Run the stations with progress on stderr (unless --quiet) and print the report."""
    progress = None if args.quiet else Progress(args.chargers)
    result = await simulate(config_from(args), on_tick=progress)
    if progress is not None:
        progress.finish()
    report(result)
    if getattr(args, "json", False):
        print(json.dumps(result.as_dict()), flush=True)
    return result


def add_simulation_options(parser: argparse.ArgumentParser) -> None:
    """Options of the stations, shared with ``demo``."""
    parser.add_argument("--chargers", type=int, default=1000, help="stations to simulate")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of calls after the ramp"
    )
    parser.add_argument(
        "--ramp", type=float, default=0.0, help="seconds to spread the connects over (0: at once)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds a station pauses between two cycles (0: the next call as soon as the "
        "answer arrives)",
    )
    parser.add_argument(
        "--version", default=versions.OCPP16, choices=versions.SUPPORTED, help="OCPP version"
    )
    parser.add_argument("--prefix", default="SIM", help="identity prefix")
    parser.add_argument(
        "--spread",
        action="store_true",
        help="spread source addresses over 127.0.0.1-200 (more than ~28,000 connections "
        "from one address run out of ports)",
    )
    parser.add_argument(
        "--call-timeout", type=float, default=30.0, help="seconds to wait for an answer"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress, only the report")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "simulate",
        help="run simulated charging stations against a central system",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=Formatter,
    )
    p.add_argument(
        "--url",
        default="ws://127.0.0.1:9000/ocpp",
        help="central system URL; each station appends /IDENTITY",
    )
    p.add_argument("--password", default=None, help="HTTP Basic password (security profile 1)")
    p.add_argument("--json", action="store_true", help="end with the result as one JSON line")
    add_simulation_options(p)
    add_common_options(p)
    p.set_defaults(run=main)
    return p


def main(args: argparse.Namespace) -> int:
    return exit_status(asyncio.run(run_simulation(args)))
