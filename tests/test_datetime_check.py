"""The date-time byte scan accepts exactly what the generated RFC 3339 pattern accepts.

``ocppfast._datetime.is_rfc3339`` (compiled as ``_datetime_c`` when built) replaces the regex
msgspec would run for ``format: date-time`` (tools/gen_messages.py QUIRKS Q2). The oracle is the
pattern itself, with ``re`` ``search`` as msgspec calls it. Corpora: an exhaustive grid of the
calendar and clock fields, every single-character mutation / deletion / insertion of valid seeds,
and hypothesis-generated strings. Then the generated types end to end: decoding accepts and
refuses the same strings, and a bad date-time is still the same CallError with the same text.
"""

from __future__ import annotations

import importlib
import itertools
import json
import re
from collections.abc import Callable, Iterator
from types import ModuleType

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocppfast import _datetime, _speedups, v16, v21, v201, validation
from ocppfast.actions import Action
from ocppfast.errors import OCPPError

# The oracle: the pattern the generator wrote into the version packages (tools/gen_messages.py,
# not shipped in wheels; test_the_oracle_is_the_generators_pattern ties the two in a checkout).
RFC3339_PATTERN = v201.datatypes.RFC3339_PATTERN

_REGEX = re.compile(RFC3339_PATTERN)


def test_the_oracle_is_the_generators_pattern() -> None:
    try:
        from tools.gen_messages import RFC3339_PATTERN as generated
    except ModuleNotFoundError:
        pytest.skip("tools/ is not shipped: an installed wheel is tested")
    assert generated == RFC3339_PATTERN


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("ocppfast._datetime_c")
    except ImportError:
        return None


def _scans() -> list[ModuleType]:
    """The pure source always; the compiled module too when built (both are the same source)."""
    compiled = _compiled()
    return [_datetime] if compiled is None else [_datetime, compiled]


SCANS = _scans()
SCAN_IDS = [m.__name__.rsplit(".", 1)[1] for m in SCANS]


def _oracle(value: str) -> bool:
    return _REGEX.search(value) is not None


YEARS = ["0000", "0001", "0004", "0100", "0400", "1600", "1700", "1900", "1996", "1999", "2000",
         "2023", "2024", "2100", "2400", "9996", "9999", "0096", "1204", "3000"]  # fmt: skip
SEEDS = [
    "2024-02-29T23:59:59Z", "2023-12-31t00:00:00z", "1999-01-01T12:30:45.123456+05:30",
    "2000-02-29T00:00:00.0-23:59", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
    "2026-11-26T02:11:25.123Z", "2024-04-30T10:00:00+00:00", "2024-06-30T10:00:00-12:00",
]  # fmt: skip
POOL = "0123456789-:.TtZz+- \n\t\x00/_,aeXW\u0663\uff10\u00e9\U0001f600"


def grid() -> Iterator[str]:
    """Every year class x month 00-13 x day 00-32, then every clock and offset field value."""
    for year in YEARS:
        for month in range(14):
            for day in range(33):
                yield f"{year}-{month:02d}-{day:02d}T00:00:00Z"
    for hour, minute, second in itertools.product(range(26), (0, 9, 59, 60, 99), (0, 59, 60, 61)):
        yield f"2024-01-01T{hour:02d}:{minute:02d}:{second:02d}Z"
    for sign, hour, minute in itertools.product("+-", range(26), (0, 30, 59, 60)):
        yield f"2024-01-01T00:00:00{sign}{hour:02d}:{minute:02d}"
    for digits in range(12):
        yield "2024-01-01T00:00:00" + ("." + "7" * digits if digits else ".") + "Z"
        yield "2024-01-01T00:00:00" + "." + "1" * digits + "+01:00"
    yield from ("", "Z", "2024-01-01", "2024-01-01T00:00:00", "2024-01-01T00:00:00Z\n")


def mutations() -> Iterator[str]:
    """Each seed with every character replaced by each pool character, deleted, or doubled."""
    for seed in SEEDS:
        yield seed
        for i in range(len(seed) + 1):
            if i < len(seed):
                yield seed[:i] + seed[i + 1 :]
                yield seed[: i + 1] + seed[i:]
                for c in POOL:
                    yield seed[:i] + c + seed[i + 1 :]
            for c in POOL:
                yield seed[:i] + c + seed[i:]
        for cut in range(len(seed)):
            yield seed[:cut]


def _mismatches(scan: Callable[[str], bool], corpus: Iterator[str]) -> tuple[int, int, list[str]]:
    total = accepted = 0
    bad: list[str] = []
    for value in corpus:
        total += 1
        expected = _oracle(value)
        accepted += expected
        if scan(value) is not expected:
            bad.append(value)
    return total, accepted, bad


@pytest.mark.parametrize("module", SCANS, ids=SCAN_IDS)
@pytest.mark.parametrize("corpus", [grid, mutations], ids=["grid", "mutations"])
def test_scan_matches_the_pattern(module: ModuleType, corpus: Callable[[], Iterator[str]]) -> None:
    total, accepted, bad = _mismatches(module.is_rfc3339, corpus())
    assert not bad, bad[:20]
    # the corpus has both answers in volume (a broken oracle or scan cannot pass vacuously)
    assert total > 5000 and 500 < accepted < total - 500, (total, accepted)


@pytest.mark.parametrize("module", SCANS, ids=SCAN_IDS)
def test_scan_matches_the_pattern_on_the_leap_year_rule(module: ModuleType) -> None:
    for year in range(1, 10000):
        value = f"{year:04d}-02-29T00:00:00Z"
        assert module.is_rfc3339(value) is _oracle(value), value


_DATE_TIME_SHAPED = st.from_regex(
    re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,4})?"
               r"([Zz]|[+-][0-9]{2}:[0-9]{2})?\Z"),
)  # fmt: skip


@pytest.mark.parametrize("module", SCANS, ids=SCAN_IDS)
@settings(max_examples=600, deadline=None, derandomize=True)
@given(value=st.one_of(_DATE_TIME_SHAPED, st.text(max_size=40)))
def test_scan_matches_the_pattern_on_generated_strings(module: ModuleType, value: str) -> None:
    assert module.is_rfc3339(value) is _oracle(value)


def test_compiled_scan_is_what_msgspec_runs_when_compiled() -> None:
    compiled = _compiled() is not None and _speedups.USE_EXTENSIONS
    assert validation._DATE_TIME_COMPILED is compiled
    for package in (v16, v201, v21):
        assert package.datatypes.RFC3339_PATTERN == RFC3339_PATTERN
        info = msgspec.inspect.type_info(package.datatypes.DateTime)
        assert isinstance(info, msgspec.inspect.Metadata)
        assert isinstance(info.type, msgspec.inspect.StrType)
        assert info.type.pattern == RFC3339_PATTERN  # what introspection and JSON Schema show


@pytest.mark.parametrize("corpus", [grid, mutations], ids=["grid", "mutations"])
def test_generated_types_decode_exactly_what_the_pattern_accepts(
    corpus: Callable[[], Iterator[str]],
) -> None:
    decoders = [msgspec.json.Decoder(p.datatypes.DateTime) for p in (v16, v201, v21)]
    for value in itertools.islice(corpus(), 0, None, 7):
        raw = msgspec.json.encode(value)
        for decoder in decoders:
            try:
                decoder.decode(raw)
                ok = True
            except msgspec.ValidationError:
                ok = False
            assert ok is _oracle(value), value


def _error(action: Action, payload: object) -> OCPPError:
    with pytest.raises(msgspec.ValidationError) as info:
        action.request_decoder.decode(json.dumps(payload).encode())
    return validation.payload_error(info.value)


GOOD_SV = {"value": "1.5", "measurand": "Energy.Active.Import.Register"}


@pytest.mark.parametrize(
    "bad", ["yesterday", "2024-01-01 00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00", "2024-01-01T00:00:00Z\n", "\u0662024-01-01T00:00:00Z"],
)  # fmt: skip
def test_bad_date_time_is_the_same_call_error(bad: str) -> None:
    meter = {"connectorId": 1, "meterValue": [{"timestamp": "2024-01-01T00:00:00Z",
                                               "sampledValue": [GOOD_SV]},
                                              {"timestamp": bad, "sampledValue": [GOOD_SV] * 10}]}  # fmt: skip
    err = _error(v16.ACTIONS["MeterValues"], meter)
    assert err.code == "PropertyConstraintViolation"
    assert (
        err.description == "Expected RFC 3339 `date-time` string - at `$.meterValue[1].timestamp`"
    )
    # the first error in document order wins, as with the regex: the bad date-time comes before
    # a field of the wrong type in the same object
    meter["meterValue"][1]["sampledValue"] = "not a list"  # type: ignore[index]
    assert _error(v16.ACTIONS["MeterValues"], meter).code == "PropertyConstraintViolation"
    heartbeat = v201.ACTIONS["Heartbeat"].response_decoder
    assert heartbeat is not None
    with pytest.raises(msgspec.ValidationError) as info:
        heartbeat.decode(json.dumps({"currentTime": bad}).encode())
    err = validation.payload_error(info.value)
    assert (err.code, err.description) == (
        "PropertyConstraintViolation",
        "Expected RFC 3339 `date-time` string - at `$.currentTime`",
    )


@pytest.mark.parametrize("module", SCANS, ids=SCAN_IDS)
def test_now_in_both_builds_formats_per_millisecond(
    module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter([1_700_000_000.9994, 1_700_000_000.9996, 1_700_000_001.0001, 86399.5])
    monkeypatch.setattr(module, "_time", lambda: next(ticks))
    module.reset()
    try:
        first = module.now()
        assert first == "2023-11-14T22:13:20.999Z" and module.now() is first  # cached
        assert module.now() == "2023-11-14T22:13:21.000Z"  # a new second: date part redone
        assert module.now() == "1970-01-01T23:59:59.500Z"
        assert _oracle(first)
    finally:
        monkeypatch.undo()
        module.reset()


def test_ocppfast_now_is_the_build_in_use() -> None:
    from ocppfast import clock

    assert clock.now is clock.IMPL.now
    assert clock.COMPILED is (_compiled() is not None and _speedups.USE_EXTENSIONS)
