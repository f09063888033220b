"""One connection's OCPP-J RPC state: pending calls, the one-outstanding-CALL queue, dispatch.

Knows nothing about sockets: it is given bytes (:meth:`Engine.receive`, or picows frames through
:meth:`Engine.feed`) and a transport with ``send(msg_type, data)``, ``send_close(code, reason)``
and ``disconnect()``. One source, two speeds: compiled by Cython with ``_engine_c.pxd`` into
``ocppfast._engine_c``, or imported as is; ``ocppfast.engine`` picks one.

The per-frame path is: decode the envelope (``wire.decode_frame``) -> find the pending future or
the handler -> decode the payload with the action's typed decoder -> invoke -> encode the reply ->
hand the bytes to the transport. Sync handlers answer inline, without a task.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import Any

import msgspec
import picows

from . import wire
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
)
from .validation import payload_error

__all__ = ["TEXT", "Engine", "Sweeper", "call_hook"]

log = logging.getLogger("ocppfast")

TEXT = 1  # picows WSMsgType.TEXT; a constant so the .py does not import what the .pxd cimports
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
_encode_call_result = wire.encode_call_result
_encode_send = wire.encode_send
_encode_call_error = wire.encode_call_error
_encode_error = wire.encode_error
_encode_call_result_error = wire.encode_call_result_error
_generic_decode = msgspec.json.decode
_convert = msgspec.convert
_encode = msgspec.json.Encoder().encode
_Raw = msgspec.Raw
# Per message type, the last encoding that passed the schema check. Checking is a pure function of
# the bytes, and many answers repeat exactly (empty responses; a Heartbeat's time within the same
# second), so a repeat costs one bytes comparison instead of a decode with its RFC 3339 patterns.
_last_valid: dict[Any, bytes] = {}
_monotonic = time.monotonic


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
    ) -> None:
        self._loop = loop
        self.subprotocol = subprotocol
        self.identity = identity
        self.actions = actions
        self._handlers: dict[str, Any] = {}
        self._after: dict[str, list[Any]] = {}
        self._shared_handlers = shared_handlers if shared_handlers is not None else {}
        self._shared_after = shared_after if shared_after is not None else {}
        self._pending: dict[str, Any] = {}
        self._queue: deque[Any] | None = None  # made on first use: an empty deque is ~600 bytes
        self._outstanding = 0
        self.max_outstanding = max_outstanding
        self.call_timeout = call_timeout
        self.validate_incoming = validate_incoming
        self.validate_outgoing = validate_outgoing
        self.max_bad_messages = max_bad_messages
        self.require_boot = require_boot
        self.accepted = not require_boot
        self._bad_messages = 0
        self._transport: Any = None
        self._ws: Any = None  # the same transport when it is picows' (a direct C call compiled)
        self._closed = False
        self._id_factory = id_factory
        self._id_prefix = os.urandom(6).hex()  # unique across reconnects of this identity
        self._id_counter = 0
        self._sweeper = sweeper_for(loop)
        self._slow_frame: Any = None
        self.rx_count = 0  # frames received; the keepalive sweep reads it

    # --- transport side ----------------------------------------------------------------

    def attach(self, transport: Any) -> None:
        self._transport = transport
        self._ws = transport if isinstance(transport, picows.WSTransport) else None
        self._closed = False

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
        return len(self._queue) if self._queue is not None else 0

    def feed(self, transport: Any, frame: Any) -> None:
        """picows ``on_ws_frame``: complete TEXT frames go straight in; others to the listener."""
        self.rx_count += 1
        if frame.msg_type == TEXT and frame.fin:
            self.receive(frame.get_payload_as_bytes())
        else:
            self._slow_frame(transport, frame)

    def _write(self, data: bytes) -> None:
        if not self._closed:
            if self._ws is not None:
                self._ws.send(TEXT, data)
            else:
                self._transport.send(TEXT, data)

    def close_transport(self, code: int, reason: bytes) -> None:
        """Send a close frame and disconnect."""
        if self._transport is not None and not self._closed:
            try:
                self._transport.send_close(code, reason)
                self._transport.disconnect()
            except Exception:
                log.debug("close failed", exc_info=True)

    def connection_lost(self) -> None:
        """Fail every pending and queued call at once; the tables are empty afterwards."""
        self._closed = True
        pending = self._pending
        queue = self._queue
        self._pending = {}
        self._queue = None
        self._outstanding = 0
        for entry in pending.values():
            fut = entry[0]
            if not fut.done():
                fut.set_exception(ConnectionClosedError(f"connection to {self.identity!r} closed"))
        for entry in queue or ():
            fut = entry[0]
            if not fut.done():
                fut.set_exception(ConnectionClosedError(f"connection to {self.identity!r} closed"))

    # --- incoming ----------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Handle one complete OCPP-J message."""
        frame: Any
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
        if exc.reply:
            self._write(_encode_error(exc, self.subprotocol))
        elif exc.message_type in (_CALLRESULT, _CALLERROR, _CALLRESULTERROR):
            # A broken answer to one of our CALLs: fail that call now rather than at its timeout.
            entry = self._pending.get(exc.unique_id)
            if entry is not None:
                self._complete(exc.unique_id)
                if not entry[0].done():
                    entry[0].set_exception(exc.error)
        self._bad_messages += 1
        if self.max_bad_messages and self._bad_messages >= self.max_bad_messages:
            log.warning("%s: %d bad messages in a row, closing", self.identity, self._bad_messages)
            self.close_transport(1002, b"too many invalid messages")

    def _on_call(self, unique_id: str, action_name: str, payload: Any, is_send: bool) -> None:
        action = self.actions.get(action_name)
        if action is None:
            if not is_send:
                self._reply_error(
                    unique_id, NotImplementedCallError(f"unknown action {action_name!r}"[:255])
                )
            else:
                log.warning("%s: SEND of unknown action %r dropped", self.identity, action_name)
            return
        if not self.accepted and action_name != "BootNotification":
            # OCPP 1.6 errata (section 4.2, SecurityError for a station not yet accepted) and
            # 2.0.1 B02.FR.09/B03.FR.07: answer CALLs before an accepted boot with SecurityError.
            if not is_send:
                self._reply_error(
                    unique_id, SecurityError("BootNotification has not been accepted")
                )
            return
        shared = False
        handler = self._handlers.get(action_name)
        if handler is None:
            handler = self._shared_handlers.get(action_name)
            if handler is None:
                if not is_send:
                    self._reply_error(
                        unique_id, NotSupportedError(f"{action_name} is not supported")
                    )
                else:
                    log.warning("%s: SEND %s has no handler", self.identity, action_name)
                return
            shared = True
        try:
            if self.validate_incoming:
                request = action.request_decoder.decode(payload)
            else:
                request = _generic_decode(payload)
                if type(request) is not dict:
                    raise msgspec.ValidationError("Expected `object`")
        except (ValueError, RecursionError) as exc:
            if not is_send:
                self._reply_error(unique_id, payload_error(exc))
            else:
                log.warning("%s: invalid SEND %s dropped: %s", self.identity, action_name, exc)
            return
        try:
            if shared:
                result = handler(self, request)
            else:
                result = handler(request)
        except OCPPError as exc:
            if not is_send:
                self._reply_error(unique_id, exc)
            return
        except Exception:
            log.exception("%s: handler for %s failed", self.identity, action_name)
            if not is_send:
                self._reply_error(unique_id, InternalError("An internal error occurred"))
            return
        if type(result) is not action.response and hasattr(result, "__await__"):
            self._loop.create_task(_finish_async(self, result, unique_id, action, request, is_send))
        elif not is_send:
            self._reply(unique_id, action, request, result)

    def _reply(self, unique_id: str, action: Any, request: Any, result: Any) -> None:
        if type(result) is not action.response:
            try:
                result = self._coerce_response(action, result)  # validated by the conversion
            except OCPPError as exc:
                self._reply_error(unique_id, exc)
                return
            payload = result
        elif self.validate_outgoing:
            # Encode once and check the bytes with the action's own decoder (msgspec does not
            # validate on encode); the checked bytes then go into the frame as they are.
            payload = _encode(result)
            try:
                if _last_valid.get(action.response) != payload:
                    action.response_decoder.decode(payload)
                    _last_valid[action.response] = payload
            except (ValueError, RecursionError) as exc:
                log.error(
                    "%s: handler for %s returned an invalid response: %s",
                    self.identity,
                    action.name,
                    payload_error(exc).description,
                )
                self._reply_error(unique_id, InternalError("An internal error occurred"))
                return
            payload = _Raw(payload)
        else:
            payload = result
        self._write(_encode_call_result(unique_id, payload))
        if (
            not self.accepted
            and action.name == "BootNotification"
            and getattr(result, "status", None) == "Accepted"
        ):
            self.accepted = True
        if self._after or self._shared_after:
            self._run_after(action.name, request, result)

    def _coerce_response(self, action: Any, result: Any) -> Any:
        response_type = action.response
        if result is None:
            result = {}
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
            "%s: handler for %s returned %s, not %s",
            self.identity,
            action.name,
            type(result).__name__,
            getattr(response_type, "__name__", "a dict"),
        )
        raise InternalError("An internal error occurred")

    def _reply_error(self, unique_id: str, exc: Any) -> None:
        self._write(
            _encode_call_error(
                unique_id, exc.wire_code(self.subprotocol), exc.description, exc.details
            )
        )

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
        fut = entry[0]
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
            if not fut.done():
                fut.set_exception(err)
            return
        if not fut.done():
            fut.set_result(result)

    def _on_error(self, frame: Any, result_error: bool) -> None:
        unique_id = frame.unique_id
        entry = self._pending.get(unique_id)
        if entry is None:
            # A CALLRESULTERROR reports that the peer rejected one of *our* CALLRESULTs; there is
            # no pending call for it. Anything else with an unknown id is a late or bogus answer.
            log.warning(
                "%s: %s %r for id %r: %s",
                self.identity,
                "CALLRESULTERROR" if result_error else "CALLERROR with unknown id",
                frame.error_code,
                unique_id,
                frame.error_description,
            )
            return
        if result_error:
            log.warning("%s: CALLRESULTERROR for pending id %r", self.identity, unique_id)
        self._complete(unique_id)
        fut = entry[0]
        err = from_call_error(frame.error_code, frame.error_description, frame.error_details)
        if result_error:
            err = CallResultError(err)
        if not fut.done():
            fut.set_exception(err)

    # --- outgoing ----------------------------------------------------------------------

    def next_id(self) -> str:
        if self._id_factory is not None:
            return str(self._id_factory())
        self._id_counter += 1
        return self._id_prefix + str(self._id_counter)

    def start_call(self, action_name: str, payload: Any, timeout: Any) -> Any:
        """Queue or send a CALL; returns the future of its typed response."""
        fut = self._loop.create_future()
        if self._closed or self._transport is None:
            fut.set_exception(ConnectionClosedError(f"not connected to {self.identity!r}"))
            return fut
        action = self.actions.get(action_name)
        if action is None and self.validate_outgoing:
            raise ValueError(f"unknown action {action_name!r} for {self.subprotocol}")
        if action is not None:
            payload = self._prepare(action, payload)
        if timeout is None:
            timeout = self.call_timeout
        if self._outstanding < self.max_outstanding:
            self._send_call(fut, action, action_name, payload, timeout)
        else:
            if self._queue is None:
                self._queue = deque()
            self._queue.append((fut, action, action_name, payload, timeout))
        return fut

    def _prepare(self, action: Any, payload: Any) -> Any:
        request_type = action.request
        if type(payload) is _Raw:
            return payload  # made by encode_request(): already checked
        if type(payload) is request_type:
            if self.validate_outgoing:
                body = _encode(payload)  # encoded once, checked, sent as is
                try:
                    if _last_valid.get(request_type) != body:
                        action.request_decoder.decode(body)
                        _last_valid[request_type] = body
                except (ValueError, RecursionError) as exc:
                    raise payload_error(exc) from None
                return _Raw(body)
            return payload
        if type(payload) is dict:
            if self.validate_outgoing:
                try:
                    return _convert(payload, request_type)
                except msgspec.ValidationError as exc:
                    raise payload_error(exc) from None
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
        self, fut: Any, action: Any, action_name: str, payload: Any, timeout: Any
    ) -> None:
        unique_id = self.next_id()
        self._outstanding += 1
        deadline = _monotonic() + timeout if timeout else 0.0
        self._pending[unique_id] = (fut, action, action_name, deadline, timeout)
        if deadline:
            self._sweeper.add(self)
        self._write(_encode_call(unique_id, action_name, payload))

    def _complete(self, unique_id: str) -> None:
        """Free the slot of an answered (or expired) call and send the next queued one."""
        del self._pending[unique_id]
        self._outstanding -= 1
        queue = self._queue
        while queue and self._outstanding < self.max_outstanding:
            entry = queue.popleft()
            if not entry[0].done():  # skip calls whose caller gave up while queued
                self._send_call(entry[0], entry[1], entry[2], entry[3], entry[4])

    def send(self, action_name: str, payload: Any) -> str:
        """OCPP 2.1 SEND ``[6, id, action, payload]``: never answered, not subject to the
        one-outstanding-CALL rule (2.1 part 4 section 4.2.5). Returns the id used."""
        if self.subprotocol != wire.OCPP21:
            raise ValueError(f"SEND frames exist only in OCPP 2.1, not {self.subprotocol}")
        if self._closed or self._transport is None:
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
        """Time out calls past their deadline; True while calls with a deadline remain (a call
        without a timeout does not keep the sweeper's timer running)."""
        if not self._pending:
            return False
        expired = [
            (uid, entry) for uid, entry in self._pending.items() if entry[3] and entry[3] <= now
        ]
        for uid, entry in expired:
            self._complete(uid)
            fut = entry[0]
            if not fut.done():
                fut.set_exception(CallTimeoutError(entry[2], uid, entry[4]))
        return any(entry[3] for entry in self._pending.values())


def call_hook(engine: Any, hook: Any, args: tuple[Any, ...]) -> None:
    """Run a hook of ``engine``'s (sync or async); its errors are logged, never raised."""
    try:
        result = hook(*args)
    except Exception:
        log.exception("%s: after-hook %r failed", engine.identity, hook)
        return
    if hasattr(result, "__await__"):
        task = engine._loop.create_task(result)
        task.add_done_callback(_log_hook_failure)


def _log_hook_failure(task: Any) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("after-hook failed", exc_info=task.exception())


async def _finish_async(
    engine: Any, coro: Any, unique_id: str, action: Any, request: Any, is_send: bool
) -> None:
    """Await an async handler and answer; the reader goes on meanwhile (no deadlock when the
    handler itself calls the peer)."""
    try:
        result = await coro
    except OCPPError as exc:
        if not is_send:
            engine._reply_error(unique_id, exc)
        return
    except Exception:
        log.exception("%s: handler for %s failed", engine.identity, action.name)
        if not is_send:
            engine._reply_error(unique_id, InternalError("An internal error occurred"))
        return
    if not is_send:
        engine._reply(unique_id, action, request, result)
