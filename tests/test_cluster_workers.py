"""Several worker processes (``python -m ocppfast serve --workers N --redis URL``) with a real
redis-server: the CLI, calls between processes, SIGKILL of a worker, the per-worker cap, and
stopping without orphans."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest
import websockets

import ocppfast
from ocppfast import errors
from ocppfast.cluster import Cluster, NodeUnavailableError
from tests.redis_fixture import RedisServer, redis_server  # noqa: F401 - the fixture
from tests.test_cluster import until, until_async

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Workers:
    """A supervisor started through the CLI; ``pids`` are its workers (from their ready lines)."""

    def __init__(self, redis_url: str, workers: int, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ocppfast",
                "serve",
                "--workers",
                str(workers),
                "--redis",
                redis_url,
                "--port",
                "0",
                "--quiet",
                "--ping-interval",
                "0",
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.n = workers
        self.pids: dict[int, int] = {}  # index -> pid
        self.port = 0
        self.lines: list[str] = []

    async def ready(self, timeout: float = 60.0) -> None:
        """Wait until every worker (index) has printed its ready line since the last call."""
        want = self.n - len(self.pids)
        loop = asyncio.get_running_loop()
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while want > 0:
            try:
                line = await asyncio.wait_for(
                    loop.run_in_executor(None, self.proc.stdout.readline),
                    max(0.1, deadline - time.monotonic()),
                )
            except TimeoutError:
                raise AssertionError("workers not ready:\n" + "".join(self.lines)) from None
            if not line:
                raise AssertionError("supervisor exited:\n" + "".join(self.lines))
            self.lines.append(line)
            if " ready pid=" in line:
                fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
                index = int(line.split()[2])
                self.pids[index] = int(fields["pid"])
                self.port = int(fields["port"])
                want -= 1

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
async def workers(redis_server: RedisServer) -> AsyncIterator[Callable[..., Any]]:  # noqa: F811
    started: list[Workers] = []

    async def start(n: int, *extra: str) -> Workers:
        w = Workers(redis_server.url, n, *extra)
        started.append(w)
        await w.ready()
        return w

    yield start
    for w in started:
        w.stop()


def cli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ocppfast", "cluster", *args[:1], "--redis", redis_url, *args[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def acli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.get_running_loop().run_in_executor(None, lambda: cli(redis_url, *args))


async def stations(url: str, n: int, prefix: str = "W", **options: Any) -> list[Any]:
    cps = []
    for i in range(n):
        cp = await ocppfast.connect(url, f"{prefix}{i:03d}", versions=["ocpp1.6"], **options)
        cp.on("Reset", lambda req: {"status": "Accepted"})
        cps.append(cp)
    return cps


async def test_workers_cli_and_calls_across_three_processes(
    workers: Any,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    w = await workers(2)
    cps = await stations(w.url, 20)

    def refuse(req: Any) -> Any:
        raise errors.NotSupportedError("not today")

    cps[0].on("Reset", refuse)
    # this process is a node too: it holds a station, the CLI (a third process) calls it
    cs = ocppfast.CentralSystem(ping_interval=0)
    await cs.start("127.0.0.1", 0)
    here = await Cluster(cs, redis_url=redis_server.url, lease_ttl=3).start()
    try:
        mine = await ocppfast.connect(
            f"ws://127.0.0.1:{cs.port}/ocpp", "HERE-1", versions=["ocpp2.0.1"]
        )
        mine.on("Reset", lambda req: {"status": "Scheduled"})
        await until_async(lambda: _total(here, 21), 10)
        status = await acli(redis_server.url, "status", "--json")
        doc = msgspec.json.decode(status.stdout.strip().splitlines()[-1])
        assert doc["stations"] == 21
        worker_nodes = [n for n in doc["nodes"] if n["pid"] in w.pids.values()]
        assert len(worker_nodes) == 2 and sum(n["stations"] for n in worker_nodes) == 20
        # both ways: this node -> stations on the workers, the CLI -> the station here
        got = await here.call_many(
            "Reset", {"type": "Soft"}, identities=[f"W{i:03d}" for i in range(1, 20)]
        )
        assert all(r.status == "Accepted" for r in got.values()) and len(got) == 19
        ok = await acli(redis_server.url, "call", "HERE-1", "Reset", '{"type": "Immediate"}')
        assert ok.returncode == 0, ok.stderr
        assert msgspec.json.decode(ok.stdout) == {"status": "Scheduled"}
        err = await acli(redis_server.url, "call", "W000", "Reset", '{"type": "Soft"}')
        assert err.returncode == 3 and "NotSupported" in err.stdout
        missing = await acli(redis_server.url, "call", "NOBODY", "Reset", '{"type": "Soft"}')
        assert missing.returncode == 4
        fan = await acli(redis_server.url, "call", "--all", "Reset", '{"type": "Soft"}', "--json")
        assert fan.returncode == 0, fan.stderr
        summary = msgspec.json.decode(fan.stdout.strip().splitlines()[-1])
        # "Soft" is a 1.6 reset type: the 2.0.1 station's payload is refused by its version
        # (PayloadError, as a local call raises: nothing was sent, so it is not answered)
        assert summary["answered"] == 20
        assert summary["results"] == {
            "CALLRESULT": 19,
            "CALLERROR:NotSupported": 1,
            "PayloadError:PropertyConstraintViolation": 1,
        }
        bad = await acli(redis_server.url, "call", "HERE-1", "Reset", '{"type": "Soft"}')
        assert bad.returncode == 1 and "ResetRequest" in bad.stderr, bad.stderr
        await mine.close()
    finally:
        await here.close()
        await cs.close()
    for cp in cps:
        await cp.close()


async def _total(cluster: Cluster, n: int) -> bool:
    return await cluster.count() == n


async def _held_by(cluster: Cluster, identity: str, node: str, above: int = 0) -> bool:
    loc = await cluster.where(identity)
    return loc is not None and loc.node == node and loc.token > above


async def test_duplicate_identity_across_two_processes_newest_wins(
    workers: Any,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """A station that connects to another process takes over: its older connection, in the
    other process, is closed (1000, "replaced by a new connection"), presence and calls follow
    the new one, and the old node's late release removes nothing. Both directions: worker ->
    this process and this process -> worker; a third process (the CLI) calls it."""
    w = await workers(1)
    cs = ocppfast.CentralSystem(ping_interval=0)
    await cs.start("127.0.0.1", 0)
    here = await Cluster(cs, redis_url=redis_server.url, lease_ttl=3).start()
    try:
        worker_node = next(n.id for n in await here.nodes() if n.pid == w.pids[0])
        here_url = f"ws://127.0.0.1:{cs.port}/ocpp"
        moves = [
            ("DUP-1", w.url, worker_node, here_url, here.node_id),
            ("DUP-2", here_url, here.node_id, w.url, worker_node),
        ]
        for identity, old_url, old_node, new_url, new_node in moves:
            # the old connection: a plain websockets client, to read the close frame it gets
            old = await websockets.connect(f"{old_url}/{identity}", subprotocols=["ocpp1.6"])
            await until_async(lambda i=identity, n=old_node: _held_by(here, i, n))
            before = await here.where(identity)
            assert before is not None
            new = await ocppfast.connect(new_url, identity, versions=["ocpp1.6"])
            new.on("Reset", lambda req: {"status": "Accepted"})
            await asyncio.wait_for(old.wait_closed(), 5)
            assert old.close_code == 1000 and old.close_reason == "replaced by a new connection"
            await until_async(
                lambda i=identity, n=new_node, t=before.token: _held_by(here, i, n, t)
            )
            assert (await here.call(identity, "Reset", {"type": "Soft"})).status == "Accepted"
            ok = await acli(redis_server.url, "call", identity, "Reset", '{"type": "Hard"}')
            assert ok.returncode == 0 and msgspec.json.decode(ok.stdout) == {"status": "Accepted"}
            await asyncio.sleep(0.5)  # the old node's release (compare-and-delete) came and went
            assert await _held_by(here, identity, new_node, before.token)
            assert not new.closed and await here.count() == 1
            await new.close()
            await until_async(lambda i=identity: _absent(here, i))
    finally:
        await here.close()
        await cs.close()


async def _absent(cluster: Cluster, identity: str) -> bool:
    return await cluster.where(identity) is None


async def test_duplicate_identity_reject_across_two_processes(
    workers: Any,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """duplicate_identity="reject" across nodes: a station already connected to a live node
    (another process) keeps its identity; a second connection here is closed with 1008 and
    nothing of the first changes. Once the first leaves, a connection here is accepted."""
    w = await workers(1)
    cs = ocppfast.CentralSystem(ping_interval=0, duplicate_identity="reject")
    await cs.start("127.0.0.1", 0)
    here = await Cluster(cs, redis_url=redis_server.url, lease_ttl=3).start()
    try:
        worker_node = next(n.id for n in await here.nodes() if n.pid == w.pids[0])
        first = (await stations(w.url, 1, prefix="REJ-"))[0]
        await until_async(lambda: _held_by(here, "REJ-000", worker_node))
        before = await here.where("REJ-000")
        assert before is not None
        url = f"ws://127.0.0.1:{cs.port}/ocpp/REJ-000"
        second = await websockets.connect(url, subprotocols=["ocpp1.6"])
        await asyncio.wait_for(second.wait_closed(), 5)
        assert second.close_code == 1008 and second.close_reason == "identity already connected"
        assert "REJ-000" not in cs.charge_points and not first.closed
        assert await here.where("REJ-000") == before  # same node, same token
        assert (await here.call("REJ-000", "Reset", {"type": "Soft"})).status == "Accepted"
        await first.close()
        await until_async(lambda: _absent(here, "REJ-000"))
        again = await ocppfast.connect(url[: -len("/REJ-000")], "REJ-000", versions=["ocpp1.6"])
        await until_async(lambda: _held_by(here, "REJ-000", here.node_id))
        assert not again.closed
        await again.close()
    finally:
        await here.close()
        await cs.close()


async def test_sigkill_of_a_worker_fails_fast_then_heals(
    workers: Any,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    w = await workers(2, "--lease-ttl", "2")
    cps = await stations(w.url, 16, backoff_min=0.2, backoff_random=0.2, reconnect=True)
    api = await Cluster.client(redis_server.url, lease_ttl=2)
    try:
        await until_async(lambda: _total(api, 16), 10)
        by_pid = {n.id: n.pid for n in await api.nodes()}
        loc = await api.where("W000")
        assert loc is not None
        victim = by_pid[loc.node]
        on_victim = [
            f"W{i:03d}"
            for i in range(16)
            if (lo := await api.where(f"W{i:03d}")) is not None and lo.node == loc.node
        ]
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        # its stations' calls fail fast (no timeout wait)
        with pytest.raises(ocppfast.ConnectionClosedError) as info:
            await api.call("W000", "Reset", {"type": "Soft"}, timeout=10)
        assert time.monotonic() - killed < 2.0
        assert isinstance(info.value, NodeUnavailableError) or "not connected" in str(info.value)
        # the supervisor restarts the worker; the stations reconnect; presence heals
        del w.pids[next(i for i, p in w.pids.items() if p == victim)]
        await w.ready()

        async def all_answer() -> bool:
            res = await api.call_many("Reset", {"type": "Soft"}, identities=on_victim, timeout=2)
            return all(getattr(r, "status", None) == "Accepted" for r in res.values())

        await until_async(all_answer, 15)
        healed = time.monotonic() - killed
        assert healed < 15
        # the dead node's lease lapses and the janitor removes it
        await until_async(lambda: _node_gone(api, loc.node), 10)
        assert await api.count() == 16
    finally:
        await api.close()
        for cp in cps:
            await cp.close()


async def _node_gone(api: Cluster, node: str) -> bool:
    return node not in {n.id for n in await api.nodes()}


async def test_per_worker_cap_answers_503(workers: Any) -> None:
    w = await workers(2, "--max-connections", "3")
    held, refused = [], 0
    for i in range(12):
        try:
            held.append(await ocppfast.connect(w.url, f"C{i:02d}", versions=["ocpp1.6"]))
        except Exception as exc:  # noqa: BLE001 - each must be a 503
            assert "503" in str(exc), exc
            refused += 1
    assert len(held) <= 6 and refused >= 6
    for cp in held:
        await cp.close()


async def test_stop_leaves_no_orphans(workers: Any) -> None:
    w = await workers(2)
    pids = list(w.pids.values())
    os.kill(pids[0], signal.SIGTERM)  # a worker that exits is restarted
    del w.pids[0]
    await w.ready()
    pids = list(w.pids.values())
    assert all(alive(p) for p in pids)
    # the supervisor killed outright: the workers follow (PR_SET_PDEATHSIG)
    w.proc.send_signal(signal.SIGKILL)
    w.proc.wait()
    await until(lambda: not any(alive(p) for p in pids), 10)


async def test_sigterm_stops_every_worker(workers: Any) -> None:
    w = await workers(3)
    pids = list(w.pids.values())
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(30) == 0
    assert not any(alive(p) for p in pids)


async def test_cluster_demo_command_runs_end_to_end(tmp_path: Any) -> None:
    """`make cluster-demo`: own redis-server, workers, stations, fan-out, a routed call."""
    from tests.redis_fixture import REDIS_SERVER, unavailable

    if REDIS_SERVER is None:
        unavailable("redis-server not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ocppfast",
        "cluster",
        "demo",
        "--workers",
        "2",
        "--stations",
        "100",
        "--port",
        str(port),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "OCPPFAST_REDIS_AUTO_SOCKET": str(tmp_path / "auto.sock")},
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
    except TimeoutError:
        proc.terminate()  # the demo stops what it started (and its children die with it)
        await proc.wait()
        raise
    text = out.decode()
    assert proc.returncode == 0, text
    assert "100 stations connected" in text
    assert "{'CALLRESULT': 100}" in text
    assert 'routed call answered {"status":"Accepted"}' in text


async def test_cli_exit_status_when_redis_is_unreachable(tmp_path: Any) -> None:
    url = f"unix://{tmp_path}/no-redis.sock"
    status = await acli(url, "status", "--json")
    assert status.returncode == 6 and "unreachable" in status.stderr
    call = await acli(url, "call", "CP-1", "Reset", '{"type": "Soft"}')
    assert call.returncode == 6 and "unreachable" in call.stderr
