"""ocppfast.compat.messages against mobilityhouse ``ocpp`` 2.1.0's ``ocpp.messages``, side by side.

Every test runs the same input through both modules and compares what comes out: the parsed
objects and their reprs, the exception class, code, description and details, and the JSON text
byte for byte. Validation is compared over every action of every version with a valid payload
built from the generated types and single-violation mutations of it.
"""

from __future__ import annotations

import asyncio
import copy
import decimal
import enum
import json
import threading
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp import exceptions as mh_exceptions
from ocpp import messages as mh

from ocppfast import versions
from ocppfast.compat import exceptions as cx
from ocppfast.compat import messages as cm

MH_VERSIONS = {"1.6": versions.OCPP16, "2.0.1": versions.OCPP201, "2.1": versions.OCPP21}


def outcome(fn: Any, *args: Any) -> tuple[Any, ...]:
    """What a call gives, comparable across the two packages."""
    try:
        result = fn(*args)
    except Exception as exc:  # noqa: BLE001 - the point is to compare any exception
        return (
            "raise",
            type(exc).__name__,
            getattr(exc, "code", None),
            repr(exc) if not isinstance(exc, (mh_exceptions.OCPPError, cx.OCPPError)) else None,
        )
    return ("ok", type(result).__name__, repr(result))


def error_outcome(exc: BaseException) -> tuple[Any, ...]:
    return (
        type(exc).__name__,
        getattr(exc, "code", None),
        getattr(exc, "description", None),
        sorted(getattr(exc, "details", {}) or {})
        if isinstance(getattr(exc, "details", None), dict)
        else None,
    )


# --- unpack ---------------------------------------------------------------------------------
UNPACK_ROWS: list[Any] = [
    # valid frames
    '[2,"1","Heartbeat",{}]',
    b'[2,"1","Heartbeat",{}]',
    bytearray(b'[3,"1",{"currentTime":"2024-01-01T00:00:00Z"}]'),
    '[3,"1",{}]',
    '[3,"1",{},"Heartbeat"]',  # 4-element CALLRESULT: the 4th is taken as action
    '[4,"1","GenericError","x",{}]',
    '[4,"1","GenericError","x"]',  # 4-element CALLERROR: details None
    "[2.0,1,5,[]]",  # 2.0 == 2; id and action types unchecked
    "[2,null,null,null]",
    '[2,"1","A",{"k":1e400}]',  # msgspec refuses, json gives inf
    '[2,"1","A",{"k":NaN,"j":-Infinity}]',
    '[2,"1","A",{"k":"\\ud800"}]',  # lone surrogate escape
    '[2,"1","A",{"k":123456789012345678901234567890}]',
    '[2,"1","A",{"a":1,"b":2,"a":3}]',  # duplicate keys: the last wins, first position
    '[2,"1","A",{"a":1.000000000000000000001,"b":123e-2,"c":0.1e1,"d":-0,"e":1E+2}]',
    '[2,"1","A",{"f":12345678901234567890.5,"g":5e-324,"h":2.2250738585072011e-308}]',
    "\ufeff[2]".encode("utf-8"),  # UTF-8 BOM in bytes: json accepts
    '[2,"1","A",{}]'.encode("utf-16"),  # UTF-16 bytes: json detects them
    '[2,"1","\u00e9",{"k":"\u20ac"}]',
    '[2,"1","\u00e9",{"k":"\u20ac"}]'.encode(),
    ' \t\r\n[3,"1",{}] \n',
    # invalid JSON / not UTF-8
    "",
    b"",
    b"\x01",
    b'["\xff"]',
    b'[2,"1","A",{"k":"\xed\xa0\x80"}]',  # UTF-8 encoded surrogate: json's surrogatepass
    "x",
    "[1,]",
    "[01]",
    "\ufeff[2]",  # BOM in str: json refuses
    '[2,"1","A",{}] x',
    '["a\tb"]',
    # not a list
    '"abc"',
    "{}",
    "3",
    "null",
    # []
    "[]",
    # wrong element count
    '[2,"1","Heartbeat"]',
    '[2,"1","Heartbeat",{},{}]',
    "[2]",
    '[3,"1"]',
    '[3,"1",{},"a","b"]',
    '[4,"1","x"]',
    '[4,"1","a","b",{},5]',
    # other type ids
    '[5,"1",{}]',
    '[6,"1","NotifyPeriodicEventStream",{}]',
    "[true]",
    "[1]",
    '["2","1","A",{}]',
    "[null]",
    "[[2]]",
    "[{}]",
    "[NaN]",
    "[7,1,2,3,4,5,6]",
]


@pytest.mark.parametrize("raw", UNPACK_ROWS, ids=lambda r: repr(r)[:40])
def test_unpack_matches_mobilityhouse(raw: Any) -> None:
    ours = theirs = None
    try:
        theirs = mh.unpack(raw)
    except mh_exceptions.OCPPError as exc:
        with pytest.raises(cx.OCPPError) as info:
            cm.unpack(raw)
        ours_exc = info.value
        assert error_outcome(ours_exc) == error_outcome(exc)
        assert type(ours_exc).__mro__[0].__name__ == type(exc).__name__
        if "ocpp_message" in exc.details:
            assert ours_exc.details["ocpp_message"] is raw
        if (
            isinstance(exc, mh_exceptions.ProtocolError)
            and "MessageTypeId" in exc.details["cause"]
            or "missing elements" in exc.details["cause"]
        ):
            assert ours_exc.details == exc.details  # the two causes the shared doc lists
        return
    ours = cm.unpack(raw)
    assert type(ours).__name__ == type(theirs).__name__
    assert repr(ours) == repr(theirs)
    # same Python types inside (int stays int, big ints stay exact, inf is a float)
    assert repr(ours.__dict__) == repr(theirs.__dict__)
    assert ours.to_json() == theirs.to_json()


def test_unpack_other_input_types_raise_what_json_raises() -> None:
    for raw in (None, 5, memoryview(b"[2]"), ["[2]"]):
        with pytest.raises(TypeError) as theirs:
            mh.unpack(raw)
        with pytest.raises(TypeError) as ours:
            cm.unpack(raw)
        assert str(ours.value) == str(theirs.value)


def test_unpack_nesting_bomb_is_a_format_violation() -> None:
    """mobilityhouse lets RecursionError escape (ending start()); compat answers FormatViolation."""
    bomb = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError):
        mh.unpack(bomb)
    with pytest.raises(cx.FormatViolationError) as info:
        cm.unpack(bomb)
    assert info.value.details["ocpp_message"] is bomb
    with pytest.raises(cx.FormatViolationError):
        cm.unpack(bomb.encode())
    with pytest.raises(cx.FormatViolationError):  # and on the json fallback path
        cm.unpack("[NaN," + "[" * 100_000 + "]" * 100_000 + "]")


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.one_of(
        JSON_VALUES.map(lambda v: json.dumps(v, ensure_ascii=False)),
        st.lists(JSON_VALUES, max_size=6).map(lambda v: json.dumps(v, ensure_ascii=False)),
        st.tuples(st.sampled_from([2, 3, 4, 5, 2.0, "2"]), st.lists(JSON_VALUES, max_size=5)).map(
            lambda t: json.dumps([t[0], *t[1]])
        ),
        st.text(max_size=30),
        st.binary(max_size=30),
    ),
    st.booleans(),
)
def test_unpack_fuzz_matches_mobilityhouse(raw: str | bytes, as_bytes: bool) -> None:
    if as_bytes and isinstance(raw, str):
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError:
            raw = raw.encode("utf-8", "surrogatepass")
    try:
        theirs: Any = mh.unpack(raw)
    except mh_exceptions.OCPPError as exc:
        theirs = error_outcome(exc)
    except RecursionError:
        return
    try:
        ours: Any = cm.unpack(raw)
    except cx.OCPPError as exc:
        ours = error_outcome(exc)
    if isinstance(theirs, tuple):
        assert ours == theirs
    else:
        assert repr(ours.__dict__) == repr(theirs.__dict__)
        assert ours.to_json() == theirs.to_json()


# --- wire text ------------------------------------------------------------------------------
class Color(enum.StrEnum):
    red = "Red"


class Level(enum.IntEnum):
    one = 1


class MixedStr(str, enum.Enum):
    a = "A"


class Weird(str):
    pass


class ResetKind(enum.StrEnum):
    hard = "Hard"
    medium = "Medium"


MH_TEST_DECIMAL = decimal.Decimal(2.000001)  # noqa: RUF032 - the value of mobilityhouse's test

WIRE_PAYLOADS: list[Any] = [
    {},
    {"currentTime": "2024-01-01T00:00:00Z", "interval": 300, "status": "Accepted"},
    {"b": 1, "a": 2},  # insertion order, no sort
    {"text": 'é ü € 😀 \u2028 \x00 \x1f \x7f " \\ / \n\t'},
    {"floats": [0.1, 1e16, 1e-7, -0.0, 1.0, 123456789.123456789, 5e-324, 1.7976931348623157e308]},
    {"special": [float("nan"), float("inf"), float("-inf")]},
    {"ints": [0, -1, 2**64, -(2**70), True, False, None]},
    {
        "dec": [
            decimal.Decimal("21.45"),
            MH_TEST_DECIMAL,
            decimal.Decimal("-0.04"),
            decimal.Decimal("0.35"),
        ]
    },
    {"dec": [decimal.Decimal("NaN"), decimal.Decimal("-Infinity"), decimal.Decimal("1E+30")]},
    {"enums": [Color.red, Level.one, MixedStr.a, Weird("w")]},
    {"tuple": (1, (2, 3)), "nested": {"x": [{"y": {}}]}},
    {2: "int key", 1.5: "float key", True: "bool key", None: "none key"},
    {"lone": "\ud800"},
    [1, "not a dict payload"],
    "a string payload",
    None,
]


@pytest.mark.parametrize("payload", WIRE_PAYLOADS, ids=lambda p: repr(p)[:30])
@pytest.mark.parametrize("unique_id", ["1", 1, "é"])
def test_to_json_is_byte_identical(payload: Any, unique_id: Any) -> None:
    pairs = [
        (cm.Call(unique_id, "Act", payload), mh.Call(unique_id, "Act", payload)),
        (cm.CallResult(unique_id, payload), mh.CallResult(unique_id, payload)),
        (
            cm.CallError(unique_id, "GenericError", "dé", payload),
            mh.CallError(unique_id, "GenericError", "dé", payload),
        ),
    ]
    for ours, theirs in pairs:
        assert ours.to_json() == theirs.to_json()
        assert cm.pack(ours) == mh.pack(theirs)
        assert repr(ours) == repr(theirs)


def test_to_json_of_a_message_in_details_embeds_its_json_text() -> None:
    ours_inner = cm.Call("1", "Reset", {"type": "Medium"})
    theirs_inner = mh.Call("1", "Reset", {"type": "Medium"})
    ours = cm.CallError("1", "FormatViolation", "d", {"cause": "c", "ocpp_message": ours_inner})
    theirs = mh.CallError("1", "FormatViolation", "d", {"cause": "c", "ocpp_message": theirs_inner})
    assert ours.to_json() == theirs.to_json()
    assert '"ocpp_message":"[2,\\"1\\",\\"Reset\\",{\\"type\\":\\"Medium\\"}]"' in ours.to_json()


@pytest.mark.parametrize(
    "bad", [object(), {1, 2}, b"bytes", {"k": {"deep": object()}}, {(1, 2): 1}]
)
def test_to_json_unserializable_raises_the_same_type_error(bad: Any) -> None:
    with pytest.raises(TypeError) as theirs:
        mh.CallResult("1", bad).to_json()
    with pytest.raises(TypeError) as ours:
        cm.CallResult("1", bad).to_json()
    assert str(ours.value) == str(theirs.value)


def test_to_json_circular_payload_raises_what_json_raises() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(ValueError) as theirs:
        mh.CallResult("1", loop).to_json()
    with pytest.raises(ValueError) as ours:
        cm.CallResult("1", loop).to_json()
    assert str(ours.value) == str(theirs.value)


def test_decimal_encoder_matches() -> None:
    for value in [MH_TEST_DECIMAL, decimal.Decimal("21.45"), decimal.Decimal(-1)]:
        assert json.dumps([value], cls=cm._DecimalEncoder) == json.dumps(
            [value], cls=mh._DecimalEncoder
        )
    assert json.dumps([MH_TEST_DECIMAL], cls=cm._DecimalEncoder) == "[2.0]"


def test_patched_decimal_encoder_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """User code that replaces ``_DecimalEncoder`` (e.g. to send datetimes) keeps working."""
    import datetime

    class Encoder(cm._DecimalEncoder):
        def default(self, o: Any) -> Any:
            if isinstance(o, datetime.datetime):
                return o.isoformat()
            return super().default(o)

    monkeypatch.setattr(cm, "_DecimalEncoder", Encoder)
    when = datetime.datetime(2024, 1, 1, 12, 0)
    assert cm.CallResult("1", {"t": when}).to_json() == '[3,"1",{"t":"2024-01-01T12:00:00"}]'


@dataclass
class Payload:
    id_tag: str
    nested: dict[str, Any]


def test_call_converts_a_dataclass_payload_like_mobilityhouse() -> None:
    ours = cm.Call("1", "Authorize", Payload("abc", {"x": 1}))
    theirs = mh.Call("1", "Authorize", Payload("abc", {"x": 1}))
    assert ours.payload == theirs.payload == {"id_tag": "abc", "nested": {"x": 1}}
    assert ours.to_json() == theirs.to_json()
    with pytest.raises(TypeError):
        mh.Call("1", "A", Payload)
    with pytest.raises(TypeError):
        cm.Call("1", "A", Payload)


def test_reprs() -> None:
    assert (
        repr(cm.Call("1", "Heartbeat", {})) == "<Call - unique_id=1, action=Heartbeat, payload={}>"
    )
    assert (
        repr(cm.CallResult("1", {"status": "Accepted"}, "Authorize"))
        == "<CallResult - unique_id=1, action=Authorize, payload={'status': 'Accepted'}>"
    )
    assert (
        repr(cm.CallError(1, "GenericError", "Some message", {}))
        == "<CallError - unique_id=1, error_code=GenericError, error_description=Some message, "
        "error_details={}>"
    )
    assert cm.MessageType.Call == 2 and cm.MessageType.CallResult == 3
    assert cm.MessageType.CallError == 4
    for name in ("Call", "CallResult", "CallError"):
        assert getattr(cm, name).message_type_id == getattr(mh, name).message_type_id


def test_create_call_result_and_error() -> None:
    ours, theirs = cm.Call(7, "Reset", {}), mh.Call(7, "Reset", {})
    a, b = (
        ours.create_call_result({"status": "Accepted"}),
        theirs.create_call_result({"status": "Accepted"}),
    )
    assert (type(a).__name__, repr(a), a.to_json()) == (type(b).__name__, repr(b), b.to_json())
    cases = [
        (
            cx.NotImplementedError(details={"cause": "No handler for Reset registered."}),
            mh_exceptions.NotImplementedError(
                details={"cause": "No handler for Reset registered."}
            ),
        ),
        (
            cx.FormationViolationError("d", {"k": 1}),
            mh_exceptions.FormationViolationError("d", {"k": 1}),
        ),
        (cx.GenericError(), mh_exceptions.GenericError()),
        (RuntimeError("secret internals"), RuntimeError("secret internals")),
        (KeyError("x"), KeyError("x")),
    ]
    for ours_exc, theirs_exc in cases:
        x, y = ours.create_call_error(ours_exc), theirs.create_call_error(theirs_exc)
        assert (repr(x), x.to_json()) == (repr(y), y.to_json())
    assert ours.create_call_error(
        cx.NotImplementedError(details={"cause": "No handler for Reset registered."})
    ).to_json() == (
        '[4,7,"NotImplemented","Request Action is recognized but not supported by the receiver",'
        '{"cause":"No handler for Reset registered."}]'
    )


def test_create_call_error_of_a_bare_ocpp_error_does_not_crash() -> None:
    """mobilityhouse's base class has no ``code`` (AttributeError); compat answers GenericError."""
    with pytest.raises(AttributeError):
        mh.Call("1", "A", {}).create_call_error(mh_exceptions.OCPPError())
    assert cm.Call("1", "A", {}).create_call_error(cx.OCPPError()).to_json() == (
        '[4,"1","GenericError","",{}]'
    )


ALL_CODES = [
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    "FormatViolation", "FormationViolation", "PropertyConstraintViolation",
    "OccurenceConstraintViolation", "OccurrenceConstraintViolation", "TypeConstraintViolation",
    "GenericError", "RpcFrameworkError", "MessageTypeNotSupported", "418", "",
]  # fmt: skip


@pytest.mark.parametrize("code", ALL_CODES)
def test_to_exception(code: str) -> None:
    theirs = mh.CallError("1", code, "desc", {"a": 1})
    ours = cm.CallError("1", code, "desc", {"a": 1})
    try:
        expected: Any = theirs.to_exception()
    except mh_exceptions.UnknownCallErrorCodeError:
        with pytest.raises(cx.UnknownCallErrorCodeError):
            ours.to_exception()
        return
    got = ours.to_exception()
    assert (type(got).__name__, repr(got), str(got)) == (
        type(expected).__name__,
        repr(expected),
        str(expected),
    )
    assert got == cm.CallError("1", code, "desc", {"a": 1}).to_exception()


# --- validation: a corpus over every action of every version ---------------------------------
VALID_DATE = "2024-02-29T12:34:56.789Z"


def build(info: Any) -> Any:
    """A valid value of a msgspec type (from the generated, stricter types)."""
    if isinstance(info, mi.Metadata):
        return build(info.type)
    if isinstance(info, mi.StructType):
        return {f.encode_name: build(f.type) for f in info.fields}
    if isinstance(info, mi.ListType):
        return [build(info.item_type) for _ in range(max(1, info.min_length or 0))]
    if isinstance(info, mi.StrType):
        if info.pattern:
            return VALID_DATE
        return "abc"[: info.max_length or 3]
    if isinstance(info, mi.IntType):
        return info.ge if info.ge is not None else min(1, info.le if info.le is not None else 1)
    if isinstance(info, mi.FloatType):
        if info.multiple_of == 1:
            return 1.0
        return info.ge if info.ge is not None else min(1.5, info.le if info.le is not None else 1.5)
    if isinstance(info, mi.BoolType):
        return True
    if isinstance(info, mi.EnumType):
        return next(iter(info.cls)).value
    if isinstance(info, mi.UnionType):
        for t in info.types:
            if isinstance(t, mi.IntType):
                return build(t)
        return build(info.types[0])
    if isinstance(info, mi.AnyType):
        return {"someKey": [1, "x"]}
    raise AssertionError(f"unhandled {info}")


def sites(
    info: Any, value: Any, path: tuple[Any, ...] = ()
) -> list[tuple[tuple[Any, ...], Any, bool, str]]:
    """(path, type info, required, wire name) of every field in a built value."""
    out = []
    if isinstance(info, mi.Metadata):
        return sites(info.type, value, path)
    if isinstance(info, mi.StructType):
        for f in info.fields:
            out.append((path + (f.encode_name,), f.type, f.required, f.encode_name))
            out += sites(f.type, value[f.encode_name], path + (f.encode_name,))
    elif isinstance(info, mi.ListType):
        out += sites(info.item_type, value[0], path + (0,))
    return out


def unwrap(info: Any) -> Any:
    while isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        ints = [t for t in info.types if isinstance(t, mi.IntType)]
        return ints[0] if ints else info.types[0]
    return info


Op = tuple[str, str, tuple[Any, ...], Any]  # kind, field wire name, path, edit(parent, key)


def apply(payload: Any, *ops: Op) -> Any:
    p = copy.deepcopy(payload)
    for _, _, path, fn in ops:
        parent = p
        for step in path[:-1]:
            parent = parent[step]
        fn(parent, path[-1])
    return p


def mutations(
    payload: dict[str, Any], info: Any, per_kind_limit: int
) -> list[tuple[str, str, Any]]:
    """(kind, field wire name, mutated payload) single-violation variants, a few per kind."""
    out = [
        (kind, name, apply(payload, op))
        for op in mutation_ops(payload, info, per_kind_limit)
        for kind, name, _, _ in [op]
    ]
    out.append(("not an object", "$", []))
    return out


def mutation_ops(payload: dict[str, Any], info: Any, per_kind_limit: int) -> list[Op]:
    """The single-violation edits of a valid payload, ``per_kind_limit`` fields per kind."""
    out: list[Op] = []
    per_kind: dict[str, int] = {}

    def add(kind: str, name: str, path: tuple[Any, ...], fn: Any) -> None:
        if per_kind.get(kind, 0) >= per_kind_limit:
            return
        per_kind[kind] = per_kind.get(kind, 0) + 1
        out.append((kind, name, path, fn))

    def setter(value: Any) -> Any:
        def fn(parent: Any, key: Any) -> None:
            parent[key] = value

        return fn

    add("extra top-level property", "unexpectedKey", ("unexpectedKey",), setter(1))
    for path, t, required, name in sites(info, payload):
        t0 = unwrap(t)
        if required:
            add("missing required", name, path, lambda parent, key: parent.pop(key))
        else:
            add("null optional", name, path, setter(None))
        if isinstance(t0, mi.StrType) and not t0.pattern:
            add("wrong type str", name, path, setter(12))
            if t0.max_length:
                add("too long", name, path, setter("x" * (t0.max_length + 1)))
        if isinstance(t0, mi.StrType) and t0.pattern:
            add("bad date-time", name, path, setter("yesterday at noon"))
        if isinstance(t0, mi.IntType):
            add("wrong type int", name, path, setter("1"))
            add("float for integer", name, path, setter(1.0))
            add("bool for integer", name, path, setter(True))
            if t0.ge is not None:
                add("below minimum", name, path, setter(t0.ge - 1))
            if t0.le is not None:
                add("above maximum", name, path, setter(t0.le + 1))
        if isinstance(t0, mi.FloatType):
            add("wrong type number", name, path, setter("1.5"))
            if t0.ge is not None:
                add("number below minimum", name, path, setter(t0.ge - 1.5))
        if isinstance(t0, mi.EnumType):
            add("bad enum", name, path, setter("NotAnEnumValue"))
            add("enum of wrong type", name, path, setter(3))
        if isinstance(t0, mi.StructType):
            add("object of wrong type", name, path, setter("x"))
            if t0.forbid_unknown_fields:
                add("extra nested property", name, path + ("unexpectedKey",), setter(1))
        if isinstance(t0, mi.ListType):
            add("array of wrong type", name, path, setter({}))
            if t0.min_length:
                add("too few items", name, path, setter([]))
            if t0.max_length:
                add(
                    "too many items",
                    name,
                    path,
                    lambda parent, key, n=t0.max_length: parent[key].extend(parent[key] * n),
                )
        if isinstance(t0, mi.BoolType):
            add("wrong type bool", name, path, setter("true"))
    return out


def corpus(per_kind_limit: int) -> list[tuple[str, str, int, str, str, Any]]:
    rows = []
    for version, subprotocol in MH_VERSIONS.items():
        for action, spec in sorted(versions.actions(subprotocol).items()):
            for type_id, struct in ((2, spec.request), (3, spec.response)):
                if struct is None or action == "NotifyPeriodicEventStream":  # no mh schema
                    continue
                info = mi.type_info(struct)
                valid = build(info)
                rows.append((version, action, type_id, "valid", "", valid))
                for kind, name, payload in mutations(valid, info, per_kind_limit):
                    rows.append((version, action, type_id, kind, name, payload))
    return rows


def run_mh(version: str, action: str, type_id: int, payload: Any) -> tuple[Any, Any]:
    msg = mh.Call("1", action, payload) if type_id == 2 else mh.CallResult("1", payload, action)
    try:
        mh._validate_payload(msg, version)
    except mh_exceptions.OCPPError as exc:
        return exc, msg
    return None, msg


def run_ours(version: str, action: str, type_id: int, payload: Any) -> tuple[Any, Any]:
    msg = cm.Call("1", action, payload) if type_id == 2 else cm.CallResult("1", payload, action)
    try:
        cm._validate_payload(msg, version)
    except cx.OCPPError as exc:
        return exc, msg
    return None, msg


@pytest.mark.parametrize(
    ("per_kind_limit", "at_least"),
    [(1, 2500), pytest.param(4, 8000, marks=pytest.mark.slow)],
    ids=["one-site-per-kind", "four-sites-per-kind"],
)
def test_validation_corpus_matches_mobilityhouse(per_kind_limit: int, at_least: int) -> None:
    """Valid payloads of every action and direction pass both; each single violation raises the
    same exception class in both (or passes both: mobilityhouse does not check date-time).

    Each mutation kind is applied to ``per_kind_limit`` fields of each message (the full run is
    slow because of jsonschema: OCPPFAST_SLOW=1)."""
    rows = corpus(per_kind_limit)
    assert len(rows) > at_least
    mismatches = []
    kinds_seen: dict[str, set[str]] = {}
    for version, action, type_id, kind, name, payload in rows:
        theirs, _ = run_mh(version, action, type_id, copy.deepcopy(payload))
        ours, msg = run_ours(version, action, type_id, copy.deepcopy(payload))
        t_out = None if theirs is None else (type(theirs).__name__, sorted(theirs.details))
        o_out = None if ours is None else (type(ours).__name__, sorted(ours.details))
        kinds_seen.setdefault(kind, set()).add("pass" if theirs is None else type(theirs).__name__)
        if t_out != o_out:
            mismatches.append((version, action, type_id, kind, name, t_out, o_out))
            continue
        if ours is not None and name not in ("$",):
            assert name in ours.details["cause"], (version, action, kind, ours.details)
        if ours is not None and "ocpp_message" in ours.details:
            assert ours.details["ocpp_message"] is msg
    assert not mismatches, mismatches[:20]
    # the corpus exercised every branch of the keyword table
    assert kinds_seen["valid"] == {"pass"}
    assert kinds_seen["missing required"] == {"ProtocolError"}
    assert kinds_seen["too long"] == {"TypeConstraintViolationError"}
    assert kinds_seen["extra top-level property"] == {"FormatViolationError"}
    assert kinds_seen["bad enum"] == {"FormatViolationError"}
    assert kinds_seen["bad date-time"] == {"pass"}
    assert kinds_seen["float for integer"] == {"TypeConstraintViolationError"}
    assert "FormatViolationError" in kinds_seen["below minimum"]
    assert "pass" in kinds_seen["above maximum"]  # ocppfast's 32-bit bound is not mobilityhouse's


def test_validation_error_details_shape() -> None:
    theirs, _ = run_mh("1.6", "Reset", 2, {"type": "Medium"})
    ours, _ = run_ours("1.6", "Reset", 2, {"type": "Medium"})
    assert type(ours) is cx.FormatViolationError and type(theirs).__name__ == type(ours).__name__
    assert ours.details["cause"].startswith(
        "Payload '{'type': 'Medium'}' for action 'Reset' is not valid: "
    )
    assert "$.type" in ours.details["cause"]
    assert "'ocpp_message': <Call - unique_id=1, action=Reset, payload={'type': 'Medium'}>" in str(
        ours
    )
    ours, _ = run_ours(
        "1.6", "StartTransaction", 2, {"connectorId": 1, "idTag": "t", "timestamp": VALID_DATE}
    )
    assert ours.details == {"cause": "Object missing required field `meterStart`"}
    # the wire text of a validation error carries the message's own JSON text
    err = cm.Call("9", "Reset", {"type": "Medium"}).create_call_error(
        run_ours("1.6", "Reset", 2, {"type": "Medium"})[0]
    )
    their_err = mh.Call("9", "Reset", {"type": "Medium"}).create_call_error(
        run_mh("1.6", "Reset", 2, {"type": "Medium"})[0]
    )
    assert (
        json.loads(err.to_json())[4]["ocpp_message"]
        == json.loads(their_err.to_json())[4]["ocpp_message"]
    )
    assert json.loads(err.to_json())[:4] == json.loads(their_err.to_json())[:4]


def test_mobilityhouse_test_cases() -> None:
    """The payloads of mobilityhouse's own tests/test_messages.py."""
    cases = [
        (
            "1.6",
            "StartTransaction",
            2,
            {
                "connectorId": 1,
                "idTag": "okTag",
                "meterStart": "invalid_type",
                "timestamp": "2022-01-25T19:18:30.018Z",
            },
        ),
        (
            "1.6",
            "StartTransaction",
            2,
            {"connectorId": 1, "idTag": "okTag", "timestamp": "2022-01-25T19:18:30.018Z"},
        ),
        ("1.6", "StartTransaction", 2, {"idTag": "012345678901234567890", "connectorId": 1}),
        ("1.6", "Heartbeat", 3, {"invalid_key": True}),
        ("1.6", "Heartbeat", 3, {"currentTime": "2024-01-01T00:00:00"}),
        (
            "1.6",
            "MeterValues",
            2,
            {
                "connectorId": 1,
                "transactionId": 123456789,
                "meterValue": [
                    {
                        "timestamp": "2020-02-21T13:48:45.459756Z",
                        "sampledValue": [
                            {"value": "50.0", "measurand": "Frequency", "unit": "Hertz"}
                        ],
                    }
                ],
            },
        ),
        (
            "2.0.1",
            "BootNotification",
            2,
            {
                "chargingStation": {
                    "model": "m",
                    "vendorName": "v",
                    "customData": {"vendorId": "x", "extra": 1},
                },
                "reason": "PowerUp",
            },
        ),
        (
            "2.0.1",
            "BootNotification",
            2,
            {
                "chargingStation": {"model": "m", "vendorName": "v"},
                "reason": "PowerUp",
                "customData": {"vendorId": "x" * 256},
            },
        ),
        ("2.0.1", "DataTransfer", 2, {"vendorId": "v", "data": None}),
        ("2.0.1", "DataTransfer", 2, {"vendorId": "v", "data": {"anything": [1, {"goes": None}]}}),
        ("2.1", "Heartbeat", 2, {}),
        ("1.6", "Reset", 2, {"type": "Hard", "extra": 1, "more": 2}),
        ("1.6", "Reset", 2, {"type": ResetKind.hard}),  # enum members from call() payloads
        ("1.6", "Reset", 2, {"type": MixedStr.a}),
        ("1.6", "Reset", 2, {"type": ResetKind.medium}),
        ("1.6", "Reset", 2, []),
        ("1.6", "Reset", 2, "Hard"),
        ("1.6", "Reset", 2, None),
        (
            "1.6",
            "BootNotification",
            2,
            {"chargePointVendor": "v", "chargePointModel": "m", 5: "int key"},
        ),
    ]
    for version, action, type_id, payload in cases:
        theirs, _ = run_mh(version, action, type_id, copy.deepcopy(payload))
        ours, _ = run_ours(version, action, type_id, copy.deepcopy(payload))
        assert (type(theirs).__name__, theirs and sorted(theirs.details)) == (
            type(ours).__name__,
            ours and sorted(ours.details),
        ), (action, payload, theirs, ours)


SET_PROFILE = {
    "connectorId": 1,
    "csChargingProfiles": {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
            "minChargingRate": 0.3,
        },
        "transactionId": 123456789,
    },
}


def with_limit(payload: dict[str, Any], limit: Any, rate: Any = 0.3) -> dict[str, Any]:
    p = copy.deepcopy(payload)
    p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = limit
    p["csChargingProfiles"]["chargingSchedule"]["minChargingRate"] = rate
    return p


@pytest.mark.parametrize(
    ("limit", "rate"),
    [
        (21.4, 0.3),
        (21, 0.3),
        (21.45, 0.3),
        (21.4, 0.35),
        (0.1 + 0.2, 0.3),
        (1e-1, 1e2),
        (32.0, 7),
        (21.40, 1.0),
        (-1.5, 0.3),
        (True, 0.3),
        ("21.4", 0.3),
    ],
)
@pytest.mark.parametrize(
    "action", ["SetChargingProfile", "RemoteStartTransaction", "GetCompositeSchedule"]
)
def test_decimal_quirk(limit: Any, rate: Any, action: str) -> None:
    """1.6 charging profiles: Decimal payload in place, 21.4 passes multipleOf 0.1, 21.45 not."""
    if action == "SetChargingProfile":
        type_id, payload = 2, with_limit(SET_PROFILE, limit, rate)
    elif action == "RemoteStartTransaction":
        p = with_limit(SET_PROFILE, limit, rate)
        type_id, payload = (
            2,
            {"idTag": "t", "connectorId": 1, "chargingProfile": p["csChargingProfiles"]},
        )
    else:
        p = with_limit(SET_PROFILE, limit, rate)
        type_id, payload = (
            3,
            {
                "status": "Accepted",
                "connectorId": 1,
                "scheduleStart": VALID_DATE,
                "chargingSchedule": p["csChargingProfiles"]["chargingSchedule"],
            },
        )
    theirs, their_msg = run_mh("1.6", action, type_id, copy.deepcopy(payload))
    ours, our_msg = run_ours("1.6", action, type_id, copy.deepcopy(payload))
    assert type(theirs).__name__ == type(ours).__name__
    assert repr(our_msg.payload) == repr(their_msg.payload)  # Decimal('21.4'), ints stay int
    assert our_msg.to_json() == their_msg.to_json()
    if limit == 21.45:
        assert type(ours) is cx.FormatViolationError
    if (limit, rate) == (21.4, 0.3):
        assert ours is None
        assert "Decimal('21.4')" in repr(our_msg.payload)


def test_decimal_quirk_only_where_mobilityhouse_applies_it() -> None:
    for version, action, type_id, payload in [
        ("1.6", "GetCompositeSchedule", 2, {"connectorId": 1, "duration": 5}),
        ("1.6", "SetChargingProfile", 3, {"status": "Accepted"}),
        (
            "2.0.1",
            "NotifyEVChargingNeeds",
            2,
            {
                "evseId": 1,
                "chargingNeeds": {
                    "requestedEnergyTransfer": "DC",
                    "dcChargingParameters": {"evMaxCurrent": 1.5, "evMaxVoltage": 400},
                },
            },
        ),
    ]:
        _, their_msg = run_mh(version, action, type_id, copy.deepcopy(payload))
        _, our_msg = run_ours(version, action, type_id, copy.deepcopy(payload))
        assert repr(our_msg.payload) == repr(their_msg.payload)


def test_decimal_payload_validated_twice() -> None:
    """A payload that already holds Decimals (validated before) validates again."""
    msg = cm.Call("1", "SetChargingProfile", copy.deepcopy(SET_PROFILE))
    cm._validate_payload(msg, "1.6")
    first = msg.payload
    cm._validate_payload(msg, "1.6")
    assert msg.payload == first and msg.payload is not first


def test_unknown_action_and_version() -> None:
    for version in ("1.6", "2.0.1", "2.1", "2.0"):
        for msg_cls, mh_cls in ((cm.Call, mh.Call), (cm.CallResult, mh.CallResult)):
            args = ("1", "CustomAction", {}) if msg_cls is cm.Call else ("1", {}, "CustomAction")
            with pytest.raises(mh_exceptions.NotImplementedError) as theirs:
                mh._validate_payload(mh_cls(*args), version)
            with pytest.raises(cx.NotImplementedError) as ours:
                cm._validate_payload(msg_cls(*args), version)
            assert (
                ours.value.details
                == theirs.value.details
                == {"cause": "Failed to validate action: CustomAction"}
            )
    # "2.0" has no schemas at all
    with pytest.raises(cx.NotImplementedError):
        cm._validate_payload(cm.Call("1", "Heartbeat", {}), "2.0")
    with pytest.raises(mh_exceptions.NotImplementedError):
        mh._validate_payload(mh.Call("1", "Heartbeat", {}), "2.0")
    # the 2.1 SEND-only action has no request schema mobilityhouse finds
    with pytest.raises(cx.NotImplementedError):
        cm._validate_payload(cm.Call("1", "NotifyPeriodicEventStream", {}), "2.1")
    for bad in ("ocpp1.6", "1.5", ""):
        with pytest.raises(ValueError):
            mh._validate_payload(mh.Call("1", "Heartbeat", {}), bad)
        with pytest.raises(ValueError):
            cm._validate_payload(cm.Call("1", "Heartbeat", {}), bad)
    for not_a_message in (
        {},
        cm.CallError("1", "GenericError", "", {}),
        mh.Call("1", "Heartbeat", {}),
    ):
        with pytest.raises(cx.ValidationError):
            cm._validate_payload(not_a_message, "1.6")  # type: ignore[arg-type]
    # an action that is not a string: mobilityhouse crashes with TypeError, compat says NotImplemented
    for action in (None, 5, ["x"]):
        with pytest.raises(cx.NotImplementedError):
            cm._validate_payload(cm.Call("1", action, {}), "1.6")


def test_get_validator_and_cache() -> None:
    validator = cm.get_validator(cm.MessageType.Call, "Reset", ocpp_version="1.6")
    assert validator is cm._validators["Reset_1.6"]
    assert cm.get_validator(2, "Reset", "2.0.1") is cm._validators["ResetRequest_2.0.1"]
    assert cm.get_validator(3, "Reset", "2.1") is cm._validators["ResetResponse_2.1"]
    assert cm.get_validator(3, "Reset", "1.6") is cm._validators["ResetResponse_1.6"]
    with pytest.raises(OSError):
        cm.get_validator(cm.MessageType.Call, "non-existing", ocpp_version="1.6")
    with pytest.raises(ValueError):
        cm.get_validator(2, "Reset", "3.0")
    validator.validate({"type": "Hard"})
    with pytest.raises(cm.SchemaValidationError) as info:
        validator.validate({"type": "Medium"})
    assert info.value.validator == "enum" and "$.type" in info.value.message


def test_validate_payload_is_async_and_never_uses_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        before = threading.active_count()
        for flag in (True, False):
            monkeypatch.setattr(cm, "ASYNC_VALIDATION", flag)
            await cm.validate_payload(cm.Call("1", "Heartbeat", {}), "1.6")
            with pytest.raises(cx.FormatViolationError):
                await cm.validate_payload(cm.Call("1", "Heartbeat", {"x": 1}), "1.6")
        assert threading.active_count() == before

    asyncio.run(main())


def test_validate_payload_calls_the_module_level_sync_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = []
    monkeypatch.setattr(cm, "_validate_payload", lambda m, v: seen.append((m, v)))
    msg = cm.Call("1", "Heartbeat", {})
    asyncio.run(cm.validate_payload(msg, "2.0.1"))
    assert seen == [(msg, "2.0.1")]


def test_module_surface() -> None:
    for name in (
        "Call",
        "CallResult",
        "CallError",
        "MessageType",
        "unpack",
        "pack",
        "get_validator",
        "validate_payload",
        "_validate_payload",
        "_validators",
        "_DecimalEncoder",
        "ASYNC_VALIDATION",
        "asdict",
        "is_dataclass",
        "FormatViolationError",
        "NotImplementedError",
        "OCPPError",
        "PropertyConstraintViolationError",
        "ProtocolError",
        "TypeConstraintViolationError",
        "UnknownCallErrorCodeError",
        "ValidationError",
    ):
        assert hasattr(mh, name), name
        assert hasattr(cm, name), name
    assert cm.ASYNC_VALIDATION is True
    assert cm.NotImplementedError is cx.NotImplementedError
    assert msgspec  # the validator types are msgspec Structs


def test_documented_differences() -> None:
    """Where compat deliberately differs (mobilityhouse crashes, or is stricter than JSON)."""
    profile = with_limit(SET_PROFILE, decimal.Decimal("21.4"))
    with pytest.raises(TypeError):  # mobilityhouse: json.dumps of its own Decimal payload
        run_mh("1.6", "SetChargingProfile", 2, copy.deepcopy(profile))
    ours, msg = run_ours("1.6", "SetChargingProfile", 2, copy.deepcopy(profile))
    assert ours is None and "Decimal('21.4')" in repr(msg.payload)
    meter = {
        "connectorId": 1,
        "meterValue": ({"timestamp": VALID_DATE, "sampledValue": ({"value": "1"},)},),
    }
    theirs, _ = run_mh("1.6", "MeterValues", 2, copy.deepcopy(meter))
    assert type(theirs) is mh_exceptions.TypeConstraintViolationError
    assert run_ours("1.6", "MeterValues", 2, copy.deepcopy(meter))[0] is None
    with pytest.raises(TypeError):
        mh._validate_payload(mh.CallResult("1", {}), "1.6")  # no action: None + "Response"
    with pytest.raises(cx.NotImplementedError):
        cm._validate_payload(cm.CallResult("1", {}), "1.6")


def test_two_violations_report_what_mobilityhouse_reports_first() -> None:
    """Payloads with an unknown or a missing field plus a second violation inside the same object
    (where jsonschema's order does not depend on the order of properties in the schema): the
    exception class is mobilityhouse's (1.6 core schemas check properties before unknown fields,
    the 1.6 security extension and 2.0.1 / 2.1 the other way round; required comes last)."""
    checked = mismatches = 0
    failures = []
    for version, subprotocol in MH_VERSIONS.items():
        for action, spec in sorted(versions.actions(subprotocol).items()):
            for type_id, struct in ((2, spec.request), (3, spec.response)):
                if struct is None or action == "NotifyPeriodicEventStream":
                    continue
                info = mi.type_info(struct)
                valid = build(info)
                ops = mutation_ops(valid, info, 1)
                anchors = [op for op in ops if op[0].startswith(("extra", "missing required"))]
                for anchor in anchors:
                    scope = anchor[2][:-1]  # the object the unknown / missing field is in
                    for other in ops:
                        if other is anchor or other[2][: len(scope)] != scope:
                            continue
                        if (
                            other[0].startswith(("extra", "missing required"))
                            and other[2][:-1] == scope
                        ):
                            continue  # two of a kind in one object: either is right
                        if other[2][: len(anchor[2])] == anchor[2]:
                            continue  # the other edit is inside the removed field
                        payload = apply(valid, anchor, other)
                        theirs, _ = run_mh(version, action, type_id, copy.deepcopy(payload))
                        ours, _ = run_ours(version, action, type_id, copy.deepcopy(payload))
                        checked += 1
                        if type(theirs).__name__ != type(ours).__name__:
                            mismatches += 1
                            failures.append(
                                (
                                    version,
                                    action,
                                    type_id,
                                    anchor[0],
                                    anchor[1],
                                    other[0],
                                    other[1],
                                    type(theirs).__name__,
                                    type(ours).__name__,
                                )
                            )
    assert checked > 1000
    assert not failures, (mismatches, failures[:10])


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_decimal_copy_is_a_json_round_trip(value: Any) -> None:
    """What mobilityhouse does to the 1.6 profile payloads: json.loads(json.dumps(p), Decimal)."""
    expected = json.loads(json.dumps(value), parse_float=decimal.Decimal)
    assert repr(cm._with_decimals(value)) == repr(expected)


def test_decimal_copy_of_python_values() -> None:
    value = {
        "e": [Color.red, Level.one, MixedStr.a, Weird("w")],
        "t": (1, (2.5, float("nan"), float("-inf"))),
        MixedStr.a: 1,
        2: "int key",
        1.5: "float key",
        True: "bool key",
        None: "none key",
        Level.one: "intenum key",
    }
    expected = json.loads(json.dumps(value), parse_float=decimal.Decimal)
    assert repr(cm._with_decimals(value)) == repr(expected)


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1", "2.0"])
@pytest.mark.parametrize("type_id", [2, 3, 4, 5])
def test_get_validator_finds_what_mobilityhouse_finds(version: str, type_id: int) -> None:
    for action in ("Reset", "Heartbeat", "NoSuchAction"):
        try:
            mh.get_validator(type_id, action, version)
        except OSError:
            with pytest.raises(OSError):
                cm.get_validator(type_id, action, version)
            continue
        cm.get_validator(type_id, action, version)
