"""Frame codec micro benchmarks: ocppfast.wire against mobilityhouse ``ocpp`` 2.1.0, same run.

Decode, per frame kind (``benchmark.group`` = ``wire decode: <kind>``):

- ``ocppfast frame``: ``wire.decode_frame(bytes, subprotocol)``, the frame layer alone: envelope
  checked (types, id length, element count), the payload kept as ``msgspec.Raw`` for the typed
  decode that the engine does once it knows the action;
- ``ocppfast frame+dict``: the same plus ``msgspec.json.decode`` of the payload into plain dicts,
  i.e. the same work as mobilityhouse's unpack (which json-decodes everything), for a fair
  like-for-like figure;
- ``mobilityhouse``: ``ocpp.messages.unpack(str)``: ``json.loads`` + its Call/CallResult/CallError
  objects. It takes ``str`` (what ``websockets`` hands it), ocppfast takes ``bytes`` (what picows
  hands it).

Encode, per frame kind (``wire encode: <kind>``): ``wire.encode_*`` with dict payloads against
mobilityhouse's ``Call(...).to_json()`` (and CallResult / CallError). mobilityhouse 2.1.0 has no
SEND (6) or CALLRESULTERROR (5) frames, so those groups have no peer.

Run: ``python -m pytest benchmarks/bench_wire.py`` (``OCPPFAST_NO_EXTENSIONS=1`` for pure Python);
``python benchmarks/compare.py`` runs both modes and prints the ratios.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from ocpp import messages as mh_messages

from ocppfast import wire

from .conftest import FRAMES, NOT_IN_MOBILITYHOUSE, SUBPROTOCOL, describe

KINDS = list(FRAMES)
MH_KINDS = [k for k in KINDS if k not in NOT_IN_MOBILITYHOUSE]
# Frame kind -> the frame decoded generically: [type, id, ...].
_ARGS = {kind: msgspec.json.decode(FRAMES[kind]) for kind in KINDS}
# Kinds with a payload (CALL, CALLRESULT, SEND); CALLERROR details are decoded with the frame.
PAYLOAD_KINDS = [k for k in KINDS if _ARGS[k][0] in (wire.CALL, wire.CALLRESULT, wire.SEND)]

_decode_payload = msgspec.json.decode
_Raw = msgspec.Raw


def _decode_frame_and_payload(data: bytes, subprotocol: str) -> Any:
    frame = wire.decode_frame(data, subprotocol)
    payload = getattr(frame, "payload", None)
    if payload.__class__ is _Raw:
        return frame, _decode_payload(payload)
    return frame, None


# --- decode -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_decode_ocppfast(benchmark: Any, kind: str) -> None:
    describe(benchmark, f"wire decode: {kind}", "ocppfast", f"decode {kind}: frame")
    frame = benchmark(wire.decode_frame, FRAMES[kind], SUBPROTOCOL[kind])
    assert frame.unique_id


@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
def test_decode_ocppfast_with_payload(benchmark: Any, kind: str) -> None:
    describe(benchmark, f"wire decode: {kind}", "ocppfast", f"decode {kind}: frame+dict")
    _frame, payload = benchmark(_decode_frame_and_payload, FRAMES[kind], SUBPROTOCOL[kind])
    assert type(payload) is dict


@pytest.mark.parametrize("kind", MH_KINDS)
def test_decode_mobilityhouse(benchmark: Any, kind: str) -> None:
    describe(benchmark, f"wire decode: {kind}", "mobilityhouse", f"decode {kind}", peer="default")
    msg = benchmark(mh_messages.unpack, FRAMES[kind].decode())
    assert msg.unique_id


# --- encode -----------------------------------------------------------------------------------

# Frame kind -> (ocppfast encoder, its arguments): the decoded frame minus its type number.
_ENCODERS = {
    2: wire.encode_call,
    3: wire.encode_call_result,
    4: wire.encode_call_error,
    5: wire.encode_call_result_error,
    6: wire.encode_send,
}


def _mh_encode_call(unique_id: str, action: str, payload: Any) -> str:
    return mh_messages.Call(unique_id, action, payload).to_json()  # type: ignore[no-any-return]


def _mh_encode_call_result(unique_id: str, payload: Any) -> str:
    return mh_messages.CallResult(unique_id, payload).to_json()  # type: ignore[no-any-return]


def _mh_encode_call_error(unique_id: str, code: str, description: str, details: Any) -> str:
    return mh_messages.CallError(unique_id, code, description, details).to_json()  # type: ignore[no-any-return]


_MH_ENCODERS = {2: _mh_encode_call, 3: _mh_encode_call_result, 4: _mh_encode_call_error}


@pytest.mark.parametrize("kind", KINDS)
def test_encode_ocppfast(benchmark: Any, kind: str) -> None:
    describe(benchmark, f"wire encode: {kind}", "ocppfast", f"encode {kind}")
    message_type, *args = _ARGS[kind]
    data = benchmark(_ENCODERS[message_type], *args)
    assert data == FRAMES[kind]


@pytest.mark.parametrize("kind", MH_KINDS)
def test_encode_mobilityhouse(benchmark: Any, kind: str) -> None:
    describe(benchmark, f"wire encode: {kind}", "mobilityhouse", f"encode {kind}", peer="default")
    message_type, *args = _ARGS[kind]
    text = benchmark(_MH_ENCODERS[message_type], *args)
    assert msgspec.json.decode(text) == _ARGS[kind]
