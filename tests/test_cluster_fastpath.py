"""The cluster's hot paths against a real redis-server: the subscriber's own parse of pub/sub
messages (every shape a read can bring), and a fan-out that streams its outcomes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import ocppfast
from ocppfast import errors
from ocppfast.cluster._resp import RespConnection, parse_redis_url
from tests.redis_fixture import RedisServer, redis_server  # noqa: F401 - the fixture
from tests.test_cluster import claimed, make_node, station  # noqa: F401 - make_node: fixture


async def test_subscriber_gets_every_message_intact_and_in_order(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """Single messages, many in one read, one cut over many reads (1 MiB), payloads that hold
    the message header or CRLFs, an empty one: all arrive whole, in order, once; a message on
    a channel the fast path does not know goes through hiredis and still arrives."""
    address = parse_redis_url(redis_server.url)
    sub = await RespConnection.open(address)
    pub = await RespConnection.open(address)
    got: list[bytes] = []
    channel = b"ocf:c:test-node"
    try:
        sub.listen(channel, got.append)
        await sub.command("SUBSCRIBE", channel)
        head = b"*3\r\n$7\r\nmessage\r\n$15\r\nocf:c:test-node\r\n$"
        sent = [
            b"one",
            b"",
            head + b"5\r\nfake!\r\n",  # looks like a whole message inside the payload
            b"a\r\nb\r\n\r\n",
            bytes(range(256)) * 4096,  # 1 MiB: many reads
            *(b"burst-%d" % i for i in range(500)),  # pipelined: several per read
            b"9" * 12,  # a payload of digits only
        ]
        for payload in sent[:5]:
            assert await pub.command("PUBLISH", channel, payload) == 1
        await _until(lambda: len(got) >= 5)
        # The burst goes out in one write, so reads hold many messages (and cut some).
        burst = [pub.command("PUBLISH", channel, p) for p in sent[5:]]
        assert await asyncio.gather(*burst) == [1] * len(burst)
        await _until(lambda: len(got) >= len(sent))
        assert got == sent
        # A second channel (not the one listen() knows): hiredis' path, the same callback.
        other = b"ocf:c:other"
        await sub.command("SUBSCRIBE", other)
        assert await pub.command("PUBLISH", other, b"via hiredis") == 1
        await _until(lambda: len(got) > len(sent))
        assert got[len(sent) :] == [b"via hiredis"]
    finally:
        sub.close()
        pub.close()


async def _until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def test_fan_out_streams_outcomes_before_the_slowest_answer(make_node: Any) -> None:  # noqa: F811
    """A node's share of a fan-out goes back in chunks while it runs: the caller sees the fast
    stations' outcomes (on_progress) before the slow one answers, then every outcome with the
    local classes: a result, a CALLERROR, a timeout, a station that left mid-way."""
    a, b = await make_node(), await make_node(client_only=True)
    fast = [await station(a, f"FAN-{i}") for i in range(6)]
    slow = await station(a, "FAN-SLOW")
    refuse = await station(a, "FAN-NO")
    mute = await station(a, "FAN-MUTE")

    async def late(req: Any) -> Any:
        await asyncio.sleep(1.0)
        return {"status": "Accepted"}

    def no(req: Any) -> Any:
        raise errors.NotSupportedError("no")

    async def never(req: Any) -> Any:
        await asyncio.sleep(60)

    slow.on("Reset", late)
    refuse.on("Reset", no)
    mute.on("Reset", never)
    for cp in (*fast, slow, refuse, mute):
        await claimed(a, cp.identity)
    seen: list[tuple[float, int]] = []
    t0 = time.monotonic()
    results = await b.cluster.call_many(
        "Reset",
        {"type": "Soft"},
        timeout=2.0,
        on_progress=lambda n: seen.append((time.monotonic() - t0, n)),
    )
    assert len(results) == 9
    assert all(results[cp.identity].status == "Accepted" for cp in (*fast, slow))
    assert type(results["FAN-NO"]) is errors.NotSupportedError
    assert type(results["FAN-MUTE"]) is errors.CallTimeoutError
    early = [n for t, n in seen if t < 0.9]
    assert early and max(early) >= 7, seen  # the six fast ones and the CALLERROR, early
    assert seen[-1][1] == 9
    for cp in (*fast, slow, refuse, mute):
        await cp.close()


async def test_fan_out_to_a_station_that_closes_while_it_runs(make_node: Any) -> None:  # noqa: F811
    a, b = await make_node(), await make_node(client_only=True)
    stay = await station(a, "GO-STAY")
    leave = await station(a, "GO-LEAVE")

    async def close_myself(req: Any) -> Any:
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(leave.close()))
        await asyncio.sleep(5)

    leave.on("Reset", close_myself)
    await claimed(a, "GO-STAY")
    await claimed(a, "GO-LEAVE")
    results = await b.cluster.call_many(
        "Reset", {"type": "Soft"}, identities=["GO-STAY", "GO-LEAVE", "GO-GHOST"], timeout=3
    )
    assert results["GO-STAY"].status == "Accepted"
    assert isinstance(results["GO-LEAVE"], ocppfast.ConnectionClosedError)
    assert isinstance(results["GO-GHOST"], ocppfast.ConnectionClosedError)
    await stay.close()
