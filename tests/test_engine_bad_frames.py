"""The bad-frame corpus of ``tests/test_wire.py`` through the path the engine takes.

``wire.decode_frame`` and ``Engine.receive`` share one decoder (the msgspec envelope decoder,
``wire.classify`` for what it refuses, ``wire.version_error`` for 2.1-only types); this checks
that the engine answers each bad frame exactly as ``decode_frame`` classifies it: the same
CALLERROR bytes when a reply is due, nothing written when the spec says to ignore it, with the
fast path on and off (in both builds: run plain and with OCPPFAST_NO_EXTENSIONS=1).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import msgspec
import pytest

from ocppfast import versions, wire
from ocppfast.charge_point import ChargePoint

from .conftest import CollectingTransport
from .test_wire import ALL, BAD


def _refused(data: bytes, version: str) -> wire.FrameError | None:
    try:
        wire.decode_frame(data, version)
    except wire.FrameError as exc:
        return exc
    return None


# Frames of the corpus whose envelope decode_frame refuses for that version (the others have a
# fine envelope: their payload is checked later, in tests/test_engine.py).
REFUSED = [
    pytest.param(*case.values, version, id=f"{case.id}-{version}")
    for case in BAD
    for version in ALL
    if _refused(cast(bytes, case.values[0]), version) is not None
]


def test_the_corpus_has_refused_frames_for_every_version() -> None:
    assert {p.values[2] for p in REFUSED} == set(ALL)


@pytest.mark.parametrize("fast", [False, True], ids=["general", "fast"])
@pytest.mark.parametrize("data, expect, version", REFUSED)
def test_engine_answers_bad_frames_as_decode_frame_classifies_them(
    data: bytes, expect: dict[str, tuple[str, str, bool]], version: str, fast: bool
) -> None:
    error = _refused(data, version)
    assert error is not None
    loop = asyncio.new_event_loop()
    try:
        handlers: dict[str, Any] = {"Heartbeat": lambda cp, req: {"currentTime": "x"}}
        cp = ChargePoint(loop, version, versions.actions(version), shared_handlers=handlers)
        cp.fast_path = fast
        transport = CollectingTransport()
        cp.attach(transport)
        cp.receive(data)
    finally:
        loop.close()
    code, uid, reply = expect[version]
    if reply:
        assert transport.sent == [wire.encode_error(error, version)]
        answer = msgspec.json.decode(transport.sent[0])
        assert (answer[0], answer[1], answer[2]) == (4, uid, code)
    else:
        assert transport.sent == []
    assert (error.error.wire_code(version), error.unique_id, error.reply) == (code, uid, reply)
