"""Shared fixtures: uvloop for every async test, a byte-collecting transport for the engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import uvloop

import ocppfast

SLOW = os.environ.get("OCPPFAST_SLOW", "") not in ("", "0")


def pytest_report_header(config: Any) -> str:
    return f"ocppfast implementation: {ocppfast.implementation}"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if SLOW:
        return
    skip = pytest.mark.skip(reason="slow: set OCPPFAST_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _debug_uvloop() -> Any:
    loop = uvloop.new_event_loop()
    # asyncio's debug mode for the whole suite (issue 12, task hygiene): a coroutine never
    # awaited, a callback from a closed loop or a non-threadsafe call is reported; with
    # pyproject's filterwarnings = error an unclosed transport or socket fails the test.
    loop.set_debug(True)
    return loop


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Any]:
    """Every async test runs on uvloop, as production does, in debug mode."""
    return {"uvloop": _debug_uvloop}


class CollectingTransport:
    """Stands in for picows' WSTransport: records what the engine sends."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed: tuple[int, bytes] | None = None
        self.disconnected = False

    def send(self, msg_type: int, data: bytes) -> None:
        assert msg_type == 1  # TEXT
        self.sent.append(data)

    def send_close(self, code: int = 1000, reason: bytes = b"") -> None:
        self.closed = (int(code), reason)

    def disconnect(self, graceful: bool = True) -> None:
        self.disconnected = True

    def pop(self) -> Any:
        """The last frame sent, decoded as JSON."""
        return msgspec.json.decode(self.sent.pop())


@pytest.fixture
def transport() -> CollectingTransport:
    return CollectingTransport()


def attached_station(
    loop: Any, shared: dict[str, Any], *, fast: bool = True, **options: Any
) -> tuple[Any, CollectingTransport]:
    """An OCPP 1.6 engine (a ChargePoint) as a server makes one, with the server-wide handler
    table ``shared``, strict limits (no bad message, no second unanswered CALL tolerated),
    ``fast_path`` as given, attached to a :class:`CollectingTransport`."""
    from ocppfast import versions
    from ocppfast.charge_point import ChargePoint

    options = {"max_bad_messages": 0, "max_unanswered_calls": 0, **options}
    cp = ChargePoint(
        loop,
        versions.OCPP16,
        versions.actions(versions.OCPP16),
        shared_handlers=shared,
        **options,
    )
    cp.fast_path = fast
    sent = CollectingTransport()
    cp.attach(sent)
    return cp, sent


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """now() reads the time from this list's last item."""
    from ocppfast import clock

    at = [1_790_000_000.0]
    monkeypatch.setattr(clock.IMPL, "_time", lambda: at[-1])
    clock.IMPL.reset()
    yield at
    clock.IMPL.reset()
