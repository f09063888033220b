"""The charging-station side: connect to a central system, verify the subprotocol, reconnect.

Reconnection follows OCPP 2.0.1's RetryBackOff parameters (B.. "Reconnecting", part 4 section
5.3): the first wait is ``backoff_min`` (RetryBackOffWaitMinimum) plus a random part up to
``backoff_random`` (RetryBackOffRandomRange); the wait doubles ``backoff_repeat`` times
(RetryBackOffRepeatTimes), then stays there. With ``reconnect=True`` the first connection is
retried the same way (for at most ``reconnect_deadline`` seconds when given), except for errors
that retrying cannot fix: a bad URL, HTTP 401/404, no common subprotocol.

A failed connection raises an :class:`ocppfast.errors.ConnectError` subclass naming the URL and
the identity: refused, DNS, bad URL, timeout, HTTP 401/404/409/503 (and other statuses), no
common subprotocol.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import socket
import ssl as ssl_module
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Unpack
from urllib.parse import quote, urlsplit

import picows

from . import observe
from . import options as options_mod
from . import versions as versions_mod
from .actions import Action, make_custom_action
from .charge_point import ChargePoint, check_action_name, check_handler
from .errors import (
    HTTP_STATUS_ERRORS,
    AuthenticationError,
    CertificateVerifyError,
    ConnectError,
    ConnectRefusedError,
    ConnectTimeoutError,
    HTTPStatusError,
    InvalidURLError,
    NameResolutionError,
    NotFoundError,
    SubprotocolError,
    TLSError,
)
from .options import ClientOptions
from .transport import OCPPListener

log = logging.getLogger("ocppfast")

__all__ = ["ClientChargePoint", "SubprotocolError", "connect"]

#: Errors of a first connection that retrying cannot fix (``reconnect=True`` raises them at once).
FINAL_ERRORS: tuple[type[ConnectError], ...] = (
    InvalidURLError,
    AuthenticationError,
    NotFoundError,
    SubprotocolError,
)


class ClientChargePoint(ChargePoint):
    """A ChargePoint made by :func:`connect`; ``close()`` also stops reconnecting."""

    def __init__(self, connection: _Connection, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self._connection = connection  # keeps it connected (reconnects, custom actions)

    async def wait_closed(self) -> None:
        """Return once the connection is closed for good (not while reconnecting)."""
        await self.closed_event().wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection and stop reconnecting."""
        self._connection.closing = True
        task = self._connection.task
        if task is not None and not task.done():
            task.cancel()
        self.close_transport(code, reason.encode())
        if not self.closed:
            await self.closed_event().wait()
        self.mark_closed()
        hooks = self.hook_tasks
        if hooks:  # async after-hooks still running do not outlive the station
            for hook_task in list(hooks):
                hook_task.cancel()
            await asyncio.wait(list(hooks))

    def add_custom_action(self, action: str) -> None:
        super().add_custom_action(action)
        self._connection.custom[action] = self.actions[action]  # kept across reconnects


class _Connection:
    """Keeps one ChargePoint connected, reconnecting with backoff when asked to."""

    def __init__(
        self,
        url: str,
        offered: tuple[str, ...],
        headers: dict[str, str],
        ssl: ssl_module.SSLContext | None,
        engine_options: dict[str, Any],
        handlers: dict[str, Any],
        max_message_size: int,
        reconnect: bool,
        backoff: tuple[float, float, int],
        ping_interval: float,
        ping_timeout: float,
        connect_timeout: float,
    ) -> None:
        self.url = url
        self.identity: str = engine_options.get("identity", "")
        self.offered = offered
        self.headers = headers
        self.ssl = ssl
        self.engine_options = engine_options
        self.handlers = handlers
        self.custom: dict[str, Action] = {}
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
        self.observer: observe.Observer | None = None

    def _actions(self, subprotocol: str) -> dict[str, Action]:
        registry = versions_mod.actions(subprotocol)
        return {**registry, **self.custom} if self.custom else registry

    def _listener_factory(self, request: Any, response: Any) -> OCPPListener:
        chosen = response.headers.get("Sec-WebSocket-Protocol")
        # picows does not check the negotiated subprotocol: a missing or unoffered one means the
        # server speaks none of ours (OCPP-J 1.6 section 3.1.2; 2.0.1 part 4 section 3.1.2).
        if chosen is None or chosen.strip() not in self.offered:
            err = SubprotocolError(
                f"the central system accepted none of {', '.join(self.offered)} "
                f"(it answered {chosen!r})",
                url=self.url,
                identity=self.identity,
            )
            err.offered, err.chosen = self.offered, chosen
            raise err
        chosen = chosen.strip()
        loop = asyncio.get_running_loop()
        cp = self.cp
        if cp is None:
            cp = ClientChargePoint(
                self,
                loop,
                chosen,
                self._actions(chosen),
                **self.engine_options,
            )
            for action, handler in self.handlers.items():
                cp.set_handler(action, handler)
            cp.track_reconnects(self.offered)
            self.cp = cp
        else:
            cp.use_version(chosen, self._actions(chosen))
        cp.observer = observe.observer_for(self.observer)  # None: nothing watches
        return OCPPListener(
            cp,
            max_message_size=self.max_message_size,
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
        )

    async def open(self) -> ChargePoint:
        """Connect once; a failure is the :class:`ConnectError` subclass that says why."""
        try:
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
        except ConnectError:
            raise
        except (OSError, picows.WSError, TimeoutError) as exc:
            raise self.error(exc) from exc
        if self.cp is None or transport.is_disconnected:
            # e.g. TLS with client certificates: the server refuses ours after the handshake
            raise ConnectError(
                "the connection was closed during the handshake (a refused TLS client "
                "certificate?)",
                url=self.url,
                identity=self.identity,
            )
        return self.cp

    def error(self, exc: BaseException) -> ConnectError:
        """The :class:`ConnectError` for what ``picows.ws_connect`` raised."""
        where = {"url": self.url, "identity": self.identity}
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, SubprotocolError):
            return cause
        if isinstance(exc, picows.WSInvalidStatusError) and exc.response is not None:
            status = int(exc.response.status)
            body = bytes(exc.response.body or exc.raw_body or b"")
            headers = {str(k): str(v) for k, v in exc.response.headers.items()}
            cls = HTTP_STATUS_ERRORS.get(status, HTTPStatusError)
            reason = {
                401: "authentication failed (HTTP 401): check the identity and password",
                404: "the central system does not know this identity or path (HTTP 404)",
                409: "this identity is already connected (HTTP 409)",
                503: "the central system is at capacity (HTTP 503); try again later",
            }.get(status, f"the central system refused the WebSocket upgrade (HTTP {status})")
            text = body[:200].decode("utf-8", "replace").strip()
            return cls(
                reason + (f": {text}" if text else ""),
                status=status,
                body=body,
                headers=headers,
                **where,
            )
        if isinstance(exc, socket.gaierror):
            return NameResolutionError(f"cannot resolve the host name ({exc})", **where)
        if isinstance(exc, ConnectionRefusedError):
            return ConnectRefusedError(
                "connection refused: is the central system running on that host and port?",
                **where,
            )
        if isinstance(exc, TimeoutError):
            return ConnectTimeoutError(
                f"no connection within connect_timeout={self.connect_timeout:g} s", **where
            )
        if isinstance(exc, ssl_module.SSLCertVerificationError):
            err: ConnectError = CertificateVerifyError(
                f"the central system's certificate did not verify: {exc}", **where
            )
            err.verify_code, err.verify_message = exc.verify_code, exc.verify_message  # type: ignore[attr-defined]
            return err
        if isinstance(exc, ssl_module.SSLError):
            return TLSError(f"TLS handshake failed: {exc}", **where)
        return ConnectError(f"{type(exc).__name__}: {exc}", **where)

    async def first(self, deadline: float | None) -> ChargePoint:
        """The first connection; with ``reconnect``, retried with the same backoff (up to
        ``deadline`` seconds) unless the error is one retrying cannot fix."""
        if not self.reconnect:
            return await self.open()
        loop = asyncio.get_running_loop()
        give_up = None if deadline is None else loop.time() + deadline
        for delay in self.delays():
            try:
                return await self.open()
            except FINAL_ERRORS:
                raise
            except ConnectError as exc:
                left = None if give_up is None else give_up - loop.time()
                if left is not None and left <= delay:
                    raise
                log.warning("%s; retrying in %.2f s", exc, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # delays() never ends

    def _on_connected(self, listener: OCPPListener) -> None:
        cp = listener.charge_point
        cp.mark_connected()
        observe.connected(cp, self.observer, self.url)

    def _on_disconnected(self, listener: OCPPListener) -> None:
        cp = listener.charge_point
        cp.mark_disconnected()
        observe.disconnected(cp, self.observer)
        if self.reconnect and not self.closing:
            if self.task is None or self.task.done():
                self.task = asyncio.get_running_loop().create_task(self._reconnect_loop())
        else:
            cp.mark_closed()

    def delays(self) -> Iterator[float]:
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
                observe.reconnect(self.cp, self.observer, True)
                return
            except (OSError, picows.WSError, TimeoutError) as exc:
                log.warning("reconnect to %s failed: %s", self.url, exc)
                observe.reconnect(self.cp, self.observer, False)
        if self.cp is not None:
            self.cp.mark_closed()


def _full_url(url: str, identity: str | None) -> tuple[str, str]:
    """(the URL to connect to, the identity), checked: a ws:// or wss:// URL with a host."""
    shown = identity if identity is not None else url.rstrip("/").rsplit("/", 1)[-1]
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidURLError(f"not a URL ({exc})", url=url, identity=shown) from None
    if parts.scheme not in ("ws", "wss") or not host:
        raise InvalidURLError(
            "the URL must be ws://host[:port]/path or wss://... (got scheme "
            f"{parts.scheme!r}, host {host!r})",
            url=url,
            identity=shown,
        )
    if identity is None:
        identity = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if not identity:
            raise InvalidURLError(
                "no identity: give connect(url, identity) or end the URL with /<identity>",
                url=url,
                identity="",
            )
        return url, identity
    if not identity:
        raise InvalidURLError("the identity is empty", url=url, identity=identity)
    return url.rstrip("/") + "/" + quote(identity, safe=""), identity


@options_mod.spell_out("connect")
async def connect(
    url: str,
    identity: str | None = None,
    *,
    versions: Iterable[str] = (versions_mod.OCPP201, versions_mod.OCPP16),
    handlers: Mapping[str, Callable[[Any], object]] | None = None,
    custom_actions: Iterable[str] = (),
    **options: Unpack[ClientOptions],
) -> ChargePoint:
    """Connect a charging station to the central system at ``url`` (+ ``/identity``).

    ``versions`` are offered in order of preference; the negotiated one is checked.
    ``handlers`` (action -> ``handler(request)``) are in place before the first frame arrives;
    their names are checked as ``cp.on`` checks them. ``custom_actions`` names vendor actions
    (no schema, dict payloads) to handle or call.

    The connection options (``docs/options.md``; an unknown one is a ``TypeError``):
    ``password`` sends HTTP Basic auth as ``identity:password`` (security profiles 1 and 2);
    ``ssl`` is the client TLS context (profiles 2 and 3, with a client certificate for 3).
    With ``reconnect=True`` the first connection is retried with randomized exponential
    backoff (for at most ``reconnect_deadline`` seconds when given) and a lost connection is
    re-opened; calls made while disconnected fail at once, or wait for the reconnection when
    ``wait_for_reconnect=True``. ``observer`` (an :class:`ocppfast.observe.Observer`, e.g.
    :class:`ocppfast.observe.Metrics`) is told about every frame, call and reconnect.

    Raises an :class:`ocppfast.errors.ConnectError` subclass naming the URL and identity:
    ``ConnectRefusedError``, ``NameResolutionError``, ``InvalidURLError``,
    ``ConnectTimeoutError``, ``AuthenticationError`` (401), ``NotFoundError`` (404),
    ``IdentityInUseError`` (409), ``ServiceUnavailableError`` (503), other
    ``HTTPStatusError``, ``SubprotocolError``.
    """
    resolved = options_mod.resolve("connect", options)
    offered = versions_mod.check(tuple(versions))
    full_url, identity = _full_url(url, identity)
    custom = {name: make_custom_action(name) for name in custom_actions}
    registries = {v: {**versions_mod.actions(v), **custom} for v in offered}
    for action, handler in (handlers or {}).items():
        check_action_name(action, registries, where="handlers")
        check_handler(action, handler, registries)
    headers = {"Sec-WebSocket-Protocol": ", ".join(offered)}
    password = resolved["password"]
    if password is not None:
        token = base64.b64encode(f"{identity}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    conn = _Connection(
        full_url,
        offered,
        headers,
        resolved["ssl"],
        {"identity": identity, **options_mod.engine_options(resolved)},
        dict(handlers or {}),
        resolved["max_message_size"],
        resolved["reconnect"],
        (resolved["backoff_min"], resolved["backoff_random"], resolved["backoff_repeat"]),
        resolved["ping_interval"],
        resolved["ping_timeout"],
        resolved["connect_timeout"],
    )
    conn.custom = custom
    conn.observer = resolved["observer"]
    conn.transport_options["read_buffer_init_size"] = resolved["read_buffer_size"]
    if resolved["local_addr"] is not None:
        conn.transport_options["local_addr"] = resolved["local_addr"]
    cp = await conn.first(resolved["reconnect_deadline"])
    assert isinstance(cp, ClientChargePoint)
    cp.wait_for_reconnect = resolved["wait_for_reconnect"]
    return cp
