"""Canned OCPP 1.6 JSON frames used by the load generator and the raw echo server.

A CALL is built as ``CALL_HEAD + <id> + <suffix>`` so sending costs one concatenation; the payloads
are valid against the OCPP 1.6 JSON schemas (the peers validate them).
"""

from __future__ import annotations

SUBPROTOCOL = "ocpp1.6"

CALL_HEAD = b'[2,"'
RESULT_HEAD = b'[3,"'

# Charger -> central system CALLs (everything after the message id).
BOOT = b'","BootNotification",{"chargePointVendor":"ocppfast-bench","chargePointModel":"load-1"}]'
HEARTBEAT = b'","Heartbeat",{}]'
STATUS = b'","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]'
METER = (
    b'","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2025-01-01T00:00:00Z",'
    b'"sampledValue":[{"value":"1234.5","measurand":"Energy.Active.Import.Register",'
    b'"unit":"Wh"}]}]}]'
)
STEADY_ROTATION = (HEARTBEAT, STATUS, METER)

# Charger's answer to any central-system CALL of the fan-out (TriggerMessage/ChangeConfiguration
# both answer {"status": "Accepted"}).
ACCEPTED_RESULT = b'",{"status":"Accepted"}]'

# Central system -> charger CALL used for fan-out.
TRIGGER_ACTION = "TriggerMessage"
TRIGGER = b'","TriggerMessage",{"requestedMessage":"Heartbeat"}]'

# The raw echo server's canned CALLRESULT payloads, chosen by the first letter of the action.
NOW = "2025-01-01T00:00:00Z"
ECHO_RESULTS = {
    ord("B"): b'",{"status":"Accepted","currentTime":"' + NOW.encode() + b'","interval":300}]',
    ord("H"): b'",{"currentTime":"' + NOW.encode() + b'"}]',
}
ECHO_EMPTY_RESULT = b'",{}]'


def message_id(frame: bytes) -> bytes:
    """The id of ``[n,"id",...]`` (compact JSON as every peer here sends it)."""
    return frame.split(b'"', 2)[1]


def message_type(frame: bytes) -> int:
    """2, 3 or 4 for ``[n,...]``; tolerates whitespace after ``[``."""
    c = frame[1]
    if 0x30 <= c <= 0x39:
        return c - 0x30
    return int(frame.lstrip(b"[ \t\r\n")[:1] or b"0")
