"""ocppfast.validation: each schema violation becomes the CallError the spec names.

OCPP-J 1.6 section 4.2.3 / OCPP 2.0.1 part 4 section 4.3; 1.6 spellings via errors.wire_code.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from ocppfast import errors, v16, v21, v201
from ocppfast.validation import MAX_DESCRIPTION, payload_error, validate_outgoing

VERSIONS = {"ocpp1.6": v16, "ocpp2.0.1": v201, "ocpp2.1": v21}
OCSP = {"hashAlgorithm": "SHA256", "issuerNameHash": "a", "issuerKeyHash": "b",
        "serialNumber": "c", "responderURL": "d"}  # fmt: skip
BOOT_2X = {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}

# version -> row -> (action, "request"/"response", payload, expected code, path in description)
ROWS: dict[str, dict[str, tuple[str, str, Any, str, str]]] = {
    "ocpp1.6": {
        "type": ("BootNotification", "request",
                 {"chargePointVendor": 1, "chargePointModel": "M"},
                 "TypeConstraintViolation", "$.chargePointVendor"),
        "null-optional": ("BootNotification", "request",
                          {"chargePointVendor": "V", "chargePointModel": "M", "imsi": None},
                          "TypeConstraintViolation", "$.imsi"),
        "missing": ("BootNotification", "request", {"chargePointVendor": "V"},
                    "OccurrenceConstraintViolation", "chargePointModel"),
        "too-few-items": ("MeterValues", "request", {"connectorId": 1, "meterValue": []},
                          "OccurrenceConstraintViolation", "$.meterValue"),
        "too-long": ("BootNotification", "request",
                     {"chargePointVendor": "V" * 21, "chargePointModel": "M"},
                     "PropertyConstraintViolation", "$.chargePointVendor"),
        "enum": ("BootNotification", "response",
                 {"status": "Maybe", "currentTime": "2024-01-01T00:00:00Z", "interval": 1},
                 "PropertyConstraintViolation", "$.status"),
        "multiple": ("SetChargingProfile", "request",
                     {"connectorId": 1, "csChargingProfiles": {
                         "chargingProfileId": 1, "stackLevel": 0,
                         "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Absolute",
                         "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                             {"startPeriod": 0, "limit": 0.15}]}}},
                     "PropertyConstraintViolation",
                     "$.csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit"),
        "date-time": ("BootNotification", "response",
                      {"status": "Accepted", "currentTime": "2024-02-30T00:00:00Z", "interval": 1},
                      "PropertyConstraintViolation", "$.currentTime"),
        "integer-as-float": ("BootNotification", "response",
                             {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z",
                              "interval": 1.0},
                             "TypeConstraintViolation", "$.interval"),  # draft-04: 1.0 is no integer
        "unknown-field": ("Heartbeat", "request", {"extra": 1}, "FormatViolation", "extra"),
    },
    "ocpp2.0.1": {
        "type": ("BootNotification", "request",
                 {**BOOT_2X, "chargingStation": {"model": 1, "vendorName": "v"}},
                 "TypeConstraintViolation", "$.chargingStation.model"),
        "null-optional": ("BootNotification", "request",
                          {**BOOT_2X, "customData": None}, "TypeConstraintViolation", "$.customData"),
        "missing": ("BootNotification", "request", {"chargingStation": BOOT_2X["chargingStation"]},
                    "OccurrenceConstraintViolation", "reason"),
        "too-few-items": ("GetVariables", "request", {"getVariableData": []},
                          "OccurrenceConstraintViolation", "$.getVariableData"),
        "too-many-items": ("Authorize", "request",
                           {"idToken": {"idToken": "a", "type": "Central"},
                            "iso15118CertificateHashData": [OCSP] * 5},
                           "OccurrenceConstraintViolation", "$.iso15118CertificateHashData"),
        "too-long": ("BootNotification", "request",
                     {**BOOT_2X, "chargingStation": {"model": "m" * 21, "vendorName": "v"}},
                     "PropertyConstraintViolation", "$.chargingStation.model"),
        "enum": ("BootNotification", "request", {**BOOT_2X, "reason": "Bored"},
                 "PropertyConstraintViolation", "$.reason"),
        "range": ("NotifyEVChargingNeeds", "request",
                  {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC",
                                                  "dcChargingParameters": {
                                                      "evMaxCurrent": 1, "evMaxVoltage": 1,
                                                      "stateOfCharge": 101}}},
                  "PropertyConstraintViolation", "$.chargingNeeds.dcChargingParameters.stateOfCharge"),
        "date-time": ("Heartbeat", "response", {"currentTime": "2024-01-01T00:00:00"},
                      "PropertyConstraintViolation", "$.currentTime"),
        "integer-fraction": ("BootNotification", "response",
                             {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z",
                              "interval": 1.5},
                             "TypeConstraintViolation", "$.interval"),
        "unknown-field": ("BootNotification", "request", {**BOOT_2X, "foo": 1},
                          "FormatViolation", "foo"),
    },
    "ocpp2.1": {
        "type": ("BootNotification", "request", {**BOOT_2X, "reason": 7},
                 "TypeConstraintViolation", "$.reason"),
        "null-optional": ("Heartbeat", "request", {"customData": None},
                          "TypeConstraintViolation", "$.customData"),
        "missing": ("Heartbeat", "response", {}, "OccurrenceConstraintViolation", "currentTime"),
        "too-few-items": ("GetVariables", "request", {"getVariableData": []},
                          "OccurrenceConstraintViolation", "$.getVariableData"),
        "too-many-items": ("Authorize", "request",
                           {"idToken": {"idToken": "a", "type": "Central"},
                            "iso15118CertificateHashData": [OCSP] * 5},
                           "OccurrenceConstraintViolation", "$.iso15118CertificateHashData"),
        "too-long": ("Authorize", "request", {"idToken": {"idToken": "a" * 256, "type": "Central"}},
                     "PropertyConstraintViolation", "$.idToken.idToken"),
        "enum": ("Heartbeat", "request", {"customData": {"vendorId": "x"}, "x": 1},
                 "FormatViolation", "x"),
        "range": ("ClearTariffs", "request", {"evseId": -1}, "PropertyConstraintViolation", "$.evseId"),
        "date-time": ("Heartbeat", "response", {"currentTime": "2024-01-01 00:00:00Z"},
                      "PropertyConstraintViolation", "$.currentTime"),
        "integer-fraction": ("ClearTariffs", "request", {"evseId": 0.5},
                             "TypeConstraintViolation", "$.evseId"),
        "unknown-field": ("Heartbeat", "request", {"foo": 1}, "FormatViolation", "foo"),
    },
}  # fmt: skip
ROWS["ocpp2.1"]["enum"] = ("BootNotification", "request", {**BOOT_2X, "reason": "Bored"},
                           "PropertyConstraintViolation", "$.reason")  # fmt: skip

V16_SPELLING = {"OccurrenceConstraintViolation": "OccurenceConstraintViolation",
                "FormatViolation": "FormationViolation"}  # fmt: skip


def _decode_error(subprotocol: str, action: str, side: str, raw: bytes) -> errors.OCPPError:
    act = VERSIONS[subprotocol].ACTIONS[action]
    decoder = act.request_decoder if side == "request" else act.response_decoder
    assert decoder is not None
    with pytest.raises((ValueError, RecursionError)) as info:
        decoder.decode(raw)
    return payload_error(info.value)


CASES = [(sp, row) for sp, rows in ROWS.items() for row in rows]


@pytest.mark.parametrize(("subprotocol", "row"), CASES, ids=[f"{s}-{r}" for s, r in CASES])
def test_mapping_row(subprotocol: str, row: str) -> None:
    action, side, payload, code, path = ROWS[subprotocol][row]
    err = _decode_error(subprotocol, action, side, json.dumps(payload).encode())
    assert err.code == code, err.description
    assert path in err.description
    assert len(err.description) <= MAX_DESCRIPTION
    expected_wire = V16_SPELLING.get(code, code) if subprotocol == "ocpp1.6" else code
    assert errors.wire_code(err.code, subprotocol) == expected_wire


@pytest.mark.parametrize("subprotocol", VERSIONS)
@pytest.mark.parametrize(
    "raw", [b"[]", b'"x"', b"1", b"null", b"{", b"", b'{"a":1', b"{} []", b'{"\xff": 1}', b"\xff"]
)
def test_not_an_object_or_malformed_is_format_violation(subprotocol: str, raw: bytes) -> None:
    err = _decode_error(subprotocol, "Heartbeat", "request", raw)
    assert err.code == "FormatViolation", err.description
    wire = errors.wire_code(err.code, subprotocol)
    assert wire == ("FormationViolation" if subprotocol == "ocpp1.6" else "FormatViolation")


@pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp2.1"])
def test_nesting_bomb_is_format_violation(subprotocol: str) -> None:
    depth = 200_000
    raw = b'{"vendorId":"v","data":' + b"[" * depth + b"]" * depth + b"}"
    decoder = VERSIONS[subprotocol].ACTIONS["DataTransfer"].request_decoder
    try:
        decoder.decode(raw)
    except (ValueError, RecursionError) as exc:
        err = payload_error(exc)
        assert err.code == "FormatViolation"
    else:  # msgspec may cope with the depth; then there is nothing to map
        pass
    assert (
        payload_error(RecursionError("maximum recursion depth exceeded")).code == "FormatViolation"
    )


def test_invalid_utf8_value_error_is_format_violation() -> None:
    exc = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    err = payload_error(exc)
    assert err.code == "FormatViolation" and "UTF-8" in err.description


def test_description_is_capped_and_keeps_the_path() -> None:
    raw = json.dumps({**BOOT_2X, "x" * 5000: 1}).encode()
    err = _decode_error("ocpp2.0.1", "BootNotification", "request", raw)
    assert err.code == "FormatViolation"
    assert len(err.description) <= MAX_DESCRIPTION
    deep = {**BOOT_2X, "chargingStation": {"model": "m", "vendorName": "v", "modem": {"iccid": 1}}}
    err = _decode_error("ocpp2.0.1", "BootNotification", "request", json.dumps(deep).encode())
    assert err.description == "Expected `str`, got `int` - at `$.chargingStation.modem.iccid`"
    assert "Traceback" not in err.description


def test_date_time_description_does_not_dump_the_pattern() -> None:
    err = _decode_error("ocpp2.1", "Heartbeat", "response", b'{"currentTime":"yesterday"}')
    assert err.description == "Expected RFC 3339 `date-time` string - at `$.currentTime`"


def test_validate_outgoing_accepts_valid_structs() -> None:
    validate_outgoing(v16.BootNotificationRequest(charge_point_vendor="V", charge_point_model="M"))
    validate_outgoing(v201.HeartbeatResponse(current_time="2024-01-01T00:00:00Z"))


@pytest.mark.parametrize(
    ("struct", "code", "path"),
    [
        (v16.BootNotificationRequest(charge_point_vendor="V" * 21, charge_point_model="M"),
         "PropertyConstraintViolation", "$.chargePointVendor"),
        (v16.BootNotificationRequest(charge_point_vendor=5, charge_point_model="M"),  # type: ignore[arg-type]
         "TypeConstraintViolation", "$.chargePointVendor"),
        (v201.BootNotificationResponse(current_time="2024-01-01T00:00:00Z", interval=1,
                                       status="Maybe"),  # type: ignore[arg-type]
         "PropertyConstraintViolation", "$.status"),
        (v201.HeartbeatResponse(current_time="2024-01-01T00:00:00"),
         "PropertyConstraintViolation", "$.currentTime"),
        (v201.GetVariablesRequest(get_variable_data=[]), "OccurrenceConstraintViolation",
         "$.getVariableData"),
        (v21.ClearTariffsRequest(evse_id=-1), "PropertyConstraintViolation", "$.evseId"),
        (v16.HeartbeatResponse(current_time=object()),  # type: ignore[arg-type]
         "TypeConstraintViolation", ""),
    ],
)  # fmt: skip
def test_validate_outgoing_catches_user_mistakes(
    struct: msgspec.Struct, code: str, path: str
) -> None:
    with pytest.raises(errors.PayloadError) as info:  # ours, never a peer's CALLERROR class
        validate_outgoing(struct)
    assert not isinstance(info.value, errors.OCPPError)
    assert info.value.code == code, info.value.description
    assert path in info.value.description
