"""The per-frame path of ``ocppfast.compat`` on ocppfast's own connection, and its key conversion.

One source, two speeds, as ``_engine.py``: compiled by Cython with ``_compat_fast_c.pxd`` into
``ocppfast._compat_fast_c``, or imported as is (``OCPPFAST_NO_EXTENSIONS=1``, or no compiler);
``ocppfast.compat.charge_point`` picks one with ``_speedups.load``.

- :func:`snake_dict` / :func:`snake_list`: mobilityhouse's camelCase -> snake_case conversion of
  every key inside a payload (``camel_to_snake_case``), each key converted once and remembered.
- :func:`walk` over a :class:`Shape` (:func:`shape_of` a msgspec type): a decoded payload
  validated and converted to snake_case kwargs in one pass, or checked without building (an
  answer); conservative, so that msgspec decides whatever it does not accept.
- :class:`FrameListener`: picows' listener base of ``compat.serve``'s connection class. Compiled,
  a ``cdef class`` whose ``on_ws_frame`` picows reaches through its vtable; while a ChargePoint's
  ``start()`` waits on the connection it hands each frame to that ChargePoint's :class:`Sink`
  with C calls only (start()'s context entered with ``PyContext_Enter``, not ``context.run``).
- :class:`Sink`: what a compat ChargePoint's ``start()`` hands its connection while it waits for a
  frame (``ChargePoint._frame_sink``). A CALL to a sync ``@on`` handler is answered there by the
  flat path (:meth:`Sink.route_now`): the same steps as ``ChargePoint._handle_call`` with the
  fewest calls, after a per-action :class:`Plan` (the handler's wrapped function and its
  ``self``, whether it takes ``call_unique_id``, the msgspec types validating request and answer
  and their Shapes, the route map's own key of the action) kept while the route's handler and
  ``_ocpp_version`` stay the same objects. Anything else takes the ChargePoint's step-by-step
  or general path, which decides.

The module knows nothing of the ChargePoint class itself: :func:`bind` gives it the
``charge_point`` module once, and every switch user code may patch (``validate_payload``,
``unpack``, ``camel_to_snake_case``, ``messages._validate_payload``, a dispatch step overridden
on the class or set on the instance) is checked at each frame, as the general path reads it
(compiled, a class unchanged since its last look is recognised by CPython's type version tag:
:func:`_type_tag`). ``tests/compat/test_compat_fastpath.py`` runs the same frames through this
path and the general one and compares wire frames and log lines byte for byte;
``tests/test_compat_listener.py`` covers the listener, class patches and plans.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import types
from typing import Any

import msgspec
import picows

try:  # compiled: enter start()'s context copy with the C API instead of ``context.run``
    import cython  # type: ignore[import-untyped]
    from cython.cimports.cpython.contextvars import (  # type: ignore[import-untyped]
        PyContext_Enter,
        PyContext_Exit,
    )
    from cython.cimports.cpython.object import (  # type: ignore[import-untyped]
        PyObject_Call,
        PyTypeObject,
    )

    _COMPILED: bool = cython.compiled
except (ImportError, AttributeError):  # pure (Cython's shadow module raises AttributeError)
    _COMPILED = False

__all__ = ["FrameListener", "Sink", "bind", "snake_dict", "snake_key", "snake_list"]

# --- camelCase -> snake_case (mobilityhouse's rules, quirks included) ----------------------------

CACHE_LIMIT = 20_000  # keys remembered; beyond it keys are converted every time
_WORD = re.compile(r"(.)([A-Z][a-z]+)")
_HUMP = re.compile(r"([a-z0-9])([A-Z])(?=\S)")
#: camelCase key -> its snake_case (shared by every ChargePoint; ``charge_point`` uses it too).
snake_keys: dict[Any, str] = {}


def snake_key(key: Any) -> str:
    """camelCase -> snake_case for one key (mobilityhouse's rules), remembered."""
    out = key.replace("ocppCSMSURL", "ocpp_csms_url").replace("V2X", "_v2x").replace("V2G", "_v2g")
    # interned: the keyword names handlers get, matched to parameter names by identity first
    out = sys.intern(_HUMP.sub(r"\1_\2", _WORD.sub(r"\1_\2", out)).lower())
    if len(snake_keys) < CACHE_LIMIT:
        snake_keys[key] = out
    return str(out)


def _snake_any(data: Any) -> Any:
    # subclasses of dict / list (JSON decoding gives none; user code calling the public function
    # may pass them)
    if isinstance(data, dict):
        return snake_dict(data)
    if isinstance(data, list):
        return snake_list(data)
    return data


# Exact types are tested first (JSON gives nothing else); subclasses take the isinstance route.
def snake_dict(data: Any) -> dict[Any, Any]:
    """A copy of the dict ``data`` with every key inside converted to snake_case."""
    known = snake_keys
    out = {}
    for key, value in data.items():
        new = known.get(key)
        if new is None:
            new = snake_key(key)
        kind = type(value)
        if kind is dict:
            value = snake_dict(value)
        elif kind is list:
            value = snake_list(value)
        elif kind is not str and kind is not int:
            value = _snake_any(value)
        out[new] = value
    return out


def snake_list(data: Any) -> list[Any]:
    """A copy of the list ``data`` with every key inside converted to snake_case."""
    out = []
    for value in data:
        kind = type(value)
        if kind is dict:
            value = snake_dict(value)
        elif kind is list:
            value = snake_list(value)
        elif kind is not str and kind is not int:
            value = _snake_any(value)
        out.append(value)
    return out


# --- payload shapes: validation and snake_case kwargs in one walk ---------------------------------
#
# A :class:`Shape` is a msgspec type (the draft-4 twin Structs that validate compat payloads,
# ``ocppfast.compat.messages._draft4``) reduced to what its payloads must be. :func:`walk`
# goes over a decoded JSON payload once and gives what ``snake_dict(payload)`` gives, or
# :data:`FAIL`. It is conservative: it accepts only what ``msgspec.convert(payload, type)``
# accepts (exact JSON types, ints within 64 bits, ...), and FAIL sends the caller back to
# msgspec, which decides; a type with anything it does not model (unions, patterns,
# ``__post_init__``, ...) has no Shape at all. ``tests/compat/test_compat_walk.py`` checks
# both halves against msgspec on every request and response type of every version.

ANY = 0
STR = 1
INT = 2
FLOAT = 3
BOOL = 4
LITERAL = 5
LIST = 6
STRUCT = 7
_INT_MIN = -(2**63)  # msgspec's own range is wider; beyond this msgspec decides
_INT_MAX = 2**63 - 1
_EXACT = 2**53  # ints a float field takes without rounding doubts


class _Fail:
    """:data:`FAIL`: what :func:`walk` returns for a payload it does not accept."""


_FAIL: Any = _Fail()
FAIL: Any = _FAIL


class Shape:
    """What the values of one msgspec type must be (see :func:`shape_of`)."""

    __slots__ = (
        "by_length",
        "fields",
        "forbid",
        "ge",
        "gt",
        "item",
        "kind",
        "le",
        "lt",
        "max_length",
        "min_length",
        "required",
        "values",
    )

    def __init__(self, kind: int) -> None:
        self.kind = kind
        self.min_length = -1  # STR, LIST: -1 for none
        self.max_length = -1
        self.ge: Any = None  # INT, FLOAT bounds
        self.gt: Any = None
        self.le: Any = None
        self.lt: Any = None
        self.values: Any = None  # LITERAL: frozenset of its str values
        # LITERAL, compiled: its values by length (a tuple of tuples; see _literal), or None
        self.by_length: Any = None
        self.item: Any = None  # LIST: the Shape of its items
        self.fields: Any = None  # STRUCT: wire key -> Field
        self.required = 0  # STRUCT: how many fields are required
        self.forbid = True  # STRUCT: unknown keys refused


class Field:
    """One field of a STRUCT :class:`Shape`: its snake_case kwarg name, its shape, whether
    required."""

    __slots__ = ("required", "shape", "snake")

    def __init__(self, snake: str, shape: Any, required: bool) -> None:
        self.snake = snake
        self.shape = shape
        self.required = required


#: msgspec type -> its Shape, or None when it cannot be walked (see shape_of)
_shapes: dict[Any, Any] = {}


def shape_of(tp: Any) -> Any:
    """The :class:`Shape` of the msgspec type ``tp`` (a Struct type), or None when it has
    something :func:`walk` does not model; remembered."""
    try:
        return _shapes[tp]
    except KeyError:
        pass
    try:
        shape = _build(msgspec.inspect.type_info(tp), {})
    except (TypeError, ValueError):  # not a type msgspec knows
        shape = None
    if len(_shapes) < CACHE_LIMIT:
        _shapes[tp] = shape
    return shape


def _bounds(shape: Any, info: Any) -> Any:
    if getattr(info, "multiple_of", None) is not None:
        return None
    shape.ge = info.ge
    shape.gt = info.gt
    shape.le = info.le
    shape.lt = info.lt
    return shape


def _build(info: Any, structs: dict[Any, Any]) -> Any:
    inspect = msgspec.inspect
    kind = type(info)
    if kind is inspect.AnyType:
        return Shape(ANY)
    if kind is inspect.BoolType:
        return Shape(BOOL)
    if kind is inspect.StrType:
        if info.pattern is not None:
            return None
        shape = Shape(STR)
        shape.min_length = -1 if info.min_length is None else info.min_length
        shape.max_length = -1 if info.max_length is None else info.max_length
        return shape
    if kind is inspect.IntType:
        return _bounds(Shape(INT), info)
    if kind is inspect.FloatType:
        return _bounds(Shape(FLOAT), info)
    if kind is inspect.LiteralType:
        if not all(type(v) is str for v in info.values):
            return None
        shape = Shape(LITERAL)
        shape.values = frozenset(info.values)
        if all(v.isascii() for v in info.values) and len(max(info.values, key=len)) < 64:
            by_length: list[list[str]] = [[] for _ in range(len(max(info.values, key=len)) + 1)]
            for v in shape.values:
                by_length[len(v)].append(v)
            shape.by_length = tuple(tuple(group) for group in by_length)
        return shape
    if kind is inspect.ListType:
        item = _build(info.item_type, structs)
        if item is None:
            return None
        shape = Shape(LIST)
        shape.item = item
        shape.min_length = -1 if info.min_length is None else info.min_length
        shape.max_length = -1 if info.max_length is None else info.max_length
        return shape
    if kind is inspect.StructType:
        cls = info.cls
        if cls in structs:  # a type nested in itself: the same Shape (None while unfinished)
            return structs[cls]
        if (
            info.array_like
            or info.tag is not None
            or getattr(cls, "__post_init__", None) is not None
        ):
            return None
        structs[cls] = None
        fields = {}
        required = 0
        for f in info.fields:
            item = _build(f.type, structs)
            if item is None or type(f.encode_name) is not str:
                return None
            fields[f.encode_name] = Field(
                snake_keys.get(f.encode_name) or snake_key(f.encode_name), item, f.required
            )
            required += f.required
        shape = Shape(STRUCT)
        shape.fields = fields
        shape.required = required
        shape.forbid = info.forbid_unknown_fields
        structs[cls] = shape
        return shape
    return None


def _snake_value(value: Any) -> Any:
    """A value of an ANY shape (or an open object's extra key), as ``snake_dict`` gives it."""
    kind = type(value)
    if kind is dict:
        return snake_dict(value)
    if kind is list:
        return snake_list(value)
    if kind is str or kind is int:
        return value
    return _snake_any(value)


def _in_bounds(shape: Any, value: Any) -> bool:
    return (
        (shape.ge is None or value >= shape.ge)
        and (shape.gt is None or value > shape.gt)
        and (shape.le is None or value <= shape.le)
        and (shape.lt is None or value < shape.lt)
    )


def _literal(shape: Any, text: str) -> bool:
    """Whether the str ``text`` is one of the LITERAL ``shape``'s values. Compiled, for ASCII
    values: compared with those of its length (no hash of ``text``, which is usually new)."""
    if _COMPILED and shape.by_length is not None:
        return _IN_TEXTS(text, shape.by_length)  # type: ignore[no-any-return,name-defined]  # noqa: F821
    return text in shape.values


def walk(shape: Any, value: Any, build: bool) -> Any:
    """``value`` checked against ``shape``: with ``build``, what ``snake_dict`` /
    ``snake_list`` makes of it (new dicts and lists, scalars as they are: an int stays an
    int in a float field); without, ``value`` itself. :data:`FAIL` when msgspec might refuse
    it. Exact JSON types only with ``build`` (a decoded payload); without (an answer made
    from a dataclass), a ``str`` subclass (an enum) counts as its text, as msgspec reads it."""
    kind = shape.kind
    vt = type(value)
    if kind == STRUCT:
        if vt is not dict:
            return _FAIL
        fields = shape.fields
        out: Any = {} if build else None
        seen = 0
        for key, item in value.items():
            if type(key) is not str:
                return _FAIL
            field = fields.get(key)
            if field is None:
                if shape.forbid:
                    return _FAIL
                if build:  # an open object's extra key: kept, converted as snake_dict does
                    new = snake_keys.get(key)
                    if new is None:
                        new = snake_key(key)
                    out[new] = _snake_value(item)
                continue
            sub = field.shape
            sub_kind = sub.kind
            if type(item) is str and (sub_kind == STR or sub_kind == LITERAL):
                # a string (no subclass), the commonest field: checked here, without a call
                if sub_kind == LITERAL:
                    if not _literal(sub, item):
                        return _FAIL
                elif sub.max_length >= 0 or sub.min_length >= 0:
                    n = len(item)
                    if n > sub.max_length >= 0 or n < sub.min_length:
                        return _FAIL
            else:
                item = walk(sub, item, build)
                if item is _FAIL:
                    return _FAIL
            if field.required:
                seen += 1
            if build:
                out[field.snake] = item
        if seen != shape.required:
            return _FAIL
        return out if build else value
    if kind == STR or kind == LITERAL:
        text = value
        if vt is not str:
            if build or not isinstance(value, str):
                return _FAIL
            text = str.__str__(value)  # the text msgspec reads, whatever the subclass says
        if kind == LITERAL:
            return value if _literal(shape, text) else _FAIL
        if shape.max_length >= 0 or shape.min_length >= 0:
            n = len(text)
            if n > shape.max_length >= 0 or n < shape.min_length:
                return _FAIL
        return value
    if kind == INT:
        if vt is not int or value < _INT_MIN or value > _INT_MAX:
            return _FAIL
        return value if _in_bounds(shape, value) else _FAIL
    if kind == LIST:
        if vt is not list:
            return _FAIL
        n = len(value)
        if n > shape.max_length >= 0 or n < shape.min_length:
            return _FAIL
        item_shape = shape.item
        if not build:
            for item in value:
                if walk(item_shape, item, False) is _FAIL:
                    return _FAIL
            return value
        items = []
        for item in value:
            item = walk(item_shape, item, True)
            if item is _FAIL:
                return _FAIL
            items.append(item)
        return items
    if kind == FLOAT:
        if vt is float:
            if not math.isfinite(value):
                return _FAIL
        elif vt is not int or value < -_EXACT or value > _EXACT:
            return _FAIL
        return value if _in_bounds(shape, value) else _FAIL
    if kind == BOOL:
        return value if vt is bool else _FAIL
    if kind == ANY:
        return _snake_value(value) if build else value
    return _FAIL


# --- bound once to ocppfast.compat.charge_point (see bind) ----------------------------------------

# the charge_point module's namespace: the names user code may patch are read there per frame
_cp_names: Any = None
_messages_names: Any = None  # ocppfast.compat.messages' namespace, the same way
_NOT_NOW: Any = None
_ROUTED: Any = None
_ROUTE_MESSAGE: Any = None
_HANDLE_CALL: Any = None
_SEND: Any = None
_UNPACK: Any = None
_VALIDATE_PAYLOAD: Any = None
_VALIDATE_NOW: Any = None
_CAMEL_TO_SNAKE: Any = None
_Call: Any = None
_OCPPError: Any = None
_call_error_json: Any = None
_wire_value: Any = None
_is_awaitable: Any = None
_camel_keys: Any = None
_wire_fields: Any = None
_field_names: Any = None
_inline_handlers: Any = None
_flat_types: Any = None
_decode_json: Any = None
_dumps: Any = None
_Logger: Any = logging.Logger
# logging's own methods, whose effect info_off() predicts
_LOGGER_INFO: Any = logging.Logger.info
_LOGGER_ENABLED: Any = logging.Logger.isEnabledFor
_INFO = logging.INFO
# Whether an instance's __dict__ gets a new version tag at every attribute store: up to CPython
# 3.12. From 3.13 an object keeps its attributes inline and a store may write there without
# touching the tag of the dict made for __dict__ (seen: ``self.x = y`` left it as it was), so
# instance dicts are looked at every time there.
_INSTANCE_TAGS = sys.version_info < (3, 13)
_convert = msgspec.convert
_encode = msgspec.json.encode
_ValidationError = msgspec.ValidationError
_FunctionType: Any = types.FunctionType
_OBJECT_GETATTRIBUTE: Any = object.__getattribute__
_MISSING: Any = object()
# what ChargePoint.__init__ sets on the instance and the flat path reads per frame (Sink.attr)
_INSTANCE_ATTRIBUTES = ("_connection", "logger", "route_map")
_STR_HASH: Any = str.__hash__
_STR_EQ: Any = str.__eq__
_TEXT = 1  # picows.WSMsgType.TEXT
_TEXT_TYPE: Any = 1  # the same, a Python int compiled too
# compiled: picows' C enum (a module-level int would be boxed per frame for WSTransport.send)
_WS_TEXT: Any = _TEXT_TYPE
# msgspec request type -> (the last payload of exactly str / int values that passed it, its
# kwargs)
_kwargs_ok: dict[Any, tuple[Any, Any]] = {}
# msgspec answer type -> the last payload of exactly str / int values that passed it
_answers_ok: dict[Any, Any] = {}


# compiled: the version tags of the charge_point and messages namespaces when every switch user
# code may patch there was last found to be ours (0: look again; see _unpatched)
_cp_tag = 0
_messages_tag = 0


def _unpatched() -> bool:
    """Whether ``unpack``, ``validate_payload``, ``camel_to_snake_case`` (charge_point) and
    ``_validate_payload`` (messages) are all the package's own. Compiled, a True answer holds
    while both namespaces keep their PEP 509 version tags (any assignment there changes them)."""
    global _cp_tag, _messages_tag
    if (
        _cp_tag != 0
        and _dict_tag(_cp_names) == _cp_tag
        and _dict_tag(_messages_names) == _messages_tag
    ):
        return True
    if (
        _cp_names.get("unpack") is not _UNPACK
        or _cp_names.get("validate_payload") is not _VALIDATE_PAYLOAD
        or _cp_names.get("camel_to_snake_case") is not _CAMEL_TO_SNAKE
        or _messages_names.get("_validate_payload") is not _VALIDATE_NOW
    ):
        return False
    _cp_tag = _dict_tag(_cp_names)
    _messages_tag = _dict_tag(_messages_names)
    return True


def _own(payload: Any, hit: Any) -> Any:
    """``payload`` as its consumers get it: a copy of a plan's kept payload (``hit`` is that
    plan; its values are immutable, so a shallow copy is theirs alone)."""
    return payload if hit is None else dict(payload)


def _flat_values(payload: Any) -> bool:
    """Whether every value of the dict ``payload`` is exactly a ``str`` or an ``int``."""
    for value in payload.values():
        kind = type(value)
        if kind is not str and kind is not int:
            return False
    return True


def bind(cp_module: Any) -> None:
    """Give this module the ``charge_point`` module's names it routes with (called once, at the
    end of that module's import)."""
    global _cp_names, _messages_names, _NOT_NOW, _ROUTED, _ROUTE_MESSAGE, _HANDLE_CALL, _SEND
    global _UNPACK
    global _VALIDATE_PAYLOAD, _VALIDATE_NOW, _CAMEL_TO_SNAKE, _Call, _OCPPError
    global _call_error_json, _wire_value, _is_awaitable, _camel_keys, _wire_fields
    global _field_names, _inline_handlers, _flat_types, _decode_json, _dumps
    _cp_names = vars(cp_module)
    _messages_names = vars(cp_module._messages)
    _NOT_NOW = cp_module._NOT_NOW
    _ROUTED = cp_module._Routed
    _ROUTE_MESSAGE = cp_module._ROUTE_MESSAGE
    _HANDLE_CALL = cp_module._HANDLE_CALL
    _SEND = cp_module._SEND
    _UNPACK = cp_module._UNPACK
    _VALIDATE_PAYLOAD = cp_module._VALIDATE_PAYLOAD
    _VALIDATE_NOW = cp_module._VALIDATE_NOW
    _CAMEL_TO_SNAKE = cp_module._CAMEL_TO_SNAKE
    _Call = cp_module.Call
    _OCPPError = cp_module.OCPPError
    _call_error_json = cp_module._call_error_json
    _wire_value = cp_module._wire_value
    _is_awaitable = cp_module._is_awaitable
    _camel_keys = cp_module._camel_keys
    _wire_fields = cp_module._wire_fields
    _field_names = cp_module._field_names
    _inline_handlers = cp_module._inline_handlers
    _flat_types = cp_module._flat_types
    _decode_json = cp_module._decode_json
    _dumps = cp_module._dumps


def _type_tag(cls: Any) -> int:
    """Compiled: CPython's attribute-cache version tag of the class ``cls``; 0 pure, or when
    it has none. A class gets a new tag, never seen before, after any change to it or to a
    base (setting or deleting an attribute, ``mock.patch.object``, ``__bases__``), so the same
    nonzero tag means that its attributes are the ones seen with it."""
    if _COMPILED:
        return cython.cast(cython.pointer(PyTypeObject), cls).tp_version_tag  # type: ignore[no-any-return]
    return 0


def _dict_tag(data: Any) -> int:
    """Compiled: the PEP 509 version tag of the dict ``data`` (CPython 3.11-3.13: a new value,
    never seen before, after any change to it; see ``_compat_fast_c.pxd``); 0 pure, or where
    CPython has none, meaning unknown."""
    if _COMPILED:
        return _DICT_TAG(data)  # type: ignore[no-any-return,name-defined]  # noqa: F821
    return 0


def _json_text(data: bytes) -> bool:
    """Whether msgspec's JSON bytes ``data`` are ``json.dumps``' text to the byte: ASCII (nothing
    escaped differently) without DEL (json escapes it, msgspec does not); see the test."""
    if _COMPILED:  # eight bytes at a time, in C
        return _PLAIN_ASCII(data)  # type: ignore[no-any-return,name-defined]  # noqa: F821
    return data.isascii() and 127 not in data


class Plan:
    """What the flat path needs to answer CALLs of one action, worked out once per (handler,
    OCPP version) and kept by :class:`Sink` per action while the route's handler and
    ``_ocpp_version`` stay the same objects: the function ``@on`` wrapped (``target``, None to
    call ``handler`` as it is) and its ``self`` (``owner``), whether it takes
    ``call_unique_id``, and the msgspec types validating request and answer."""

    __slots__ = (
        "after",
        "answer",
        "args",
        "entry",
        "entry_tag",
        "handler",
        "key",
        "owner",
        "plain",
        "reply",
        "request",
        "route_tag",
        "skip",
        "takes_id",
        "target",
        "text",
        "text_kwargs",
        "text_names",
        "text_payload",
        "text_stack",
        "version",
        "walker",
    )

    def __init__(
        self,
        handler: Any,
        version: Any,
        target: Any,
        takes_id: bool,
        request: Any,
        answer: Any,
    ) -> None:
        self.handler = handler
        self.version = version
        self.target = target
        self.owner = handler.__self__ if target is not None else None
        self.args = (self.owner,)
        # a plain Python function: called with a kwargs dict, it binds its own copy
        self.plain = type(target) is _FunctionType
        self.key = None  # the route map's key of the action (see _route_key)
        self.takes_id = takes_id
        self.request = request
        self.answer = answer
        # their Shapes (None: msgspec alone validates), see walk(); compiled only (in pure
        # Python, msgspec's C is faster than walking)
        self.walker = shape_of(request) if _COMPILED else None
        self.reply = shape_of(answer) if _COMPILED else None
        # compiled: the payload's JSON text of the last CALL of this action whose payload
        # (exactly str / int values) passed, its decoded payload and its kwargs (see
        # Sink.split): the same text is the same payload, so it needs no decoding or walk
        self.text: Any = None
        self.text_payload: Any = None
        self.text_kwargs: Any = None
        self.text_names: Any = None  # compiled: those kwargs' names and (self, *values)
        self.text_stack: Any = None
        # compiled: the route map's entry (a dict) the handler was last read from, the version
        # tags of the route map and of that entry then (0: read again), its
        # ``_skip_schema_validation`` and whether it has an ``_after_action``
        self.entry: Any = None
        self.route_tag = 0
        self.entry_tag = 0
        self.skip: Any = False
        self.after = False


def _plain_attributes(cls: Any) -> bool:
    """Whether reading ``_INSTANCE_ATTRIBUTES`` of a ``cls`` instance is reading its instance
    dict: ``object.__getattribute__`` and no class attribute of those names."""
    if cls.__getattribute__ is not _OBJECT_GETATTRIBUTE:
        return False
    for name in _INSTANCE_ATTRIBUTES:
        if hasattr(cls, name):
            return False
    return True


def _class_value(cls: Any, name: str) -> Any:
    """What an instance of ``cls`` without ``name`` in its dict reads as ``name`` (the first
    class in the MRO defining it) when that is a ``str`` (no descriptor), else _MISSING."""
    for klass in cls.__mro__:
        space = klass.__dict__
        if name in space:
            value = space[name]
            return value if type(value) is str else _MISSING
    return _MISSING


def _route_key(route_map: Any, action: str) -> Any:
    """The key of ``route_map`` (a dict) equal to ``action`` when it hashes and compares as
    ``str`` does (a ``str``, or a ``StrEnum`` member such as ``Action.heartbeat``): looking it
    up finds the same entry as ``action`` does, by identity; else ``action``."""
    if type(route_map) is dict:
        for key in route_map:
            kind = type(key)
            if (
                (kind is str or (kind.__hash__ is _STR_HASH and kind.__eq__ is _STR_EQ))
                and isinstance(key, str)
                and str.__eq__(key, action)
            ):
                return key
    return action


def _dict_get(data: dict[Any, Any], key: Any, default: Any) -> Any:
    return data.get(key, default)


def _plan(handler: Any, action: Any, version: Any) -> Any:
    """The :class:`Plan` of ``handler`` answering ``action`` in ``version``, or None while the
    general path has not yet learnt it (a sync ``@on`` handler; types that need no Decimal
    numbers) or for OCPP 2.1 (its outgoing keys need the schema tables)."""
    if version == "2.1":
        return None
    try:
        target, takes_id = _inline_handlers[handler.__func__]
        request, answer = _flat_types[version][action]
    except (KeyError, TypeError, AttributeError):
        return None
    return Plan(handler, version, target, takes_id, request, answer)


class Sink:
    """The frame callback of one connection while a compat ChargePoint's ``start()`` waits.

    ``sink(text)`` (:meth:`__call__`) logs and routes one frame as ``start()`` would, in
    ``start()``'s context copy; it returns False (the frame is queued for ``recv()`` instead)
    once a dispatch step was overridden or mocked, or ``_connection`` swapped, since ``start()``
    began.
    """

    def __init__(self, cp: Any, connection: Any, context: Any, direct_write: bool) -> None:
        self.cp = cp
        self.connection = connection
        self.cls = type(cp)
        self.mine = cp.__dict__
        self.context = context
        self.run = context.run
        self.direct_write = direct_write
        self.route = self.sink  # bound once (context.run takes the callable each frame)
        self.write_py = self.write  # what the step-by-step path sends with
        # The logger last seen as ``cp.logger``: when it is a plain ``logging.Logger``, its
        # instance dict and its level cache (cleared, never replaced, when levels change).
        self.logger = None
        self.log_dict: dict[str, Any] | None = None
        self.log_cache: dict[int, bool] | None = None
        self.logger_tag = 0  # logging.Logger's version tag when last seen unpatched (compiled)
        # compiled: the version tags of log_dict and log_cache when info_off() last answered True
        # for this logger (0: look again)
        self.off_dict_tag = 0
        self.off_cache_tag = 0
        self.plans: dict[Any, Plan] = {}  # action -> its Plan (see route_now)
        self.last_action: Any = ""  # compiled: the action (str) of the last compact CALL
        # compiled: the instance dict's version tag when sink() last found the dispatch steps
        # and ``_connection`` unchanged and read ``logger``, ``route_map`` and
        # ``_ocpp_version`` (kept here) from it (0: look again; see fresh())
        self.mine_tag = 0
        self.my_logger: Any = None
        self.my_route_map: Any = None
        self.my_version: Any = None
        # the class's version tag when its dispatch steps were last found to be ChargePoint's
        # (compiled only; see _type_tag)
        self.cls_tag = 0
        # compiled, while the class's tag is cls_tag: whether attr() may read the instance dict
        self.plain_attrs = False
        self.cls_version: Any = _MISSING  # the class's _ocpp_version then (see version())
        # the connection's queue of frames for recv() (the same deque throughout)
        self.frames = getattr(connection, "_frames", None)
        self.ws: Any = None  # the connection's transport once known to be picows' WSTransport
        # the connection as this module's FrameListener (compiled: its ``_sink`` a C field)
        self.listener = connection if isinstance(connection, FrameListener) else None

    def info_off(self, logger: Any) -> bool:
        """True when ``logger.info(...)`` would surely log nothing: a plain ``logging.Logger``
        (``info`` and ``isEnabledFor`` logging's own, neither patched on the instance nor on
        the class) whose cached answer for INFO is no. Anything else: False, and
        ``logger.info`` decides (it checks first, so skipping the call when this says True
        changes nothing observable).

        Compiled, the answer True holds while the logger, its class, ``logging.Logger``, the
        logger's instance dict and its level cache are all unchanged, by their version tags:
        ``setLevel``, ``logging.disable`` and a new handler's level (``manager._clear_cache``)
        clear that cache, which changes its tag, and patching ``info`` / ``isEnabledFor`` on
        the instance or on ``logging.Logger`` changes theirs (see the tests in
        ``tests/compat/test_compat_fastlog.py``)."""
        if (
            logger is self.logger
            and self.off_cache_tag != 0
            and type(logger) is _Logger
            and _dict_tag(self.log_cache) == self.off_cache_tag
            and _dict_tag(self.log_dict) == self.off_dict_tag
            and _type_tag(_Logger) == self.logger_tag
        ):
            return True
        self.off_cache_tag = 0
        if logger is not self.logger:
            self.logger = logger
            self.log_dict = self.log_cache = None
            if type(logger) is _Logger:
                self.log_dict = logger.__dict__
                self.log_cache = logger._cache
        cache = self.log_cache
        if cache is None or type(logger) is not _Logger:  # (``__class__`` may be assigned)
            return False
        mine = self.log_dict
        if mine is not None and ("info" in mine or "isEnabledFor" in mine):
            return False
        tag = self.logger_tag
        if not tag or _type_tag(_Logger) != tag:
            # logging.Logger changed (or first look, or pure Python): are these still its own?
            if _Logger.info is not _LOGGER_INFO or _Logger.isEnabledFor is not _LOGGER_ENABLED:
                return False
            self.logger_tag = _type_tag(_Logger)
        if cache.get(_INFO) is not False:
            return False
        if (
            self.logger_tag and mine is not None and _INSTANCE_TAGS
        ):  # compiled: the tags it holds with
            self.off_dict_tag = _dict_tag(mine)
            self.off_cache_tag = _dict_tag(cache)
        return True

    def __call__(self, message: Any) -> bool:
        result: bool = self.run(self.route, message)
        return result

    def on_frame(self, transport: Any, frame: Any) -> None:
        """The connection's ``on_ws_frame`` while this sink is its own (set by ``start()``): a
        complete TEXT frame is routed here; everything else as the connection's class does."""
        conn = self.connection
        listener = self.listener
        current = listener._sink if listener is not None else conn._sink
        if frame.msg_type == _TEXT and frame.fin and current is self and not self.frames:
            try:
                text = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                conn._deliver(frame.get_payload_as_bytes())  # closes the connection (1007)
                return
            if _COMPILED:  # what context.run(self.sink, text) does, without a Python call
                context = self.context
                PyContext_Enter(context)
                try:
                    routed = self.sink(text)
                finally:
                    PyContext_Exit(context)
            else:
                routed = self.run(self.route, text)
            if not routed:
                conn._hand_over(text)
            return
        conn._on_frame(transport, frame)

    def sink(self, message: Any) -> bool:
        cp = self.cp
        cls = self.cls
        mine = self.mine
        if type(cp) is not cls:
            return False
        tag = self.cls_tag
        if not tag or _type_tag(cls) != tag:
            # the class changed (or this is its first frame, or this is pure Python): look
            self.plain_attrs = False
            if (
                cls.route_message is not _ROUTE_MESSAGE
                or cls._handle_call is not _HANDLE_CALL
                or cls._send is not _SEND
            ):
                return False
            self.cls_tag = _type_tag(cls)  # the lookups above gave it one
            if self.cls_tag != 0:  # compiled (pure Python looks here at every frame)
                self.plain_attrs = _plain_attributes(cls)
                self.cls_version = _class_value(cls, "_ocpp_version")
        if self.fresh():
            logger = self.my_logger
        else:
            self.mine_tag = 0
            if (
                (self.attr("_connection") if self.plain_attrs else cp._connection)
                is not self.connection
                or "route_message" in mine
                or "_handle_call" in mine
                or "_send" in mine
            ):
                return False
            # (pure Python: plain_attrs is False, and a method call costs more than it saves)
            logger = self.attr("logger") if self.plain_attrs else cp.logger
            if self.plain_attrs:
                self.remember()
        if not self.info_off(logger):
            logger.info("%s: receive message %s", cp.id, message)
        try:
            rest = self.route_now(message)
        except BaseException as exc:  # noqa: BLE001 - start() raises it, as inline
            self.connection._hand_over(_ROUTED(None, exc))
            return True
        if rest is None:
            return True
        if rest is _NOT_NOW:
            rest = cp.route_message(message)
        # start() runs the rest in its task (user coroutines never run outside it)
        self.connection._hand_over(_ROUTED(rest, None))
        return True

    def fresh(self) -> bool:
        """Compiled: whether what :meth:`remember` kept still holds: the class and the instance
        dict are unchanged since (by their version tags)."""
        return (
            self.mine_tag != 0
            and _dict_tag(self.mine) == self.mine_tag
            and type(self.cp) is self.cls
            and _type_tag(self.cls) == self.cls_tag
        )

    def remember(self) -> None:
        """Compiled, once :meth:`sink` found the dispatch steps and ``_connection`` as they
        should be: keep ``logger``, ``route_map``, ``_ocpp_version`` when the instance dict (or
        for the version, the class) gives them plainly, with the instance dict's version tag."""
        if not _INSTANCE_TAGS:
            return
        mine = self.mine
        logger = mine.get("logger", _MISSING)
        route_map = mine.get("route_map", _MISSING)
        version = self.version()
        tag = _dict_tag(mine)
        if logger is _MISSING or route_map is _MISSING or tag == 0:
            return
        self.my_logger = logger
        self.my_route_map = route_map
        self.my_version = version
        self.mine_tag = tag

    def attr(self, name: str) -> Any:
        """``cp.<name>``, for an attribute ChargePoint sets on the instance: read from the
        instance dict while the class (unchanged since :meth:`sink` looked, by its version
        tag) has no attribute of that name and its own ``__getattribute__``."""
        if self.plain_attrs and type(self.cp) is self.cls and _type_tag(self.cls) == self.cls_tag:
            value = self.mine.get(name, _MISSING)
            if value is not _MISSING:
                return value
        return getattr(self.cp, name)

    def version(self) -> Any:
        """``cp._ocpp_version``: the instance's, else the class's (a plain value, kept with
        the class's version tag by :meth:`sink`), as :meth:`attr` reads."""
        if self.plain_attrs and type(self.cp) is self.cls and _type_tag(self.cls) == self.cls_tag:
            value = self.mine.get("_ocpp_version", _MISSING)
            if value is not _MISSING:
                return value
            if self.cls_version is not _MISSING:
                return self.cls_version
        return self.cp._ocpp_version

    def write(self, text: Any, data: Any = None) -> None:
        """What ``await cp._send(text)`` does, without awaiting (``data``: ``text`` encoded;
        ``text`` may then be None, decoded only to be logged)."""
        cp = self.cp
        if self.fresh():
            logger = self.my_logger
        else:
            logger = self.attr("logger") if self.plain_attrs else cp.logger
        if not self.info_off(logger):
            logger.info("%s: send %s", cp.id, data.decode() if text is None else text)
        conn = self.connection
        if not self.direct_write:
            conn._write(text if data is None else data)
            return
        listener = self.listener
        closed = listener._closed if listener is not None else conn._closed
        if closed is not None:
            raise closed
        if data is None:
            data = text.encode()
        ws = self.ws
        if ws is None:
            transport = conn.transport
            if not isinstance(transport, picows.WSTransport):
                transport.send(_TEXT, data)
                return
            # picows' own transport (set once, when the connection opened): a C call compiled
            ws = self.ws = transport
        ws.send(_WS_TEXT, data)

    def route_now(self, message: Any) -> Any:
        """``cp.route_message(message)`` with :meth:`write` as ``_send`` and no coroutine, for a
        frame that needs no waiting: a CALL to a sync handler (validation inline) or a
        CALLRESULT / CALLERROR. None when done; a coroutine finishing the CALL when the handler
        returned an awaitable; ``_NOT_NOW`` (nothing done yet) for anything else: an unparseable
        frame, a missing route, an async handler, a payload that fails validation, a patched
        ``validate_payload`` / ``unpack`` / ``camel_to_snake_case``.

        The common case (a valid CALL answered with a ``call_result`` dataclass of OCPP 1.6 or
        2.0.1) is written out flat here; anything else goes through ``cp._call_now``.
        """
        cp = self.cp
        # A compact CALL (compiled): its envelope read in place (see split), its payload decoded
        # alone, or not at all when its text is the last one that passed (``hit``: that plan)
        hit: Any = None
        text = ""
        start = -1
        clean = _unpatched()  # nothing user code may patch is patched
        if _COMPILED and clean:
            # A compact CALL ``[2,"<id>","<action>",{...}]`` whose id and action hold no escape
            # or control character (one byte per character): valid JSON exactly when its
            # payload's text alone is, and then ``[2, id, action, payload]``, what unpack()
            # reads (RFC 8259 section 7: a string without ``\\`` is its characters as they are)
            start = _SPLIT_CALL(message, self.ends)  # type: ignore[name-defined,attr-defined]  # noqa: F821
            if start >= 0:
                unique_id = _SUBSTRING(message, 4, self.ends[0])  # type: ignore[name-defined,attr-defined]  # noqa: F821
                prev = self.last_action
                if _SAME_TEXT(message, self.ends[1], self.ends[2], prev):  # type: ignore[name-defined,attr-defined]  # noqa: F821
                    action = prev
                else:
                    action = _SUBSTRING(message, self.ends[1], self.ends[2])  # type: ignore[name-defined,attr-defined]  # noqa: F821
                    self.last_action = action
                text = _SUBSTRING(message, start, len(message) - 1)  # type: ignore[name-defined]  # noqa: F821
        if start >= 0:
            plan = self.plans.get(action)
            if plan is not None and plan.text is not None and text == plan.text:
                hit = plan
                payload = plan.text_payload  # kept: consumers get a copy (_own)
            else:
                try:
                    payload = _decode_json(text)
                except Exception:  # noqa: BLE001 - unpack() decides, on the general path
                    start = -1
        if start < 0:
            if not clean and _cp_names.get("unpack") is not _UNPACK:
                return _NOT_NOW  # route_message() calls it, once
            try:
                frame = _decode_json(message)
            except Exception:  # noqa: BLE001 - unpack() decides, on the general path
                return _NOT_NOW
            if (
                type(frame) is not list
                or len(frame) != 4
                or type(frame[0]) is not int
                or frame[0] != 2
            ):
                return cp._route_reply_now(message)
            unique_id = frame[1]
            action = frame[2]
            payload = frame[3]
            # the plan of this action, while its handler and the version are the same objects
            plan = self.plans.get(action) if type(action) is str else None
        fresh = self.fresh()
        if fresh:
            version = self.my_version
        else:
            version = self.version() if self.plain_attrs else cp._ocpp_version
        if fresh:
            route_map = self.my_route_map
        else:
            try:
                route_map = self.attr("route_map") if self.plain_attrs else cp.route_map
            except AttributeError:
                return cp._call_now(unique_id, action, _own(payload, hit), self.write_py)
        known_entry = (
            plan is not None
            and plan.route_tag != 0
            and _dict_tag(route_map) == plan.route_tag
            and _dict_tag(plan.entry) == plan.entry_tag
        )  # (the route map holds the same entry, unchanged: compiled only)
        if known_entry:
            handlers = plan.entry  # type: ignore[union-attr]
            handler = plan.handler  # type: ignore[union-attr]
        else:
            try:
                # by the route map's own key once known (see _route_key): the same entry
                handlers = route_map[
                    plan.key if plan is not None and type(route_map) is dict else action
                ]
                handler = handlers["_on_action"]
            except (KeyError, TypeError, AttributeError):
                return cp._call_now(unique_id, action, _own(payload, hit), self.write_py)
        if plan is None or plan.handler is not handler or plan.version is not version:
            plan = _plan(handler, action, version)
            if plan is None:
                return cp._call_now(unique_id, action, _own(payload, hit), self.write_py)
            plan.key = _route_key(route_map, action)
            if len(self.plans) < CACHE_LIMIT:
                self.plans[action] = plan
        if known_entry:
            skip = plan.skip
            after = plan.after
        else:
            if _COMPILED and type(handlers) is dict:  # a C call
                skip = _dict_get(handlers, "_skip_schema_validation", False)
            else:
                skip = handlers.get("_skip_schema_validation", False)
            after = "_after_action" in handlers
            tag = _dict_tag(route_map) if type(route_map) is dict else 0
            if tag != 0 and type(handlers) is dict and plan.key is not None:
                plan.entry = handlers
                plan.skip = skip
                plan.after = after
                plan.route_tag = tag
                plan.entry_tag = _dict_tag(handlers)
        if (
            skip
            or type(payload) is not dict
            or (
                not clean
                and (
                    _cp_names.get("validate_payload") is not _VALIDATE_PAYLOAD
                    or _messages_names.get("_validate_payload") is not _VALIDATE_NOW
                    or _cp_names.get("camel_to_snake_case") is not _CAMEL_TO_SNAKE
                )
            )
        ):
            return cp._call_now(unique_id, action, _own(payload, hit), self.write_py)
        request = plan.request
        answer = plan.answer
        target = plan.target
        takes_id = plan.takes_id
        # Validated and converted to snake_case kwargs in one walk (compiled; where the walk
        # does not decide, and in pure Python, msgspec validates and snake_dict converts). A
        # payload equal to the last one of its type that passed, both of exactly str / int
        # values only (so that equal means the same JSON), gets that payload's kwargs again:
        # handlers never see that dict itself (see below).
        kwargs: Any = _FAIL
        shared = False  # kwargs is also kept in _kwargs_ok or plan.text_kwargs
        if hit is plan:  # (the plan whose payload text this is, still the action's)
            kwargs = plan.text_kwargs
            shared = True
            flat_payload = False
        else:
            flat_payload = _flat_values(payload)
        if flat_payload:
            last = _kwargs_ok.get(request)
            if last is not None and payload == last[0]:
                kwargs = last[1]
                shared = True
        if kwargs is _FAIL:
            walker = plan.walker
            if walker is not None:
                try:
                    kwargs = walk(walker, payload, True)
                except RecursionError:
                    kwargs = _FAIL
            if kwargs is _FAIL:
                try:
                    _convert(payload, request)
                except (_ValidationError, RecursionError):
                    return _NOT_NOW  # the general path reports it, as mobilityhouse does
                kwargs = snake_dict(payload) if payload else {}
            if flat_payload and len(_kwargs_ok) < CACHE_LIMIT:
                _kwargs_ok[request] = (payload, kwargs)
                shared = True
        if flat_payload and start >= 0:
            # (payload's values are immutable: a shallow copy is the consumers' own)
            plan.text = text
            plan.text_payload = dict(payload)
            plan.text_kwargs = kwargs
            if _COMPILED and plan.plain and target is not None and not takes_id:
                # the call's arguments as a vectorcall wants them: self and the values in a
                # tuple's storage, the names in a tuple (the same call as with kwargs)
                plan.text_names = tuple(kwargs)
                plan.text_stack = (plan.owner, *kwargs.values())
        try:
            try:
                if target is not None:  # the function @on wrapped, called as its wrapper does
                    if takes_id:
                        response = target(plan.owner, **kwargs, call_unique_id=unique_id)
                    elif _COMPILED and hit is plan and plan.text_stack is not None:
                        response = _CALL_STACK(target, plan.text_stack, plan.text_names)  # type: ignore[name-defined]  # noqa: F821
                    elif _COMPILED and (plan.plain or not shared):
                        # kwargs is ours (a Python function binds a copy of it): no copy
                        response = PyObject_Call(target, plan.args, kwargs)
                    else:
                        response = target(plan.owner, **kwargs)
                elif takes_id:
                    response = handler(**kwargs, call_unique_id=unique_id)
                else:
                    response = handler(**kwargs)
                if type(response) not in _field_names and _is_awaitable(response):
                    return cp._finish_call(
                        _Call(unique_id, action, _own(payload, hit)),
                        handlers,
                        dict(kwargs) if shared else kwargs,  # the after-hook's, later
                        skip,
                        response,
                        self.write_py,
                        version,
                    )
                if not _unpatched():  # the handler patched validation: the general path's end
                    return cp._answer_late(
                        _Call(unique_id, action, _own(payload, hit)),
                        handlers,
                        dict(kwargs) if shared else kwargs,
                        skip,
                        response,
                        version,
                    )
            except Exception as e:
                msg = _Call(unique_id, action, _own(payload, hit))
                cp.logger.exception("Error while handling request '%s'", msg)
                self.write(_call_error_json(msg, e))
                return None
            pairs = _wire_fields.get(type(response))
            # flat: every value a str or an int (enums included), where msgspec's JSON can be
            # json.dumps' (checked below)
            flat = type(unique_id) is str or type(unique_id) is int
            # known: every value a str (a subclass too: enums) or exactly an int, so that an
            # answer equal to the last one validated of its type is valid too (see below)
            known = True
            if pairs is None:
                out = cp._reply_payload(_Call(unique_id, action, _own(payload, hit)), response)
                flat = known = False
            else:
                out = {}
                for name, key in pairs:
                    value = getattr(response, name)
                    if value is None:
                        continue
                    kind = type(value)
                    if kind is not str and kind is not int:
                        if kind is float or kind is bool:
                            flat = known = False
                        else:
                            value = _wire_value(value, _camel_keys)
                            if not isinstance(value, str):
                                known = False
                                if flat and not isinstance(value, int):
                                    flat = False
                    out[key] = value
            # Validating the answer: by its Shape (walk), else msgspec. There, the same answer
            # as the last one of its type that passed (``{}``, ``{"status": "Accepted"}``) needs
            # no second look; values of exactly str / int only, so that equal means equally
            # valid (True == 1, 1.0 == 1 are not here).
            reply_shape = plan.reply
            try:
                checked = reply_shape is not None and walk(reply_shape, out, False) is not _FAIL
            except RecursionError:
                checked = False
            if checked:
                pass
            elif not known or out != _answers_ok.get(answer):
                try:
                    _convert(out, answer)
                except (_ValidationError, RecursionError):
                    # raises the exception mobilityhouse raises for it
                    _VALIDATE_NOW(
                        _Call(unique_id, action, _own(payload, hit)).create_call_result(out),
                        version,
                    )
                if known:
                    _answers_ok[answer] = out
            reply = [3, unique_id, out]
            data = None
            if flat:
                # msgspec's bytes when they are json.dumps' text exactly
                try:
                    data = _encode(reply)
                except Exception:  # noqa: BLE001 - json.dumps decides, below
                    data = None
                else:
                    if not _json_text(data):
                        data = None
            if data is not None:
                self.write(None, data)
            else:
                self.write(_dumps(reply))
            if after:
                # a copy: ``out`` may be the one kept in _answers_ok
                cp._run_after(
                    handlers,
                    dict(kwargs) if shared else kwargs,
                    _Call(unique_id, action, _own(payload, hit)),
                    dict(out),
                )
            return None
        except _OCPPError as error:
            msg = _Call(unique_id, action, _own(payload, hit))
            cp.logger.exception("Error while handling request '%s'", msg)
            self.write(_call_error_json(msg, error))
            return None


class FrameListener(picows.WSListener):
    """picows' listener base of ``ocppfast.compat.serve.WebSocketConnection``.

    While a compat ChargePoint's ``start()`` waits for frames on the connection it sets
    ``frame_sink`` (:meth:`bind_sink`), and :meth:`on_ws_frame` gives each frame to that
    :class:`Sink`; otherwise to the connection's ``_on_frame``. Compiled, this is a ``cdef
    class`` subclassing picows' ``WSListener`` (see ``_compat_fast_c.pxd``): picows reaches
    :meth:`on_ws_frame` through its vtable and the sink's ``on_frame`` is a C call, with no
    Python-level call per frame (a Python subclass that does not override ``on_ws_frame`` keeps
    that path). Pure, :meth:`bind_sink` puts the sink's bound ``on_frame`` in the instance
    dictionary, where picows finds it first.
    """

    def __init__(self) -> None:
        super().__init__()
        self.frame_sink: Any = None
        # the Sink of the ChargePoint whose start() waits in recv() (set by start(); see
        # compat.serve.WebSocketConnection), else None
        self._sink: Any = None
        self._closed: Any = None  # the connection's ConnectionClosed once it is gone

    def bind_sink(self, sink: Any) -> None:
        """Give frames to ``sink`` (a :class:`Sink`) from now on; ``None``: stop."""
        self.frame_sink = sink
        if not _COMPILED:
            if sink is None:
                self.__dict__.pop("on_ws_frame", None)
            else:
                self.__dict__["on_ws_frame"] = sink.on_frame

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        sink = self.frame_sink
        if sink is not None:
            sink.on_frame(transport, frame)
        else:
            self._on_frame(transport, frame)

    def _on_frame(self, transport: Any, frame: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError
