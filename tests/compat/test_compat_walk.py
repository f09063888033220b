"""The flat path's one-walk validation and case conversion against msgspec and ``snake_dict``.

``ocppfast._compat_fast.walk`` replaces ``msgspec.convert(payload, type)`` followed by
``snake_dict(payload)`` on the flat path: it must never accept what msgspec refuses, must give
exactly what ``snake_dict`` gives (ints stay ints in float fields, key order kept), and should
accept what a valid payload is. Checked on every request and response type of OCPP 1.6, 2.0.1
and 2.1, with seeded random payloads (valid ones, and each mutated in one place), in the mode
the suite runs (compiled, or pure with ``OCPPFAST_NO_EXTENSIONS=1``).
"""

from __future__ import annotations

import enum
import json
import random
import string
from typing import Any

import msgspec
import pytest

from ocppfast import versions
from ocppfast.compat import charge_point
from ocppfast.compat import messages as compat_messages

fast: Any = charge_point._fast
inspect = msgspec.inspect

VERSIONS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}
TEXT = string.ascii_letters + string.digits + " -_.:é日\u2028\x7f\U0001f600"


def _types() -> list[tuple[str, Any]]:
    out = []
    for version, subprotocol in VERSIONS.items():
        for action in sorted(versions.actions(subprotocol)):
            for type_id in (2, 3):
                try:
                    validator = compat_messages.get_validator(type_id, action, version)
                except OSError:
                    continue
                out.append((f"{version}/{action}/{type_id}", validator.type))
    return out


TYPES = _types()
# 1.6 actions whose payloads carry a charging schedule (validated by msgspec alone)
CHARGING_PROFILES = {"SetChargingProfile", "RemoteStartTransaction", "GetCompositeSchedule"}


def _free(rng: random.Random, depth: int = 0) -> Any:
    """Free-form JSON (an ``Any`` field): camelCase keys, every JSON type."""
    pick = rng.randrange(8 if depth < 2 else 5)
    if pick == 0:
        return rng.randint(-5, 5)
    if pick == 1:
        return rng.choice([1.5, -0.25, 2.0, 1e21])
    if pick == 2:
        return "".join(rng.choice(TEXT) for _ in range(rng.randint(0, 4)))
    if pick == 3:
        return rng.choice([True, False, None])
    if pick == 4:
        return rng.choice(["someKey", "x"])
    if pick in (5, 6):
        keys = ["someKey", "deepKeyName", "x", "aB", "HTTPServer", "soc"]
        return {k: _free(rng, depth + 1) for k in rng.sample(keys, rng.randint(0, 3))}
    return [_free(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def _value(info: Any, rng: random.Random) -> Any:
    """A value msgspec accepts for ``info`` (a msgspec.inspect type)."""
    kind = type(info)
    if kind is inspect.StructType:
        out = {}
        fields = list(info.fields)
        rng.shuffle(fields)  # any key order
        for f in fields:
            if f.required or rng.random() < 0.5:
                out[f.encode_name] = _value(f.type, rng)
        return out
    if kind is inspect.ListType:
        low = info.min_length or 0
        high = min(low + 2, info.max_length if info.max_length is not None else low + 2)
        return [_value(info.item_type, rng) for _ in range(rng.randint(low, high))]
    if kind is inspect.StrType:
        high = info.max_length if info.max_length is not None else 12
        n = rng.randint(info.min_length or 0, min(high, 12))
        if high <= 12 and rng.random() < 0.3:
            n = high  # at the limit, non-ASCII counted as characters
        return "".join(rng.choice(TEXT) for _ in range(n))
    if kind is inspect.LiteralType:
        return rng.choice(info.values)
    if kind is inspect.IntType:
        low = info.ge if info.ge is not None else (info.gt + 1 if info.gt is not None else -50)
        high = info.le if info.le is not None else (info.lt - 1 if info.lt is not None else 10**6)
        return rng.choice([low, high, rng.randint(low, high)])
    if kind is inspect.FloatType:
        low = info.ge if info.ge is not None else -1000.0
        high = info.le if info.le is not None else 1000.0
        value = rng.uniform(low, high)
        return rng.choice([value, round(value), int(low), int(high) if high == int(high) else low])
    if kind is inspect.BoolType:
        return rng.random() < 0.5
    if kind is inspect.AnyType:
        return _free(rng)
    raise AssertionError(f"no generator for {info}")


def _bad_value(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            1,
            1.5,
            2**63,
            -(2**63) - 1,
            2**53 + 1,
            "",
            "x" * 2000,
            "NotAnEnumValue",
            [],
            [None],
            {},
            {"unknownKey": 1},
        ]
    )


def _mutate(value: Any, rng: random.Random) -> Any:
    """``value`` changed in one place: a wrong value, a key added or removed."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        out = dict(value)
        pick = rng.random()
        if pick < 0.2:
            del out[key]
        elif pick < 0.3:
            out["unknownKey"] = 1
        elif pick < 0.6:
            out[key] = _mutate(out[key], rng)
        else:
            out[key] = _bad_value(rng)
        return out
    if isinstance(value, list) and value and rng.random() < 0.7:
        out_list = list(value)
        i = rng.randrange(len(out_list))
        out_list[i] = _mutate(out_list[i], rng) if rng.random() < 0.5 else _bad_value(rng)
        return out_list
    return _bad_value(rng)


def _accepted(payload: Any, tp: Any) -> bool:
    try:
        msgspec.convert(payload, tp)
    except msgspec.ValidationError:
        return False
    return True


def _exact(value: Any) -> str:
    """A text telling 1, 1.0 and True apart, with key order."""
    return repr(value)


@pytest.mark.parametrize(("name", "tp"), TYPES, ids=[n for n, _ in TYPES])
def test_walk_agrees_with_msgspec_and_snake_dict(name: str, tp: Any) -> None:
    shape = fast.shape_of(tp)
    info = inspect.type_info(tp)
    rng = random.Random(name)
    if shape is None:  # the 1.6 charging profiles (multipleOf checks in __post_init__)
        assert name.split("/")[1] in CHARGING_PROFILES, name
        return
    for _ in range(25):
        valid = _value(info, rng)
        # as the flat path gets it: decoded JSON (exact types)
        for payload in (valid, _mutate(valid, rng), _mutate(valid, rng)):
            payload = msgspec.json.decode(json.dumps(payload))
            ok = _accepted(payload, tp)
            got = fast.walk(shape, payload, True)
            if got is not fast.FAIL:
                assert ok, f"walk accepted what msgspec refuses: {payload!r}"
                assert _exact(got) == _exact(fast.snake_dict(payload))
            elif payload is valid:
                pytest.fail(f"walk refused a valid payload: {payload!r}")
            # without building (an answer): the same verdict, the value itself
            checked = fast.walk(shape, payload, False)
            assert (checked is fast.FAIL) == (got is fast.FAIL)
            if checked is not fast.FAIL:
                assert checked is payload


def test_valid_generated_payloads_are_walked() -> None:
    """The generator's valid payloads are accepted by msgspec and by the walk (so the test
    above does compare kwargs), across all types."""
    walked = 0
    for name, tp in TYPES:
        shape = fast.shape_of(tp)
        if shape is None:
            continue
        rng = random.Random(name + "/valid")
        for _ in range(5):
            payload = msgspec.json.decode(json.dumps(_value(inspect.type_info(tp), rng)))
            assert _accepted(payload, tp), (name, payload)
            assert fast.walk(shape, payload, True) is not fast.FAIL, (name, payload)
            walked += 1
    assert walked > 1000


def test_numbers_stay_as_json_gave_them() -> None:
    """A float field keeps an int an int (mobilityhouse hands handlers what JSON said)."""
    tp = compat_messages.get_validator(2, "MeterValues", "2.0.1").type
    shape = fast.shape_of(tp)
    payload = msgspec.json.decode(
        b'{"evseId":1,"meterValue":[{"timestamp":"t","sampledValue":[{"value":5},'
        b'{"value":5.0},{"value":-0.5}]}]}'
    )
    got = fast.walk(shape, payload, True)
    values = [v["value"] for v in got["meter_value"][0]["sampled_value"]]
    assert values == [5, 5.0, -0.5]
    assert [type(v) for v in values] == [int, float, float]
    assert _accepted(payload, tp)


def test_str_subclasses_count_as_their_text_only_without_building() -> None:
    class Weird(str):
        def __len__(self) -> int:
            return 0

        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = str.__hash__

    class Status(enum.StrEnum):
        accepted = "Accepted"
        bogus = "Bogus"

    tp = compat_messages.get_validator(3, "BootNotification", "1.6").type
    shape = fast.shape_of(tp)
    good = {"status": Status.accepted, "currentTime": "t", "interval": 5}
    assert fast.walk(shape, good, False) is good
    assert fast.walk(shape, good, True) is fast.FAIL  # decoded JSON has exact types only
    for bad in (
        {"status": Status.bogus, "currentTime": "t", "interval": 5},
        {"status": Weird("Nope"), "currentTime": "t", "interval": 5},
    ):
        assert fast.walk(shape, bad, False) is fast.FAIL
        assert not _accepted(bad, tp)
    # a too long text whose __len__ says 0: msgspec reads the characters, so does the walk
    tp = compat_messages.get_validator(2, "Authorize", "1.6").type
    long_tag = {"idTag": Weird("x" * 21)}
    assert fast.walk(fast.shape_of(tp), long_tag, False) is fast.FAIL
    assert not _accepted(long_tag, tp)


def test_types_with_what_the_walk_does_not_model_have_no_shape() -> None:
    class WithPattern(msgspec.Struct):
        a: str = msgspec.field(default="")

    assert fast.shape_of(WithPattern) is not None

    from typing import Annotated

    Patterned = msgspec.defstruct("Patterned", [("a", Annotated[str, msgspec.Meta(pattern="x")])])
    Unioned = msgspec.defstruct("Unioned", [("a", int | str)])
    Multiple = msgspec.defstruct("Multiple", [("a", Annotated[int, msgspec.Meta(multiple_of=2)])])
    for tp in (Patterned, Unioned, Multiple):
        assert fast.shape_of(tp) is None


def _literal_shapes(shape: Any, seen: dict[int, Any]) -> None:
    if shape is None or id(shape) in seen:
        return
    seen[id(shape)] = shape
    if shape.item is not None:
        _literal_shapes(shape.item, seen)
    for field in (shape.fields or {}).values():
        _literal_shapes(field.shape, seen)


def test_literal_check_agrees_with_the_set_of_values() -> None:
    """``_literal`` (compiled: ASCII values compared with those of the same length, no hash)
    answers as ``in values`` for every value of every enum field of every type, and for near
    misses: one character changed, dropped or added, case changed, a Latin-1 or a wider
    character in place of one."""
    seen: dict[int, Any] = {}
    for _, tp in TYPES:
        _literal_shapes(fast.shape_of(tp), seen)
    literals = [s for s in seen.values() if s.values is not None]
    assert len(literals) > 50
    checked = 0
    for shape in literals:
        for value in shape.values:
            for text in (
                value,
                value[:-1],
                value + "x",
                value.swapcase(),
                "é" + value[1:],
                "\u0100" + value[1:],
                value[:-1] + chr(ord(value[-1]) + 1) if value else "x",
                "",
            ):
                assert fast._literal(shape, text) == (text in shape.values), (value, text)
                checked += 1
    assert checked > 1000
