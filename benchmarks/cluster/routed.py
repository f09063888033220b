"""CPU of one routed call, one call at a time: caller + owner + redis-server, against a local call.

``python -m benchmarks.cluster.routed [--rounds R] [--calls N] [--json PATH]``

Real processes on this machine: redis-server on a unix socket, one worker (``python -m ocppfast
serve --workers 1 --redis ...``, the owner), a process of ocppfast stations (one connected to the
worker, one to this process), and this process as the caller: a cluster node with its own
CentralSystem. Each round runs ``N`` sequential local calls and ``N`` sequential routed calls
(the order alternates between rounds), and reads the CPU time of every process from
``/proc/<pid>/task/*/schedstat`` (nanoseconds, all threads; redis-server's included) around each
block. The machine is shared and noisy, so the figure is the median over rounds of the per-round
overhead ``(caller + owner + redis) of a routed call - caller of a local call`` (a local call's
cost is paid by the owner in the routed case, so it is subtracted once).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

import ocppfast
from benchmarks.load.control import ControlledProcess, stop_all
from ocppfast.cluster import Cluster

from .bench import ROOT, Redis, Workers, _block, _blocking, _until, paired_rounds


async def run(rounds: int, calls: int, log_dir: str, say: Any, soak: float = 0.0) -> dict[str, Any]:
    redis = Redis()
    workers = Workers(redis.url, 1, 10.0, log_dir)
    owner_pid = next(iter(workers.pids.values()))
    cs = ocppfast.CentralSystem(ping_interval=0)
    await cs.start("127.0.0.1", 0)
    node = await Cluster(cs, redis_url=redis.url).start()
    stations: ControlledProcess | None = None
    try:
        stations = await _blocking(
            lambda: ControlledProcess(
                "benchmarks.cluster.stations",
                cwd=ROOT,
                stderr_path=os.path.join(log_dir, "stations.log"),
            )
        )
        here = f"ws://127.0.0.1:{cs.port}/ocpp"
        there = f"ws://127.0.0.1:{workers.port}/ocpp"
        for prefix, url in (("LOCAL-", here), ("REMOTE-", there)):
            await _blocking(
                stations.request, {"op": "connect", "url": url, "prefix": prefix, "count": 1}, 30
            )

        async def present() -> bool:
            return await node.where("REMOTE-00000") is not None

        await _until(present, 10, 0.05)
        if soak:  # routed calls only, for a profiler attached from outside
            say(f"soak: caller {os.getpid()} owner {owner_pid} redis {redis.proc.pid}")
            deadline = time.monotonic() + soak
            while time.monotonic() < deadline:
                await _block(node, "REMOTE-00000", calls, {})
        out = await paired_rounds(
            node, "LOCAL-00000", "REMOTE-00000", owner_pid, redis.proc.pid, rounds, calls, say
        )
        return {
            "implementation": ocppfast.implementation,
            "redis_version": redis.info("server").get("redis_version"),
            **out,
        }
    finally:
        await node.close()
        await cs.close()
        if stations is not None:
            await _blocking(stations.stop)
        workers.stop()
        redis.stop()
        stop_all()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cluster.routed", description=__doc__)
    p.add_argument("--rounds", type=int, default=15, help="paired local/routed blocks")
    p.add_argument("--calls", type=int, default=500, help="sequential calls per block")
    p.add_argument(
        "--out",
        help="write cluster-routed.json and .md to this directory (benchmarks/results)",
    )
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument(
        "--soak", type=float, default=0.0, help="first make routed calls for this many seconds"
    )
    args = p.parse_args(argv)
    log_dir = tempfile.mkdtemp(prefix="ocf-routed-")
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f} s] {msg}", flush=True)

    import uvloop

    try:
        out = uvloop.run(run(args.rounds, args.calls, log_dir, say, args.soak))
    finally:
        stop_all()
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if args.out:
        from benchmarks.load.harness import machine_info

        from .report import routed_markdown

        command = "python -m benchmarks.cluster.routed " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "cluster-routed.json"), "w") as f:
            json.dump(out, f, indent=2)
        with open(os.path.join(args.out, "cluster-routed.md"), "w") as f:
            f.write(routed_markdown(out, command.strip(), machine_info(None, None)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
