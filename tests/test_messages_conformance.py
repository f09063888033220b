"""Differential test: the generated decoders accept exactly what the official schemas accept.

The oracle is ``jsonschema`` (Draft4Validator for draft-04 files, Draft6Validator for draft-06)
with its FormatChecker (``date-time`` through rfc3339-validator) on the schemas shipped in
``ocpp==2.1.0``. One keyword is evaluated differently from plain jsonschema, as documented in
tools/gen_messages.py QUIRKS Q3: ``multipleOf`` on the decimal value (jsonschema divides binary
floats and would reject ``0.3`` as a multiple of ``0.1``; mobilityhouse ocpp uses ``Decimal`` for
the same reason). JSON that Python's ``json`` reads but RFC 8259 calls non-interoperable (NaN,
Infinity, numbers overflowing a double) counts as malformed (Q13). One rule is added on purpose,
citing the specifications rather than the schemas (Q15): OCPP integers are 32-bit (1.6 section 7
"Types"; 2.0.1 part 2 "Primitive datatypes"), so the oracle's ``integer`` type is an integral
number in [-2**31, 2**31 - 1] (test_integers_are_32_bit checks the difference itself).

Cases per schema (for mutations the oracle validates the mutated value against the schema node at
its path, see test_corpus_agrees_with_schema):
- hypothesis-jsonschema ``from_schema`` examples (deterministic: ``derandomize=True``);
- a deterministic corpus: a minimal, a full and a "limits" instance, plus mutations of the full
  instance at every property path (drop a required / optional field, null for a field, wrong
  JSON types, extra property, over-long and exactly-long strings (non-ASCII too), values outside
  an enum, numbers around their bounds, ``1.0`` / ``1.5`` for integers, big integers, decimal
  multiples, too few / too many array items, date-time edge cases) and non-object payloads.
For every case the verdict of ``Action.*_decoder.decode`` must equal the oracle's; every accepted
case must round-trip (``decode(encode(x)) == x``) and ``encode(x)`` must satisfy the schema.

``OCPPFAST_SLOW=1`` raises the number of hypothesis examples per schema from 5 to 100.
"""

from __future__ import annotations

import copy
import decimal
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import ocpp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocppfast import v16, v21, v201

pytest.importorskip("rfc3339_validator")  # without it, jsonschema does not check date-time
hypothesis_jsonschema = pytest.importorskip("hypothesis_jsonschema")

SLOW = os.environ.get("OCPPFAST_SLOW") == "1"
HYPOTHESIS_EXAMPLES = 100 if SLOW else 5
SCHEMA_ROOT = Path(ocpp.__file__).resolve().parent
PACKAGES = {"v16": v16, "v201": v201, "v21": v21}


# --- hypothesis-jsonschema 0.23.1 vs current hypothesis ----------------------------------------
# hypothesis-jsonschema draws object keys through ``hypothesis.internal.conjecture.utils.many``
# with the old ``.more()`` protocol, which recent hypothesis releases replaced by a context
# manager. This shim restores the old protocol for it (test-only; it only drives key choice).
def _install_many_shim() -> None:
    from hypothesis.internal.conjecture import utils as cu
    from hypothesis_jsonschema import _from_schema

    if hasattr(cu.many, "more"):
        return

    class _Many:
        def __init__(self, data: Any, min_size: int, max_size: float, average_size: float) -> None:
            self.data = data
            self.min_size = min_size
            self.max_size = max_size
            self.p_continue = cu._calc_p_continue(average_size - min_size, max_size - min_size)
            self.count = 0
            self.rejections = 0
            self.force_stop = False

        def more(self) -> bool:
            if self.min_size == self.max_size:
                go = self.count < self.min_size
            elif self.force_stop:
                go = False
            else:
                forced = True if self.count < self.min_size else None
                if self.count >= self.max_size:
                    forced = False
                go = self.data.draw_boolean(self.p_continue, forced=forced)
            if go:
                self.count += 1
            return go

        def reject(self) -> None:
            self.count -= 1
            self.rejections += 1
            if self.rejections > max(3, 2 * self.count):
                if self.count < self.min_size:
                    self.data.mark_invalid()
                self.force_stop = True

    class _CU:
        def __getattr__(self, name: str) -> Any:
            return getattr(cu, name)

        many = _Many

    _from_schema.cu = _CU()  # type: ignore[attr-defined]


_install_many_shim()


# --- schemas, decoders, oracle ---------------------------------------------------------------
def _decimal_multiple_of(validator: Any, step: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """multipleOf on exact decimal values (QUIRKS Q3)."""
    if not validator.is_type(instance, "number"):
        return
    with decimal.localcontext() as ctx:
        ctx.prec = 1000
        remainder = decimal.Decimal(repr(instance)) % decimal.Decimal(repr(step))
    if remainder != 0:
        yield jsonschema.ValidationError(f"{instance!r} is not a multiple of {step!r}")


def _int32(validator_type: Any) -> Any:
    """The draft's ``integer`` type narrowed to 32 bits (QUIRKS Q15)."""
    checker = validator_type.TYPE_CHECKER

    def is_int32(_: Any, instance: Any) -> bool:
        return bool(checker.is_type(instance, "integer")) and -(2**31) <= instance <= 2**31 - 1

    return checker.redefine("integer", is_int32)


_ORACLES = {
    "draft-04": jsonschema.validators.extend(
        jsonschema.Draft4Validator,
        {"multipleOf": _decimal_multiple_of},
        type_checker=_int32(jsonschema.Draft4Validator),
    ),
    "draft-06": jsonschema.validators.extend(
        jsonschema.Draft6Validator,
        {"multipleOf": _decimal_multiple_of},
        type_checker=_int32(jsonschema.Draft6Validator),
    ),
}


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline_refs(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        return {
            k: _inline_refs(v, defs) for k, v in node.items() if k not in ("definitions", "$id")
        }
    if isinstance(node, list):
        return [_inline_refs(x, defs) for x in node]
    return node


class Case:
    def __init__(self, package: str, filename: str) -> None:
        self.package = package
        self.filename = filename
        self.schema = json.loads(
            (SCHEMA_ROOT / package / "schemas" / filename).read_text(encoding="utf-8-sig")
        )
        draft = "draft-04" if "draft-04" in self.schema["$schema"] else "draft-06"
        self.validator = _ORACLES[draft](self.schema, format_checker=jsonschema.FormatChecker())
        self.flat = _inline_refs(self.schema, self.schema.get("definitions", {}))
        self._sub_validators: dict[int, Any] = {}
        stem = filename[: -len(".json")]
        actions = PACKAGES[package].ACTIONS
        if stem.endswith("Response"):
            action = actions[stem[: -len("Response")]]
            self.type, self.decoder = action.response, action.response_decoder
        else:
            action = actions[stem.removesuffix("Request")]
            self.type, self.decoder = action.request, action.request_decoder
        assert self.decoder is not None

    def oracle(self, raw: bytes) -> bool:
        try:
            instance = json.loads(raw.decode("utf-8"), parse_constant=_refuse, parse_float=_finite)
        except ValueError:
            return False
        return bool(self.validator.is_valid(instance))

    def ours(self, raw: bytes) -> tuple[bool, Any]:
        try:
            return True, self.decoder.decode(raw)
        except (ValueError, RecursionError):
            return False, None

    def sub_oracle(self, node: dict[str, Any], value: Any) -> bool:
        """The schema's verdict on a value at a path whose node is ``node`` (see corpus)."""
        validator = self._sub_validators.get(id(node))
        if validator is None:
            validator = self._sub_validators[id(node)] = type(self.validator)(
                node, format_checker=jsonschema.FormatChecker()
            )
        return bool(validator.is_valid(value))

    def check(
        self, raw: bytes, label: str, expected: bool | None = None, full: bool = True
    ) -> bool:
        if expected is None:
            expected = self.oracle(raw)
        accepted, value = self.ours(raw)
        assert accepted == expected, (
            f"{self.package}/{self.filename} [{label}]: schema says "
            f"{'valid' if expected else 'invalid'}, ocppfast {'accepted' if accepted else 'rejected'}: "
            f"{raw[:300]!r}"
        )
        if accepted:
            encoded = msgspec.json.encode(value)
            assert self.decoder.decode(encoded) == value, f"{self.filename} [{label}]: round trip"
            if full:
                assert self.validator.is_valid(json.loads(encoded)), (
                    f"{self.filename} [{label}]: encode"
                )
        return accepted


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number overflows a double")
    return value


def _schema_files() -> list[tuple[str, str]]:
    return [
        (package, p.name)
        for package in PACKAGES
        for p in sorted((SCHEMA_ROOT / package / "schemas").glob("*.json"))
    ]


SCHEMAS = _schema_files()
_CASES: dict[tuple[str, str], Case] = {}


def case_for(package: str, filename: str) -> Case:
    key = (package, filename)
    if key not in _CASES:
        _CASES[key] = Case(package, filename)
    return _CASES[key]


def test_all_schemas_present() -> None:
    counts = {p: sum(1 for q, _ in SCHEMAS if q == p) for p in PACKAGES}
    assert counts == {"v16": 78, "v201": 128, "v21": 181}


# --- deterministic corpus --------------------------------------------------------------------
GOOD_DATETIMES = [
    "2024-02-29T23:59:59Z", "2000-02-29T00:00:00+00:00", "2023-06-30T12:00:00.123456789-05:30",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999Z", "2024-01-01t00:00:00z",
    "2024-01-01T00:00:00-00:00", "2024-12-31T00:00:00+23:59",
]  # fmt: skip
BAD_DATETIMES = [
    "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-13-01T00:00:00Z",
    "0000-01-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T23:59:60Z", "2024-01-01T00:00:00",
    "2024-01-01 00:00:00Z", "2024-01-01T00:00:00+0000", "2024-01-01T00:00:00+24:00",
    "2024-01-01T00:00Z", "2024-01-01", "2024-01-01T00:00:00.Z", " 2024-01-01T00:00:00Z",
    "２024-01-01T00:00:00Z", "2024-01-01T00:00:00,5Z", "",
]  # fmt: skip


def _value(node: dict[str, Any], mode: str) -> Any:
    """A value for a (ref-free) schema node. mode: min (required only), full, limits."""
    t = node.get("type")
    if "enum" in node:
        return node["enum"][-1 if mode == "limits" else 0]
    if t == "object":
        props = node.get("properties", {})
        required = node.get("required", [])
        keys = [k for k in props if mode != "min" or k in required]
        return {k: _value(props[k], mode) for k in keys}
    if t == "array":
        n = node.get("minItems", 0 if mode == "min" else 1)
        if mode == "limits" and node.get("maxItems", 99) <= 4:
            n = node["maxItems"]
        return [_value(node["items"], mode) for _ in range(max(n, 0 if mode == "min" else 1))]
    if t == "string":
        if node.get("format") == "date-time":
            return "2024-05-06T07:08:09.5+02:00" if mode == "limits" else "2024-05-06T07:08:09Z"
        if mode == "limits" and "maxLength" in node:
            return "é" * node["maxLength"]
        return "x"
    if t == "integer":
        if mode == "limits":
            return node.get("maximum", node.get("minimum", 2**40))
        return max(1, node.get("minimum", 1)) if node.get("maximum", 1) >= 1 else node["maximum"]
    if t == "number":
        if mode == "limits":
            return node.get("maximum", node.get("minimum", 1e20))
        if "maximum" in node and node["maximum"] < 1.5:
            return node["maximum"]
        return 1.5
    if t == "boolean":
        return mode != "limits"
    return {"any": [1, None]}  # untyped (DataTransfer.data)


def _paths(
    node: dict[str, Any], value: Any, path: tuple[Any, ...]
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any], Any]]:
    yield path, node, value
    if node.get("type") == "object" and isinstance(value, dict):
        for k, sub in node.get("properties", {}).items():
            if k in value:
                yield from _paths(sub, value[k], path + (k,))
    elif node.get("type") == "array" and value:
        yield from _paths(node["items"], value[0], path + (0,))


def _set(doc: Any, path: tuple[Any, ...], new: Any, delete: bool = False) -> Any:
    doc = copy.deepcopy(doc)
    if not path:
        return new
    target = doc
    for p in path[:-1]:
        target = target[p]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return doc


def _replacements(node: dict[str, Any], value: Any) -> Iterator[tuple[str, Any]]:
    t = node.get("type")
    yield "null", None
    if t != "string":
        yield "string", "1"
    if t not in ("integer", "number"):
        yield "number", 1
    if t != "boolean":
        yield "bool", True
    if t != "object":
        yield "object", {}
    if t != "array":
        yield "array", []
    if "enum" in node:
        yield "enum-other", "NotAValue"
        yield "enum-case", node["enum"][0].lower()
        yield "enum-space", node["enum"][0] + " "
    elif t == "string" and node.get("format") == "date-time":
        for i, s in enumerate(GOOD_DATETIMES):
            yield f"dt-good{i}", s
        for i, s in enumerate(BAD_DATETIMES):
            yield f"dt-bad{i}", s
    elif t == "string":
        n = node.get("maxLength")
        if n is not None:
            yield "len-max", "x" * n
            yield "len-max-astral", "\U0001f600" * n
            yield "len-over", "x" * (n + 1)
            yield "len-over-nonascii", "é" * (n + 1)
        yield "empty", ""
        yield "escapes", 'a"\\\n\u0000b'
    elif t in ("integer", "number"):
        lo, hi = node.get("minimum"), node.get("maximum")
        for bound, sign in ((lo, -1), (hi, 1)):
            if bound is not None:
                yield "at-bound", bound
                yield "past-bound", bound + sign
                yield "past-bound-small", bound + sign * 0.5
        yield "float-integral", 1.0
        yield "float-frac", 1.5
        yield "exp", 1e2
        yield "big", 2**70
        yield "negative", -3
        yield "neg-zero", -0.0
        if t == "number":
            for i, v in enumerate((0.3, 7.3, 0.15, 21.4, 4.11, 1e-05, 1e20, 123456.7)):
                yield f"decimal{i}", v
    elif t == "array":
        lo, hi = node.get("minItems"), node.get("maxItems")
        item = value[0] if value else None
        if item is not None:
            if lo is not None:
                yield "items-min", [item] * lo
                if lo:
                    yield "items-under", [item] * (lo - 1)
            if hi is not None and hi <= 64:
                yield "items-max", [item] * hi
                yield "items-over", [item] * (hi + 1)
            yield "items-two", [item, item]
            yield "item-null", [None]
        yield "empty", []
    elif t == "object":
        yield "extra", {**value, "zzUnknown": 1}
        for k in node.get("properties", {}):
            if k in value:
                yield f"drop-{k}", {kk: vv for kk, vv in value.items() if kk != k}


Mutation = tuple[str, bytes, "dict[str, Any] | None", Any]


def corpus(case: Case) -> Iterator[Mutation]:
    """(label, payload, schema node at the mutated path, new value there) -- node None: whole."""

    def raw(doc: Any) -> bytes:
        return json.dumps(doc, ensure_ascii=False).encode()

    flat = case.flat
    for mode in ("min", "full", "limits"):
        yield mode, raw(_value(flat, mode)), None, None
    full = _value(flat, "full")
    for path, node, value in _paths(flat, full, ()):
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        for label, new in _replacements(node, value):
            yield f"{where} {label}", raw(_set(full, path, new)), node, new
    yield "ascii-escaped", json.dumps(full, ensure_ascii=True).encode(), None, None
    for label, payload in (
        ("malformed", b"{"), ("empty", b""), ("trailing", raw(full) + b" x"), ("array", b"[]"),
        ("null", b"null"), ("string", b'"x"'), ("number", b"1"), ("bad-utf8", b'{"\xff":1}'),
        ("nan", b'{"x": NaN}'), ("overflow", b'{"x": 1e400}'),
    ):  # fmt: skip
        yield label, payload, None, None


@pytest.mark.parametrize(("package", "filename"), SCHEMAS, ids=[f"{p}/{f}" for p, f in SCHEMAS])
def test_corpus_agrees_with_schema(package: str, filename: str) -> None:
    case = case_for(package, filename)
    assert case.oracle(json.dumps(_value(case.flat, "full")).encode())  # the base is valid
    verdicts = []
    for label, payload, node, new in corpus(case):
        if node is None:
            verdicts.append(case.check(payload, label))
        else:
            # Only the value at one path differs from the (valid) full instance, and the schemas
            # have no cross-property keywords, so the schema's verdict on the whole payload is
            # its verdict on that value against the node at that path (cheaper for big schemas;
            # checked against the whole-document verdict for the first mutations of each file).
            expected = case.sub_oracle(node, new)
            if len(verdicts) < 40:
                assert expected == case.oracle(payload), label
            verdicts.append(case.check(payload, label, expected, full=False))
    assert any(verdicts) and not all(verdicts)  # the corpus exercises both sides
    assert len(verdicts) >= 20


def _narrowed(node: Any) -> Any:
    """The schema with arrays capped at 2 items and strings at 64 characters, for generation only.

    Every instance of the narrowed schema is an instance of the original; the oracle always uses
    the original. Without the cap, hypothesis-jsonschema spends minutes building the nested
    arrays of the big 2.x schemas; lengths at the limits are covered by the deterministic corpus.
    """
    if isinstance(node, list):
        return [_narrowed(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _narrowed(v) for k, v in node.items()}
    if out.get("type") == "array":
        out["maxItems"] = min(out.get("maxItems", 2), max(2, out.get("minItems", 0)))
    if out.get("type") == "string" and "enum" not in out and "format" not in out:
        out["maxLength"] = min(out.get("maxLength", 64), 64)
    return out


@pytest.mark.parametrize(("package", "filename"), SCHEMAS, ids=[f"{p}/{f}" for p, f in SCHEMAS])
def test_hypothesis_examples_agree_with_schema(package: str, filename: str) -> None:
    case = case_for(package, filename)
    strategy = hypothesis_jsonschema.from_schema(_narrowed(case.flat))

    @settings(
        max_examples=HYPOTHESIS_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        instance = data.draw(strategy)
        case.check(json.dumps(instance, ensure_ascii=False).encode(), "hypothesis")

    run()


def test_integers_are_32_bit() -> None:
    """Deliberate difference (QUIRKS Q15): plain jsonschema accepts any integer; OCPP's are
    32-bit, and outside that range the answer is TypeConstraintViolation."""
    from ocppfast.validation import payload_error

    case = case_for("v16", "StatusNotification.json")  # connectorId: integer, minimum 0
    plain = jsonschema.Draft4Validator(case.schema)
    decoder = case.decoder
    base = _value(case.flat, "full")
    for value, ok in ((2**31 - 1, True), (2**31, False), (10**400, False)):
        raw = json.dumps({**base, "connectorId": value}).encode()
        assert plain.is_valid(json.loads(raw))  # the schema alone accepts it
        assert case.oracle(raw) is ok  # the oracle with Q15 agrees with us
        if ok:
            decoder.decode(raw)
        else:
            with pytest.raises(ValueError) as info:
                decoder.decode(raw)
            assert payload_error(info.value).code == "TypeConstraintViolation"
    case = case_for("v201", "SetVariableMonitoringRequest.json")  # draft-06: 1.0 is an integer
    raw = b'{"setMonitoringData":[{"value":1,"type":"Delta","severity":2147483648.0,'
    raw += b'"component":{"name":"c"},"variable":{"name":"v"}}]}'
    assert case.oracle(raw) is False and case.ours(raw)[0] is False
    assert case.oracle(raw.replace(b"2147483648.0", b"9.0")) is True


def test_trailing_newline_in_date_time_is_refused() -> None:
    """Deliberate difference (QUIRKS Q2): rfc3339-validator's ``$`` accepts a final newline."""
    case = case_for("v201", "HeartbeatResponse.json")
    raw = b'{"currentTime": "2024-01-01T00:00:00Z\\n"}'
    assert case.oracle(raw)
    assert case.ours(raw)[0] is False
