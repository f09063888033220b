"""Command line for several workers and the cluster (hooked into ``python -m ocppfast``).

python -m ocppfast serve --workers 4 --redis redis://127.0.0.1:6379/0 --host 0.0.0.0 --port 9000
python -m ocppfast cluster status --redis URL [--json]
python -m ocppfast cluster call --redis URL IDENTITY ACTION [JSON] [--timeout S]
python -m ocppfast cluster call --redis URL --all ACTION [JSON] [--json]

``cluster call`` exits 0 for a CALLRESULT, 3 for a CALLERROR (its code is printed), 4 when the
station is not connected or its node is unavailable, 5 on a timeout, 6 when Redis cannot be
reached, 1 for anything else (an unknown action, a payload that is not JSON or fails the
station's schema: ``PayloadError``, nothing sent).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from .server import LISTEN_BACKLOG

if TYPE_CHECKING:
    from .cluster import Cluster
    from .server import CentralSystem

__all__ = [
    "add_cluster_command",
    "add_parser",
    "add_serve_options",
    "main",
    "serve",
    "wants_cluster",
]

EXIT_RESULT = 0
EXIT_OTHER = 1
EXIT_CALLERROR = 3
EXIT_NOT_CONNECTED = 4
EXIT_TIMEOUT = 5
EXIT_NO_REDIS = 6

REDIS_HELP = (
    "Redis URL: redis://[:password@]host:port/db or unix:///path/to/redis.sock; 'auto': the "
    "redis-server `cluster demo` starts on a unix socket in the temp dir"
)


def auto_socket() -> str:
    """Where ``cluster demo`` runs its own redis-server (``--redis auto`` finds it there)."""
    import tempfile

    default = os.path.join(tempfile.gettempdir(), f"ocppfast-demo-redis-{os.getuid()}.sock")
    return os.environ.get("OCPPFAST_REDIS_AUTO_SOCKET", default)


def resolve_redis(url: str) -> str:
    return f"unix://{auto_socket()}" if url == "auto" else url


def add_parser(sub: Any) -> None:
    """Hook into ``python -m ocppfast``: ``serve`` gains --workers/--redis/--max-connections
    (the one-process server runs as before without them), and the ``cluster`` group is added."""
    serve_parser = sub.choices.get("serve")
    if serve_parser is not None:
        add_serve_options(serve_parser)
        one_process = serve_parser.get_default("run")

        def run_serve(args: argparse.Namespace) -> int:
            if wants_cluster(args):
                if getattr(args, "metrics_port", 0):
                    # One endpoint per process would need a port per worker: refused, not ignored.
                    print(
                        "ocppfast serve: --metrics-port serves one process; it is not available "
                        "with --workers, --redis or --max-connections yet",
                        file=sys.stderr,
                    )
                    return 2
                return serve(args, lambda: _demo_central_system(args))
            return int(one_process(args))

        serve_parser.set_defaults(run=run_serve)
    add_cluster_command(sub)


def _demo_central_system(args: argparse.Namespace) -> CentralSystem:
    from .cli.serve import DemoCentralSystem

    return DemoCentralSystem(
        versions=args.versions.split(","),
        ping_interval=args.ping_interval,
        read_buffer_size=1024,
        duplicate_identity=args.duplicate_identity,
    )


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port with SO_REUSEPORT (1: one process)",
    )
    parser.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help=REDIS_HELP + "; makes every worker a cluster node (presence and call routing)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=None,
        help="connections per worker before HTTP 503 (none given: open-file limit minus 1,000)",
    )
    parser.add_argument(
        "--duplicate-identity",
        choices=("replace", "reject"),
        default="replace",
        help="a station connecting with an identity already connected (to this or, with "
        "--redis, to any worker of the cluster): replace closes the old connection, reject "
        "refuses the new one (HTTP 409 at the handshake; across cluster nodes: closed with "
        "1008 right after it)",
    )
    parser.add_argument(
        "--lease-ttl",
        type=float,
        default=10.0,
        help="seconds a worker's cluster lease lives without renewal (renewed every third)",
    )


def wants_cluster(args: argparse.Namespace) -> bool:
    return bool(args.workers > 1 or args.redis or args.max_connections is not None)


def serve(args: argparse.Namespace, make_central_system: Callable[[], CentralSystem]) -> int:
    """``serve`` with workers and/or Redis: the supervisor of :func:`ocppfast.run`."""
    from .workers import run

    report_every = 0.0 if args.quiet else float(args.report_every)

    def on_ready(cs: CentralSystem, cluster: Cluster | None, index: int) -> None:
        if report_every > 0:
            asyncio.get_running_loop().create_task(_report(cs, index, report_every))

    print(
        f"ocppfast: {args.workers} worker(s) on ws://{args.host}:{args.port}/"
        + (f", cluster via {args.redis}" if args.redis else ""),
        flush=True,
    )
    return run(
        make_central_system,
        args.host,
        args.port,
        workers=args.workers,
        redis_url=resolve_redis(args.redis) if args.redis else None,
        max_connections=args.max_connections,
        backlog=getattr(args, "backlog", LISTEN_BACKLOG),
        cluster_options={"lease_ttl": args.lease_ttl},
        on_ready=on_ready,
    )


async def _report(cs: CentralSystem, index: int, every: float) -> None:
    from .workers import say

    last = -1
    while True:
        await asyncio.sleep(every)
        n = len(cs.charge_points)
        if n != last:
            say(f"[worker {index}] connected {n}")
            last = n


def add_cluster_command(sub: Any) -> None:
    from .cli import Formatter

    c = sub.add_parser(
        "cluster",
        help="inspect a cluster and call its stations via Redis",
        formatter_class=Formatter,
    )
    c.set_defaults(run=main)
    csub = c.add_subparsers(dest="cluster_command", required=True)
    st = csub.add_parser(
        "status", help="nodes, their station counts and the total", formatter_class=Formatter
    )
    st.add_argument("--redis", required=True, metavar="URL", help=REDIS_HELP)
    st.add_argument("--prefix", default="ocf:", help="key prefix of the cluster's Redis keys")
    st.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object {"stations": total, "nodes": [{"id", "stations"}, ...]}',
    )
    demo = csub.add_parser(
        "demo",
        help="workers + Redis + simulated stations on loopback, a status and a fan-out",
        description=(
            "Starts redis-server on a unix socket in a temp dir (unless --redis is given), "
            "serve --workers N, and simulated stations; prints the cluster's status, fans a "
            "TriggerMessage out to every station, calls one station by identity, then stops "
            "everything."
        ),
        formatter_class=Formatter,
    )
    demo.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="Redis URL (none: start redis-server on the 'auto' unix socket)",
    )
    demo.add_argument(
        "--hold",
        action="store_true",
        help="keep everything running after the calls, until Ctrl-C or SIGTERM (then try "
        "`python -m ocppfast cluster call --redis auto ...` from another terminal)",
    )
    demo.add_argument("--workers", type=int, default=3, help="worker processes")
    demo.add_argument("--stations", type=int, default=1000, help="simulated stations")
    demo.add_argument("--port", type=int, default=9000, help="port the workers share")
    call = csub.add_parser(
        "call",
        help="CALL one station wherever it is connected, or every station (--all)",
        formatter_class=Formatter,
        description=(
            "Exit status: 0 CALLRESULT, 3 CALLERROR (code printed), 4 not connected or node "
            "unavailable, 5 timeout, 6 Redis unreachable, 1 other errors."
        ),
    )
    call.add_argument("--redis", required=True, metavar="URL", help=REDIS_HELP)
    call.add_argument("--prefix", default="ocf:", help="key prefix of the cluster's Redis keys")
    call.add_argument("--all", action="store_true", help="fan out to every station of the cluster")
    call.add_argument("--timeout", type=float, default=30.0, help="seconds per CALL")
    call.add_argument(
        "--json",
        action="store_true",
        help=(
            'with --all: end with one line {"answered": n, "results": {"<kind>": count}, '
            '"seconds": s}'
        ),
    )
    call.add_argument(
        "target",
        nargs="+",
        metavar="ARG",
        help="IDENTITY ACTION [JSON]; with --all: ACTION [JSON] (JSON defaults to {})",
    )


def main(args: argparse.Namespace) -> int:
    if args.cluster_command == "status":
        return asyncio.run(_status(args))
    if args.cluster_command == "demo":
        return _demo(args)
    return asyncio.run(_call(args))


async def _client(args: argparse.Namespace) -> Cluster:
    from .cluster import Cluster

    return await Cluster.client(resolve_redis(args.redis), prefix=args.prefix)


async def _status(args: argparse.Namespace) -> int:
    from .cluster import ClusterUnavailableError

    try:
        cluster = await _client(args)
    except ClusterUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_REDIS
    try:
        nodes = [n for n in await cluster.nodes() if n.id != cluster.node_id]
    finally:
        await cluster.close()
    alive = [n for n in nodes if n.alive]
    total = sum(n.stations for n in alive)
    if args.json:
        doc = {
            "stations": total,
            "nodes": [
                {"id": n.id, "stations": n.stations, "alive": n.alive, "pid": n.pid} for n in nodes
            ],
        }
        print(msgspec.json.encode(doc).decode())
        return 0
    for n in nodes:
        state = "alive" if n.alive else "DEAD (lease expired; cleaned up shortly)"
        print(f"{n.id:40s} {n.stations:8d} stations  pid {n.pid:<7d} {state}")
    print(f"total: {total} stations on {len(alive)} live node(s)")
    return 0


def _parse_target(args: argparse.Namespace) -> tuple[str | None, str, Any]:
    parts = list(args.target)
    identity = None if args.all else (parts.pop(0) if parts else None)
    if (not args.all and identity is None) or not parts or len(parts) > 2:
        raise SystemExit("usage: cluster call [--all] IDENTITY ACTION [JSON]  (see --help)")
    action = parts[0]
    payload = msgspec.json.decode(parts[1]) if len(parts) > 1 else {}
    return identity, action, payload


def kind_of(result: Any) -> str:
    """The summary bucket of one fan-out outcome."""
    from .errors import OCPPError, PayloadError

    if isinstance(result, OCPPError):
        return f"CALLERROR:{result.code}"
    if isinstance(result, PayloadError):  # refused by the station's schema: nothing was sent
        return f"PayloadError:{result.code}"
    if isinstance(result, BaseException):
        return type(result).__name__
    return "CALLRESULT"


async def _call(args: argparse.Namespace) -> int:
    from .cluster import ClusterUnavailableError, NodeUnavailableError
    from .errors import CallTimeoutError, ConnectionClosedError, OCPPError

    try:
        identity, action, payload = _parse_target(args)
    except msgspec.DecodeError as exc:
        print(f"error: JSON payload: {exc}", file=sys.stderr)
        return EXIT_OTHER
    try:
        cluster = await _client(args)
    except ClusterUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_REDIS
    try:
        if identity is None:
            return await _call_all(cluster, action, payload, args)
        try:
            result = await cluster.call(identity, action, payload, timeout=args.timeout)
        except OCPPError as exc:
            print(f"CALLERROR {exc.code}: {exc.description}")
            if exc.details:
                print(msgspec.json.encode(exc.details).decode())
            return EXIT_CALLERROR
        except NodeUnavailableError as exc:
            print(f"node unavailable: {exc}", file=sys.stderr)
            return EXIT_NOT_CONNECTED
        except ClusterUnavailableError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_NO_REDIS
        except ConnectionClosedError as exc:
            print(f"not connected: {exc}", file=sys.stderr)
            return EXIT_NOT_CONNECTED
        except CallTimeoutError as exc:
            print(f"timeout: {exc}", file=sys.stderr)
            return EXIT_TIMEOUT
        except (ValueError, TypeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_OTHER
        print(msgspec.json.encode(result).decode())
        return EXIT_RESULT
    finally:
        await cluster.close()


async def _call_all(cluster: Cluster, action: str, payload: Any, args: argparse.Namespace) -> int:
    expected = await cluster.count()
    start = time.monotonic()
    shown = [0.0]

    def progress(n: int) -> None:
        now = time.monotonic()
        if now - shown[0] >= 0.5:
            shown[0] = now
            print(f"[cluster] answered {n} of ~{expected}", flush=True)

    results = await cluster.call_many(action, payload, timeout=args.timeout, on_progress=progress)
    seconds = time.monotonic() - start
    kinds = collections.Counter(kind_of(r) for r in results.values())
    answered = sum(n for k, n in kinds.items() if k.startswith(("CALLRESULT", "CALLERROR")))
    print(f"[cluster] {answered} of {len(results)} answered in {seconds:.2f} s")
    for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {k:40s} {n}")
    if args.json:
        doc = {"answered": answered, "results": dict(kinds), "seconds": round(seconds, 3)}
        print(msgspec.json.encode(doc).decode())
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Everything on loopback: Redis (own, when installed), workers, stations, then calls."""
    import contextlib
    import shutil
    import signal
    import subprocess
    import tempfile

    from .workers import die_with_parent

    procs: list[subprocess.Popen[str]] = []
    tmp = tempfile.mkdtemp(prefix="ocppfast-demo-")
    redis_url = args.redis
    # SIGTERM stops the demo like Ctrl-C (the finally below stops what it started); each child
    # also dies with the demo (PR_SET_PDEATHSIG) should it be killed outright.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if redis_url is None:
            exe = shutil.which("redis-server")
            if exe is None:
                print(
                    "redis-server not found: install it (Debian: apt-get install redis-server) "
                    "or pass --redis URL",
                    file=sys.stderr,
                )
                return EXIT_NO_REDIS
            sock = auto_socket()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(sock)  # a stale socket of an earlier demo
            procs.append(
                subprocess.Popen(
                    [exe, "--port", "0", "--unixsocket", sock, "--save", "", "--dir", tmp],
                    stdout=subprocess.DEVNULL,
                    text=True,
                    preexec_fn=die_with_parent,  # noqa: PLW1509 - prctl only, no threads yet
                )
            )
            deadline = time.monotonic() + 10
            while not os.path.exists(sock) and time.monotonic() < deadline:
                time.sleep(0.02)
            redis_url = f"unix://{sock}"
            print(f"[demo] redis-server started: {redis_url}", flush=True)
        me = [sys.executable, "-m", "ocppfast"]
        workers = subprocess.Popen(
            [
                *me,
                "serve",
                "--workers",
                str(args.workers),
                "--redis",
                redis_url,
                "--port",
                str(args.port),
                "--quiet",
            ],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - prctl only, no threads yet
        )
        procs.append(workers)
        assert workers.stdout is not None
        ready = 0
        deadline = time.monotonic() + 60
        lines = _LineReader(workers.stdout.fileno())
        while ready < args.workers:
            line = lines.readline(deadline)
            if not line:
                print("[demo] the workers did not start", file=sys.stderr)
                return EXIT_OTHER
            if " ready " in line:
                ready += 1
                print("[demo] " + line.strip(), flush=True)
        procs.append(
            subprocess.Popen(
                [
                    *me,
                    "simulate",
                    "--url",
                    f"ws://127.0.0.1:{args.port}/ocpp",
                    "--chargers",
                    str(args.stations),
                    "--duration",
                    "3600",
                    "--interval",
                    "5",
                    "--spread",
                    "--quiet",
                ],
                stdout=subprocess.DEVNULL,
                text=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - prctl only, no threads yet
            )
        )
        status = asyncio.run(_demo_calls(redis_url, args.stations))
        if args.hold and status == 0:
            print(
                f"[demo] running until Ctrl-C; from another terminal: python -m ocppfast "
                f"cluster call --redis {'auto' if args.redis is None else redis_url} --all "
                'TriggerMessage \'{"requestedMessage": "Heartbeat"}\'',
                flush=True,
            )
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        return status
    except KeyboardInterrupt:
        return EXIT_OTHER
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


class _LineReader:
    """Lines from a child's pipe with a deadline, read from the file descriptor itself.

    select() on a buffered file object is wrong: one readline() may pull several lines into the
    object's buffer, and select() then waits on an empty pipe for lines already read (the demo
    saw "the workers did not start" when two workers said "ready" in one write).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def readline(self, deadline: float) -> str:
        """The next line, or "" at EOF or once ``deadline`` passed."""
        import select

        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return ""
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:  # EOF: what is left, possibly without its newline
                rest, self.buf = self.buf, b""
                return rest.decode(errors="replace")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace") + "\n"


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


async def _demo_calls(redis_url: str, stations: int) -> int:
    from .cluster import Cluster

    cluster = await Cluster.client(redis_url)
    try:
        start = time.monotonic()
        while await cluster.count() < stations and time.monotonic() - start < 60:
            await asyncio.sleep(0.2)
        print(
            f"[demo] {await cluster.count()} stations connected in "
            f"{time.monotonic() - start:.1f} s:"
        )
        for n in await cluster.nodes():
            if n.stations:
                print(f"[demo]   node {n.id} (pid {n.pid}): {n.stations} stations")
        for _ in range(2):
            t = time.monotonic()
            res = await cluster.call_many("TriggerMessage", {"requestedMessage": "Heartbeat"})
            kinds = collections.Counter(kind_of(r) for r in res.values())
            print(
                f"[demo] fan-out TriggerMessage to every station: {dict(kinds)} in "
                f"{time.monotonic() - t:.3f} s"
            )
        loc = await cluster.where("SIM000000")
        answer = await cluster.call(
            "SIM000000", "TriggerMessage", {"requestedMessage": "Heartbeat"}
        )
        print(
            f"[demo] SIM000000 is on node {loc.node if loc else '?'}; routed call answered "
            f"{msgspec.json.encode(answer).decode()}"
        )
    finally:
        await cluster.close()
    return 0
