"""``python -m benchmarks.cluster [--stations N] [--workers W] [--quick] [--out DIR]``

Default: 50,000 stations across 3 workers (a few minutes). ``--quick``: 3,000 stations.
Results: ``<out>/cluster[-quick].json``, ``.md``, ``.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time

from benchmarks.load.control import stop_all

from . import bench, report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__)
    p.add_argument("--stations", type=int, default=50_000, help="stations across the workers")
    p.add_argument("--workers", type=int, default=3, help="worker processes on the shared port")
    p.add_argument("--quick", action="store_true", help="3,000 stations, fewer calls")
    p.add_argument("--failover-stations", type=int, default=1000, help="reconnecting stations")
    p.add_argument("--out", default=os.path.join("benchmarks", "results"), help="output directory")
    args = p.parse_args(argv)
    opts = bench.Options(
        stations=3000 if args.quick else args.stations,
        workers=args.workers,
        failover_stations=args.failover_stations,
        latency_rounds=9 if args.quick else 15,
    )
    name = "cluster-quick" if args.quick else "cluster"
    log_dir = tempfile.mkdtemp(prefix="ocf-cluster-bench-")
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f} s] {msg}", flush=True)

    try:
        import uvloop

        result = uvloop.run(bench.run(opts, log_dir, say))
    finally:
        stop_all()
    result["seconds"] = round(time.monotonic() - t0, 1)
    command = "python -m benchmarks.cluster " + " ".join(argv if argv is not None else sys.argv[1:])
    for path in report.write(result, args.out, name, command.strip()):
        print("wrote", path)
    print(report.markdown(result, command.strip()))
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
