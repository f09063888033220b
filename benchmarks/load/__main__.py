"""``python -m benchmarks.load [--full] [--servers a,b] [--n N,...] [--duration S] [--out DIR]``"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from . import harness, report
from .control import stop_all
from .servers import SERVERS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    p.add_argument("--full", action="store_true", help="scale to 19,000 chargers (~10 min)")
    p.add_argument(
        "--servers",
        default=",".join(name for name, kind in SERVERS.items() if kind.default),
        help=f"comma-separated subset of {','.join(SERVERS)}",
    )
    p.add_argument("--n", help="comma-separated charger counts for boot/idle/fan-out/steady")
    p.add_argument("--steady-n", help="comma-separated charger counts for the small steady runs")
    p.add_argument("--duration", type=float, help="measured seconds per steady phase")
    p.add_argument("--warmup", type=float, help="seconds of steady load before measuring")
    p.add_argument("--idle", type=float, help="seconds of idle hold before reading RSS")
    p.add_argument(
        "--small-rounds",
        type=int,
        help="interleaved rounds of the small steady runs (medians; quick 1, full 7)",
    )
    p.add_argument(
        "--small-fresh",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a new server and chargers for every small round (quick: no, full: yes)",
    )
    p.add_argument(
        "--picows-transport",
        choices=["uvloop", "aiofastnet"],
        default="uvloop",
        help="transport under picows (echo and ocppfast servers, generator): uvloop's own "
        "(ocppfast's default) or aiofastnet (picows' default when installed)",
    )
    p.add_argument("--out", default=os.path.join("benchmarks", "results"), help="output directory")
    args = p.parse_args(argv)

    profile = harness.FULL if args.full else harness.QUICK
    if args.n:
        profile.scale_ns = [int(x) for x in args.n.split(",") if x]
    if args.steady_n is not None:
        profile.steady_ns = [int(x) for x in args.steady_n.split(",") if x]
    profile.picows_transport = args.picows_transport
    if args.steady_n is not None:
        profile.steady_shared_core_ns = [
            n for n in profile.steady_shared_core_ns if n in profile.steady_ns
        ]
    if args.duration:
        profile.duration = args.duration
    if args.warmup is not None:
        profile.warmup = args.warmup
    if args.idle is not None:
        profile.idle_settle = args.idle
    if args.small_rounds:
        profile.small_rounds = args.small_rounds
    if args.small_fresh is not None:
        profile.small_fresh = args.small_fresh
    servers = [s for s in args.servers.split(",") if s]
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        p.error(f"unknown servers {unknown}; known: {list(SERVERS)}")
    for n in profile.scale_ns:
        if n > 19900:
            p.error("one server process holds at most ~19,900 connections (fd cap 20,000)")

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    os.makedirs(args.out, exist_ok=True)
    try:
        results = harness.run(servers, profile, args.out)
    except KeyboardInterrupt:
        stop_all()
        print("interrupted; children stopped", file=sys.stderr)
        return 130
    paths = report.write(results, args.out)
    print()
    print(report.markdown(results))
    print("wrote " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
