"""One-core A/B: server CPU per round trip, echoes vs ocppfast, interleaved rounds.

``python -m benchmarks.load.ab [--workload heartbeat|rotation] [--n 1,100,1000] [--rounds R]
[--window S] [--servers a,b]`` (``make ab`` runs both workloads) writes
``benchmarks/results/ab.md`` and ``ab.json`` (Heartbeats), ``ab-rotation.md`` and
``ab-rotation.json`` (the steady rotation of ``make load-full``: Heartbeat, StatusNotification,
MeterValues in turn).

Every server and every load generator is pinned to CPU 0 (``taskset``-style affinity, as
``benchmarks.load.harness`` does): the round trip is the two sides' CPU work alone, with no
cross-core wake-ups (which on a VM cost more than the work). The orchestrating process sits on
another core and sleeps while measuring. For each charger count N each server gets its own N
booted chargers (a generator process each, OCPP 1.6), then rounds: every
server in turn (the order reversed every other round) runs the workload (Heartbeats only, or
the rotation), one outstanding per charger, for ``--window`` seconds after a short warm-up; its CPU (``/proc`` schedstat, ns) over
the window divided by the calls answered is the figure. Reported: medians over rounds, and the
medians of the ratios paired within each round (same moment, same machine load), for

- ocppfast compiled / Python echo, and / C floor (``echo-c``);
- pure / compiled, end to end;
- the OCPP layer: server CPU minus the C floor's in the same round, pure / compiled;
- round trips per second, compiled / Python echo.

``--fresh`` (``make ab`` uses it) starts every server and its chargers anew for each round. A
process keeps the layout it happened to get (addresses, hash seed, heap) for its whole life, and
that moves a Python server's cost per call by up to 15% at 100 chargers: with the same processes
for every round, the rounds of one run agree with each other (pure / compiled 1.21-1.27x in one
run, 1.28-1.37x in the next), so one run is one sample. With fresh processes each round is a
sample of its own (1.19-1.41x within one run) and the median over rounds is the typical figure.

``--baseline DIR`` adds ``baseline`` and ``baseline-pure``: the load harness's ocppfast server
from another checkout, built in place (``git worktree add /tmp/base <rev> && make -C /tmp/base
build``), run next to this checkout's in the same rounds: a change measured against the code
before it, rather than against last week's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .control import stop_all
from .harness import ROOT, Chargers, ServerProcess, connect_timeout
from .servers import SERVERS, ServerKind

DEFAULT_SERVERS = ("echo-c", "echo", "ocppfast", "ocppfast-pure", "ocppfast-stamped")


WORKLOADS = {
    "heartbeat": ("Heartbeat round trip", {"only": "heartbeat"}),
    "rotation": ("call of the steady rotation (Heartbeat, StatusNotification, MeterValues)", {}),
}


def _reads(server: ServerProcess) -> int | None:
    """Read syscalls the server process has made (``syscr`` of /proc/<pid>/io: libuv reads a
    TCP socket with read(2)), or None where it cannot be read."""
    try:
        with open(f"/proc/{server.ps.pid}/io") as f:
            for line in f:
                if line.startswith("syscr:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _slices(server: ServerProcess) -> int | None:
    """Times the server's threads were given the CPU (third field of /proc/<pid>/task/*/schedstat:
    one per wake-up or preemption), or None where it cannot be read."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{server.ps.pid}/task"):
            with open(f"/proc/{server.ps.pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return None
    return total


def _round(
    server: ServerProcess, chargers: Chargers, warmup: float, window: float, workload: str
) -> dict:
    chargers.all({"op": "steady_start", **WORKLOADS[workload][1]}, timeout=30)
    time.sleep(warmup)
    chargers.all({"op": "mark"}, timeout=30)
    reads0, slices0 = _reads(server), _slices(server)
    cpu0, t0 = server.cpu(), time.perf_counter()
    time.sleep(window)
    cpu1, t1 = server.cpu(), time.perf_counter()
    reads1, slices1 = _reads(server), _slices(server)
    replies = chargers.all({"op": "steady_stop", "drain": 10}, timeout=60)
    calls = sum(r["calls"] for r in replies)
    errors = sum(r["call_errors"] + r["bad_ids"] for r in replies)
    return {
        "pid": server.ps.pid,
        "calls": calls,
        "errors": errors,
        "calls_per_s": calls / (t1 - t0),
        "us_per_call": (cpu1 - cpu0) / calls * 1e6 if calls else None,
        # frames handled per read(2): more than one when frames wait for the server (the
        # kernel's per-read cost then spreads over them)
        "calls_per_read": (
            calls / (reads1 - reads0)
            if calls and reads0 is not None and reads1 is not None and reads1 > reads0
            else None
        ),
        # frames handled each time the server got the CPU: on one shared core a server that
        # takes longer lets more frames queue up before it runs again, and pays the scheduler's
        # and epoll's cost once for all of them
        "calls_per_slice": (
            calls / (slices1 - slices0)
            if calls and slices0 is not None and slices1 is not None and slices1 > slices0
            else None
        ),
    }


BASELINE_KINDS = {
    "baseline": ServerKind(
        "baseline", "benchmarks.load.servers.ocppfast_cs", "ocppfast from --baseline (compiled)"
    ),
    "baseline-pure": ServerKind(
        "baseline-pure",
        "benchmarks.load.servers.ocppfast_cs",
        "ocppfast from --baseline (pure Python)",
        {"OCPPFAST_NO_EXTENSIONS": "1"},
    ),
}


def run(
    names: list[str],
    ns: list[int],
    rounds: int,
    warmup: float,
    window: float,
    say: Any,
    baseline: str | None = None,
    workload: str = "heartbeat",
    fresh: bool = False,
) -> dict[str, Any]:
    cpus = sorted(os.sched_getaffinity(0))
    core = {cpus[0]}
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[1]})  # the orchestrator stays off the measured core
    log_dir = tempfile.mkdtemp(prefix="ocppfast-ab-")
    out: dict[str, Any] = {
        "core": cpus[0],
        "rounds": rounds,
        "window_s": window,
        "workload": workload,
        "by_n": {},
    }
    kinds = {name: (SERVERS[name], None) for name in names}
    if baseline is not None:
        kinds.update({name: (kind, baseline) for name, kind in BASELINE_KINDS.items()})

    def start(name: str) -> ServerProcess:
        kind, root = kinds[name]
        return ServerProcess(kind, core, log_dir, root=root)

    def boot(name: str, server: ServerProcess, n: int) -> Chargers:
        fleet = Chargers(n, 5000, core, log_dir, "uvloop")
        try:
            booted = fleet.connect(server.url, connect_timeout(n))["booted"]
            if booted < n:
                raise RuntimeError(f"{name}: booted {booted} of {n}")
        except BaseException:
            fleet.close()
            raise
        return fleet

    servers = {name: start(name) for name in kinds}
    out["impl"] = {name: s.impl for name, s in servers.items()}
    out["fresh"] = fresh
    try:
        for n in ns:
            fleets: dict[str, Chargers] = {}
            try:
                for name, server in servers.items():
                    fleets[name] = boot(name, server, n)
                samples: dict[str, list[dict]] = {name: [] for name in servers}
                for r in range(rounds):
                    order = list(servers) if r % 2 == 0 else list(reversed(servers))
                    for name in order:
                        if fresh and r > 0:
                            # new processes: the layout a process happens to get (addresses,
                            # hash seed, heap) is sampled per round instead of fixed per run
                            fleets.pop(name).close()
                            servers[name].stop()
                            servers[name] = start(name)
                            fleets[name] = boot(name, servers[name], n)
                        samples[name].append(
                            _round(servers[name], fleets[name], warmup, window, workload)
                        )
                    say(f"N={n} round {r + 1}/{rounds}: " + ", ".join(
                        f"{name} {samples[name][-1]['us_per_call']:.1f} us" for name in servers
                    ))  # fmt: skip
                out["by_n"][str(n)] = samples
            finally:
                for fleet in fleets.values():
                    fleet.close()
    finally:
        for server in servers.values():
            server.stop()
    return out


def _median(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for n, samples in result["by_n"].items():
        us = {name: [s["us_per_call"] for s in rows] for name, rows in samples.items()}
        rt = {name: [s["calls_per_s"] for s in rows] for name, rows in samples.items()}
        per_read = {
            name: _median([s.get("calls_per_read") for s in rows]) for name, rows in samples.items()
        }
        row: dict[str, Any] = {"us_per_call": {k: _median(v) for k, v in us.items()},
                               "calls_per_s": {k: _median(v) for k, v in rt.items()}}  # fmt: skip

        def paired(f: Any, us: dict[str, list[float]] = us) -> float | None:
            vals = []
            for i in range(len(next(iter(us.values())))):
                try:
                    vals.append(f({k: v[i] for k, v in us.items()}))
                except (KeyError, TypeError, ZeroDivisionError):
                    pass
            return _median(vals)

        row["compiled_vs_echo"] = paired(lambda u: u["ocppfast"] / u["echo"])
        row["compiled_vs_c_floor"] = paired(lambda u: u["ocppfast"] / u["echo-c"])
        row["pure_vs_compiled"] = paired(lambda u: u["ocppfast-pure"] / u["ocppfast"])
        row["layer_pure_vs_compiled"] = paired(
            lambda u: (u["ocppfast-pure"] - u["echo-c"]) / (u["ocppfast"] - u["echo-c"])
        )
        if "ocppfast-cached" in us:  # now() in every Heartbeat answer vs one answer built once
            row["now_vs_cached"] = paired(lambda u: u["ocppfast"] / u["ocppfast-cached"])
        if "baseline" in us:
            row["compiled_vs_baseline"] = paired(lambda u: u["ocppfast"] / u["baseline"])
            row["pure_vs_baseline_pure"] = paired(lambda u: u["ocppfast-pure"] / u["baseline-pure"])
        row["layer_us"] = {
            k: paired(lambda u, k=k: u[k] - u["echo-c"]) for k in us if k != "echo-c"
        }
        row["round_trips_compiled_vs_echo"] = paired(
            lambda u: u["ocppfast"] / u["echo"],
            us=rt,  # type: ignore[misc]
        )
        row["calls_per_read"] = per_read
        row["calls_per_slice"] = {
            name: _median([s.get("calls_per_slice") for s in rows])
            for name, rows in samples.items()
        }
        summary[n] = row
    return summary


def _fmt(x: float | None, unit: str = "") -> str:
    return "-" if x is None else f"{x:.2f}{unit}"


def markdown(result: dict[str, Any], summary: dict[str, Any], command: str) -> str:
    names = list(result["impl"])
    lines = [
        "# One-core A/B: server CPU per " + WORKLOADS[result.get("workload", "heartbeat")][0],
        "",
        (
            f"`{command}`: servers and chargers pinned to CPU {result['core']}, "
            f"{result['rounds']} interleaved rounds of {result['window_s']:.1f} s per server "
            "and N, medians (ratios: medians of the ratios paired within a round)."
        ),
        "",
        "| chargers | "
        + " | ".join(f"{n} us/call" for n in names)
        + (
            " | compiled / Python echo | compiled / C floor | pure / compiled"
            " | OCPP layer pure / compiled | round trips compiled / Python echo |"
        ),
        "|---:|" + "---:|" * (len(names) + 5),
    ]
    for n, row in summary.items():
        cells = [_fmt(row["us_per_call"].get(k)) for k in names]
        cells += [
            _fmt(row.get("compiled_vs_echo"), "x"),
            _fmt(row.get("compiled_vs_c_floor"), "x"),
            _fmt(row.get("pure_vs_compiled"), "x"),
            _fmt(row.get("layer_pure_vs_compiled"), "x"),
            _fmt(row.get("round_trips_compiled_vs_echo"), "x"),
        ]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")

    def per_server(intro: list[str], key: str) -> None:
        lines.extend(["", *intro, ""])
        for n, row in summary.items():
            figures = row.get(key, {})
            lines.append(f"- N={n}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in figures.items()))

    per_server(
        ["OCPP layer = server CPU per call minus the C floor's (same round), us:"], "layer_us"
    )
    per_server(
        [
            "Calls per read(2) of the server (the window's calls over its read syscalls, from",
            "/proc/<pid>/io; 1.00: every frame came in a read of its own, so the servers compared",
            "paid the same kernel reads per call):",
        ],
        "calls_per_read",
    )
    per_server(
        [
            "Calls per time the server got the CPU (the window's calls over its scheduler slices,",
            "/proc/<pid>/task/*/schedstat). On one shared core a server that costs more per frame",
            "lets more frames queue while it runs and then handles them in one go, so it pays the",
            "context switch and epoll_wait once for several; a cheaper server can be woken once",
            "per frame. A figure well above another server's at the same N says its cost per call",
            "includes that discount:",
        ],
        "calls_per_slice",
    )
    if any(row.get("now_vs_cached") is not None for row in summary.values()):
        lines += [
            "",
            "`ocppfast` (an answer built per call with `ocppfast.now()`) / `ocppfast-cached`",
            "(answers built once), paired within each round:",
            "",
        ]
        for n, row in summary.items():
            lines.append(f"- N={n}: {_fmt(row.get('now_vs_cached'), 'x')}")
    if any(row.get("compiled_vs_baseline") is not None for row in summary.values()):
        lines += ["", "This checkout / `--baseline`'s, paired within each round:", ""]
    for n, row in summary.items():
        if row.get("compiled_vs_baseline") is not None:
            lines.append(
                f"- N={n}: compiled "
                f"{_fmt(row['compiled_vs_baseline'], 'x')}, pure "
                f"{_fmt(row.get('pure_vs_baseline_pure'), 'x')}"
            )
    lines += ["", "Servers: " + "; ".join(f"`{k}` = {v}" for k, v in result["impl"].items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.load.ab", description=__doc__)
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="heartbeat")
    p.add_argument("--n", default="1,100,1000")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--window", type=float, default=1.5)
    p.add_argument("--warmup", type=float, default=0.4)
    p.add_argument("--servers", default=",".join(DEFAULT_SERVERS))
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start every server and its chargers anew for each round",
    )
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    p.add_argument("--name", help="file name stem of the results (default: ab, ab-<workload>)")
    p.add_argument(
        "--baseline",
        metavar="DIR",
        help="another checkout, built in place: its ocppfast server joins the rounds",
    )
    args = p.parse_args(argv)
    names = [s for s in args.servers.split(",") if s]
    unknown = [s for s in names if s not in SERVERS]
    if unknown:
        p.error(f"unknown servers {unknown}; known: {list(SERVERS)}")
    ns = [int(x) for x in args.n.split(",") if x]
    try:
        result = run(names, ns, args.rounds, args.warmup, args.window,
                     lambda m: print(m, file=sys.stderr, flush=True),
                     os.path.abspath(args.baseline) if args.baseline else None,
                     args.workload, args.fresh)  # fmt: skip
    except KeyboardInterrupt:
        stop_all()
        return 130
    summary = summarize(result)
    command = "python -m benchmarks.load.ab " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(result, summary, command.strip())
    os.makedirs(args.out, exist_ok=True)
    stem = args.name or ("ab" if args.workload == "heartbeat" else f"ab-{args.workload}")
    Path(args.out, f"{stem}.md").write_text(text)
    Path(args.out, f"{stem}.json").write_text(
        json.dumps({"result": result, "summary": summary}, indent=1) + "\n"
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
