"""``--duplicate-identity {replace,reject}`` (``serve``) and ``Cluster(duplicate_identity=...)``:
a station connecting with an identity already connected, on the same node or on another
process of the cluster, with a real redis-server and a worker started through the CLI."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

import ocppfast
from ocppfast.cluster import Cluster
from tests.redis_fixture import RedisServer, redis_server  # noqa: F401 - the fixture
from tests.test_cluster import until_async
from tests.test_cluster_workers import workers  # noqa: F401 - the fixture


async def _held_by(cluster: Cluster, identity: str, node: str) -> bool:
    loc = await cluster.where(identity)
    return loc is not None and loc.node == node


async def _open(url: str) -> Any:
    return await websockets.connect(url, subprotocols=["ocpp1.6"])


async def _refused_with(url: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        await _open(url)
    return int(info.value.response.status_code)


async def _closed(ws: Any) -> tuple[int | None, str | None]:
    await asyncio.wait_for(ws.wait_closed(), 5)
    return ws.close_code, ws.close_reason


@pytest.mark.parametrize("mode", ["replace", "reject"])
async def test_duplicate_identity_across_two_processes(
    workers: Any,  # noqa: F811
    redis_server: RedisServer,  # noqa: F811
    mode: str,
) -> None:
    """The worker runs ``serve --duplicate-identity MODE``; this process is a node whose
    central system takes the mode from ``Cluster(duplicate_identity=MODE)``.

    replace: the newest connection wins, on the same node (the old one closed with 1000) and
    across processes (likewise), presence and calls follow it.
    reject: the first connection stays; a second one on the same node is refused with HTTP
    409 at the handshake, one on the other process is closed with 1008 right after it; the
    first keeps its entry (same node, same token) and answers calls."""
    w = await workers(1, "--duplicate-identity", mode)
    cs = ocppfast.CentralSystem(ping_interval=0)
    await cs.start("127.0.0.1", 0)
    here = Cluster(cs, redis_url=redis_server.url, lease_ttl=3, duplicate_identity=mode)
    await here.start()
    assert cs.duplicate_identity == mode and here.duplicate_identity == mode
    worker_node = next(n.id for n in await here.nodes() if n.pid == w.pids[0])
    here_url = f"ws://127.0.0.1:{cs.port}/ocpp"
    try:
        for identity, first_url, first_node, other_url in (
            ("DUPX-1", w.url, worker_node, here_url),
            ("DUPX-2", here_url, here.node_id, w.url),
        ):
            first = await _open(f"{first_url}/{identity}")
            await until_async(lambda i=identity, n=first_node: _held_by(here, i, n))
            before = await here.where(identity)
            assert before is not None
            if mode == "reject":
                # same node: refused at the handshake
                assert await _refused_with(f"{first_url}/{identity}") == 409
                # the other process: closed once its claim found the live owner
                second = await _open(f"{other_url}/{identity}")
                assert await _closed(second) == (1008, "identity already connected")
                assert await here.where(identity) == before
                assert first.close_code is None  # still open
                await first.close()
            else:
                # same node: the new connection replaces the old one
                again = await _open(f"{first_url}/{identity}")
                assert await _closed(first) == (1000, "replaced by a new connection")
                await until_async(
                    lambda i=identity, n=first_node, t=before.token: _newer(here, i, n, t)
                )
                # the other process: replaces it too, across the cluster
                newest = await ocppfast.connect(other_url, identity, versions=["ocpp1.6"])
                newest.on("Reset", lambda req: {"status": "Accepted"})
                assert await _closed(again) == (1000, "replaced by a new connection")
                other_node = here.node_id if other_url == here_url else worker_node
                await until_async(lambda i=identity, n=other_node: _held_by(here, i, n))
                assert (await here.call(identity, "Reset", {"type": "Soft"})).status == "Accepted"
                await newest.close()
            await until_async(lambda i=identity: _gone(here, i))
    finally:
        await here.close()
        await cs.close()


async def _newer(cluster: Cluster, identity: str, node: str, token: int) -> bool:
    loc = await cluster.where(identity)
    return loc is not None and loc.node == node and loc.token > token


async def _gone(cluster: Cluster, identity: str) -> bool:
    return await cluster.where(identity) is None


def test_cluster_refuses_an_unknown_duplicate_identity_mode() -> None:
    with pytest.raises(ValueError, match="duplicate_identity"):
        Cluster(None, redis_url="redis://127.0.0.1:1/0", duplicate_identity="newest")
