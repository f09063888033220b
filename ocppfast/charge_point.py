"""The user-facing object for one OCPP-J connection, the same on both sides.

``cp.on(action, handler)`` registers a handler for incoming CALLs; ``await cp.call(...)`` sends a
CALL and returns the typed response. The RPC state lives in :class:`ocppfast.engine.Engine`
(compiled when available); this class adds the Python-friendly surface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar, overload

import msgspec

from .engine import Engine
from .errors import ConnectionClosedError

H = TypeVar("H", bound=Callable[..., Any])

__all__ = ["ChargePoint"]


def action_of(request: msgspec.Struct) -> str:
    """``BootNotificationRequest`` -> ``"BootNotification"``."""
    name = type(request).__name__
    if not name.endswith("Request"):
        raise TypeError(f"cannot infer the action from {name}; pass the action name")
    return name[: -len("Request")]


class ChargePoint(Engine):
    """One connection: a charging station as seen by the central system, or the central system
    as seen by a charging station.

    Attributes: ``identity``, ``subprotocol`` (the negotiated OCPP version), ``accepted``.
    """

    # Set by the transport: resolves when the connection is closed.
    _closed_event: asyncio.Event | None = None
    _connected_event: asyncio.Event | None = None
    wait_for_reconnect: bool = False

    @overload
    def on(self, action: str) -> Callable[[H], H]: ...
    @overload
    def on(self, action: str, handler: H) -> H: ...

    def on(self, action: str, handler: Any = None) -> Any:
        """Register ``handler(request) -> response`` (sync or async) for incoming ``action``.

        Usable as ``cp.on("Heartbeat", fn)`` or as a decorator ``@cp.on("Heartbeat")``. Raise an
        ``ocppfast.errors.OCPPError`` subclass to answer with that CallError.
        """
        if handler is None:
            return lambda fn: self.on(action, fn)
        self._handlers[action] = handler
        return handler

    @overload
    def after(self, action: str) -> Callable[[H], H]: ...
    @overload
    def after(self, action: str, hook: H) -> H: ...

    def after(self, action: str, hook: Any = None) -> Any:
        """Register ``hook(request, response)`` to run after the response to ``action`` was sent.

        It never delays the response; its errors are logged.
        """
        if hook is None:
            return lambda fn: self.after(action, fn)
        self._after.setdefault(action, []).append(hook)
        return hook

    async def call(
        self,
        action: str | msgspec.Struct,
        payload: msgspec.Struct | dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Send a CALL and return the typed response.

        ``await cp.call("Heartbeat", HeartbeatRequest())``, or ``await cp.call(request)`` to infer
        the action from the request type. Raises the ``ocppfast.errors`` exception matching a
        CALLERROR, ``CallTimeoutError`` after ``timeout`` (default ``call_timeout``), or
        ``ConnectionClosedError``. At most ``max_outstanding`` CALLs are on the wire at once
        (default 1, as OCPP-J requires); further calls wait their turn in FIFO order.
        """
        if not isinstance(action, str):
            payload, action = action, action_of(action)
        if payload is None:
            payload = {}
        if self.closed and self.wait_for_reconnect and self._connected_event is not None:
            try:
                await asyncio.wait_for(
                    self._connected_event.wait(), timeout if timeout else self.call_timeout
                )
            except TimeoutError:
                raise ConnectionClosedError(f"not connected to {self.identity!r}") from None
        return await self.start_call(action, payload, timeout)

    async def wait_closed(self) -> None:
        """Return once the connection is closed."""
        if self.closed:
            return
        if self._closed_event is None:  # made on demand: most connections never need one
            self._closed_event = asyncio.Event()
        await self._closed_event.wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (pending calls fail with ``ConnectionClosedError``)."""
        self.close_transport(code, reason.encode())
        await self.wait_closed()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ChargePoint {self.identity!r} {self.subprotocol} {state}>"
