"""CentralSystem: accept charging stations over picows, keep a registry, call them by identity.

Handshake (OCPP-J 1.6 section 3; 2.0.1 part 4 section 3 and part 2 (security)):

- identity: the last path segment, percent-decoded; empty, over 48 characters, containing ``:``
  or control characters -> HTTP 400; unknown to the ``identity_known`` hook -> HTTP 404 (the
  spec's recommendation);
- security profiles 1/2: ``Authorization: Basic base64(identity:password)``, the user part must
  equal the identity, checked with ``passwords`` (constant-time) or an ``authenticate`` hook;
  failure -> HTTP 401 with ``WWW-Authenticate``; profile 2/3: TLS through ``ssl``, with client
  certificates when the context requires them;
- subprotocol: the first of the client's ``Sec-WebSocket-Protocol`` list (its order of
  preference) that this server enables; none -> handshake completed without the header, then
  closed;
- security profile 3: the client certificate's subject commonName must be the identity (2.0.1
  part 2 A00.FR.405 / 1.6 security whitepaper: the CN holds the station's serial number, which
  is its identity), or what ``verify_certificate(identity, cert)`` decides; a mismatch closes the
  connection (1008) before the station is registered (A00.FR.407: terminate the connection).

The auth hooks (``authenticate``, ``identity_known``) run inside picows' synchronous handshake
callback, so they must be plain functions: an ``async def`` hook is refused at construction
(TypeError). For an asynchronous credential store, keep a local cache the hook reads (filled
and refreshed by a task of yours), or accept the connection and check it in ``on_connect``
(``await cp.close(1008)`` when it fails). A hook that raises is logged here and answered with a
bare ``500``: no exception text reaches the client.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gc
import hmac
import inspect
import logging
import re
import ssl as ssl_module
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Self, TypeVar, Unpack, overload
from urllib.parse import unquote

import msgspec
from picows import WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener

from . import observe as observing  # (`observe` names the registry's listeners below)
from . import options as options_mod
from . import versions as versions_mod
from .actions import Action, make_custom_action
from .charge_point import ChargePoint, action_of, check_action_name, check_handler
from .engine import CLOSE_GOING_AWAY, CLOSE_POLICY_VIOLATION, call_hook, handlers_changed
from .errors import NotConnectedError
from .message import Request
from .options import ServerOptions
from .transport import HandshakeLimiter, OCPPListener, PicowsLog, RejectListener, create_server

log = logging.getLogger("ocppfast")

__all__ = ["MAX_IDENTITY_LENGTH", "CentralSystem", "serve"]

# 2.0.1 part 4 section 3.1.1 (and the 2.0.1 security part): identity at most 48 characters,
# without ':' (it separates user and password in Basic auth).
MAX_IDENTITY_LENGTH = 48

#: The listen backlog (asyncio's default is 100: 1,000 stations connecting at once overflowed it
#: and ``make demo`` booted 754 of 1,000; issue 13). The kernel caps it at net.core.somaxconn.
LISTEN_BACKLOG = 4096

#: The options that are also the engine's keyword arguments (ocppfast/options.py).
_ENGINE_OPTIONS = tuple(options_mod.engine_options(options_mod.resolve("CentralSystem", {})))

Hook = Callable[[ChargePoint], object]
R = TypeVar("R")
#: A central-system handler: ``handler(charge_point, request) -> response`` (sync or async).
SystemHandler = TypeVar("SystemHandler", bound=Callable[[ChargePoint, Any], object])
#: A central-system after-hook: ``hook(charge_point, request, response)``.
SystemHook = TypeVar("SystemHook", bound=Callable[[ChargePoint, Any, Any], object])
#: ``on_connect`` / ``on_disconnect`` hooks: ``hook(charge_point)`` (sync or async).
ConnectionHook = TypeVar("ConnectionHook", bound=Callable[[ChargePoint], object])


_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _refuse(status: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return WSUpgradeResponseWithListener(
        WSUpgradeResponse.create_error_response(status, body, headers), None
    )


def parse_identity(path: bytes) -> str | None:
    """The identity from the request path, or None when it is not a valid identity."""
    raw = path.split(b"?", 1)[0].rsplit(b"/", 1)[-1]
    if _BAD_ESCAPE.search(raw):
        return None
    try:
        identity = unquote(raw.decode("ascii"), errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    if not identity or len(identity) > MAX_IDENTITY_LENGTH or ":" in identity:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in identity):
        return None
    return identity


def certificate_common_names(cert: dict[str, Any]) -> list[str]:
    """The commonName values of a certificate's subject (``ssl.getpeercert()`` format)."""
    return [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]


def certificate_matches_identity(identity: str, cert: dict[str, Any]) -> bool:
    """Default security-profile-3 check: the subject's commonName is the identity (2.0.1 part 2
    A00.FR.405; the 1.6 security whitepaper's client certificate requirements say the same)."""
    return identity in certificate_common_names(cert)


def _refuse_async(name: str, hook: Any) -> None:
    if hook is not None and (
        inspect.iscoroutinefunction(hook)
        or inspect.iscoroutinefunction(getattr(hook, "__call__", None))  # noqa: B004
    ):
        raise TypeError(
            f"{name} must be a plain function returning bool, not async: picows runs the "
            "handshake synchronously (see ocppfast.server's docstring for asynchronous "
            "credential stores)"
        )


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


class CentralSystem:
    """An OCPP-J central system (CSMS) on picows.

    Handlers registered here serve every charging station and get ``(charge_point, request)``::

        cs = CentralSystem(versions=["ocpp2.0.1", "ocpp1.6"])

        @cs.on("BootNotification")
        def boot(cp, req):
            return BootNotificationResponse(...)

        await cs.start("0.0.0.0", 9000)
        await cs.call("CP-1", "Reset", ResetRequest(type="Soft"))
    """

    if TYPE_CHECKING:  # set from the resolved options (ocppfast/options.py), one per option
        passwords: dict[str, str] | None
        authenticate: Callable[[str, str], bool] | None
        identity_known: Callable[[str], bool] | None
        ssl: ssl_module.SSLContext | None
        duplicate_identity: str
        call_timeout: float
        max_outstanding: int
        validate_incoming: bool
        validate_outgoing: bool
        require_boot: bool
        max_message_size: int
        max_bad_messages: int
        handshake_timeout: float
        ping_interval: float
        ping_timeout: float
        read_buffer_size: int
        use_aiofastnet: bool
        verify_certificate: Callable[[str, dict[str, Any]], bool]
        max_unanswered_calls: int
        max_frames_per_tick: int
        max_write_buffer: int
        write_timeout: float
        close_timeout: float
        max_handshakes: int
        max_handshakes_per_address: int
        max_connections: int | None
        observer: observing.Observer | None

    @options_mod.spell_out("CentralSystem")
    def __init__(
        self,
        *,
        versions: Iterable[str] = versions_mod.SUPPORTED,
        path: str = "/",
        **options: Unpack[ServerOptions],
    ) -> None:
        """``versions`` enabled (in the server's order of preference), the URL ``path`` stations
        connect under (``path/<identity>``), and the connection options of
        ``ocppfast/options.py`` (``docs/options.md``); an unknown option is a ``TypeError``."""
        resolved = options_mod.resolve("CentralSystem", options)
        self.versions = versions_mod.check(tuple(versions))
        _refuse_async("authenticate", resolved["authenticate"])
        _refuse_async("identity_known", resolved["identity_known"])
        if resolved["duplicate_identity"] not in ("replace", "reject"):
            raise ValueError("duplicate_identity must be 'replace' or 'reject'")
        self.path = "/" + path.strip("/")
        self._on_connect: Hook | None = resolved.pop("on_connect")
        self._on_disconnect: Hook | None = resolved.pop("on_disconnect")
        # picows uses aiofastnet's transport when it is installed (picows depends on it). uvloop's
        # own transport measured 10.4 KiB of server RSS per idle connection against 15.7 KiB with
        # aiofastnet (5,000 connections, 1 KiB read buffer), so use_aiofastnet defaults to False.
        # Abuse limits, per connection (see Engine.feed / Engine.pause_writing): unanswered
        # CALLs allowed (OCPP-J allows one), frames handled per event-loop iteration, bytes
        # queued for a peer that does not read and how long it may not read, how long to wait
        # for the peer's close frame. Connection cap (issue 11): at ``max_connections`` open
        # connections a new handshake is answered HTTP 503 with Retry-After, before the process
        # runs out of file descriptors.
        for name, value in resolved.items():
            setattr(self, name, value)
        self.verify_certificate = resolved["verify_certificate"] or certificate_matches_identity
        self._handshakes = HandshakeLimiter(
            resolved["max_handshakes"], resolved["max_handshakes_per_address"]
        )
        self._picows_log = PicowsLog()
        self._hook_tasks: set[asyncio.Task[Any]] = set()
        self._drop_timers: set[asyncio.TimerHandle] = set()
        #: identity -> connected ChargePoint
        self.charge_points: dict[str, ChargePoint] = {}
        self._handlers: dict[str, Any] = {}
        self._after: dict[str, list[Any]] = {}
        self._actions: dict[str, dict[str, Action]] = {
            v: versions_mod.actions(v) for v in self.versions
        }
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: set[OCPPListener] = set()
        self._keepalive: asyncio.TimerHandle | None = None
        self._closing = False
        self._all_closed: asyncio.Event | None = None
        self._arrivals: dict[str, list[asyncio.Future[ChargePoint]]] = {}
        # Internal observers of the registry (ocppfast.cluster): called after on_connect /
        # on_disconnect bookkeeping, without taking the user's hooks.
        self._connect_listeners: list[Callable[[ChargePoint], None]] = []
        self._disconnect_listeners: list[Callable[[ChargePoint], None]] = []

    def watch_registry(
        self,
        connected: Callable[[ChargePoint], None],
        disconnected: Callable[[ChargePoint], None],
        *,
        stop: bool = False,
    ) -> None:
        """Call ``connected(cp)`` / ``disconnected(cp)`` for every station registered / gone,
        after the ``on_connect`` / ``on_disconnect`` bookkeeping (``ocppfast.cluster`` keeps its
        registry with it); ``stop=True`` removes the pair again."""
        if stop:
            with contextlib.suppress(ValueError):
                self._connect_listeners.remove(connected)
            with contextlib.suppress(ValueError):
                self._disconnect_listeners.remove(disconnected)
        else:
            self._connect_listeners.append(connected)
            self._disconnect_listeners.append(disconnected)

    def _engine_options(self) -> dict[str, Any]:
        """The engine's keyword arguments, read from the current option attributes."""
        return {name: getattr(self, name) for name in _ENGINE_OPTIONS}

    # --- handlers ------------------------------------------------------------------------

    @overload
    def on(
        self, action: str, *, custom: bool = False
    ) -> Callable[[SystemHandler], SystemHandler]: ...
    @overload
    def on(self, action: str, handler: SystemHandler, *, custom: bool = False) -> SystemHandler: ...

    def on(self, action: str, handler: Any = None, *, custom: bool = False) -> Any:
        """Register ``handler(charge_point, request) -> response`` (sync or async) for every
        station: ``cs.on("Heartbeat", fn)`` or the decorator ``@cs.on("Heartbeat")``.

        An action that none of the enabled versions has is a ``ValueError`` (with the closest
        name); ``custom=True`` registers a vendor action (no schema: the handler gets a dict
        and may answer with a dict). A handler annotated to return another version's (or
        action's) response is refused."""
        if handler is None:
            return lambda fn: self.on(action, fn, custom=custom)
        if custom:
            self.add_custom_action(action)
        else:
            check_action_name(action, self._actions)
            check_handler(action, handler, self._actions)
        self._handlers[action] = handler
        handlers_changed()  # connected stations' engines look their handler up again
        return handler

    @overload
    def after(self, action: str, *, custom: bool = False) -> Callable[[SystemHook], SystemHook]: ...
    @overload
    def after(self, action: str, hook: SystemHook, *, custom: bool = False) -> SystemHook: ...

    def after(self, action: str, hook: Any = None, *, custom: bool = False) -> Any:
        """Register ``hook(charge_point, request, response)``, run after the response is sent
        (it never delays it; its errors are logged). Names are checked as :meth:`on` does."""
        if hook is None:
            return lambda fn: self.after(action, fn, custom=custom)
        if custom:
            self.add_custom_action(action)
        else:
            check_action_name(action, self._actions, where="after")
        self._after.setdefault(action, []).append(hook)
        return hook

    def add_custom_action(self, action: str) -> None:
        """Make the vendor action ``action`` known in every enabled version, for handlers and for
        ``call(identity, action, {...})`` (the shared registries of ``ocppfast.versions`` are
        not changed: this central system gets copies)."""
        custom = make_custom_action(action)
        for version, registry in self._actions.items():
            if action not in registry or not registry[action].custom:
                self._actions[version] = {**registry, action: custom}
        for cp in self.charge_points.values():  # already connected stations learn it too
            cp.add_custom_action(action)

    @property
    def on_connect(self) -> Callable[[ConnectionHook], ConnectionHook]:
        """The hook run with ``(charge_point)`` when a station is registered (sync or async):
        ``@cs.on_connect`` (a decorator), ``cs.on_connect = fn`` or ``on_connect=fn``."""
        return self._set_on_connect

    @on_connect.setter
    def on_connect(self, hook: Hook | None) -> None:
        self._on_connect = hook

    def _set_on_connect(self, hook: ConnectionHook) -> ConnectionHook:
        self._on_connect = hook
        return hook

    @property
    def on_disconnect(self) -> Callable[[ConnectionHook], ConnectionHook]:
        """The hook run with ``(charge_point)`` when a registered station is gone:
        ``@cs.on_disconnect``, ``cs.on_disconnect = fn`` or ``on_disconnect=fn``."""
        return self._set_on_disconnect

    @on_disconnect.setter
    def on_disconnect(self, hook: Hook | None) -> None:
        self._on_disconnect = hook

    def _set_on_disconnect(self, hook: ConnectionHook) -> ConnectionHook:
        self._on_disconnect = hook
        return hook

    # --- lifecycle -----------------------------------------------------------------------

    async def start(
        self,
        host: str | None = "127.0.0.1",
        port: int = 9000,
        *,
        backlog: int = LISTEN_BACKLOG,
        reuse_port: bool | None = None,
        reuse_address: bool | None = None,
    ) -> CentralSystem:
        """Listen on ``host:port``; returns once listening (``port=0`` picks a free port).

        ``backlog`` (default :data:`LISTEN_BACKLOG`), ``reuse_port`` (several processes on one
        port) and ``reuse_address`` go to the event loop's ``create_server``."""
        self._loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {"backlog": backlog}
        if reuse_port is not None:
            kwargs["reuse_port"] = reuse_port
        if reuse_address is not None:
            kwargs["reuse_address"] = reuse_address
        self._server = await create_server(
            self._handshake,
            host,
            port,
            limiter=self._handshakes,
            logger=self._picows_log,
            ssl=self.ssl,
            handshake_timeout=self.handshake_timeout,
            max_frame_size=self.max_message_size,
            read_buffer_size=self.read_buffer_size,
            use_aiofastnet=self.use_aiofastnet,
            **kwargs,
        )
        if self.ping_interval:
            self._keepalive = self._loop.call_later(self.ping_interval, self._ping_sweep)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def serve_forever(self) -> None:
        assert self._server is not None, "not started"
        await self._server.serve_forever()

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, send a close frame to every station, fail pending calls, and return
        once every connection is gone (or ``timeout`` passed, then the rest are dropped)."""
        self._closing = True
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        for handle in self._drop_timers:
            handle.cancel()
        self._drop_timers.clear()
        deadline = asyncio.get_running_loop().time() + timeout
        if self._server is not None:
            self._server.close()
        listeners = list(self._listeners)
        self._all_closed = asyncio.Event()
        for listener in listeners:
            listener.charge_point.close_transport(1001, b"central system shutting down")
        if self._listeners:
            try:
                await asyncio.wait_for(self._all_closed.wait(), timeout)
            except TimeoutError:
                for listener in list(self._listeners):
                    listener.transport.disconnect(graceful=False)
                    listener.charge_point.connection_lost()
        # Async hooks (on_connect/on_disconnect/after-hooks) still running get what is left of
        # the timeout, then are cancelled: none outlives the server.
        hooks = list(self._hook_tasks)
        if hooks:
            left = max(0.0, deadline - asyncio.get_running_loop().time())
            _, late = await asyncio.wait(hooks, timeout=left)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- handshake -----------------------------------------------------------------------

    def _handshake(self, request: WSUpgradeRequest) -> Any:
        try:
            result = self._handshake_checked(request)
        except Exception:
            # A failing auth hook (a database down...): logged here, never shown to the client
            # (picows would answer 500 with the exception's text).
            log.exception("handshake of %r failed", request.path[:200])
            result = _refuse(500, b"internal server error")
        observing.handshake_refused(self.observer, request, result)  # logged and counted
        return result

    def _handshake_checked(self, request: WSUpgradeRequest) -> Any:
        path = request.path
        prefix = self.path.encode()
        if prefix != b"/" and not (path == prefix or path.startswith(prefix + b"/")):
            return _refuse(404, b"unknown path")
        identity = parse_identity(path[len(prefix) :] if prefix != b"/" else path)
        if identity is None:
            return _refuse(400, b"invalid charging station identity")
        if self.identity_known is not None and not _sync_result(
            "identity_known", self.identity_known(identity)
        ):
            return _refuse(404, b"unknown charging station")
        if (
            self.passwords is not None or self.authenticate is not None
        ) and not self._check_password(identity, request.headers.get("Authorization")):
            return _refuse(
                401,
                b"authentication required",
                {"WWW-Authenticate": 'Basic realm="OCPP", charset="UTF-8"'},
            )
        if self.max_connections is not None and len(self._listeners) >= self.max_connections:
            return _refuse(503, b"central system at capacity", {"Retry-After": "5"})
        if self.duplicate_identity == "reject" and identity in self.charge_points:
            return _refuse(409, b"identity already connected")
        subprotocol = self._negotiate(request.headers.getall("Sec-WebSocket-Protocol", []))
        if subprotocol is None:
            log.warning("%s: no supported OCPP subprotocol offered, closing", identity)
            return RejectListener()
        cp = ChargePoint(
            self._loop,
            subprotocol,
            self._actions[subprotocol],
            identity=identity,
            shared_handlers=self._handlers,
            shared_after=self._after,
            hook_tasks=self._hook_tasks,
            **self._engine_options(),
        )
        cp.observer = observing.observer_for(self.observer)  # None: nothing watches
        listener = OCPPListener(
            cp,
            max_message_size=self.max_message_size,
            on_connected=self._connected,
            on_disconnected=self._disconnected,
        )
        response = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": subprotocol})
        return WSUpgradeResponseWithListener(response, listener)

    def _check_password(self, identity: str, header: str | None) -> bool:
        creds = parse_basic_auth(header)
        if creds is None:
            return False
        user, password = creds
        # The user part must be the identity the station connects as (1.6 security whitepaper
        # section 2.3 / 2.0.1 part 2 A00.FR.203).
        if not hmac.compare_digest(user.encode(), identity.encode()):
            return False
        if self.passwords is not None:
            expected = self.passwords.get(identity)
            if expected is None:
                hmac.compare_digest(password.encode(), password.encode())  # same work either way
                return False
            return hmac.compare_digest(password.encode(), expected.encode())
        assert self.authenticate is not None
        return _sync_result("authenticate", self.authenticate(identity, password))

    def _negotiate(self, headers: list[str]) -> str | None:
        offered = [p.strip() for h in headers for p in h.split(",") if p.strip()]
        for proto in offered:  # the client's order of preference
            if proto in self._actions:
                return proto
        return None

    # --- registry ------------------------------------------------------------------------

    def _connected(self, listener: OCPPListener) -> None:
        cp = listener.charge_point
        self._listeners.add(listener)
        if self._closing:
            cp.close_transport(CLOSE_GOING_AWAY, b"central system shutting down")
            return
        cert = cp.peer_certificate
        if cert is not None and not self.verify_certificate(cp.identity, cert):
            log.warning(
                "%s: client certificate (CN %s) does not belong to this identity, closing",
                cp.identity,
                ", ".join(certificate_common_names(cert)) or "none",
            )
            cp.close_transport(CLOSE_POLICY_VIOLATION, b"certificate does not match identity")
            return
        listener.registered = True
        observing.connected(cp, self.observer)
        old = self.charge_points.get(cp.identity)
        self.charge_points[cp.identity] = cp
        if old is not None:
            log.info("%s: new connection replaces the old one", cp.identity)
            old.close_transport(1000, b"replaced by a new connection")
        if self._on_connect is not None:
            call_hook(cp, self._on_connect, (cp,))
        for observe in self._connect_listeners:
            observe(cp)
        waiting = self._arrivals.pop(cp.identity, None)
        for fut in waiting or ():
            if not fut.done():
                fut.set_result(cp)

    def _disconnected(self, listener: OCPPListener) -> None:
        cp = listener.charge_point
        self._listeners.discard(listener)
        if self.charge_points.get(cp.identity) is cp:
            del self.charge_points[cp.identity]
        cp.mark_closed()
        if listener.registered:
            observing.disconnected(cp, self.observer)
        if self._on_disconnect is not None and listener.registered:  # not after a refusal
            call_hook(cp, self._on_disconnect, (cp,))
        for observe in self._disconnect_listeners:
            observe(cp)
        if self._all_closed is not None and not self._listeners:
            self._all_closed.set()

    def _ping_sweep(self) -> None:
        """One keepalive timer for all connections: a station silent for ``ping_interval`` gets a
        ping; one still silent ``ping_timeout`` later is dropped (its pending calls fail)."""
        assert self._loop is not None
        silent = []
        for listener in self._listeners:
            cp = listener.charge_point
            if cp.rx_count == listener.rx_seen:
                silent.append((listener, cp.rx_count))
                try:
                    listener.transport.send_ping()
                except Exception:
                    log.debug("%s: ping failed", cp.identity, exc_info=True)
            listener.rx_seen = cp.rx_count
        if silent:
            now = self._loop.time()
            self._drop_timers = {h for h in self._drop_timers if h.when() > now}
            self._drop_timers.add(self._loop.call_later(self.ping_timeout, self._drop_dead, silent))
        self._keepalive = self._loop.call_later(self.ping_interval, self._ping_sweep)

    def _drop_dead(self, silent: list[tuple[OCPPListener, int]]) -> None:
        for listener, rx in silent:
            cp = listener.charge_point
            if not cp.closed and cp.rx_count == rx:
                log.warning("%s: no answer to ping, dropping the connection", cp.identity)
                listener.transport.disconnect(graceful=False)

    # --- calls ---------------------------------------------------------------------------

    def __getitem__(self, identity: str) -> ChargePoint:
        return self.charge_points[identity]

    @overload
    async def call(
        self, identity: str, action: Request[R], *, timeout: float | None = None
    ) -> R: ...
    @overload
    async def call(
        self, identity: str, action: str, payload: Request[R], *, timeout: float | None = None
    ) -> R: ...
    @overload
    async def call(
        self,
        identity: str,
        action: str,
        payload: msgspec.Struct | dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any: ...

    async def call(
        self,
        identity: str,
        action: str | msgspec.Struct,
        payload: msgspec.Struct | dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """CALL the station ``identity`` (``NotConnectedError`` when it is not connected): a
        request (``cs.call("CP-1", ResetRequest(...))``, typed ``ResetResponse``) or an action
        name and a payload; see :meth:`ChargePoint.call`."""
        cp = self.charge_points.get(identity)
        if cp is None:
            raise NotConnectedError(f"{identity!r} is not connected")
        return await cp.call(action, payload, timeout=timeout)  # type: ignore[arg-type]

    async def wait_for(self, identity: str, timeout: float | None = None) -> ChargePoint:
        """The connected station ``identity``, waiting up to ``timeout`` seconds (None: no
        limit) for it to connect; ``TimeoutError`` when it does not."""
        cp = self.charge_points.get(identity)
        if cp is not None and not cp.closing:
            return cp
        fut: asyncio.Future[ChargePoint] = asyncio.get_running_loop().create_future()
        waiting = self._arrivals.setdefault(identity, [])
        waiting.append(fut)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise TimeoutError(f"{identity!r} did not connect within {timeout:g} s") from None
        finally:
            if fut in waiting:
                waiting.remove(fut)
            if not waiting and self._arrivals.get(identity) is waiting:
                del self._arrivals[identity]

    async def call_many(
        self,
        action: Any,
        payload: Any = None,
        *,
        identities: Iterable[str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """CALL many stations at once (all connected ones by default).

        Returns identity -> response, or the exception that call raised (CallError, timeout,
        not connected). Calls go out concurrently without a task per station.
        """
        if not isinstance(action, str):
            payload, action = action, action_of(action)
        if payload is None:
            payload = {}
        from .engine import CallGroup

        ids = list(self.charge_points) if identities is None else list(identities)
        # One Future for the whole fan-out: each call reports to its index in the group (no
        # Future, task, gather callback or slot object per station).
        group = CallGroup(asyncio.get_running_loop(), len(ids))
        encoded: dict[str, Any] = {}  # subprotocol -> the payload encoded and checked once
        charge_points = self.charge_points
        # Each call leaves one GC-tracked tuple (its pending entry) that lives until answered:
        # every 700 of them CPython's collector runs, and the ones surviving to the oldest
        # generation trigger full collections over every connection's objects (~10% of a
        # 19,000-station fan-out, py-spy). The loop below does not await and makes no cycles:
        # the collector waits until it is done.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for index, identity in enumerate(ids):
                cp = charge_points.get(identity)
                try:
                    if cp is None:
                        raise NotConnectedError(f"{identity!r} is not connected")
                    body = encoded.get(cp.subprotocol)
                    if body is None:
                        body = encoded[cp.subprotocol] = cp.encode_request(action, payload)
                    cp.call_group(group, index, action, body, timeout)
                except Exception as exc:  # noqa: BLE001 - reported per station
                    group.slot(index).set_exception(exc)
        finally:
            if collecting:
                gc.enable()
        results = await group.future
        return dict(zip(ids, results))


def _sync_result(name: str, result: Any) -> bool:
    """An auth hook's answer; an awaitable (an async callable that got past the constructor's
    check) is refused rather than taken as true."""
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        raise TypeError(f"{name} returned an awaitable; it must be synchronous")
    return bool(result)


@options_mod.spell_out("CentralSystem")
async def serve(
    host: str = "127.0.0.1",
    port: int = 9000,
    *,
    versions: Iterable[str] = versions_mod.SUPPORTED,
    path: str = "/",
    **options: Unpack[ServerOptions],
) -> CentralSystem:
    """Create a :class:`CentralSystem` with ``options`` and start it on ``host:port``."""
    return await CentralSystem(versions=versions, path=path, **options).start(host, port)
