"""Connection life on loopback: ``reconnect=True`` retries the first connection (with the same
backoff and an optional deadline), handlers given to connect() answer the very first CALL,
``CentralSystem.wait_for``, and ``on_connect``/``on_disconnect`` as decorators."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

import ocppfast
from ocppfast import errors, v201


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_reconnect_retries_the_first_connection(caplog: pytest.LogCaptureFixture) -> None:
    """The station starts before its central system: connect() keeps trying with its backoff
    and returns once the central system listens."""
    port = free_port()
    task = asyncio.create_task(
        ocppfast.connect(
            f"ws://127.0.0.1:{port}",
            "EARLY",
            versions=["ocpp1.6"],
            reconnect=True,
            backoff_min=0.05,
            backoff_random=0.0,
            backoff_repeat=0,
        )
    )
    with caplog.at_level(logging.WARNING, logger="ocppfast"):
        await asyncio.sleep(0.4)
    assert not task.done()
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) >= 3 and "refused" in retries[0].getMessage()
    assert "EARLY" in retries[0].getMessage()  # who
    cs = ocppfast.CentralSystem(versions=["ocpp1.6"], ping_interval=0)
    cs.on("Heartbeat", lambda cp, req: {"currentTime": ocppfast.now()})
    await cs.start("127.0.0.1", port)
    try:
        cp = await asyncio.wait_for(task, 5)
        assert (await cp.call("Heartbeat", {})).current_time
        assert "EARLY" in cs.charge_points
        await cp.close()
    finally:
        await cs.close()


async def test_reconnect_deadline_gives_up_with_the_last_error() -> None:
    port = free_port()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(errors.ConnectRefusedError):
        await ocppfast.connect(
            f"ws://127.0.0.1:{port}",
            "NEVER",
            versions=["ocpp1.6"],
            reconnect=True,
            reconnect_deadline=0.5,
            backoff_min=0.1,
            backoff_random=0.0,
        )
    elapsed = loop.time() - started
    assert 0.2 < elapsed < 3.0  # it did retry, and it did stop


async def test_without_reconnect_the_first_failure_is_raised_at_once() -> None:
    with pytest.raises(errors.ConnectRefusedError):
        await ocppfast.connect(f"ws://127.0.0.1:{free_port()}", "ONCE", versions=["ocpp1.6"])


async def test_reconnect_retries_a_busy_central_system() -> None:
    """HTTP 503 (at capacity) is retried; the station gets in once there is room."""
    cs = ocppfast.CentralSystem(versions=["ocpp1.6"], ping_interval=0, max_connections=0)
    await cs.start("127.0.0.1", 0)
    try:
        task = asyncio.create_task(
            ocppfast.connect(
                f"ws://127.0.0.1:{cs.port}",
                "PATIENT",
                versions=["ocpp1.6"],
                reconnect=True,
                backoff_min=0.05,
                backoff_random=0.0,
                backoff_repeat=0,
            )
        )
        await asyncio.sleep(0.3)
        assert not task.done()
        cs.max_connections = None
        cp = await asyncio.wait_for(task, 5)
        await cp.close()
    finally:
        await cs.close()


async def test_handlers_given_to_connect_answer_the_first_call() -> None:
    """The central system calls in on_connect, before the station's code runs again: the
    handler given to connect() is already there (no NotSupported)."""
    answers: asyncio.Queue[Any] = asyncio.Queue()
    cs = ocppfast.CentralSystem(versions=["ocpp2.0.1"], ping_interval=0)

    @cs.on_connect
    async def right_away(cp: ocppfast.ChargePoint) -> None:
        await answers.put(
            await cp.call(v201.GetBaseReportRequest(request_id=1, report_base="FullInventory"))
        )  # type: ignore[arg-type]

    await cs.start("127.0.0.1", 0)
    try:

        def report(req: v201.GetBaseReportRequest) -> v201.GetBaseReportResponse:
            return v201.GetBaseReportResponse(status=v201.GenericDeviceModelStatusEnumType.accepted)

        cp = await ocppfast.connect(
            f"ws://127.0.0.1:{cs.port}",
            "FIRST",
            versions=["ocpp2.0.1"],
            handlers={"GetBaseReport": report},
        )
        answer = await asyncio.wait_for(answers.get(), 5)
        assert isinstance(answer, v201.GetBaseReportResponse) and answer.status == "Accepted"
        await cp.close()
    finally:
        await cs.close()


async def test_wait_for_a_station() -> None:
    cs = ocppfast.CentralSystem(versions=["ocpp1.6"], ping_interval=0)
    await cs.start("127.0.0.1", 0)
    try:
        url = f"ws://127.0.0.1:{cs.port}"
        with pytest.raises(TimeoutError, match="'LATE' did not connect within 0.2 s"):
            await cs.wait_for("LATE", 0.2)
        assert not cs._arrivals  # nothing left behind
        waiting = [asyncio.create_task(cs.wait_for("LATE", 5)) for _ in range(2)]
        await asyncio.sleep(0.05)
        cp = await ocppfast.connect(url, "LATE", versions=["ocpp1.6"])
        first, second = await asyncio.gather(*waiting)
        assert first is second is cs.charge_points["LATE"]
        assert first.identity == "LATE"
        assert await cs.wait_for("LATE", 0) is first  # already connected: at once
        await cp.close()
        await first.wait_closed()
        with pytest.raises(TimeoutError):
            await cs.wait_for("LATE", 0.1)
    finally:
        await cs.close()


async def test_on_connect_and_on_disconnect_as_decorators() -> None:
    events: list[tuple[str, str]] = []
    gone = asyncio.Event()
    cs = ocppfast.CentralSystem(versions=["ocpp1.6"], ping_interval=0)

    @cs.on_connect
    def hello(cp: ocppfast.ChargePoint) -> None:
        events.append(("connect", cp.identity))

    @cs.on_disconnect
    async def bye(cp: ocppfast.ChargePoint) -> None:
        events.append(("disconnect", cp.identity))
        gone.set()

    assert hello.__name__ == "hello" and bye.__name__ == "bye"  # the functions themselves
    await cs.start("127.0.0.1", 0)
    try:
        cp = await ocppfast.connect(f"ws://127.0.0.1:{cs.port}", "DECO", versions=["ocpp1.6"])
        await cs.wait_for("DECO", 5)
        await cp.close()
        await asyncio.wait_for(gone.wait(), 5)
        assert events == [("connect", "DECO"), ("disconnect", "DECO")]
        # assignment still works, and replaces the hook
        cs.on_connect = lambda cp: events.append(("assigned", cp.identity))
        cp = await ocppfast.connect(f"ws://127.0.0.1:{cs.port}", "DECO2", versions=["ocpp1.6"])
        await cs.wait_for("DECO2", 5)
        assert ("assigned", "DECO2") in events and ("connect", "DECO2") not in events
        await cp.close()
    finally:
        await cs.close()
