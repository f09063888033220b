"""Cluster presence and routing with a real redis-server; several nodes in this process (each its
own CentralSystem, port and Redis connections) and real stations over loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import ocppfast
from ocppfast import errors
from ocppfast.cluster import (
    Cluster,
    ClusterUnavailableError,
    NodeUnavailableError,
)
from ocppfast.v16 import ResetResponse as Reset16
from ocppfast.v201 import ResetResponse as Reset201
from tests.redis_fixture import RedisServer, redis_server  # noqa: F401 - the fixture

BOOT16 = {"chargePointVendor": "V", "chargePointModel": "M"}


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def until_async(cond: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class Node:
    def __init__(self, cs: ocppfast.CentralSystem | None, cluster: Cluster) -> None:
        self.cs = cs
        self.cluster = cluster

    @property
    def url(self) -> str:
        assert self.cs is not None
        return f"ws://127.0.0.1:{self.cs.port}/ocpp"

    async def close(self) -> None:
        await self.cluster.close()
        if self.cs is not None:
            await self.cs.close()


@pytest.fixture
async def make_node(redis_server: RedisServer) -> AsyncIterator[Callable[..., Awaitable[Node]]]:  # noqa: F811
    nodes: list[Node] = []

    async def make(client_only: bool = False, **options: Any) -> Node:
        cs = None
        if not client_only:
            cs = ocppfast.CentralSystem(ping_interval=0, call_timeout=5)
            await cs.start("127.0.0.1", 0)
        options.setdefault("lease_ttl", 3.0)
        cluster = await Cluster(cs, redis_url=redis_server.url, **options).start()
        node = Node(cs, cluster)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        await node.close()


async def station(
    node: Node, identity: str, version: str = "ocpp1.6", **options: Any
) -> ocppfast.ChargePoint:
    cp = await ocppfast.connect(node.url, identity, versions=[version], **options)
    cp.on("Reset", lambda req: {"status": "Accepted"})
    return cp


async def claimed(node: Node, identity: str) -> None:
    await until_async(lambda: _owned_by(node, identity))


async def _owned_by(node: Node, identity: str) -> bool:
    loc = await node.cluster.where(identity)
    return loc is not None and loc.node == node.cluster.node_id


async def test_calls_both_ways_with_typed_answers(make_node: Any) -> None:
    a, b = await make_node(), await make_node()
    s1 = await station(a, "CP-A", "ocpp1.6")
    s2 = await station(b, "CP-B", "ocpp2.0.1")
    await claimed(a, "CP-A")
    await claimed(b, "CP-B")
    # b -> station on a (1.6) and a -> station on b (2.0.1): typed with the station's version
    r1 = await b.cluster.call("CP-A", "Reset", {"type": "Soft"})
    assert type(r1) is Reset16 and r1.status == "Accepted"
    r2 = await a.cluster.call("CP-B", "Reset", {"type": "Immediate"})
    assert type(r2) is Reset201 and r2.status == "Accepted"
    # the local fast path gives the very same type
    assert type(await a.cluster.call("CP-A", "Reset", {"type": "Soft"})) is Reset16
    loc = await b.cluster.where("CP-A")
    assert loc is not None and loc.node == a.cluster.node_id and loc.subprotocol == "ocpp1.6"
    assert loc.alive and not loc.local
    await s1.close()
    await s2.close()


async def test_remote_errors_are_the_local_classes(make_node: Any) -> None:
    a, b = await make_node(), await make_node()
    cp = await station(a, "CP-E")

    def reset(req: Any) -> Any:
        raise errors.NotSupportedError("no resets here", {"why": "test"})

    cp.on("Reset", reset)

    async def slow(req: Any) -> Any:
        await asyncio.sleep(2)
        return {"status": "Accepted"}

    cp.on("UnlockConnector", slow)
    await claimed(a, "CP-E")
    for node in (a, b):  # local and remote raise the same
        with pytest.raises(errors.NotSupportedError) as info:
            await node.cluster.call("CP-E", "Reset", {"type": "Soft"})
        assert info.value.description == "no resets here" and info.value.details == {"why": "test"}
        # our own payload failing the station's schema: PayloadError (nothing sent), never
        # the OCPPError class of a CALLERROR from the station
        with pytest.raises(errors.PayloadError) as bad:
            await node.cluster.call("CP-E", "Reset", {"type": "Sideways"})
        assert not isinstance(bad.value, errors.OCPPError)
        assert bad.value.code in (
            "PropertyConstraintViolation",
            "FormatViolation",
            "TypeConstraintViolation",
        )
        with pytest.raises(ValueError, match="unknown action"):
            await node.cluster.call("CP-E", "NoSuchAction", {})
        with pytest.raises(errors.CallTimeoutError):
            await node.cluster.call("CP-E", "UnlockConnector", {"connectorId": 1}, timeout=0.3)
    # local (a) and routed (b: through Redis, checked by the owner) give the same error,
    # also for a Struct payload and from a client-only node
    c = await make_node(client_only=True)
    for payload in ({"type": "Sideways"}, {"type": "Soft", "extra": 1}):
        with pytest.raises(errors.PayloadError) as local_bad:
            await a.cluster.call("CP-E", "Reset", payload)
        for node in (b, c):
            with pytest.raises(errors.PayloadError) as remote_bad:
                await node.cluster.call("CP-E", "Reset", payload)
            assert remote_bad.value.description == local_bad.value.description
            assert remote_bad.value.code == local_bad.value.code
            assert "ResetRequest" in remote_bad.value.description
    with pytest.raises(ocppfast.ConnectionClosedError) as nc:
        await b.cluster.call("NOBODY", "Reset", {"type": "Soft"})
    assert not isinstance(nc.value, NodeUnavailableError)
    await cp.close()


async def test_station_moving_to_another_node_closes_the_old_connection(make_node: Any) -> None:
    a, b = await make_node(), await make_node()
    old = await station(a, "CP-M")
    await claimed(a, "CP-M")
    new = await station(b, "CP-M")  # the same identity on another node (duplicate / move)
    await asyncio.wait_for(old.wait_closed(), 5)
    await claimed(b, "CP-M")
    assert "CP-M" not in a.cs.charge_points  # type: ignore[union-attr]
    r = await a.cluster.call("CP-M", "Reset", {"type": "Soft"})
    assert r.status == "Accepted"
    assert not new.closed
    # a's stale release (the old connection's close) did not delete b's entry
    await asyncio.sleep(0.2)
    assert await _owned_by(b, "CP-M")
    await new.close()
    await until_async(lambda: _gone(a, "CP-M"))


async def _gone(node: Node, identity: str) -> bool:
    return await node.cluster.where(identity) is None


async def test_duplicate_identity_connecting_at_once_keeps_exactly_one(make_node: Any) -> None:
    """Four connections per identity at once, alternating between two nodes, for several
    identities side by side (more interleavings of claims, evictions and local replaces)."""
    a, b = await make_node(), await make_node()
    names = [f"CP-D{k}" for k in range(4)]
    got = await asyncio.gather(
        *(station(n, name) for name in names for n in (a, b, a, b)), return_exceptions=True
    )
    by_name: dict[str, list[Any]] = {name: [] for name in names}
    for cp in got:  # one replaced during its own handshake may fail to connect: fine
        if isinstance(cp, ocppfast.ChargePoint):
            by_name[cp.identity].append(cp)

    def survivors(name: str) -> int:
        return sum(not cp.closed for cp in by_name[name])

    await until(lambda: all(survivors(name) == 1 for name in names))
    await asyncio.sleep(0.3)
    assert all(survivors(name) == 1 for name in names)
    for name in names:
        loc = await a.cluster.where(name)
        assert loc is not None
        holder = a if loc.node == a.cluster.node_id else b
        assert name in holder.cs.charge_points  # type: ignore[union-attr]
        assert (await b.cluster.call(name, "Reset", {"type": "Soft"})).status == "Accepted"
    for cps in by_name.values():
        for cp in cps:
            await cp.close()


async def test_call_many_cluster_wide_one_message_per_node(make_node: Any) -> None:
    a, b = await make_node(), await make_node()
    c = await make_node(client_only=True)
    stations = [await station(a if i % 2 else b, f"CP-{i:02d}") for i in range(20)]
    await until_async(lambda: _count_is(c, 20))
    results = await c.cluster.call_many("Reset", {"type": "Soft"})
    assert sorted(results) == [f"CP-{i:02d}" for i in range(20)]
    assert all(type(r) is Reset16 and r.status == "Accepted" for r in results.values())
    # explicit identities: local, remote, unknown
    seen: list[int] = []
    some = await a.cluster.call_many(
        "Reset", {"type": "Hard"}, identities=["CP-01", "CP-02", "GHOST"], on_progress=seen.append
    )
    assert some["CP-01"].status == "Accepted" and some["CP-02"].status == "Accepted"
    assert isinstance(some["GHOST"], ocppfast.ConnectionClosedError)
    assert seen and seen[-1] >= 1
    # a bad payload is refused per station with the local class (PayloadError), nothing sent
    bad = await c.cluster.call_many("Reset", {"type": "Sideways"})
    assert len(bad) == 20 and all(type(r) is errors.PayloadError for r in bad.values())
    assert len({r.description for r in bad.values()}) == 1
    mixed = await a.cluster.call_many(
        "Reset", {"type": "Sideways"}, identities=["CP-01", "CP-02"]
    )  # CP-01 is local to a, CP-02 routed to b: the same class either way
    assert [type(r) for r in mixed.values()] == [errors.PayloadError] * 2
    nodes = {n.id: n for n in await c.cluster.nodes()}
    assert nodes[a.cluster.node_id].stations == 10 and nodes[b.cluster.node_id].stations == 10
    assert nodes[c.cluster.node_id].stations == 0 and all(n.alive for n in nodes.values())
    assert await c.cluster.count() == 20
    for cp in stations:
        await cp.close()
    await until_async(lambda: _count_is(c, 0))


async def _count_is(node: Node, n: int) -> bool:
    return await node.cluster.count() == n


async def test_redis_restart_keeps_stations_and_reregisters(
    make_node: Any,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    a, b = await make_node(), await make_node()
    sa = await station(a, "CP-RA")
    sb = await station(b, "CP-RB")
    await claimed(a, "CP-RA")
    await claimed(b, "CP-RB")
    redis_server.stop()
    await until(lambda: not a.cluster.online and not b.cluster.online)
    # local traffic and local calls go on; remote calls fail fast with a clear error
    assert (await a.cluster.call("CP-RA", "Reset", {"type": "Soft"})).status == "Accepted"
    t = time.monotonic()
    with pytest.raises(ClusterUnavailableError, match="unreachable"):
        await a.cluster.call("CP-RB", "Reset", {"type": "Soft"})
    assert time.monotonic() - t < 0.5
    # a station that arrives and one that leaves while Redis is away
    sa2 = await station(a, "CP-RA2")
    await sb.close()
    redis_server.start()  # empty: no persistence
    await until(lambda: a.cluster.online and b.cluster.online, 10)
    await claimed(a, "CP-RA")
    await claimed(a, "CP-RA2")
    assert not sa.closed and not sa2.closed  # nobody dropped because Redis blinked
    assert (await b.cluster.call("CP-RA2", "Reset", {"type": "Soft"})).status == "Accepted"
    assert await b.cluster.where("CP-RB") is None
    await sa.close()
    await sa2.close()


async def test_redis_paused_remote_calls_fail_then_recover(
    make_node: Any,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    a, b = await make_node(lease_ttl=1.5), await make_node(lease_ttl=1.5)
    sb = await station(b, "CP-P")
    await claimed(b, "CP-P")
    redis_server.pause()  # SIGSTOP: a hung Redis, not a refused connection
    try:
        with pytest.raises((ClusterUnavailableError, errors.CallTimeoutError)):
            await a.cluster.call("CP-P", "Reset", {"type": "Soft"}, timeout=0.5)
        await until(lambda: not a.cluster.online, 5)
    finally:
        redis_server.resume()
    await until(lambda: a.cluster.online and b.cluster.online, 10)
    await claimed(b, "CP-P")
    assert (await a.cluster.call("CP-P", "Reset", {"type": "Soft"})).status == "Accepted"
    assert not sb.closed
    await sb.close()


async def test_fencing_scripts_never_let_a_stale_owner_win(make_node: Any) -> None:
    a, b = await make_node(), await make_node()
    cmd = a.cluster._cmd
    assert cmd is not None
    sha = a.cluster._sha
    pfx = a.cluster.keys.prefix
    ta = int((await cmd.command("EVALSHA", sha["claim"], 0, pfx, "X", "node-a", "ocpp1.6"))[0])
    tb_reply = await cmd.command("EVALSHA", sha["claim"], 0, pfx, "X", b.cluster.node_id, "ocpp1.6")
    tb = int(tb_reply[0])
    assert tb > ta and tb_reply[1].startswith(b"node-a|")
    # the stale owner's release is a no-op ...
    assert await cmd.command("EVALSHA", sha["release"], 0, pfx, "X", "node-a", ta) == 0
    # ... and its re-assert loses to the newer, live owner
    lost, evict = await cmd.command(
        "EVALSHA", sha["reassert"], 0, pfx, "node-a", "X", ta, "ocpp1.6"
    )
    assert lost == [b"X"] and evict == []
    loc = await a.cluster.where("X")
    assert loc is not None and loc.node == b.cluster.node_id and loc.token == tb
    # the owner's own release works; a re-assert into an empty slot restores
    assert await cmd.command("EVALSHA", sha["release"], 0, pfx, "X", b.cluster.node_id, tb) == 1
    assert await a.cluster.where("X") is None


async def test_dead_node_is_unavailable_at_once_and_cleaned_after_its_lease(
    make_node: Any,
) -> None:
    a = await make_node(lease_ttl=1.5)
    b = await make_node(lease_ttl=1.5)
    sb = await station(b, "CP-K", reconnect=False)
    await claimed(b, "CP-K")
    # b vanishes without a goodbye: tasks stop, its Redis connections drop (as on SIGKILL)
    for task in b.cluster._tasks:
        task.cancel()
    b.cluster._drop_connections()
    t = time.monotonic()
    with pytest.raises(NodeUnavailableError):
        await a.cluster.call("CP-K", "Reset", {"type": "Soft"})
    # at once when Redis already saw b's subscriber go (PUBLISH reaches nobody), else within
    # a liveness check (0.5 s); never the 5 s call timeout
    assert time.monotonic() - t < 2
    # the janitor removes its entries once the lease is gone
    await until_async(lambda: _gone(a, "CP-K"), 6)
    assert b.cluster.node_id not in {n.id for n in await a.cluster.nodes()}
    await sb.close()


async def test_call_in_flight_to_a_node_that_dies_fails_fast(make_node: Any) -> None:
    a, b = await make_node(), await make_node()
    cp = await station(b, "CP-F")

    async def never(req: Any) -> Any:
        await asyncio.sleep(30)

    cp.on("Reset", never)
    await claimed(b, "CP-F")
    call = asyncio.ensure_future(a.cluster.call("CP-F", "Reset", {"type": "Soft"}, timeout=20))
    await asyncio.sleep(0.2)
    t = time.monotonic()
    for task in b.cluster._tasks:
        task.cancel()
    b.cluster._drop_connections()
    with pytest.raises(NodeUnavailableError):
        await call
    assert time.monotonic() - t < 3  # within a few liveness checks, not the 20 s timeout
    await cp.close()


async def test_client_only_needs_redis(tmp_path: Any) -> None:
    with pytest.raises(ClusterUnavailableError):
        await Cluster.client(f"unix://{tmp_path}/nothing.sock", connect_timeout=0.5)


async def test_max_connections_answers_503(redis_server: RedisServer) -> None:  # noqa: F811
    cs = ocppfast.CentralSystem(ping_interval=0, max_connections=2)
    await cs.start("127.0.0.1", 0)
    try:
        url = f"ws://127.0.0.1:{cs.port}/ocpp"
        held = [await ocppfast.connect(url, f"CAP-{i}", versions=["ocpp1.6"]) for i in range(2)]
        with pytest.raises(Exception) as info:
            await ocppfast.connect(url, "CAP-X", versions=["ocpp1.6"])
        assert "503" in str(info.value)
        await held[0].close()
        await until(lambda: len(cs.charge_points) == 1)
        again = await ocppfast.connect(url, "CAP-Y", versions=["ocpp1.6"])
        await again.close()
        await held[1].close()
    finally:
        await cs.close()


async def test_a_stale_cached_route_is_corrected_without_a_double_delivery(
    make_node: Any,
) -> None:
    a, b = await make_node(), await make_node()
    c = await make_node(client_only=True)
    resets: list[str] = []
    first = await station(a, "CP-S")
    first.on("Reset", lambda req: resets.append("a") or {"status": "Accepted"})
    await claimed(a, "CP-S")
    assert (await c.cluster.call("CP-S", "Reset", {"type": "Soft"})).status == "Accepted"
    assert c.cluster._routes["CP-S"] == a.cluster.node_id  # cached: next calls skip the script
    moved = await station(b, "CP-S")
    moved.on("Reset", lambda req: resets.append("b") or {"status": "Accepted"})
    await asyncio.wait_for(first.wait_closed(), 5)
    await claimed(b, "CP-S")
    assert (await c.cluster.call("CP-S", "Reset", {"type": "Soft"})).status == "Accepted"
    assert resets == ["a", "b"]  # the stale route reached a, which sent nothing
    assert c.cluster._routes["CP-S"] == b.cluster.node_id
    await moved.close()
    await until_async(lambda: _gone(b, "CP-S"))
    with pytest.raises(ocppfast.ConnectionClosedError) as info:
        await c.cluster.call("CP-S", "Reset", {"type": "Soft"})
    assert not isinstance(info.value, NodeUnavailableError)
    assert resets == ["a", "b"]


async def test_owner_outcomes_single_calls_and_fan_outs(make_node: Any) -> None:
    """The owner sends a routed CALL with ``Engine.call_into`` (its outcome straight to the
    caller's channel) and a fan-out's share through one ``CallGroup``: the outcomes a local
    call gives, for single calls and fan-outs (result, CALLERROR, timeout, bad payload)."""
    a, b = await make_node(), await make_node()
    ok = await station(a, "CP-OK")
    no = await station(a, "CP-NO")

    def refuse(req: Any) -> Any:
        raise errors.NotSupportedError("no")

    no.on("Reset", refuse)

    async def slow(req: Any) -> Any:
        await asyncio.sleep(2)
        return {"status": "Accepted"}

    no.on("UnlockConnector", slow)
    await claimed(a, "CP-OK")
    await claimed(a, "CP-NO")
    assert (await b.cluster.call("CP-OK", "Reset", {"type": "Soft"})).status == "Accepted"
    with pytest.raises(errors.NotSupportedError):
        await b.cluster.call("CP-NO", "Reset", {"type": "Soft"})
    with pytest.raises(errors.CallTimeoutError):
        await b.cluster.call("CP-NO", "UnlockConnector", {"connectorId": 1}, timeout=0.2)
    with pytest.raises(errors.PayloadError):
        await b.cluster.call("CP-OK", "Reset", {"type": "Sideways"})
    many = await b.cluster.call_many("Reset", {"type": "Soft"}, identities=["CP-OK", "CP-NO"])
    assert many["CP-OK"].status == "Accepted"
    assert type(many["CP-NO"]) is errors.NotSupportedError
    slow_many = await b.cluster.call_many(
        "UnlockConnector", {"connectorId": 1}, identities=["CP-NO"], timeout=0.2
    )
    assert isinstance(slow_many["CP-NO"], errors.CallTimeoutError)
    await ok.close()
    await no.close()


async def test_caller_side_deadline_ends_a_call_the_owner_never_answers(
    make_node: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A routed call has no timer of its own: the liveness sweep ends it with CallTimeoutError
    once its timeout + grace has passed (an owner that swallowed it), and forgets it."""
    a = await make_node()
    b = await make_node(call_grace=0.2)
    cp = await station(a, "CP-Q")
    await claimed(a, "CP-Q")
    assert (await b.cluster.call("CP-Q", "Reset", {"type": "Soft"})).status == "Accepted"
    assert b.cluster._routes["CP-Q"] == a.cluster.node_id  # the next call takes the cached route
    monkeypatch.setattr(a.cluster, "_on_call", lambda msg: None)  # the owner drops it
    t = time.monotonic()
    with pytest.raises(errors.CallTimeoutError):
        await b.cluster.call("CP-Q", "Reset", {"type": "Soft"}, timeout=0.3)
    # timeout + grace (0.5 s), then the next sweep (0.25 s); the deadline is on the loop's clock,
    # which uvloop keeps in whole milliseconds and reads at the start of an iteration, so it can
    # run a few ms behind time.monotonic() (CI once measured 0.4995 s)
    assert 0.48 <= time.monotonic() - t < 2.0
    assert not b.cluster._pending
    await cp.close()


async def test_a_cached_route_to_a_node_that_died_fails_fast(make_node: Any) -> None:
    """Calls on a cached route are published without waiting for Redis' reply: when that node
    is gone, the liveness sweep fails them (NodeUnavailableError, not the call timeout) and
    drops the route, so the next call is routed by the script, which answers at once."""
    a, b = await make_node(), await make_node()
    cp = await station(a, "CP-G", reconnect=False)
    await claimed(a, "CP-G")
    assert (await b.cluster.call("CP-G", "Reset", {"type": "Soft"})).status == "Accepted"
    assert b.cluster._routes["CP-G"] == a.cluster.node_id
    for task in a.cluster._tasks:  # a vanishes without a goodbye (as on SIGKILL)
        task.cancel()
    a.cluster._drop_connections()
    await until_async(lambda: _subscribers(b, a.cluster.node_id, 0))
    t = time.monotonic()
    with pytest.raises(NodeUnavailableError):
        await b.cluster.call("CP-G", "Reset", {"type": "Soft"}, timeout=20)
    assert time.monotonic() - t < 2.0
    assert "CP-G" not in b.cluster._routes
    t = time.monotonic()
    with pytest.raises(NodeUnavailableError):
        await b.cluster.call("CP-G", "Reset", {"type": "Soft"}, timeout=20)
    assert time.monotonic() - t < 0.2  # by the script: nobody on the channel
    await cp.close()


async def _subscribers(node: Node, of: str, n: int) -> bool:
    cmd = node.cluster._cmd
    assert cmd is not None
    reply = await cmd.command("PUBSUB", "NUMSUB", node.cluster.keys.channel(of))
    return int(reply[1]) == n
