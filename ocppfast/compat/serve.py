"""mobilityhouse-style code on ocppfast's picows server and client, instead of ``websockets``.

mobilityhouse users build their central system on ``websockets.serve(on_connect, host, port,
subprotocols=[...])`` and their charging station on ``websockets.connect(uri, subprotocols=[...])``,
then hand the connection to ``ChargePoint(id, connection).start()``. These two functions take the
same arguments and give a connection with the same ``recv()``/``send()`` coroutines, carried by
picows (C-level WebSocket framing, uvloop) instead::

    from ocppfast.compat import connect, serve

    server = await serve(on_connect, "0.0.0.0", 9000, subprotocols=["ocpp1.6"])
    async with connect("ws://127.0.0.1:9000/CP_1", subprotocols=["ocpp1.6"]) as ws:
        await ChargePoint("CP_1", ws).start()

``serve()`` also takes a ChargePoint subclass instead of a handler: each connection then gets
``cls(identity, connection).start()``, the identity being the last path segment.

What the connection offers (the part of the ``websockets`` API that OCPP code uses): ``recv()``
returning ``str``, ``send(str)``, ``close()``, ``subprotocol``, ``request.path``,
``request.headers``, ``remote_address``; ``async with`` and ``wait_closed()``. A lost connection
makes ``recv()``/``send()`` raise :class:`ConnectionClosed` (an ``ocppfast.errors``
``ConnectionClosedError``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any, Self
from urllib.parse import unquote

import picows

from .. import _speedups
from ..engine import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
)
from ..errors import ConnectionClosedError
from ..options import CommonOptions, options_of

__all__ = ["ConnectionClosed", "Server", "WebSocketConnection", "connect", "serve"]

log = logging.getLogger("ocppfast.compat")
# picows' listener with a compiled frame callback (ocppfast._compat_fast.FrameListener)
_FrameListener: Any = _speedups.load("_compat_fast")[0].FrameListener

_TEXT = 1  # picows.WSMsgType.TEXT
_CONTINUATION = 0
_BINARY = 2
_CLOSE = 8
# RFC 6455 section 7.4.1 close codes: ocppfast's own (ocppfast.engine), and 1007, which only this
# connection sends (a TEXT message that is not UTF-8; ocppfast's engine answers it in OCPP terms)
_CLOSE_NORMAL = CLOSE_NORMAL
_CLOSE_GOING_AWAY = CLOSE_GOING_AWAY
_CLOSE_UNSUPPORTED = CLOSE_UNSUPPORTED
_CLOSE_INVALID_DATA = 1007
_CLOSE_TOO_BIG = CLOSE_TOO_BIG
_CLOSE_PROTOCOL_ERROR = CLOSE_PROTOCOL_ERROR
# picows' initial read buffer per connection (its own default is 16 KiB): ocppfast's option
_READ_BUFFER_SIZE: int = options_of(CommonOptions)["read_buffer_size"][1].default


class ConnectionClosed(ConnectionClosedError):
    """The connection is closed (``recv()``/``send()`` after a close, or a close while waiting)."""


class _Request:
    """The upgrade request, as ``websocket.request`` in ``websockets``: ``path``, ``headers``."""

    __slots__ = ("headers", "path")

    def __init__(self, path: str, headers: Any) -> None:
        self.path = path
        self.headers = headers


class WebSocketConnection(_FrameListener):  # type: ignore[misc]
    """One WebSocket connection with ``websockets``' ``recv()``/``send()`` API over picows.

    Frames picows delivers are decoded to ``str`` and either handed to a waiting ``recv()`` or
    queued; ``send(text)`` writes one TEXT frame. A picows ``WSListener`` through
    ``ocppfast._compat_fast.FrameListener``: while a compat ChargePoint's ``start()`` reads from
    it, frames go from picows to that ChargePoint's sink without a Python-level call (compiled);
    otherwise to :meth:`_on_frame`. A subclass may override ``on_ws_frame`` (and call
    ``super()``); frames then go through it.
    """

    def __init__(self, *, max_message_size: int = 1024 * 1024) -> None:
        super().__init__()
        self.transport: Any = None
        self.subprotocol: str | None = None
        self.request: _Request | None = None
        self.remote_address: Any = None
        self.max_message_size = max_message_size
        self._frames: deque[Any] = deque()
        self._waiter: asyncio.Future[Any] | None = None
        self._closed: ConnectionClosed | None = None
        self._closed_event = asyncio.Event()
        self._fragments: bytearray | None = None
        # Set by a compat ChargePoint's start() while it waits in recv() (see
        # ChargePoint._frame_sink): frames go to it straight from the listener, with no future
        # and no task switch per frame. It returns False to have the frame queued for recv().
        self._sink: Callable[[str], bool] | None = None

    # --- the websockets-like side ---------------------------------------------------------------

    async def recv(self) -> str:
        """The next message; raises :class:`ConnectionClosed` once the connection is gone."""
        if self._frames:
            queued: str = self._frames.popleft()
            return queued
        if self._closed is not None:
            raise self._closed
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            text: str = await waiter
        finally:
            self._waiter = None
        return text

    async def send(self, message: str | bytes) -> None:
        """Send ``message`` as one TEXT frame."""
        self._write(message)

    def _write(self, message: str | bytes) -> None:
        """``send()`` without a coroutine (it never waits)."""
        if self._closed is not None:
            raise self._closed
        self.transport.send(_TEXT, message.encode() if isinstance(message, str) else message)

    async def close(self, code: int = _CLOSE_NORMAL, reason: str = "") -> None:
        """Send a close frame, disconnect, and wait until the connection is gone."""
        if self.transport is not None and self._closed is None:
            self.transport.send_close(code, reason.encode())
            self.transport.disconnect()
        await self._closed_event.wait()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def __aiter__(self) -> WebSocketConnection:
        return self

    async def __anext__(self) -> str:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the picows side ------------------------------------------------------------------------

    def on_ws_connected(self, transport: Any) -> None:
        self.transport = transport
        try:
            self.remote_address = transport.underlying_transport.get_extra_info("peername")
        except Exception:  # noqa: BLE001 - informational only
            self.remote_address = None

    def _on_frame(self, transport: Any, frame: Any) -> None:
        """A frame from picows (``on_ws_frame``) while no ChargePoint's ``start()`` takes them
        from the listener itself (see ``FrameListener``)."""
        if frame.msg_type == _TEXT and frame.fin:
            sink = self._sink
            if sink is not None and not self._frames:
                try:
                    text = frame.get_payload_as_utf8_text()
                except UnicodeDecodeError:
                    self._deliver(frame.get_payload_as_bytes())  # closes the connection (1007)
                    return
                if not sink(text):
                    self._hand_over(text)
                return
            self._deliver(frame.get_payload_as_bytes())
        else:
            self._other_frame(transport, frame)

    def on_ws_disconnected(self, transport: Any) -> None:
        self._lost()

    def _deliver(self, data: bytes) -> None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # RFC 6455 section 8.1: a TEXT message that is not UTF-8 fails the connection (1007),
            # as websockets does.
            self.transport.send_close(_CLOSE_INVALID_DATA, b"invalid UTF-8")
            self.transport.disconnect()
            return
        sink = self._sink
        if sink is not None and not self._frames and sink(text):
            return
        self._hand_over(text)

    def _hand_over(self, item: Any) -> None:
        """Give ``item`` to the waiting ``recv()``, or queue it; frames after it are queued (the
        sink is off until the reader asks again)."""
        self._sink = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_result(item)
        else:
            self._frames.append(item)

    def _other_frame(self, transport: Any, frame: Any) -> None:
        msg_type = frame.msg_type
        if msg_type == _TEXT or msg_type == _CONTINUATION:
            # picows hands over fragments as they come: reassemble, up to max_message_size
            if (msg_type == _TEXT) == (self._fragments is not None):
                self._fail(transport, _CLOSE_PROTOCOL_ERROR, b"unexpected continuation frame")
                return
            if msg_type == _TEXT:
                self._fragments = bytearray()
            assert self._fragments is not None
            self._fragments += frame.get_payload_as_memoryview()
            if len(self._fragments) > self.max_message_size:
                self._fail(transport, _CLOSE_TOO_BIG, b"message too big")
            elif frame.fin:
                data = bytes(self._fragments)
                self._fragments = None
                self._deliver(data)
        elif msg_type == _CLOSE:
            code = frame.get_close_code()
            transport.send_close(code if code else _CLOSE_NORMAL)
            transport.disconnect()
        elif msg_type == _BINARY:
            self._fail(transport, _CLOSE_UNSUPPORTED, b"OCPP-J uses text frames")
        # PING is answered by picows; PONG needs nothing

    def _fail(self, transport: Any, code: int, reason: bytes) -> None:
        self._fragments = None
        transport.send_close(code, reason)
        transport.disconnect()

    def _lost(self) -> None:
        if self._closed is None:
            self._closed = ConnectionClosed("the WebSocket connection is closed")
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_exception(self._closed)
        self._closed_event.set()


Handler = Callable[[WebSocketConnection], Awaitable[Any]]


def _charge_point_handler(charge_point_class: type) -> Handler:
    async def handler(connection: WebSocketConnection) -> None:
        assert connection.request is not None
        identity = unquote(connection.request.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
        await charge_point_class(identity, connection).start()

    return handler


class Server:
    """What :func:`serve` returns: ``sockets``, ``close()``, ``wait_closed()``,
    ``serve_forever()``, ``async with``; ``connections`` are the open ones."""

    def __init__(
        self,
        handler: Handler,
        subprotocols: tuple[str, ...],
        max_message_size: int,
    ) -> None:
        self.handler = handler
        self.subprotocols = subprotocols
        self.max_message_size = max_message_size
        self.connections: set[WebSocketConnection] = set()
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def sockets(self) -> Any:
        assert self.server is not None
        return self.server.sockets

    def _accept(self, request: Any) -> Any:
        connection = _ServerConnection(self, max_message_size=self.max_message_size)
        connection.request = _Request(request.path.decode("latin-1"), request.headers)
        offered = [
            p.strip()
            for header in request.headers.getall("Sec-WebSocket-Protocol", [])
            for p in header.split(",")
            if p.strip()
        ]
        # The client's order of preference decides (OCPP-J 1.6 section 3.1.2); none in common:
        # the handshake completes without a subprotocol and the handler decides (mobilityhouse's
        # examples close such connections).
        chosen = next((p for p in offered if p in self.subprotocols), None)
        connection.subprotocol = chosen
        headers = {"Sec-WebSocket-Protocol": chosen} if chosen else {}
        return picows.WSUpgradeResponseWithListener(
            picows.WSUpgradeResponse.create_101_response(headers), connection
        )

    def _run(self, connection: WebSocketConnection) -> None:
        self.connections.add(connection)
        task = asyncio.get_running_loop().create_task(self._handle(connection))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, connection: WebSocketConnection) -> None:
        try:
            await self.handler(connection)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("connection handler failed")
        finally:
            self.connections.discard(connection)
            if not connection.closed and connection.transport is not None:
                connection.transport.send_close(_CLOSE_NORMAL)
                connection.transport.disconnect()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for connection in list(self.connections):
            if connection.transport is not None and not connection.closed:
                connection.transport.send_close(_CLOSE_GOING_AWAY)
                connection.transport.disconnect()

    async def wait_closed(self) -> None:
        if self.server is not None:
            await self.server.wait_closed()
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    async def serve_forever(self) -> None:
        assert self.server is not None
        await self.server.serve_forever()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


class _ServerConnection(WebSocketConnection):
    def __init__(self, server: Server, *, max_message_size: int) -> None:
        super().__init__(max_message_size=max_message_size)
        self._server = server

    def on_ws_connected(self, transport: Any) -> None:
        super().on_ws_connected(transport)
        self._server._run(self)


async def serve(
    handler: Handler | type,
    host: str | None = "127.0.0.1",
    port: int = 9000,
    *,
    subprotocols: Iterable[str] = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1"),
    max_message_size: int = 1024 * 1024,
    ssl: Any = None,
    use_aiofastnet: bool = False,
    read_buffer_size: int = _READ_BUFFER_SIZE,
    **picows_options: Any,
) -> Server:
    """Listen on ``host:port`` (``port=0``: any free port) as ``websockets.serve`` does.

    ``handler(connection)`` runs for each connection (the connection closes when it returns);
    a ChargePoint subclass instead runs ``cls(identity, connection).start()``.
    ``read_buffer_size``: each connection's initial read buffer in bytes (it grows as needed;
    the default is ocppfast's ``read_buffer_size`` option's). Other keyword arguments go to
    ``picows.ws_create_server``.
    """
    if isinstance(handler, type):
        handler = _charge_point_handler(handler)
    server = Server(handler, tuple(subprotocols), max_message_size)
    server.server = await picows.ws_create_server(
        server._accept,
        host,
        port,
        ssl=ssl,
        max_frame_size=max_message_size,
        logger_name="ocppfast.compat",
        # uvloop's own transport, as ocppfast's CentralSystem uses by default (it measured
        # cheaper per connection and per write here)
        use_aiofastnet=use_aiofastnet,
        # it grows as needed; picows' 16 KiB default is most of an idle connection's memory
        read_buffer_init_size=read_buffer_size,
        **picows_options,
    )
    return server


class _Connecting:
    """``await connect(...)`` or ``async with connect(...) as ws``, as in ``websockets``."""

    def __init__(self, uri: str, options: dict[str, Any]) -> None:
        self.uri = uri
        self.options = options
        self.connection: WebSocketConnection | None = None

    async def _open(self) -> WebSocketConnection:
        options = dict(self.options)
        subprotocols = tuple(options.pop("subprotocols", ()) or ())
        max_message_size = options.pop("max_message_size", 1024 * 1024)
        headers = dict(options.pop("extra_headers", None) or {})
        if subprotocols:
            headers["Sec-WebSocket-Protocol"] = ", ".join(subprotocols)
        connection = WebSocketConnection(max_message_size=max_message_size)

        def factory(request: Any, response: Any) -> WebSocketConnection:
            chosen = response.headers.get("Sec-WebSocket-Protocol")
            connection.subprotocol = chosen.strip() if chosen else None
            connection.request = _Request(request.path.decode("latin-1"), request.headers)
            return connection

        await picows.ws_connect(
            factory,
            self.uri,
            extra_headers=headers,
            max_frame_size=max_message_size,
            logger_name="ocppfast.compat",
            **options,
        )
        self.connection = connection
        return connection

    def __await__(self) -> Generator[Any, None, WebSocketConnection]:
        return self._open().__await__()

    async def __aenter__(self) -> WebSocketConnection:
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        if self.connection is not None:
            await self.connection.close()


def connect(
    uri: str,
    *,
    subprotocols: Iterable[str] | None = None,
    extra_headers: dict[str, str] | None = None,
    max_message_size: int = 1024 * 1024,
    ssl_context: Any = None,
    use_aiofastnet: bool = False,
    **picows_options: Any,
) -> _Connecting:
    """Open a WebSocket connection to ``uri`` as ``websockets.connect`` does; await it or use
    ``async with``. ``subprotocols`` are offered in order; ``connection.subprotocol`` is the
    server's choice (``None`` when it chose none)."""
    return _Connecting(
        uri,
        {
            "subprotocols": subprotocols,
            "extra_headers": extra_headers,
            "max_message_size": max_message_size,
            "ssl_context": ssl_context,
            "use_aiofastnet": use_aiofastnet,
            **picows_options,
        },
    )
