"""``ocppfast._compat_fast``: the per-frame path of ``ocppfast.compat`` on ocppfast's connection.

Compiled (``ocppfast._compat_fast_c``) or pure (``OCPPFAST_NO_EXTENSIONS=1``), whichever is
loaded; run the file in both modes. The differential tests serve the same class twice over real
loopback connections, once on the flat path of ``Sink`` and once with a dispatch step overridden
(the general coroutine path), and compare wire frames, log lines and what the handlers saw
(helpers from ``test_compat_fastpath``). Here: what the compiled module added to that path, i.e.
the per-type caches of validated request and answer payloads, the logger check that skips
``logger.info`` when it would log nothing, ``@after(..., inject_response=True)``, and the
compiled ``on_ws_frame``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import ocppfast
import ocppfast.compat
from ocppfast import _compat_fast as pure_fast
from ocppfast.compat import charge_point as cp_module
from ocppfast.compat.routing import after, on
from ocppfast.compat.v16 import ChargePoint as ChargePoint16
from ocppfast.compat.v16 import call_result as result16

from .test_compat_fastpath import (
    CP16,
    V16_BAD,
    V16_DATA,
    V16_VALID,
    Recorder,
    assert_same,
    both,
    general,
    run,
)


class _Context:
    def run(self, fn: Any, *args: Any) -> Any:
        return fn(*args)


def test_the_compiled_module_is_loaded_with_the_compiled_engine() -> None:
    fast = cp_module._fast
    if ocppfast.implementation == "cython":
        assert fast.__name__ == "ocppfast._compat_fast_c"
        # a cdef class (no instance dict), not the pure source's class
        assert not hasattr(fast.Sink(_Context(), None, _Context(), True), "__dict__")
    else:
        assert fast is pure_fast


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"chargePointVendor": "V", "ocppCSMSURL": "u", "evMinV2XEnergyRequest": 1},
        {"meterValue": [{"sampledValue": [{"measurand": "SoC", "unitOfMeasure": {"aB": None}}]}]},
        {"a": [[{"deepKey": 1}], "x", 2.5, None, True]},
        {"HTTPServer": {"signV2GCertificate": [{"fullSoC": 1}]}},
    ],
)
def test_snake_conversion_matches_the_pure_source(data: dict[str, Any]) -> None:
    # the loaded module (compiled or not) against the pure source, and both against
    # mobilityhouse's public function as the compat layer exports it
    assert cp_module._fast.snake_dict(data) == pure_fast.snake_dict(data)
    assert cp_module.camel_to_snake_case(data) == pure_fast.snake_dict(data)
    assert cp_module.camel_to_snake_case([data, 1]) == [pure_fast.snake_dict(data), 1]


def test_snake_conversion_of_dict_and_list_subclasses() -> None:
    class D(dict):  # type: ignore[type-arg]
        pass

    class L(list):  # type: ignore[type-arg]
        pass

    data = D(someKey=L([D(innerKey=1)]))
    assert cp_module.camel_to_snake_case(data) == {"some_key": [{"inner_key": 1}]}


async def test_same_on_both_paths_with_the_ocpp_logger_at_warning() -> None:
    # logger.info is skipped on the flat path when it would log nothing: the lines that are
    # logged (handler errors, validation failures) and everything sent stay the same
    frames = V16_VALID * 2 + V16_DATA + V16_BAD + V16_VALID
    fast, slow = await both(CP16, frames, logging.WARNING)
    assert_same(fast, slow)
    assert any(fast["inline"])
    assert fast["lines"] and all(level != "INFO" for level, _ in fast["lines"])


class CacheCP(ChargePoint16):
    """Answers that repeat, then change type or validity: the per-type cache of validated
    payloads must never let a different payload through unchecked."""

    rec: Recorder

    @on("StatusNotification")
    def fc_status(self, connector_id: Any, **kw: Any) -> Any:
        self.rec.saw("status", connector_id, kw)
        return result16.StatusNotification()

    @on("BootNotification")
    def fc_boot(self, charge_point_vendor: str, **kw: Any) -> Any:
        self.rec.saw("boot", charge_point_vendor)
        interval: Any = {"int": 300, "bool": True, "float": 300.0, "str": "300", "big": 2**40}
        return result16.BootNotification(
            current_time="2026-01-01T00:00:00Z",
            interval=interval.get(charge_point_vendor, 300),
            status="Rejected" if charge_point_vendor == "rejected" else "Accepted",
        )

    @on("Heartbeat")  # also answers the markers run() sends after each frame
    def fc_heartbeat(self) -> Any:
        return result16.Heartbeat(current_time="2026-01-01T00:00:00Z")

    @on("Authorize")
    def fc_authorize(self, id_tag: str) -> Any:
        self.rec.saw("authorize", id_tag)
        status = "Accepted" if id_tag != "bad" else "Whatever"
        return result16.Authorize(id_tag_info={"status": status})


def _status(connector: str, error: str = "NoError") -> str:
    return (
        f'[2,"s-{connector}-{error}","StatusNotification",{{"connectorId":{connector},'
        f'"errorCode":"{error}","status":"Available"}}]'
    )


def _boot(vendor: str) -> str:
    payload = f'{{"chargePointVendor":"{vendor}","chargePointModel":"M"}}'
    return f'[2,"b-{vendor}","BootNotification",{payload}]'


CACHE_FRAMES = [
    # the same valid request twice (the second one from the cache), then ones equal in
    # Python but not in JSON types (1 == 1.0 == true), then invalid ones
    _status("1"),
    _status("1"),
    _status("1.0"),
    _status("true"),
    _status('"1"'),
    _status("1"),
    _status("1", "Nope"),
    _status("-1"),
    _status("1"),
    # the same valid answer repeated, then answers equal in Python but of other types
    _boot("int"),
    _boot("int"),
    _boot("bool"),
    _boot("float"),
    _boot("str"),
    _boot("big"),
    _boot("int"),
    _boot("rejected"),
    _boot("int"),
    # nested answers (never cached): a valid one, an invalid one, the valid one again
    '[2,"a1","Authorize",{"idTag":"ok"}]',
    '[2,"a2","Authorize",{"idTag":"bad"}]',
    '[2,"a3","Authorize",{"idTag":"ok"}]',
    '[2,"h1","Heartbeat",{}]',
    '[2,"h2","Heartbeat",{"x":1}]',
    '[2,"h3","Heartbeat",{}]',
]


async def test_validated_payload_caches_agree_with_the_general_path() -> None:
    fast, slow = await both(CacheCP, CACHE_FRAMES)
    assert_same(fast, slow)
    assert any(fast["inline"])
    replies = [r for rs in fast["replies"] for r in rs]
    # the cases that must differ from the cached valid one were checked, not waved through
    assert any(r.startswith('[4,"s-1.0-NoError"') for r in replies)
    assert any(r.startswith('[4,"s-true-NoError"') for r in replies)
    assert any(r.startswith('[4,"b-str"') for r in replies)
    assert any(r.startswith('[4,"b-bool"') for r in replies)
    assert any(r.startswith('[4,"a2"') for r in replies)
    assert '[3,"s-1-NoError",{}]' in replies
    assert '[3,"a3",{"idTagInfo":{"status":"Accepted"}}]' in replies


class InjectCP(ChargePoint16):
    rec: Recorder

    @on("Heartbeat")
    def fi_heartbeat(self) -> Any:
        return result16.Heartbeat(current_time="2026-01-01T00:00:00Z")

    @after("Heartbeat", inject_response=True)
    def fi_after_heartbeat(self, call_response: Any, call_unique_id: Any) -> None:
        self.rec.saw("after-heartbeat", call_unique_id, call_response)

    @on("StatusNotification")
    def fi_status(self, **kw: Any) -> Any:
        return result16.StatusNotification()

    @after("StatusNotification", inject_response=True)
    async def fi_after_status(self, call_response: Any, **kw: Any) -> None:
        call_response["mutated"] = True  # the hook's own copy: the next answers are unchanged
        self.rec.saw("after-status", kw.get("connector_id"), dict(call_response))

    @on("Authorize")
    def fi_authorize(self, id_tag: str) -> Any:
        return result16.Authorize(id_tag_info={"status": "Accepted", "parentIdTag": None})

    @after("Authorize")  # no inject_response: no call_response keyword
    def fi_after_authorize(self, **kw: Any) -> None:
        self.rec.saw("after-authorize", sorted(kw))


async def test_after_inject_response_on_both_paths() -> None:
    frames = [
        '[2,"h1","Heartbeat",{}]',
        _status("1"),
        _status("1"),
        '[2,"a1","Authorize",{"idTag":"T"}]',
        '[2,"h2","Heartbeat",{}]',
    ]
    fast, slow = await both(InjectCP, frames)
    assert_same(fast, slow)
    assert ("after-heartbeat", "h1", {"currentTime": "2026-01-01T00:00:00Z"}) in fast["events"]
    assert fast["events"].count(("after-status", 1, {"mutated": True})) == 2
    assert ("after-authorize", ["id_tag"]) in fast["events"]
    assert '[3,"s-1-NoError",{}]' in [r for rs in fast["replies"] for r in rs]


class PatchedInfoCP(ChargePoint16):
    rec: Recorder

    @on("Heartbeat")
    def fp_heartbeat(self) -> Any:
        self.rec.saw("heartbeat")
        return result16.Heartbeat(current_time="2026-01-01T00:00:00Z")


async def test_logger_info_patched_on_the_instance_is_still_called() -> None:
    # the logger is at WARNING (info would log nothing), but info itself is replaced on the
    # instance (as mock.patch.object does): the flat path must call it as the general one does
    logger = logging.getLogger("ocpp")
    seen: list[tuple[Any, ...]] = []

    def info(msg: str, *args: Any) -> None:
        seen.append((msg, *args))

    logger.info = info  # type: ignore[method-assign]
    try:
        frames = ['[2,"h1","Heartbeat",{}]', '[2,"h2","Heartbeat",{}]']
        fast = await run(PatchedInfoCP, frames, logging.WARNING)
        fast_seen, seen[:] = list(seen), []
        slow = await run(general(PatchedInfoCP), frames, logging.WARNING)
    finally:
        del logger.info
    assert fast_seen == seen
    assert ("%s: send %s", "CP-1", '[3,"h1",{"currentTime":"2026-01-01T00:00:00Z"}]') in fast_seen
    assert any(fast["inline"]) and not any(slow["inline"])


async def test_the_connection_gets_its_frame_callback_back_when_start_ends() -> None:
    # start() has the connection's listener give frames to its sink (compiled: a C attribute
    # read by FrameListener.on_ws_frame; pure: the sink's on_frame in the instance dict) and
    # takes that back when it ends
    from ocppfast.compat.serve import WebSocketConnection

    conn = WebSocketConnection()

    class Drop:
        def send(self, msg_type: int, data: Any) -> None:
            pass

    conn.transport = Drop()
    cp = PatchedInfoCP("CP-1", conn)
    cp.rec = Recorder()

    task = asyncio.ensure_future(cp.start())
    await asyncio.sleep(0)
    sink = conn.frame_sink
    assert sink is not None and sink.cp is cp
    assert ("on_ws_frame" in conn.__dict__) is (cp_module._fast is pure_fast)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert conn.frame_sink is None
    assert "on_ws_frame" not in conn.__dict__
