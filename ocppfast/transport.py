"""picows listener feeding websocket frames into a ChargePoint's engine (both sides).

Complete TEXT frames go straight to the (compiled) engine: the listener is an
``ocppfast.engine.FrameListener``, whose ``on_ws_frame`` picows calls at C level when compiled. Everything else comes back here through ``_other_frame``: fragmented
messages are reassembled up to ``max_message_size`` (picows does not reassemble, and its
``max_frame_size`` is per frame), BINARY frames are refused (OCPP-J uses text frames only: 1.6
section 3.1, 2.0.1 part 4 section 3.1), CLOSE completes the closing handshake.

Backpressure: picows calls ``pause_writing``/``resume_writing`` when the socket's write buffer
crosses its high/low-water marks; the engine then stops reading from that peer (see
``Engine.pause_writing``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import picows
from picows import picows as _picows_impl

from .charge_point import ChargePoint
from .engine import (
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
    FrameListener,
)

log = logging.getLogger("ocppfast")

__all__ = [
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_TOO_BIG",
    "CLOSE_UNSUPPORTED",
    "HandshakeLimiter",
    "OCPPListener",
    "PicowsLog",
    "RejectListener",
    "create_server",
]

# RFC 6455 section 5.2 opcodes (picows.WSMsgType's values)
_CONTINUATION, _TEXT, _BINARY, _CLOSE = 0x0, 0x1, 0x2, 0x8
# picows' server protocol class (not in its type stubs; ocppfast pins picows exactly)
WSProtocol: Any = _picows_impl.WSProtocol  # type: ignore[attr-defined]


class OCPPListener(FrameListener):
    """Connects one picows transport to one :class:`ChargePoint`."""

    #: Set by the server once the station passed its checks and is in the registry.
    registered = False
    charge_point: ChargePoint  # set by bind()

    def __init__(
        self,
        charge_point: ChargePoint,
        *,
        max_message_size: int,
        on_connected: Callable[[OCPPListener], None] | None = None,
        on_disconnected: Callable[[OCPPListener], None] | None = None,
    ) -> None:
        self.bind(charge_point)  # hot path: picows -> the engine's feed, for every frame
        self.max_message_size = max_message_size
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._fragments: bytearray | None = None
        self.transport: Any = None
        self.rx_seen = 0  # the engine's rx_count at the last keepalive sweep

    def on_ws_connected(self, transport: Any) -> None:
        self.transport = transport
        cp = self.charge_point
        underlying = transport.underlying_transport
        # Security profile 3: the client certificate (a dict as ssl.SSLSocket.getpeercert()
        # gives it; None without TLS or without a verified certificate).
        cp.attach(transport, self._other_frame, underlying.get_extra_info("peercert") or None)
        if self._on_connected is not None:
            self._on_connected(self)

    def on_ws_disconnected(self, transport: Any) -> None:
        self.charge_point.connection_lost()
        if self._on_disconnected is not None:
            self._on_disconnected(self)

    # picows: the write buffer crossed its high-water mark (the peer reads slower than it is
    # answered) / drained below the low-water mark.
    def pause_writing(self) -> None:
        self.charge_point.pause_writing()

    def resume_writing(self) -> None:
        self.charge_point.resume_writing()

    def _other_frame(self, msg_type: int, fin: int, payload: bytes) -> None:
        cp = self.charge_point
        if msg_type == _TEXT:
            if self._fragments is not None:
                # RFC 6455 section 5.4: a new message may not start before the last one ends.
                self._protocol_error("new message before the fragmented one was complete")
            elif fin:  # only reached with nothing being reassembled: dispatch in order
                cp.deliver(payload)
            else:  # the first fragment of a fragmented message
                self._fragments = bytearray(payload)
                cp.set_fragmenting(True)
                self._check_size()
        elif msg_type == _CONTINUATION:
            if self._fragments is None:
                self._protocol_error("continuation frame without a message")
                return
            self._fragments += payload
            if not self._check_size():
                return
            if fin:
                data = bytes(self._fragments)
                self._fragments = None
                cp.set_fragmenting(False)
                cp.deliver(data)
        elif msg_type == _CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else CLOSE_NORMAL
            cp.peer_closed(code, b"")
        elif msg_type == _BINARY:
            log.warning("%s: binary frame refused (OCPP-J uses text frames)", cp.identity)
            self._close(CLOSE_UNSUPPORTED, b"OCPP-J uses text frames")
        # PING is answered by picows (enable_auto_pong); PONG only proves liveness, and every
        # frame already counts as such in the keepalive sweep.

    def _check_size(self) -> bool:
        if self._fragments is not None and len(self._fragments) > self.max_message_size:
            log.warning(
                "%s: message over %d bytes, closing",
                self.charge_point.identity,
                self.max_message_size,
            )
            self._close(CLOSE_TOO_BIG, b"message too big")
            return False
        return True

    def _protocol_error(self, why: str) -> None:
        log.warning("%s: %s, closing", self.charge_point.identity, why)
        self._close(CLOSE_PROTOCOL_ERROR, why.encode())

    def _close(self, code: int, reason: bytes) -> None:
        self._fragments = None
        self.charge_point.set_fragmenting(False)
        self.charge_point.close_transport(code, reason)


class RejectListener(picows.WSListener):
    """Completes the handshake, then closes at once: no acceptable OCPP subprotocol was offered.

    OCPP-J 1.6 section 3.1.2 / 2.0.1 part 4 section 3.1.2: the server completes the handshake
    without a Sec-WebSocket-Protocol header and then closes the connection.
    """

    def on_ws_connected(self, transport: Any) -> None:
        transport.send_close(CLOSE_PROTOCOL_ERROR, b"no supported OCPP subprotocol offered")
        transport.disconnect()


class PicowsLog:
    """The logger handed to picows: what a peer can trigger does not reach the ERROR log.

    picows logs a protocol violation of the peer (a bad frame header, an unmasked frame, a bad
    close code...) at ERROR, once per offending connection, so a client could fill the server's
    error log at will. Here such records go to the ``ocppfast.picows`` logger at WARNING, at most
    ``per_second`` of them a second (the rest are counted and the count is logged with the next
    one let through). INFO records (one per connection accepted and closed) become DEBUG. One
    object for all connections: picows then makes no child logger per connection either.
    """

    def __init__(self, name: str = "ocppfast.picows", per_second: float = 10.0) -> None:
        self.logger = logging.getLogger(name)
        self.per_second = per_second
        self._window = 0.0
        self._in_window = 0
        self.suppressed = 0

    def isEnabledFor(self, level: int) -> bool:
        # INFO goes out as DEBUG, ERROR as WARNING (see the methods below).
        if level == logging.INFO:
            level = logging.DEBUG
        elif level > logging.WARNING:
            level = logging.WARNING
        return self.logger.isEnabledFor(level)

    def _limited(self, msg: str, args: tuple[Any, ...], exc_info: bool) -> None:
        if not self.logger.isEnabledFor(logging.WARNING):
            return
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window = now
            self._in_window = 0
        self._in_window += 1
        if self._in_window > self.per_second:
            self.suppressed += 1
            return
        if self.suppressed:
            msg += " (%d similar messages suppressed)"
            args = (*args, self.suppressed)
            self.suppressed = 0
        self.logger.warning(msg, *args, exc_info=exc_info)

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        if level >= logging.WARNING:
            self._limited(msg, args, bool(kwargs.get("exc_info")))
        else:
            self.logger.log(logging.DEBUG, msg, *args, **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.logger.debug(msg, *args, **kwargs)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.logger.debug(msg, *args, **kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._limited(msg, args, False)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._limited(msg, args, False)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._limited(msg, args, True)


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 10\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)


class HandshakeLimiter:
    """Bounds connections still in their WebSocket handshake, in all and per source address.

    A connection counts from the moment it is accepted until its upgrade request has been read
    (picows then sets ``transport.request``) or it is gone. Over a limit, the new connection is
    answered ``503 Service Unavailable`` with ``Retry-After`` and closed at once, so slow or
    stalled handshakes (slowloris) from one address cannot take the server's sockets and memory.
    Completed handshakes are pruned lazily, only when a limit is reached.
    """

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self.by_address: dict[Any, set[Any]] = {}
        self.count = 0
        self.refused = 0
        self._log = PicowsLog("ocppfast.server", per_second=1.0)

    def _prune(self, protos: set[Any]) -> None:
        done = [p for p in protos if p.transport is None or p.transport.request is not None]
        for proto in done:
            self.remove(proto)

    def admit(self, proto: Any, address: Any) -> bool:
        protos = self.by_address.get(address)
        if protos is not None and len(protos) >= self.per_address:
            self._prune(protos)
        if self.count >= self.total:
            for group in list(self.by_address.values()):
                self._prune(group)
        protos = self.by_address.get(address)
        if (protos is not None and len(protos) >= self.per_address) or self.count >= self.total:
            self.refused += 1
            self._log.warning(
                "%s: too many connections in their handshake (%d in all, limits %d / %d per "
                "address), answered 503",
                address,
                self.count,
                self.total,
                self.per_address,
            )
            return False
        if protos is None:
            protos = self.by_address[address] = set()
        protos.add(proto)
        proto._ocpp_address = address
        self.count += 1
        return True

    def remove(self, proto: Any) -> None:
        protos = self.by_address.get(proto._ocpp_address)
        if protos is not None and proto in protos:
            protos.discard(proto)
            self.count -= 1
            if not protos:
                del self.by_address[proto._ocpp_address]


class _LimitedProtocol(WSProtocol):  # type: ignore[misc]
    """picows' server protocol, counted by a :class:`HandshakeLimiter` while in its handshake.
    Only connection_made/connection_lost are overridden: the per-read path is picows' own."""

    _ocpp_limiter: HandshakeLimiter
    _ocpp_address: Any = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else peer
        if not self._ocpp_limiter.admit(self, address):
            try:
                transport.write(_BUSY)
            finally:
                transport.close()

    def connection_lost(self, exc: Any) -> None:
        self._ocpp_limiter.remove(self)
        super().connection_lost(exc)


async def create_server(
    listener_factory: Callable[[Any], Any],
    host: str | None,
    port: int,
    *,
    limiter: HandshakeLimiter,
    logger: Any,
    ssl: Any,
    handshake_timeout: float | None,
    max_frame_size: int,
    read_buffer_size: int,
    use_aiofastnet: bool,
    **kwargs: Any,
) -> asyncio.Server:
    """``picows.ws_create_server`` with the handshake limiter and the quiet logger (the same
    protocol arguments as picows 2.3.1's, which ocppfast pins exactly)."""
    loop = asyncio.get_running_loop()

    def protocol_factory() -> Any:
        proto = _LimitedProtocol(
            None,  # host+port
            None,  # ws_path
            False,  # is_client_side
            listener_factory,
            logger,
            True,  # disconnect_on_exception
            handshake_timeout,
            False,  # enable_auto_ping (the server's keepalive sweep pings)
            10,
            10,
            picows.WSAutoPingStrategy.PING_WHEN_IDLE,
            True,  # enable_auto_pong
            max_frame_size,
            None,  # extra_headers
            read_buffer_size,
        )
        proto._ocpp_limiter = limiter
        return proto

    if use_aiofastnet:
        import aiofastnet

        server: asyncio.Server = await aiofastnet.create_server(
            loop, protocol_factory, host=host, port=port, ssl=ssl, **kwargs
        )
    else:
        server = await loop.create_server(protocol_factory, host=host, port=port, ssl=ssl, **kwargs)
    return server
