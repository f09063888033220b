"""The load generator's C charger core (``benchmarks/load/_gen_c.pyx``) on a real loopback socket.

A picows server stands in for the central system: the test reads what the charger sent and
writes the answers a server under test could give (the right id, a wrong one, a CALLERROR,
mobilityhouse's spaced JSON, garbage, a central-system CALL) and checks the generator's counts.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from picows import WSListener, WSMsgType, WSTransport, ws_connect, ws_create_server

from benchmarks.load import frames, generator, hist


class Peer(WSListener):
    """The server side: queues every TEXT frame received; the test answers through ``transport``."""

    def __init__(self, box: dict[str, Any]) -> None:
        super().__init__()
        self.box = box

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.box["transport"] = transport

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.box["frames"].put_nowait(frame.get_payload_as_bytes())


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Any, Any, dict[str, Any]]]:
    box: dict[str, Any] = {"frames": asyncio.Queue()}
    server = await ws_create_server(lambda request: Peer(box), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gen = generator.Generator()
    transport, charger = await ws_connect(
        lambda: generator.Charger(gen), f"ws://127.0.0.1:{port}/CP000001"
    )
    gen.chargers.add(charger)
    for _ in range(100):
        if "transport" in box:
            break
        await asyncio.sleep(0.01)
    try:
        yield gen, charger, box
    finally:
        transport.disconnect()
        await transport.wait_disconnected()
        server.close()
        await server.wait_closed()


async def _next(box: dict[str, Any]) -> bytes:
    frame: bytes = await asyncio.wait_for(box["frames"].get(), 5)
    return frame


async def _settle(gen: Any, field: str, value: int) -> None:
    for _ in range(200):
        if getattr(gen, field) >= value:
            return
        await asyncio.sleep(0.005)


def test_buckets_are_the_histograms() -> None:
    rng = random.Random(14)
    values = list(range(70_000)) + [rng.randrange(1 << 50) for _ in range(20_000)]
    assert [generator._gen_c.bucket(v) for v in values] == [hist.bucket(v) for v in values]


async def test_an_answer_to_the_outstanding_call_completes_it(pair: Any) -> None:
    gen, charger, box = pair
    gen.recording = True
    charger.send_call(frames.HEARTBEAT)
    sent = await _next(box)
    assert sent == b'[2,"1' + frames.HEARTBEAT
    assert charger.pending == b"1"
    box["transport"].send(WSMsgType.TEXT, b'[3,"1",{"currentTime":"2025-01-01T00:00:00Z"}]')
    await _settle(gen, "completed", 1)
    assert (gen.completed, gen.calls, gen.bad_ids, gen.call_errors) == (1, 1, 0, 0)
    assert charger.pending is None
    assert sum(gen.hist.values()) == 1
    (key,) = gen.hist
    assert 0 < hist.bucket_value(key) * hist.UNIT_S < 5.0  # a real loopback round trip


async def test_wrong_ids_garbage_and_unsolicited_answers_are_bad_ids(pair: Any) -> None:
    gen, charger, box = pair
    charger.send_call(frames.STATUS)
    assert await _next(box) == b'[2,"1' + frames.STATUS
    t = box["transport"]
    for bad in (b'[3,"2",{}]', b'[3,"11",{}]', b'[3,"",{}]', b"not json", b"[3,", b'[3,"1'):
        t.send(WSMsgType.TEXT, bad)
    await _settle(gen, "bad_ids", 6)
    assert (gen.bad_ids, gen.completed) == (6, 0)
    assert charger.pending == b"1"
    t.send(WSMsgType.TEXT, b'[3,"1",{}]')
    t.send(WSMsgType.TEXT, b'[3,"1",{}]')  # a second answer to a completed call
    await _settle(gen, "bad_ids", 7)
    assert (gen.bad_ids, gen.completed) == (7, 1)


async def test_callerror_and_spaced_json_complete_calls(pair: Any) -> None:
    gen, charger, box = pair
    t = box["transport"]
    charger.send_call(frames.HEARTBEAT)
    await _next(box)
    t.send(WSMsgType.TEXT, b'[4,"1","NotImplemented","",{}]')
    await _settle(gen, "completed", 1)
    charger.send_call(frames.HEARTBEAT)
    assert await _next(box) == b'[2,"2' + frames.HEARTBEAT
    t.send(WSMsgType.TEXT, b'[ 3, "2", {"currentTime": "2025-01-01T00:00:00Z"}]')  # json.dumps
    await _settle(gen, "completed", 2)
    assert (gen.completed, gen.call_errors, gen.bad_ids) == (2, 1, 0)


async def test_a_central_system_call_is_accepted(pair: Any) -> None:
    gen, charger, box = pair
    box["transport"].send(WSMsgType.TEXT, b'[2,"cs-7","TriggerMessage",{"requestedMessage":"x"}]')
    assert await _next(box) == b'[3,"cs-7' + frames.ACCEPTED_RESULT
    assert gen.server_calls == 1 and charger.pending is None


async def test_running_chargers_send_the_rotation_in_turn(pair: Any) -> None:
    gen, charger, box = pair
    await gen.steady_start({})
    t = box["transport"]
    seen = []
    for i in range(1, 8):
        frame = await _next(box)
        seen.append(frame)
        if i == 7:
            gen.running = False
        t.send(WSMsgType.TEXT, b'[3,"%d",{}]' % i)
    await _settle(gen, "completed", 7)
    rotation = frames.STEADY_ROTATION
    assert seen == [b'[2,"%d' % i + rotation[(i - 1) % 3] for i in range(1, 8)]
    assert gen.completed == 7 and charger.pending is None
    assert box["frames"].empty()


async def test_call_waits_for_its_answer(pair: Any) -> None:
    gen, charger, box = pair
    task = asyncio.ensure_future(charger.call(frames.BOOT, 5))
    assert await _next(box) == b'[2,"1' + frames.BOOT
    box["transport"].send(WSMsgType.TEXT, b'[3,"1",{"status":"Accepted"}]')
    assert await task == b'[3,"1",{"status":"Accepted"}]'
    assert charger.waiter is None and gen.completed == 1


def test_a_call_too_large_for_the_buffer_is_refused() -> None:
    charger = generator.Charger(generator.Generator())
    with pytest.raises(ValueError, match="buffer"):
        charger.send_call(b"x" * 5000)
    assert charger.pending is None
