"""Shared sample messages and helpers for the micro benchmarks.

Every sample is a valid OCPP message (1.6 schemas for the CALLs, 2.1 for SEND), so both ocppfast
and mobilityhouse ``ocpp`` take their normal, successful path on it. Ids are 36-character UUIDs,
as mobilityhouse generates them.

Each benchmark records in ``benchmark.extra_info``:

- ``impl``: ``"ocppfast"`` or ``"mobilityhouse"`` (the peer measured in the same run);
- ``case``: the row label in ``compare.py``'s table;
- ``peer``: for mobilityhouse, which setting (``"default"`` or ``"no-async-validation"``);
- ``messages_per_round``: how many messages one measured call handles (batches driven by the
  event loop handle many), so ops/s can be reported per message.

``benchmark.group`` is the comparison unit: the rows of a group are compared with its peers.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import msgspec

ID = "9f1c7a52-3b0e-4d8c-a4f6-2e7b1d9c0a35"
NOW = "2024-05-01T12:00:00.000Z"

BOOT_NOTIFICATION = {
    "chargePointVendor": "VendorX",
    "chargePointModel": "SingleSocketCharger",
    "chargePointSerialNumber": "SN-000123",
    "firmwareVersion": "1.4.2",
    "meterType": "ACME 3000",
}
HEARTBEAT: dict[str, Any] = {}


def _sampled(value: str, measurand: str, unit: str, phase: str | None = None) -> dict[str, Any]:
    sv = {
        "value": value,
        "context": "Sample.Periodic",
        "format": "Raw",
        "measurand": measurand,
        "location": "Outlet",
        "unit": unit,
    }
    if phase is not None:
        sv["phase"] = phase
    return sv


# Ten sampled values: the usual periodic set of an AC charger (energy, power, 3 currents,
# 3 voltages, SoC, temperature).
METER_VALUES = {
    "connectorId": 1,
    "transactionId": 4711,
    "meterValue": [
        {
            "timestamp": NOW,
            "sampledValue": [
                _sampled("12345.6", "Energy.Active.Import.Register", "Wh"),
                _sampled("11040.0", "Power.Active.Import", "W"),
                _sampled("16.0", "Current.Import", "A", "L1"),
                _sampled("16.1", "Current.Import", "A", "L2"),
                _sampled("15.9", "Current.Import", "A", "L3"),
                _sampled("230.1", "Voltage", "V", "L1-N"),
                _sampled("229.8", "Voltage", "V", "L2-N"),
                _sampled("230.4", "Voltage", "V", "L3-N"),
                _sampled("57", "SoC", "Percent"),
                _sampled("31.5", "Temperature", "Celsius"),
            ],
        }
    ],
}
assert len(METER_VALUES["meterValue"][0]["sampledValue"]) == 10  # type: ignore[index]

BOOT_NOTIFICATION_RESPONSE = {"status": "Accepted", "currentTime": NOW, "interval": 300}
HEARTBEAT_RESPONSE = {"currentTime": NOW}
METER_VALUES_RESPONSE: dict[str, Any] = {}

# OCPP 2.1 SEND (never answered), the action the spec sends that way.
NOTIFY_PERIODIC_EVENT_STREAM = {
    "id": 1,
    "pending": 0,
    "basetime": NOW,
    "data": [{"t": float(i), "v": f"{230 + i / 10:.1f}"} for i in range(5)],
}

CALLERROR_DETAILS = {"cause": "Action DataTransfer is not supported by this central system"}


def _json(obj: Any) -> bytes:
    return msgspec.json.encode(obj)


#: Frame kind -> the frame as bytes (what picows hands ocppfast).
FRAMES: dict[str, bytes] = {
    "CALL BootNotification": _json([2, ID, "BootNotification", BOOT_NOTIFICATION]),
    "CALL Heartbeat": _json([2, ID, "Heartbeat", HEARTBEAT]),
    "CALL MeterValues(10)": _json([2, ID, "MeterValues", METER_VALUES]),
    "CALLRESULT BootNotification": _json([3, ID, BOOT_NOTIFICATION_RESPONSE]),
    "CALLERROR": _json([4, ID, "NotSupported", "Action is not supported", CALLERROR_DETAILS]),
    "SEND NotifyPeriodicEventStream (2.1)": _json(
        [6, ID, "NotifyPeriodicEventStream", NOTIFY_PERIODIC_EVENT_STREAM]
    ),
    "CALLRESULTERROR (2.1)": _json(
        [5, ID, "FormatViolation", "Payload is not valid at `$.currentTime`", {}]
    ),
}
#: Frame kinds mobilityhouse ``ocpp`` 2.1.0 has no frame type for (it knows types 2, 3, 4 only).
NOT_IN_MOBILITYHOUSE = ("SEND NotifyPeriodicEventStream (2.1)", "CALLRESULTERROR (2.1)")

#: Frame kind -> subprotocol it is decoded under.
SUBPROTOCOL = {kind: ("ocpp2.1" if kind.endswith("(2.1)") else "ocpp1.6") for kind in FRAMES}


def describe(
    benchmark: Any, group: str, impl: str, case: str, peer: str = "", per_round: int = 1
) -> None:
    """Label ``benchmark`` for pytest-benchmark's grouping and for compare.py's table."""
    benchmark.group = group
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["case"] = case
    if peer:
        benchmark.extra_info["peer"] = peer
    benchmark.extra_info["messages_per_round"] = per_round
    benchmark.extra_info["modules"] = _loaded()  # what this process really runs


_modes: dict[str, str] = {}


def _loaded() -> dict[str, str]:
    if not _modes:
        _modes.update(modes())
    return _modes


def modes() -> dict[str, str]:
    """Which implementation of each hot-path module this process loaded."""
    from ocppfast import wire

    out = {"wire": "compiled" if wire.COMPILED else "pure"}
    try:
        from ocppfast import engine
    except ImportError as exc:  # the engine's dependencies may not exist yet
        out["engine"] = f"unavailable ({exc})"
    else:
        out["engine"] = "compiled" if engine.COMPILED else "pure"
    return out


def pytest_report_header(config: Any) -> list[str]:
    flag = os.environ.get("OCPPFAST_NO_EXTENSIONS", "")
    header = f"ocppfast modules: {modes()} (OCPPFAST_NO_EXTENSIONS={flag!r}); "
    return [header + f"python {platform.python_version()}"]
