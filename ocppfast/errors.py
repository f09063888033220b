"""OCPP-J CallError codes as exceptions, with each version's spelling.

OCPP-J 1.6 section 4.2.3 and OCPP 2.0.1 / 2.1 part 4 section 4.3 list the codes. Two codes are
spelled differently per version: 1.6 ``FormationViolation`` / ``OccurenceConstraintViolation``
(the 1.6 spelling, kept by its errata) and 2.0.1+ ``FormatViolation`` /
``OccurrenceConstraintViolation``. 2.0.1+ adds ``RpcFrameworkError`` and
``MessageTypeNotSupported``, which 1.6 does not have.

One class per code; the class knows its canonical (2.0.1) code and how to spell it on the wire
for a given subprotocol (:meth:`OCPPError.wire_code`). A received CALLERROR becomes the matching
class through :func:`from_call_error`, accepting either spelling.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, ClassVar

from picows import WSInvalidStatusError

__all__ = [
    "AuthenticationError",
    "CallErrorCode",
    "CallResultError",
    "CallTimeoutError",
    "CertificateVerifyError",
    "ConnectError",
    "ConnectRefusedError",
    "ConnectTimeoutError",
    "ConnectionClosedError",
    "FormatViolationError",
    "FormationViolationError",
    "GenericError",
    "HTTPStatusError",
    "IdentityInUseError",
    "InternalError",
    "InvalidURLError",
    "MessageTypeNotSupportedError",
    "NameResolutionError",
    "NotConnectedError",
    "NotFoundError",
    "NotImplementedCallError",
    "NotSupportedError",
    "OCPPError",
    "OccurenceConstraintViolationError",
    "OccurrenceConstraintViolationError",
    "PayloadError",
    "PropertyConstraintViolationError",
    "ProtocolError",
    "RpcFrameworkError",
    "SecurityError",
    "ServiceUnavailableError",
    "SubprotocolError",
    "TLSError",
    "TypeConstraintViolationError",
    "from_call_error",
    "wire_code",
    "wrong_response",
]

OCPP16 = "ocpp1.6"


class OCPPError(Exception):
    """A CallError: raised by handlers to answer with that code, raised by ``call`` on receipt.

    ``description`` is sent as is (keep it short and free of internals); ``details`` must be a
    JSON object (OCPP-J 1.6 4.2.3, 2.0.1 4.2.3: "errorDetails ... MUST be an object").
    """

    code: ClassVar[str] = "GenericError"

    def __init__(self, description: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.details: dict[str, Any] = details if details is not None else {}

    def wire_code(self, subprotocol: str) -> str:
        """The code as the given subprotocol spells it."""
        return wire_code(self.code, subprotocol)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r}, details={self.details!r})"

    def __str__(self) -> str:
        return f"{self.code}: {self.description}" if self.description else self.code


class NotImplementedCallError(OCPPError):
    """``NotImplemented``: the action is not known (named so as not to shadow the builtin)."""

    code = "NotImplemented"


class NotSupportedError(OCPPError):
    """``NotSupported``: the action is known but not supported by the receiver."""

    code = "NotSupported"


class InternalError(OCPPError):
    code = "InternalError"


class ProtocolError(OCPPError):
    """Payload incomplete."""

    code = "ProtocolError"


class SecurityError(OCPPError):
    code = "SecurityError"


class FormatViolationError(OCPPError):
    """Payload syntactically incorrect (1.6: ``FormationViolation``)."""

    code = "FormatViolation"


FormationViolationError = FormatViolationError


class PropertyConstraintViolationError(OCPPError):
    code = "PropertyConstraintViolation"


class OccurrenceConstraintViolationError(OCPPError):
    """A field violates occurrence constraints (1.6: ``OccurenceConstraintViolation``)."""

    code = "OccurrenceConstraintViolation"


OccurenceConstraintViolationError = OccurrenceConstraintViolationError


class TypeConstraintViolationError(OCPPError):
    code = "TypeConstraintViolation"


class GenericError(OCPPError):
    code = "GenericError"


class RpcFrameworkError(OCPPError):
    """2.0.1+: the message is not a valid RPC request (e.g. the id cannot be read)."""

    code = "RpcFrameworkError"


class MessageTypeNotSupportedError(OCPPError):
    """2.0.1+: the message type number is not known."""

    code = "MessageTypeNotSupported"


class CallResultError(OCPPError):
    """OCPP 2.1 CALLRESULTERROR received: the peer rejected our CALLRESULT (type 5).

    ``error`` is the exception matching the code the peer sent.
    """

    def __init__(self, error: OCPPError) -> None:
        super().__init__(error.description, error.details)
        self.error = error
        self.code = error.code  # type: ignore[misc]


class CallTimeoutError(TimeoutError):
    """No CALLRESULT/CALLERROR arrived in time for a CALL we sent."""

    def __init__(self, action: str, unique_id: str, timeout: float) -> None:
        super().__init__(f"{action} (id {unique_id!r}) got no answer within {timeout:g} s")
        self.action = action
        self.unique_id = unique_id
        self.timeout = timeout


class ConnectionClosedError(ConnectionError):
    """The connection closed (or was never open) while a CALL was pending or queued."""


class NotConnectedError(ConnectionClosedError):
    """No station with that identity is connected (``cs.call``, ``cs.call_many``, a cluster's
    ``call``): nothing was sent."""


class PayloadError(ValueError):
    """A payload this side was about to send fails its own schema: nothing was sent.

    Raised by ``call`` (and ``validate_outgoing``) before anything reaches the wire, so it is a
    different class from the :class:`OCPPError` a CALLERROR *received from the peer* becomes.
    ``code`` is the CallError code the peer would have answered with (``FormatViolation``,
    ``TypeConstraintViolation``, ...); ``description`` says which field and why.
    """

    def __init__(self, description: str, code: str = "FormatViolation") -> None:
        super().__init__(description)
        self.description = description
        self.code = code


# --- connecting (ocppfast.connect) ------------------------------------------------------------


class ConnectError(ConnectionError):
    """Connecting to a central system failed. ``url`` (the full URL, identity included) and
    ``identity`` say which connection; the subclass says why. Once connected, a lost connection
    is :class:`ConnectionClosedError` instead."""

    def __init__(self, message: str, *, url: str, identity: str) -> None:
        super().__init__(f"{identity!r} at {url}: {message}")
        self.url = url
        self.identity = identity

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> Any:
        return (_rebuild_connect_error, (type(self), self.__dict__, self.args))


def _rebuild_connect_error(cls: type[ConnectError], state: dict[str, Any], args: Any) -> Any:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class ConnectRefusedError(ConnectError, ConnectionRefusedError):
    """Nothing listens at the URL's host and port (TCP connection refused)."""


class NameResolutionError(ConnectError, socket.gaierror):
    """The URL's host name does not resolve (DNS)."""


class InvalidURLError(ConnectError, ValueError):
    """The URL is not a ``ws://`` or ``wss://`` URL with a host."""


class ConnectTimeoutError(ConnectError, TimeoutError):
    """The TCP, TLS or WebSocket handshake did not complete within ``connect_timeout``."""


class TLSError(ConnectError, ssl.SSLError):
    """The TLS handshake failed (security profiles 2 and 3)."""


class CertificateVerifyError(TLSError, ssl.SSLCertVerificationError):
    """The central system's certificate did not verify against the client's TLS context."""


class SubprotocolError(ConnectError):
    """The central system accepted none of the offered OCPP versions (``offered``; ``chosen``
    is what it answered, or None)."""

    offered: tuple[str, ...] = ()
    chosen: str | None = None


class HTTPStatusError(ConnectError, WSInvalidStatusError):
    """The central system answered the WebSocket upgrade with an HTTP error ``status`` (and
    ``body``). Also a ``picows.WSInvalidStatusError``, for code written against picows."""

    status: int = 0
    body: bytes = b""
    headers: dict[str, str]

    def __init__(
        self,
        message: str,
        *,
        url: str,
        identity: str,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, url=url, identity=identity)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.raw_header = None
        self.raw_body = body
        self.response = None


class AuthenticationError(HTTPStatusError):
    """HTTP 401: the identity/password (security profiles 1-2) was refused."""


class NotFoundError(HTTPStatusError):
    """HTTP 404: the central system does not know this identity (or the URL's path)."""


class IdentityInUseError(HTTPStatusError):
    """HTTP 409: a station with this identity is already connected (``duplicate_identity``
    ``"reject"`` on an ocppfast central system)."""


class ServiceUnavailableError(HTTPStatusError):
    """HTTP 503: the central system is at capacity; ``retry_after`` is its Retry-After header in
    seconds (None when absent). ``connect(reconnect=True)`` retries it."""

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after") or self.headers.get("Retry-After")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


#: HTTP status -> the HTTPStatusError subclass raised for it.
HTTP_STATUS_ERRORS: dict[int, type[HTTPStatusError]] = {
    401: AuthenticationError,
    404: NotFoundError,
    409: IdentityInUseError,
    503: ServiceUnavailableError,
}


_BY_CODE: dict[str, type[OCPPError]] = {
    cls.code: cls
    for cls in (
        NotImplementedCallError,
        NotSupportedError,
        InternalError,
        ProtocolError,
        SecurityError,
        FormatViolationError,
        PropertyConstraintViolationError,
        OccurrenceConstraintViolationError,
        TypeConstraintViolationError,
        GenericError,
        RpcFrameworkError,
        MessageTypeNotSupportedError,
    )
}
# 1.6 spellings of the same codes.
_BY_CODE["FormationViolation"] = FormatViolationError
_BY_CODE["OccurenceConstraintViolation"] = OccurrenceConstraintViolationError

_V16_SPELLING = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    # 1.6 has no RpcFrameworkError: an unreadable frame is "not conform the PDU structure",
    # which 1.6 (4.2.3) calls FormationViolation.
    "RpcFrameworkError": "FormationViolation",
    # 1.6 ignores unknown message types (4.1.3), so this is never sent on 1.6; if a caller raises
    # it anyway, NotSupported is the closest 1.6 code.
    "MessageTypeNotSupported": "NotSupported",
}

CallErrorCode = str

V16_CODES = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)
V2_CODES = frozenset(
    {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    }
)


def wrong_response(result: object, expected: type[Any] | None, subprotocol: str) -> str:
    """What a handler did wrong when it returned ``result`` where the negotiated version
    ``subprotocol`` needs ``expected``: both types with their modules (a 1.6 and a 2.0.1
    ``BootNotificationResponse`` share a name) and the version."""
    got = type(result)
    want = f"{expected.__module__}.{expected.__qualname__}" if expected is not None else "a dict"
    hint = ""
    if expected is not None and got.__name__ == expected.__name__:
        hint = f": answer with the {subprotocol} type (check cp.subprotocol) or a dict"
    return (
        f"returned {got.__module__}.{got.__qualname__}, not {want} "
        f"(the negotiated version is {subprotocol}){hint}"
    )


def wire_code(code: str, subprotocol: str) -> str:
    """Spell a canonical (2.0.1) code for ``subprotocol``."""
    if subprotocol == OCPP16:
        return _V16_SPELLING.get(code, code)
    return code


def from_call_error(code: str, description: str, details: dict[str, Any]) -> OCPPError:
    """The exception for a received CALLERROR; an unknown code becomes a GenericError that keeps it."""
    cls = _BY_CODE.get(code)
    if cls is None:
        err: OCPPError = GenericError(description, details)
        err.code = code  # type: ignore[misc]
        return err
    return cls(description, details)
