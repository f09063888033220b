"""The OCPP-J frame layer: every message type, every bad-frame class, per version; parity of the
compiled and the pure module."""

from __future__ import annotations

import importlib.util

import msgspec
import pytest

from ocppfast import _wire as pure_wire
from ocppfast import wire
from ocppfast.errors import wire_code

V16, V201, V21 = "ocpp1.6", "ocpp2.0.1", "ocpp2.1"
ALL = (V16, V201, V21)


def raw(x: msgspec.Raw) -> bytes:
    return bytes(memoryview(x))


# --- good frames -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL)
def test_call(version: str) -> None:
    f = wire.decode_frame(b'[2,"19223201","BootNotification",{"a":1}]', version)
    assert type(f) is wire.Call
    assert (f.unique_id, f.action, raw(f.payload)) == ("19223201", "BootNotification", b'{"a":1}')


def test_call_result_and_error() -> None:
    r = wire.decode_frame(b'[3, "id1", {"currentTime": "x"}]', V201)
    assert type(r) is wire.CallResult and raw(r.payload) == b'{"currentTime": "x"}'
    e = wire.decode_frame(b'[4,"id2","NotImplemented","nope",{"k":[1]}]', V201)
    assert type(e) is wire.CallError
    assert (e.error_code, e.error_description, e.error_details) == (
        "NotImplemented",
        "nope",
        {"k": [1]},
    )


def test_21_frames() -> None:
    s = wire.decode_frame(b'[6,"s1","NotifyPeriodicEventStream",{"id":1}]', V21)
    assert type(s) is wire.Send and s.action == "NotifyPeriodicEventStream"
    c = wire.decode_frame(b'[5,"r1","FormatViolation","bad",{}]', V21)
    assert type(c) is wire.CallResultError and c.error_code == "FormatViolation"


def test_whitespace_and_empty_payload() -> None:
    f = wire.decode_frame(b' \n[ 2 , "1" , "Heartbeat" , { } ] \n', V16)
    assert type(f) is wire.Call and raw(f.payload) == b"{ }"


def test_id_of_36_chars_is_fine() -> None:
    uid = "x" * 36
    f = wire.decode_frame(f'[2,"{uid}","Heartbeat",{{}}]'.encode(), V201)
    assert f.unique_id == uid


# --- encoding ----------------------------------------------------------------------------


def test_encode_round_trips() -> None:
    assert wire.encode_call("1", "Heartbeat", {}) == b'[2,"1","Heartbeat",{}]'
    assert wire.encode_call_result("1", {"a": 1}) == b'[3,"1",{"a":1}]'
    assert wire.encode_call_error("1", "GenericError", "x") == b'[4,"1","GenericError","x",{}]'
    assert wire.encode_send("1", "A", {}) == b'[6,"1","A",{}]'
    assert (
        wire.encode_call_result_error("1", "FormatViolation", "")
        == b'[5,"1","FormatViolation","",{}]'
    )
    for data, version in [
        (wire.encode_call("abc", "Authorize", {"idTag": "T"}), V16),
        (wire.encode_call_result("abc", {"x": [1, 2]}), V16),
        (wire.encode_call_error("abc", "InternalError", "d", {"k": "v"}), V16),
        (wire.encode_send("abc", "NotifyPeriodicEventStream", {"id": 1}), V21),
        (wire.encode_call_result_error("abc", "InternalError", "d", {}), V21),
    ]:
        f = wire.decode_frame(data, version)
        assert msgspec.json.encode(f) == data


def test_encode_struct_payload() -> None:
    class P(msgspec.Struct, omit_defaults=True):
        a: int
        b: str = ""

    assert wire.encode_call("1", "X", P(a=1)) == b'[2,"1","X",{"a":1}]'


def test_long_description_is_capped_at_255() -> None:
    e = msgspec.json.decode(wire.encode_call_error("1", "GenericError", "d" * 1000))
    assert len(e[3]) == 255 and e[4] == {}


# --- bad frames --------------------------------------------------------------------------

# (frame, {version: (code as sent, id, reply)}) ; None = ignored (no reply)
RPC = {
    V16: ("FormationViolation", "-1", True),
    V201: ("RpcFrameworkError", "-1", True),
    V21: ("RpcFrameworkError", "-1", True),
}


def _with_id(
    uid: str, code16: str, code2: str, reply: bool = True
) -> dict[str, tuple[str, str, bool]]:
    return {V16: (code16, uid, reply), V201: (code2, uid, reply), V21: (code2, uid, reply)}


BAD = [
    pytest.param(b"not json", RPC, id="not-json"),
    pytest.param(b"", RPC, id="empty-message"),
    pytest.param(
        b'[2,"1","Heartbeat",{}',
        _with_id("1", "FormationViolation", "FormatViolation"),
        id="truncated-json",
    ),
    pytest.param(
        b'[2,"1","Heart',
        _with_id("1", "FormationViolation", "FormatViolation"),
        id="truncated-in-action",
    ),
    pytest.param(b'[2,"1\\"x","Heartbeat",{', RPC, id="escaped-id-truncated"),
    pytest.param(b'{"a":1}', RPC, id="object-not-array"),
    pytest.param(b'"text"', RPC, id="string-not-array"),
    pytest.param(b"[]", RPC, id="empty-array"),
    pytest.param(
        b'["2","1","Heartbeat",{}]',
        _with_id("1", "FormationViolation", "RpcFrameworkError"),
        id="type-as-string",
    ),
    pytest.param(
        b'[2.5,"1","Heartbeat",{}]',
        _with_id("1", "FormationViolation", "RpcFrameworkError"),
        id="type-float",
    ),
    pytest.param(b"[2]", RPC, id="call-without-id"),
    pytest.param(b'[2,1,"Heartbeat",{}]', RPC, id="id-not-string"),
    pytest.param(b'[2,"","Heartbeat",{}]', RPC, id="id-empty"),
    pytest.param(b'[2,"' + b"x" * 37 + b'","Heartbeat",{}]', RPC, id="id-37-chars"),
    pytest.param(b'[2,"' + b"x" * 100000 + b'","Heartbeat",{}]', RPC, id="id-huge"),
    pytest.param(
        b'[2,"1",7,{}]',
        _with_id("1", "FormationViolation", "RpcFrameworkError"),
        id="action-not-string",
    ),
    pytest.param(
        b'[2,"1","Heartbeat"]',
        _with_id("1", "FormationViolation", "RpcFrameworkError"),
        id="call-missing-payload",
    ),
    pytest.param(
        b'[2,"1","Heartbeat",{},{}]',
        _with_id("1", "FormationViolation", "RpcFrameworkError"),
        id="call-trailing-element",
    ),
    pytest.param(
        b'[2,"1","Heartbeat",null]',
        _with_id("1", "FormationViolation", "FormatViolation"),
        id="payload-null",
    ),
    pytest.param(
        b'[2,"1","Heartbeat",[1]]',
        _with_id("1", "FormationViolation", "FormatViolation"),
        id="payload-array",
    ),
    pytest.param(
        b'[2,"1","Heartbeat",{"a":1e999999}]',
        _with_id("1", "FormationViolation", "FormatViolation"),
        id="number-out-of-range",
    ),
    pytest.param(b"[" * 100000, RPC, id="nesting-bomb"),
    pytest.param(
        b'[2,"1","Heartbeat",' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"]",
        _with_id("1", "FormationViolation", "FormatViolation"),
        id="nested-payload-bomb",
    ),
    pytest.param(
        b'[2,"1","Heartbeat",{"a":"\xff"}]',
        _with_id("1", "FormationViolation", "FormatViolation"),
        id="invalid-utf8-in-payload",
    ),
    pytest.param(b'[2,"\xff","Heartbeat",{}]', RPC, id="invalid-utf8-in-id"),
    pytest.param(
        b'[2,"1","Heartbeat",{}] trailing',
        _with_id("1", "FormationViolation", "FormatViolation"),
        id="trailing-bytes",
    ),
    pytest.param(
        b'[3,"1",{] ',
        _with_id("1", "FormationViolation", "FormatViolation", reply=False),
        id="broken-callresult-json",
    ),
    pytest.param(
        b'[7,"1",{] ',
        {
            V16: ("NotSupported", "1", False),
            V201: ("MessageTypeNotSupported", "1", True),
            V21: ("MessageTypeNotSupported", "1", False),
        },
        id="unknown-type-broken-json",
    ),
]


@pytest.mark.parametrize("data, expect", BAD)
@pytest.mark.parametrize("version", ALL)
def test_bad_frames(data: bytes, expect: dict[str, tuple[str, str, bool]], version: str) -> None:
    code, uid, reply = expect[version]
    try:
        wire.decode_frame(data, version)
    except wire.FrameError as exc:
        got = (exc.error.wire_code(version), exc.unique_id, exc.reply)
        # descriptions are short, say where, and never echo the message
        assert len(exc.error.description) <= 255
        assert b"x" * 40 not in exc.error.description.encode()
        assert exc.error.details == {}
    else:
        # A payload problem the envelope cannot see (nested too deep, number out of range) is
        # found when the payload is decoded; the frame itself is then fine.
        assert code == ("FormationViolation" if version == V16 else "FormatViolation")
        return
    assert got == (code, uid, reply)


@pytest.mark.parametrize(
    "data",
    [
        b'[9,"7",{}]',
        b'[0,"7"]',
        b'[-1,"7","x",{}]',
        b'[5,"7","GenericError","",{}]',
        b'[6,"7","A",{}]',
    ],
)
@pytest.mark.parametrize("version", ALL)
def test_unknown_message_type(data: bytes, version: str) -> None:
    known_in_21 = data.startswith((b"[5", b"[6"))
    if version == V21 and known_in_21:
        assert wire.decode_frame(data, version)
        return
    with pytest.raises(wire.FrameError) as info:
        wire.decode_frame(data, version)
    exc = info.value
    assert exc.unique_id == "7"
    # 1.6 section 4.1.3 and 2.1: ignore; 2.0.1 part 4 section 4.1.3: MessageTypeNotSupported
    assert exc.reply is (version == V201)
    assert exc.error.code == "MessageTypeNotSupported"


@pytest.mark.parametrize(
    "data, where",
    [
        (b'[3,"1"]', None),
        (b'[3,"1",{},1]', None),
        (b'[4,"1","X","d"]', None),
        (b'[4,"1","X","d",[]]', "$[4]"),
        (b'[4,"1","X",null,{}]', "$[3]"),
        (b'[4,"1",5,"d",{}]', "$[2]"),
    ],
)
def test_broken_answers_are_not_answered(data: bytes, where: str | None) -> None:
    # A CALLERROR answers a CALL, never a CALLRESULT/CALLERROR (1.6 4.2.3, 2.0.1 part 4 4.2.3).
    with pytest.raises(wire.FrameError) as info:
        wire.decode_frame(data, V201)
    assert info.value.reply is False
    assert info.value.unique_id == "1"
    if where:
        assert where in info.value.error.description


def test_encode_error_spelling() -> None:
    with pytest.raises(wire.FrameError) as info:
        wire.decode_frame(b"nope", V16)
    assert msgspec.json.decode(wire.encode_error(info.value, V16))[:3] == [
        4,
        "-1",
        "FormationViolation",
    ]
    assert msgspec.json.decode(wire.encode_error(info.value, V201))[:3] == [
        4,
        "-1",
        "RpcFrameworkError",
    ]
    assert wire_code("OccurrenceConstraintViolation", V16) == "OccurenceConstraintViolation"


# --- parity: compiled and pure give identical results --------------------------------------

CORPUS = [p.values[0] for p in BAD] + [
    b'[2,"1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]',
    b'[3,"1",{}]',
    b'[4,"1","NotSupported","",{}]',
    b'[5,"1","FormatViolation","",{}]',
    b'[6,"1","NotifyPeriodicEventStream",{}]',
    b'[9,"1"]',
]


def _outcome(module: object, data: bytes, version: str) -> object:
    try:
        f = module.decode_frame(data, version)  # type: ignore[attr-defined]
    except module.FrameError as exc:  # type: ignore[attr-defined]
        return (
            "error",
            type(exc.error).__name__,
            exc.error.description,
            exc.unique_id,
            exc.reply,
            exc.message_type,
        )
    return ("ok", type(f).__name__, msgspec.json.encode(f))


@pytest.mark.skipif(importlib.util.find_spec("ocppfast._wire_c") is None, reason="not compiled")
@pytest.mark.parametrize("version", ALL)
def test_parity_compiled_and_pure(version: str) -> None:
    from ocppfast import _wire_c as compiled_wire

    assert compiled_wire.__file__.endswith(".so")
    for data in CORPUS:
        assert _outcome(compiled_wire, data, version) == _outcome(pure_wire, data, version), data[
            :40
        ]
