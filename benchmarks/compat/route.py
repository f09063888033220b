"""``route_message`` without a network: mobilityhouse ``ocpp`` 2.1.0 against ``ocppfast.compat``.

    python -m benchmarks.compat.route            # about a minute
    python -m benchmarks.compat.route --quick    # smoke run (seconds)

The same user code (``benchmarks/compat/app.py``, written against ``ocpp``) runs in one subprocess
per variant: mobilityhouse as installed (``ASYNC_VALIDATION`` on, its default: jsonschema in the
thread pool), mobilityhouse with ``ASYNC_VALIDATION = False`` (validation inline), and the same file
after ``ocppfast.compat.install()``, compiled and pure (``OCPPFAST_NO_EXTENSIONS=1``). Each
iteration is ``await cp.route_message(frame)`` for an incoming CALL: parse, validate, call the
handler, build, validate and send the CALLRESULT (to a connection whose ``send`` drops it).
``compat-picows-conn`` instead runs ``cp.start()`` on ``ocppfast.compat``'s own connection class
(the one ``compat.serve`` hands out) whose transport drops what is sent, and pushes each frame
into it as picows does (``_deliver``): the inline path of the picows server, without a socket.

Figures are microseconds per message, best of the rounds: the process's CPU time (all threads, so
mobilityhouse's thread-pool validation counts) and wall time. Ratios are against mobilityhouse
with its defaults, measured in the same run. Writes ``benchmarks/results/compat_route.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"

VARIANTS: dict[str, dict[str, str]] = {
    "mobilityhouse": {},
    "mobilityhouse-inline": {"BENCH_ASYNC_VALIDATION": "0"},
    "compat": {"BENCH_COMPAT": "1"},
    "compat-pure": {"BENCH_COMPAT": "1", "OCPPFAST_NO_EXTENSIONS": "1"},
    # the same class on ocppfast's own connection (what compat.serve gives a handler): frames
    # pushed into the connection as picows delivers them, routed inline by start()'s sink
    "compat-picows-conn": {"BENCH_COMPAT": "1", "BENCH_PICOWS_CONN": "1"},
}
BASELINE = "mobilityhouse"
GOAL_ACTIONS = ("BootNotification", "MeterValues")
GOAL = 10.0


class _DropConnection:
    """What mobilityhouse users pass: an object with ``recv()``/``send(str)`` coroutines."""

    sent = 0
    last = ""

    async def send(self, message: str) -> None:
        self.sent += 1
        self.last = message

    async def recv(self) -> str:  # never used: frames are given to route_message directly
        await asyncio.Event().wait()
        return ""


async def _child(n: int, rounds: int) -> dict[str, Any]:
    import logging

    if os.environ.get("BENCH_COMPAT") == "1":
        import ocppfast.compat

        ocppfast.compat.install()
    import ocpp.messages

    if os.environ.get("BENCH_ASYNC_VALIDATION") == "0":
        ocpp.messages.ASYNC_VALIDATION = False
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    from benchmarks.compat.app import FRAMES, BenchChargePoint

    conn: Any = _DropConnection()
    route: Any = None
    if os.environ.get("BENCH_PICOWS_CONN") == "1":
        serve = sys.modules["ocppfast.compat.serve"]
        conn = serve.WebSocketConnection()
        conn.transport = _DropTransport(conn)
    cp = BenchChargePoint("CP-1", conn)
    if os.environ.get("BENCH_PICOWS_CONN") == "1":
        task = asyncio.ensure_future(cp.start())
        await asyncio.sleep(0)
        assert conn._sink is not None, "start() did not take the inline path"

        async def route(frame: Any) -> None:
            conn._deliver(frame)

    else:
        task = None
        route = cp.route_message
    out: dict[str, Any] = {"impl": ocpp.messages.__name__}
    try:
        import ocppfast

        out["ocppfast"] = ocppfast.implementation
    except ImportError:
        pass
    for action, template in FRAMES.items():
        frame: Any = template % "19223201"
        if task is not None:
            frame = frame.encode()  # as picows delivers it
        for _ in range(max(n // 10, 50)):  # warm up (and check it answers)
            await route(frame)
        assert conn.last.startswith('[3,"19223201"'), f"{action}: answered {conn.last}"
        best_cpu = best_wall = float("inf")
        for _ in range(rounds):
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                await route(frame)
            c1, w1 = time.process_time(), time.perf_counter()
            best_cpu = min(best_cpu, (c1 - c0) / n * 1e6)
            best_wall = min(best_wall, (w1 - w0) / n * 1e6)
        out[action] = {"cpu_us": best_cpu, "wall_us": best_wall}
    if task is not None:
        task.cancel()
    return out


class _DropTransport:
    """picows' transport as far as the connection uses it: ``send`` drops the frame."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def send(self, msg_type: int, data: bytes) -> None:
        self.conn.last = data.decode()


def _run_child(name: str, n: int, rounds: int) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("OCPPFAST_NO_EXTENSIONS", None)
    env.update(VARIANTS[name])
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.compat.route", "--child", f"{n},{rounds}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def markdown(results: dict[str, dict[str, Any]], actions: list[str]) -> str:
    base = results[BASELINE]
    lines = [
        "| action | " + " | ".join(results) + " |",
        "|---|" + "---:|" * len(results),
    ]
    for action in actions:
        cells = []
        for r in results.values():
            cpu = r[action]["cpu_us"]
            ratio = base[action]["cpu_us"] / cpu
            cells.append(f"{cpu:.1f} us ({ratio:.1f}x)")
        lines.append(f"| {action} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "CPU microseconds per `route_message` (all threads of the process), best of the rounds; "
        f"(Nx) = {BASELINE} / variant, same run. Wall-clock figures are in the JSON."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compat.route", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a smoke run: few iterations")
    p.add_argument("--passes", type=int, default=2, help="alternating passes over the variants")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        n, rounds = (int(x) for x in args.child.split(","))
        import uvloop

        print(json.dumps(uvloop.run(_child(n, rounds))))
        return 0
    n, rounds = (200, 2) if args.quick else (3000, 5)
    results: dict[str, dict[str, Any]] = {}
    for _ in range(1 if args.quick else args.passes):
        for name in VARIANTS:
            r = _run_child(name, n, rounds)
            old = results.get(name)
            if old is None:
                results[name] = r
                continue
            for action, fig in r.items():  # keep the best of the passes per figure
                if isinstance(fig, dict):
                    for k, v in fig.items():
                        old[action][k] = min(old[action][k], v)
    actions = [a for a in results[BASELINE] if isinstance(results[BASELINE][a], dict)]
    table = markdown(results, actions)
    print(table)
    missed = [
        a
        for a in GOAL_ACTIONS
        if results[BASELINE][a]["cpu_us"] / results["compat"][a]["cpu_us"] < GOAL
    ]
    print(
        f"goal (compat >= {GOAL:.0f}x mobilityhouse on {', '.join(GOAL_ACTIONS)}): "
        + ("met" if not missed else "missed for " + ", ".join(missed))
    )
    suffix = ".tmp" if args.quick else ""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"compat_route.json{suffix}").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / f"compat_route.md{suffix}").write_text(
        "# route_message: mobilityhouse ocpp 2.1.0 vs ocppfast.compat\n\n"
        "`python -m benchmarks.compat.route`\n\n" + table + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
