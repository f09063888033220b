"""Schema violations in a payload -> the CallError the spec prescribes.

The generated Structs (``ocppfast.v16`` / ``v201`` / ``v21``) make msgspec enforce the official
JSON schemas while decoding. :func:`payload_error` turns what msgspec raises into the CallError of
OCPP-J 1.6 section 4.2.3 / OCPP 2.0.1 part 4 section 4.3 (canonical 2.0.1 classes;
:func:`ocppfast.errors.wire_code` spells them for 1.6 later):

=========================================================  =====================================
what is wrong                                              CallError
=========================================================  =====================================
malformed JSON, invalid UTF-8, nesting bomb, payload not   FormatViolation ("payload is
an object, unknown field (``additionalProperties: false``) syntactically incorrect")
field of the wrong JSON type (also 1.5 for an integer,     TypeConstraintViolation
and an integer outside 32 bits: OCPP integers are 32-bit)
missing required field, too few / too many array items     OccurrenceConstraintViolation
string too long, value not in enum, number out of range,   PropertyConstraintViolation ("a field
not a multiple, bad date-time                              has an invalid value")
=========================================================  =====================================

The description is msgspec's own message, which names the field path (``$.idTagInfo.status``),
capped at 255 characters (2.0.1: errorDescription is at most 255 characters) without losing the
path. It never contains a traceback; values quoted by msgspec are short and the frame encoder
escapes them (2.0.1 part 4 4.2.3: never embed the invalid JSON unencoded).

:func:`validate_outgoing` checks a hand-built Struct before it is sent: msgspec does not validate
on encode, so the Struct is encoded and decoded again with its own type (measured in
``benchmarks/bench_messages.py``; a few microseconds for typical messages). A payload of ours that
fails raises :class:`~ocppfast.errors.PayloadError` (:func:`outgoing_error`), never the
:class:`OCPPError` a CALLERROR from the peer becomes.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from . import clock
from .errors import (
    FormatViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
    PayloadError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)

__all__ = [
    "MAX_DESCRIPTION",
    "date_time_meta",
    "outgoing_error",
    "payload_error",
    "validate_outgoing",
]

# The compiled date-time scan when built, else the regex (ocppfast.clock picks the module).
_date_time: Any = clock.IMPL
_DATE_TIME_COMPILED = clock.COMPILED

#: OCPP 2.0.1 part 4 4.2.3: errorDescription is at most 255 characters.
MAX_DESCRIPTION = 255

_AT = " - at `"
_REGEX = re.compile(r"Expected `str` matching regex .*", re.DOTALL)
# Messages msgspec produces while validating against a Struct type (msgspec 0.18 - 0.19 wording).
_OCCURRENCE = re.compile(r"Object missing required field|Expected `array` of length")
_PROPERTY = re.compile(
    r"Expected `str` of length|Invalid enum value|Expected `(?:int|float|number)` [<>]=?"
    r"|multiple of 0\.|matching regex"
)
# draft-06 integer given as a non-integral float (QUIRKS Q1 in tools/gen_messages.py): that is
# the wrong data type, not a wrong value.
_NOT_INTEGER = "that's a multiple of 1.0"
_TYPE = re.compile(r"Expected `[^`]+`, got `[^`]+`")
# OCPP integers are 32-bit (1.6 section 7, 2.0.1 part 2 "Primitive datatypes"; QUIRKS Q15 in
# tools/gen_messages.py): outside that range the value is not of the data type at all.
_INT32_RANGE = re.compile(r"Expected `(?:int|float)` (?:<= 2147483647|>= -2147483648)(?:\.0)?\Z")


_FIELD_CHECK = re.compile(r"(.*) at `([^`]+)`\Z", re.DOTALL)


def _describe(message: str) -> str:
    """msgspec's message, shortened to MAX_DESCRIPTION characters keeping the path."""
    head, sep, path = message.partition(_AT)
    if _REGEX.match(head):  # the date-time pattern itself would drown the path
        head = "Expected RFC 3339 `date-time` string"
    elif _NOT_INTEGER in head:
        head = "Expected `int`, got `float` with a fraction"
    field_check = _FIELD_CHECK.match(head)
    if field_check and sep:  # a generated __post_init__ check names its field: append it
        head, path = field_check.group(1), path[:-1] + "." + field_check.group(2) + "`"
    tail = sep + path
    if len(tail) > MAX_DESCRIPTION // 2:
        tail = tail[: MAX_DESCRIPTION // 2 - 2] + "…`"
    if len(head) + len(tail) > MAX_DESCRIPTION:
        head = head[: MAX_DESCRIPTION - len(tail) - 1] + "…"
    return head + tail


def payload_error(exc: BaseException) -> OCPPError:
    """The CallError for an exception raised while decoding (validating) a payload."""
    if isinstance(exc, RecursionError):
        return FormatViolationError("Payload is nested too deeply")
    if isinstance(exc, msgspec.ValidationError):
        message = str(exc)
        description = _describe(message)
        head = message.partition(_AT)[0]
        at_root = _AT not in message
        if "Object contains unknown field" in head:
            return FormatViolationError(description)
        if at_root and head.startswith("Expected `object`"):
            return FormatViolationError(description)  # the payload itself is not an object
        if _OCCURRENCE.search(head):
            return OccurrenceConstraintViolationError(description)
        if _NOT_INTEGER in head or _TYPE.match(head) or _INT32_RANGE.match(head):
            return TypeConstraintViolationError(description)
        if _PROPERTY.search(head):
            return PropertyConstraintViolationError(description)
        return PropertyConstraintViolationError(description)
    if isinstance(exc, msgspec.DecodeError):
        return FormatViolationError(_describe(str(exc)))
    if isinstance(exc, UnicodeError):
        return FormatViolationError("Payload is not valid UTF-8")
    if isinstance(exc, ValueError):
        return FormatViolationError(_describe(str(exc)))
    if isinstance(
        exc, (TypeError, msgspec.EncodeError)
    ):  # unencodable value in a hand-built Struct
        return TypeConstraintViolationError(_describe(str(exc)))
    return FormatViolationError(_describe(f"{type(exc).__name__}: {exc}"))


def date_time_meta(pattern: str, description: str) -> msgspec.Meta:
    """``Meta(pattern=pattern, description=description)`` for the generated ``DateTime`` type.

    Compiled, the regex msgspec runs for each decoded date-time is swapped for
    :class:`ocppfast._datetime.Pattern`, a byte scan that accepts exactly the same strings
    (``tests/test_datetime_check.py``) at a fraction of the cost (``benchmarks/bench_answer_path.py``).
    msgspec compiles a ``Meta`` pattern once, with the ``re.compile`` it looked up at import,
    which compiles through ``re._compile``; that one call is redirected while this Meta is made.
    Everything msgspec reads back (``Meta.pattern``, the error text naming the pattern, the JSON
    schema, the order of checks) is unchanged. Pure Python, or wherever the redirection does not
    reach msgspec, keeps the regex: same answers, slower.
    """
    if not _DATE_TIME_COMPILED:
        return msgspec.Meta(pattern=pattern, description=description)
    checker = _date_time.Pattern(pattern)
    real = re._compile  # type: ignore[attr-defined]
    used = []

    def compile_date_time(source: Any, flags: Any = 0) -> Any:
        if source is pattern and not flags:
            used.append(True)
            return checker
        return real(source, flags)

    re._compile = compile_date_time  # type: ignore[attr-defined]
    try:
        meta = msgspec.Meta(pattern=pattern, description=description)
    finally:
        re._compile = real  # type: ignore[attr-defined]
    if not used:  # msgspec compiled the pattern another way: it keeps the regex
        return msgspec.Meta(pattern=pattern, description=description)
    return meta


_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
_encode = msgspec.json.Encoder().encode


def outgoing_error(exc: BaseException, name: str) -> PayloadError:
    """The :class:`PayloadError` for a payload of ours (``name``: its type or action) that failed."""
    err = payload_error(exc)
    return PayloadError(f"{name}: {err.description}", err.code)


def validate_outgoing(struct: msgspec.Struct) -> None:
    """Raise :class:`PayloadError` if ``struct`` would not pass its own schema."""
    cls = type(struct)
    decoder = _decoders.get(cls)
    if decoder is None:
        decoder = _decoders[cls] = msgspec.json.Decoder(cls)
    try:
        decoder.decode(_encode(struct))
    except (
        msgspec.ValidationError,
        msgspec.DecodeError,
        TypeError,
        ValueError,
        RecursionError,
    ) as exc:
        raise outgoing_error(exc, cls.__name__) from None
    except msgspec.EncodeError as exc:
        raise outgoing_error(exc, cls.__name__) from None
