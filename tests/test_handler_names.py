"""Handler names are checked: ``on``/``after`` refuse an action no enabled version has (with the
closest name), ``custom=True`` registers a vendor action that works both ways on loopback, and
a handler typed to answer with another version's response is refused or reported by module."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import ocppfast
from ocppfast import errors, v16, v201


@pytest.mark.parametrize(
    ("wrong", "closest"),
    [
        ("BootNotifcation", "BootNotification"),
        ("boot_notification", "BootNotification"),
        ("heartbeat", "Heartbeat"),
        ("StatusNotifications", "StatusNotification"),
    ],
)
def test_central_system_on_refuses_unknown_names(wrong: str, closest: str) -> None:
    cs = ocppfast.CentralSystem(versions=["ocpp2.0.1", "ocpp1.6"])
    with pytest.raises(ValueError, match=f"on\\('{wrong}'\\).*did you mean '{closest}'"):
        cs.on(wrong, lambda cp, req: None)
    with pytest.raises(ValueError, match=f"after\\('{wrong}'\\).*did you mean '{closest}'"):
        cs.after(wrong, lambda cp, req, res: None)
    with pytest.raises(ValueError):

        @cs.on(wrong)
        def handler(cp: ocppfast.ChargePoint, req: Any) -> None: ...

    assert wrong not in cs._handlers and wrong not in cs._after


def test_names_are_checked_against_the_enabled_versions_only() -> None:
    only16 = ocppfast.CentralSystem(versions=["ocpp1.6"])
    with pytest.raises(ValueError, match="NotifyReport.*ocpp1.6"):
        only16.on("NotifyReport", lambda cp, req: None)  # a 2.0.1 action
    both = ocppfast.CentralSystem(versions=["ocpp2.0.1", "ocpp1.6"])
    both.on("NotifyReport", lambda cp, req: None)
    both.on("StartTransaction", lambda cp, req: None)  # 1.6 only, but 1.6 is enabled
    assert {"NotifyReport", "StartTransaction"} <= set(both._handlers)


async def test_station_names_are_checked_against_the_offered_versions() -> None:
    cs = ocppfast.CentralSystem(versions=["ocpp1.6"], ping_interval=0)
    await cs.start("127.0.0.1", 0)
    try:
        url = f"ws://127.0.0.1:{cs.port}"
        with pytest.raises(ValueError, match="handlers\\('Rest'\\).*did you mean 'Reset'"):
            await ocppfast.connect(url, "N-1", versions=["ocpp1.6"], handlers={"Rest": print})
        assert not cs.charge_points  # refused before connecting
        cp = await ocppfast.connect(url, "N-2", versions=["ocpp1.6"])
        with pytest.raises(ValueError, match="did you mean 'ChangeAvailability'"):
            cp.on("ChangeAvailabilty", lambda req: None)
        with pytest.raises(ValueError, match="ocpp1.6"):
            cp.on("SetVariables", lambda req: None)  # 2.0.1 only: not offered
        cp.on("Reset", lambda req: {"status": "Accepted"})
        assert (await cs.call("N-2", "Reset", {"type": "Soft"})).status == "Accepted"
        await cp.close()
    finally:
        await cs.close()


def test_handler_annotated_with_another_versions_response_is_refused() -> None:
    cs = ocppfast.CentralSystem(versions=["ocpp2.0.1"])

    def boot(cp: ocppfast.ChargePoint, req: Any) -> v16.BootNotificationResponse:
        raise AssertionError

    with pytest.raises(ValueError) as info:
        cs.on("BootNotification", boot)
    text = str(info.value)
    assert "ocppfast.v16.messages.BootNotificationResponse" in text
    assert "ocpp2.0.1: ocppfast.v201.messages.BootNotificationResponse" in text

    def wrong_action(cp: ocppfast.ChargePoint, req: Any) -> v201.HeartbeatResponse:
        raise AssertionError

    with pytest.raises(ValueError, match="v201.messages.HeartbeatResponse"):
        cs.on("BootNotification", wrong_action)
    # a union of the enabled versions' responses (a central system of several versions) is fine
    multi = ocppfast.CentralSystem(versions=["ocpp2.0.1", "ocpp1.6"])

    def either(
        cp: ocppfast.ChargePoint, req: Any
    ) -> v16.BootNotificationResponse | v201.BootNotificationResponse:
        raise AssertionError

    multi.on("BootNotification", either)


async def test_wrong_version_response_is_logged_with_modules_and_version(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The README's old pitfall: a 1.6 response to a 2.0.1 station. The station gets
    InternalError (no internals); the log names both modules and the negotiated version."""
    cs = ocppfast.CentralSystem(versions=["ocpp2.0.1", "ocpp1.6"], ping_interval=0)

    @cs.on("Heartbeat")
    def beat(cp: ocppfast.ChargePoint, req: Any) -> Any:  # not annotated: found at run time
        return v16.HeartbeatResponse(current_time=ocppfast.now())

    await cs.start("127.0.0.1", 0)
    try:
        cp = await ocppfast.connect(f"ws://127.0.0.1:{cs.port}", "W-1", versions=["ocpp2.0.1"])
        with caplog.at_level(logging.ERROR, logger="ocppfast"), pytest.raises(errors.InternalError):
            await cp.call(v201.HeartbeatRequest())
        await cp.close()
    finally:
        await cs.close()
    text = caplog.text
    assert "ocppfast.v16.messages.HeartbeatResponse" in text
    assert "ocppfast.v201.messages.HeartbeatResponse" in text
    assert "ocpp2.0.1" in text and "W-1" in text


async def test_custom_vendor_actions_both_ways() -> None:
    """``on("VendorX", custom=True)`` on each side; dict payloads, no schema; the shared
    registries of ocppfast.versions are untouched."""
    registry_before = dict(ocppfast.versions.actions("ocpp2.0.1"))
    cs = ocppfast.CentralSystem(versions=["ocpp2.0.1"], ping_interval=0)
    got: list[Any] = []

    @cs.on("AcmeFirmwareHint", custom=True)
    def hint(cp: ocppfast.ChargePoint, req: dict[str, Any]) -> dict[str, Any]:
        got.append(req)
        return {"ok": True, "echo": req.get("n")}

    cs.add_custom_action("AcmeReboot")  # the central system calls it
    await cs.start("127.0.0.1", 0)
    try:
        cp = await ocppfast.connect(
            f"ws://127.0.0.1:{cs.port}",
            "V-1",
            versions=["ocpp2.0.1"],
            custom_actions=["AcmeFirmwareHint"],
        )

        @cp.on("AcmeReboot", custom=True)
        def reboot(req: dict[str, Any]) -> None:
            got.append(("reboot", req))

        answer = await cp.call("AcmeFirmwareHint", {"n": 3, "anything": ["goes"]})
        assert answer == {"ok": True, "echo": 3}
        assert got[0] == {"n": 3, "anything": ["goes"]}
        assert await cs.call("V-1", "AcmeReboot", {"delay": 1}) == {}
        assert got[1] == ("reboot", {"delay": 1})
        await cp.close()
    finally:
        await cs.close()
    assert ocppfast.versions.actions("ocpp2.0.1") == registry_before
    assert "AcmeFirmwareHint" not in ocppfast.versions.actions("ocpp2.0.1")


def test_custom_name_is_not_checked_but_a_real_action_is_not_replaced_by_accident() -> None:
    cs = ocppfast.CentralSystem(versions=["ocpp1.6"])
    cs.on("Vendor_Thing-1", lambda cp, req: {}, custom=True)
    assert cs._actions["ocpp1.6"]["Vendor_Thing-1"].custom
    assert not cs._actions["ocpp1.6"]["Heartbeat"].custom
    assert "Vendor_Thing-1" not in ocppfast.versions.actions("ocpp1.6")
