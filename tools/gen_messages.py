"""Generate ``ocppfast.v16`` / ``ocppfast.v201`` / ``ocppfast.v21`` from the official OCPP JSON schemas.

Input: the schemas shipped in the pinned dev dependency ``ocpp`` (mobilityhouse, copies of the Open
Charge Alliance files): ``ocpp/v16/schemas`` (1.6 + security extension), ``ocpp/v201/schemas`` and
``ocpp/v21/schemas``. Output per version: ``enums.py`` (``StrEnum`` per enumeration),
``datatypes.py`` (nested ``msgspec.Struct`` types and constrained scalar aliases), ``messages.py``
(``<Action>Request`` / ``<Action>Response``) and ``__init__.py`` (re-exports, ``SUBPROTOCOL`` and
the ``ACTIONS`` registry used by the engine).

Usage::

    python tools/gen_messages.py                # write into the ocppfast package
    python tools/gen_messages.py --out DIR      # write DIR/v16, DIR/v201, DIR/v21
    python tools/gen_messages.py --check        # exit 1 if the committed files are stale

Each run also writes (or checks) ``compat/v16``, ``compat/v201``, ``compat/v21`` under the same
directory: the mobilityhouse-shaped models of ``ocppfast.compat`` (``tools/gen_compat.py``).

The output depends only on the schema files: files are walked in sorted order, no timestamps.

How a schema becomes a type (the decoder must accept exactly what the schema accepts)
-----------------------------------------------------------------------------------
- object -> ``msgspec.Struct`` with ``kw_only=True, omit_defaults=True`` and
  ``forbid_unknown_fields=True`` when the schema says ``additionalProperties: false``.
- required property -> ``T`` without default; optional -> ``T | UnsetType = UNSET``: an absent
  field stays absent on encode and ``null`` is rejected on decode (2.0.1 part 4 4.1.4: absent
  optionals are left out, never ``null``; every schema rejects ``null``).
- ``string`` + ``maxLength`` -> ``Annotated[str, Meta(max_length=n)]`` (both count code points).
- ``enum`` -> ``enum.StrEnum`` (msgspec matches by value).
- ``integer`` / ``number`` + ``minimum`` / ``maximum`` -> ``Meta(ge=, le=)``.
- ``array`` + ``minItems`` / ``maxItems`` -> ``Annotated[list[T], Meta(min_length=, max_length=)]``.

QUIRKS (every special case handled explicitly)
----------------------------------------------
Q1  Draft-04 vs draft-06. 56 of the 1.6 schemas are draft-04, the 22 1.6 security-extension
    schemas and all 2.0.1 / 2.1 schemas are draft-06. They differ for us in one point:
    draft-06 counts ``1.0`` as an ``integer`` ("a number with a zero fractional part"), draft-04
    does not. Draft-04 integers become ``int``; draft-06 integers become
    ``int | Annotated[float, Meta(multiple_of=1)]`` (msgspec in strict mode refuses ``1.0`` for
    ``int``), so ``1.0`` is accepted there and kept as a float. ``ocppfast.validation`` reports a
    non-integral float there as TypeConstraintViolation.
Q2  ``format: date-time`` (RFC 3339 section 5.6, as jsonschema checks it with rfc3339-validator) is
    a ``str`` with a ``pattern``, not ``datetime``: msgspec's datetime parser also accepts a
    space for ``T``, offsets without a colon (``+0000``) and naive times, and refuses fractions
    that round past year 9999, so it cannot match the schema exactly. The pattern checks month
    lengths and leap years (Gregorian), year 0000 is refused, ``T``/``Z`` in either case, any
    number of fraction digits, offsets up to +-23:59, no leap second (``:60``), ASCII digits only.
    It ends with ``\\Z``: rfc3339-validator's ``$`` also lets a trailing newline through; we
    do not (a deliberate difference from that oracle, tested as such). The generated ``Meta``
    comes from ``ocppfast.validation.date_time_meta``: compiled, msgspec runs the byte scan
    ``ocppfast._datetime.is_rfc3339`` (same accept/reject set, tests/test_datetime_check.py)
    instead of the regex; the pattern stays what msgspec reports and what JSON Schema shows.
Q3  ``multipleOf: 0.1`` (1.6 ChargingSchedule.minChargingRate and ChargingSchedulePeriod.limit):
    binary floats make ``x / 0.1`` inexact (jsonschema with floats rejects ``0.3``; mobilityhouse
    ocpp re-parses these payloads with ``Decimal`` for that reason). Checked in ``__post_init__``
    on the decimal value of the float's shortest repr (what the JSON text said for any number a
    double can hold): a multiple of 0.1 has at most one fractional digit.
Q4  ``format: uri`` (1.6 GetDiagnostics / UpdateFirmware ``location``) is not asserted: formats
    are annotations unless a checker is configured, and jsonschema only checks ``uri`` when the
    optional rfc3987 package is installed. Plain ``str``.
Q5  ``CustomDataType`` (2.0.1 / 2.1, 309 schemas) is the only object without
    ``additionalProperties: false``: its Struct ignores unknown fields (vendor properties are
    accepted as the schema says, but not kept; read the raw payload if you need them).
    Every other object in all 387 schemas has ``additionalProperties: false`` (asserted).
Q6  1.6 schemas have no definitions for the core types: nested objects and enums are inline.
    Their names come from the 1.6 specification (section 7), hardcoded below
    (``V16_OBJECT_NAMES``, ``V16_ENUM_NAMES``): e.g. ``BootNotificationResponse.status`` ->
    ``RegistrationStatus``, ``StopTransaction.transactionData[]`` -> ``MeterValue``,
    ``SetChargingProfile.csChargingProfiles`` -> ``ChargingProfile``,
    ``GetConfigurationResponse.configurationKey[]`` -> ``KeyValue``. The security extension
    schemas do have definitions (``...EnumType`` / ``...Type``); their names are kept as is.
Q7  1.6 ``UnitOfMeasure``: ``MeterValues.json`` lists both ``Celcius`` (the 1.6 schema's original
    misspelling, still sent by chargers) and ``Celsius``, plus ``Hertz``; ``StopTransaction.json``
    lists ``Celcius`` and ``Celsius`` but not ``Hertz``. Both spellings are kept as distinct values
    (members ``celcius`` and ``celsius``), and the StopTransaction variant becomes its own enum
    ``UnitOfMeasure_StopTransaction`` (Q9), so ``Hertz`` is refused there as the schema says;
    with it ``SampledValue`` / ``MeterValue`` get ``_StopTransaction`` twins.
Q8  1.6 inline enums carry a meaningless ``additionalProperties: false`` on a ``string``; ignored.
    ``additionalItems`` (with a single ``items`` schema it has no effect) and ``default``
    (an annotation) are ignored too.
Q9  Duplicate definitions: 2.0.1 / 2.1 repeat each definition in every schema that uses it. Names
    are de-duplicated per version by structure (descriptions ignored). If one name had two
    different shapes, the later one (in sorted schema order) would get the suffix ``_<Schema>``;
    the names that needed this are listed in the generated ``datatypes.py`` header (currently
    none: the 387 schemas are consistent). 1.6 repeats inline types across schemas (IdTagInfo,
    ChargingProfile, MeterValue, ...) and is de-duplicated the same way.
Q10 2.1 ``NotifyPeriodicEventStream.json`` lacks the ``Request`` suffix and has no response: it
    is SEND-only (OCPP-J 2.1 type 6), so its Action has ``response=None``.
Q11 Enum values that are not identifiers (``Energy.Active.Import.Register``, ``L1-N``,
    ``s309-1P-16A``, ``kWh``, ``IKEv2``) get snake_case member names (``.`` and ``-`` become
    ``_``); a member name that would be a Python keyword or an ``Enum`` attribute gets a
    trailing ``_`` (asserted collision-free per enum).
Q12 Attribute names: camelCase -> snake_case with acronym runs kept together (``evseId`` ->
    ``evse_id``, ``EVSE`` -> ``evse``, ``iso15118SchemaVersion`` -> ``iso15118_schema_version``,
    ``numEPriceLevels`` -> ``num_e_price_levels``, ``prioritizedEMAIDs`` ->
    ``prioritized_emaids``, ``dischargeLimit_L2`` -> ``discharge_limit_l2``); the tokens
    ``SoC``/``SoH``/``V2X`` are single words (``bulkSoC`` -> ``bulk_soc``, ``evMaxV2XEnergyRequest``
    -> ``ev_max_v2x_energy_request``). Keywords get a trailing ``_``; collisions inside one
    Struct are a generator error. The wire name is always given with ``msgspec.field(name=...)``.
Q14 2.0.1 / 2.1 ``DataTransfer{Request,Response}.data`` has no ``type``: any JSON value, ``null``
    included, so it is ``typing.Any`` (``null`` decodes to ``None`` and is sent back as ``null``).
Q13 JSON-level limits not expressible in a schema, where msgspec and Python's json differ:
    lone UTF-16 surrogates in strings and numbers that overflow a double (``1e400``) are refused
    as malformed JSON (RFC 8259 sections 8.2 and 6 interoperability).
Q15 OCPP integers are 32-bit (1.6 section 7 "Types" and 2.0.1 part 2 "Primitive datatypes":
    integer = 32 bit, 31 bit resolution and a sign bit), which the schemas do not say. Every
    ``integer`` gets ``ge=-2**31, le=2**31-1`` intersected with its own bounds (aliases
    ``Int32`` for draft-04, ``Integer`` for draft-06); ``ocppfast.validation`` answers a value
    outside that range with TypeConstraintViolation. A deliberate difference from the schemas,
    listed as such in tests/test_messages_conformance.py.
Q16 A Struct whose fields can only hold scalars (strings, numbers, booleans, enum members, or
    Structs that are scalar-only themselves; no list, dict or ``Any`` anywhere below it) is
    generated with ``gc=False``: an instance cannot be part of a reference cycle without a field
    holding a value of the wrong type, so the cycle collector has nothing to find, and not
    tracking it saves its allocation about 175 instructions (``HeartbeatResponse`` built per
    call, ``benchmarks/bench_answer_path.py``). A Struct with any container keeps the default.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.metadata
import json
import keyword
import re
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "ocppfast"

VERSIONS = {
    # package: (subprotocol, human name, schema dir in the ocpp package)
    "v16": ("ocpp1.6", "OCPP 1.6 (with the security extension)", "v16"),
    "v201": ("ocpp2.0.1", "OCPP 2.0.1", "v201"),
    "v21": ("ocpp2.1", "OCPP 2.1", "v21"),
}

KNOWN_KEYWORDS = {
    "$schema", "$id", "title", "description", "comment", "javaType", "default", "definitions",
    "type", "properties", "required", "additionalProperties", "$ref", "enum", "maxLength",
    "format", "items", "minItems", "maxItems", "additionalItems", "minimum", "maximum",
    "multipleOf",
}  # fmt: skip

# --- Which side sends the request (from the specs' message direction tables) -------------------
# OCPP 1.6 section 4 (operations initiated by the charge point) and 5 (by the central system);
# security whitepaper edition 2 section 4-9.
V16_FROM_CP = {
    "Authorize", "BootNotification", "DiagnosticsStatusNotification",
    "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
    "StatusNotification", "StopTransaction",
    # security extension
    "LogStatusNotification", "SecurityEventNotification", "SignCertificate",
    "SignedFirmwareStatusNotification",
}  # fmt: skip
V16_FROM_CS = {
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
    "ClearChargingProfile", "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics",
    "GetLocalListVersion", "RemoteStartTransaction", "RemoteStopTransaction", "ReserveNow",
    "Reset", "SendLocalList", "SetChargingProfile", "TriggerMessage", "UnlockConnector",
    "UpdateFirmware",
    # security extension
    "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage",
    "GetInstalledCertificateIds", "GetLog", "InstallCertificate", "SignedUpdateFirmware",
}  # fmt: skip
# OCPP 2.0.1 part 2 (use cases, "Charging Station -> CSMS" / "CSMS -> Charging Station").
V201_FROM_CS = {
    "Authorize", "BootNotification", "ClearedChargingLimit", "FirmwareStatusNotification",
    "Get15118EVCertificate", "GetCertificateStatus", "Heartbeat", "LogStatusNotification",
    "MeterValues", "NotifyChargingLimit", "NotifyCustomerInformation", "NotifyDisplayMessages",
    "NotifyEVChargingNeeds", "NotifyEVChargingSchedule", "NotifyEvent", "NotifyMonitoringReport",
    "NotifyReport", "PublishFirmwareStatusNotification", "ReportChargingProfiles",
    "ReservationStatusUpdate", "SecurityEventNotification", "SignCertificate",
    "StatusNotification", "TransactionEvent",
}  # fmt: skip
V201_FROM_CSMS = {
    "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache",
    "ClearChargingProfile", "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated",
    "CustomerInformation", "DeleteCertificate", "GetBaseReport", "GetChargingProfiles",
    "GetCompositeSchedule", "GetDisplayMessages", "GetInstalledCertificateIds",
    "GetLocalListVersion", "GetLog", "GetMonitoringReport", "GetReport", "GetTransactionStatus",
    "GetVariables", "InstallCertificate", "PublishFirmware", "RequestStartTransaction",
    "RequestStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile",
    "SetDisplayMessage", "SetMonitoringBase", "SetMonitoringLevel", "SetNetworkProfile",
    "SetVariableMonitoring", "SetVariables", "TriggerMessage", "UnlockConnector",
    "UnpublishFirmware", "UpdateFirmware",
}  # fmt: skip
# OCPP 2.1 part 2: the 2.0.1 set plus the new use cases (V2X/DER, tariffs, periodic event
# streams, battery swap, priority charging, dynamic schedules, ad hoc payment).
V21_FROM_CS = V201_FROM_CS | {
    "BatterySwap", "ClosePeriodicEventStream", "GetCertificateChainStatus", "NotifyDERAlarm",
    "NotifyDERStartStop", "NotifyPeriodicEventStream", "NotifyPriorityCharging",
    "NotifySettlement", "OpenPeriodicEventStream", "PullDynamicScheduleUpdate",
    "ReportDERControl", "VatNumberValidation",
}  # fmt: skip
V21_FROM_CSMS = V201_FROM_CSMS | {
    "AFRRSignal", "AdjustPeriodicEventStream", "ChangeTransactionTariff", "ClearDERControl",
    "ClearTariffs", "GetDERControl", "GetPeriodicEventStream", "GetTariffs",
    "NotifyAllowedEnergyTransfer", "NotifyWebPaymentStarted", "RequestBatterySwap",
    "SetDERControl", "SetDefaultTariff", "UpdateDynamicSchedule", "UsePriorityCharging",
}  # fmt: skip
BOTH = {"DataTransfer"}
DIRECTIONS = {
    "v16": (V16_FROM_CP, V16_FROM_CS),
    "v201": (V201_FROM_CS, V201_FROM_CSMS),
    "v21": (V21_FROM_CS, V21_FROM_CSMS),
}
SEND_ONLY = {"v21": {"NotifyPeriodicEventStream"}}

# --- Q6: 1.6 names of inline types (OCPP 1.6 section 7) ------------------------------------------
V16_OBJECT_NAMES = {  # property holding the object (or the array of them) -> type name
    "idTagInfo": "IdTagInfo",
    "chargingProfile": "ChargingProfile",
    "csChargingProfiles": "ChargingProfile",
    "chargingSchedule": "ChargingSchedule",
    "chargingSchedulePeriod": "ChargingSchedulePeriod",
    "configurationKey": "KeyValue",
    "localAuthorizationList": "AuthorizationData",
    "meterValue": "MeterValue",
    "transactionData": "MeterValue",
    "sampledValue": "SampledValue",
}
V16_ENUM_NAMES = {  # (owning type, property) -> enum name
    ("IdTagInfo", "status"): "AuthorizationStatus",
    ("BootNotificationResponse", "status"): "RegistrationStatus",
    ("CancelReservationResponse", "status"): "CancelReservationStatus",
    ("ChangeAvailabilityRequest", "type"): "AvailabilityType",
    ("ChangeAvailabilityResponse", "status"): "AvailabilityStatus",
    ("ChangeConfigurationResponse", "status"): "ConfigurationStatus",
    ("ClearCacheResponse", "status"): "ClearCacheStatus",
    ("ClearChargingProfileRequest", "chargingProfilePurpose"): "ChargingProfilePurposeType",
    ("ClearChargingProfileResponse", "status"): "ClearChargingProfileStatus",
    ("DataTransferResponse", "status"): "DataTransferStatus",
    ("DiagnosticsStatusNotificationRequest", "status"): "DiagnosticsStatus",
    ("FirmwareStatusNotificationRequest", "status"): "FirmwareStatus",
    ("GetCompositeScheduleRequest", "chargingRateUnit"): "ChargingRateUnitType",
    ("GetCompositeScheduleResponse", "status"): "GetCompositeScheduleStatus",
    ("ChargingSchedule", "chargingRateUnit"): "ChargingRateUnitType",
    ("ChargingProfile", "chargingProfilePurpose"): "ChargingProfilePurposeType",
    ("ChargingProfile", "chargingProfileKind"): "ChargingProfileKindType",
    ("ChargingProfile", "recurrencyKind"): "RecurrencyKindType",
    ("SampledValue", "context"): "ReadingContext",
    ("SampledValue", "format"): "ValueFormat",
    ("SampledValue", "measurand"): "Measurand",
    ("SampledValue", "phase"): "Phase",
    ("SampledValue", "location"): "Location",
    ("SampledValue", "unit"): "UnitOfMeasure",
    ("RemoteStartTransactionResponse", "status"): "RemoteStartStopStatus",
    ("RemoteStopTransactionResponse", "status"): "RemoteStartStopStatus",
    ("ReserveNowResponse", "status"): "ReservationStatus",
    ("ResetRequest", "type"): "ResetType",
    ("ResetResponse", "status"): "ResetStatus",
    ("SendLocalListRequest", "updateType"): "UpdateType",
    ("SendLocalListResponse", "status"): "UpdateStatus",
    ("SetChargingProfileResponse", "status"): "ChargingProfileStatus",
    ("StatusNotificationRequest", "errorCode"): "ChargePointErrorCode",
    ("StatusNotificationRequest", "status"): "ChargePointStatus",
    ("StopTransactionRequest", "reason"): "Reason",
    ("TriggerMessageRequest", "requestedMessage"): "MessageTrigger",
    ("TriggerMessageResponse", "status"): "TriggerMessageStatus",
    ("UnlockConnectorResponse", "status"): "UnlockStatus",
}

# --- Q2: RFC 3339 date-time ------------------------------------------------------------------
_D = "[0-9]"
_DATE = (
    rf"(?!0000)(?:{_D}{{4}}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]{_D}|3[01])"
    rf"|(?:0[469]|11)-(?:0[1-9]|[12]{_D}|30)|02-(?:0[1-9]|1{_D}|2[0-8]))"
    rf"|(?:{_D}{{2}}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
)
_TIME = (
    rf"[Tt](?:[01]{_D}|2[0-3]):[0-5]{_D}:[0-5]{_D}(?:\.{_D}+)?"
    rf"(?:[Zz]|[+-](?:[01]{_D}|2[0-3]):[0-5]{_D})"
)
RFC3339_PATTERN = rf"\A{_DATE}{_TIME}\Z"


# --- naming ----------------------------------------------------------------------------------
_ENUM_RESERVED = {"name", "value", "mro"}
_WORD_TOKENS = {"SoC": "Soc", "soC": "soc", "SoH": "Soh", "soH": "soh", "V2X": "V2x"}  # Q12


def snake(name: str) -> str:
    """camelCase (with acronym runs) -> snake_case (Q12)."""
    for token, word in _WORD_TOKENS.items():
        name = name.replace(token, word)
    name = re.sub(r"([A-Z]{2,})s(?=[A-Z_]|$)", r"\1S", name)  # EMAIDs -> EMAIDS
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)  # EVSEId -> EVSE_Id
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)  # evseId -> evse_Id
    name = re.sub(r"([0-9])([A-Z][a-z])", r"\1_\2", name)  # 15118Schema -> 15118_Schema
    name = re.sub(r"_+", "_", name).lower()
    return name + "_" if keyword.iskeyword(name) else name


def enum_member(value: str) -> str:
    """An enum value -> a member name (Q11)."""
    if re.fullmatch(r"k[A-Z][A-Za-z]*", value):  # kW, kWh, kVA: unit prefixes stay one word
        name = value.lower()
    else:
        name = snake(re.sub(r"[^0-9A-Za-z_]", "_", value)).rstrip("_")
        name = re.sub(r"_+", "_", name)
    if not name or name[0].isdigit():
        name = "v_" + name
    if keyword.iskeyword(name) or name in _ENUM_RESERVED:
        name += "_"
    return name


# --- model -------------------------------------------------------------------------------------
@dataclass
class EnumDef:
    name: str
    values: list[str]
    doc: str


@dataclass
class FieldDef:
    wire: str
    attr: str
    type_expr: str
    required: bool


@dataclass
class StructDef:
    name: str
    fields: list[FieldDef]
    forbid_unknown: bool
    doc: str
    decimal_checks: list[tuple[str, str, int]] = field(default_factory=list)  # attr, wire, digits
    is_message: bool = False

    def signature(self) -> Any:
        return (
            tuple((f.wire, f.attr, f.type_expr, f.required) for f in self.fields),
            self.forbid_unknown,
            tuple(self.decimal_checks),
        )


def clean_doc(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    paragraphs = [p for p in paragraphs if p]
    return "\n\n".join(paragraphs).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # Q15
INT32_BOUNDS = [f"ge={INT32_MIN}", f"le={INT32_MAX}"]


def fmt_num(value: float, integer: bool) -> str:
    if integer:
        if value != int(value):
            raise ValueError(f"non-integral bound {value} on an integer")
        return str(int(value))
    return repr(float(value))


class VersionModel:
    def __init__(self, package: str, schema_dir: Path) -> None:
        self.package = package
        self.schema_dir = schema_dir
        self.enums: dict[str, EnumDef] = {}
        self.structs: dict[str, StructDef] = {}  # nested types, in dependency order
        self.messages: list[StructDef] = []
        self.actions: list[tuple[str, str, str | None, str]] = []  # name, req, resp, sender
        self.renamed: list[str] = []
        self.str_aliases: set[int] = set()
        self.uses_datetime = False
        self.uses_integer = False
        self.uses_int32 = False
        self.schema_files: list[str] = []

    # -- schema walking --
    def load(self) -> None:
        files = sorted(p.name for p in self.schema_dir.glob("*.json"))
        self.schema_files = files
        schemas = {
            f: json.loads((self.schema_dir / f).read_text(encoding="utf-8-sig")) for f in files
        }
        requests, responses = {}, {}
        for f in files:
            stem = f[: -len(".json")]
            if stem.endswith("Response"):
                responses[stem[: -len("Response")]] = f
            elif stem.endswith("Request"):
                requests[stem[: -len("Request")]] = f
            else:  # 1.6 request files and 2.1 NotifyPeriodicEventStream (Q10)
                requests[stem] = f
        if set(responses) - set(requests):
            raise ValueError(f"responses without request: {set(responses) - set(requests)}")
        from_cp, from_cs = DIRECTIONS[self.package]
        for action in sorted(requests):
            if action in BOTH:
                sender = "both"
            elif action in from_cp and action not in from_cs:
                sender = "charge_point"
            elif action in from_cs and action not in from_cp:
                sender = "central_system"
            else:
                raise ValueError(f"{self.package}: no direction for {action}")
            req = self.message(f"{action}Request", schemas[requests[action]], requests[action])
            resp = None
            if action in responses:
                resp = self.message(
                    f"{action}Response", schemas[responses[action]], responses[action]
                )
            elif action not in SEND_ONLY.get(self.package, set()):
                raise ValueError(f"{self.package}: {action} has no response schema")
            self.actions.append((action, req, resp, sender))
        unknown = (from_cp | from_cs | BOTH) - set(requests)
        if unknown:
            raise ValueError(f"{self.package}: direction table names unknown actions {unknown}")

    def message(self, name: str, schema: dict[str, Any], filename: str) -> str:
        draft6 = "draft-06" in schema.get("$schema", "")
        ctx = _Ctx(schema.get("definitions", {}), draft6, filename)
        struct = self.build_struct(name, schema, ctx)
        struct.is_message = True
        struct.doc = f"``{name[:-8] if name.endswith('Response') else name[:-7]}`` {'response' if name.endswith('Response') else 'request'} payload (schema ``{filename}``)."
        self.messages.append(struct)
        return name

    def check_keys(self, node: dict[str, Any], where: str) -> None:
        unknown = set(node) - KNOWN_KEYWORDS
        if unknown:
            raise ValueError(f"{where}: unsupported schema keywords {sorted(unknown)}")

    def build_struct(self, name: str, node: dict[str, Any], ctx: _Ctx) -> StructDef:
        self.check_keys(node, f"{ctx.filename}:{name}")
        if node.get("type") != "object":
            raise ValueError(f"{name}: not an object")
        addl = node.get("additionalProperties", True)
        if addl is not False and name != "CustomDataType":
            raise ValueError(f"{ctx.filename}:{name}: additionalProperties is {addl!r} (Q5)")
        props: dict[str, Any] = node.get("properties", {})
        required = node.get("required", [])
        if set(required) - set(props):
            raise ValueError(f"{name}: required names unknown properties")
        fields: list[FieldDef] = []
        checks: list[tuple[str, str, int]] = []
        for wire in [p for p in props if p in required] + [p for p in props if p not in required]:
            attr = snake(wire)
            type_expr, decimals = self.type_of(props[wire], name, wire, ctx)
            if decimals is not None:
                checks.append((attr, wire, decimals))
            fields.append(FieldDef(wire, attr, type_expr, wire in required))
        attrs = [f.attr for f in fields]
        if len(set(attrs)) != len(attrs):
            raise ValueError(f"{name}: snake_case collision in {attrs}")
        return StructDef(
            name, fields, addl is False, clean_doc(node.get("description", "")), checks
        )

    def type_of(
        self, node: dict[str, Any], owner: str, prop: str, ctx: _Ctx
    ) -> tuple[str, int | None]:
        """Type expression for a property schema, plus the decimal digits of a multipleOf check."""
        if "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/definitions/"):
                raise ValueError(f"unsupported $ref {ref}")
            dname = ref[len("#/definitions/") :]
            return self.definition(dname, ctx.defs[dname], ctx), None
        self.check_keys(node, f"{ctx.filename}:{owner}.{prop}")
        t = node.get("type")
        if t is None and set(node) <= {"description", "comment", "javaType"}:
            return "Any", None  # Q14: DataTransfer.data has no type (any JSON value, null too)
        if "enum" in node:
            if t != "string":
                raise ValueError(f"{owner}.{prop}: non-string enum")
            ename = V16_ENUM_NAMES.get((owner, prop)) if self.package == "v16" else None
            if ename is None:
                raise ValueError(f"{ctx.filename}: no name for inline enum {owner}.{prop} (Q6)")
            return self.add_enum(ename, node, ctx), None
        if t == "object":
            oname = V16_OBJECT_NAMES.get(prop) if self.package == "v16" else None
            if oname is None:
                raise ValueError(f"{ctx.filename}: no name for inline object {owner}.{prop} (Q6)")
            return self.add_struct(self.build_struct(oname, node, ctx), ctx), None
        if t == "array":
            item, decimals = self.type_of(node["items"], owner, prop, ctx)
            if decimals is not None:
                raise ValueError("multipleOf on array items")
            meta = []
            if "minItems" in node:
                meta.append(f"min_length={int(node['minItems'])}")
            if "maxItems" in node:
                meta.append(f"max_length={int(node['maxItems'])}")
            expr = f"list[{item}]"
            return (f"Annotated[{expr}, Meta({', '.join(meta)})]" if meta else expr), None
        if t == "string":
            if node.get("format") == "date-time":
                if "maxLength" in node:
                    raise ValueError("maxLength on date-time")
                self.uses_datetime = True
                return "DateTime", None
            if node.get("format") not in (None, "uri"):  # Q4
                raise ValueError(f"unsupported format {node['format']}")
            if "maxLength" in node:
                n = int(node["maxLength"])
                self.str_aliases.add(n)
                return f"String{n}", None
            return "str", None
        if t == "boolean":
            return "bool", None
        if t in ("integer", "number"):
            integer = t == "integer"
            bounds = []
            if "minimum" in node:
                bounds.append(f"ge={fmt_num(node['minimum'], integer)}")
            if "maximum" in node:
                bounds.append(f"le={fmt_num(node['maximum'], integer)}")
            decimals = None
            if "multipleOf" in node:  # Q3
                step = node["multipleOf"]
                if integer or not re.fullmatch(r"0\.0*1", repr(step)):
                    raise ValueError(f"unsupported multipleOf {step!r}")
                decimals = len(repr(step)) - 2
            if not integer:
                return (
                    f"Annotated[float, Meta({', '.join(bounds)})]" if bounds else "float"
                ), decimals
            low = int(fmt_num(node["minimum"], True)) if "minimum" in node else INT32_MIN
            high = int(fmt_num(node["maximum"], True)) if "maximum" in node else INT32_MAX
            bounds = [f"ge={max(low, INT32_MIN)}", f"le={min(high, INT32_MAX)}"]  # Q15
            if not ctx.draft6:  # Q1: draft-04 integers are ints only
                if bounds == INT32_BOUNDS:
                    self.uses_int32 = True
                    return "Int32", None
                return f"Annotated[int, Meta({', '.join(bounds)})]", None
            self.uses_integer = True
            if bounds == INT32_BOUNDS:
                return "Integer", None
            b = ", ".join(bounds)
            return f"Annotated[int, Meta({b})] | Annotated[float, Meta({b}, multiple_of=1)]", None
        raise ValueError(f"{ctx.filename}: unsupported type {t!r} at {owner}.{prop}")

    def definition(self, dname: str, node: dict[str, Any], ctx: _Ctx) -> str:
        if "enum" in node:
            return self.add_enum(dname, node, ctx)
        return self.add_struct(self.build_struct(dname, node, ctx), ctx)

    def add_enum(self, name: str, node: dict[str, Any], ctx: _Ctx) -> str:
        values = list(node["enum"])
        if len(set(values)) != len(values) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"{name}: bad enum values")
        existing = self.enums.get(name)
        if existing is not None:
            if existing.values == values:
                return name
            if sorted(existing.values) == sorted(values):
                return name  # same set, other order: same type
            name = self._rename(name, ctx, self.enums)
            if name in self.enums:
                return name
        self.enums[name] = EnumDef(name, values, clean_doc(node.get("description", "")))
        return name

    def add_struct(self, struct: StructDef, ctx: _Ctx) -> str:
        existing = self.structs.get(struct.name)
        if existing is not None:
            if existing.signature() == struct.signature():
                if not existing.doc and struct.doc:
                    existing.doc = struct.doc
                return existing.name
            struct.name = self._rename(struct.name, ctx, self.structs)
            if struct.name in self.structs:
                return struct.name
        self.structs[struct.name] = struct
        return struct.name

    def _rename(self, name: str, ctx: _Ctx, table: dict[str, Any]) -> str:  # Q9
        new = f"{name}_{ctx.filename[: -len('.json')]}"
        self.renamed.append(f"{name} -> {new} (differs in {ctx.filename})")
        return new


@dataclass
class _Ctx:
    defs: dict[str, Any]
    draft6: bool
    filename: str


# --- rendering ---------------------------------------------------------------------------------
def header(model: VersionModel, what: str) -> str:
    version = importlib.metadata.version("ocpp")
    return (
        f"# Generated by tools/gen_messages.py -- do not edit; rerun the generator instead.\n"
        f"# Input: ocpp=={version} (mobilityhouse) ocpp/{VERSIONS[model.package][2]}/schemas, "
        f"{len(model.schema_files)} JSON schema files ({VERSIONS[model.package][1]}).\n"
        f"# {what}\n"
    )


def doc_block(doc: str, indent: str) -> str:
    if not doc:
        return ""
    out: list[str] = []
    for para in doc.split("\n\n"):
        out.extend(
            textwrap.wrap(
                para, width=96 - len(indent), break_long_words=False, break_on_hyphens=False
            )
            or [""]
        )
        out.append("")
    body = "\n".join((indent + line) if line else "" for line in out[:-1])
    return f'{indent}"""\n{body}\n{indent}"""\n'


def render_enums(model: VersionModel) -> str:
    parts = [
        header(model, "Enumerations (enum.StrEnum; msgspec matches them by value)."),
        '"""Enumerations of ' + VERSIONS[model.package][1] + '."""\n\n',
        "from enum import StrEnum\n\n",
        "__all__ = [\n",
    ]
    names = sorted(model.enums)
    parts += [f'    "{n}",\n' for n in names]
    parts.append("]\n")
    for name in names:
        e = model.enums[name]
        parts.append(f"\n\nclass {name}(StrEnum):\n")
        parts.append(doc_block(e.doc, "    ") or f'    """``{name}``."""\n')
        parts.append("\n")
        members: set[str] = set()
        for value in e.values:
            m = enum_member(value)
            if m in members:
                raise ValueError(f"{name}: member name collision {m}")
            members.add(m)
            parts.append(f"    {m} = {json.dumps(value)}\n")
    return "".join(parts)


CONTAINER_TYPES = frozenset({"list", "dict", "tuple", "set", "frozenset", "Any", "object"})


def scalar_only(
    s: StructDef, structs: dict[str, StructDef], seen: frozenset[str] = frozenset()
) -> bool:
    """True if no field of ``s``, nor of a Struct below it, can hold a container (QUIRKS Q16)."""
    for f in s.fields:
        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", f.type_expr))
        if names & CONTAINER_TYPES:
            return False
        for name in names & structs.keys():
            if name in seen or not scalar_only(structs[name], structs, seen | {s.name}):
                return False
    return True


def render_struct(s: StructDef, structs: dict[str, StructDef], base: str = "Struct") -> str:
    opts = "kw_only=True, omit_defaults=True"
    if s.forbid_unknown:
        opts += ", forbid_unknown_fields=True"
    if scalar_only(s, structs):
        opts += ", gc=False"
    out = [f"\n\nclass {s.name}({base}, {opts}):\n"]
    out.append(doc_block(s.doc, "    ") or f'    """``{s.name}``."""\n')
    if s.fields:
        out.append("\n")
    for f in s.fields:
        if f.required:
            out.append(f'    {f.attr}: {f.type_expr} = field(name="{f.wire}")\n')
        else:
            out.append(
                f'    {f.attr}: {f.type_expr} | UnsetType = field(default=UNSET, name="{f.wire}")\n'
            )
    if s.decimal_checks:
        out.append("\n    def __post_init__(self) -> None:\n")
        for attr, wire, digits in s.decimal_checks:
            out.append(f'        _check_decimals(self.{attr}, {digits}, "{wire}")\n')
    return "".join(out)


def render_datatypes(model: VersionModel) -> str:
    renamed = "".join(f"#   {r}\n" for r in model.renamed) or "#   (none)\n"
    parts = [
        header(model, "Nested data types and constrained scalars."),
        "# Names disambiguated because two schemas define them differently (QUIRKS Q9):\n",
        renamed,
        f'"""Data types of {VERSIONS[model.package][1]} (see tools/gen_messages.py for the mapping)."""\n\n',
    ]
    needs_decimal = any(s.decimal_checks for s in model.structs.values())
    parts.append("@@DECIMAL@@@@TYPING@@")
    parts.append("from msgspec import UNSET, Meta, Struct, UnsetType, field\n\n")
    if model.uses_datetime:  # the compiled date-time scan (QUIRKS Q2)
        parts.append("from ..validation import date_time_meta\n")
    enum_names = sorted(model.enums)
    if enum_names:
        parts.append("from .enums import (\n" + "".join(f"    {n},\n" for n in enum_names) + ")\n")
    exported = sorted(model.structs) + [f"String{n}" for n in sorted(model.str_aliases)]
    if model.uses_datetime:
        exported.append("DateTime")
    if model.uses_integer:
        exported.append("Integer")
    if model.uses_int32:
        exported.append("Int32")
    parts.append("\n__all__ = [\n" + "".join(f'    "{n}",\n' for n in sorted(exported)) + "]\n\n")
    if model.uses_datetime:
        parts.append(
            "# RFC 3339 section 5.6 date-time, as the schemas' format: date-time (QUIRKS Q2).\n"
            f"RFC3339_PATTERN = {RFC3339_PATTERN!r}\n"
            'DateTime = Annotated[str, date_time_meta(RFC3339_PATTERN, "RFC 3339 date-time")]\n'
        )
    if model.uses_integer:
        parts.append(
            "# Draft-06 integer: 1.0 is an integer too (QUIRKS Q1); 32-bit (QUIRKS Q15).\n"
            f"Integer = Annotated[int, Meta(ge={INT32_MIN}, le={INT32_MAX})] | "
            f"Annotated[float, Meta(ge={INT32_MIN}, le={INT32_MAX}, multiple_of=1)]\n"
        )
    if model.uses_int32:
        parts.append(
            "# Draft-04 integer, 32-bit (QUIRKS Q15).\n"
            f"Int32 = Annotated[int, Meta(ge={INT32_MIN}, le={INT32_MAX})]\n"
        )
    for n in sorted(model.str_aliases):
        parts.append(f"String{n} = Annotated[str, Meta(max_length={n})]\n")
    if needs_decimal:
        parts.append(
            "\n\ndef _check_decimals(value: float | UnsetType, digits: int, wire: str) -> None:\n"
            '    """multipleOf 10**-digits on the decimal value of the JSON number (QUIRKS Q3)."""\n'
            "    if value is UNSET:\n"
            "        return\n"
            "    exponent = Decimal(repr(value)).normalize().as_tuple().exponent\n"
            "    if isinstance(exponent, int) and exponent < -digits:\n"
            '        raise ValueError(f"Expected `number` that\'s a multiple of {10**-digits} at `{wire}`")\n'
        )
    for s in model.structs.values():
        parts.append(render_struct(s, model.structs))
    text = "".join(parts).replace(
        "@@DECIMAL@@", "from decimal import Decimal\n" if needs_decimal else ""
    )
    return fix_typing_import(text)


def fix_typing_import(text: str) -> str:
    body = text.split("__all__", 1)[1]
    names = [n for n in ("Annotated", "Any") if re.search(r"\b" + n + r"\b", body)]
    typing_line = f"from typing import {', '.join(names)}\n" if names else ""
    text = text.replace("@@TYPING@@", typing_line)
    return text.replace("\nfrom msgspec import", "\n\nfrom msgspec import").replace(
        "\n\n\nfrom msgspec", "\n\nfrom msgspec"
    )


def render_messages(model: VersionModel) -> str:
    parts = [
        header(model, "Request and response payloads, one pair per action."),
        f'"""Payloads of {VERSIONS[model.package][1]}: ``<Action>Request`` and ``<Action>Response``."""\n\n',
        "@@TYPING@@",
        "from msgspec import UNSET, Meta, Struct, UnsetType, field\n\n",
    ]
    used = set()
    for s in model.messages:
        for f in s.fields:
            used.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", f.type_expr))
    dt = sorted(
        n
        for n in used
        if n in model.structs
        or n in {"DateTime", "Integer", "Int32"}
        or re.fullmatch(r"String\d+", n)
    )
    en = sorted(n for n in used if n in model.enums)
    if dt:
        parts.append("from .datatypes import (\n" + "".join(f"    {n},\n" for n in dt) + ")\n")
    if en:
        parts.append("from .enums import (\n" + "".join(f"    {n},\n" for n in en) + ")\n")
    # A request answered with a response derives from ocppfast.message.Request[<Response>]: type
    # checkers then know what ``call(request)`` returns (SEND-only requests stay plain Structs).
    answered = {req: resp for _, req, resp, _ in model.actions if resp is not None}
    if answered:
        parts.append("from ..message import Request\n")
    parts.append("\n__all__ = [\n" + "".join(f'    "{s.name}",\n' for s in model.messages) + "]\n")
    for s in model.messages:
        resp = answered.get(s.name)
        parts.append(render_struct(s, model.structs, f'Request["{resp}"]' if resp else "Struct"))
    text = fix_typing_import("".join(parts))
    if "Meta(" not in text.split("__all__", 1)[1]:
        text = text.replace("UNSET, Meta, Struct", "UNSET, Struct")
    return text


def render_init(model: VersionModel) -> str:
    sub, human, _ = VERSIONS[model.package]
    lines = [
        header(model, "Package face: every type, SUBPROTOCOL and the ACTIONS registry."),
        f'"""{human} messages as typed msgspec Structs, validated as the official JSON schemas say.\n\n',
        "``ACTIONS`` maps each action name to its :class:`ocppfast.actions.Action` (request and response\n",
        "types, the side that sends the request, decoders). Optional fields default to ``msgspec.UNSET``\n",
        'and are left out on encode; ``null`` is refused on decode.\n"""\n\n',
        "from ..actions import Action, make_action\n",
    ]
    datatype_names = sorted(model.structs) + [f"String{n}" for n in sorted(model.str_aliases)]
    if model.uses_datetime:
        datatype_names.append("DateTime")
    if model.uses_integer:
        datatype_names.append("Integer")
    if model.uses_int32:
        datatype_names.append("Int32")
    datatype_names.sort()
    lines.append(
        "from .datatypes import (\n" + "".join(f"    {n},\n" for n in datatype_names) + ")\n"
    )
    lines.append(
        "from .enums import (\n" + "".join(f"    {n},\n" for n in sorted(model.enums)) + ")\n"
    )
    lines.append(
        "from .messages import (\n" + "".join(f"    {s.name},\n" for s in model.messages) + ")\n\n"
    )
    lines.append(f'SUBPROTOCOL = "{sub}"\n\n')
    lines.append("ACTIONS: dict[str, Action] = {\n")
    for action, req, resp, sender in model.actions:
        lines.append(f'    "{action}": make_action("{action}", {req}, {resp}, "{sender}"),\n')
    lines.append("}\n\n")
    names = (
        ["ACTIONS", "SUBPROTOCOL"]
        + datatype_names
        + sorted(model.enums)
        + [s.name for s in model.messages]
    )
    lines.append("__all__ = [\n" + "".join(f'    "{n}",\n' for n in names) + "]\n")
    return "".join(lines)


def schema_root() -> Path:
    import ocpp  # the pinned dev dependency carries the schemas

    return Path(ocpp.__file__).resolve().parent


def generate(out: Path) -> None:
    root = schema_root()
    for package, (_, _, schema_sub) in VERSIONS.items():
        model = VersionModel(package, root / schema_sub / "schemas")
        model.load()
        target = out / package
        target.mkdir(parents=True, exist_ok=True)
        files = {
            "__init__.py": render_init(model),
            "enums.py": render_enums(model),
            "datatypes.py": render_datatypes(model),
            "messages.py": render_messages(model),
        }
        for name, text in files.items():
            (target / name).write_text(text, encoding="utf-8", newline="\n")
    import gen_compat  # the mobilityhouse-shaped models of ocppfast.compat, from the same schemas

    gen_compat.generate(out / "compat")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="directory receiving v16/, v201/, v21/"
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with --out instead of writing"
    )
    args = parser.parse_args(argv)
    if not args.check:
        generate(args.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = []
        for package in VERSIONS:
            new, old = Path(tmp) / package, args.out / package
            for f in sorted(p.name for p in new.iterdir()):
                if not (old / f).exists() or not filecmp.cmp(new / f, old / f, shallow=False):
                    stale.append(f"{package}/{f}")
        import gen_compat

        stale += gen_compat.compare(Path(tmp) / "compat", args.out / "compat")
        if stale:
            print("stale generated files: " + ", ".join(stale), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
