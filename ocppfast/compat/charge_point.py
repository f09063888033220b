"""mobilityhouse-compatible ``ChargePoint`` (``ocpp.charge_point``), on ocppfast's validation.

The same constructor, attributes and overridable steps as mobilityhouse ``ocpp`` 2.1.0:
``start()`` -> ``route_message(raw)`` -> ``_handle_call(msg)`` -> ``_send(text)`` for incoming
CALLs, and ``call()`` -> ``_send`` -> ``_get_specific_response(unique_id, timeout)`` for outgoing
ones. Handlers get snake_case keyword arguments (nested values as dicts, enums as ``str``) and
return ``call_result`` dataclasses; the wire text is the same to the byte.

Differences (each one where mobilityhouse crashes, hangs or says nothing; ``docs/compat.md``
lists them): ``start()`` keeps routing CALLRESULT/CALLERROR frames while a CALL handler runs, so
a handler that awaits ``self.call()`` gets its answer; a handler returning a dict or ``None``
answers with that payload instead of killing the connection; OCPP 2.1 without a handler answers
NotImplemented; OCPP 2.1 keys that the generic case conversion gets wrong are sent right.

Speed: on ocppfast's own connection, while no dispatch step is overridden, ``start()`` routes
each frame from the connection's frame callback, and a CALL to a sync handler takes a flat path
(``ocppfast._compat_fast.Sink``, compiled by Cython) with msgspec doing decoding, validation
and, where its output is ``json.dumps``' to the byte, encoding. Anything unusual takes the
general path; tests run the same frames through both and compare them byte for byte
(``tests/compat/test_compat_fastpath.py``, ``tests/compat/test_compat_fast.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
import logging
import re
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import Field, asdict, fields, is_dataclass
from types import CoroutineType
from typing import Any, Union, get_args, get_origin

import msgspec

from .. import _speedups
from . import messages as _messages
from .exceptions import InternalError, NotImplementedError, NotSupportedError, OCPPError
from .messages import Call, MessageType, unpack, validate_payload
from .routing import create_route_map

__all__ = [
    "LOGGER",
    "ChargePoint",
    "Field",
    "asdict",
    "camel_to_snake_case",
    "is_dataclass",
    "remove_nones",
    "serialize_as_dict",
    "snake_to_camel_case",
]

LOGGER = logging.getLogger("ocpp")
_fast: Any = _speedups.load("_compat_fast")[0]

# --- case conversion ----------------------------------------------------------------------------
#
# The public functions convert exactly as mobilityhouse does, quirks included (user code calls
# them and indexes free-form dicts by the names they produce). Each key is converted once and
# remembered: payload keys come from a small set, so the regular expressions run once per key.

_CACHE_LIMIT = _fast.CACHE_LIMIT  # keys remembered per table; beyond it converted every time
# camelCase -> snake_case: in ocppfast._compat_fast (compiled when the extensions are built)
_snake_keys: dict[Any, str] = _fast.snake_keys
_snake_dict = _fast.snake_dict
_snake_list = _fast.snake_list
_camel_keys: dict[Any, str] = {}


def _camel_key_uncached(key: Any) -> str:
    # The replacements run in this order, anywhere in the key (so "associated" -> "asSoCiated").
    out = (
        key.replace("soc", "SoC")
        .replace("_v2x", "V2X")
        .replace("ocpp_csms_url", "ocppCsmsUrl")
        .replace("csms", "CSMS")
        .replace("_url", "URL")
        .replace("soc", "SoC")
        .replace("_SoCket", "Socket")
        .replace("_v2x", "V2X")
        .replace("soc_limit_reached", "SOCLimitReached")
        .replace("_v2x", "V2X")
        .replace("_v2g", "V2G")
    )
    first, *rest = out.split("_")
    return str(first + "".join(part[:1].upper() + part[1:] for part in rest))


def _camel_key(key: Any, table: dict[Any, str]) -> str:
    out = _camel_key_uncached(key)
    if len(table) < _CACHE_LIMIT:
        table[key] = out
    return out


def camel_to_snake_case(data: Any) -> Any:
    """Convert the keys of every dict inside ``data`` from camelCase to snake_case."""
    if isinstance(data, dict):
        return _snake_dict(data)
    if isinstance(data, list):
        return _snake_list(data)
    return data


def snake_to_camel_case(data: Any) -> Any:
    """Convert the keys of every dict inside ``data`` from snake_case to camelCase."""
    return _to_camel(data, _camel_keys)


def _to_camel(data: Any, table: dict[Any, str]) -> Any:
    if isinstance(data, dict):
        known = table.get
        out = {}
        for key, value in data.items():
            new = known(key)
            if new is None:
                new = _camel_key(key, table)
            out[new] = _to_camel(value, table) if isinstance(value, (dict, list)) else value
        return out
    if isinstance(data, list):
        return [_to_camel(v, table) if isinstance(v, (dict, list)) else v for v in data]
    return data


# OCPP 2.1 has 43 wire keys that the generic rules cannot produce (``limit_L2``, ``fixedPF``,
# ``priceScheduleID``, ``receiptUrl``, ``soC`` next to ``soc``, ...). For 2.1 payloads this
# ChargePoint sends, keys are looked up per payload type in the generated tables of
# ``ocppfast.compat.v21._keys`` (schema position decides, so ``soc`` and ``soC`` both come out
# right); keys the schema does not know (free-form ``data``, extras) keep the generic rules.
# Incoming keys keep the generic conversion everywhere: handlers rely on the names it gives.
_typed_versions: dict[Any, Any] = {}


def _typed_keys(version: Any) -> Any:
    """The generated key tables of ``version`` when its outgoing keys need them, else None."""
    try:
        return _typed_versions[version]
    except KeyError:
        pass
    except TypeError:
        return None
    keys: Any = None
    if version == "2.1":
        from .v21 import _keys

        keys = _keys
    _typed_versions[version] = keys
    return keys


# --- dataclasses to payloads --------------------------------------------------------------------


def _is_dataclass_instance(value: Any) -> bool:
    if type(value) in _field_names:  # a dataclass already serialized once
        return True
    return is_dataclass(value) and not isinstance(value, type)


def _is_optional_field(field: Field[Any]) -> bool:
    """Whether ``field``'s annotation allows ``None`` (``Optional[X]``, ``Union[X, None]``)."""
    return get_origin(field.type) is Union and type(None) in get_args(field.type)


def serialize_as_dict(dataclass: Any) -> dict[str, Any]:
    """``dataclasses.asdict(dataclass)``, with nested dataclasses (also in lists) converted."""
    out: dict[str, Any] = asdict(dataclass)
    for name in dataclass.__dataclass_fields__:
        value = getattr(dataclass, name)
        if _is_dataclass_instance(value):
            out[name] = serialize_as_dict(value)
        elif isinstance(value, list):
            out[name] = [serialize_as_dict(v) if _is_dataclass_instance(v) else v for v in value]
    return out


def remove_nones(data: Any) -> Any:
    """Drop ``None`` values from dicts and ``None`` items from lists, recursively."""
    if isinstance(data, dict):
        return {k: remove_nones(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [remove_nones(v) for v in data if v is not None]
    return data


_field_names: dict[type, tuple[str, ...]] = {}
# dataclass -> ((field name, wire key), ...): the generic key conversion of each field (the
# shared table's), done once per class.
_wire_fields: dict[type, tuple[tuple[str, str], ...]] = {}


def _wire_payload(obj: Any, table: dict[Any, str]) -> dict[str, Any]:
    """``snake_to_camel_case(remove_nones(serialize_as_dict(obj)))`` in one pass."""
    cls = type(obj)
    pairs = _wire_fields.get(cls) if table is _camel_keys else None
    if pairs is None:
        names = _field_names.get(cls)
        if names is None:
            if not _is_dataclass_instance(obj):
                raise TypeError("asdict() should be called on dataclass instances")
            names = _field_names[cls] = tuple(f.name for f in fields(obj))
        pairs = tuple((name, table.get(name) or _camel_key(name, table)) for name in names)
        if table is _camel_keys and len(_wire_fields) < _CACHE_LIMIT:
            _wire_fields[cls] = pairs
    out = {}
    for name, key in pairs:
        value = getattr(obj, name)
        if value is None:
            continue
        kind = type(value)
        if kind is not str and kind is not int and kind is not float and kind is not bool:
            value = _wire_value(value, table)
        out[key] = value
    return out


# Types _wire_value passes through as they are, learnt once per type (enums, mostly): neither a
# dict, a list, a tuple nor a dataclass (classes themselves, whose type is a metaclass, are
# never learnt).
_leaf_types: set[type] = set()


def _wire_value(value: Any, table: dict[Any, str]) -> Any:
    kind = type(value)
    if kind in _leaf_types:
        return value
    if isinstance(value, dict):
        known = table.get
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            key = known(k)
            if key is None:
                key = _camel_key(k, table)
            out[key] = _wire_value(v, table)
        return out
    if isinstance(value, list):
        return [_wire_value(v, table) for v in value if v is not None]
    if _is_dataclass_instance(value):
        return _wire_payload(value, table)
    if isinstance(value, tuple):
        # mobilityhouse converts dataclasses inside tuples but neither drops Nones nor renames
        # keys there: keep that.
        return _plain(value)
    if not isinstance(value, type) and len(_leaf_types) < _CACHE_LIMIT:
        _leaf_types.add(kind)
    return value


def _plain(value: Any) -> Any:
    """What ``dataclasses.asdict`` makes of a value nested in a field."""
    if _is_dataclass_instance(value):
        return asdict(value)
    if isinstance(value, tuple):
        items = [_plain(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


_NO_KEYS: dict[str, tuple[str, str | None]] = {}


def _typed_wire(value: Any, type_name: str, to_wire: dict[str, Any]) -> Any:
    """Like :func:`_wire_payload`, with keys taken from the schema type ``type_name``."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif _is_dataclass_instance(value):
        names = _field_names.get(type(value))
        if names is None:
            names = _field_names[type(value)] = tuple(f.name for f in fields(value))
        items = [(name, getattr(value, name)) for name in names]
    else:
        return _wire_value(value, _camel_keys)
    spec = to_wire.get(type_name, _NO_KEYS)
    out = {}
    for name, item in items:
        if item is None:
            continue
        entry = spec.get(name)
        if entry is None:
            key = _camel_keys.get(name)
            if key is None:
                key = _camel_key(name, _camel_keys)
            out[key] = _wire_value(item, _camel_keys)
            continue
        key, nested = entry
        if nested is None:
            out[key] = _wire_value(item, _camel_keys)
        elif isinstance(item, list):
            out[key] = [_typed_wire(v, nested, to_wire) for v in item if v is not None]
        else:
            out[key] = _typed_wire(item, nested, to_wire)
    return out


def _outgoing_payload(obj: Any, version: Any, action: Any, response: bool) -> Any:
    """The wire payload of ``obj`` (a dataclass or dict), a request or a response of ``action``."""
    keys = _typed_keys(version)
    if keys is not None:
        try:
            types = keys.ACTIONS.get(action)
        except TypeError:
            types = None
        if types is not None and types[response] is not None:
            return _typed_wire(obj, types[response], keys.TO_WIRE)
    if isinstance(obj, dict):
        return _wire_value(obj, _camel_keys)
    return _wire_payload(obj, _camel_keys)


# --- handler calling conventions ----------------------------------------------------------------

_wants_id: dict[Any, bool] = {}
# messages.validate_payload never waits (msgspec validates inline); while it is the one in use
# (not patched), its synchronous body is called directly, saving a coroutine per message.
_VALIDATE_PAYLOAD = validate_payload


def _is_awaitable(value: Any) -> bool:
    kind = type(value)
    if kind is CoroutineType:
        return True
    return kind not in _field_names and inspect.isawaitable(value)


_sync_handlers: dict[Any, bool] = {}


def _is_sync_handler(handler: Any) -> bool:
    """Whether ``handler`` (an ``@on`` wrapper, bound) wraps a plain function, not a coroutine
    function: its answer can be sent without waiting."""
    key = getattr(handler, "__func__", handler)
    try:
        return _sync_handlers[key]
    except (KeyError, TypeError):
        pass
    try:
        sync = not inspect.iscoroutinefunction(inspect.unwrap(key))
    except Exception:  # noqa: BLE001 - an odd callable: take the general path
        sync = False
    try:
        if len(_sync_handlers) < _CACHE_LIMIT:
            _sync_handlers[key] = sync
    except TypeError:
        pass
    return sync


def _takes_call_unique_id(handler: Any) -> bool:
    """Whether ``call_unique_id`` is a named parameter of ``handler`` (``**kwargs`` is not)."""
    key = getattr(handler, "__func__", handler)
    try:
        return _wants_id[key]
    except (KeyError, TypeError):
        pass
    try:
        wanted = "call_unique_id" in inspect.signature(handler).parameters
    except (TypeError, ValueError):
        wanted = False
    try:
        if len(_wants_id) < _CACHE_LIMIT:
            _wants_id[key] = wanted
    except TypeError:  # an unhashable callable
        pass
    return wanted


_ACTION_ENUMS = {
    "1.6": ".v16.enums",
    "2.0": ".v201.enums",
    "2.0.1": ".v201.enums",
    "2.1": ".v21.enums",
}


def _raise_key_error(action: Any, version: Any) -> None:
    """Raise NotImplementedError when ``action`` belongs to ``version`` (no handler registered)
    and NotSupportedError when it does not.

    OCPP 2.1 is checked against its own actions (mobilityhouse 2.1.0 returned without raising,
    so the CALL went unanswered).
    """
    package = _ACTION_ENUMS.get(version) if isinstance(version, str) else None
    if package is None:
        return
    actions: Any = importlib.import_module(package, __package__).Action
    try:
        actions(action)
    except (ValueError, TypeError):
        raise NotSupportedError(
            details={"cause": f"{action} not supported by OCPP{version}."}
        ) from None
    raise NotImplementedError(details={"cause": f"No handler for {action} registered."})


def _call_error_json(msg: Any, exc: BaseException) -> str:
    if isinstance(exc, OCPPError) and not hasattr(exc, "code"):
        exc = InternalError(details={})  # a bare OCPPError has no code to put on the wire
    text: str = msg.create_call_error(exc).to_json()
    return text


_CALL_FRAME = re.compile(r"\s*\[\s*([234])\s*,")
_CALL_FRAME_BYTES = re.compile(rb"\s*\[\s*([234])\s*,")


def _frame_kind(raw: Any) -> int:
    """2, 3 or 4 when ``raw`` looks like that OCPP-J message type; 0 otherwise."""
    m: re.Match[Any] | None
    if isinstance(raw, str):
        m = _CALL_FRAME.match(raw)
    elif isinstance(raw, (bytes, bytearray)):
        m = _CALL_FRAME_BYTES.match(raw)
    else:
        return 0
    return int(m.group(1)) if m is not None else 0


class _ReadAhead:
    """Frames that ``start()`` read from ``connection`` while a handler was suspended."""

    __slots__ = ("connection", "error", "frames", "recv")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.frames: deque[Any] = deque()  # CALLs (and anything else) waiting their turn
        self.recv: asyncio.Future[Any] | None = None  # a recv() running ahead
        self.error: BaseException | None = None  # what recv() raised meanwhile


async def _first_done(a: asyncio.Future[Any], b: asyncio.Future[Any]) -> None:
    waiter = asyncio.get_running_loop().create_future()

    def wake(_: Any) -> None:
        if not waiter.done():
            waiter.set_result(None)

    a.add_done_callback(wake)
    b.add_done_callback(wake)
    try:
        await waiter
    finally:
        a.remove_done_callback(wake)
        b.remove_done_callback(wake)


class _Routed:
    """What the frame sink hands to ``start()`` (the frame is logged): ``routing``, a coroutine
    that routes it (run by ``start()`` in its task, as it runs ``route_message``), or ``error``,
    what routing it inline raised (``start()`` raises it, as ``route_message`` would have)."""

    __slots__ = ("error", "routing")

    def __init__(self, routing: Any, error: BaseException | None) -> None:
        self.routing = routing
        self.error = error


# The dispatch steps user code overrides or mocks. While none is (on the class or the instance),
# start() on ocppfast's own connection (``compat.serve``/``compat.connect``) routes each frame
# from the connection's frame callback (see ChargePoint._frame_sink); otherwise frame by frame
# through recv() as mobilityhouse does.
_STEPS = ("start", "route_message", "_handle_call", "_send", "_get_specific_response")


def _own_steps(cp: Any) -> bool:
    """Whether ``cp`` runs ChargePoint's own dispatch steps (none overridden or mocked)."""
    cls = type(cp)
    for name in _STEPS:
        if getattr(cls, name) is not _BASE_STEPS[name]:
            return False
    mine = getattr(cp, "__dict__", None)
    return not (mine and any(name in mine for name in _STEPS))


class _NotNow:
    """Returned by the inline routing when a frame needs the general (coroutine) path; nothing
    observable has happened yet."""


_NOT_NOW = _NotNow()


def _takes_frames(connection: Any) -> bool:
    """Whether ``connection`` is ocppfast's own, with its recv()/send() (frames can be pushed)."""
    from .serve import WebSocketConnection

    cls = type(connection)
    return (
        isinstance(connection, WebSocketConnection)
        and cls.recv is WebSocketConnection.recv
        and cls.send is WebSocketConnection.send
        and cls._deliver is WebSocketConnection._deliver
    )


def _own_frame_callback(connection: Any, sink: Any) -> Any:
    """Have ``connection``'s picows listener give each frame to ``sink.on_frame`` (a compiled
    call) unless the connection's class or the instance has its own ``on_ws_frame``; returns
    ``sink`` when done, else None."""
    base = _fast.FrameListener
    if type(connection).on_ws_frame is not base.on_ws_frame or "on_ws_frame" in connection.__dict__:
        return None
    connection.bind_sink(sink)
    return sink


class ChargePoint:
    """One OCPP-J connection, as mobilityhouse ``ocpp.charge_point.ChargePoint``.

    ``connection`` is anything with ``async recv()`` and ``async send(str)`` (a ``websockets``
    connection, an adapter, a test double), or ``None`` to be set later. The version subclasses
    (``ocppfast.compat.v16.ChargePoint``, ...) set ``_call``, ``_call_result`` and
    ``_ocpp_version``; they may also be set per instance.
    """

    _call: Any
    _call_result: Any
    _ocpp_version: str

    def __init__(
        self,
        id: Any,
        connection: Any,
        response_timeout: float | None = 30,
        logger: logging.Logger = LOGGER,
    ) -> None:
        self.id = id
        self._response_timeout = response_timeout
        self._connection = connection
        self.route_map: dict[Any, dict[str, Any]] = create_route_map(self)
        self._call_lock = asyncio.Lock()
        self._response_queue: asyncio.Queue[Any] = asyncio.Queue()
        self._unique_id_generator: Callable[[], Any] = uuid.uuid4
        self.logger = logger
        self._after_tasks: set[asyncio.Future[Any]] = set()
        self._read_ahead: _ReadAhead | None = None

    # --- receiving ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Receive and route messages until ``recv()`` raises or the task is cancelled.

        Each frame is routed in this task, as ``await self.route_message(frame)`` would: a
        handler runs here, and the next frame is read once it is answered. One difference from
        mobilityhouse: while a handler is suspended (awaiting ``self.call()``, say), reading goes
        on; CALLRESULT/CALLERROR frames are routed at once (so that call gets its answer instead
        of deadlocking), other frames wait their turn.

        On ocppfast's own connection (``compat.serve``/``compat.connect``) with none of the
        dispatch steps overridden, frames are routed as picows delivers them (see
        :meth:`_frame_sink`): the same order, wire text and log lines, without a task switch.
        """
        ahead = self._read_ahead
        if ahead is None or ahead.connection is not self._connection:
            ahead = self._read_ahead = _ReadAhead(self._connection)
        # On ocppfast's own connection, frames are routed from its frame callback while this
        # loop waits (no future, no task switch per frame); the routing runs in ``context``, a
        # copy of this task's, here as there, so context variables behave as in one task.
        connection = self._connection
        sink = None
        step: Any = None
        on_frame: Any = None
        if _takes_frames(connection) and _own_steps(self):
            context = contextvars.copy_context()
            step = context.run
            sink = self._frame_sink(connection, context)
            on_frame = _own_frame_callback(connection, sink)
        try:
            while True:
                if ahead.frames:
                    message = ahead.frames.popleft()
                else:
                    if ahead.error is not None:
                        error, ahead.error = ahead.error, None
                        raise error
                    if ahead.recv is not None:
                        recv, ahead.recv = ahead.recv, None
                        message = await recv
                    elif (
                        sink is not None
                        and self._connection is connection
                        and not connection._frames
                    ):
                        connection._sink = sink
                        try:
                            message = await connection.recv()
                        finally:
                            connection._sink = None
                    else:
                        message = await self._connection.recv()
                    if type(message) is not _Routed:
                        self.logger.info("%s: receive message %s", self.id, message)
                if type(message) is _Routed:  # from the sink: logged, and begun or failed
                    if message.error is not None:
                        raise message.error
                    routing = message.routing
                else:
                    routing = self.route_message(message)
                if type(routing) is not CoroutineType:
                    await routing  # an overridden route_message returning another awaitable
                    continue
                try:
                    # most frames are routed without waiting
                    waiting = routing.send(None) if step is None else step(routing.send, None)
                except StopIteration:
                    continue
                await self._route_in_task(routing, waiting, ahead, step)
        finally:
            if ahead.recv is not None and not ahead.recv.done():
                ahead.recv.cancel()
                ahead.recv = None
            if on_frame is not None and connection.frame_sink is on_frame:
                connection.bind_sink(None)

    def _frame_sink(self, connection: Any, context: Any) -> Any:
        """The callback ``connection`` gives each frame to while ``start()`` waits for one.

        It does what ``start()`` would do next (log the frame, run ``route_message``) right away,
        in ``context`` (``start()``'s context copy); a frame routed without waiting (a sync
        handler, or a CALLRESULT) is done there, by the flat path of
        ``ocppfast._compat_fast.Sink``. One that has to wait (an async handler) is handed to
        ``start()`` to finish, and the frames after it queue until then, so CALLs are still
        handled one after another in order. False (the frame is queued for ``recv()`` as
        usual): a dispatch step was overridden or mocked since ``start()`` began, or
        ``_connection`` was swapped.
        """
        from .serve import WebSocketConnection

        direct = type(connection)._write is WebSocketConnection._write
        return _fast.Sink(self, connection, context, direct)

    def _route_reply_now(self, message: Any) -> Any:
        """A CALLRESULT / CALLERROR to the response queue, as ``route_message``; else
        ``_NOT_NOW``."""
        try:
            msg = unpack(message)
        except OCPPError:
            return _NOT_NOW
        kind = msg.message_type_id
        if kind == MessageType.CallResult or kind == MessageType.CallError:
            self._response_queue.put_nowait(msg)
            return None
        return _NOT_NOW

    def _call_now(self, unique_id: Any, action: Any, payload: Any, write: Any) -> Any:
        """A CALL, step by step (``_handle_call`` without coroutines) or ``_NOT_NOW``."""
        try:
            handlers = self.route_map[action]
            handler = handlers["_on_action"]
        except (KeyError, TypeError):
            return _NOT_NOW
        if validate_payload is not _VALIDATE_PAYLOAD or not _is_sync_handler(handler):
            return _NOT_NOW
        func = getattr(handler, "__func__", None)
        if func is not None and len(_inline_handlers) < _CACHE_LIMIT:
            # a bound @on handler, known sync: the flat path takes it from now on
            _inline_handlers[func] = (_wrapped_by_on(handler), _takes_call_unique_id(handler))
        msg = Call(unique_id, action, payload)
        try:
            return self._handle_call_now(msg, handlers, handler, write)
        except OCPPError as error:
            self.logger.exception("Error while handling request '%s'", msg)
            write(_call_error_json(msg, error))
            return None
        finally:
            _learn_flat_types(action, self._ocpp_version)

    def _handle_call_now(
        self, msg: Any, handlers: Any, handler: Any, write: Callable[..., None]
    ) -> Any:
        """``_handle_call`` for a sync handler, sending with ``write``."""
        version = self._ocpp_version  # the answer is validated for it, as _handle_call does
        skip = handlers.get("_skip_schema_validation", False)
        if not skip:
            _messages._validate_payload(msg, version)
        kwargs = camel_to_snake_case(msg.payload)
        try:
            if _takes_call_unique_id(handler):
                response = handler(**kwargs, call_unique_id=msg.unique_id)
            else:
                response = handler(**kwargs)
            if _is_awaitable(response):
                return self._finish_call(msg, handlers, kwargs, skip, response, write, version)
        except Exception as e:
            self.logger.exception("Error while handling request '%s'", msg)
            write(_call_error_json(msg, e))
            return None
        if validate_payload is not _VALIDATE_PAYLOAD:  # patched by the handler
            return self._answer_late(msg, handlers, kwargs, skip, response, version)
        result = self._result(msg, response, skip, version)
        write(result.to_json())
        self._run_after(handlers, kwargs, msg, result.payload)
        return None

    async def _finish_call(
        self,
        msg: Any,
        handlers: Any,
        kwargs: Any,
        skip: Any,
        awaitable: Any,
        write: Callable[..., None],
        version: Any,
    ) -> None:
        """The rest of :meth:`_handle_call_now` once a sync handler returned an awaitable."""
        try:
            try:
                response = await awaitable
            except Exception as e:
                self.logger.exception("Error while handling request '%s'", msg)
                write(_call_error_json(msg, e))
                return
            if validate_payload is not _VALIDATE_PAYLOAD:  # patched meanwhile
                await self._answer_late(msg, handlers, kwargs, skip, response, version)
                return
            result = self._result(msg, response, skip, version)
            write(result.to_json())
            self._run_after(handlers, kwargs, msg, result.payload)
        except OCPPError as error:
            self.logger.exception("Error while handling request '%s'", msg)
            write(_call_error_json(msg, error))

    def _result(self, msg: Any, response: Any, skip: Any, version: Any) -> Any:
        """The CALLRESULT answering ``msg`` with a handler's ``response`` (validated inline for
        ``version`` unless ``skip``)."""
        result = msg.create_call_result(self._reply_payload(msg, response))
        if not skip:
            _messages._validate_payload(result, version)
        return result

    def _run_after(self, handlers: Any, kwargs: Any, msg: Any, payload: Any) -> Any:
        """Run the ``@after`` hook of a CALL answered with ``payload`` (the wire payload): a
        sync one inline (its KeyError ignored, as in mobilityhouse), an async one in the
        background. Its outcome, or ``_NOT_NOW`` when there is none (no hook, or its KeyError).

        A hook marked ``@after(action, inject_response=True)`` (mobilityhouse after 2.1.0)
        also gets ``call_response=``, the answer's payload as sent (camelCase, no ``None``).
        """
        try:
            after = handlers["_after_action"]
            extra: dict[str, Any] = {}
            if getattr(after, "_inject_response", False) is True:
                extra["call_response"] = payload
            if _takes_call_unique_id(after):
                outcome = after(**kwargs, **extra, call_unique_id=msg.unique_id)
            else:
                outcome = after(**kwargs, **extra)
            if _is_awaitable(outcome):
                self._track_after(asyncio.ensure_future(outcome), msg)
            return outcome
        except KeyError:
            return _NOT_NOW  # no @after hook (or it raised KeyError; mobilityhouse ignores it too)

    async def _route_in_task(
        self, routing: Any, waiting: Any, ahead: _ReadAhead, step: Any = None
    ) -> None:
        """Finish ``routing`` (a route_message coroutine that yielded ``waiting``) step by step
        in this task, as ``await`` would (the handler sees this task as current), reading
        further frames whenever it waits on a future."""
        error: BaseException | None = None
        while True:
            if waiting is None:  # a bare yield (asyncio.sleep(0)): let the loop run once
                try:
                    await asyncio.sleep(0)
                except BaseException as exc:  # noqa: BLE001 - it is the handler's, as inline
                    error = exc
            elif getattr(waiting, "_asyncio_future_blocking", None) is not True:
                error = RuntimeError(f"Task got bad yield: {waiting!r}")
            else:
                waiting._asyncio_future_blocking = False
                try:
                    await self._receive_while_waiting(waiting, ahead)
                except asyncio.CancelledError as exc:
                    # This task was cancelled (by its owner, or an asyncio.timeout() in the
                    # handler): inline, the future the handler awaits would be cancelled.
                    if not waiting.cancel():
                        error = exc
                except BaseException as exc:  # noqa: BLE001
                    error = exc
            try:
                if error is None:
                    waiting = routing.send(None) if step is None else step(routing.send, None)
                elif step is None:
                    waiting, error = routing.throw(error), None
                else:
                    waiting, error = step(routing.throw, error), None
            except StopIteration:
                return

    async def _receive_while_waiting(self, waiting: asyncio.Future[Any], ahead: _ReadAhead) -> None:
        while not waiting.done():
            if ahead.error is not None:
                await asyncio.wait((waiting,))
                return
            recv = ahead.recv
            if recv is None:
                recv = ahead.recv = asyncio.ensure_future(self._connection.recv())
            if not recv.done():
                await _first_done(waiting, recv)
                if not recv.done():
                    continue
            ahead.recv = None
            if recv.cancelled():
                ahead.error = asyncio.CancelledError()
                continue
            error = recv.exception()
            if error is not None:
                ahead.error = error  # raised by start() once the handler is done
                continue
            message = recv.result()
            self.logger.info("%s: receive message %s", self.id, message)
            kind = _frame_kind(message)
            if kind == 3 or kind == 4:
                await self.route_message(message)
            else:
                ahead.frames.append(message)

    async def route_message(self, raw_msg: Any) -> None:
        """Route one frame: a CALL to its handler, a CALLRESULT/CALLERROR to ``call()``."""
        try:
            msg = unpack(raw_msg)
        except OCPPError as e:
            self.logger.exception(
                "Unable to parse message: '%s', it doesn't seem to be valid OCPP: %s",
                raw_msg,
                e,  # noqa: TRY401 - mobilityhouse's log line names the error
            )
            return
        if msg.message_type_id == MessageType.Call:
            try:
                await self._handle_call(msg)
            except OCPPError as error:
                self.logger.exception("Error while handling request '%s'", msg)
                await self._send(_call_error_json(msg, error))
        elif msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            self._response_queue.put_nowait(msg)

    async def _handle_call(self, msg: Any) -> Any:
        """Validate, run the ``@on`` handler, send its answer, then run the ``@after`` hook."""
        version = self._ocpp_version
        try:
            handlers = self.route_map[msg.action]
        except (KeyError, TypeError):  # TypeError: an action that is not even hashable
            _raise_key_error(msg.action, version)
            raise NotImplementedError(
                details={"cause": f"No handler for {msg.action} registered."}
            ) from None
        skip = handlers.get("_skip_schema_validation", False)
        if not skip:
            if validate_payload is _VALIDATE_PAYLOAD:
                _messages._validate_payload(msg, version)
            else:
                await validate_payload(msg, version)
        kwargs = camel_to_snake_case(msg.payload)
        try:
            handler = handlers["_on_action"]
        except KeyError:
            _raise_key_error(msg.action, version)
            raise NotImplementedError(
                details={"cause": f"No handler for {msg.action} registered."}
            ) from None
        try:
            if _takes_call_unique_id(handler):
                response = handler(**kwargs, call_unique_id=msg.unique_id)
            else:
                response = handler(**kwargs)
            if _is_awaitable(response):
                response = await response
        except Exception as e:
            self.logger.exception("Error while handling request '%s'", msg)
            await self._send(_call_error_json(msg, e))
            return None
        return await self._answer(msg, handlers, kwargs, skip, response, version)

    async def _answer(
        self, msg: Any, handlers: Any, kwargs: Any, skip: Any, response: Any, version: Any
    ) -> Any:
        """The end of :meth:`_handle_call`: the handler's ``response`` validated (with the
        module's ``validate_payload`` as it is now), sent, then the ``@after`` hook."""
        result = msg.create_call_result(self._reply_payload(msg, response))
        if not skip:
            if validate_payload is _VALIDATE_PAYLOAD:
                _messages._validate_payload(result, version)
            else:
                await validate_payload(result, version)
        await self._send(result.to_json())
        outcome = self._run_after(handlers, kwargs, msg, result.payload)
        return result if outcome is _NOT_NOW else outcome

    async def _answer_late(
        self, msg: Any, handlers: Any, kwargs: Any, skip: Any, response: Any, version: Any
    ) -> None:
        """:meth:`_answer` for the flat path, whose handler patched a validation function while
        it ran (the general path validates its answer with the patched one), with
        :meth:`route_message`'s answer to an ``OCPPError``."""
        try:
            await self._answer(msg, handlers, kwargs, skip, response, version)
        except OCPPError as error:
            self.logger.exception("Error while handling request '%s'", msg)
            await self._send(_call_error_json(msg, error))

    def _reply_payload(self, msg: Any, response: Any) -> Any:
        """The wire payload of a handler's answer: a dataclass as mobilityhouse sends it; a dict
        the same way (keys converted, ``None`` dropped); ``None`` as ``{}``."""
        if type(response) in _field_names or isinstance(response, dict):
            return _outgoing_payload(response, self._ocpp_version, msg.action, True)
        if response is None:
            return {}
        if _is_dataclass_instance(response):
            return _outgoing_payload(response, self._ocpp_version, msg.action, True)
        self.logger.error(
            "Handler for %s returned %s, not a call_result dataclass, dict or None",
            msg.action,
            type(response).__name__,
        )
        raise InternalError(details={"cause": "The handler returned no valid response."})

    def _track_after(self, task: asyncio.Future[Any], msg: Any) -> None:
        # An async @after hook runs on its own (never delays the next message); a reference is
        # kept until it ends and its failure is logged rather than lost.
        tasks = self._after_tasks
        tasks.add(task)

        def done(t: asyncio.Future[Any]) -> None:
            tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.logger.error(
                    "Error in after-handler for request '%s'", msg, exc_info=t.exception()
                )

        task.add_done_callback(done)

    # --- sending --------------------------------------------------------------------------------

    async def call(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: Any = None,
        skip_schema_validation: bool = False,
    ) -> Any:
        """Send ``payload`` (a ``call`` dataclass) as a CALL and return the ``call_result``.

        A CALLERROR returns ``None`` (``suppress=True``) or raises its exception; no answer
        within ``response_timeout`` raises ``TimeoutError``.
        """
        action = payload.__class__.__name__
        if not _is_dataclass_instance(payload):
            raise TypeError("asdict() should be called on dataclass instances")
        body = _outgoing_payload(payload, self._ocpp_version, action, False)
        unique_id = unique_id if unique_id is not None else str(self._unique_id_generator())
        call = Call(unique_id=unique_id, action=action, payload=body)
        if not skip_schema_validation:
            await validate_payload(call, self._ocpp_version)
        async with self._call_lock:
            await self._send(call.to_json())
            try:
                response = await self._get_specific_response(call.unique_id, self._response_timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"Waited {self._response_timeout}s for response on {call.to_json()}."
                ) from None
        if response.message_type_id == MessageType.CallError:
            self.logger.warning("Received a CALLError: %s'", response)
            if suppress:
                return None
            raise response.to_exception()
        if not skip_schema_validation:
            response.action = call.action
            await validate_payload(response, self._ocpp_version)
        return getattr(self._call_result, action)(**camel_to_snake_case(response.payload))

    async def _get_specific_response(self, unique_id: Any, timeout: float | None) -> Any:
        """The response with ``unique_id`` from the queue; others are logged and dropped."""
        queue = self._response_queue
        wait_until = None if timeout is None else time.time() + timeout
        while True:
            if not queue.empty():
                response = queue.get_nowait()
            elif asyncio.current_task() is not None:
                # the same wait as asyncio.wait_for(queue.get(), timeout), without a task of
                # its own per call (the cost of a fan-out to many stations)
                async with asyncio.timeout(timeout):
                    response = await queue.get()
            else:
                response = await asyncio.wait_for(queue.get(), timeout)
            if response.unique_id == unique_id:
                return response
            self.logger.error("Ignoring response with unknown unique id: %s", response)
            if wait_until is not None:
                timeout = wait_until - time.time()
                if timeout < 0:
                    raise TimeoutError

    async def _send(self, message: str) -> None:
        self.logger.info("%s: send %s", self.id, message)
        await self._connection.send(message)


_BASE_STEPS: dict[str, Any] = {name: getattr(ChargePoint, name) for name in _STEPS}
_UNPACK = unpack
_VALIDATE_NOW = _messages._validate_payload
_CAMEL_TO_SNAKE = camel_to_snake_case
_decode_json = _messages._decode
_convert = msgspec.convert
_dumps = _messages._dumps
_by_message = _messages._by_message
# @on handler functions known to be sync -> (the function @on wrapped, or None to call the
# handler as it is; whether it takes call_unique_id): what the flat path calls.
_inline_handlers: dict[Any, tuple[Any, bool]] = {}
_encode = msgspec.json.encode
# version -> action -> (request type, response type) for the flat path: the validators'
# msgspec types, once both were used (validated) and neither needs Decimal numbers.
_flat_types: dict[Any, dict[Any, tuple[Any, Any]]] = {}


def _learn_flat_types(action: Any, version: Any) -> None:
    try:
        request = _by_message[action, 2, version]
        answer = _by_message[action, 3, version]
    except (KeyError, TypeError):
        return
    if not request.decimal and not answer.decimal and type(action) is str:
        known = _flat_types.setdefault(version, {})
        if len(known) < _CACHE_LIMIT:
            known[action] = (request.type, answer.type)


def _wrapped_by_on(handler: Any) -> Any:
    """The function an ``@on`` wrapper of routing.py calls (so the flat path calls it as the
    wrapper does, one frame less), or None for any other callable."""
    func: Any = getattr(handler, "__func__", None)
    code = getattr(func, "__code__", None)
    if code is None or code is not _ON_WRAPPER_CODE or getattr(handler, "__self__", None) is None:
        return None
    cell = func.__closure__[code.co_freevars.index("func")]
    return cell.cell_contents


def _on_wrapper_code() -> Any:
    from . import routing

    for const in routing._wrap.__code__.co_consts:
        if getattr(const, "co_name", None) == "inner":
            return const
    return None


_ON_WRAPPER_CODE = _on_wrapper_code()
_ROUTE_MESSAGE = ChargePoint.route_message
_HANDLE_CALL = ChargePoint._handle_call
_SEND = ChargePoint._send
_fast.bind(sys.modules[__name__])
