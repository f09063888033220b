"""picows listener feeding websocket frames into a ChargePoint's engine (both sides).

Complete TEXT frames go straight to the (compiled) engine: the listener's ``on_ws_frame`` is the
engine's bound ``feed``. Everything else comes back here: fragmented messages are reassembled up
to ``max_message_size`` (picows does not reassemble, and its ``max_frame_size`` is per frame),
BINARY frames are refused (OCPP-J uses text frames only: 1.6 section 3.1, 2.0.1 part 4 section
3.1), CLOSE is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import picows

from .charge_point import ChargePoint

log = logging.getLogger("ocppfast")

__all__ = ["CLOSE_PROTOCOL_ERROR", "CLOSE_TOO_BIG", "CLOSE_UNSUPPORTED", "OCPPListener"]

_TEXT = picows.WSMsgType.TEXT
_CONTINUATION = picows.WSMsgType.CONTINUATION
_BINARY = picows.WSMsgType.BINARY
_CLOSE = picows.WSMsgType.CLOSE

CLOSE_PROTOCOL_ERROR = picows.WSCloseCode.PROTOCOL_ERROR
CLOSE_TOO_BIG = picows.WSCloseCode.MESSAGE_TOO_BIG
CLOSE_UNSUPPORTED = picows.WSCloseCode.UNSUPPORTED_DATA


class OCPPListener(picows.WSListener):
    """Connects one picows transport to one :class:`ChargePoint`."""

    def __init__(
        self,
        charge_point: ChargePoint,
        *,
        max_message_size: int,
        on_connected: Callable[[OCPPListener], None] | None = None,
        on_disconnected: Callable[[OCPPListener], None] | None = None,
    ) -> None:
        self.charge_point = charge_point
        self.max_message_size = max_message_size
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._fragments: bytearray | None = None
        self.transport: Any = None
        self.rx_seen = 0  # the engine's rx_count at the last keepalive sweep
        # Hot path: picows calls the engine directly for every frame.
        self.on_ws_frame = charge_point.feed  # type: ignore[method-assign]

    def on_ws_connected(self, transport: Any) -> None:
        self.transport = transport
        cp = self.charge_point
        cp.attach(transport)
        cp._slow_frame = self._slow_frame
        if self._on_connected is not None:
            self._on_connected(self)

    def on_ws_disconnected(self, transport: Any) -> None:
        self.charge_point.connection_lost()
        if self._on_disconnected is not None:
            self._on_disconnected(self)

    def _slow_frame(self, transport: Any, frame: Any) -> None:
        cp = self.charge_point
        msg_type = frame.msg_type
        if msg_type == _TEXT:  # first fragment of a fragmented message (fin == 0)
            if self._fragments is not None:
                self._protocol_error(transport, "new message before the last one was complete")
                return
            self._fragments = bytearray(frame.get_payload_as_memoryview())
            self._check_size(transport)
        elif msg_type == _CONTINUATION:
            if self._fragments is None:
                self._protocol_error(transport, "continuation frame without a message")
                return
            self._fragments += frame.get_payload_as_memoryview()
            if not self._check_size(transport):
                return
            if frame.fin:
                data = bytes(self._fragments)
                self._fragments = None
                cp.receive(data)
        elif msg_type == _CLOSE:
            code = frame.get_close_code()
            transport.send_close(code if code else picows.WSCloseCode.OK)
            transport.disconnect()
        elif msg_type == _BINARY:
            log.warning("%s: binary frame refused (OCPP-J uses text frames)", cp.identity)
            transport.send_close(CLOSE_UNSUPPORTED, b"OCPP-J uses text frames")
            transport.disconnect()
        # PING is answered by picows (enable_auto_pong); PONG only proves liveness, and every
        # frame already counts as such in the keepalive sweep.

    def _check_size(self, transport: Any) -> bool:
        if self._fragments is not None and len(self._fragments) > self.max_message_size:
            log.warning(
                "%s: message over %d bytes, closing",
                self.charge_point.identity,
                self.max_message_size,
            )
            self._fragments = None
            transport.send_close(CLOSE_TOO_BIG, b"message too big")
            transport.disconnect()
            return False
        return True

    def _protocol_error(self, transport: Any, why: str) -> None:
        log.warning("%s: %s, closing", self.charge_point.identity, why)
        self._fragments = None
        transport.send_close(CLOSE_PROTOCOL_ERROR, why.encode())
        transport.disconnect()


class RejectListener(picows.WSListener):
    """Completes the handshake, then closes at once: no acceptable OCPP subprotocol was offered.

    OCPP-J 1.6 section 3.1.2 / 2.0.1 part 4 section 3.1.2: the server completes the handshake
    without a Sec-WebSocket-Protocol header and then closes the connection.
    """

    def on_ws_connected(self, transport: Any) -> None:
        transport.send_close(CLOSE_PROTOCOL_ERROR, b"no supported OCPP subprotocol offered")
        transport.disconnect()
