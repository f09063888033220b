"""The exceptions of mobilityhouse ``ocpp`` 2.1.0 (``ocpp.exceptions``), for code written against it.

Same class names, in the same ``OCPPError.__subclasses__()`` order (``CallError.to_exception``
picks the first class whose ``code`` matches), the same ``code`` values and default descriptions
(they go on the wire), and the same ``__eq__`` / ``__repr__`` / ``__str__``. ``NotImplementedError``
shadows the builtin on purpose: user code imports it under that name.

Each class is also the native :mod:`ocppfast.errors` class of its code (multiple inheritance), so
``except ocppfast.errors.OCPPError`` catches compat errors and the native engine can answer with
them. The other direction is :func:`to_compat`. Differences from mobilityhouse: a bare
``OCPPError`` (mobilityhouse has no ``code`` on the base class, so answering with one crashes)
inherits the native ``GenericError`` code.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .. import errors as _native

__all__ = [
    "BY_CODE",
    "FormatViolationError",
    "FormationViolationError",
    "GenericError",
    "InternalError",
    "NotImplementedError",
    "NotSupportedError",
    "OCPPError",
    "OccurenceConstraintViolationError",
    "OccurrenceConstraintViolationError",
    "PropertyConstraintViolationError",
    "ProtocolError",
    "SecurityError",
    "TypeConstraintViolationError",
    "UnknownCallErrorCodeError",
    "ValidationError",
    "class_for_code",
    "to_compat",
    "to_native",
]


class OCPPError(_native.OCPPError):
    """Base of the CallError exceptions; raise a subclass (its ``code`` is what the peer sees).

    ``description`` defaults to the class's ``default_description`` and ``details`` to a new empty
    dict. Two errors are equal when they are of the same class with equal description and
    details (so, as in mobilityhouse, instances are not hashable).
    """

    default_description: ClassVar[str] = ""

    def __init__(self, description: Any = None, details: Any = None) -> None:
        # Exception.__init__ is not called: ``args`` keeps what the constructor got positionally,
        # as mobilityhouse's exceptions do (it matters for pickling and for ``exc.args``).
        self.description = self.default_description if description is None else description
        self.details = {} if details is None else details

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, OCPPError)
        return (self.description, self.details) == (other.description, other.details)

    __hash__ = None  # type: ignore[assignment]  # equal by value, so not hashable (as mobilityhouse)

    def __repr__(self) -> str:
        # Two spaces before "details": the wording mobilityhouse users see in logs.
        return f"<{type(self).__name__} - description={self.description},  details={self.details}>"

    def __str__(self) -> str:
        return f"{type(self).__name__}: {self.description},  {self.details}"


# Order and texts are mobilityhouse's (the descriptions are sent on the wire as errorDescription).
class NotImplementedError(OCPPError, _native.NotImplementedCallError):
    code = "NotImplemented"
    default_description = "Request Action is recognized but not supported by the receiver"


class NotSupportedError(OCPPError, _native.NotSupportedError):
    code = "NotSupported"
    default_description = "Requested Action is not known by receiver"


class InternalError(OCPPError, _native.InternalError):
    code = "InternalError"
    default_description = (
        "An internal error occurred and the receiver was not able to process the requested "
        "Action successfully"
    )


class ProtocolError(OCPPError, _native.ProtocolError):
    code = "ProtocolError"
    default_description = "Payload for Action is incomplete"


class SecurityError(OCPPError, _native.SecurityError):
    code = "SecurityError"
    default_description = (
        "During the processing of Action a security issue occurred preventing receiver from "
        "completing the Action successfully"
    )


_FORMAT_VIOLATION = "Payload for Action is syntactically incorrect or structure for Action"
_OCCURRENCE_VIOLATION = (
    "Payload for Action is syntactically correct but at least one of the fields violates "
    "occurence constraints"
)


class FormatViolationError(OCPPError, _native.FormatViolationError):
    """``FormatViolation`` (the 2.0.1 spelling; mobilityhouse sends it on 1.6 too)."""

    code = "FormatViolation"
    default_description = _FORMAT_VIOLATION


class FormationViolationError(OCPPError, _native.FormatViolationError):
    """``FormationViolation``: the OCPP 1.6 spelling of the same error."""

    code = "FormationViolation"
    default_description = _FORMAT_VIOLATION


class PropertyConstraintViolationError(OCPPError, _native.PropertyConstraintViolationError):
    code = "PropertyConstraintViolation"
    default_description = (
        "Payload is syntactically correct but at least one field contains an invalid value"
    )


class OccurenceConstraintViolationError(OCPPError, _native.OccurrenceConstraintViolationError):
    """``OccurenceConstraintViolation``: the OCPP 1.6 spelling (kept by its errata)."""

    code = "OccurenceConstraintViolation"
    default_description = _OCCURRENCE_VIOLATION


class OccurrenceConstraintViolationError(OCPPError, _native.OccurrenceConstraintViolationError):
    """``OccurrenceConstraintViolation``: the 2.0.1 / 2.1 spelling."""

    code = "OccurrenceConstraintViolation"
    default_description = _OCCURRENCE_VIOLATION


class TypeConstraintViolationError(OCPPError, _native.TypeConstraintViolationError):
    code = "TypeConstraintViolation"
    default_description = (
        "Payload for Action is syntactically correct but at least one of the fields violates "
        "data type constraints (e.g. \u201csomestring\u201d: 12)"
    )


class GenericError(OCPPError, _native.GenericError):
    code = "GenericError"
    default_description = "Any other error not all other OCPP defined errors"


class ValidationError(Exception):
    """A payload cannot be validated at all (not a Call or CallResult); not an OCPP error."""


class UnknownCallErrorCodeError(Exception):
    """A CALLERROR carries a code that no :class:`OCPPError` subclass has."""


#: code -> class, as ``CallError.to_exception`` resolves it for the classes defined here.
BY_CODE: dict[str, type[OCPPError]] = {}
for _cls in OCPPError.__subclasses__():
    BY_CODE.setdefault(_cls.code, _cls)
del _cls


def class_for_code(code: str) -> type[OCPPError] | None:
    """The first ``OCPPError`` subclass whose ``code`` is ``code`` (user subclasses included),
    or ``None`` (e.g. ``RpcFrameworkError``, which mobilityhouse has no class for)."""
    for cls in OCPPError.__subclasses__():
        if getattr(cls, "code", None) == code:
            return cls
    return None


def to_compat(error: BaseException) -> OCPPError:
    """The compat exception for a native (or any code-carrying) OCPP error.

    A compat error is returned as is. Otherwise the class is found by ``error.code`` (either
    version's spelling); a code mobilityhouse has no class for (``RpcFrameworkError``,
    ``MessageTypeNotSupported``) becomes :class:`GenericError`. An empty description becomes the
    class's default description; details are kept.
    """
    if isinstance(error, OCPPError):
        return error
    code = getattr(error, "code", None)
    cls = (class_for_code(code) if isinstance(code, str) else None) or GenericError
    description = getattr(error, "description", None) or None
    details = getattr(error, "details", None)
    return cls(description=description, details=details)


def to_native(error: OCPPError) -> _native.OCPPError:
    """The native :mod:`ocppfast.errors` exception for a compat one (they are the same object:
    every compat class derives from the native class of its code)."""
    return error
