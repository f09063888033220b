"""ocppfast.compat's connection as picows' listener, and the per-action plans of the flat path.

Real loopback connections (``compat.serve`` / ``compat.connect``), the ChargePoint classes of
``tests/compat/test_compat_fastpath.py``. What is checked:

- the connection class is a picows ``WSListener`` whose ``on_ws_frame`` hands frames to the
  running ``start()``'s sink (compiled: a C call), and a subclass overriding ``on_ws_frame``
  (calling ``super()``) gets the very same answers, through the general path;
- a dispatch step patched on the class (the ChargePoint subclass or the base, as
  ``mock.patch.object`` does) while ``start()`` runs turns the inline path off for the frames
  that follow, and on again once restored (compiled, the class check is a version tag);
- the per-action plan follows a handler replaced in ``route_map`` and ``_ocpp_version`` set on
  the instance after frames were routed;
- with INFO off, ``Logger.info`` patched on the ``logging.Logger`` class is still called for
  every line, as the general path calls it.
"""

from __future__ import annotations

import logging
from typing import Any
from unittest import mock

import picows
import pytest

from ocppfast.compat import charge_point as cp_module
from ocppfast.compat.serve import WebSocketConnection, _ServerConnection
from ocppfast.compat.v16 import call_result as result16
from tests.compat.test_compat_fastpath import CP16, Exchange, session


async def _heartbeats(ws: Any, first: int, last: int) -> list[str]:
    out = []
    for i in range(first, last + 1):
        await ws.send(f'[2,"{i}","Heartbeat",{{}}]')
        out.append(await ws.recv())
    return out


def test_the_connection_is_a_picows_listener() -> None:
    assert issubclass(WebSocketConnection, picows.WSListener)
    # it does not override the listener's on_ws_frame: picows reaches the base's (compiled, C)
    assert WebSocketConnection.on_ws_frame is cp_module._fast.FrameListener.on_ws_frame


async def test_a_connection_overriding_on_ws_frame_gets_the_same_answers() -> None:
    seen: list[int] = []

    class Counting(_ServerConnection):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            seen.append(int(frame.msg_type))
            super().on_ws_frame(transport, frame)

    replies: dict[str, list[str]] = {}

    async def exchange(key: str) -> Exchange:
        async def run(ws: Any, cps: Any) -> None:
            replies[key] = await _heartbeats(ws, 1, 3)

        return run

    plain = await session(CP16, await exchange("plain"))
    counted = await session(CP16, await exchange("counted"), Counting)
    assert (
        replies["plain"]
        == replies["counted"]
        == [f'[3,"{i}",{{"currentTime":"T{i}"}}]' for i in (1, 2, 3)]
    )
    assert seen[:3] == [1, 1, 1]  # every TEXT frame went through the override
    # routed from picows' callback either way: through the listener's sink (plain), or the
    # override's super() -> the connection's own delivery -> the same sink (counted)
    assert plain.rec.inline == counted.rec.inline == [True, True, True]


@pytest.mark.parametrize("where", ["subclass", "base"])
async def test_a_step_patched_on_the_class_while_running_turns_the_inline_path_off(
    where: str,
) -> None:
    owner = CP16 if where == "subclass" else cp_module.ChargePoint
    sent: list[str] = []
    original = cp_module.ChargePoint._send

    async def spy(self: Any, message: str) -> None:
        sent.append(message)
        await original(self, message)

    async def exchange(ws: Any, cps: Any) -> None:
        assert await _heartbeats(ws, 1, 2) == [
            '[3,"1",{"currentTime":"T1"}]',
            '[3,"2",{"currentTime":"T2"}]',
        ]
        with mock.patch.object(owner, "_send", spy):
            assert await _heartbeats(ws, 3, 4) == [
                '[3,"3",{"currentTime":"T3"}]',
                '[3,"4",{"currentTime":"T4"}]',
            ]
        assert await _heartbeats(ws, 5, 5) == ['[3,"5",{"currentTime":"T5"}]']

    cp = await session(CP16, exchange)
    assert sent == ['[3,"3",{"currentTime":"T3"}]', '[3,"4",{"currentTime":"T4"}]']
    assert cp.rec.inline == [True, True, False, False, True]


class Swapped(CP16):
    """CP16 with a second Heartbeat handler to swap in."""

    def other_heartbeat(self, call_unique_id: Any) -> Any:
        self.rec.saw("other", call_unique_id)
        return result16.Heartbeat(current_time=f"O{call_unique_id}")


async def test_the_plan_follows_a_handler_replaced_in_the_route_map() -> None:
    async def exchange(ws: Any, cps: Any) -> None:
        assert await _heartbeats(ws, 1, 2) == [
            '[3,"1",{"currentTime":"T1"}]',
            '[3,"2",{"currentTime":"T2"}]',
        ]
        cp = cps[0]
        cp.route_map["Heartbeat"]["_on_action"] = cp.other_heartbeat
        assert await _heartbeats(ws, 3, 3) == ['[3,"3",{"currentTime":"O3"}]']
        cp.route_map["Heartbeat"]["_on_action"] = cp.fp_heartbeat
        assert await _heartbeats(ws, 4, 4) == ['[3,"4",{"currentTime":"T4"}]']

    cp = await session(Swapped, exchange)
    assert [e[0] for e in cp.rec.events] == ["heartbeat", "heartbeat", "other", "heartbeat"]
    assert cp.rec.inline == [True, True, True, True]


async def test_the_plan_follows_the_version_set_on_the_instance() -> None:
    # Heartbeat answers of 1.6 and 2.0.1 look alike; a 2.1 one takes the general path. The
    # answers stay right whichever version the instance says, set between frames.
    async def exchange(ws: Any, cps: Any) -> None:
        cp = cps[0]
        assert await _heartbeats(ws, 1, 1) == ['[3,"1",{"currentTime":"T1"}]']
        cp._ocpp_version = "2.1"
        assert await _heartbeats(ws, 2, 2) == ['[3,"2",{"currentTime":"T2"}]']
        cp._ocpp_version = str(1.6)  # equal to the class attribute, not the same object
        assert await _heartbeats(ws, 3, 3) == ['[3,"3",{"currentTime":"T3"}]']

    cp = await session(CP16, exchange)
    assert [e[:2] for e in cp.rec.events] == [
        ("heartbeat", "1"),
        ("heartbeat", "2"),
        ("heartbeat", "3"),
    ]


async def test_logger_methods_patched_on_the_logger_class_are_still_called() -> None:
    # With the ocpp logger at WARNING the flat path skips logger.info(...) only while it would
    # surely do nothing: a Logger.info patched on the class (as mock.patch.object does) is
    # called for every line, as the general path calls it.
    calls: list[str] = []
    real = logging.Logger.info

    def spy(self: logging.Logger, msg: str, *args: Any, **kwargs: Any) -> None:
        if self.name == "ocpp":
            calls.append(msg % args)
        real(self, msg, *args, **kwargs)

    async def exchange(ws: Any, cps: Any) -> None:
        assert await _heartbeats(ws, 1, 1) == ['[3,"1",{"currentTime":"T1"}]']
        with mock.patch.object(logging.Logger, "info", spy):
            assert await _heartbeats(ws, 2, 2) == ['[3,"2",{"currentTime":"T2"}]']
        assert await _heartbeats(ws, 3, 3) == ['[3,"3",{"currentTime":"T3"}]']

    logger = logging.getLogger("ocpp")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        cp = await session(CP16, exchange)
    finally:
        logger.setLevel(level)
    assert calls == [
        'CP-1: receive message [2,"2","Heartbeat",{}]',
        'CP-1: send [3,"2",{"currentTime":"T2"}]',
    ]
    assert cp.rec.inline == [True, True, True]
