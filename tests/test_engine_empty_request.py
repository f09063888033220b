"""A request type without fields (Heartbeat's): the fast path hands every ``{}`` the one instance
made when the plan was (``_empty_request``) instead of decoding ``{}`` again. It must answer
exactly as the general path does, in both builds, and be taken only where no handler could tell:

- the instance equals a decoded one and has no state to change (setting an attribute fails);
- any other payload (``{ }``, an unknown field, a non-object) is decoded and refused as before;
- a type whose decoding runs ``__post_init__`` or whose instances have a ``__dict__`` (Struct
  ``dict=True``) is decoded on every call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from ocppfast import versions
from ocppfast.actions import make_action
from ocppfast.charge_point import ChargePoint
from ocppfast.v16 import HeartbeatRequest

from .conftest import CollectingTransport

V16 = versions.OCPP16
NOW = "2026-11-26T00:00:00Z"


class Ping(msgspec.Struct, forbid_unknown_fields=True):
    pass


class Pong(msgspec.Struct):
    pass


POST_INITS: list[Any] = []


class PingCounted(msgspec.Struct, forbid_unknown_fields=True):
    def __post_init__(self) -> None:
        POST_INITS.append(self)


class PingWithDict(msgspec.Struct, forbid_unknown_fields=True, dict=True):
    pass


def _actions() -> dict[str, Any]:
    actions = dict(versions.actions(V16))
    for name, request in (("Ping", Ping), ("PingCounted", PingCounted), ("PingDict", PingWithDict)):
        actions[name] = make_action(name, request, Pong, "both")
    return actions


def _station(loop: Any, fast: bool, seen: list[Any]) -> tuple[ChargePoint, CollectingTransport]:
    cp = ChargePoint(loop, V16, _actions(), max_unanswered_calls=0)
    cp.fast_path = fast

    def heartbeat(req: Any) -> Any:
        seen.append(req)
        return {"currentTime": NOW}

    def ping(req: Any) -> Any:
        seen.append(req)
        req.note = "x"  # a handler keeping state on the request: only a __dict__ takes it
        return {}

    cp.on("Heartbeat", heartbeat)
    for name in ("Ping", "PingCounted", "PingDict"):
        cp.on(name, ping)
    transport = CollectingTransport()
    cp.attach(transport)
    return cp, transport


FRAMES = [
    b'[2,"1","Heartbeat",{}]',
    b'[2,"2","Heartbeat",{}]',
    b'[2,"3","Heartbeat",{ }]',  # not compact: the general path
    b'[2,"4","Heartbeat",{"x":1}]',  # an unknown field: refused
    b'[2,"5","Heartbeat",{}] ',
    b'[2,"6","Heartbeat",[]]',
    b'[2,"7","Heartbeat",{}}]',
    b'[2,"8","Heartbeat",{"":{}}]',
    b'[2,"9","Ping",{}]',
    b'[2,"10","Ping",{"a":1}]',
    b'[2,"11","PingCounted",{}]',
    b'[2,"12","PingDict",{}]',
    b'[2,"13","PingDict",{}]',
    b'[2,"14","Heartbeat",{}]',
]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_answers_are_the_general_paths(loop: asyncio.AbstractEventLoop) -> None:
    runs = []
    for fast in (True, False):
        seen: list[Any] = []
        cp, out = _station(loop, fast, seen)
        for frame in FRAMES:
            cp.receive(frame)
        runs.append((out.sent, out.closed, seen))
    (fast_sent, fast_closed, fast_seen), (slow_sent, slow_closed, slow_seen) = runs
    assert fast_sent == slow_sent
    assert fast_closed is None and slow_closed is None
    replies = [msgspec.json.decode(b) for b in fast_sent]
    by_id = {r[1]: r for r in replies}
    assert by_id["1"] == [3, "1", {"currentTime": NOW}]
    assert by_id["4"][0] == 4 and by_id["6"][0] == 4 and by_id["8"][0] == 4
    assert by_id["10"][0] == 4
    # Ping's handler sets an attribute: a field-less Struct without __dict__ refuses it
    # (an InternalError answer on both paths), PingDict's takes it.
    assert by_id["9"][0] == 4 and by_id["9"][2] == "InternalError"
    assert by_id["12"] == [3, "12", {}] and by_id["13"] == [3, "13", {}]
    assert [type(r) for r in fast_seen] == [type(r) for r in slow_seen]


def test_the_shared_instance_is_a_decoded_one_and_cannot_change(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[Any] = []
    cp, out = _station(loop, True, seen)
    for k in range(3):
        cp.receive(b'[2,"%d","Heartbeat",{}]' % k)
    assert len(out.sent) == 3
    assert all(type(r) is HeartbeatRequest for r in seen)
    assert seen[0] == msgspec.json.decode(b"{}", type=HeartbeatRequest)
    # the fast path's shortcut was taken: one instance for every {}
    assert seen[0] is seen[1] is seen[2]
    with pytest.raises(AttributeError):
        seen[0].note = "x"  # type: ignore[attr-defined]
    assert not hasattr(seen[0], "__dict__")


def test_post_init_and_dict_types_are_decoded_every_time(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[Any] = []
    cp, out = _station(loop, True, seen)
    POST_INITS.clear()
    for k in range(3):
        cp.receive(b'[2,"c%d","PingCounted",{}]' % k)
    assert len(POST_INITS) == 3 and len({id(p) for p in POST_INITS}) == 3
    seen.clear()
    for k in range(2):
        cp.receive(b'[2,"d%d","PingDict",{}]' % k)
    assert len(seen) == 2 and seen[0] is not seen[1]
    assert seen[0].note == "x" and seen[1].note == "x"
    assert [msgspec.json.decode(b)[0] for b in out.sent[-2:]] == [3, 3]
