"""What the flat path of ``ocppfast._compat_fast.Sink`` keeps between CALLs, and that every
change a handler makes between two CALLs is seen at the next one.

Compiled, the flat path reads a compact CALL's envelope in place and skips decoding a payload
whose text is the last one of its action that passed (``Plan.text``); it keeps the route map's
entry of an action while the route map and the entry keep their version tags, ``logger``,
``route_map`` and ``_ocpp_version`` while the instance dict keeps its tag, and the answer that
nothing user code may patch is patched while the two module namespaces keep theirs. Each frame
below is served over real loopback connections on the flat path and on the general path (a
dispatch step overridden); wire frames, log lines and handler events must be the same. The
DataTransfer frames make one change each (a route-map flag, a replaced or new entry, another
handler, a patched module function, another OCPP version, an unrelated attribute) between
identical StatusNotification frames. Run in both modes (plain and ``OCPPFAST_NO_EXTENSIONS=1``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import ocppfast
from ocppfast.compat import charge_point as cp_module
from ocppfast.compat import messages as messages_module
from ocppfast.compat.routing import on
from ocppfast.compat.v16 import ChargePoint as ChargePoint16
from ocppfast.compat.v16 import call_result as result16

from .test_compat_fastpath import assert_same, both

_VALIDATE = cp_module.validate_payload
_MESSAGES_VALIDATE = messages_module._validate_payload
_UNPACK = cp_module.unpack
_STATUS = (
    '[2,"%s","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]'
)
_BAD_STATUS = (
    '[2,"%s","StatusNotification",{"connectorId":1,"errorCode":"Nope","status":"Available"}]'
)


class CacheCP(ChargePoint16):
    rec: Any

    @on("Heartbeat")
    def fc_heartbeat(self) -> Any:
        return result16.Heartbeat(current_time="2026-01-01T00:00:00Z")

    @on("StatusNotification")
    def fc_status(self, connector_id: int, error_code: str, status: str, **kw: Any) -> Any:
        self.rec.saw("status", connector_id, error_code, status, sorted(kw.items()))
        kw["added"] = 1  # the handler's own dict: never seen by the next CALL
        return result16.StatusNotification()

    def fc_other_status(self, **kwargs: Any) -> Any:
        self.rec.saw("other-status", sorted(kwargs.items()))
        return result16.StatusNotification()

    def fc_after_status(self, **kwargs: Any) -> None:
        self.rec.saw("after-status", sorted(kwargs.items()))

    @on("DataTransfer")
    def fc_data(self, vendor_id: str, **kw: Any) -> Any:
        self.rec.saw("data", vendor_id)
        entry = self.route_map["StatusNotification"]
        if vendor_id == "skip-on":
            entry["_skip_schema_validation"] = True
        elif vendor_id == "skip-off":
            entry["_skip_schema_validation"] = False
        elif vendor_id == "other-handler":
            entry["_on_action"] = self.fc_other_status
        elif vendor_id == "own-handler":
            entry["_on_action"] = self.fc_status
        elif vendor_id == "new-entry":  # the route map's entry replaced by another dict
            self.route_map["StatusNotification"] = dict(entry, _on_action=self.fc_other_status)
        elif vendor_id == "after-on":
            entry["_after_action"] = self.fc_after_status
        elif vendor_id == "after-off":
            del entry["_after_action"]
        elif vendor_id == "new-route-map":
            self.route_map = dict(self.route_map)
            self.route_map["StatusNotification"] = dict(entry, _skip_schema_validation=True)
        elif vendor_id == "patch-validate":

            async def validate(message: Any, ocpp_version: str) -> None:
                self.rec.saw("validate", message.action)
                await _VALIDATE(message, ocpp_version)

            cp_module.validate_payload = validate  # type: ignore[assignment]
        elif vendor_id == "patch-messages":

            def checked(message: Any, ocpp_version: str) -> None:
                self.rec.saw("messages-validate", message.action)
                _MESSAGES_VALIDATE(message, ocpp_version)

            messages_module._validate_payload = checked
        elif vendor_id == "patch-unpack":

            def unpack(text: str) -> Any:
                self.rec.saw("unpack", len(text))
                return _UNPACK(text)

            cp_module.unpack = unpack
        elif vendor_id == "unpatch":
            cp_module.validate_payload = _VALIDATE
            messages_module._validate_payload = _MESSAGES_VALIDATE
            cp_module.unpack = _UNPACK
        elif vendor_id == "v201":
            self._ocpp_version = "2.0.1"
        elif vendor_id == "v16":
            self._ocpp_version = "1.6"
        elif vendor_id == "attribute":
            self.unrelated = len(kw)
        return result16.DataTransfer(status="Accepted")


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    cp_module.validate_payload = _VALIDATE
    messages_module._validate_payload = _MESSAGES_VALIDATE
    cp_module.unpack = _UNPACK


def _data(vendor: str, i: int) -> str:
    return f'[2,"d{i}","DataTransfer",{{"vendorId":"{vendor}"}}]'


def _between(steps: list[str], status: str = _STATUS) -> list[str]:
    """Three identical StatusNotification frames (a repeated payload text), then each step
    followed by two more."""
    frames = [status % f"s{i}" for i in range(3)]
    for i, step in enumerate(steps):
        frames.append(_data(step, i))
        frames += [status % f"s{i}-{j}" for j in range(2)]
    return frames


async def _check(steps: list[str], status: str = _STATUS) -> dict[str, Any]:
    fast, slow = await both(CacheCP, _between(steps, status))
    assert_same(fast, slow)
    assert any(fast["inline"])  # the flat path ran
    return fast


def _events(run: dict[str, Any], kind: str) -> list[Any]:
    return [event for event in run["events"] if event[0] == kind]


async def test_a_repeated_payload_reaches_the_handler_unchanged() -> None:
    fast = await _check(["attribute", "attribute"])
    seen = _events(fast, "status")
    assert len(seen) == 7
    assert all(event == ("status", 1, "NoError", "Available", []) for event in seen)


async def test_the_skip_flag_flipped_between_calls() -> None:
    fast = await _check(["skip-on", "skip-off"], _BAD_STATUS)
    # validated: refused; skipped: the handler gets the invalid value
    assert [e[2] for e in _events(fast, "status")] == ["Nope", "Nope"]
    assert sum("FormatViolation" in r
               for replies in fast["replies"] for r in replies) >= 3  # fmt: skip


async def test_a_handler_replaced_in_the_entry_and_a_new_entry() -> None:
    fast = await _check(["other-handler", "own-handler", "new-entry"])
    assert len(_events(fast, "other-status")) == 4
    assert len(_events(fast, "status")) == 5


async def test_an_after_hook_added_and_removed() -> None:
    fast = await _check(["after-on", "after-off"])
    assert len(_events(fast, "after-status")) == 2


async def test_another_route_map_object() -> None:
    fast = await _check(["new-route-map"], _BAD_STATUS)
    assert [e[2] for e in _events(fast, "status")] == ["Nope", "Nope"]


@pytest.mark.parametrize("patch", ["patch-validate", "patch-messages", "patch-unpack"])
async def test_a_module_function_patched_between_calls(patch: str) -> None:
    fast = await _check([patch, "unpatch"])
    kind = {"patch-validate": "validate", "patch-messages": "messages-validate"}.get(
        patch, "unpack"
    )
    assert len(_events(fast, kind)) >= 2  # the two CALLs between patch and unpatch at least


async def test_the_ocpp_version_changed_between_calls() -> None:
    fast = await _check(["v201", "v16"])
    # OCPP 2.0.1's StatusNotification has other fields: refused while 2.0.1 is set
    assert len(_events(fast, "status")) == 5


async def test_envelopes_the_in_place_read_leaves_to_the_decoder() -> None:
    frames = [
        _STATUS % "plain",
        _STATUS % "plain",
        _STATUS % 'with \\" quote',
        _STATUS % "with \\u0041 escape",
        _STATUS % "日本",  # not one byte per character
        _STATUS % "é",  # one byte per character, not ASCII
        _STATUS % "\x01",  # a raw control character: not JSON
        '[2,"sp","StatusNotification", {"connectorId":1,"errorCode":"NoError","status":"Available"}]',
        '[2,"tr","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}] ',
        '[2,"ex","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"},{}]',
        '[2,"ne","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}',
        '[2,"br","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]]',
        '[2,"Status\\u004eotification","StatusNotification",{}]',
        '[2,"a","Status\\u004eotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]',
        '[2,"",""]',
        '[2,"x","Heartbeat",{}]',
        '[2,"y","Heartbeat",{} ]',
        '[2,"z","Heartbeat",{"a":1}]',
        _STATUS % "plain",
    ]
    fast, slow = await both(CacheCP, frames)
    assert_same(fast, slow)
    assert any(fast["inline"])
    # the escaped action is the action, as json reads it
    assert any(r.startswith('[3,"a"') for replies in fast["replies"] for r in replies)


def test_the_compiled_module_is_the_one_under_test() -> None:
    """So that a failed build does not pass this file on the pure path alone."""
    import ocppfast.compat.charge_point as module

    assert (ocppfast.implementation == "cython") == (module._fast.__name__.endswith("_c"))


def test_the_plain_ascii_check_of_answers() -> None:
    """``_json_text`` (compiled: eight bytes at a time) says True exactly when every byte is
    below 127, wherever the first other byte is, for every length around the word size."""
    import random

    from ocppfast.compat.charge_point import _fast

    rng = random.Random(3)
    for n in range(41):
        plain = bytes(rng.randrange(0, 127) for _ in range(n))
        assert _fast._json_text(plain) is True
        for at in range(n):
            for odd in (127, 128, 255, 0xC3):
                data = plain[:at] + bytes([odd]) + plain[at + 1 :]
                assert _fast._json_text(data) is False, (n, at, odd)
    assert _fast._json_text(b"\x7e" * 16) is True
