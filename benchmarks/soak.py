"""Soak: N chargers for M minutes of paced traffic, random disconnects, reconnect storms and a
flooder, against the ocppfast central system; reports lost responses, the server's RSS slope and
latency percentiles per minute (markdown + PNG).

    python -m benchmarks.soak [--chargers 10000] [--minutes 10] [--interval 10] [--out DIR]
    make soak CHARGERS=10000 MINUTES=10

Reuses the load harness (``benchmarks/load``): the server process (``ServerProcess``, the same
``ocppfast_cs`` launcher), generator processes over 127.0.0.x driven by its control channel,
its latency histogram. What is added here is the soak generator (``--generator``): lean picows
chargers that each send one CALL every ``--interval`` seconds (Heartbeat / StatusNotification /
MeterValues in turn, one outstanding at a time), and

- random disconnects: every second ``--churn`` of the chargers (default 0.2%) close their
  connection (the closing handshake, once no CALL is outstanding) and reconnect 1-5 s later;
- reconnect storms: every ``--storm-every`` seconds (default 120, and once in the middle of a
  shorter run) ``--storm`` of the chargers (default 10%) drop their TCP connection at once and all
  reconnect immediately;
- one flooder (this process): connects, sends Heartbeat CALLs back to back without reading, and
  reconnects 2 s after each time the server closes it.

A *lost response* is a CALL sent on a connection that stays up but never answered within
``--call-timeout`` (30 s), or a CALL outstanding when a connection dropped that the charger did not
drop itself. The RSS slope is the least-squares slope of the server's RSS over the run after the
first minute (MiB per minute), and over the second half of the run (after the first reconnect
storm has set the peak of connections and buffers, a leak still shows there). Results: ``soak.json``, ``soak.md``, ``soak.png`` in ``--out``
(default ``benchmarks/results/soak``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MINUTE = 60.0


# --- generator process -------------------------------------------------------------------------


def _generator_main() -> None:
    from picows import WSListener, WSMsgType, WSTransport, ws_connect

    from benchmarks.load import frames
    from benchmarks.load.control import run_child, serve_commands
    from benchmarks.load.generator import source_address
    from benchmarks.load.hist import UNIT_S, bucket

    text, close = WSMsgType.TEXT, WSMsgType.CLOSE
    perf = time.perf_counter

    class Charger(WSListener):
        def __init__(self, gen: SoakGenerator, index: int) -> None:
            super().__init__()
            self.gen = gen
            self.index = index
            self.transport: WSTransport | None = None
            self.seq = 0
            self.pending: bytes | None = None
            self.t0 = 0.0
            self.leaving = False  # we close it ourselves (churn): not a loss
            self.stormed = False  # dropped by a storm: reconnect at once
            self.connecting = False

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.transport = transport

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            gen = self.gen
            self.transport = None
            if self.pending is not None:
                gen.lost += 1  # outstanding when the connection went: never answered
                gen.lost_on_disconnect += 1
                self.pending = None
            if self.stormed:
                gen.reconnect_later(self, 0.0)
            elif self.leaving:
                gen.reconnect_later(self, 1.0 + 4.0 * random.random())
            else:
                gen.unexpected_disconnects += 1
                gen.reconnect_later(self, 1.0)
            self.leaving = self.stormed = False

        def send_call(self) -> None:
            self.seq += 1
            mid = b"%d" % self.seq
            self.pending = mid
            self.t0 = perf()
            suffix = frames.STEADY_ROTATION[self.seq % 3]
            self.transport.send(text, frames.CALL_HEAD + mid + suffix)  # type: ignore[union-attr]
            self.gen.sent += 1

        def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
            now = perf()
            if frame.msg_type is not text:
                if frame.msg_type is close:
                    transport.send_close(frame.get_close_code())
                    transport.disconnect()
                return
            data = frame.get_payload_as_bytes()
            kind = frames.message_type(data)
            gen = self.gen
            if kind == 3 or kind == 4:
                if frames.message_id(data) != self.pending:
                    gen.bad_ids += 1
                    return
                self.pending = None
                gen.answered += 1
                if kind == 4:
                    gen.call_errors += 1
                minute = int((time.time() - gen.t_start) // MINUTE)
                h = gen.minutes.setdefault(minute, {})
                key = bucket(int((now - self.t0) / UNIT_S))
                h[key] = h.get(key, 0) + 1
                if self.leaving:
                    transport.send_close(1000)
            elif kind == 2:
                transport.send(
                    text, frames.RESULT_HEAD + frames.message_id(data) + frames.ACCEPTED_RESULT
                )

    class SoakGenerator:
        def __init__(self) -> None:
            self.chargers: list[Charger] = []
            self.url = ""
            self.t_start = time.time()
            self.running = False
            self.active = True  # reconnect what drops, until close
            self.sent = self.answered = self.lost = self.lost_on_disconnect = 0
            self.bad_ids = self.call_errors = self.unexpected_disconnects = 0
            self.connects = self.connect_failures = self.churned = self.stormed = 0
            self.minutes: dict[int, dict[int, int]] = {}
            self.tasks: set[asyncio.Task[Any]] = set()
            self.sem = asyncio.Semaphore(256)

        def spawn(self, coro: Any) -> None:
            task = asyncio.get_running_loop().create_task(coro)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        async def open(self, c: Charger) -> None:
            if c.connecting or c.transport is not None:
                return
            c.connecting = True
            try:
                async with self.sem:
                    await asyncio.wait_for(
                        ws_connect(
                            lambda: c,
                            f"{self.url}/SOAK{c.index:06d}",
                            extra_headers={"Sec-WebSocket-Protocol": frames.SUBPROTOCOL},
                            read_buffer_init_size=1024,
                            websocket_handshake_timeout=30,
                            local_addr=(source_address(c.index), 0),
                        ),
                        40,
                    )
                self.connects += 1
            except Exception:  # noqa: BLE001 - counted; retried
                self.connect_failures += 1
                self.reconnect_later(c, 2.0)
            finally:
                c.connecting = False

        def reconnect_later(self, c: Charger, delay: float) -> None:
            if self.active:
                asyncio.get_running_loop().call_later(delay, lambda: self.spawn(self.open(c)))

        async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
            self.url = cmd["url"]
            self.chargers = [
                Charger(self, i) for i in range(cmd["first"], cmd["first"] + cmd["count"])
            ]
            await asyncio.gather(*(self.open(c) for c in self.chargers))
            return {"connected": sum(c.transport is not None for c in self.chargers)}

        async def start(self, cmd: dict[str, Any]) -> dict[str, Any]:
            self.t_start = cmd["t_start"]
            self.running = True
            self.spawn(self.pace(cmd["interval"], cmd["call_timeout"]))
            self.spawn(self.churn(cmd["churn"]))
            return {}

        async def pace(self, interval: float, call_timeout: float) -> None:
            """One pass over a slice of the chargers every tick: each charger is due once per
            ``interval``; a CALL unanswered for ``call_timeout`` on a live connection is lost."""
            tick = 0.05
            slots = max(1, int(interval / tick))
            n = 0
            while self.running:
                slot = n % slots
                n += 1
                now = perf()
                for c in self.chargers[slot::slots]:
                    if c.transport is None or c.leaving:
                        continue
                    if c.pending is not None:
                        if now - c.t0 > call_timeout:
                            self.lost += 1
                            c.pending = None
                        continue
                    c.send_call()
                await asyncio.sleep(tick)

        async def churn(self, fraction: float) -> None:
            while self.running:
                await asyncio.sleep(1.0)
                live = [c for c in self.chargers if c.transport is not None and not c.leaving]
                for c in random.sample(live, min(len(live), math.ceil(len(live) * fraction))):
                    c.leaving = True
                    self.churned += 1
                    if c.pending is None and c.transport is not None:
                        c.transport.send_close(1000)  # else once its answer is in

        async def storm(self, cmd: dict[str, Any]) -> dict[str, Any]:
            live = [c for c in self.chargers if c.transport is not None and not c.leaving]
            chosen = random.sample(live, min(len(live), math.ceil(len(live) * cmd["fraction"])))
            for c in chosen:
                c.leaving = c.stormed = True
                if c.pending is not None:
                    # dropped by us mid-call: not counted as a loss of the server's
                    c.pending = None
                if c.transport is not None:
                    c.transport.disconnect(False)
            self.stormed += len(chosen)
            return {"stormed": len(chosen)}

        async def stop(self, cmd: dict[str, Any]) -> dict[str, Any]:
            self.running = False
            deadline = time.monotonic() + cmd.get("drain", 30.0)
            while time.monotonic() < deadline and any(c.pending for c in self.chargers):
                await asyncio.sleep(0.05)
            still = sum(c.pending is not None for c in self.chargers)
            return {
                "sent": self.sent,
                "answered": self.answered,
                "lost": self.lost + still,
                "lost_on_disconnect": self.lost_on_disconnect,
                "bad_ids": self.bad_ids,
                "call_errors": self.call_errors,
                "unexpected_disconnects": self.unexpected_disconnects,
                "connects": self.connects,
                "connect_failures": self.connect_failures,
                "churned": self.churned,
                "stormed": self.stormed,
                "connected": sum(c.transport is not None for c in self.chargers),
                "minutes": {str(k): v for k, v in self.minutes.items()},
            }

        async def close(self, cmd: dict[str, Any]) -> dict[str, Any]:
            self.running = self.active = False
            for task in list(self.tasks):
                task.cancel()
            for c in self.chargers:
                c.leaving = True
                if c.transport is not None:
                    c.transport.disconnect()
            self.chargers = []
            return {}

    async def main() -> None:
        gen = SoakGenerator()
        await serve_commands(
            {
                "pid": lambda cmd: _pid(),
                "connect": gen.connect,
                "start": gen.start,
                "storm": gen.storm,
                "stop": gen.stop,
                "close": gen.close,
            }
        )

    async def _pid() -> dict[str, Any]:
        return {"pid": os.getpid()}

    run_child(main)


# --- the flooder -------------------------------------------------------------------------------


class Flooder(threading.Thread):
    """Connects, floods Heartbeat CALLs without reading, and reconnects 2 s after each close."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.closed_after: list[float] = []
        self.sent_bytes = 0
        self.refused = 0

    def run(self) -> None:
        from benchmarks.flood import raw_connect, ws_frame

        burst = b"".join(ws_frame(b'[2,"%d","Heartbeat",{}]' % i) for i in range(200))
        while not self.stop.is_set():
            try:
                sock = raw_connect(self.port, "FLOODER")
            except (OSError, ConnectionError):
                self.refused += 1
                self.stop.wait(2.0)
                continue
            sock.settimeout(1.0)
            t0 = time.perf_counter()
            while not self.stop.is_set():
                try:
                    sock.sendall(burst)
                    self.sent_bytes += len(burst)
                except TimeoutError:
                    continue
                except OSError:
                    self.closed_after.append(time.perf_counter() - t0)
                    break
            sock.close()
            self.stop.wait(2.0)


# --- orchestrator ------------------------------------------------------------------------------


def _slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if not sxx:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def run(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    from benchmarks.load import hist
    from benchmarks.load.control import ControlledProcess, stop_all, wait_all
    from benchmarks.load.harness import ServerProcess
    from benchmarks.load.servers import SERVERS

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logs = tempfile.mkdtemp(prefix="soak-logs-")
    say = print
    say(f"logs of the server and generators: {logs}")
    server = ServerProcess(SERVERS["ocppfast"], None, logs)
    gens: list[ControlledProcess] = []
    flooder: Flooder | None = None
    try:
        procs = max(1, math.ceil(args.chargers / args.per_process))
        base, extra = divmod(args.chargers, procs)
        shares = [base + (1 if i < extra else 0) for i in range(procs)]
        gens = [
            ControlledProcess(
                "benchmarks.soak", ["--generator"], cwd=str(ROOT), stderr_path=f"{logs}/gen.log"
            )
            for _ in shares
        ]
        for g in gens:
            g.request({"op": "pid"}, timeout=60)
        say(f"connecting {args.chargers} chargers ({procs} generator processes)...")
        t0 = time.perf_counter()
        first = 0
        for g, share in zip(gens, shares, strict=True):
            g.send({"op": "connect", "url": server.url, "first": first, "count": share})
            first += share
        connected = sum(r["connected"] for r in wait_all(gens, 600))
        say(f"{connected} connected in {time.perf_counter() - t0:.1f} s")
        ps = psutil.Process(server.child.pid)
        t_start = time.time()
        for g in gens:
            g.request(
                {
                    "op": "start",
                    "t_start": t_start,
                    "interval": args.interval,
                    "call_timeout": args.call_timeout,
                    "churn": args.churn,
                },
                timeout=60,
            )
        flooder = Flooder(int(server.port))
        flooder.start()
        duration = args.minutes * MINUTE
        storm_every = min(args.storm_every, duration / 2)
        next_storm = storm_every
        rss: list[tuple[float, float]] = []
        storms: list[float] = []
        while (elapsed := time.time() - t_start) < duration:
            rss.append((elapsed, ps.memory_info().rss / 2**20))
            if elapsed >= next_storm:
                next_storm += storm_every
                storms.append(elapsed)
                n = sum(
                    g.request({"op": "storm", "fraction": args.storm}, 60)["stormed"] for g in gens
                )
                say(f"{elapsed:5.0f} s: reconnect storm of {n} chargers")
            time.sleep(min(5.0, max(0.1, duration - elapsed)))
        rss.append((time.time() - t_start, ps.memory_info().rss / 2**20))
        flooder.stop.set()
        replies = [g.request({"op": "stop", "drain": 30}, 90) for g in gens]
        per_minute = []
        minutes = sorted({int(m) for r in replies for m in r["minutes"]})
        for m in minutes:
            h = hist.merge(r["minutes"].get(str(m), {}) for r in replies)
            p = hist.percentiles(h, [50, 99, 99.9])
            per_minute.append(
                {
                    "minute": m + 1,
                    "calls": sum(h.values()),
                    "p50_ms": None if p["p50"] is None else p["p50"] * 1000,
                    "p99_ms": None if p["p99"] is None else p["p99"] * 1000,
                    "p999_ms": None if p["p999"] is None else p["p999"] * 1000,
                }
            )
        after_first = [(t / MINUTE, v) for t, v in rss if t >= min(MINUTE, duration / 2)]
        totals = {k: sum(r[k] for r in replies) for k in (
            "sent", "answered", "lost", "lost_on_disconnect", "bad_ids", "call_errors",
            "unexpected_disconnects", "connects", "connect_failures", "churned", "stormed",
            "connected",
        )}  # fmt: skip
        import ocppfast

        result = {
            "chargers": args.chargers,
            "minutes": args.minutes,
            "interval_s": args.interval,
            "churn_per_s": args.churn,
            "storm_fraction": args.storm,
            "storms_at_s": [round(s) for s in storms],
            "implementation": ocppfast.implementation,
            "server": server.impl,
            **totals,
            "rss_mib": [(round(t, 1), round(v, 1)) for t, v in rss],
            "rss_slope_mib_per_min": _slope(after_first),
            # after the first storm has set the connection-count peak: what a leak would show
            "rss_slope_second_half_mib_per_min": _slope(
                [(t / MINUTE, v) for t, v in rss if t >= rss[-1][0] / 2]
            ),
            "rss_start_mib": rss[0][1],
            "rss_end_mib": rss[-1][1],
            "per_minute": per_minute,
            "flooder_connections_closed": len(flooder.closed_after),
            "flooder_closed_after_ms_max": (
                max(flooder.closed_after) * 1000 if flooder.closed_after else None
            ),
            "flooder_sent_mib": flooder.sent_bytes / 2**20,
            "command": " ".join(["python -m benchmarks.soak", *sys.argv[1:]]),
        }
        write(result, out)
        return result
    finally:
        if flooder is not None:
            flooder.stop.set()
        for g in gens:
            try:
                g.request({"op": "close"}, timeout=30)
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                say(f"generator did not close cleanly: {exc}")
        stop_all()
        server.stop()


def _f(v: Any, fmt: str = ".1f") -> str:
    return "n/a" if v is None else format(v, fmt)


def write(result: dict[str, Any], out: Path) -> None:
    (out / "soak.json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# Soak: {result['chargers']:,} chargers, {result['minutes']:g} min",
        "",
        (
            f"`{result['command']}` - {result['server']}; each charger one CALL every "
            f"{result['interval_s']:g} s; {result['churn_per_s'] * 100:g}% of the chargers "
            f"disconnect and reconnect every second; reconnect storms of "
            f"{result['storm_fraction'] * 100:g}% at {result['storms_at_s']} s; one flooder."
        ),
        "",
        "| figure | value |",
        "|---|---:|",
        f"| CALLs sent | {result['sent']:,} |",
        f"| answered | {result['answered']:,} |",
        f"| **lost responses** | **{result['lost']:,}** |",
        f"| of which outstanding when a connection dropped unasked | {result['lost_on_disconnect']:,} |",
        f"| unexpected disconnects | {result['unexpected_disconnects']:,} |",
        f"| CALLERRORs / answers with a wrong id | {result['call_errors']:,} / {result['bad_ids']:,} |",
        f"| reconnects (churn + storms) | {result['connects']:,} ({result['churned']:,} + {result['stormed']:,}) |",
        f"| connect failures (retried) | {result['connect_failures']:,} |",
        f"| connected at the end | {result['connected']:,} |",
        f"| server RSS start / end (MiB) | {_f(result['rss_start_mib'])} / {_f(result['rss_end_mib'])} |",
        f"| **RSS slope after minute 1 (MiB/min)** | **{_f(result['rss_slope_mib_per_min'], '.2f')}** |",
        (
            "| **RSS slope over the second half (MiB/min)** | "
            f"**{_f(result.get('rss_slope_second_half_mib_per_min'), '.2f')}** |"
        ),
        f"| flooder: times closed by the server, slowest close (ms) | {result['flooder_connections_closed']} , {_f(result['flooder_closed_after_ms_max'])} |",
        "",
        "| minute | calls | p50 ms | p99 ms | p99.9 ms |",
        "|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for row in result["per_minute"]:
        lines.append(
            f"| {row['minute']} | {row['calls']:,} | {_f(row['p50_ms'], '.2f')} | "
            f"{_f(row['p99_ms'], '.2f')} | {_f(row['p999_ms'], '.2f')} |"
        )
    (out / "soak.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    t = [x / MINUTE for x, _ in result["rss_mib"]]
    a.plot(t, [y for _, y in result["rss_mib"]])
    for s in result["storms_at_s"]:
        a.axvline(s / MINUTE, color="grey", linestyle=":")
    a.set_ylabel("server RSS (MiB)")
    a.set_title(f"soak: {result['chargers']:,} chargers, lost responses {result['lost']}")
    rows = result["per_minute"]
    b.plot([r["minute"] - 0.5 for r in rows], [r["p99_ms"] for r in rows], "o-", label="p99")
    b.plot([r["minute"] - 0.5 for r in rows], [r["p50_ms"] for r in rows], "o-", label="p50")
    b.set_ylabel("latency (ms)")
    b.set_xlabel("minute")
    b.legend()
    fig.tight_layout()
    fig.savefig(out / "soak.png", dpi=100)
    plt.close(fig)


def main() -> int:
    if "--generator" in sys.argv:
        _generator_main()
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chargers", type=int, default=10_000)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--interval", type=float, default=10.0, help="seconds between a charger's CALLs")
    p.add_argument("--churn", type=float, default=0.002, help="fraction reconnecting per second")
    p.add_argument("--storm", type=float, default=0.1, help="fraction in a reconnect storm")
    p.add_argument("--storm-every", type=float, default=120.0)
    p.add_argument("--call-timeout", type=float, default=30.0)
    p.add_argument("--per-process", type=int, default=5000)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "soak"))
    args = p.parse_args()
    result = run(args)
    print(json.dumps({k: v for k, v in result.items() if k not in ("rss_mib", "per_minute")}))
    print((Path(args.out) / "soak.md").read_text())
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
