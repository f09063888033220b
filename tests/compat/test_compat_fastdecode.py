"""The flat path's shortcuts against the general path, frame by frame, over loopback.

The flat CALL path (``ocppfast._compat_fast.Sink.route_now``) validates and converts a payload
to snake_case kwargs in one walk (``walk``), reuses the kwargs of a repeated flat payload,
reads ChargePoint attributes from the instance dict and looks routes up by the route map's own
key. Each case here runs the same frames through it and through the general coroutine path
(``test_compat_fastpath.both``) and compares the wire frames, the ``ocpp`` log lines and what
the handlers saw, with ``repr`` where ``==`` would hide a difference (1 and 1.0, Decimal).
"""

from __future__ import annotations

import functools
import logging
from typing import Any
from unittest import mock

from ocppfast.compat import charge_point as compat_cp
from ocppfast.compat import messages as compat_messages
from ocppfast.compat.routing import on
from ocppfast.compat.v16 import call_result as result16
from ocppfast.compat.v16.enums import Action
from ocppfast.compat.v201 import call_result as result201

from .test_compat_fastpath import CP16, CP201, assert_same, both, run


class Numbers201(CP201):
    @on("MeterValues")
    def fd_meter_values(self, evse_id: int, meter_value: Any, **kw: Any) -> Any:
        self.rec.saw("meter201", repr(evse_id), repr(meter_value), repr(kw))
        return result201.MeterValues()

    @on("StatusNotification")
    def fd_status(self, **kw: Any) -> Any:
        self.rec.saw("status201", repr(kw))
        return result201.StatusNotification()


async def test_ints_and_floats_reach_handlers_as_json_gave_them() -> None:
    meter = (
        '[2,"m{}","MeterValues",{{"evseId":1,"meterValue":[{{"timestamp":"t","sampledValue":'
        '[{{"value":{}}}]}}]}}]'
    )
    frames = [
        meter.format(i, value)
        for i, value in enumerate(["5", "5.0", "-0.5", "1e2", "1E-3", "123456789012", "0"])
    ]
    fast, slow = await both(Numbers201, frames * 2)
    assert_same(fast, slow)
    seen = [e[2] for e in fast["events"] if e[0] == "meter201"]
    assert "[{'timestamp': 't', 'sampled_value': [{'value': 5}]}]" in seen
    assert "[{'timestamp': 't', 'sampled_value': [{'value': 5.0}]}]" in seen
    assert "[{'timestamp': 't', 'sampled_value': [{'value': 100.0}]}]" in seen
    assert any(fast["inline"])


class Profiles16(CP16):
    @on("SetChargingProfile")
    def fd_set_profile(self, connector_id: int, cs_charging_profiles: Any) -> Any:
        self.rec.saw("profile", repr(connector_id), repr(cs_charging_profiles))
        return result16.SetChargingProfile(status="Accepted")


async def test_decimal_actions_of_16_on_both_paths() -> None:
    profile = (
        '{"connectorId":1,"csChargingProfiles":{"chargingProfileId":1,"stackLevel":0,'
        '"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute",'
        '"chargingSchedule":{"chargingRateUnit":"W","chargingSchedulePeriod":'
        '[{"startPeriod":0,"limit":LIMIT}]}}}'
    )
    frames = [
        f'[2,"p{i}","SetChargingProfile",' + profile.replace("LIMIT", limit) + "]"
        for i, limit in enumerate(["21.4", "21", "21.45", "7.0"])
    ]
    fast, slow = await both(Profiles16, frames * 2)
    assert_same(fast, slow)
    seen = [e[2] for e in fast["events"] if e[0] == "profile"]
    assert any("Decimal('21.4')" in s for s in seen)
    assert any("'limit': 21}" in s for s in seen)


async def test_nested_unicode_and_open_objects_on_both_paths() -> None:
    boot = (
        '[2,"bID","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"M\\u00e9",'
        '"vendorName":"V\\u65e5","modem":{"iccid":"TEXT"},"customData":{"vendorId":"x",'
        '"someExtraKey":{"innerKey":[1,2.5,"\\u2028"],"HTTPServer":null}}}}]'
    )
    frames = [
        boot.replace("ID", str(i)).replace("TEXT", text)
        for i, text in enumerate(["plain", "\\u00fc", "a" * 20, "a" * 21])
    ]
    fast, slow = await both(CP201, frames * 2)
    assert_same(fast, slow)
    booted = [e for e in fast["events"] if e[0] == "boot201"]
    assert booted and booted[0][1]["custom_data"]["some_extra_key"]["http_server"] is None


INVALID_16 = [
    '[2,"i1","StatusNotification",{"connectorId":1.0,"errorCode":"NoError","status":"Available"}]',
    '[2,"i2","StatusNotification",{"connectorId":true,"errorCode":"NoError","status":"Available"}]',
    (
        '[2,"i3","StatusNotification",{"connectorId":9223372036854775808,"errorCode":"NoError",'
        '"status":"Available"}]'
    ),
    '[2,"i4","StatusNotification",{"connectorId":-1,"errorCode":"NoError","status":"Available"}]',
    '[2,"i5","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"available"}]',
    '[2,"i6","StatusNotification",{"connectorId":1,"errorCode":"NoError"}]',
    (
        '[2,"i7","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available",'
        '"extra":1}]'
    ),
    '[2,"i8","StatusNotification",{"connectorId":1,"errorCode":null,"status":"Available"}]',
    (
        '[2,"i9","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"t","sampledValue":'
        '[{"value":"1","unit":"Bogus"}]}]}]'
    ),
    '[2,"i10","MeterValues",{"connectorId":1,"meterValue":[]}]',
    '[2,"i11","MeterValues",{"connectorId":1,"meterValue":{"timestamp":"t"}}]',
    (
        '[2,"i12","BootNotification",{"chargePointVendor":"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9'
        "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
        '\\u00e9\\u00e9\\u00e9","chargePointModel":"M"}]'
    ),
    (
        '[2,"i13","BootNotification",{"chargePointVendor":"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9'
        "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
        '\\u00e9\\u00e9\\u00e9\\u00e9","chargePointModel":"M"}]'
    ),
]
VALID_STATUS = (
    '[2,"v%d","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]'
)


async def test_invalid_payloads_get_mobilityhouse_exceptions_on_both_paths() -> None:
    # valid frames first, so the flat path has its plans (and a remembered flat payload)
    frames = [VALID_STATUS % i for i in range(3)] + INVALID_16 + [VALID_STATUS % 9]
    fast, slow = await both(CP16, frames)
    assert_same(fast, slow)
    replies = [r for rs in fast["replies"] for r in rs]
    assert any('"TypeConstraintViolation"' in r for r in replies)
    assert any('"FormatViolation"' in r for r in replies)
    assert any('"ProtocolError"' in r for r in replies)


class Mutating16(CP16):
    @on("StatusNotification")
    def fp_status(self, connector_id: int, **kw: Any) -> Any:
        self.rec.saw("mutating", connector_id, dict(kw))
        kw["status"] = "changed"  # the handler's own dict: the next frame must not see it
        kw.pop("error_code", None)
        kw["added"] = 1
        return result16.StatusNotification()


async def test_a_handler_mutating_its_kwargs_changes_nothing_for_the_next_frame() -> None:
    frames = [VALID_STATUS % i for i in range(4)]
    fast, slow = await both(Mutating16, frames)
    assert_same(fast, slow)
    seen = [e[2] for e in fast["events"] if e[0] == "mutating"]
    assert seen == [{"error_code": "NoError", "status": "Available"}] * 4
    assert any(fast["inline"])


def _status_handler(owner: Any, **kw: Any) -> Any:
    owner.rec.saw("partial", dict(kw))
    kw.clear()
    return result16.StatusNotification()


_partial: Any = functools.partial(_status_handler)
_partial.__name__ = "fp_status"  # routing finds handlers by name


class PartialHandler16(CP16):
    # a callable that is not a plain function: @on wraps a functools.partial
    fp_status = on("StatusNotification")(_partial)


async def test_a_handler_that_is_not_a_function_gets_its_own_kwargs() -> None:
    frames = [VALID_STATUS % i for i in range(3)]
    fast, slow = await both(PartialHandler16, frames)
    assert_same(fast, slow)
    seen = [e[1] for e in fast["events"] if e[0] == "partial"]
    assert seen == [{"connector_id": 1, "error_code": "NoError", "status": "Available"}] * 3


async def test_patched_steps_are_honoured_by_the_flat_path() -> None:
    frames = [VALID_STATUS % i for i in range(3)] + ['[2,"h","Heartbeat",{}]']
    calls: list[str] = []
    real_snake = compat_cp.camel_to_snake_case
    real_validate = compat_cp.validate_payload
    real_unpack = compat_cp.unpack
    real_now = compat_messages._validate_payload

    def snake(data: Any) -> Any:
        calls.append("snake")
        return real_snake(data)

    async def validate(message: Any, version: str) -> None:
        calls.append("validate")
        await real_validate(message, version)

    def unpack(raw: Any) -> Any:
        calls.append("unpack")
        return real_unpack(raw)

    def validate_now(message: Any, version: str) -> None:
        calls.append("validate-now")
        real_now(message, version)

    for target, name, replacement in (
        (compat_cp, "camel_to_snake_case", snake),
        (compat_cp, "validate_payload", validate),
        (compat_cp, "unpack", unpack),
        (compat_messages, "_validate_payload", validate_now),
    ):
        calls.clear()
        warm = await run(CP16, frames[:1])  # the flat path has learnt the route
        assert any(warm["inline"])
        with mock.patch.object(target, name, replacement):
            fast, slow = await both(CP16, frames)
        assert_same(fast, slow)
        assert calls, name
        assert calls.count(calls[0]) % 2 == 0  # as many on the fast run as on the general


class Quiet16(CP16):
    @on("StatusNotification")
    def fp_status(self, **kw: Any) -> Any:
        # the level changes inside the handler: the answer's send line is logged
        logging.getLogger("ocpp").setLevel(logging.INFO)
        return result16.StatusNotification()


async def test_a_level_changed_by_a_handler_is_honoured_for_the_answer() -> None:
    frames = [VALID_STATUS % i for i in range(2)]
    fast, slow = await both(Quiet16, frames, level=logging.WARNING)
    assert_same(fast, slow)
    assert any(line[1].startswith("CP-1: send [3,") for line in fast["lines"])


class LoggerProperty16(CP16):
    """``logger`` and ``route_map`` as class-level properties: read through them."""

    @property
    def logger(self) -> Any:
        self.__dict__.setdefault("reads", 0)
        self.__dict__["reads"] += 1
        return self.__dict__["_logger"]

    @logger.setter
    def logger(self, value: Any) -> None:
        self.__dict__["_logger"] = value


async def test_class_properties_of_instance_attributes_are_used() -> None:
    frames = [VALID_STATUS % i for i in range(3)]
    fast, slow = await both(LoggerProperty16, frames, level=logging.INFO)
    assert_same(fast, slow)


class PlainKeys16(CP16):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # a route map keyed by plain strings (user code rebuilding it)
        self.route_map = {str(k): v for k, v in self.route_map.items()}


async def test_a_route_map_keyed_by_plain_strings_and_replaced_entries() -> None:
    frames = [VALID_STATUS % i for i in range(2)] + ['[2,"h1","Heartbeat",{}]']
    fast, slow = await both(PlainKeys16, frames)
    assert_same(fast, slow)
    assert any(fast["inline"])


class EnumKeys16(CP16):
    """Routes registered with ``Action`` members (as mobilityhouse's examples do): the flat
    path looks them up by the route map's own key."""

    @on(Action.status_notification)
    def fp_status(self, **kw: Any) -> Any:
        self.rec.saw("enum-status", dict(kw))
        return result16.StatusNotification()


async def test_routes_keyed_by_action_members() -> None:
    frames = [VALID_STATUS % i for i in range(3)]
    fast, slow = await both(EnumKeys16, frames)
    assert_same(fast, slow)
    assert [e[0] for e in fast["events"]].count("enum-status") == 3
    assert any(fast["inline"])
