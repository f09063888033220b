"""Several worker processes on one port: ``ocppfast.run(make_central_system, ...)``.

The parent binds nothing that accepts: it reserves the port with an SO_REUSEPORT socket that
never listens (so ``port=0`` gives every worker the same port, and the port stays ours across
worker restarts), forks ``workers`` processes, restarts one that dies (with backoff when it
dies young), and on SIGTERM/SIGINT asks every worker to stop, then kills what is left after
``stop_timeout``. Each worker builds its own CentralSystem, listens with ``reuse_port=True`` and
a backlog of 4096 (the kernel spreads connections over the workers by a hash of the 4-tuple),
caps its connections below the open-file limit (HTTP 503 past it), and joins the cluster when a
``redis_url`` is given. Workers die with the parent (``PR_SET_PDEATHSIG``): no orphans.

Linux note: when a worker's listening socket closes, connections still in its accept queue are
reset unless ``net.ipv4.tcp_migrate_req=1`` (Linux >= 5.14), which hands them to the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import inspect
import logging
import os
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .server import LISTEN_BACKLOG

if TYPE_CHECKING:
    from .cluster import Cluster
    from .server import CentralSystem

log = logging.getLogger("ocppfast.workers")

__all__ = ["DEFAULT_BACKLOG", "default_max_connections", "die_with_parent", "run", "say"]

DEFAULT_BACKLOG = LISTEN_BACKLOG
FD_RESERVE = 1000  # files kept free per worker: Redis, logs, the handshakes refused with 503

ReadyHook = Callable[["CentralSystem", "Cluster | None", int], Any]


def say(line: str, stream: Any = None) -> None:
    """Print one line with a single write: workers share the supervisor's stdout, and print()
    writes the text and the newline separately, so two workers' lines could interleave."""
    stream = stream or sys.stdout
    stream.flush()
    try:
        os.write(stream.fileno(), (line + "\n").encode())
    except (OSError, ValueError, AttributeError):  # not a real file (tests capturing output)
        stream.write(line + "\n")
        stream.flush()


def default_max_connections() -> int:
    """Connections one worker accepts: its open-file limit minus a reserve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(1, soft - FD_RESERVE if soft > 2 * FD_RESERVE else soft // 2)


def die_with_parent() -> None:
    """Linux: SIGTERM this process when the supervisor dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reserve_port(host: str | None, port: int) -> socket.socket:
    family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
    return sock


async def _worker_main(
    index: int,
    make_central_system: Callable[[], CentralSystem],
    host: str | None,
    port: int,
    backlog: int,
    max_connections: int | None,
    redis_url: str | None,
    cluster_options: dict[str, Any],
    on_ready: ReadyHook | None,
) -> None:
    cs = make_central_system()
    if max_connections is not None:
        cs.max_connections = max_connections
    elif cs.max_connections is None:
        cs.max_connections = default_max_connections()
    await cs.start(host, port, reuse_port=True, backlog=backlog)
    cluster = None
    if redis_url:
        from .cluster import Cluster

        cluster = await Cluster(cs, redis_url=redis_url, **cluster_options).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        result = on_ready(cs, cluster, index)
        if inspect.isawaitable(result):
            await result
    node = cluster.node_id if cluster is not None else "-"
    say(
        f"ocppfast worker {index} ready pid={os.getpid()} node={node} port={cs.port} "
        f"max_connections={cs.max_connections}"
    )
    await stop.wait()
    if cluster is not None:
        await cluster.close()
    await cs.close()


def _child(index: int, reserved: socket.socket, args: tuple[Any, ...]) -> None:
    """In the forked worker: never returns."""
    code = 0
    try:
        die_with_parent()
        reserved.close()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
            runner = asyncio.run
        runner(_worker_main(index, *args))
    except KeyboardInterrupt:
        pass
    except BaseException:  # report and exit non-zero; the parent restarts us
        log.exception("worker %d failed", index)
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def run(
    make_central_system: Callable[[], CentralSystem],
    host: str | None = "0.0.0.0",
    port: int = 9000,
    *,
    workers: int = 1,
    redis_url: str | None = None,
    max_connections: int | None = None,
    backlog: int = DEFAULT_BACKLOG,
    cluster_options: dict[str, Any] | None = None,
    on_ready: ReadyHook | None = None,
    stop_timeout: float = 10.0,
    restart_delay: float = 0.5,
) -> int:
    """Run ``workers`` processes of ``make_central_system()`` on ``host:port``; blocks until
    SIGTERM/SIGINT, then stops them all. Returns 0.

    ``make_central_system`` is called in each worker (after the fork). ``redis_url`` makes each
    worker a :class:`ocppfast.cluster.Cluster` node (``cluster_options`` go to it).
    ``max_connections`` caps each worker (default: its open-file limit minus 1,000).
    ``on_ready(central_system, cluster, index)`` runs in each worker once it listens.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    reserved = _reserve_port(host, port)
    port = reserved.getsockname()[1]
    args = (
        make_central_system,
        host,
        port,
        backlog,
        max_connections,
        redis_url,
        dict(cluster_options or {}),
        on_ready,
    )
    children: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
    delays = [restart_delay] * workers
    due: dict[int, float] = {}  # index -> when to restart
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def spawn(index: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(index, reserved, args)
        children[pid] = (index, time.monotonic())

    try:
        for i in range(workers):
            spawn(i)
        while not stopping:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid, status = 0, 0
            if pid and pid in children:
                index, started = children.pop(pid)
                lived = time.monotonic() - started
                delays[index] = restart_delay if lived > 5 else min(delays[index] * 2, 10.0)
                due[index] = time.monotonic() + (0 if lived > 5 else delays[index])
                say(
                    f"ocppfast worker {index} (pid {pid}) exited with "
                    f"{_describe(status)}; restarting",
                    sys.stderr,
                )
                continue
            now = time.monotonic()
            for index, when in list(due.items()):
                if now >= when:
                    del due[index]
                    spawn(index)
            time.sleep(0.05)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + stop_timeout
        while children and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                children.pop(pid, None)
            else:
                time.sleep(0.05)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        reserved.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"code {os.waitstatus_to_exitcode(status)}"
