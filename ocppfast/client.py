"""The charging-station side: connect to a central system, verify the subprotocol, reconnect.

Reconnection follows OCPP 2.0.1's RetryBackOff parameters (B.. "Reconnecting", part 4 section
5.3): the first wait is ``backoff_min`` (RetryBackOffWaitMinimum) plus a random part up to
``backoff_random`` (RetryBackOffRandomRange); the wait doubles ``backoff_repeat`` times
(RetryBackOffRepeatTimes), then stays there.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl as ssl_module
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import picows

from . import versions as versions_mod
from .charge_point import ChargePoint
from .errors import ConnectionClosedError
from .transport import OCPPListener

log = logging.getLogger("ocppfast")

__all__ = ["SubprotocolError", "connect"]


class SubprotocolError(ConnectionError):
    """The server did not agree on one of the offered OCPP subprotocols."""


class ClientChargePoint(ChargePoint):
    """A ChargePoint made by :func:`connect`; ``close()`` also stops reconnecting."""

    _connection: Any = None

    async def wait_closed(self) -> None:
        """Return once the connection is closed for good (not while reconnecting)."""
        assert self._closed_event is not None
        await self._closed_event.wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._connection is not None:
            self._connection.closing = True
            task = self._connection.task
            if task is not None and not task.done():
                task.cancel()
        self.close_transport(code, reason.encode())
        if self._closed_event is not None and not self.closed:
            await self._closed_event.wait()
        if self._closed_event is not None:
            self._closed_event.set()
        hooks = self._flow.hook_tasks
        if hooks:  # async after-hooks still running do not outlive the station
            for hook_task in list(hooks):
                hook_task.cancel()
            await asyncio.wait(list(hooks))


class _Connection:
    """Keeps one ChargePoint connected, reconnecting with backoff when asked to."""

    def __init__(
        self,
        url: str,
        offered: tuple[str, ...],
        headers: dict[str, str],
        ssl: ssl_module.SSLContext | None,
        options: dict[str, Any],
        handlers: dict[str, Any],
        max_message_size: int,
        reconnect: bool,
        backoff: tuple[float, float, int],
        ping_interval: float,
        ping_timeout: float,
        connect_timeout: float,
    ) -> None:
        self.url = url
        self.offered = offered
        self.headers = headers
        self.ssl = ssl
        self.options = options
        self.handlers = handlers
        self.max_message_size = max_message_size
        self.reconnect = reconnect
        self.backoff = backoff
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.connect_timeout = connect_timeout
        self.cp: ChargePoint | None = None
        self.closing = False
        self.task: asyncio.Task[None] | None = None
        self.transport_options: dict[str, Any] = {}

    def _listener_factory(self, request: Any, response: Any) -> OCPPListener:
        chosen = response.headers.get("Sec-WebSocket-Protocol")
        # picows does not check the negotiated subprotocol: a missing or unoffered one means the
        # server speaks none of ours (OCPP-J 1.6 section 3.1.2; 2.0.1 part 4 section 3.1.2).
        if chosen is None or chosen.strip() not in self.offered:
            raise SubprotocolError(
                f"server did not accept any of {', '.join(self.offered)} (got {chosen!r})"
            )
        chosen = chosen.strip()
        loop = asyncio.get_running_loop()
        cp = self.cp
        if cp is None:
            cp = ClientChargePoint(loop, chosen, versions_mod.actions(chosen), **self.options)
            cp._handlers.update(self.handlers)
            cp._closed_event = asyncio.Event()
            cp._connected_event = asyncio.Event()
            self.cp = cp
        else:
            cp.subprotocol = chosen
            cp.actions = versions_mod.actions(chosen)
        return OCPPListener(
            cp,
            max_message_size=self.max_message_size,
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
        )

    async def open(self) -> ChargePoint:
        transport, _ = await picows.ws_connect(
            self._listener_factory,
            self.url,
            ssl_context=self.ssl,
            websocket_handshake_timeout=self.connect_timeout,
            extra_headers=self.headers,
            max_frame_size=self.max_message_size,
            enable_auto_ping=bool(self.ping_interval),
            auto_ping_idle_timeout=self.ping_interval or 10,
            auto_ping_reply_timeout=min(self.ping_timeout, self.ping_interval or 10),
            logger_name="ocppfast.client",
            **self.transport_options,
        )
        if self.cp is None or transport.is_disconnected:
            # e.g. TLS with client certificates: the server refuses ours after the handshake
            raise ConnectionClosedError(f"{self.url}: connection closed during the handshake")
        return self.cp

    def _on_connected(self, listener: OCPPListener) -> None:
        cp = listener.charge_point
        assert cp._closed_event is not None and cp._connected_event is not None
        cp._closed_event.clear()
        cp._connected_event.set()

    def _on_disconnected(self, listener: OCPPListener) -> None:
        cp = listener.charge_point
        assert cp._closed_event is not None and cp._connected_event is not None
        cp._connected_event.clear()
        if self.reconnect and not self.closing:
            if self.task is None or self.task.done():
                self.task = asyncio.get_running_loop().create_task(self._reconnect_loop())
        else:
            cp._closed_event.set()

    def delays(self) -> Iterable[float]:
        minimum, random_range, repeat = self.backoff
        wait = minimum
        n = 0
        while True:
            yield wait + random.uniform(0, random_range)
            if n < repeat:
                wait *= 2
                n += 1

    async def _reconnect_loop(self) -> None:
        for delay in self.delays():
            if self.closing:
                break
            log.info("reconnecting to %s in %.1f s", self.url, delay)
            await asyncio.sleep(delay)
            if self.closing:
                break
            try:
                await self.open()
                return
            except (OSError, picows.WSError, SubprotocolError, TimeoutError) as exc:
                log.warning("reconnect to %s failed: %s", self.url, exc)
        if self.cp is not None and self.cp._closed_event is not None:
            self.cp._closed_event.set()


async def connect(
    url: str,
    identity: str | None = None,
    *,
    versions: Iterable[str] = (versions_mod.OCPP201, versions_mod.OCPP16),
    password: str | None = None,
    ssl: ssl_module.SSLContext | None = None,
    handlers: dict[str, Any] | None = None,
    reconnect: bool = False,
    wait_for_reconnect: bool = False,
    backoff_min: float = 1.0,
    backoff_random: float = 1.0,
    backoff_repeat: int = 5,
    call_timeout: float = 30.0,
    max_outstanding: int = 1,
    validate_incoming: bool = True,
    validate_outgoing: bool = True,
    max_message_size: int = 1024 * 1024,
    max_bad_messages: int = 10,
    ping_interval: float = 0.0,
    ping_timeout: float = 10.0,
    connect_timeout: float = 10.0,
    read_buffer_size: int = 4096,
    max_unanswered_calls: int = 4,
    max_frames_per_tick: int = 32,
    max_write_buffer: int = 4 * 1024 * 1024,
    write_timeout: float = 30.0,
    close_timeout: float = 5.0,
    **transport_options: Any,
) -> ChargePoint:
    """Connect a charging station to the central system at ``url`` (+ ``/identity``).

    ``versions`` are offered in order of preference; the negotiated one is checked.
    ``handlers`` (action -> ``handler(request)``) are in place before the first frame arrives.
    ``password`` sends HTTP Basic auth as ``identity:password`` (security profiles 1 and 2);
    ``ssl`` is the client TLS context (profiles 2 and 3, with a client certificate for 3).
    With ``reconnect=True`` a lost connection is re-opened with randomized exponential backoff;
    calls made while disconnected fail at once, or wait for the reconnection when
    ``wait_for_reconnect=True``. ``transport_options`` go to ``loop.create_connection``
    (e.g. ``local_addr``); ``None`` values are left out. The abuse limits
    (``max_unanswered_calls``, ``max_frames_per_tick``, ``max_write_buffer``, ``write_timeout``,
    ``close_timeout``) mean the same as on :class:`ocppfast.CentralSystem`.
    """
    offered = versions_mod.check(tuple(versions))
    if identity is None:
        identity = url.rstrip("/").rsplit("/", 1)[-1]
        full_url = url
    else:
        full_url = url.rstrip("/") + "/" + quote(identity, safe="")
    headers = {"Sec-WebSocket-Protocol": ", ".join(offered)}
    if password is not None:
        token = base64.b64encode(f"{identity}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    options = {
        "identity": identity,
        "call_timeout": call_timeout,
        "max_outstanding": max_outstanding,
        "validate_incoming": validate_incoming,
        "validate_outgoing": validate_outgoing,
        "max_bad_messages": max_bad_messages,
        "max_unanswered_calls": max_unanswered_calls,
        "max_frames_per_tick": max_frames_per_tick,
        "max_write_buffer": max_write_buffer,
        "write_timeout": write_timeout,
        "close_timeout": close_timeout,
    }
    conn = _Connection(
        full_url,
        offered,
        headers,
        ssl,
        options,
        dict(handlers or {}),
        max_message_size,
        reconnect,
        (backoff_min, backoff_random, backoff_repeat),
        ping_interval,
        ping_timeout,
        connect_timeout,
    )
    conn.transport_options = {k: v for k, v in transport_options.items() if v is not None}
    conn.transport_options["read_buffer_init_size"] = read_buffer_size
    try:
        cp = await conn.open()
    except picows.WSError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, SubprotocolError):
            raise cause from None
        raise
    assert isinstance(cp, ClientChargePoint)
    cp._connection = conn
    cp.wait_for_reconnect = wait_for_reconnect
    return cp
