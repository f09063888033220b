"""OCPP-J frames as mobilityhouse ``ocpp`` 2.1.0 models them (``ocpp.messages``), made fast.

``Call`` / ``CallResult`` / ``CallError`` keep mobilityhouse's attributes, reprs and wire text:
``to_json()`` is byte for byte what ``json.dumps([...], separators=(",", ":"),
cls=_DecimalEncoder)`` gives (compact, ``ensure_ascii``, insertion key order, ``NaN`` /
``Infinity`` literals, ``Decimal`` as ``float("%.1f")``, any other object by its ``to_json()``);
it runs the stdlib's C encoder directly instead of building an encoder per call.

:func:`unpack` decodes with msgspec and falls back to :mod:`json` for the inputs msgspec refuses
but ``json.loads`` accepts (``NaN``, numbers beyond a double, lone surrogates, a UTF-8 BOM or
UTF-16/32 bytes), so it returns and raises exactly what mobilityhouse's does; the one difference
is a nesting bomb, which mobilityhouse lets escape as ``RecursionError`` (ending the connection)
and which is a ``FormatViolationError`` here.

Validation uses ocppfast's generated msgspec types instead of jsonschema, with mobilityhouse's
semantics (it runs ``Draft4Validator`` without a format checker on every version):

- ``format: date-time`` is not checked, and an integer field refuses ``1.0`` (draft-04);
- the failing check picks the exception as mobilityhouse's keyword table does: ``type`` and
  ``maxLength`` -> :class:`TypeConstraintViolationError`, ``additionalProperties`` ->
  :class:`FormatViolationError`, ``required`` -> :class:`ProtocolError` (details without
  ``ocpp_message``), anything else -> :class:`FormatViolationError`; ``details["cause"]`` is
  msgspec's message, which names the field path (``$.idTagInfo.status``);
- OCPP 1.6 ``SetChargingProfile`` / ``RemoteStartTransaction`` CALLs and ``GetCompositeSchedule``
  CALLRESULTs get their payload replaced by one with ``Decimal`` numbers (``21.4`` passes
  ``multipleOf: 0.1``, ``21.45`` does not), as in mobilityhouse;
- ``ASYNC_VALIDATION`` is accepted but changes nothing: validation takes microseconds, so
  :func:`validate_payload` runs it inline and never in a thread pool (threads break ``fork``,
  mobilityhouse #676).

Differences from mobilityhouse (each where it crashes, or deliberate and harmless):

- a nesting bomb (frame or payload) is a ``FormatViolationError`` instead of an escaping
  ``RecursionError``;
- a non-string action (``[2, "1", 5, {}]`` routed to a handler) or a CallResult without one
  fails validation with ``NotImplementedError`` instead of crashing with ``TypeError``;
- ``Call.create_call_error`` accepts any :class:`ocppfast.errors.OCPPError` (a bare compat
  ``OCPPError`` answers ``GenericError`` instead of crashing on the missing ``code``);
- a payload holding ``Decimal`` numbers validates (mobilityhouse's ``json.dumps`` raises
  ``TypeError``), and a tuple passes where a list is expected (jsonschema's draft-04 ``array``
  is ``list`` only, so mobilityhouse raises TypeConstraintViolation);
- with more than one violation in a payload, the one reported can differ (mobilityhouse reports
  the first in schema order, msgspec the first in payload order);
- ``details["cause"]`` texts are msgspec's (with the field path), not jsonschema's, and
  ``get_validator`` returns a msgspec-backed validator (``validate(payload)`` raises
  :class:`SchemaValidationError` with ``validator`` and ``message``), not a
  ``jsonschema.Draft4Validator`` (no ``.schema``).
"""

from __future__ import annotations

import decimal
import enum
import json
import json.encoder
import math
import re
import types
import typing
from dataclasses import asdict, is_dataclass
from typing import Annotated, Any, Final, Literal, Union

import msgspec

from .. import errors as _native_errors
from .. import versions as _versions
from .exceptions import (
    FormatViolationError,
    NotImplementedError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
    UnknownCallErrorCodeError,
    ValidationError,
)

# What ``from ocpp.messages import *`` gives mobilityhouse users (its module has no __all__, so
# the names it imports come along), plus this module's validator exception.
__all__ = [
    "ASYNC_VALIDATION",
    "Call",
    "CallError",
    "CallResult",
    "FormatViolationError",
    "MessageType",
    "NotImplementedError",
    "OCPPError",
    "PropertyConstraintViolationError",
    "ProtocolError",
    "SchemaValidationError",
    "TypeConstraintViolationError",
    "UnknownCallErrorCodeError",
    "ValidationError",
    "asdict",
    "get_validator",
    "is_dataclass",
    "pack",
    "unpack",
    "validate_payload",
]

#: Accepted for compatibility; validation always runs inline (see the module docstring).
ASYNC_VALIDATION = True


# --- wire text ------------------------------------------------------------------------------
class _DecimalEncoder(json.JSONEncoder):
    """``json`` encoder of mobilityhouse's frames: ``Decimal`` -> ``float("%.1f")`` (one decimal,
    as the 1.6 charging-profile schemas want), otherwise an object's own ``to_json()`` (so a
    message object in CallError details goes out as its JSON text)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            # %-formatting goes through float (format(o, ".1f") would round the decimal value)
            return float("%.1f" % o)  # noqa: UP031
        to_json = getattr(o, "to_json", None)
        if to_json is None:
            return super().default(o)  # raises the stdlib's TypeError
        return to_json()


_SEPARATORS: Final = (",", ":")
_ENCODER_CLASS: Final = _DecimalEncoder
_encoder_instance = _DecimalEncoder(separators=_SEPARATORS)


def _default(o: Any) -> Any:
    # Looked up per call so that patching ``_DecimalEncoder.default`` keeps working.
    return _encoder_instance.default(o)


# CPython's C accelerators of json (None elsewhere: then the pure encoder is used).
_c_ascii: Any = getattr(json.encoder, "c_encode_basestring_ascii", None)
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)

# The stdlib's C encoder with json.dumps' settings for this call (ensure_ascii, allow_nan,
# compact separators, no sort). Built once; ``markers=None`` (no cycle check) keeps it free of
# shared state. A cycle then ends in RecursionError, and that path re-runs json.dumps so the
# exception is exactly the stdlib's.
_c_encode = (
    _c_make_encoder(None, _default, _c_ascii, None, ":", ",", False, False, True)
    if _c_make_encoder is not None and _c_ascii is not None
    else None
)


def _dumps(frame: list[Any]) -> str:
    if _DecimalEncoder is not _ENCODER_CLASS or _c_encode is None:  # patched by user code
        return json.dumps(frame, separators=_SEPARATORS, cls=_DecimalEncoder)
    try:
        return "".join(_c_encode(frame, 0))
    except RecursionError:
        return json.dumps(frame, separators=_SEPARATORS, cls=_DecimalEncoder)


class MessageType:
    """The OCPP-J message type numbers mobilityhouse handles."""

    #: A request.
    Call = 2
    #: A successful response.
    CallResult = 3
    #: An error response.
    CallError = 4


class Call:
    """A CALL: ``[2, unique_id, action, payload]``. A dataclass payload becomes a dict
    (``dataclasses.asdict``, keys unchanged)."""

    message_type_id = 2

    def __init__(self, unique_id: Any, action: Any, payload: Any) -> None:
        self.unique_id = unique_id
        self.action = action
        if type(payload) is not dict and is_dataclass(payload):
            payload = asdict(payload)  # type: ignore[arg-type]
        self.payload = payload

    def to_json(self) -> str:
        """The frame as compact JSON text (see the module docstring)."""
        return _dumps([self.message_type_id, self.unique_id, self.action, self.payload])

    def create_call_result(self, payload: Any) -> CallResult:
        """A CALLRESULT answering this CALL (its ``action`` is set, for validation)."""
        result = CallResult(self.unique_id, payload)
        result.action = self.action
        return result

    def create_call_error(self, exception: BaseException) -> CallError:
        """A CALLERROR answering this CALL: an OCPP error keeps its code, description and
        details; anything else is ``InternalError`` without internals."""
        if isinstance(exception, _native_errors.OCPPError):
            return CallError(
                self.unique_id, exception.code, exception.description, exception.details
            )
        return CallError(self.unique_id, "InternalError", "An unexpected error occurred.", {})

    def __repr__(self) -> str:
        return f"<Call - unique_id={self.unique_id}, action={self.action}, payload={self.payload}>"


class CallResult:
    """A CALLRESULT: ``[3, unique_id, payload]``. ``action`` is not on the wire; it is kept to
    pick the response schema."""

    message_type_id = 3

    def __init__(self, unique_id: Any, payload: Any, action: Any = None) -> None:
        self.unique_id = unique_id
        self.payload = payload
        self.action = action

    def to_json(self) -> str:
        """The frame as compact JSON text."""
        return _dumps([self.message_type_id, self.unique_id, self.payload])

    def __repr__(self) -> str:
        return (
            f"<CallResult - unique_id={self.unique_id}, action={self.action}, "
            f"payload={self.payload}>"
        )


class CallError:
    """A CALLERROR: ``[4, unique_id, error_code, error_description, error_details]``."""

    message_type_id = 4

    def __init__(
        self, unique_id: Any, error_code: Any, error_description: Any, error_details: Any = None
    ) -> None:
        self.unique_id = unique_id
        self.error_code = error_code
        self.error_description = error_description
        self.error_details = error_details

    def to_json(self) -> str:
        """The frame as compact JSON text (``None`` details are sent as ``null``)."""
        return _dumps(
            [
                self.message_type_id,
                self.unique_id,
                self.error_code,
                self.error_description,
                self.error_details,
            ]
        )

    def to_exception(self) -> OCPPError:
        """The exception of this code: the first ``OCPPError`` subclass with that ``code``.

        Raises :class:`UnknownCallErrorCodeError` for a code no class has (e.g. the 2.0.1
        ``RpcFrameworkError``)."""
        for cls in OCPPError.__subclasses__():
            if cls.code == self.error_code:
                return cls(description=self.error_description, details=self.error_details)
        raise UnknownCallErrorCodeError(
            f"CALLERROR code '{self.error_code}' is not an error code of the OCPP specification"
        )

    def __repr__(self) -> str:
        return (
            f"<CallError - unique_id={self.unique_id}, error_code={self.error_code}, "
            f"error_description={self.error_description}, error_details={self.error_details}>"
        )


# --- parsing --------------------------------------------------------------------------------
_decode = msgspec.json.Decoder().decode
_convert = msgspec.convert
_NESTED_TOO_DEEPLY = "Message is nested too deeply"


def _not_json(raw: Any, cause: str) -> FormatViolationError:
    return FormatViolationError(details={"cause": cause, "ocpp_message": raw})


def _json_loads(raw: Any) -> Any:
    """``json.loads`` with mobilityhouse's error mapping (other errors propagate unchanged)."""
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _not_json(raw, "Message is not valid JSON (or not UTF-8)") from None
    except RecursionError:
        raise _not_json(raw, _NESTED_TOO_DEEPLY) from None


def unpack(msg: Any) -> Any:
    """Parse one frame (``str``, ``bytes`` or ``bytearray``) into a Call, CallResult or CallError.

    Typed ``Any`` (a ``Call | CallResult | CallError``): code written for mobilityhouse tells them
    apart by ``message_type_id``, which a type checker cannot narrow on.

    ======================================  ===============================================
    frame                                   raises
    ======================================  ===============================================
    not JSON, bytes that are not UTF-8      FormatViolationError (details: cause, ocpp_message)
    not a JSON array                        ProtocolError
    ``[]``                                  ProtocolError("Message does not contain MessageTypeId")
    wrong number of elements                ProtocolError("Message is missing elements.")
    type id other than 2, 3, 4              PropertyConstraintViolationError
    ======================================  ===============================================

    A CALLRESULT may have a 4th element (taken as ``action``) and a CALLERROR may lack its
    details (``None``). Types of the unique id and action are not checked (as mobilityhouse).
    """
    kind = type(msg)
    if kind is str or kind is bytes or kind is bytearray:
        try:
            frame = _decode(msg)
        except RecursionError:
            raise _not_json(msg, _NESTED_TOO_DEEPLY) from None
        except Exception:  # noqa: BLE001 - json.loads below decides and raises
            # msgspec refuses what json accepts in a few cases (NaN, 1e400, lone surrogates,
            # BOM / UTF-16 bytes); json.loads decides, as in mobilityhouse.
            frame = _json_loads(msg)
    else:
        frame = _json_loads(msg)  # TypeError for other types, as json.loads raises it
    if type(frame) is not list:
        raise ProtocolError(
            details={"cause": f"An OCPP message must be a JSON array, but this is a {type(frame)}"}
        )
    if not frame:
        raise ProtocolError(details={"cause": "Message does not contain MessageTypeId"})
    type_id = frame[0]
    n = len(frame)
    # ``==`` as mobilityhouse compares: 2.0 is a CALL too.
    if type_id == 2:
        if n == 4:
            return Call(frame[1], frame[2], frame[3])
    elif type_id == 3:
        if n == 3 or n == 4:
            return CallResult(*frame[1:])
    elif type_id == 4:
        if n == 4 or n == 5:
            return CallError(*frame[1:])
    else:
        raise PropertyConstraintViolationError(
            details={"cause": f"MessageTypeId '{type_id}' is not one of 2, 3 or 4"}
        )
    raise ProtocolError(details={"cause": "Message is missing elements."})


def pack(msg: Call | CallResult | CallError) -> str:
    """The frame's JSON text (``msg.to_json()``)."""
    return msg.to_json()


# --- validation -----------------------------------------------------------------------------
_SUBPROTOCOLS: Final = {
    "1.6": _versions.OCPP16,
    "2.0.1": _versions.OCPP201,
    "2.1": _versions.OCPP21,
}
# "2.0" is a version mobilityhouse still accepts, without schemas (every action fails as unknown).
_VERSIONS: Final = (*_SUBPROTOCOLS, "2.0")
# Schemas that mobilityhouse cannot find although ocppfast has the types: the 2.1 SEND-only
# NotifyPeriodicEventStream is stored without the "Request" suffix it looks for.
_NO_MH_SCHEMA: Final = {("2.1", "NotifyPeriodicEventStream", 2)}
# OCPP 1.6 messages whose numbers mobilityhouse validates as Decimal (see _validate_payload).
_DECIMAL_MESSAGES: Final = {
    (2, "SetChargingProfile"),
    (2, "RemoteStartTransaction"),
    (3, "GetCompositeSchedule"),
}


class SchemaValidationError(Exception):
    """A payload does not match its schema; what :meth:`get_validator`'s ``validate`` raises.

    ``validator`` is the JSON-schema keyword that failed (``type``, ``maxLength``,
    ``additionalProperties``, ``required``, ``enum``, ``minimum``, ``maximum``, ``multipleOf``,
    ``minItems``, ``maxItems``), ``message`` says what and where (``$.path``).
    """

    def __init__(self, message: str, validator: str) -> None:
        super().__init__(message)
        self.message = message
        self.validator = validator


# msgspec's messages (the wording of msgspec 0.22, which the corpus test checks) -> the keyword
# jsonschema would report.
_KEYWORDS: Final = (
    ("required", re.compile(r"Object missing required field")),
    (
        "additionalProperties",
        re.compile(r"Object contains unknown field|Expected `str` - at `key`"),
    ),
    ("maxLength", re.compile(r"Expected `str` of length <=")),
    ("minItems", re.compile(r"Expected `array` of length >=")),
    ("maxItems", re.compile(r"Expected `array` of length <=")),
    ("type", re.compile(r"Expected `[^`]+`, got `[^`]+`")),
    ("enum", re.compile(r"Invalid enum value")),
    ("multipleOf", re.compile(r"multiple of")),
    ("minimum", re.compile(r"Expected `(?:int|float|number)` >")),
    ("maximum", re.compile(r"Expected `(?:int|float|number)` <")),
)


def _keyword(message: str) -> str:
    for keyword, pattern in _KEYWORDS:
        if pattern.match(message) or (keyword == "multipleOf" and pattern.search(message)):
            return keyword
    return "type" if message.startswith("Integer value out of range") else "schema"


class _Validator:
    """Checks payloads of one schema (one action, direction and version) with msgspec."""

    __slots__ = ("additional_first", "decimal", "schema_name", "type")

    def __init__(
        self,
        schema_name: str,
        struct: type[msgspec.Struct],
        as_decimal: bool,
        additional_first: bool,
    ) -> None:
        self.schema_name = schema_name
        self.type = struct
        #: mobilityhouse hands this message's payload on with Decimal numbers (1.6 profiles).
        self.decimal = as_decimal
        #: The schema lists ``additionalProperties`` before ``properties`` (see _first_violation).
        self.additional_first = additional_first

    def validate(self, instance: Any) -> None:
        """Raise :class:`SchemaValidationError` if ``instance`` does not match the schema."""
        try:
            _convert(instance, self.type)
        except (msgspec.ValidationError, RecursionError) as exc:
            raise self.violation(instance, exc) from None

    def violation(self, instance: Any, exc: BaseException) -> SchemaValidationError:
        """The violation jsonschema would report first, for a payload msgspec refused."""
        if isinstance(exc, RecursionError):
            return SchemaValidationError(_NESTED_TOO_DEEPLY, "schema")
        try:
            first = _first_violation(instance, self.type, "$", self.additional_first)
        except RecursionError:
            first = None
        if first is not None:
            return first
        message = str(exc)
        return SchemaValidationError(message, _keyword(message))

    def __repr__(self) -> str:
        return f"<Validator {self.schema_name} ({self.type.__qualname__})>"


# --- which violation mobilityhouse reports first ---------------------------------------------
# msgspec stops at the first violation in payload order; jsonschema (``validate`` raises the first
# of ``iter_errors``) walks the schema: per object the keywords in the order the schema file lists
# them, depth first. The OCPP 1.6 core schemas list properties, additionalProperties, required;
# the 1.6 security extension (but its CertificateSigned request) and every 2.0.1 / 2.1 schema
# list additionalProperties first. Within ``properties`` this walks the fields in ocppfast's order
# (required ones first), which is the schema's order except between a required and an optional
# field.
_V16_SECURITY: Final = (
    "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage",
    "GetInstalledCertificateIds", "GetLog", "InstallCertificate", "LogStatusNotification",
    "SecurityEventNotification", "SignCertificate", "SignedFirmwareStatusNotification",
    "SignedUpdateFirmware",
)  # fmt: skip
#: 1.6 schema names (request: the action, response: action + "Response") checked that way.
_V16_ADDITIONAL_FIRST: Final = frozenset(
    {name for action in _V16_SECURITY for name in (action, action + "Response")}
    - {"CertificateSigned"}
)


def _at(path: str) -> str:
    return "" if path == "$" else f" - at `{path}`"


def _leaf_violation(value: Any, tp: Any, path: str) -> SchemaValidationError | None:
    try:
        _convert(value, tp)
    except msgspec.ValidationError as exc:
        message = str(exc)
        head, sep, inner = message.partition(" - at `$")
        full = head + _at(path + inner[:-1]) if sep else message + _at(path)
        return SchemaValidationError(full, _keyword(full))
    return None


def _first_violation(
    value: Any, tp: Any, path: str, additional_first: bool
) -> SchemaValidationError | None:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        members = [a for a in typing.get_args(tp) if a is not msgspec.UnsetType]
        if len(members) == 1:
            return _first_violation(value, members[0], path, additional_first)
        return _leaf_violation(value, tp, path)
    base: Any = tp
    metas: list[Any] = []
    if origin is Annotated:
        base, *metas = typing.get_args(tp)
    if typing.get_origin(base) is list and type(value) is list:
        (item,) = typing.get_args(base)
        for index, element in enumerate(value):
            found = _first_violation(element, item, f"{path}[{index}]", additional_first)
            if found is not None:
                return found
        return _leaf_violation(value, Annotated[(list[Any], *metas)] if metas else list, path)
    if isinstance(base, type) and issubclass(base, msgspec.Struct) and type(value) is dict:
        return _struct_violation(value, base, path, additional_first)
    return _leaf_violation(value, tp, path)


def _struct_violation(
    value: dict[Any, Any], struct: type[msgspec.Struct], path: str, additional_first: bool
) -> SchemaValidationError | None:
    fields = msgspec.structs.fields(struct)

    def additional() -> SchemaValidationError | None:
        if not struct.__struct_config__.forbid_unknown_fields:
            return None
        names = {f.encode_name for f in fields}
        for key in value:
            if key not in names:
                if not isinstance(key, str):
                    return SchemaValidationError(
                        f"Expected `str` - at `key` in `{path}`", "additionalProperties"
                    )
                return SchemaValidationError(
                    f"Object contains unknown field `{key}`{_at(path)}", "additionalProperties"
                )
        return None

    def properties() -> SchemaValidationError | None:
        for f in fields:
            if f.encode_name in value:
                found = _first_violation(
                    value[f.encode_name], f.type, f"{path}.{f.encode_name}", additional_first
                )
                if found is not None:
                    return found
        return None

    for check in (additional, properties) if additional_first else (properties, additional):
        found = check()
        if found is not None:
            return found
    for f in fields:
        if f.required and f.encode_name not in value:
            return SchemaValidationError(
                f"Object missing required field `{f.encode_name}`{_at(path)}", "required"
            )
    return _leaf_violation(value, struct, path)  # what only the whole object checks (multipleOf)


#: Validators built so far, keyed as mobilityhouse keys its cache (``"Reset_1.6"``,
#: ``"BootNotificationRequest_2.0.1"``).
_validators: dict[str, _Validator] = {}
# Hot-path cache: (action, message type id, version) -> validator.
_by_message: dict[tuple[Any, int, str], _Validator] = {}


def _schema_name(message_type_id: int, action: str, ocpp_version: str) -> str:
    if message_type_id == MessageType.CallResult:
        return action + "Response"
    if message_type_id == MessageType.Call and ocpp_version != "1.6":
        return action + "Request"
    return action


def get_validator(
    message_type_id: int, action: str, ocpp_version: str, parse_float: Any = float
) -> _Validator:
    """The (cached) validator of ``action``'s request (type id 2) or response (3) schema.

    ``ocpp_version`` is ``"1.6"``, ``"2.0.1"`` or ``"2.1"`` (``"2.0"`` is accepted and has no
    schemas); anything else raises ``ValueError``. No schema -> ``FileNotFoundError`` (an
    ``OSError``, as mobilityhouse's missing file). ``parse_float`` is accepted and not needed:
    the 1.6 ``multipleOf: 0.1`` checks are exact for floats (the decimal value of the float's
    shortest repr, the number the JSON text said).
    """
    if ocpp_version not in _VERSIONS:
        raise ValueError(f"unsupported OCPP version {ocpp_version!r}; use one of {_VERSIONS}")
    if not isinstance(action, str):
        raise FileNotFoundError(f"no schema for action {action!r}")
    name = _schema_name(message_type_id, action, ocpp_version)
    key = f"{name}_{ocpp_version}" if ocpp_version != "2.0" else f"{name}_v1p0_2.0"
    validator = _validators.get(key)
    if validator is not None:
        return validator
    struct = None
    subprotocol = _SUBPROTOCOLS.get(ocpp_version)
    if subprotocol is not None and (ocpp_version, action, message_type_id) not in _NO_MH_SCHEMA:
        spec = _versions.actions(subprotocol).get(action)
        if spec is not None:
            if message_type_id == MessageType.CallResult:
                struct = spec.response
            elif message_type_id == MessageType.Call or ocpp_version == "1.6":
                struct = spec.request  # 1.6 names a request schema by the action alone
    if struct is None:
        raise FileNotFoundError(f"no schema {name!r} for OCPP {ocpp_version}")
    as_decimal = ocpp_version == "1.6" and (message_type_id, action) in _DECIMAL_MESSAGES
    additional_first = ocpp_version != "1.6" or name in _V16_ADDITIONAL_FIRST
    validator = _Validator(key, _draft4(struct), as_decimal, additional_first)
    _validators[key] = validator
    return validator


async def validate_payload(message: Call | CallResult, ocpp_version: str) -> None:
    """Validate ``message.payload`` against its schema (see :func:`_validate_payload`).

    Runs inline whatever ``ASYNC_VALIDATION`` says: msgspec validates in microseconds, where
    mobilityhouse needed a thread pool for jsonschema.
    """
    _validate_payload(message, ocpp_version)


def _validate_payload(message: Call | CallResult, ocpp_version: str) -> None:
    """Validate ``message.payload``; raise the OCPP error mobilityhouse raises for it.

    Not a Call / CallResult -> :class:`ValidationError`; unknown version -> ``ValueError``; no
    schema for the action -> :class:`NotImplementedError` (details
    ``{"cause": "Failed to validate action: X"}``).
    """
    kind = type(message)
    if kind is not Call and kind is not CallResult:
        raise ValidationError(f"Only a Call or a CallResult can be validated, not a {kind}")
    try:
        validator = _by_message[(message.action, message.message_type_id, ocpp_version)]
    except (KeyError, TypeError):  # TypeError: an unhashable action
        validator = _validator_of(message, ocpp_version)
    if validator.decimal:
        # mobilityhouse re-reads these payloads with Decimal numbers (its float workaround for
        # multipleOf: 0.1) and hands that payload on: handlers and call() results see Decimal.
        message.payload = _with_decimals(message.payload)
    payload = message.payload
    try:
        _convert(payload, validator.type)
    except (msgspec.ValidationError, RecursionError) as exc:
        raise _schema_error(validator.violation(payload, exc), message) from None


def _validator_of(message: Call | CallResult, ocpp_version: str) -> _Validator:
    action = message.action
    type_id = message.message_type_id
    try:
        validator = get_validator(type_id, action, ocpp_version)
    except OSError:
        raise NotImplementedError(
            details={"cause": f"Failed to validate action: {action}"}
        ) from None
    if isinstance(action, str):
        _by_message[(action, type_id, ocpp_version)] = validator
    return validator


def _schema_error(exc: SchemaValidationError, message: Call | CallResult) -> OCPPError:
    """mobilityhouse's keyword -> exception table."""
    keyword = exc.validator
    if keyword == "type" or keyword == "maxLength":
        return TypeConstraintViolationError(details={"cause": exc.message, "ocpp_message": message})
    if keyword == "additionalProperties":
        return FormatViolationError(details={"cause": exc.message, "ocpp_message": message})
    if keyword == "required":
        return ProtocolError(details={"cause": exc.message})
    return FormatViolationError(
        details={
            "cause": f"Payload '{message.payload}' for action '{message.action}' is not valid: "
            f"{exc.message}",
            "ocpp_message": message,
        }
    )


def _with_decimals(value: Any) -> Any:
    """A copy of a JSON value with non-integral numbers as ``Decimal`` (what a JSON round trip
    with ``parse_float=Decimal`` gives: floats from their shortest repr, ``NaN`` / ``Infinity``
    stay floats, str / int subclasses become plain, tuples lists, keys strings)."""
    kind = type(value)
    if kind is dict:
        return {_json_key(k): _with_decimals(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_with_decimals(v) for v in value]
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if isinstance(value, float):
        text = float.__repr__(value)
        return decimal.Decimal(text) if math.isfinite(value) else float(text)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):  # bool and IntEnum members included
        return int.__int__(value) if not isinstance(value, bool) else value is True
    if isinstance(value, dict):
        return {_json_key(k): _with_decimals(v) for k, v in value.items()}
    return value  # Decimal stays; anything else is left for validation to refuse


def _json_key(key: Any) -> Any:
    if type(key) is str:
        return key
    if isinstance(key, str):
        return str.__str__(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, (int, float)):
        return json.dumps(key)
    return key


# --- mobilityhouse's schema semantics on ocppfast's generated types --------------------------
# The generated Structs follow the schemas' own drafts and check ``format: date-time``;
# mobilityhouse validates every version with Draft4Validator and no format checker. So each
# Struct gets a twin in which a date-time is any string and an integer is an ``int`` only, with
# only the schema's own bounds.
_draft4_structs: dict[type[msgspec.Struct], type[msgspec.Struct]] = {}


def _draft4(struct: type[msgspec.Struct]) -> type[msgspec.Struct]:
    twin = _draft4_structs.get(struct)
    if twin is not None:
        return twin
    config = struct.__struct_config__
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    for info in msgspec.structs.fields(struct):
        tp = _draft4_type(info.type)
        rename[info.name] = info.encode_name
        if info.required:
            fields.append((info.name, tp))
        elif info.default_factory is not msgspec.NODEFAULT:
            fields.append((info.name, tp, msgspec.field(default_factory=info.default_factory)))
        else:
            fields.append((info.name, tp, info.default))
    namespace: dict[str, Any] = {}
    post_init = getattr(struct, "__post_init__", None)
    if post_init is not None:  # the 1.6 multipleOf: 0.1 checks
        namespace["__post_init__"] = post_init
    twin = msgspec.defstruct(
        struct.__name__,
        fields,
        module=__name__,
        namespace=namespace,
        kw_only=True,
        forbid_unknown_fields=config.forbid_unknown_fields,
        rename=rename,
    )
    _draft4_structs[struct] = twin
    return twin


def _integral_float(tp: Any) -> bool:
    """The draft-06 ``float`` half of a generated integer (``Meta(multiple_of=1)``)."""
    if typing.get_origin(tp) is not Annotated:
        return False
    base, *metas = typing.get_args(tp)
    return base is float and any(getattr(m, "multiple_of", None) == 1 for m in metas)


# ocppfast's types bound every integer to 32 bits (gen_messages QUIRKS Q15: the OCPP specs say
# so, the schemas do not); no schema uses these two numbers itself, so they are dropped here.
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_META_FIELDS: Final = (
    "gt", "ge", "lt", "le", "multiple_of", "pattern", "min_length", "max_length", "tz",
    "title", "description", "examples", "extra_json_schema", "extra",
)  # fmt: skip


def _without_int32(meta: Any) -> Any:
    kwargs = {name: getattr(meta, name, None) for name in _META_FIELDS}
    if kwargs["ge"] == _INT32_MIN:
        kwargs["ge"] = None
    if kwargs["le"] == _INT32_MAX:
        kwargs["le"] = None
    kwargs = {name: value for name, value in kwargs.items() if value is not None}
    return msgspec.Meta(**kwargs) if kwargs else None


def _draft4_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *metas = typing.get_args(tp)
        if base is str and any(getattr(m, "pattern", None) for m in metas):
            return str  # format: date-time (the only pattern the generator emits)
        if base is int:
            metas = [m for m in map(_without_int32, metas) if m is not None]
            if not metas:
                return int
        return Annotated[(_draft4_type(base), *metas)]
    if origin is Union or origin is types.UnionType:
        members = [_draft4_type(a) for a in typing.get_args(tp) if not _integral_float(a)]
        return members[0] if len(members) == 1 else Union[tuple(members)]  # noqa: UP007
    if origin is list:
        (item,) = typing.get_args(tp)
        return list[_draft4_type(item)]  # type: ignore[misc]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _draft4(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        # Only membership matters here: a Literal checks it without making enum members
        # (same messages: "Invalid enum value ...", "Expected `str`, got `int`").
        return Literal[tuple(member.value for member in tp)]
    return tp
