"""OCPP-J frames: decode, encode, and classify a bad frame into the spec's answer.

One source, two speeds: compiled by Cython (with ``_wire_c.pxd``) into ``ocppfast._wire_c``, or
imported as is; ``ocppfast.wire`` picks one.

Frames (OCPP-J 1.6 section 4; 2.0.1 / 2.1 part 4 section 4):

====  ===============  ==============================================
2     CALL             ``[2, id, action, {payload}]``
3     CALLRESULT       ``[3, id, {payload}]``
4     CALLERROR        ``[4, id, code, description, {details}]``
5     CALLRESULTERROR  ``[5, id, code, description, {details}]`` (2.1)
6     SEND             ``[6, id, action, {payload}]`` (2.1)
====  ===============  ==============================================

The envelope is decoded in one pass by msgspec into array-like tagged Structs; a payload stays
``msgspec.Raw`` for a second, typed decode once the action is known. Anything that fails the fast
decode goes to :func:`classify`, which works out which CallError (if any) the spec asks for.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

__all__ = [
    "CALL",
    "CALLERROR",
    "CALLRESULT",
    "CALLRESULTERROR",
    "MAX_ID_LENGTH",
    "OCPP16",
    "OCPP21",
    "OCPP201",
    "SEND",
    "UNKNOWN_ID",
    "Call",
    "CallError",
    "CallResult",
    "CallResultError",
    "Frame",
    "FrameError",
    "Send",
    "classify",
    "decode_envelope",
    "decode_frame",
    "encode_call",
    "encode_call_error",
    "encode_call_result",
    "encode_call_result_error",
    "encode_error",
    "encode_send",
    "version_error",
]

import msgspec

from .errors import (
    FormatViolationError,
    MessageTypeNotSupportedError,
    OCPPError,
    RpcFrameworkError,
)

CALL = 2
CALLRESULT = 3
CALLERROR = 4
CALLRESULTERROR = 5
SEND = 6

OCPP16 = "ocpp1.6"
OCPP201 = "ocpp2.0.1"
OCPP21 = "ocpp2.1"

# The id used when the id of a bad CALL cannot be read (2.0.1 part 4 section 4.2.3, kept in 2.1).
UNKNOWN_ID = "-1"
MAX_ID_LENGTH = 36  # 1.6 section 4.1.1 / 2.0.1 part 4 section 4.1.3: "maximum of 36 characters"
MAX_DESCRIPTION = 255  # 2.0.1 part 4 section 4.2.3: errorDescription at most 255 characters

UniqueId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]


class Call(msgspec.Struct, array_like=True, tag=CALL, forbid_unknown_fields=True):
    unique_id: UniqueId
    action: str
    payload: msgspec.Raw


class CallResult(msgspec.Struct, array_like=True, tag=CALLRESULT, forbid_unknown_fields=True):
    unique_id: UniqueId
    payload: msgspec.Raw


class CallError(msgspec.Struct, array_like=True, tag=CALLERROR, forbid_unknown_fields=True):
    unique_id: UniqueId
    error_code: str
    error_description: str
    error_details: dict[str, Any]


class CallResultError(
    msgspec.Struct, array_like=True, tag=CALLRESULTERROR, forbid_unknown_fields=True
):
    unique_id: UniqueId
    error_code: str
    error_description: str
    error_details: dict[str, Any]


class Send(msgspec.Struct, array_like=True, tag=SEND, forbid_unknown_fields=True):
    unique_id: UniqueId
    action: str
    payload: msgspec.Raw


Frame = Call | CallResult | CallError | CallResultError | Send

_frame_decoder = msgspec.json.Decoder(Frame)
_encoder = msgspec.json.Encoder()
_any_decoder = msgspec.json.Decoder()
# Bound once: compiled code would otherwise build a bound method per call (measured).
_decode = _frame_decoder.decode
_encode = _encoder.encode

# Message types each subprotocol knows; others are "unknown message types".
_KNOWN_TYPES = {
    OCPP16: (CALL, CALLRESULT, CALLERROR),
    OCPP201: (CALL, CALLRESULT, CALLERROR),
    OCPP21: (CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND),
}
_SHAPE = {
    CALL: "[2, id, action, {payload}]",
    CALLRESULT: "[3, id, {payload}]",
    CALLERROR: "[4, id, errorCode, errorDescription, {errorDetails}]",
    CALLRESULTERROR: "[5, id, errorCode, errorDescription, {errorDetails}]",
    SEND: "[6, id, action, {payload}]",
}


class FrameError(Exception):
    """A frame that is not a valid OCPP-J message, with the spec's answer.

    ``reply`` says whether a CALLERROR is due (``[4, unique_id, code, description, {}]``) or the
    frame is to be ignored (logged and counted as a bad message).
    """

    def __init__(
        self,
        error: OCPPError,
        unique_id: str,
        message_type: int | None,
        reply: bool,
    ) -> None:
        super().__init__(error.description)
        self.error = error
        self.unique_id = unique_id
        self.message_type = message_type
        self.reply = reply


def decode_frame(data: bytes, subprotocol: str) -> Frame:
    """Decode one OCPP-J frame or raise :class:`FrameError` saying how to answer it."""
    try:
        frame: Frame = _decode(data)
    except (ValueError, RecursionError):
        # msgspec.ValidationError and DecodeError are ValueErrors; so is UnicodeDecodeError.
        raise classify(data, subprotocol) from None
    # msgspec.Raw takes any JSON value, but a payload must be an object (1.6 section 4.2.1, 2.0.1
    # part 4 section 4.2: an empty payload is {} and never null). That is checked where the
    # payload is decoded (validation.payload_error answers FormatViolation), not here twice.
    error = version_error(frame, subprotocol)
    if error is not None:
        raise error
    return frame


#: The fast half of :func:`decode_frame` for callers that dispatch on the type themselves (the
#: engine): msgspec's errors propagate (then :func:`classify` says how to answer) and the version
#: is not checked (then :func:`version_error`). msgspec's own bound method: no wrapper call.
decode_envelope = _decode


def version_error(frame: Frame, subprotocol: str) -> FrameError | None:
    """CALLRESULTERROR and SEND exist only in 2.1; elsewhere they are unknown message types."""
    cls = type(frame)
    if (cls is CallResultError or cls is Send) and subprotocol != OCPP21:
        return _unknown_type(
            CALLRESULTERROR if cls is CallResultError else SEND, frame.unique_id, subprotocol
        )
    return None


def _unknown_type(message_type: Any, unique_id: str, subprotocol: str) -> FrameError:
    # 1.6 section 4.1.3: "a message with an unknown MessageTypeId ... shall be ignored".
    # 2.0.1 part 4 section 4.1.3: answer with CALLERROR MessageTypeNotSupported.
    # 2.1 part 4 section 4.1.3 (updated text): ignore it.
    return FrameError(
        MessageTypeNotSupportedError(f"message type {message_type!r} is not supported"),
        unique_id,
        message_type if isinstance(message_type, int) else None,
        subprotocol == OCPP201,
    )


def classify(data: bytes, subprotocol: str) -> FrameError:
    """Work out why ``data`` is not a valid frame and what the spec says to answer.

    Only reached for bad input, so clarity beats speed here. Descriptions are short, name the
    place (msgspec's ``$[i]`` style) and never echo the raw message.
    """
    try:
        obj = _any_decoder.decode(data)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, RecursionError):
            why = "JSON nested too deeply"
        elif isinstance(exc, UnicodeDecodeError):
            why = "message is not valid UTF-8"
        else:
            why = _short(str(exc))
        return _unparsable(data, why, subprotocol)
    if not isinstance(obj, list):
        return _rpc_error(f"message must be a JSON array, got {_json_type(obj)}", UNKNOWN_ID)
    if not obj:
        return _rpc_error("message is an empty array", UNKNOWN_ID)
    message_type = obj[0]
    unique_id = _readable_id(obj)
    if type(message_type) is not int:
        return _rpc_error(
            f"message type must be an integer, got {_json_type(message_type)} - at `$[0]`",
            unique_id,
        )
    if message_type not in _KNOWN_TYPES.get(subprotocol, _KNOWN_TYPES[OCPP201]):
        return _unknown_type(message_type, unique_id, subprotocol)
    shape = _SHAPE[message_type]
    # A known type with a broken shape. Responses (3, 4, 5) are never answered with a CALLERROR
    # (a CALLERROR answers a CALL: 1.6 section 4.2.3, 2.0.1 part 4 section 4.2.3); the engine
    # fails the pending call instead.
    reply = message_type == CALL
    if len(obj) < 2 or unique_id == UNKNOWN_ID and not _is_id(obj[1]):
        what = "missing" if len(obj) < 2 else _id_problem(obj[1])
        return FrameError(
            RpcFrameworkError(f"message id {what} - at `$[1]`"), UNKNOWN_ID, message_type, reply
        )
    expected = len(shape.split(","))
    if len(obj) != expected:
        return FrameError(
            RpcFrameworkError(f"expected {shape}, got an array of {len(obj)} elements"),
            unique_id,
            message_type,
            reply,
        )
    if message_type in (CALL, SEND):
        if type(obj[2]) is not str:
            return FrameError(
                RpcFrameworkError("action must be a string - at `$[2]`"),
                unique_id,
                message_type,
                reply,
            )
        if not isinstance(obj[3], dict):
            return FrameError(
                FormatViolationError(
                    f"payload must be a JSON object, got {_json_type(obj[3])} - at `$[3]`"
                ),
                unique_id,
                message_type,
                reply,
            )
    elif message_type == CALLRESULT:
        if not isinstance(obj[2], dict):
            return FrameError(
                FormatViolationError(
                    f"payload must be a JSON object, got {_json_type(obj[2])} - at `$[2]`"
                ),
                unique_id,
                message_type,
                False,
            )
    else:
        for i, want in ((2, str), (3, str), (4, dict)):
            if not isinstance(obj[i], want):
                kind = "a string" if want is str else "a JSON object"
                return FrameError(
                    FormatViolationError(f"element must be {kind} - at `$[{i}]`"),
                    unique_id,
                    message_type,
                    False,
                )
    # Decodes generically but not strictly (e.g. a number that does not fit): say so.
    try:
        _frame_decoder.decode(data)
    except (ValueError, RecursionError) as exc:
        return FrameError(FormatViolationError(_short(str(exc))), unique_id, message_type, reply)
    return FrameError(FormatViolationError("malformed message"), unique_id, message_type, reply)


# The start of a frame, read without parsing the rest: "[<type>, "<id>"". Lets a CALL whose
# payload is broken (bad JSON, bad UTF-8, nested too deep) still be answered with its own id.
_PREFIX = re.compile(rb'\s*\[\s*(-?[0-9]{1,9})\s*,\s*"([^"\\\x00-\x1f]{1,%d})"' % MAX_ID_LENGTH)


def _unparsable(data: bytes, why: str, subprotocol: str) -> FrameError:
    m = _PREFIX.match(data)
    if m is None:
        return _rpc_error(why, UNKNOWN_ID)
    try:
        unique_id = m.group(2).decode("utf-8")
    except UnicodeDecodeError:
        return _rpc_error(why, UNKNOWN_ID)
    message_type = int(m.group(1))
    if message_type not in _KNOWN_TYPES.get(subprotocol, _KNOWN_TYPES[OCPP201]):
        return _unknown_type(message_type, unique_id, subprotocol)
    # The id and type are readable, the rest is not JSON: "payload syntactically incorrect"
    # (FormatViolation; 1.6 FormationViolation). Only a CALL is answered.
    return FrameError(FormatViolationError(why), unique_id, message_type, message_type == CALL)


def _is_id(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= MAX_ID_LENGTH


def _readable_id(obj: list[Any]) -> str:
    if len(obj) > 1 and _is_id(obj[1]):
        return obj[1]  # type: ignore[no-any-return]
    return UNKNOWN_ID


def _id_problem(value: Any) -> str:
    if type(value) is not str:
        return f"must be a string, got {_json_type(value)}"
    if not value:
        return "is empty"
    return f"is longer than {MAX_ID_LENGTH} characters"


def _rpc_error(description: str, unique_id: str) -> FrameError:
    # Not a valid RPC message at all (2.0.1 part 4 section 4.3: RpcFrameworkError, "e.g.
    # MessageId could not be read"). We cannot tell whether it was a CALL, so it is answered:
    # 2.0.1 part 4 section 4.2.3 says to use id "-1" when the id cannot be read.
    return FrameError(RpcFrameworkError(description), unique_id, None, True)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _short(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 3] + "..."


# --- encoding -----------------------------------------------------------------------------


def encode_call(unique_id: str, action: str, payload: Any) -> bytes:
    """``[2, id, action, payload]``; ``payload`` is a message Struct or a dict."""
    # A tuple encodes as the same array as the tagged Struct, with fewer steps (measured).
    return _encode((CALL, unique_id, action, payload))


def encode_call_result(unique_id: str, payload: Any) -> bytes:
    return _encode((CALLRESULT, unique_id, payload))


def encode_send(unique_id: str, action: str, payload: Any) -> bytes:
    return _encode((SEND, unique_id, action, payload))


def encode_call_error(
    unique_id: str, code: str, description: str, details: dict[str, Any] | None = None
) -> bytes:
    """``[4, id, code, description, details]``; details default to ``{}`` (never null)."""
    return _encode(
        CallError(unique_id, code, _short(description), details if details is not None else {})
    )


def encode_call_result_error(
    unique_id: str, code: str, description: str, details: dict[str, Any] | None = None
) -> bytes:
    return _encode(
        CallResultError(
            unique_id, code, _short(description), details if details is not None else {}
        )
    )


def encode_error(frame_error: FrameError, subprotocol: str) -> bytes:
    """The CALLERROR answering a bad frame, spelled for ``subprotocol``."""
    err = frame_error.error
    return encode_call_error(
        frame_error.unique_id, err.wire_code(subprotocol), err.description, err.details
    )
