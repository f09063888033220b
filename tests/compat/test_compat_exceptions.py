"""ocppfast.compat.exceptions against mobilityhouse ``ocpp.exceptions`` 2.1.0, side by side."""

from __future__ import annotations

import builtins
import gc
import pickle
from typing import Any

import pytest
from ocpp import exceptions as mh

from ocppfast import errors as native
from ocppfast.compat import exceptions as cx

NAMES = [cls.__name__ for cls in mh.OCPPError.__subclasses__()]
PAIRS = [(getattr(cx, n), getattr(mh, n)) for n in NAMES]


def test_same_classes_in_the_same_subclass_order() -> None:
    assert [c.__name__ for c in cx.OCPPError.__subclasses__()] == NAMES
    assert len(NAMES) == 12


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=NAMES)
def test_codes_and_default_descriptions(ours: Any, theirs: Any) -> None:
    assert ours.code == theirs.code
    assert ours.default_description == theirs.default_description
    assert ours.__name__ == theirs.__name__


ARGS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    (("a description",), {}),
    ((), {"details": {"cause": "x", "n": [1, 2]}}),
    (("d", {"k": "v"}), {}),
    ((), {"description": "", "details": "a string detail"}),
    ((None, None), {}),
]


@pytest.mark.parametrize(
    ("ours", "theirs"), [*PAIRS, (cx.OCPPError, mh.OCPPError)], ids=[*NAMES, "OCPPError"]
)
@pytest.mark.parametrize(("args", "kwargs"), ARGS)
def test_instances_behave_the_same(ours: Any, theirs: Any, args: Any, kwargs: Any) -> None:
    a, b = ours(*args, **kwargs), theirs(*args, **kwargs)
    assert repr(a) == repr(b)
    assert str(a) == str(b)
    assert a.args == b.args
    assert (a.description, a.details) == (b.description, b.details)
    assert a == ours(*args, **kwargs)
    assert (a != ours(*args, **kwargs)) is False
    assert a != ours("something else")
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(TypeError):
        hash(b)
    again = pickle.loads(pickle.dumps(a))
    assert type(again) is ours and repr(again) == repr(a)


def test_equality_needs_the_same_class() -> None:
    assert cx.FormatViolationError() != cx.FormationViolationError()
    assert (cx.ProtocolError() == mh.ProtocolError()) is False
    assert cx.ProtocolError().__eq__(cx.InternalError()) is NotImplemented
    assert mh.ProtocolError().__eq__(mh.InternalError()) is NotImplemented


def test_details_default_is_a_fresh_dict() -> None:
    a, b = cx.GenericError(), cx.GenericError()
    a.details["x"] = 1
    assert b.details == {}


def test_the_two_plain_exceptions() -> None:
    for name in ("ValidationError", "UnknownCallErrorCodeError"):
        ours, theirs = getattr(cx, name), getattr(mh, name)
        assert ours.__bases__ == theirs.__bases__ == (Exception,)
        assert not issubclass(ours, cx.OCPPError)
        assert repr(ours("m")) == repr(theirs("m"))


def test_not_implemented_error_shadows_the_builtin() -> None:
    assert cx.NotImplementedError is not builtins.NotImplementedError
    assert not issubclass(cx.NotImplementedError, builtins.NotImplementedError)
    assert cx.NotImplementedError().code == "NotImplemented"
    namespace: dict[str, Any] = {}
    exec("from ocppfast.compat.exceptions import *", namespace)  # noqa: S102
    assert namespace["NotImplementedError"] is cx.NotImplementedError


def test_wire_text_quote_characters() -> None:
    assert "\u201csomestring\u201d: 12" in cx.TypeConstraintViolationError.default_description


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=NAMES)
def test_compat_errors_are_native_errors(ours: Any, theirs: Any) -> None:
    err = ours("d", {"k": 1})
    assert isinstance(err, native.OCPPError)
    assert cx.to_native(err) is err
    assert native.from_call_error(err.code, "d", {}).code in (
        err.code,
        "FormatViolation",
        "OccurrenceConstraintViolation",
    )


def test_native_to_compat_by_code() -> None:
    cases = [
        (native.FormatViolationError("bad"), cx.FormatViolationError, "bad"),
        (
            native.OccurrenceConstraintViolationError(""),
            cx.OccurrenceConstraintViolationError,
            cx.OccurrenceConstraintViolationError.default_description,
        ),
        (native.NotImplementedCallError("x", {"a": 1}), cx.NotImplementedError, "x"),
        (native.from_call_error("FormationViolation", "d", {}), cx.FormatViolationError, "d"),
        (native.RpcFrameworkError("r"), cx.GenericError, "r"),
        (native.MessageTypeNotSupportedError("m"), cx.GenericError, "m"),
        (mh.SecurityError(), cx.SecurityError, mh.SecurityError.default_description),
    ]
    for error, cls, description in cases:
        got = cx.to_compat(error)
        assert type(got) is cls
        assert got.description == description
    same = cx.ProtocolError()
    assert cx.to_compat(same) is same
    assert cx.to_compat(native.NotImplementedCallError("x", {"a": 1})).details == {"a": 1}


def test_by_code_follows_to_exception_order() -> None:
    for code, cls in cx.BY_CODE.items():
        assert cx.class_for_code(code) is cls
        assert cls.code == code
    assert set(cx.BY_CODE) == {c.code for c in mh.OCPPError.__subclasses__()}
    assert cx.class_for_code("RpcFrameworkError") is None

    class CustomError(cx.OCPPError):
        code = "VendorSpecific"

    assert cx.class_for_code("VendorSpecific") is CustomError
    del CustomError  # do not leave it in OCPPError.__subclasses__() for other tests
    gc.collect()
    assert cx.class_for_code("VendorSpecific") is None
