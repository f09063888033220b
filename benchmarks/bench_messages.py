"""Payload validation micro benchmarks: generated msgspec Structs against mobilityhouse ``ocpp`` 2.1.0.

Per message (``benchmark.group`` = ``messages decode: <msg>`` / ``messages encode: <msg>``):

- decode: ``ocppfast``: ``Action.request_decoder.decode(bytes)`` -- JSON parse and full schema
  validation into typed Structs in one pass; ``mobilityhouse``: ``json.loads(str)`` and then
  ``ocpp.messages._validate_payload(Call(...), version)``, the synchronous function its async
  ``validate_payload`` runs (in a thread pool by default, directly with
  ``ASYNC_VALIDATION = False``): jsonschema ``Draft4Validator`` with the bundled schema, no format
  checker. The thread-pool hop is left out, which favours mobilityhouse.
- encode: ``ocppfast``: ``msgspec.json.encode(struct)`` (no validation: the engine validates hand-
  built Structs with ``validate_outgoing``, measured as ``ocppfast+validate``);
  ``mobilityhouse``: ``_validate_payload`` of the Call and ``json.dumps`` of its payload (what its
  ``ChargePoint.call`` does before sending, minus the frame).

Messages: 1.6 BootNotification, Heartbeat, MeterValues (10 sampled values), StatusNotification;
2.0.1 TransactionEvent. Run:
``.venv/bin/python -m pytest benchmarks/bench_messages.py --benchmark-only``; the ratios are the
``mean`` column of the rows of one group.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from ocpp import messages as mh_messages

from ocppfast import v16, v201
from ocppfast.validation import validate_outgoing

from .conftest import BOOT_NOTIFICATION, HEARTBEAT, ID, METER_VALUES, NOW, describe

STATUS_NOTIFICATION = {
    "connectorId": 1,
    "errorCode": "NoError",
    "status": "Charging",
    "timestamp": NOW,
}
TRANSACTION_EVENT = {
    "eventType": "Updated",
    "timestamp": NOW,
    "triggerReason": "MeterValuePeriodic",
    "seqNo": 12,
    "transactionInfo": {"transactionId": "f3b2c1d0-7e6a-4b5c-9d8e-0a1b2c3d4e5f", "chargingState": "Charging"},
    "evse": {"id": 1, "connectorId": 1},
    "idToken": {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"},
    "meterValue": [
        {
            "timestamp": NOW,
            "sampledValue": [
                {"value": 12345.6, "measurand": "Energy.Active.Import.Register",
                 "unitOfMeasure": {"unit": "Wh"}},
                {"value": 11040.0, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
                {"value": 16.0, "measurand": "Current.Import", "phase": "L1"},
            ],
        }
    ],
}  # fmt: skip

# (label, subprotocol, mobilityhouse version string, action, payload)
MESSAGES = [
    ("BootNotification 1.6", v16, "1.6", "BootNotification", BOOT_NOTIFICATION),
    ("Heartbeat 1.6", v16, "1.6", "Heartbeat", HEARTBEAT),
    ("MeterValues 1.6 (10 sampled values)", v16, "1.6", "MeterValues", METER_VALUES),
    ("StatusNotification 1.6", v16, "1.6", "StatusNotification", STATUS_NOTIFICATION),
    ("TransactionEvent 2.0.1", v201, "2.0.1", "TransactionEvent", TRANSACTION_EVENT),
]
IDS = [m[0] for m in MESSAGES]


def _mh_decode(action: str, version: str, text: str) -> Any:
    payload = json.loads(text)
    mh_messages._validate_payload(mh_messages.Call(ID, action, payload), version)
    return payload


def _mh_encode(action: str, version: str, payload: dict[str, Any]) -> str:
    mh_messages._validate_payload(mh_messages.Call(ID, action, payload), version)
    return json.dumps(payload, separators=(",", ":"))


@pytest.mark.parametrize(("label", "module", "version", "action", "payload"), MESSAGES, ids=IDS)
@pytest.mark.parametrize("impl", ["ocppfast", "mobilityhouse"])
def test_decode(benchmark: Any, impl: str, label: str, module: Any, version: str, action: str,
                payload: dict[str, Any]) -> None:  # fmt: skip
    raw = json.dumps(payload, separators=(",", ":"))
    describe(benchmark, f"messages decode: {label}", impl, label, peer="sync _validate_payload"
             if impl == "mobilityhouse" else "")  # fmt: skip
    if impl == "ocppfast":
        decoder = module.ACTIONS[action].request_decoder
        data = raw.encode()
        result = benchmark(decoder.decode, data)
        assert isinstance(result, module.ACTIONS[action].request)
    else:
        result = benchmark(_mh_decode, action, version, raw)
        assert result == payload


@pytest.mark.parametrize(("label", "module", "version", "action", "payload"), MESSAGES, ids=IDS)
@pytest.mark.parametrize("impl", ["ocppfast", "ocppfast+validate", "mobilityhouse"])
def test_encode(benchmark: Any, impl: str, label: str, module: Any, version: str, action: str,
                payload: dict[str, Any]) -> None:  # fmt: skip
    describe(benchmark, f"messages encode: {label}", impl, label, peer="sync _validate_payload"
             if impl == "mobilityhouse" else "")  # fmt: skip
    if impl == "mobilityhouse":
        out = benchmark(_mh_encode, action, version, payload)
        assert json.loads(out) == payload
        return
    struct = module.ACTIONS[action].request_decoder.decode(json.dumps(payload).encode())
    encode = msgspec.json.encode
    if impl == "ocppfast":
        out = benchmark(encode, struct)
    else:

        def validate_and_encode(s: msgspec.Struct) -> bytes:
            validate_outgoing(s)
            return encode(s)

        out = benchmark(validate_and_encode, struct)
    assert json.loads(out) == json.loads(json.dumps(payload))
