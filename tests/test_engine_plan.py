"""The per-action plan an engine keeps (``_engine._Plan``: the action, its handler, the bound
request decoder, the response type, looked up once for the last action dispatched) never
answers with stale state: after a handler is replaced or removed, a shared table changes, or
the action registry changes, the next CALL is handled as a fresh engine would handle it.

Every scenario runs on an engine with ``fast_path`` on and one with it off (compiled, the first
takes the byte-scan path, which keeps the plan; pure, both take the general path, which keeps
it too); their answers are compared byte for byte, and with the answer expected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ocppfast import engine, versions
from ocppfast.actions import make_custom_action
from ocppfast.charge_point import ChargePoint
from ocppfast.v16 import DataTransferResponse

from .conftest import CollectingTransport, attached_station

NOW = "2026-11-26T00:00:00.123Z"
HEARTBEAT = b'[2,"h1","Heartbeat",{}]'
DATA = b'[2,"d1","DataTransfer",{"vendorId":"V","data":"x"}]'


def _pair(
    setup: Callable[[ChargePoint, dict[str, Any]], None], **options: Any
) -> list[tuple[ChargePoint, CollectingTransport, dict[str, Any], asyncio.AbstractEventLoop]]:
    out = []
    for fast in (True, False):
        loop = asyncio.new_event_loop()
        shared: dict[str, Any] = {}
        cp, transport = attached_station(loop, shared, fast=fast, **options)
        setup(cp, shared)
        out.append((cp, transport, shared, loop))
    return out


def _run(
    pair: list[Any], steps: list[bytes | Callable[[ChargePoint, dict[str, Any]], None]]
) -> list[bytes]:
    """Feed ``steps`` (frames, or changes made between frames) to both engines; their answers,
    which must be the same bytes."""
    try:
        for step in steps:
            for cp, _, shared, _ in pair:
                if isinstance(step, bytes):
                    cp.receive(step)
                else:
                    step(cp, shared)
        (_, fast, _, _), (_, slow, _, _) = pair
        assert fast.sent == slow.sent
        return list(fast.sent)
    finally:
        for _, _, _, loop in pair:
            loop.close()


def _own(status: str) -> Callable[[ChargePoint, dict[str, Any]], None]:
    return lambda cp, shared: cp.set_handler(
        "DataTransfer", lambda req: {"status": status, "data": req.data}
    )


def test_replaced_handler_answers_the_next_call() -> None:
    pair = _pair(_own("Accepted"))
    sent = _run(pair, [DATA, _own("Rejected"), DATA, DATA])
    assert sent == [
        b'[3,"d1",{"status":"Accepted","data":"x"}]',
        b'[3,"d1",{"status":"Rejected","data":"x"}]',
        b'[3,"d1",{"status":"Rejected","data":"x"}]',
    ]


def test_charge_point_on_replaces_too() -> None:
    pair = _pair(_own("Accepted"))
    sent = _run(
        pair,
        [DATA, lambda cp, shared: cp.on("DataTransfer", lambda req: {"status": "UnknownVendorId"})]
        + [DATA],
    )
    assert sent[1] == b'[3,"d1",{"status":"UnknownVendorId"}]'


def test_removed_own_handler_falls_back_to_the_shared_one_then_to_none() -> None:
    def shared_handler(cp: Any, req: Any) -> dict[str, Any]:
        return {"status": "UnknownMessageId"}

    def setup(cp: ChargePoint, shared: dict[str, Any]) -> None:
        _own("Accepted")(cp, shared)
        shared["DataTransfer"] = shared_handler

    def drop_shared(cp: ChargePoint, shared: dict[str, Any]) -> None:
        del shared["DataTransfer"]
        engine.handlers_changed()  # what CentralSystem.on does after changing its table

    sent = _run(
        _pair(setup),
        [DATA, lambda cp, shared: cp.set_handler("DataTransfer", None), DATA, drop_shared, DATA],
    )
    assert sent[0] == b'[3,"d1",{"status":"Accepted","data":"x"}]'
    assert sent[1] == b'[3,"d1",{"status":"UnknownMessageId"}]'
    assert sent[2].startswith(b'[4,"d1","NotSupported"')


def test_shared_table_change_reaches_engines_with_a_plan() -> None:
    def setup(cp: ChargePoint, shared: dict[str, Any]) -> None:
        shared["Heartbeat"] = lambda cp, req: {"currentTime": NOW}

    def replace(cp: ChargePoint, shared: dict[str, Any]) -> None:
        shared["Heartbeat"] = lambda cp, req: {"currentTime": "2026-01-01T00:00:00Z"}
        engine.handlers_changed()

    sent = _run(_pair(setup), [HEARTBEAT, replace, HEARTBEAT])
    assert sent == [
        b'[3,"h1",{"currentTime":"' + NOW.encode() + b'"}]',
        b'[3,"h1",{"currentTime":"2026-01-01T00:00:00Z"}]',
    ]


def test_registry_change_applies_to_the_next_call() -> None:
    # DataTransfer made a vendor action: its request is a dict from now on (no schema), and an
    # answer the schema would refuse goes out as the handler gave it.
    def setup(cp: ChargePoint, shared: dict[str, Any]) -> None:
        cp.set_handler(
            "DataTransfer",
            lambda req: {"seen": sorted(req)} if isinstance(req, dict) else {"status": "Accepted"},
        )

    def custom(cp: ChargePoint, shared: dict[str, Any]) -> None:
        cp.use_version(
            cp.subprotocol, {**cp.actions, "DataTransfer": make_custom_action("DataTransfer")}
        )

    sent = _run(_pair(setup), [DATA, custom, DATA])
    assert sent[0] == b'[3,"d1",{"status":"Accepted"}]'
    assert sent[1] == b'[3,"d1",{"seen":["data","vendorId"]}]'


def test_alternating_and_unhandled_actions() -> None:
    def setup(cp: ChargePoint, shared: dict[str, Any]) -> None:
        _own("Accepted")(cp, shared)
        cp.set_handler("Heartbeat", lambda req: {"currentTime": NOW})

    frames = [HEARTBEAT, DATA, HEARTBEAT, b'[2,"a1","Authorize",{"idTag":"T"}]', HEARTBEAT]
    frames += [b'[2,"u1","NoSuchAction",{}]', DATA]
    sent = _run(_pair(setup), list(frames))
    assert sent[3].startswith(b'[4,"a1","NotSupported"')
    assert sent[5].startswith(b'[4,"u1","NotImplemented"')
    assert sent[6] == sent[1] == b'[3,"d1",{"status":"Accepted","data":"x"}]'


def test_plan_does_not_skip_the_boot_check() -> None:
    boot = b'[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'

    def setup(cp: ChargePoint, shared: dict[str, Any]) -> None:
        cp.set_handler("Heartbeat", lambda req: {"currentTime": NOW})
        cp.set_handler(
            "BootNotification",
            lambda req: {"status": "Accepted", "currentTime": NOW, "interval": 5},
        )

    sent = _run(_pair(setup, require_boot=True), [HEARTBEAT, boot, HEARTBEAT, HEARTBEAT])
    assert sent[0].startswith(b'[4,"h1","SecurityError"')
    assert sent[1].startswith(b'[3,"b1",{"status":"Accepted"')
    assert sent[2] == sent[3] == b'[3,"h1",{"currentTime":"' + NOW.encode() + b'"}]'


def test_an_invalid_answer_after_a_valid_one_is_still_refused() -> None:
    # The last typed answer that passed its check is kept per response type (one cell shared
    # by the plans of every engine): a different answer is checked again.
    def answers() -> Any:
        return iter(DataTransferResponse(status=s) for s in ("Accepted", "Bogus", "Accepted"))

    pair = _pair(lambda cp, shared: None)
    for cp, _, _, _ in pair:
        it = answers()
        cp.set_handler("DataTransfer", lambda req, it=it: next(it))
    sent = _run(pair, [DATA, DATA, DATA])
    assert sent[0] == sent[2] == b'[3,"d1",{"status":"Accepted"}]'
    assert sent[1].startswith(b'[4,"d1","InternalError"')


def test_engines_share_plans_only_when_equally_valid() -> None:
    """Engines without handlers of their own (a server's stations) share one plan table per
    action registry and shared handler table (``_engine._plan_tables``); an engine with its
    own handler keeps its own plans: alternating actions on both never cross them."""
    impl = engine._impl
    loop = asyncio.new_event_loop()
    try:
        actions = versions.actions(versions.OCPP16)
        shared: dict[str, Any] = {
            "DataTransfer": lambda cp, req: {"status": "Rejected"},
            "Heartbeat": lambda cp, req: {"currentTime": NOW},
        }

        def station(fast: bool) -> tuple[ChargePoint, CollectingTransport]:
            return attached_station(loop, shared, fast=fast)  # type: ignore[no-any-return]

        plain = [station(True), station(False)]
        own = [station(True), station(False)]
        for cp, _ in own:
            _own("Accepted")(cp, shared)
        for _ in range(2):
            for frame in (DATA, HEARTBEAT):
                for cp, _ in plain + own:
                    cp.receive(frame)
        accepted = b'[3,"d1",{"status":"Accepted","data":"x"}]'
        rejected = b'[3,"d1",{"status":"Rejected"}]'
        beat = b'[3,"h1",{"currentTime":"' + NOW.encode() + b'"}]'
        for _, transport in plain:
            assert transport.sent == [rejected, beat, rejected, beat]
        for _, transport in own:
            assert transport.sent == [accepted, beat, accepted, beat]
        entry = impl._plan_tables[(id(actions), id(shared))]
        assert entry[0] is actions and entry[1] is shared
        assert sorted(entry[2]) == ["DataTransfer", "Heartbeat"]  # the plain stations' plans
        assert all(plan.shared for plan in entry[2].values())
        # the own handler goes: that engine's next DataTransfer is the shared handler's
        for cp, transport in own:
            cp.set_handler("DataTransfer", None)
            transport.sent.clear()
            cp.receive(DATA)
            cp.receive(HEARTBEAT)
            assert transport.sent == [rejected, beat]
    finally:
        loop.close()
