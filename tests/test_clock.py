"""``ocppfast.now()``: a valid OCPP date-time, the current time, cached per millisecond."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import msgspec

import ocppfast
from ocppfast import clock
from ocppfast.v16 import HeartbeatResponse
from ocppfast.v201 import HeartbeatResponse as HeartbeatResponse201


def test_now_is_accepted_by_every_generated_date_time_check() -> None:
    stamp = ocppfast.now()
    for cls in (HeartbeatResponse, HeartbeatResponse201):
        body = msgspec.json.encode(cls(current_time=stamp))
        assert msgspec.json.decode(body, type=cls).current_time == stamp


def test_now_is_the_current_utc_time() -> None:
    before = datetime.now(UTC)
    stamp = ocppfast.now()
    after = datetime.now(UTC)
    parsed = datetime.fromisoformat(stamp)
    assert stamp.endswith("Z") and len(stamp) == len("2026-01-01T00:00:00.000Z")
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= parsed <= after


def test_now_crosses_seconds_and_milliseconds(monkeypatch: object) -> None:
    ticks = iter([1_700_000_000.9994, 1_700_000_000.9996, 1_700_000_001.0001, 1_700_000_001.0002])
    # the implementation in use (compiled _datetime_c or pure _datetime) reads the module global
    monkeypatch.setattr(clock.IMPL, "_time", lambda: next(ticks))  # type: ignore[attr-defined]
    clock.IMPL.reset()
    assert clock.now() == "2023-11-14T22:13:20.999Z"
    assert clock.now() == "2023-11-14T22:13:20.999Z"  # same millisecond: the cached string
    assert clock.now() == "2023-11-14T22:13:21.000Z"  # next second: the date part is redone
    assert clock.now() == "2023-11-14T22:13:21.000Z"
    monkeypatch.undo()  # type: ignore[attr-defined]
    clock.IMPL.reset()
    assert abs(datetime.fromisoformat(clock.now()).timestamp() - time.time()) < 5
