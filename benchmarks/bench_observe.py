"""What watching costs: server CPU per call with nothing attached, with Prometheus metrics, with
the frame tracer. ``python benchmarks/bench_observe.py`` (``--quick`` for a smoke run).

Two measurements, each as ratios to "off" taken in the same run, in interleaved rounds (every
round visits every configuration, in a rotated order) and reported as medians, because the
machine is shared and its speed drifts:

1. **Server CPU per call over loopback** (compiled, the default build): one central-system
   process per configuration, all started at once and pinned to core 0; the stations (ocppfast
   clients, ``--stations`` of them, one outstanding CALL each, Heartbeat, OCPP 1.6) run here on
   core 1. A round sends ``--calls`` CALLs to each server in turn; the figure is the server
   process's CPU time (``/proc/PID/schedstat``, ns) over those calls, per call. Configurations:

   - ``off``: nothing observes (``observer`` is None on every connection): the default;
   - ``off (again)``: the same, a second process: the A/A ratio shows the noise of the method;
   - ``tracer attached, logger off``: a ``WireTracer()`` given as the observer of every
     connection with ``ocppfast.wire`` above DEBUG: the cost of calling an observer that does
     nothing (the tracer ocppfast attaches by itself leaves a connection at its first frame
     after the logger is turned off, so that case costs nothing);
   - ``metrics``: ``CentralSystem(observer=Metrics())``;
   - ``tracer on``: ``ocppfast.wire`` at DEBUG, records formatted and written to ``/dev/null``.

   "Tracer disabled" and "metrics disabled" are the ``off`` configuration: the tracer is attached
   only when the logger is enabled for DEBUG, and without ``observer=`` the engine's observer is
   None: per frame one pointer comparison, the only code on that path.

2. **The engine alone** (``ChargePoint.receive`` of a Heartbeat CALL and its reply, no sockets),
   compiled and pure, ns of CPU time (``time.thread_time_ns``) per call: the per-call cost of
   each observer without transport noise; ``--engine-rounds`` rounds.

Writes ``benchmarks/results/observe.md`` and ``observe.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CONFIGS = ("off", "off (again)", "tracer attached, logger off", "metrics", "tracer on")
ENGINE_CONFIGS = ("off", "tracer attached, logger off", "metrics", "tracer on")
HEARTBEAT = b'[2,"123456","Heartbeat",{}]'


def _configure(config: str) -> Any:
    """Set logging up for ``config``; returns the ``observer=`` for it (or None)."""
    from ocppfast import observe

    wire = logging.getLogger(observe.WIRE_LOGGER)
    wire.propagate = False
    if config == "tracer on":
        wire.setLevel(logging.DEBUG)
        handler = logging.FileHandler(os.devnull)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        wire.addHandler(handler)
    else:
        wire.setLevel(logging.INFO)
    if config == "metrics":
        from prometheus_client import CollectorRegistry

        return observe.Metrics(CollectorRegistry())
    return None


# --- 1. a central system per configuration, stations here ------------------------------------


async def _serve(config: str) -> None:
    import ocppfast
    from ocppfast import observe

    observer = _configure(config)
    cs = ocppfast.CentralSystem(versions=["ocpp1.6"], ping_interval=0, observer=observer)
    answer = None
    stamp = ""

    def heartbeat(cp: Any, req: Any) -> Any:
        nonlocal answer, stamp
        now = ocppfast.now()
        if now[:19] != stamp:  # a typed answer per second, as a real server would cache it
            stamp = now[:19]
            answer = cp.actions["Heartbeat"].response(current_time=now)
        return answer

    cs.on("Heartbeat", heartbeat)
    await cs.start("127.0.0.1", 0)
    if config == "tracer attached, logger off":
        # Attach the tracer to each connection as it registers (as if tracing had been on when
        # it connected), with the logger left above DEBUG.
        cs._connect_listeners.append(lambda cp: setattr(cp, "observer", observe.WireTracer()))
    print(cs.port, flush=True)
    await asyncio.get_running_loop().create_future()  # until killed


async def _stations(port: int, n: int) -> list[Any]:
    import ocppfast

    return list(
        await asyncio.gather(
            *(
                ocppfast.connect(f"ws://127.0.0.1:{port}", f"B{i:05d}", versions=["ocpp1.6"])
                for i in range(n)
            )
        )
    )


async def _burst(stations: list[Any], calls: int) -> None:
    per = calls // len(stations)

    async def one(cp: Any) -> None:
        for _ in range(per):
            await cp.call("Heartbeat", {})

    await asyncio.gather(*(one(cp) for cp in stations))


def _pin(pid: int, cores: set[int]) -> None:
    if (os.cpu_count() or 1) > 1:
        try:
            os.sched_setaffinity(pid, cores)
        except OSError:
            pass


def _cpu_ns(pid: int) -> int:
    """CPU time of the process's main thread in ns (``/proc/PID/schedstat``: exact, where
    ``getrusage``/``psutil`` count 10 ms clock ticks). The servers run one thread."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def start_servers() -> dict[str, subprocess.Popen[str]]:
    procs: dict[str, subprocess.Popen[str]] = {}
    for config in CONFIGS:
        procs[config] = subprocess.Popen(
            [sys.executable, __file__, "--serve", config],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        _pin(procs[config].pid, {0})
    return procs


async def measure_servers(
    procs: dict[str, subprocess.Popen[str]], rounds: int, calls: int, n_stations: int
) -> dict[str, Any]:
    stations: dict[str, list[Any]] = {}
    per_call: dict[str, list[float]] = {c: [] for c in CONFIGS}
    _pin(0, {1})
    try:
        ports = {c: int(p.stdout.readline()) for c, p in procs.items()}  # type: ignore[union-attr]
        for config in CONFIGS:
            stations[config] = await _stations(ports[config], n_stations)
            await _burst(stations[config], n_stations * 50)  # warm-up
        sent = calls // n_stations * n_stations
        for r in range(rounds):
            order = CONFIGS[r % len(CONFIGS) :] + CONFIGS[: r % len(CONFIGS)]
            for config in order:
                pid = procs[config].pid
                before = _cpu_ns(pid)
                await _burst(stations[config], calls)
                per_call[config].append((_cpu_ns(pid) - before) / sent / 1e3)
    finally:
        for group in stations.values():
            await asyncio.gather(*(cp.close() for cp in group), return_exceptions=True)
    return {"calls_per_round": sent, "stations": n_stations, "us_per_call": per_call}


# --- 2. the engine alone -----------------------------------------------------------------


class _DropTransport:
    def send(self, msg_type: int, data: bytes) -> None:
        pass


def measure_engine(rounds: int, n: int) -> dict[str, Any]:
    """In a child process of one implementation: ns per incoming Heartbeat answered."""
    import uvloop

    import ocppfast
    from ocppfast import versions
    from ocppfast.charge_point import ChargePoint
    from ocppfast.observe import WireTracer

    async def run() -> dict[str, list[float]]:
        loop = asyncio.get_running_loop()
        engines = {}
        for config in ENGINE_CONFIGS:
            observer = _configure(config)
            cp = ChargePoint(loop, "ocpp1.6", versions.actions("ocpp1.6"), identity="CP-1")
            cp.attach(_DropTransport())
            answer = cp.actions["Heartbeat"].response(current_time=ocppfast.now())
            cp.on("Heartbeat", lambda req, answer=answer: answer)
            cp.observer = WireTracer() if config.startswith("tracer") else observer
            engines[config] = cp
        # _configure sets the logger's level for the config; the tracer ones differ only there.
        wire = logging.getLogger("ocppfast.wire")
        ns: dict[str, list[float]] = {c: [] for c in ENGINE_CONFIGS}
        for r in range(rounds):
            order = (
                ENGINE_CONFIGS[r % len(ENGINE_CONFIGS) :]
                + ENGINE_CONFIGS[: r % len(ENGINE_CONFIGS)]
            )
            for config in order:
                wire.setLevel(logging.DEBUG if config == "tracer on" else logging.INFO)
                cp = engines[config]
                t = time.thread_time_ns()  # CPU time: not the time other jobs held the core
                for _ in range(n):
                    cp.receive(HEARTBEAT)
                ns[config].append((time.thread_time_ns() - t) / n)
        return ns

    result = uvloop.run(run())
    return {"implementation": ocppfast.implementation, "ns_per_call": result}


# --- report ------------------------------------------------------------------------------


def _row(name: str, values: list[float], base: list[float], unit: str) -> str:
    median = statistics.median(values)
    ratio = median / statistics.median(base)
    best = min(values) / min(base)
    digits = 2 if unit == "us" else 0
    return (
        f"| {name} | {median:.{digits}f} | {ratio:.3f}x | {best:.3f}x | "
        f"{min(values):.{digits}f} - {max(values):.{digits}f} |"
    )


def report(servers: dict[str, Any], engines: dict[str, Any], command: str) -> str:
    lines = [
        "# What watching costs (`benchmarks/bench_observe.py`)",
        "",
        (
            f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with "
            f"other jobs, Python {platform.python_version()}. Ratios are medians of interleaved "
            "rounds against `off` measured in the same run."
        ),
        "",
    ]
    if servers:
        per = servers["us_per_call"]
        rounds = len(per["off"])
        lines += [
            (
                f"## Server CPU per call over loopback (compiled; {servers['stations']} "
                f"stations, {servers['calls_per_round']} Heartbeat CALLs per server per round, "
                f"{rounds} rounds)"
            ),
            "",
            "| configuration | median us/call | vs off (medians) | vs off (minima) | min - max |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [_row(c, per[c], per["off"], "us") for c in CONFIGS]
        lines.append("")
    for mode, result in engines.items():
        ns = result["ns_per_call"]
        lines += [
            f"## The engine alone, {mode} (`ChargePoint.receive` of a Heartbeat CALL + its reply; CPU ns)",
            "",
            "| configuration | median ns/call | vs off (medians) | vs off (minima) | min - max |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [_row(c, ns[c], ns["off"], "ns") for c in ENGINE_CONFIGS]
        lines.append("")
    lines += [
        "`off` is what runs unless something asks to watch: no `observer=` and `ocppfast.wire`",
        'not enabled for DEBUG when the connection is made ("metrics disabled", "tracer',
        'disabled"); the engine then compares `observer` with None once per event and calls',
        "nothing. `off (again)` is a second server of the same configuration: its ratio is the",
        "method's noise. `tracer attached, logger off`: a `WireTracer()` attached to every",
        "connection with its logger off, i.e. the cost of calling an observer that does nothing",
        "(the tracer ocppfast attaches by itself leaves at the first frame after its logger is",
        "turned off). `tracer on` formats every frame and writes it to /dev/null through a",
        "logging.FileHandler.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds")
    parser.add_argument("--calls", type=int, default=10_000, help="CALLs per server per round")
    parser.add_argument("--stations", type=int, default=20, help="stations per server")
    parser.add_argument("--engine-calls", type=int, default=10_000, help="calls per engine round")
    parser.add_argument("--engine-rounds", type=int, default=31, help="engine rounds")
    parser.add_argument("--quick", action="store_true", help="a smoke run (3 rounds, fewer calls)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--engine", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        import uvloop

        uvloop.run(_serve(args.serve))
        return 0
    if args.quick:
        args.rounds, args.calls, args.engine_calls, args.engine_rounds = 3, 2_000, 5_000, 3
    if args.engine:
        print(json.dumps(measure_engine(args.engine_rounds, args.engine_calls)))
        return 0
    engines = {}
    for mode, env in (("compiled", {}), ("pure", {"OCPPFAST_NO_EXTENSIONS": "1"})):
        proc = subprocess.run(
            [sys.executable, __file__, "--engine", "--engine-rounds", str(args.engine_rounds)]
            + ["--engine-calls", str(args.engine_calls)],
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode:
            sys.exit(f"the {mode} engine run failed:\n{proc.stderr}")
        engines[mode] = json.loads(proc.stdout)
        if engines[mode]["implementation"] != ("cython" if mode == "compiled" else "python"):
            print(f"warning: the {mode} run used {engines[mode]['implementation']} (build first)")
    import uvloop

    procs = start_servers()
    try:
        servers = uvloop.run(measure_servers(procs, args.rounds, args.calls, args.stations))
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
    command = "python benchmarks/bench_observe.py" + " ".join(
        [""] + [a for a in sys.argv[1:] if not a.startswith("--serve")]
    )
    text = report(servers, engines, command)
    print(text)
    if not args.quick:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "observe.md").write_text(text)
        (RESULTS / "observe.json").write_text(
            json.dumps({"servers": servers, "engines": engines}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
