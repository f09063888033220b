"""The user-facing object for one OCPP-J connection, the same on both sides.

``cp.on(action, handler)`` registers a handler for incoming CALLs; ``await cp.call(...)`` sends a
CALL and returns the typed response. The RPC state lives in :class:`ocppfast.engine.Engine`
(compiled when available); this class adds the Python-friendly surface, and ``help(ChargePoint)``
shows that surface only (:data:`PUBLIC_API`), not the engine's transport-facing methods.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, overload

import msgspec

from .actions import Action, make_custom_action
from .engine import Engine
from .errors import ConnectionClosedError
from .message import Request

R = TypeVar("R")

#: A station-side handler: ``handler(request) -> response`` (sync or async).
StationHandler = TypeVar("StationHandler", bound=Callable[[Any], object])
#: A station-side after-hook: ``hook(request, response)``.
StationHook = TypeVar("StationHook", bound=Callable[[Any, Any], object])

__all__ = ["PUBLIC_API", "ChargePoint", "action_of", "check_action_name", "check_handler"]

#: What ``help(ChargePoint)`` and ``dir(ChargePoint)`` show: the API for users. The engine's
#: transport-facing methods (``feed``, ``attach``, ``connection_lost``, ...) stay callable but are
#: not part of it.
PUBLIC_API = frozenset(
    {
        "accepted",
        "actions",
        "add_custom_action",
        "after",
        "call",
        "call_timeout",
        "close",
        "closed",
        "closing",
        "identity",
        "max_outstanding",
        "observer",
        "on",
        "peer_certificate",
        "pending_count",
        "queued_count",
        "send",
        "subprotocol",
        "validate_incoming",
        "validate_outgoing",
        "wait_closed",
    }
)


def action_of(request: msgspec.Struct) -> str:
    """``BootNotificationRequest`` -> ``"BootNotification"``."""
    name = type(request).__name__
    if not name.endswith("Request"):
        raise TypeError(f"cannot infer the action from {name}; pass the action name")
    return name[: -len("Request")]


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def check_action_name(
    action: str, registries: Mapping[str, Mapping[str, Action]], *, where: str = "on"
) -> None:
    """Raise ``ValueError`` when no registry (subprotocol -> action registry) has ``action``,
    suggesting the closest known name (``"boot_notification"`` -> ``"BootNotification"``)."""
    if not isinstance(action, str):
        raise TypeError(f"{where}() takes the action name as a str, not {type(action).__name__}")
    if any(action in registry for registry in registries.values()):
        return
    known = sorted({name for registry in registries.values() for name in registry})
    by_squashed = {_squash(name): name for name in known}
    close = difflib.get_close_matches(_squash(action), list(by_squashed), n=1, cutoff=0.6)
    hint = f"; did you mean {by_squashed[close[0]]!r}?" if close else ""
    vendor = (
        f"connect(..., custom_actions=[{action!r}])"
        if where == "handlers"
        else f"{where}({action!r}, custom=True)"
    )
    raise ValueError(
        f"{where}({action!r}): no such action in {', '.join(registries)}{hint} "
        f"(a vendor action: {vendor})"
    )


def _response_classes(annotation: Any) -> list[type[msgspec.Struct]]:
    args = getattr(annotation, "__args__", None)
    if args is not None:  # a union (X | Y, Optional, Awaitable[...]...)
        return [c for a in args for c in _response_classes(a)]
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return [annotation]
    return []


def check_handler(
    action: str, handler: Callable[..., object], registries: Mapping[str, Mapping[str, Action]]
) -> None:
    """A handler annotated to return a generated response of a version that is not enabled, or
    of another action, is refused at registration (``ValueError`` naming the modules)."""
    try:
        hints = inspect.get_annotations(handler, eval_str=True)
    except Exception:  # noqa: BLE001 - unresolvable annotations: nothing to check
        return
    returned = _response_classes(hints.get("return"))
    expected = {
        sub: registry[action].response
        for sub, registry in registries.items()
        if action in registry and not registry[action].custom
    }
    for cls in returned:
        module = cls.__module__
        if not re.fullmatch(r"ocppfast\.v\d+\.messages", module):
            continue
        if cls in expected.values():
            continue
        wanted = ", ".join(
            f"{sub}: {resp.__module__}.{resp.__qualname__}"
            for sub, resp in expected.items()
            if resp is not None
        )
        raise ValueError(
            f"handler {getattr(handler, '__qualname__', handler)!r} for {action} is annotated to "
            f"return {module}.{cls.__qualname__}, which answers no {action} of the enabled "
            f"versions ({wanted})"
        )


class _PublicDir(type):
    """Metaclass: ``dir()`` (and so ``help()``) of the class lists its public API only."""

    def __dir__(cls) -> list[str]:
        public: set[str] = set()
        for klass in cls.__mro__:
            public.update(getattr(klass, "_public_api", ()))
            if klass.__module__.startswith("ocppfast._engine"):
                break
            public.update(n for n in vars(klass) if not n.startswith("_"))
        return sorted(public | {"__init__", "__repr__", "__doc__"})


class ChargePoint(Engine, metaclass=_PublicDir):
    """One OCPP-J connection: a charging station as seen by the central system, or the central
    system as seen by a charging station.

    - ``identity``, ``subprotocol`` (the negotiated OCPP version), ``accepted`` (a BootNotification
      was accepted, with ``require_boot``), ``closed``, ``peer_certificate``;
    - ``on(action)`` / ``after(action)``: handlers for the CALLs the peer sends;
    - ``await call(request)``: send a CALL, get the typed response;
    - ``send(action, payload)``: an OCPP 2.1 SEND; ``close()``, ``wait_closed()``.
    """

    _public_api = PUBLIC_API
    wait_for_reconnect: bool = False

    def _registries(self) -> dict[str, Mapping[str, Action]]:
        # Subprotocols whose actions on/after accept: the offered ones for a station that
        # reconnects (it may negotiate another next time), else the negotiated one.
        offered = self.versions
        if offered is None:
            return {self.subprotocol: self.actions}
        from . import versions

        return {v: self.actions if v == self.subprotocol else versions.actions(v) for v in offered}

    def add_custom_action(self, action: str) -> None:
        """Make the vendor action ``action`` known to this connection (no schema: its payloads
        are JSON objects, handled as dicts); ``on(action, custom=True)`` does it for you."""
        if action not in self.actions or not self.actions[action].custom:
            self.use_version(self.subprotocol, {**self.actions, action: make_custom_action(action)})

    @overload
    def on(
        self, action: str, *, custom: bool = False
    ) -> Callable[[StationHandler], StationHandler]: ...
    @overload
    def on(
        self, action: str, handler: StationHandler, *, custom: bool = False
    ) -> StationHandler: ...

    def on(self, action: str, handler: Any = None, *, custom: bool = False) -> Any:
        """Register ``handler(request) -> response`` (sync or async) for incoming ``action``.

        Usable as ``cp.on("Heartbeat", fn)`` or as a decorator ``@cp.on("Heartbeat")``. Raise an
        ``ocppfast.errors.OCPPError`` subclass to answer with that CallError. An action no
        enabled version has is a ``ValueError``; ``custom=True`` registers a vendor action.
        """
        if handler is None:
            return lambda fn: self.on(action, fn, custom=custom)
        if custom:
            self.add_custom_action(action)
        else:
            registries = self._registries()
            check_action_name(action, registries)
            check_handler(action, handler, registries)
        self.set_handler(action, handler)
        return handler

    @overload
    def after(
        self, action: str, *, custom: bool = False
    ) -> Callable[[StationHook], StationHook]: ...
    @overload
    def after(self, action: str, hook: StationHook, *, custom: bool = False) -> StationHook: ...

    def after(self, action: str, hook: Any = None, *, custom: bool = False) -> Any:
        """Register ``hook(request, response)`` to run after the response to ``action`` was sent.

        It never delays the response; its errors are logged.
        """
        if hook is None:
            return lambda fn: self.after(action, fn, custom=custom)
        if custom:
            self.add_custom_action(action)
        else:
            check_action_name(action, self._registries(), where="after")
        self.add_after(action, hook)
        return hook

    @overload
    async def call(self, action: Request[R], *, timeout: float | None = None) -> R: ...
    @overload
    async def call(
        self, action: str, payload: Request[R], *, timeout: float | None = None
    ) -> R: ...
    @overload
    async def call(
        self,
        action: str,
        payload: msgspec.Struct | dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any: ...

    async def call(
        self,
        action: str | msgspec.Struct,
        payload: msgspec.Struct | dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Send a CALL and return the typed response.

        ``await cp.call(BootNotificationRequest(...))`` (the action is the request's type; a type
        checker knows the result is a ``BootNotificationResponse``), or
        ``await cp.call("Heartbeat", {})`` with a dict of wire names. Raises the
        ``ocppfast.errors`` exception matching a CALLERROR, ``PayloadError`` when our payload
        fails its schema (nothing sent), ``CallTimeoutError`` after ``timeout`` (default
        ``call_timeout``), or ``ConnectionClosedError``. At most ``max_outstanding`` CALLs are
        on the wire at once (default 1, as OCPP-J requires); further calls wait their turn in
        FIFO order.
        """
        if not isinstance(action, str):
            payload, action = action, action_of(action)
        if payload is None:
            payload = {}
        connected = self.connected_event() if self.closed and self.wait_for_reconnect else None
        if connected is not None:
            try:
                await asyncio.wait_for(connected.wait(), timeout if timeout else self.call_timeout)
            except TimeoutError:
                raise ConnectionClosedError(f"not connected to {self.identity!r}") from None
        return await self.start_call(action, payload, timeout)

    async def wait_closed(self) -> None:
        """Return once the connection is closed."""
        if self.closed:
            return
        await self.closed_event().wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (pending calls fail with ``ConnectionClosedError``)."""
        self.close_transport(code, reason.encode())
        await self.wait_closed()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ChargePoint {self.identity!r} {self.subprotocol} {state}>"


def registries_of(versions: Iterable[str]) -> dict[str, Mapping[str, Action]]:
    """subprotocol -> its action registry, for ``versions``."""
    from . import versions as versions_mod

    return {v: versions_mod.actions(v) for v in versions}
