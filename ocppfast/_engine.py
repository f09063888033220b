"""One connection's OCPP-J RPC state: pending calls, the one-outstanding-CALL queue, dispatch.

Knows nothing about sockets: it is given bytes (:meth:`Engine.receive`, or picows frames through
:meth:`Engine.feed`) and a transport with ``send(msg_type, data)``, ``send_close(code, reason)``
and ``disconnect()``. One source, two speeds: compiled by Cython with ``_engine_c.pxd`` into
``ocppfast._engine_c``, or imported as is; ``ocppfast.engine`` picks one.

The per-frame path is: decode the envelope (``wire.decode_frame``) -> find the pending future or
the handler -> decode the payload with the action's typed decoder -> invoke -> encode the reply ->
hand the bytes to the transport. Sync handlers answer inline, without a task.

The interface, declared (``_engine_c.pxd`` exposes exactly these attributes to Python; the
others are private to this module, and other modules change an engine only through its methods;
tests/test_engine_iface.py checks both):

Attributes (public): ``max_outstanding``, ``call_timeout``, ``validate_incoming``,
``validate_outgoing``, ``accepted``, ``observer`` and ``fast_path``.

Attributes (readonly): ``loop``, ``subprotocol``, ``identity``, ``actions``, ``transport``,
``rx_count`` and ``max_unanswered_calls``.

Methods (transport side): ``attach(transport, other_frame, peer_certificate)`` for each new
connection, ``feed(transport, frame)`` (picows' frames; :class:`FrameListener` calls it),
``deliver(data)`` for a reassembled message, ``receive(data)``, ``set_fragmenting(on)``,
``pause_writing()``, ``resume_writing()``, ``peer_closed(code, reason)``,
``connection_lost()``, ``close_transport(code, reason)``, ``abort(code, reason)``,
``use_version(subprotocol, actions)``, ``set_handler(action, handler)``,
``add_after(action, hook)`` (with the module's ``handlers_changed()`` after a shared handler
table changed), and for a station kept across reconnects ``track_reconnects(versions)``,
``mark_connected()``, ``mark_disconnected()``, ``mark_closed()``, ``closed_event()``,
``connected_event()``.

User-facing API (``ocppfast.ChargePoint``, a subclass) is listed in ``charge_point.PUBLIC_API``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket as _socket
import time
from collections import deque
from typing import Any

import msgspec
import picows

from . import clock, wire
from .errors import (
    CallResultError,
    CallTimeoutError,
    ConnectionClosedError,
    InternalError,
    NotImplementedCallError,
    NotSupportedError,
    OCPPError,
    SecurityError,
    from_call_error,
    wrong_response,
)
from .validation import outgoing_error, payload_error

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_NORMAL",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_TOO_BIG",
    "CLOSE_TRY_AGAIN_LATER",
    "CLOSE_UNSUPPORTED",
    "TEXT",
    "CallGroup",
    "Engine",
    "FrameListener",
    "Sweeper",
    "call_hook",
    "handlers_changed",
    "hook_name",
]

log = logging.getLogger("ocppfast")

try:  # True when this module runs compiled (cython.compiled is a C constant there)
    import cython  # type: ignore[import-untyped]

    _COMPILED: bool = cython.compiled
except ImportError:  # pragma: no cover - Cython is not needed to run the pure module
    _COMPILED = False

if _COMPILED:  # C functions for the compiled build only (see _cut, _result_frame)
    from cython.cimports.cpython.bytes import (  # type: ignore[import-untyped]
        PyBytes_AS_STRING,
        PyBytes_FromStringAndSize,
    )
    from cython.cimports.libc.string import (  # type: ignore[import-untyped]
        memchr,
        memcmp,
        memcpy,
    )

TEXT = 1  # picows WSMsgType.TEXT; a constant so the .py does not import what the .pxd cimports
# The same as picows' C enum when compiled (see _engine_c.pxd): passed to send() as is, where the
# Python int TEXT would be converted on every call.
_WS_TEXT: Any = TEXT
_CLOSE_FRAME = 8  # picows WSMsgType.CLOSE
_SMALL_RCVBUF = 32 * 1024  # bytes; the kernel doubles it (socket(7))

# WebSocket close codes (RFC 6455 section 7.4.1), the one place they are defined.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013
_CALL = wire.CALL
_CALLRESULT = wire.CALLRESULT
_CALLERROR = wire.CALLERROR
_CALLRESULTERROR = wire.CALLRESULTERROR
_SEND = wire.SEND
_Call = wire.Call
_CallResult = wire.CallResult
_CallError = wire.CallError
_CallResultError = wire.CallResultError
_Send = wire.Send
_decode_envelope = wire.decode_envelope
_classify = wire.classify
_version_error = wire.version_error
_OCPP21 = wire.OCPP21
_encode_call = wire.encode_call
_encode_send = wire.encode_send
_encode_call_error = wire.encode_call_error
_encode_error = wire.encode_error
_encode_call_result_error = wire.encode_call_result_error
_generic_decode = msgspec.json.decode
_convert = msgspec.convert
_to_builtins = msgspec.to_builtins
_encode = msgspec.json.Encoder().encode
_Raw = msgspec.Raw
# Per message type, the last encoding that passed the schema check. Checking is a pure function of
# the bytes, and many answers repeat exactly (empty responses; a Heartbeat's time within the same
# second), so a repeat costs one bytes comparison instead of a decode with its RFC 3339 patterns.
_last_valid: dict[Any, bytes] = {}
# Per response type, a cell [the last answer that passed the check, the ocppfast.now() stamp
# current when it did (see _restamped), then compiled when every field of the type holds a
# scalar (_scalar_fields): a list for the field values of the answer those bytes encode, where
# the type's instances keep them (_slot_offsets), and whether that list holds them; else None,
# None, False]; plans keep a reference to their type's cell.
_last_answer: dict[Any, list[Any]] = {}
_last_stamp = clock.last_stamp
_monotonic = time.monotonic
# RFC 6455 section 5.2 header of an unmasked, final TEXT frame with a payload under 126 bytes:
# replies coalesced into one write (see Engine._flush) are framed here, not by picows.
_SMALL_HEADERS = [bytes((0x81, n)) for n in range(126)]


def _text_header(n: int) -> bytes:
    """The header of a server's (unmasked) final TEXT frame of ``n`` payload bytes."""
    if n < 126:
        return _SMALL_HEADERS[n]
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big")
    return b"\x81\x7f" + n.to_bytes(8, "big")


def _client_frame(data: bytes, key: bytes) -> bytes:
    """A client's final TEXT frame of ``data``, masked with the 4-byte ``key`` (RFC 6455
    section 5.3: octet i of the payload XOR octet i modulo 4 of the key)."""
    n = len(data)
    if n < 126:
        header = bytes((0x81, 0x80 | n))
    elif n < 65536:
        header = b"\x81\xfe" + n.to_bytes(2, "big")
    else:
        header = b"\x81\xff" + n.to_bytes(8, "big")
    if _COMPILED:
        masked = PyBytes_FromStringAndSize(cython.NULL, n)
        out = cython.cast(cython.p_uchar, PyBytes_AS_STRING(masked))
        src = cython.cast(cython.p_uchar, data)
        mask = cython.cast(cython.p_uchar, key)
        for i in range(n):
            out[i] = src[i] ^ mask[i & 3]
    else:  # the whole payload as one integer: a byte loop would cost ~50x more
        stretched = (key * (n // 4 + 1))[:n]
        masked = (int.from_bytes(data, "little") ^ int.from_bytes(stretched, "little")).to_bytes(
            n, "little"
        )
    return header + key + masked  # type: ignore[no-any-return]


def _cut(data: Any, start: Any, end: Any) -> bytes:
    """``data[start:end]`` as bytes; compiled, ``data`` is a pointer to the bytes (those of a
    bytes object, or picows' read buffer) and the ones in between are copied, without the slice
    object and the boxed indices a slice of a Python object takes (~500 instructions)."""
    if _COMPILED:
        return data[start:end]  # type: ignore[no-any-return]
    return data[start:end]  # type: ignore[no-any-return]


def _put_result(out: Any, id_json: bytes, payload: bytes) -> None:
    """Compiled only: write ``[3,<id_json>,<payload>]`` at ``out`` (room for all of it)."""
    n_id = len(id_json)
    n_payload = len(payload)
    out[0] = 91  # [
    out[1] = 51  # 3
    out[2] = 44  # ,
    memcpy(out + 3, cython.cast(cython.p_char, id_json), n_id)
    out[3 + n_id] = 44  # ,
    memcpy(out + 4 + n_id, cython.cast(cython.p_char, payload), n_payload)
    out[4 + n_id + n_payload] = 93  # ]


def _result_frame(id_json: bytes, payload: bytes) -> bytes:
    """``[3,<id_json>,<payload>]``: the same bytes as encoding the CALLRESULT array, from bytes
    at hand; compiled, copied into one new bytes object (``bytes.join`` would take a tuple and
    a buffer export of each part)."""
    if _COMPILED:
        frame = PyBytes_FromStringAndSize(cython.NULL, len(id_json) + len(payload) + 5)
        _put_result(PyBytes_AS_STRING(frame), id_json, payload)
        return frame  # type: ignore[no-any-return]
    return b"".join((b"[3,", id_json, b",", payload, b"]"))


# Room for picows' WebSocket header (at most 14 bytes) in front of a frame assembled by
# _send_result, and the largest frame it assembles; larger answers take _result_frame.
_HEADER_ROOM = 16
_STACK_FRAME = 1040 - _HEADER_ROOM  # 1040: the size of _send_result's buffer


def _send_result(ws: Any, id_json: bytes, payload: bytes) -> bool:
    """Compiled only: send ``[3,<id_json>,<payload>]`` (the bytes :func:`_result_frame` makes)
    assembled on the C stack behind room for the WebSocket header, with picows'
    ``send_reuse_external_buffer``, which frames it in place (masking it in place on a client)
    and writes it; what the socket does not take at once picows copies before returning. No
    bytes object is made and picows copies nothing on the way. False, with nothing sent, when the
    frame is longer than ``_STACK_FRAME`` bytes."""
    buf = cython.declare(cython.char[1040])  # _HEADER_ROOM + _STACK_FRAME
    n = len(id_json) + len(payload) + 5
    if n > _STACK_FRAME:
        return False
    out = cython.cast(cython.p_char, buf) + _HEADER_ROOM
    _put_result(out, id_json, payload)
    ws.send_reuse_external_buffer(_WS_TEXT, out, n)
    return True


def _same(data: Any, start: Any, end: Any, key: bytes) -> bool:
    """``data[start:end] == key``; compiled, compared in place (``data`` as for :func:`_cut`)."""
    if _COMPILED:
        n = end - start
        if n != len(key):
            return False
        same: bool = memcmp(data + start, cython.cast(cython.p_char, key), n) == 0
        return same
    return data[start:end] == key  # type: ignore[no-any-return]


# The last CALL tail made by _call_tail: [action name, its Raw payload, the tail's bytes].
_last_tail: list[Any] = [None, None, b""]


def _call_tail(action_name: str, payload: Any) -> bytes:
    """``","<action>",<payload>]``: the end of a CALL frame, the same for every station of a
    fan-out (its Raw payload is one object); kept for the last one asked for."""
    last = _last_tail
    if last[1] is payload and last[0] == action_name:
        return last[2]  # type: ignore[no-any-return]
    tail = b'",' + _encode(action_name) + b"," + bytes(payload) + b"]"
    last[0] = action_name
    last[1] = payload
    last[2] = tail
    return tail


def _restamped(checked: bytes, old: bytes, payload: bytes, new: bytes) -> bool:
    """Whether ``payload`` is ``checked`` (an answer that passed its check) with every
    occurrence of ``old`` replaced by ``new``, two different ``ocppfast.now()`` stamps: then it
    passes the check too, and a handler answering with ``now()`` per call is not re-checked.

    Sound for the generated types, whose string constraints are lengths, enums and the RFC 3339
    pattern (no other pattern): a stamp has no quote or backslash, so each occurrence lies
    inside one string; both stamps have the same length and are valid date-times; a date-time
    that merely contains a stamp, or an enum value that does, cannot be valid to begin with.
    """
    if (
        len(old) != 24  # a now() stamp (b"" before the first call: nothing to replace)
        or old == new
        or len(new) != 24
        or len(payload) != len(checked)
    ):
        return False
    if not _COMPILED:
        return checked.replace(old, new) == payload
    # Compiled, the same test without making the replaced bytes: walk the occurrences of
    # ``old`` in ``checked`` left to right without overlap (as bytes.replace does); ``payload``
    # has ``new`` at each, and the bytes of ``checked`` everywhere else.
    n = len(checked)
    c = cython.cast(cython.p_char, checked)
    p = cython.cast(cython.p_char, payload)
    o = cython.cast(cython.p_char, old)
    done = 0  # checked[:done] is accounted for
    at = 0  # where the next occurrence may start
    while at + 24 <= n:
        hit = cython.cast(cython.p_char, memchr(c + at, o[0], n - 24 + 1 - at))
        if hit == cython.NULL:
            break
        at = hit - c
        if memcmp(hit, o, 24) != 0:
            at += 1
            continue
        if (
            memcmp(c + done, p + done, at - done) != 0
            or memcmp(p + at, cython.cast(cython.p_char, new), 24) != 0
        ):
            return False
        at += 24
        done = at
    same: bool = memcmp(c + done, p + done, n - done) == 0
    return same


def _scalar_fields(response: Any) -> tuple[str, ...] | None:
    """The attribute names of the fields of the Struct type ``response`` when every one holds a
    scalar (str, int, float, bool, an enum or literal value, None; optional or not), else None
    (also for a type without fields, or one that reads its attributes its own way).

    Two instances of such a type whose fields hold the same objects encode to the same bytes:
    no value held can change in place (a nested Struct or a list could). So an answer whose
    field values are those of the last answer that passed is that answer's bytes again
    (see Engine._answer): a handler answering ``HeartbeatResponse(current_time=ocppfast.now())``
    is encoded once per stamp, not once per call."""
    fields = getattr(response, "__struct_fields__", None)
    if not fields or response.__getattribute__ is not msgspec.Struct.__getattribute__:
        return None
    import msgspec.inspect as mi

    scalars = (
        mi.StrType,
        mi.IntType,
        mi.FloatType,
        mi.BoolType,
        mi.EnumType,
        mi.LiteralType,
        mi.NoneType,
    )

    def scalar(t: Any) -> bool:
        if isinstance(t, mi.Metadata):
            return scalar(t.type)
        if isinstance(t, mi.UnionType):
            return all(scalar(u) for u in t.types)
        return isinstance(t, scalars)

    try:
        info = mi.type_info(response)
    except Exception:  # noqa: BLE001 - a type msgspec cannot describe: no reuse, no harm
        return None
    if not isinstance(info, mi.StructType) or not all(scalar(f.type) for f in info.fields):
        return None
    return tuple(f.name for f in info.fields)


def _slot_offsets(response: Any, names: tuple[str, ...] | None) -> tuple[int, ...] | None:
    """Compiled: where an instance of ``response`` keeps each of the fields ``names`` (the
    offsets of their member descriptors' slots), for the engine to compare and keep the field
    values in place; None in pure Python, or when a field is not a plain slot."""
    if not _COMPILED or names is None:
        return None
    offsets = []
    for name in names:
        for klass in response.__mro__:
            if name in vars(klass):
                at = _SLOT_OFFSET(vars(klass)[name])  # type: ignore[name-defined]  # noqa: F821
                break
        else:
            return None
        if at < 0:
            return None
        offsets.append(at)
    return tuple(offsets)


def _answer_cell(response: Any) -> list[Any] | None:
    """The cell of the last answer of type ``response`` that passed its check (see
    ``_last_answer``), for tests."""
    return _last_answer.get(response)


def _id_of(id_json: bytes) -> str:
    """The unique id of a compact CALL from its JSON string (printable ASCII, no escapes: see
    Engine._fast_call), made only where it is needed (an error, an async handler)."""
    return id_json[1:-1].decode("ascii")


class Sweeper:
    """Times out pending calls of many engines with one periodic timer per event loop.

    An engine registers itself when its first call goes out; every ``interval`` seconds the sweeper
    asks each registered engine to expire calls past their deadline and drops engines with nothing
    pending. No timer handle per call (timeout precision is ``interval``).
    """

    def __init__(self, loop: Any, interval: float = 0.1) -> None:
        self.loop = loop
        self.interval = interval
        self.engines: set[Any] = set()
        self._handle: Any = None

    def add(self, engine: Any) -> None:
        self.engines.add(engine)
        if self._handle is None:
            self._handle = self.loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        self._handle = None
        now = _monotonic()
        for engine in list(self.engines):
            if not engine.expire(now):
                self.engines.discard(engine)
        if self.engines:
            self._handle = self.loop.call_later(self.interval, self._tick)


_sweepers: dict[Any, Sweeper] = {}


def sweeper_for(loop: Any) -> Sweeper:
    s = _sweepers.get(loop)
    if s is None:
        if len(_sweepers) > 16:  # forget loops that are gone (tests create many)
            for old in [lp for lp in _sweepers if lp.is_closed()]:
                del _sweepers[old]
        s = _sweepers[loop] = Sweeper(loop)
    return s


# Bumped whenever a handler table or an action registry changes (Engine.set_handler, the
# ``actions`` setter, handlers_changed()): a _Plan made before is not used again.
_epoch = 0


# Plans are shared by the engines they are equally valid for: every engine without handlers of
# its own (a central system's stations, handled by its server-wide handlers) with the same action
# registry and shared handler table finds its plans in one table here, keyed by those two
# objects' ids (the entry holds both, so neither id is reused while it exists). An engine with
# handlers of its own keeps a private table. A plan knows its table (``_Plan.table``), so an
# engine switching between a few actions finds the next one with one dict lookup.
# With the table goes the list of its plans in the order they were made (``_Plan.peers``), where
# a compact CALL's action is found by its bytes (Engine._plan_of).
_plan_tables: dict[tuple[int, int], tuple[Any, Any, dict[str, Any], list[Any]]] = {}
PLAN_TABLES = 64  # registry x handler-table pairs remembered (then forgotten, and made again)
PLANS = 256  # plans per table (an action registry is smaller; vendor actions may add some)
_PLAN_SCAN = 8  # plans of a table compared by bytes before a lookup by name (Engine._plan_of)


def handlers_changed() -> None:
    """Tell every engine that a shared handler table (a central system's) changed: the plans
    made from it (see :class:`_Plan`) are made again on their next CALL."""
    global _epoch
    _epoch += 1


def _empty_request(action: Any) -> Any:
    """The one instance a payload ``{}`` of a request type without fields (Heartbeat's) decodes
    to, or None: such an instance has no state a handler could change (no fields, no
    ``__dict__``), and no ``__post_init__`` runs on decoding, so the fast path hands the same one
    to every call instead of decoding ``{}`` each time. Any other payload is decoded (and
    ``{"x": 1}`` refused) as before."""
    request = action.request
    if not isinstance(request, type) or getattr(request, "__struct_fields__", None) != ():
        return None
    if getattr(request, "__post_init__", None) is not None:
        return None
    try:
        instance = action.request_decoder.decode(b"{}")
    except (TypeError, ValueError):
        return None
    if type(instance) is not request or hasattr(instance, "__dict__"):
        return None
    return instance


class _Plan:
    """What a CALL of one action needs on one engine, looked up once: the action, its handler
    (``shared``: a server-wide one, called with the engine), the request decoder's bound
    ``decode``, the response type, and the cell of the last answer of that type that passed
    its check. An engine keeps the plan of the last action it dispatched (stations send the
    same few actions over and over): a repeat costs a compare instead of two dict lookups,
    two attribute reads and a method lookup; another action, one lookup in the plan's
    ``table`` (see _plan_tables). Valid while ``epoch`` is the module's."""

    __slots__ = (
        "action",
        "alnum",
        "checked",
        "constant",
        "decode",
        "empty",
        "epoch",
        "follow",
        "handler",
        "key",
        "name",
        "peers",
        "response",
        "shared",
        "table",
    )

    def __init__(
        self,
        name: str,
        action: Any,
        handler: Any,
        shared: bool,
        table: dict[str, Any],
        peers: list[Any],
    ) -> None:
        self.table = table
        self.peers = peers
        self.follow: _Plan | None = None  # the plan found after this one last time (_plan_of)
        self.name = name
        self.key = name.encode("utf-8")  # compared with the bytes of a compact CALL's action
        # only ASCII letters and digits: bytes equal to the key need no JSON unescaping
        self.alnum = self.key.isalnum()
        self.action = action
        self.handler = handler
        self.shared = shared
        self.decode = action.request_decoder.decode
        self.empty = _empty_request(action)
        self.response = action.response
        # A response type without fields (StatusNotification's, MeterValues', ...): every
        # instance encodes to the same bytes, made once here (as msgspec makes them).
        self.constant = None
        if getattr(action.response, "__struct_fields__", None) == ():
            self.constant = _encode(action.response())
        checked = _last_answer.get(action.response)
        if checked is None:
            offsets = _slot_offsets(action.response, _scalar_fields(action.response))
            checked = _last_answer[action.response] = [
                None,
                b"",
                None if offsets is None else [None] * len(offsets),
                offsets,
                False,
            ]
        self.checked = checked
        self.epoch = _epoch


class _Flow:
    """An engine's rarely touched state: backpressure, the closing handshake, its tasks and
    timers. Kept apart so the per-frame path reads fewer attributes of the engine itself."""

    __slots__ = (
        "backlog",
        "close_timeout",
        "closed_event",
        "closing",
        "coalesce",
        "connected_event",
        "fragmenting",
        "hook_tasks",
        "id_counter",
        "id_factory",
        "id_prefix",
        "max_bad_messages",
        "max_frames",
        "max_write_buffer",
        "observer_failed",
        "other_frame",
        "peer_certificate",
        "queue",
        "require_boot",
        "shared_handlers",
        "small_reads",
        "sweeper",
        "tasks",
        "timers",
        "versions",
        "write_paused",
        "write_timeout",
    )

    def __init__(self, max_write_buffer: int, write_timeout: float, close_timeout: float) -> None:
        self.max_write_buffer = max_write_buffer
        self.write_timeout = write_timeout
        self.close_timeout = close_timeout
        self.closing = False
        self.coalesce = False  # server side of a picows transport: one write per read
        self.fragmenting = False
        self.write_paused = False
        self.backlog: deque[Any] | None = None
        self.timers: dict[str, Any] | None = None  # drain / close / stall timer handles
        self.tasks: set[Any] | None = None  # async handler tasks, cancelled when the link dies
        self.hook_tasks: set[Any] | None = None  # after-hook tasks (the server shares one set)
        self.max_frames = 32  # max_frames_per_tick
        self.other_frame: Any = None  # the listener's handler of non-TEXT frames and fragments
        self.peer_certificate: dict[str, Any] | None = None
        self.id_factory: Any = None
        self.shared_handlers: dict[str, Any] = {}  # the server's (see Engine.__init__)
        self.id_prefix = os.urandom(6).hex()  # unique across reconnects of this identity
        self.id_counter = 0
        self.small_reads = False  # SO_RCVBUF lowered (a peer that sent more than it is served)
        self.observer_failed = False  # an observer method raised (logged once per connection)
        self.max_bad_messages = 10
        self.require_boot = False
        self.sweeper: Any = None
        # Resolves when the connection is closed (for good, with reconnects); made on demand.
        self.closed_event: asyncio.Event | None = None
        # Set while connected; made by track_reconnects() (a station that reconnects).
        self.connected_event: asyncio.Event | None = None
        self.versions: tuple[str, ...] | None = None  # offered ones (see track_reconnects)
        # CALLs waiting for a free slot (the one-outstanding-CALL rule), oldest first; made on
        # first use (an empty deque is ~600 bytes). Here, not in the engine: pure Python keeps
        # an instance's attributes in a shared-key table (fast reads) only up to 30 of them.
        self.queue: deque[Any] | None = None


class Engine:
    """The RPC state of one connection, on either side.

    ``actions`` is the version's registry (action -> ``ocppfast.actions.Action``); handlers are
    looked up first in the engine's own table (called ``handler(request)``) and then in
    ``shared_handlers`` (server-wide ones, called ``handler(charge_point, request)``).
    """

    def __init__(
        self,
        loop: Any,
        subprotocol: str,
        actions: dict[str, Any],
        *,
        identity: str = "",
        shared_handlers: dict[str, Any] | None = None,
        shared_after: dict[str, list[Any]] | None = None,
        call_timeout: float = 30.0,
        max_outstanding: int = 1,
        validate_incoming: bool = True,
        validate_outgoing: bool = True,
        max_bad_messages: int = 10,
        require_boot: bool = False,
        id_factory: Any = None,
        max_unanswered_calls: int = 4,
        max_frames_per_tick: int = 32,
        max_write_buffer: int = 4 * 1024 * 1024,
        write_timeout: float = 30.0,
        close_timeout: float = 5.0,
        hook_tasks: set[Any] | None = None,
    ) -> None:
        self.loop = loop
        self.subprotocol = subprotocol
        self.identity = identity
        self.actions = actions
        self._handlers: dict[str, Any] = {}
        self._after: dict[str, list[Any]] = {}
        self._shared_after = shared_after if shared_after is not None else {}
        self._pending: dict[str, Any] = {}
        self._outstanding = 0
        self.max_outstanding = max_outstanding
        self.call_timeout = call_timeout
        self.validate_incoming = validate_incoming
        self.validate_outgoing = validate_outgoing
        self.accepted = not require_boot
        self._bad_messages = 0
        self.transport: Any = None
        self._ws: Any = None  # the same transport when it is picows' (a direct C call compiled)
        # Frames written while a read's frames are handled, sent in one write at its end.
        self._out: list[bytes] | None = None
        self._closed = False
        self.rx_count = 0  # frames received; the keepalive sweep reads it
        # Abuse limits (see feed() and pause_writing()). OCPP-J allows one outstanding CALL per
        # direction (1.6 section 4.1.1 SHOULD NOT, 2.0.1 part 4 section 4.1.1 SHALL NOT):
        # ``max_unanswered_calls`` is the allowance before the connection is closed.
        self.max_unanswered_calls = max_unanswered_calls or (1 << 62)  # 0: no limit
        self._hold = False  # frames do not take the fast path: closing, backlog or fragments
        self._chunk_frames = 0  # frames of the current read (picows: up to last_in_buffer)
        # CALLs not answered yet: those that arrived in the current read (all were sent before
        # any was answered) plus those whose async handler is still running.
        self._unanswered = 0
        self._async_calls = 0  # CALLs whose async handler is still running
        self._flow = _Flow(max_write_buffer, write_timeout, close_timeout)
        if shared_handlers is not None:
            self._flow.shared_handlers = shared_handlers
        self._plan: _Plan | None = None  # of the last action dispatched (see _Plan)
        self._flow.max_frames = max_frames_per_tick or (1 << 62)  # 0: no limit
        self._flow.id_factory = id_factory
        # Read off the per-frame path, so kept in _flow: pure Python keeps an instance's
        # attributes in a shared-key table (fast reads) only up to 30 of them.
        self._flow.max_bad_messages = max_bad_messages
        self._flow.require_boot = require_boot
        self._flow.sweeper = sweeper_for(loop)
        self._flow.hook_tasks = hook_tasks  # a server's engines share its set
        # Told about every frame and call (see _observe); None costs one compare per event.
        self.observer: Any = None
        # Compact CALLs take _fast_call when compiled (pure, it would only add work).
        self.fast_path = _COMPILED

    # --- transport side ----------------------------------------------------------------

    def attach(self, transport: Any, other_frame: Any = None, peer_certificate: Any = None) -> None:
        """A new connection: ``transport`` (picows' or any object with ``send(msg_type, data)``,
        ``send_close(code, reason)`` and ``disconnect(graceful)``); ``other_frame(msg_type, fin,
        data)`` takes the frames :meth:`feed` does not (control frames, fragments);
        ``peer_certificate`` is the TLS client certificate, as ``getpeercert()`` gives it."""
        self.transport = transport
        self._ws = transport if isinstance(transport, picows.WSTransport) else None
        self._closed = False
        self._out = None
        flow = self._flow
        # One write per read, on both sides of a picows transport (see _flush).
        flow.coalesce = self._ws is not None
        flow.closing = flow.fragmenting = flow.write_paused = False
        flow.backlog = None
        self._hold = False
        self._chunk_frames = 0
        self._unanswered = self._async_calls
        flow.other_frame = other_frame
        flow.peer_certificate = peer_certificate

    def use_version(self, subprotocol: str, actions: dict[str, Any]) -> None:
        """Speak ``subprotocol`` with the registry ``actions`` from now on (a station that
        reconnected and negotiated again, or a registry with a vendor action added)."""
        self.subprotocol = subprotocol
        self.actions = actions
        self._plan = None  # its table was the old registry's
        handlers_changed()

    def add_after(self, action_name: str, hook: Any) -> None:
        """Run ``hook(request, response)`` after each answer to a CALL of ``action_name``."""
        self._after.setdefault(action_name, []).append(hook)

    # Connection life as a station that reconnects sees it (ocppfast.client): the engine
    # outlives its connections, and waiters wait for the one that comes next.

    def track_reconnects(self, versions: Any) -> None:
        """This engine is kept across reconnects offering ``versions``: ``connected_event()``
        and ``closed_event()`` are made now and follow :meth:`mark_connected`,
        :meth:`mark_disconnected` and :meth:`mark_closed`."""
        flow = self._flow
        flow.versions = tuple(versions)
        flow.closed_event = asyncio.Event()
        flow.connected_event = asyncio.Event()

    def mark_connected(self) -> None:
        """A connection is up (again): ``wait_closed()`` waits for its end."""
        flow = self._flow
        if flow.closed_event is not None:
            flow.closed_event.clear()
        if flow.connected_event is not None:
            flow.connected_event.set()

    def mark_disconnected(self) -> None:
        """The connection is gone, and another may follow (see :meth:`mark_closed`)."""
        if self._flow.connected_event is not None:
            self._flow.connected_event.clear()

    def mark_closed(self) -> None:
        """The connection is closed for good: wake whoever waits in ``wait_closed()``."""
        if self._flow.closed_event is not None:
            self._flow.closed_event.set()

    def closed_event(self) -> asyncio.Event:
        """Set once the connection is closed for good (made on demand: most never need it)."""
        if self._flow.closed_event is None:
            self._flow.closed_event = asyncio.Event()
        return self._flow.closed_event

    def connected_event(self) -> asyncio.Event | None:
        """Set while connected, for an engine kept across reconnects (else None)."""
        return self._flow.connected_event

    @property
    def versions(self) -> tuple[str, ...] | None:
        """The subprotocols offered (an engine kept across reconnects), else None."""
        return self._flow.versions

    @property
    def hook_tasks(self) -> set[Any] | None:
        """Tasks of async after-hooks still running (the server's set on the server side)."""
        return self._flow.hook_tasks

    @property
    def handler_tasks(self) -> int:
        """Async handlers still running."""
        return len(self._flow.tasks or ())

    @property
    def coalesce(self) -> bool:
        """The answers to the frames of one read go out in one write (server side of a picows
        transport; set by :meth:`attach`)."""
        return self._flow.coalesce

    @coalesce.setter
    def coalesce(self, on: bool) -> None:
        self._flow.coalesce = on and self._ws is not None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending_count(self) -> int:
        """CALLs sent and not yet answered (or timed out)."""
        return len(self._pending)

    @property
    def queued_count(self) -> int:
        """CALLs waiting for a free slot (the one-outstanding-CALL rule)."""
        return len(self._flow.queue) if self._flow.queue is not None else 0

    def feed(self, transport: Any, frame: Any) -> None:
        """picows ``on_ws_frame``: complete TEXT frames go straight in; others to the listener
        (see :meth:`_feed`)."""
        self._feed(transport, frame)

    def _feed(self, transport: Any, frame: Any) -> None:
        """:meth:`feed` without Cython's check for a Python override (a cpdef method of a
        class with Python subclasses looks itself up on every call).

        Fairness: picows hands over every frame of one read at once. After
        ``max_frames_per_tick`` frames of the same read, the rest waits in a backlog, reading from
        this peer pauses, and the backlog is worked off ``max_frames_per_tick`` frames per event
        loop iteration, so one peer cannot hold the loop while the others wait.

        One write per read: while a read's frames are handled (picows marks the last one with
        ``last_in_buffer``), the frames written in answer are collected and go out together
        after the last one (:meth:`_flush`), in order; a read of one frame writes directly.
        Closing flushes them before the Close frame. One exception: when picows finds a
        WebSocket protocol violation further on in the same read, it sends its Close itself
        before handing over the frame before it, and the answers of that read are not sent
        (RFC 6455 section 7.1.7: the connection is failed; without coalescing the answers
        handed over before the violation was parsed went out).
        """
        self.rx_count += 1
        # A literal, not TEXT: compiled, a module global would box picows' C enum per frame.
        if frame.msg_type == 1 and frame.fin and not self._hold:
            self._chunk_frames += 1
            last = frame.last_in_buffer
            if not last and self._out is None and self._flow.coalesce:
                self._out = []
            if _COMPILED:
                self._receive_frame(frame)
            else:  # pure, one call less
                self._receive(frame.get_payload_as_bytes(), False)
            if last:
                self._chunk_frames = 0
                self._unanswered = self._async_calls
                if self._out is not None:
                    self._flush()
                return
            if self._chunk_frames >= self._flow.max_frames and not self._hold:
                self._start_backlog()
        else:
            self._feed_slow(frame)
            if frame.last_in_buffer and self._out is not None:
                self._flush()

    def _feed_slow(self, frame: Any) -> None:
        msg_type = frame.msg_type
        if self._flow.closing:
            # Nothing is dispatched once closing has begun; only the peer's Close matters now
            # (RFC 6455 section 7.1.2: wait for it, then close the TCP connection).
            if msg_type == _CLOSE_FRAME:
                self._flow.other_frame(msg_type, frame.fin, frame.get_payload_as_bytes())
            else:
                # A peer that goes on sending after our Close (a flooder) is not waited for.
                self._chunk_frames += 1
                if self._chunk_frames > self._flow.max_frames and not self._closed:
                    log.info("%s: peer goes on sending after close, dropping it", self.identity)
                    self._disconnect(False)
            return
        if self._flow.backlog is not None:
            if msg_type == TEXT and frame.fin:
                self._flow.backlog.append(frame.get_payload_as_bytes())
            else:
                self._flow.backlog.append((msg_type, frame.fin, frame.get_payload_as_bytes()))
            return
        self._flow.other_frame(msg_type, frame.fin, frame.get_payload_as_bytes())
        if frame.last_in_buffer and self._flow.backlog is None:
            self._chunk_frames = 0
            self._unanswered = self._async_calls

    def deliver(self, data: bytes) -> None:
        """A complete message reassembled by the listener (in order, so dispatched now)."""
        self._chunk_frames += 1
        self._receive(data)

    def set_fragmenting(self, on: bool) -> None:
        """The listener is reassembling a fragmented message: a complete TEXT frame in between
        is a protocol error (RFC 6455 section 5.4), so TEXT frames must not take the fast path."""
        self._flow.fragmenting = on
        self._hold = self._flow.closing or self._flow.backlog is not None or on

    def _timer(self, name: str, delay: float, callback: Any) -> None:
        timers = self._flow.timers
        if timers is None:
            timers = self._flow.timers = {}
        old = timers.get(name)
        if old is not None:
            old.cancel()
        if delay < 0:
            timers[name] = self.loop.call_soon(callback)
        else:
            timers[name] = self.loop.call_later(delay, callback)

    def _cancel_timer(self, name: str) -> None:
        if self._flow.timers is not None:
            handle = self._flow.timers.pop(name, None)
            if handle is not None:
                handle.cancel()

    def _set_reading(self, on: bool) -> None:
        """Pause or resume reading from the socket (picows transports only)."""
        underlying = getattr(self.transport, "underlying_transport", None)
        if underlying is None or underlying.is_closing():
            return
        try:
            if on:
                underlying.resume_reading()
            else:
                underlying.pause_reading()
        except Exception:
            log.debug("%s: pause/resume reading failed", self.identity, exc_info=True)

    def _start_backlog(self) -> None:
        self._flow.backlog = deque()
        self._hold = True
        self._set_reading(False)
        if not self._flow.write_paused:
            self._timer("drain", -1, self._drain)
        if not self._flow.small_reads:
            # picows hands over everything one read returned, and its read buffer doubles while
            # reads fill it: for a peer that sends faster than it is served, a small kernel
            # receive buffer bounds what one read (one callback) can carry.
            self._flow.small_reads = True
            underlying = getattr(self.transport, "underlying_transport", None)
            sock = underlying.get_extra_info("socket") if underlying is not None else None
            if sock is not None:
                try:
                    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, _SMALL_RCVBUF)
                except OSError:
                    log.debug("%s: SO_RCVBUF not set", self.identity, exc_info=True)

    def _drain(self) -> None:
        """Work off up to ``max_frames_per_tick`` frames of the backlog; again next iteration."""
        if self._flow.timers is not None:
            self._flow.timers.pop("drain", None)
        backlog = self._flow.backlog
        if self._flow.closing or self._flow.write_paused or backlog is None:
            return
        if self._out is None and self._flow.coalesce:
            self._out = []  # this turn's answers go out in one write
        try:
            self._drain_turn(backlog)
        finally:
            if self._out is not None:
                self._flush()

    def _drain_turn(self, backlog: Any) -> None:
        budget = self._flow.max_frames
        while backlog and budget > 0:
            budget -= 1
            item = backlog.popleft()
            if type(item) is bytes:
                if self._flow.fragmenting:
                    self._flow.other_frame(TEXT, 1, item)
                else:
                    self._receive(item)
            else:
                self._flow.other_frame(item[0], item[1], item[2])
            if self._flow.closing or self._flow.write_paused:
                return  # closing dropped the backlog; resume_writing() drains the rest
        if backlog:
            self._timer("drain", -1, self._drain)
            return
        # Every frame read before the pause is handled: a new read starts a new chunk.
        self._flow.backlog = None
        self._chunk_frames = 0
        self._unanswered = self._async_calls
        self._hold = self._flow.fragmenting
        self._set_reading(True)

    def pause_writing(self) -> None:
        """The transport's write buffer went over its high-water mark: the peer reads slower than
        it is answered. Stop reading from it and dispatching its frames until the buffer drains;
        a peer that stays over the mark for ``write_timeout`` seconds is dropped."""
        if self._closed or self._flow.write_paused:
            return
        self._flow.write_paused = True
        if self._flow.backlog is None and not self._flow.closing:
            self._flow.backlog = deque()
            self._hold = True
        self._set_reading(False)
        if self._flow.write_timeout:
            self._timer("stall", self._flow.write_timeout, self._write_stalled)

    def resume_writing(self) -> None:
        if not self._flow.write_paused:
            return
        self._flow.write_paused = False
        self._cancel_timer("stall")
        if self._flow.backlog is not None and not self._flow.closing:
            self._timer("drain", -1, self._drain)

    def _write_stalled(self) -> None:
        if self._flow.timers is not None:
            self._flow.timers.pop("stall", None)
        if self._flow.write_paused and not self._closed:
            log.warning(
                "%s: peer has not read its answers for %.0f s, dropping the connection",
                self.identity,
                self._flow.write_timeout,
            )
            self.abort(CLOSE_POLICY_VIOLATION, b"peer does not read")

    def _check_write_buffer(self) -> None:
        if not self._flow.write_paused:
            return
        underlying = getattr(self.transport, "underlying_transport", None)
        if underlying is None:
            return
        size = underlying.get_write_buffer_size()
        if self._flow.max_write_buffer and size > self._flow.max_write_buffer:
            log.warning(
                "%s: %d bytes waiting for a peer that does not read (limit %d), dropping the "
                "connection",
                self.identity,
                size,
                self._flow.max_write_buffer,
            )
            self.abort(CLOSE_POLICY_VIOLATION, b"peer does not read")

    def _write(self, data: bytes) -> None:
        if not self._closed:
            if self._out is not None:
                self._out.append(data)  # sent with the others of this read (_flush)
            elif self._ws is not None:
                self._ws.send(_WS_TEXT, data)
            else:
                self.transport.send(TEXT, data)
            if self.observer is not None:
                self._observe_frame(data, True)
            if self._hold and self._out is None:
                self._check_write_buffer()

    def _flush(self) -> None:
        """Send the frames collected while a read was handled, in one write (one syscall):
        picows' ``send`` writes each frame on its own (and has no call that frames without
        writing), so more than one are framed here and joined: a server's unmasked, a
        client's masked, each with its own key (RFC 6455 section 5.1, 5.3)."""
        out = self._out
        self._out = None
        if not out or self._closed:
            return
        ws = self._ws
        if len(out) == 1:
            ws.send(_WS_TEXT, out[0])
        elif not (ws.is_close_frame_sent or ws.is_disconnected):
            parts = []
            if ws.is_client_side:
                # "a fresh masking key ... from a strong source of entropy" (section 5.3)
                keys = os.urandom(4 * len(out))
                for k, data in enumerate(out):
                    parts.append(_client_frame(data, keys[4 * k : 4 * k + 4]))
            else:
                for data in out:
                    parts.append(_text_header(len(data)))
                    parts.append(data)
            ws.underlying_transport.write(b"".join(parts))
        if self._hold:
            self._check_write_buffer()

    # --- observer (CONTRACT section 1) ---------------------------------------------------

    def _observe(self, event: str, args: tuple[Any, ...]) -> None:
        """Call ``observer.<event>(*args)``; its errors are logged once per connection and never
        reach the connection."""
        try:
            getattr(self.observer, event)(*args)
        except Exception:  # noqa: BLE001 - an observer never breaks the connection
            self._observer_failed(event)

    def _observer_failed(self, event: str) -> None:
        """Log an observer's failure (called from an ``except`` block), once per connection."""
        if not self._flow.observer_failed:
            self._flow.observer_failed = True
            log.exception(
                "%s: observer %s.%s failed (further errors of this connection not logged)",
                self.identity,
                type(self.observer).__qualname__,
                event,
            )

    # The per-frame and per-call events call the observer's method directly (no lookup by name,
    # no argument tuple): with metrics on, that is most of what observing costs.
    def _observe_frame(self, data: bytes, out: bool) -> None:
        observer = self.observer
        try:
            if out:
                observer.frame_out(self, data)
            else:
                observer.frame_in(self, data)
        except Exception:  # noqa: BLE001 - an observer never breaks the connection
            self._observer_failed("frame_out" if out else "frame_in")

    def _observe_call_in(self, action_name: str, outcome: str) -> None:
        try:
            self.observer.call_in(self, action_name, outcome)
        except Exception:  # noqa: BLE001 - an observer never breaks the connection
            self._observer_failed("call_in")

    def _call_out(self, action_name: str, started: float, outcome: str) -> None:
        try:
            self.observer.call_out(self, action_name, outcome, _monotonic() - started)
        except Exception:  # noqa: BLE001 - an observer never breaks the connection
            self._observer_failed("call_out")

    @property
    def max_bad_messages(self) -> int:
        """Bad messages in a row after which the connection is closed (0: never)."""
        return int(self._flow.max_bad_messages)

    @max_bad_messages.setter
    def max_bad_messages(self, value: int) -> None:
        self._flow.max_bad_messages = value

    @property
    def require_boot(self) -> bool:
        """CALLs other than BootNotification are refused until a boot was accepted."""
        return bool(self._flow.require_boot)

    @property
    def max_frames_per_tick(self) -> int:
        """Frames of one peer handled per event-loop iteration (the rest wait their turn)."""
        return int(self._flow.max_frames)

    @max_frames_per_tick.setter
    def max_frames_per_tick(self, value: int) -> None:
        self._flow.max_frames = value or (1 << 62)

    @property
    def peer_certificate(self) -> dict[str, Any] | None:
        """The peer's TLS certificate as ``ssl.SSLSocket.getpeercert()`` gives it (security
        profile 3, verified by the TLS context), or None."""
        return self._flow.peer_certificate

    @property
    def write_paused(self) -> bool:
        """True while the peer's write buffer is over its high-water mark (reading paused)."""
        return self._flow.write_paused

    @property
    def closing(self) -> bool:
        """True once a close frame was sent or received (or the connection is gone)."""
        return self._flow.closing or self._closed

    def close_transport(self, code: int, reason: bytes) -> None:
        """Start the closing handshake (RFC 6455 section 7.1.2): send a Close frame, dispatch
        nothing more, read on until the peer's Close (or EOF), then close the TCP connection;
        after ``close_timeout`` seconds without it, drop the connection."""
        if self.transport is None or self._closed or self._flow.closing:
            return
        self._begin_closing()
        try:
            self.transport.send_close(code, reason)
        except Exception:
            log.debug("%s: sending close failed", self.identity, exc_info=True)
        if self._ws is None or self._flow.write_paused:
            # No way to read the peer's Close (not a picows transport), or the peer does not
            # read at all: nothing to wait for.
            self._disconnect(self._ws is None)
            return
        self._set_reading(True)  # read on (and drop) until the peer's Close
        if self._flow.close_timeout:
            self._timer("close", self._flow.close_timeout, self._close_timed_out)

    def _begin_closing(self) -> None:
        if self._out is not None:
            self._flush()  # what was answered before the decision goes out before the Close
        self._flow.closing = True
        self._hold = True
        self._chunk_frames = 0
        if self._flow.backlog:
            log.info(
                "%s: closing: %d frames received after the decision are not dispatched",
                self.identity,
                len(self._flow.backlog),
            )
        self._flow.backlog = None
        self._cancel_timer("drain")

    def peer_closed(self, code: int, reason: bytes) -> None:
        """The peer's Close frame arrived: answer it (unless we started) and close the TCP
        connection (RFC 6455 section 7.1.1: the server closes it first)."""
        if self._closed:
            return
        if not self._flow.closing:
            self._begin_closing()
            try:
                self.transport.send_close(code, reason)
            except Exception:
                log.debug("%s: answering close failed", self.identity, exc_info=True)
        self._disconnect(True)

    def _close_timed_out(self) -> None:
        if self._flow.timers is not None:
            self._flow.timers.pop("close", None)
        if not self._closed:
            log.info("%s: no close frame from the peer, dropping the connection", self.identity)
            self._disconnect(False)

    def abort(self, code: int, reason: bytes) -> None:
        """Send a Close frame if possible and drop the connection at once."""
        if self.transport is None or self._closed:
            return
        if not self._flow.closing:
            self._begin_closing()
            try:
                self.transport.send_close(code, reason)
            except Exception:
                log.debug("%s: sending close failed", self.identity, exc_info=True)
        self._disconnect(False)

    def _disconnect(self, graceful: bool) -> None:
        if self._out is not None:
            self._flush()
        self._cancel_timer("close")
        try:
            self.transport.disconnect(graceful)
        except Exception:
            log.debug("%s: disconnect failed", self.identity, exc_info=True)

    def connection_lost(self) -> None:
        """Fail every pending and queued call at once; the tables are empty afterwards. Timers
        and running async handlers of this connection are cancelled (their answers can no
        longer be sent)."""
        self._closed = True
        self._hold = True
        flow = self._flow
        flow.closing = True
        flow.backlog = None
        flow.write_paused = False
        timers = flow.timers
        flow.timers = None
        for handle in (timers or {}).values():
            handle.cancel()
        tasks = flow.tasks
        flow.tasks = None
        for task in tasks or ():
            task.cancel()
        pending = self._pending
        queue = self._flow.queue
        self._pending = {}
        self._flow.queue = None
        self._outstanding = 0
        observed = self.observer is not None
        for entry in pending.values():
            if observed:
                self._call_out(entry[2], entry[5], "closed")
            _resolve(
                entry, 6, ConnectionClosedError(f"connection to {self.identity!r} closed"), True
            )
        for entry in queue or ():
            if observed:
                self._call_out(entry[2], entry[6], "closed")
            _resolve(
                entry, 7, ConnectionClosedError(f"connection to {self.identity!r} closed"), True
            )

    # --- incoming ----------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Handle one complete OCPP-J message (a read of its own)."""
        if self._hold and self._flow.closing:
            return  # nothing is dispatched once closing has begun
        self._unanswered = self._async_calls
        self._receive(data)

    def _receive_frame(self, frame: Any) -> None:
        """:meth:`_receive` of a complete TEXT frame from picows. Compiled and unobserved, a
        compact CALL is read where picows holds it (``_fast_scan``: its id and payload are
        copied, no bytes object of the whole frame is made); anything else takes the frame's
        bytes."""
        if _COMPILED and self.fast_path and self.observer is None:
            if self._fast_scan(cython.cast(cython.p_uchar, frame.payload_ptr), frame.payload_size):
                return
            self._receive(frame.get_payload_as_bytes(), True)  # the general path
        else:
            self._receive(frame.get_payload_as_bytes(), False)

    def _receive(self, data: bytes, scanned: bool = False) -> None:
        """One message: a compact CALL on the fast path (unless ``scanned``: it was tried),
        else the envelope decoded (``wire``) and the CALL, CALLRESULT or CALLERROR handled,
        or the bad frame answered as the spec says."""
        frame: Any
        if self.observer is not None:
            self._observe_frame(data, False)
        if self.fast_path and not scanned and self._fast_call(data):
            return
        try:
            frame = _decode_envelope(data)
        except (ValueError, RecursionError):
            self._bad_frame(_classify(data, self.subprotocol))
            return
        cls = type(frame)
        if cls is _Call:
            self._bad_messages = 0
            self._on_call(frame.unique_id, frame.action, frame.payload, False)
        elif cls is _CallResult:
            self._bad_messages = 0
            self._on_result(frame)
        elif cls is _CallError:
            self._bad_messages = 0
            self._on_error(frame, False)
        elif self.subprotocol != _OCPP21:
            self._bad_frame(_version_error(frame, self.subprotocol))
        elif cls is _Send:
            self._bad_messages = 0
            self._on_call(frame.unique_id, frame.action, frame.payload, True)
        else:
            self._bad_messages = 0
            self._on_error(frame, True)

    def _bad_frame(self, exc: Any) -> None:
        log.warning(
            "%s: bad message (%s: %s)%s",
            self.identity,
            exc.error.code,
            exc.error.description,
            "" if exc.reply else ", ignored as the spec says",
        )
        if self.observer is not None:
            self._observe("bad_frame", (self, exc.error.code))
        if exc.reply:
            self._write(_encode_error(exc, self.subprotocol))
        elif exc.message_type in (_CALLRESULT, _CALLERROR, _CALLRESULTERROR):
            # A broken answer to one of our CALLs: fail that call now rather than at its timeout.
            entry = self._pending.get(exc.unique_id)
            if entry is not None:
                self._complete(exc.unique_id)
                if self.observer is not None:
                    self._call_out(entry[2], entry[5], exc.error.code)
                _resolve(entry, 6, exc.error, True)
        self._bad_messages += 1
        limit = self._flow.max_bad_messages
        if limit and self._bad_messages >= limit:
            log.warning("%s: %d bad messages in a row, closing", self.identity, self._bad_messages)
            self.close_transport(CLOSE_PROTOCOL_ERROR, b"too many invalid messages")

    def _on_call(self, unique_id: str, action_name: str, payload: Any, is_send: bool) -> None:
        if not is_send:
            # CALLs that arrived in the same read were all sent before any of them was answered
            # (each answer is written only after its CALL was read); async handlers still running
            # are unanswered too. OCPP-J allows one at a time; past the allowance, close.
            self._unanswered += 1
            if self._unanswered > self.max_unanswered_calls:
                self._too_many_calls()
                return
        elif self.observer is not None:
            # A SEND is never answered (2.1 part 4 section 4.2.5): its outcome is "send".
            self._observe_call_in(action_name, "send")
        plan = self._plan
        if plan is None or plan.epoch != _epoch or plan.name != action_name:
            plan = self._make_plan(action_name)
        if plan is None and self.actions.get(action_name) is None:
            if not is_send:
                self._reply_error(
                    unique_id,
                    NotImplementedCallError(f"unknown action {action_name!r}"[:255]),
                    action_name,
                )
            else:
                log.warning("%s: SEND of unknown action %r dropped", self.identity, action_name)
            return
        if not self.accepted and action_name != "BootNotification":
            # OCPP 1.6 errata (section 4.2, SecurityError for a station not yet accepted) and
            # 2.0.1 B02.FR.09/B03.FR.07: answer CALLs before an accepted boot with SecurityError.
            if not is_send:
                self._reply_error(
                    unique_id, SecurityError("BootNotification has not been accepted"), action_name
                )
            return
        if plan is None:  # a known action without a handler
            if not is_send:
                self._reply_error(
                    unique_id, NotSupportedError(f"{action_name} is not supported"), action_name
                )
            else:
                log.warning("%s: SEND %s has no handler", self.identity, action_name)
            return
        try:
            if self.validate_incoming:
                request = plan.decode(payload)
            else:
                request = _generic_decode(payload)
                if type(request) is not dict:
                    raise msgspec.ValidationError("Expected `object`")
        except (ValueError, RecursionError) as exc:
            if not is_send:
                self._reply_error(unique_id, payload_error(exc), action_name)
            else:
                log.warning("%s: invalid SEND %s dropped: %s", self.identity, action_name, exc)
            return
        self._invoke(unique_id, plan, request, is_send, None)

    def _make_plan(self, action_name: str) -> _Plan | None:
        """The plan for ``action_name`` (kept as the engine's last): from the last plan's table
        (see _plan_tables), else made; None when the action is unknown or has no handler
        (nothing kept: the caller words the answer)."""
        last = self._plan
        if last is not None:
            table = last.table
            peers = last.peers
        elif self._handlers:
            table = {}
            peers = []
        else:
            key = (id(self.actions), id(self._flow.shared_handlers))
            entry = _plan_tables.get(key)
            if entry is None:
                if len(_plan_tables) >= PLAN_TABLES:
                    _plan_tables.clear()  # engines keep theirs (through their plans)
                entry = _plan_tables[key] = (self.actions, self._flow.shared_handlers, {}, [])
            table = entry[2]
            peers = entry[3]
        plan = table.get(action_name)
        if plan is None or plan.epoch != _epoch:
            action = self.actions.get(action_name)
            if action is None:
                return None
            shared = False
            handler = self._handlers.get(action_name) if self._handlers else None
            if handler is None:
                handler = self._flow.shared_handlers.get(action_name)
                if handler is None:
                    return None
                shared = True
            old = plan
            plan = _Plan(action_name, action, handler, shared, table, peers)
            if old is not None:  # made again in its place (a handler table changed)
                table[action_name] = plan
                peers[peers.index(old)] = plan
            elif len(table) < PLANS:
                table[action_name] = plan
                peers.append(plan)
        self._plan = plan
        return plan

    def _plan_of(self, data: Any, start: Any, end: Any) -> _Plan | None:
        """The plan of the action ``data[start:end]`` (ASCII; compiled, a pointer to the bytes
        as for :func:`_cut`) if the table of the engine's last
        plan holds a current one among its first ``_PLAN_SCAN`` (``peers``: made first, a
        station's usual actions), found by comparing bytes without making a str, and kept as
        the engine's last; else None (then :meth:`_make_plan` decides, by name). The same plan
        ``_make_plan`` would find: ``peers`` holds the plans of ``table``, which maps each
        action name to its plan, whose ``key`` is the name's bytes."""
        last = self._plan
        if last is None:
            return None
        # Stations repeat the same sequence (the load harness: Heartbeat, StatusNotification,
        # MeterValues): the plan that followed this one last time is tried first.
        plan = last.follow
        if plan is not None and plan.epoch == _epoch and _same(data, start, end, plan.key):
            self._plan = plan
            return plan
        peers = last.peers
        for k in range(min(len(peers), _PLAN_SCAN)):
            plan = peers[k]
            if plan.epoch == _epoch and _same(data, start, end, plan.key):
                last.follow = plan
                self._plan = plan
                return plan  # type: ignore[no-any-return]
        return None

    def set_handler(self, action_name: str, handler: Any) -> None:
        """Handle incoming CALLs (and SENDs) of ``action_name`` with ``handler(request)``; None
        removes the handler (the shared one, if any, applies again)."""
        if handler is None:
            self._handlers.pop(action_name, None)
        else:
            self._handlers[action_name] = handler
        self._plan = None  # its table may now be another (see _plan_tables)
        handlers_changed()

    def _invoke(
        self, unique_id: str | None, plan: Any, request: Any, is_send: bool, id_json: bytes | None
    ) -> None:
        """Call the plan's handler with the decoded request and answer (sync), or start its
        task. ``unique_id`` is None when ``id_json`` holds it (the fast path)."""
        try:
            if plan.shared:
                result = plan.handler(self, request)
            else:
                result = plan.handler(request)
        except OCPPError as exc:
            if not is_send:
                if unique_id is None:
                    unique_id = _id_of(id_json)  # type: ignore[arg-type]
                self._reply_error(unique_id, exc, plan.action.name)
            return
        except Exception:
            log.exception("%s: handler for %s failed", self.identity, plan.action.name)
            if not is_send:
                if unique_id is None:
                    unique_id = _id_of(id_json)  # type: ignore[arg-type]
                self._reply_error(
                    unique_id, InternalError("An internal error occurred"), plan.action.name
                )
            return
        if type(result) is not plan.response and hasattr(result, "__await__"):
            if unique_id is None:
                unique_id = _id_of(id_json)  # type: ignore[arg-type]
            task = self.loop.create_task(
                _finish_async(self, result, unique_id, plan, request, is_send)
            )
            flow = self._flow
            if not is_send:
                self._async_calls += 1
            tasks = flow.tasks
            if tasks is None:
                tasks = flow.tasks = set()
            tasks.add(task)
            task.add_done_callback(self._task_done)
        elif not is_send:
            self._answer(unique_id, plan, request, result, id_json)

    def _fast_call(self, data: bytes) -> bool:
        """The compiled build's path for a compact CALL ``[2,"<id>","<Action>",{...}]``, read by
        a byte scan without an envelope object; its answer reuses the id's JSON bytes.

        Only taken when the general path would do exactly the same: an id of 1 to 36 printable
        ASCII characters without escapes, an alphanumeric action that is known and handled, no
        whitespace between the elements, a payload that passes its schema, the station accepted
        (or booting) and the unanswered-CALL allowance not reached. Anything else returns False
        having changed nothing, and takes the general path, which gives the spec's answer
        (tests/test_fastpath_diff.py compares both paths' bytes).
        """
        return self._fast_scan(data, len(data))

    def _fast_scan(self, buf: Any, n: Any) -> bool:
        """:meth:`_fast_call` of the ``n`` bytes at ``buf``: compiled, a pointer to them (a
        bytes object's storage, or picows' read buffer while the frame is handed over; every
        index below is checked against ``n`` before it is read, and what is kept is copied);
        pure, the bytes object itself."""
        # b'[2,"'
        if n < 12 or buf[0] != 91 or buf[1] != 50 or buf[2] != 44 or buf[3] != 34:
            return False
        i = 4
        limit = min(41, n - 8)  # the id: at most 36 characters, then '","'
        while True:
            if i >= limit:
                return False
            c = buf[i]
            if c == 34:  # '"'
                break
            if c < 32 or c > 126 or c == 92:  # a control character, non-ASCII, or an escape
                return False
            i += 1
        id_end = i
        if id_end == 4 or buf[i + 1] != 44 or buf[i + 2] != 34:
            return False
        i += 3
        start = i
        # the action's closing quote before the last 4 bytes (its characters are checked below)
        if _COMPILED:
            if i >= n - 4:
                return False
            quote = cython.cast(cython.p_uchar, memchr(buf + i, 34, n - 4 - i))
            if quote == cython.NULL:
                return False
            i = quote - buf
        else:
            i = buf.find(b'"', i, n - 4)
            if i < 0:
                return False
        # '",{' ... '}]'
        if i == start or buf[i + 1] != 44 or buf[i + 2] != 123 or buf[n - 2] != 125:
            return False
        if buf[n - 1] != 93 or self._unanswered >= self.max_unanswered_calls:
            return False
        if not self.validate_incoming:
            return False
        # A station sends the same few actions over and over: the plan of the last one is
        # kept, so a repeat costs one compare of the action's bytes (see _Plan); another one
        # of the same table is found by its bytes too (_plan_of), without making a str. The
        # action must be alphanumeric (no escape, no quote inside): a plan's ``alnum`` says so
        # of its key, equal to these bytes.
        plan = self._plan
        if plan is None or plan.epoch != _epoch or not _same(buf, start, i, plan.key):
            plan = self._plan_of(buf, start, i)
            if plan is None:
                for k in range(start, i):
                    c = buf[k]
                    if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122):
                        return False
                plan = self._make_plan(_cut(buf, start, i).decode("ascii"))
                if plan is None:
                    return False
        if not plan.alnum:
            return False
        if not self.accepted and plan.name != "BootNotification":
            return False
        if n - i == 5 and plan.empty is not None:  # the payload is {} (its bytes checked above)
            request = plan.empty
        else:
            try:
                request = plan.decode(_cut(buf, i + 2, n - 1))
            except (ValueError, RecursionError):
                return False  # the general path words the error
        self._bad_messages = 0
        self._unanswered += 1
        # the id's str is made only if needed (_id_of)
        self._invoke(None, plan, request, False, _cut(buf, 3, id_end + 1))
        return True

    def _task_done(self, task: Any) -> None:
        if self._flow.tasks is not None:
            self._flow.tasks.discard(task)

    def _too_many_calls(self) -> None:
        log.warning(
            "%s: %d CALLs sent without waiting for the answers (OCPP-J allows one at a time, "
            "max_unanswered_calls=%d), closing",
            self.identity,
            self._unanswered,
            self.max_unanswered_calls,
        )
        self.close_transport(CLOSE_POLICY_VIOLATION, b"too many unanswered CALLs")

    def _reply(
        self, unique_id: str, plan: Any, request: Any, result: Any, id_json: bytes | None
    ) -> None:
        """Answer a CALL with ``result`` (see :meth:`_answer`; this one is for async handlers)."""
        self._answer(unique_id, plan, request, result, id_json)

    def _answer(
        self, unique_id: str | None, plan: Any, request: Any, result: Any, id_json: bytes | None
    ) -> None:
        """Answer a CALL; ``unique_id`` is None when ``id_json`` holds it (the fast path)."""
        action = plan.action
        if type(result) is not plan.response:
            try:
                result = self._coerce_response(action, result)  # validated by the conversion
            except OCPPError as exc:
                if unique_id is None:
                    unique_id = _id_of(id_json)  # type: ignore[arg-type]
                self._reply_error(unique_id, exc, action.name)
                return
            payload = _encode(result)
        elif self.validate_outgoing:
            # Encode once and check the bytes with the action's own decoder (msgspec does not
            # validate on encode); the checked bytes then go into the frame as they are.
            payload = plan.constant  # a response type without fields: always the same bytes
            if payload is None:
                checked = plan.checked  # [the last answer of this type that passed, ...]
                # Compiled, an answer whose fields hold the same objects as that one's is
                # those bytes again (see _scalar_fields): no encoding, no check.
                if (
                    _COMPILED and checked[4] and _SAME_SLOTS(result, checked[3], checked[2])  # type: ignore[name-defined]  # noqa: F821
                ):
                    payload = checked[0]
                else:
                    payload = _encode(result)
                    if checked[0] != payload and not self._check_answer(
                        unique_id, plan, payload, id_json
                    ):
                        return
                    if _COMPILED and checked[3] is not None:  # the values of these bytes
                        checked[4] = _KEEP_SLOTS(result, checked[3], checked[2])  # type: ignore[name-defined]  # noqa: F821
        else:
            payload = plan.constant
            if payload is None:
                checked = plan.checked
                if (
                    _COMPILED and checked[4] and _SAME_SLOTS(result, checked[3], checked[2])  # type: ignore[name-defined]  # noqa: F821
                ):
                    payload = checked[0]
                else:
                    payload = _encode(result)
        # [3,"<id>",<payload>] from bytes at hand, without a msgspec.Raw, a tuple and a call
        # into the wire module.
        if id_json is None:
            id_json = _encode(unique_id)
        if _COMPILED:
            # One answer of this read, nothing watching the bytes, not held back: straight to
            # picows from the stack (_send_result); otherwise as any other frame (_write).
            if (
                self._out is not None
                or self._ws is None
                or self.observer is not None
                or self._hold
                or self._closed
                or not _send_result(self._ws, id_json, payload)
            ):
                self._write(_result_frame(id_json, payload))
        else:  # pure, a call of _result_frame would cost more than it saves
            self._write(b"".join((b"[3,", id_json, b",", payload, b"]")))
        if self.observer is not None:
            self._observe_call_in(action.name, "result")
        if (
            not self.accepted
            and action.name == "BootNotification"
            and getattr(result, "status", None) == "Accepted"
        ):
            self.accepted = True
        if self._after or self._shared_after:
            self._run_after(action.name, request, result)

    def _check_answer(
        self, unique_id: str | None, plan: Any, payload: bytes, id_json: bytes | None
    ) -> bool:
        """Check an answer's bytes that differ from the last ones of its type that passed
        (``plan.checked``) with the action's own decoder, unless only the ``ocppfast.now()``
        stamp changed (:func:`_restamped`); True if it passed, else False with the CALLERROR
        written."""
        checked = plan.checked
        last = checked[0]
        stamp = _last_stamp()
        if last is None or not _restamped(last, checked[1], payload, stamp):
            try:
                plan.action.response_decoder.decode(payload)
            except (ValueError, RecursionError) as exc:
                log.error(
                    "%s: handler for %s returned an invalid response: %s",
                    self.identity,
                    plan.action.name,
                    payload_error(exc).description,
                )
                if unique_id is None:
                    unique_id = _id_of(id_json)  # type: ignore[arg-type]
                self._reply_error(
                    unique_id, InternalError("An internal error occurred"), plan.action.name
                )
                return False
        checked[0] = payload
        checked[1] = stamp
        checked[4] = False  # the values of these bytes: kept by _answer, after this
        return True

    def _coerce_response(self, action: Any, result: Any) -> Any:
        response_type = action.response
        if result is None:
            result = {}
        elif action.custom and isinstance(result, msgspec.Struct):
            result = _to_builtins(result)  # a vendor action's answer: any Struct that is an object
        if type(result) is dict and self.validate_outgoing and response_type is not None:
            try:
                return _convert(result, response_type, from_attributes=False)
            except msgspec.ValidationError as exc:
                log.error(
                    "%s: handler for %s returned an invalid response: %s",
                    self.identity,
                    action.name,
                    exc,
                )
                raise InternalError("An internal error occurred") from None
        if type(result) is dict:
            return result
        log.error(
            "%s: handler for %s %s",
            self.identity,
            action.name,
            wrong_response(result, response_type, self.subprotocol),
        )
        raise InternalError("An internal error occurred")

    def _reply_error(self, unique_id: str, exc: Any, action_name: str) -> None:
        self._write(
            _encode_call_error(
                unique_id, exc.wire_code(self.subprotocol), exc.description, exc.details
            )
        )
        if self.observer is not None:
            self._observe_call_in(action_name, exc.code)

    def _run_after(self, action_name: str, request: Any, response: Any) -> None:
        for hook in self._after.get(action_name, ()):
            call_hook(self, hook, (request, response))
        for hook in self._shared_after.get(action_name, ()):
            call_hook(self, hook, (self, request, response))

    def _on_result(self, frame: Any) -> None:
        unique_id = frame.unique_id
        entry = self._pending.get(unique_id)
        if entry is None:
            log.warning("%s: CALLRESULT for unknown id %r dropped", self.identity, unique_id)
            return
        self._complete(unique_id)
        action = entry[1]
        try:
            if self.validate_incoming and action is not None:
                result = action.response_decoder.decode(frame.payload)
            else:
                result = _generic_decode(frame.payload)
                if type(result) is not dict:
                    raise msgspec.ValidationError("Expected `object`")
        except (ValueError, RecursionError) as exc:
            err = payload_error(exc)
            log.warning(
                "%s: invalid CALLRESULT for %s: %s", self.identity, entry[2], err.description
            )
            if self.subprotocol == wire.OCPP21:
                # 2.1 part 4 section 4.2.4: answer an invalid CALLRESULT with a CALLRESULTERROR.
                self._write(
                    _encode_call_result_error(
                        unique_id, err.wire_code(self.subprotocol), err.description, err.details
                    )
                )
            if self.observer is not None:
                self._call_out(entry[2], entry[5], err.code)
            _resolve(entry, 6, err, True)
            return
        if self.observer is not None:
            self._call_out(entry[2], entry[5], "result")
        _resolve(entry, 6, result, False)

    def _on_error(self, frame: Any, result_error: bool) -> None:
        unique_id = frame.unique_id
        entry = self._pending.get(unique_id)
        if entry is None:
            # A CALLRESULTERROR reports that the peer rejected one of *our* CALLRESULTs; there is
            # no pending call for it. Anything else with an unknown id is a late or bogus answer.
            log.warning(
                "%s: %s %s for id %r: %s",
                self.identity,
                "CALLRESULTERROR" if result_error else "CALLERROR for an unknown id:",
                frame.error_code,
                unique_id,
                frame.error_description,
            )
            return
        if result_error:
            log.warning("%s: CALLRESULTERROR for pending id %r", self.identity, unique_id)
        self._complete(unique_id)
        err = from_call_error(frame.error_code, frame.error_description, frame.error_details)
        if result_error:
            err = CallResultError(err)
        else:
            log.info(
                "%s: CALL %s (id %r) answered with CALLERROR %s: %s",
                self.identity,
                entry[2],
                unique_id,
                frame.error_code,
                frame.error_description,
            )
        if self.observer is not None:
            self._call_out(entry[2], entry[5], err.code)
        _resolve(entry, 6, err, True)

    # --- outgoing ----------------------------------------------------------------------

    def next_id(self) -> str:
        flow = self._flow
        if flow.id_factory is not None:
            return str(flow.id_factory())
        flow.id_counter += 1
        return flow.id_prefix + str(flow.id_counter)

    def start_call(self, action_name: str, payload: Any, timeout: Any) -> Any:
        """Queue or send a CALL; returns the future of its typed response."""
        fut = self.loop.create_future()
        self.call_into(fut, action_name, payload, timeout)
        return fut

    def call_into(self, fut: Any, action_name: str, payload: Any, timeout: Any) -> None:
        """Queue or send a CALL whose outcome goes to ``fut``: an asyncio Future or any object
        with ``done()``, ``set_result(value)`` and ``set_exception(exc)`` (a :class:`CallGroup`
        slot gathers many calls without a Future each). A payload that fails its schema raises
        here; everything later (answer, CallError, timeout, closing) goes to ``fut``."""
        self._call(fut, -1, action_name, payload, timeout)

    def call_group(
        self, group: CallGroup, index: Any, action_name: str, payload: Any, timeout: Any
    ) -> None:
        """:meth:`call_into` for call ``index`` of ``group`` (a fan-out): the outcome goes into
        ``group.results[index]`` with no slot object per call (the index rides in the pending
        entry), so a fan-out to many stations allocates one tuple per call."""
        self._call(group, index, action_name, payload, timeout)

    def _call(self, fut: Any, index: Any, action_name: str, payload: Any, timeout: Any) -> None:
        if self._closed or self.transport is None:
            exc = ConnectionClosedError(f"not connected to {self.identity!r}")
            if index >= 0:
                _group_settle(fut, index, exc)
            else:
                fut.set_exception(exc)
            return
        action = self.actions.get(action_name)
        if action is None and self.validate_outgoing:
            raise ValueError(f"unknown action {action_name!r} for {self.subprotocol}")
        if action is not None:
            payload = self._prepare(action, payload)
        if timeout is None:
            timeout = self.call_timeout
        # The timeout runs from now, also while the call waits in the queue (the docstring of
        # ChargePoint.call promises it).
        started = _monotonic()
        deadline = started + timeout if timeout else 0.0
        if self._outstanding < self.max_outstanding:
            self._send_call(fut, action, action_name, payload, timeout, deadline, started, index)
        else:
            if self._flow.queue is None:
                self._flow.queue = deque()
            if index >= 0:  # a CallGroup's call: its index last (see _resolve)
                self._flow.queue.append(
                    (fut, action, action_name, payload, timeout, deadline, started, index)
                )
            else:
                self._flow.queue.append(
                    (fut, action, action_name, payload, timeout, deadline, started)
                )
            if deadline:
                self._flow.sweeper.add(self)

    def _prepare(self, action: Any, payload: Any) -> Any:
        if type(payload) is _Raw:
            return payload  # made by encode_request(): already checked
        request_type = action.request
        if action.custom and isinstance(payload, msgspec.Struct):
            payload = _to_builtins(payload)  # a vendor action's payload is a JSON object
        if type(payload) is request_type:
            if self.validate_outgoing:
                body = _encode(payload)  # encoded once, checked, sent as is
                try:
                    if _last_valid.get(request_type) != body:
                        action.request_decoder.decode(body)
                        _last_valid[request_type] = body
                except (ValueError, RecursionError) as exc:
                    raise outgoing_error(exc, request_type.__name__) from None
                return _Raw(body)
            return payload
        if type(payload) is dict:
            if self.validate_outgoing:
                try:
                    return _convert(payload, request_type)
                except msgspec.ValidationError as exc:
                    raise outgoing_error(exc, request_type.__name__) from None
            return payload
        raise TypeError(f"payload must be {request_type.__name__} or a dict, not {type(payload)!r}")

    def encode_request(self, action_name: str, payload: Any) -> Any:
        """``payload`` encoded (and checked, with ``validate_outgoing``) for ``action_name``, as a
        ``msgspec.Raw`` that :meth:`start_call` sends as is: a fan-out encodes once per version."""
        action = self.actions.get(action_name)
        if action is None:
            raise ValueError(f"unknown action {action_name!r} for {self.subprotocol}")
        payload = self._prepare(action, payload)
        return payload if type(payload) is _Raw else _Raw(_encode(payload))

    def _send_call(
        self,
        fut: Any,
        action: Any,
        action_name: str,
        payload: Any,
        timeout: Any,
        deadline: float,
        started: float,
        index: Any,
    ) -> None:
        unique_id = self.next_id()
        self._outstanding += 1
        # (waiter, action, name, deadline, timeout, started[, index]): started feeds
        # observer.call_out; a CallGroup's call has its index last (see _resolve)
        if index >= 0:
            self._pending[unique_id] = (fut, action, action_name, deadline, timeout, started, index)
        else:
            self._pending[unique_id] = (fut, action, action_name, deadline, timeout, started)
        if deadline:
            self._flow.sweeper.add(self)
        if type(payload) is _Raw and self._flow.id_factory is None:
            # A fan-out sends the same encoded payload to every station: the frame's tail is
            # made once (ids from the counter are hex digits and digits: no JSON escapes).
            self._write(b'[2,"' + unique_id.encode("ascii") + _call_tail(action_name, payload))
        else:
            self._write(_encode_call(unique_id, action_name, payload))

    def _complete(self, unique_id: str) -> None:
        """Free the slot of an answered (or expired) call and send the next queued one."""
        del self._pending[unique_id]
        self._outstanding -= 1
        queue = self._flow.queue
        while queue and self._outstanding < self.max_outstanding:
            entry = queue.popleft()
            if not entry[0].done():  # skip calls whose caller gave up while queued
                self._send_call(
                    entry[0],
                    entry[1],
                    entry[2],
                    entry[3],
                    entry[4],
                    entry[5],
                    entry[6],
                    entry[7] if len(entry) > 7 else -1,
                )

    def send(self, action_name: str, payload: Any) -> str:
        """OCPP 2.1 SEND ``[6, id, action, payload]``: never answered, not subject to the
        one-outstanding-CALL rule (2.1 part 4 section 4.2.5). Returns the id used."""
        if self.subprotocol != wire.OCPP21:
            raise ValueError(f"SEND frames exist only in OCPP 2.1, not {self.subprotocol}")
        if self._closed or self.transport is None:
            raise ConnectionClosedError(f"not connected to {self.identity!r}")
        action = self.actions.get(action_name)
        if action is None and self.validate_outgoing:
            raise ValueError(f"unknown action {action_name!r} for {self.subprotocol}")
        if action is not None:
            payload = self._prepare(action, payload)
        unique_id = self.next_id()
        self._write(_encode_send(unique_id, action_name, payload))
        return unique_id

    def expire(self, now: float) -> bool:
        """Time out calls past their deadline, sent or still queued; True while calls with a
        deadline remain (a call without a timeout does not keep the sweeper's timer running)."""
        queue = self._flow.queue
        if queue:
            # Queued calls time out where they wait: their deadline was set by call().
            late = [entry for entry in queue if entry[5] and entry[5] <= now]
            if late:
                self._flow.queue = deque(
                    entry for entry in queue if not (entry[5] and entry[5] <= now)
                )
                for entry in late:
                    log.warning(
                        "%s: CALL %s got no answer within %g s (still queued behind another CALL)",
                        self.identity,
                        entry[2],
                        entry[4],
                    )
                    if self.observer is not None:
                        self._call_out(entry[2], entry[6], "timeout")
                    _resolve(entry, 7, CallTimeoutError(entry[2], "", entry[4]), True)
        if not self._pending and not self._flow.queue:
            return False
        expired = [
            (uid, entry) for uid, entry in self._pending.items() if entry[3] and entry[3] <= now
        ]
        for uid, entry in expired:
            self._complete(uid)
            log.warning(
                "%s: CALL %s (id %r) got no answer within %g s",
                self.identity,
                entry[2],
                uid,
                entry[4],
            )
            if self.observer is not None:
                self._call_out(entry[2], entry[5], "timeout")
            _resolve(entry, 6, CallTimeoutError(entry[2], uid, entry[4]), True)
        return any(entry[3] for entry in self._pending.values()) or any(
            entry[5] for entry in self._flow.queue or ()
        )


def _resolve(entry: tuple[Any, ...], at: Any, value: Any, failed: bool) -> None:
    """Settle the waiter of a pending (``at`` 6) or queued (``at`` 7) call's entry: a CallGroup's
    call has its index at ``at`` (see :meth:`Engine.call_group`), any other's waiter is a Future
    or slot, completed unless its caller gave up."""
    fut = entry[0]
    if len(entry) > at:
        _group_settle(fut, entry[at], value)
    elif not fut.done():
        if failed:
            fut.set_exception(value)
        else:
            fut.set_result(value)


def _group_settle(group: CallGroup, index: Any, value: Any) -> None:
    group._settle(index, value)  # compiled: a C call (the .pxd types ``group``)


class FrameListener(picows.WSListener):
    """picows' listener that hands every frame to its engine, ``charge_point``.

    Compiled, this is a ``cdef class`` subclassing picows' ``WSListener`` (see ``_engine_c.pxd``):
    picows reaches :meth:`on_ws_frame` through its vtable and the engine's ``feed`` is a direct C
    call, with no Python-level call per frame. A Python subclass that does not override
    ``on_ws_frame`` keeps that path. Pure, :meth:`bind` puts the engine's bound ``feed`` in the
    instance dictionary, where picows finds it first (one call instead of two).
    """

    def bind(self, charge_point: Engine) -> None:
        self.charge_point = charge_point
        if not _COMPILED:
            self.__dict__["on_ws_frame"] = charge_point._feed

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        self.charge_point._feed(transport, frame)


class CallGroup:
    """The outcomes of many CALLs (a fan-out) gathered into one Future, without a Future and a
    done-callback per call: each call reports to a :class:`CallSlot` (see
    :meth:`Engine.call_into`); ``future`` resolves to the list of results, an exception standing
    for a call that failed, once every call has ended."""

    def __init__(self, loop: Any, count: int) -> None:
        self.results: list[Any] = [None] * count
        self.remaining = count
        self.future = loop.create_future()
        if not count:
            self.future.set_result(self.results)

    def slot(self, index: Any) -> CallSlot:
        return CallSlot(self, index)

    def done(self) -> bool:
        """The whole group ended (or its caller went away): queued calls of it are not sent."""
        return bool(self.future.done())

    def _settle(self, index: Any, value: Any) -> None:
        self.results[index] = value
        self.remaining -= 1
        if not self.remaining and not self.future.done():
            self.future.set_result(self.results)


class CallSlot:
    """One call's place in a :class:`CallGroup`; quacks like the Future the engine completes."""

    def __init__(self, group: CallGroup, index: Any) -> None:
        self.group = group
        self.index = index
        self.finished = False

    def done(self) -> bool:
        # A fan-out whose caller went away (its Future cancelled) sends nothing more.
        return self.finished or self.group.future.done()

    def set_result(self, value: Any) -> None:
        if not self.finished:
            self.finished = True
            self.group._settle(self.index, value)

    def set_exception(self, exc: Any) -> None:
        self.set_result(exc)


def hook_name(hook: Any) -> str:
    """A hook's real name for the log: ``module.Class.method`` or ``module.function``."""
    target = getattr(hook, "func", hook)  # functools.partial
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    module = getattr(target, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def call_hook(engine: Any, hook: Any, args: tuple[Any, ...]) -> None:
    """Run a hook of ``engine``'s (sync or async); its errors are logged with the connection's
    identity and the hook's name, never raised and never put in an answer to the peer. An async
    hook's task is kept in the engine's ``hook_tasks`` (the server's set on the server side, which
    waits for them, then cancels them, when it closes)."""
    try:
        result = hook(*args)
    except Exception:
        log.exception("%s: hook %s failed", engine.identity, hook_name(hook))
        return
    if hasattr(result, "__await__"):
        _hook_task(engine, result, hook)


def _hook_task(engine: Engine, coro: Any, hook: Any) -> None:
    """Run an async hook's coroutine as a task kept in the engine's hook-task set."""
    task = engine.loop.create_task(coro)
    flow = engine._flow
    tasks = flow.hook_tasks
    if tasks is None:
        tasks = flow.hook_tasks = set()
    tasks.add(task)
    task.add_done_callback(_HookDone(tasks, engine.identity, hook))


class _HookDone:
    """Done-callback of an async hook's task: forget the task, log its failure."""

    __slots__ = ("hook", "identity", "tasks")

    def __init__(self, tasks: set[Any], identity: str, hook: Any) -> None:
        self.tasks = tasks
        self.identity = identity
        self.hook = hook

    def __call__(self, task: Any) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "%s: hook %s failed",
                self.identity,
                hook_name(self.hook),
                exc_info=task.exception(),
            )


async def _finish_async(
    engine: Any, coro: Any, unique_id: str, plan: Any, request: Any, is_send: bool
) -> None:
    """Await an async handler and answer; the reader goes on meanwhile (no deadlock when the
    handler itself calls the peer)."""
    try:
        try:
            result = await coro
        except OCPPError as exc:
            if not is_send:
                engine._reply_error(unique_id, exc, plan.action.name)
            return
        except Exception:
            log.exception("%s: handler for %s failed", engine.identity, plan.action.name)
            if not is_send:
                engine._reply_error(
                    unique_id, InternalError("An internal error occurred"), plan.action.name
                )
            return
        if not is_send:
            engine._reply(unique_id, plan, request, result, None)
    finally:
        if not is_send:
            _async_call_done(engine)


def _async_call_done(engine: Engine) -> None:
    """An async handler's CALL is answered (or its connection gone)."""
    engine._async_calls -= 1
    engine._unanswered -= 1
